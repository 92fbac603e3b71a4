//! The integration tests, gathered in one crate so the suite builds and
//! links once: one module per promise, named as the files were before.
//! Run one with `cargo test --test it MODULE::`.
//!
//! Three stay apart: `compile_errors` (trybuild; `--ignored`),
//! `system_signals`, which sends signals to its own process, and
//! `telemetry`, which needs `tracing`'s process-wide callsite cache alone.

mod common;
mod reliability_support;

mod arbiters;
mod async_handlers;
mod attacks;
mod attacks3_pool;
mod attacks3_restart;
mod attacks3_support;
mod attacks3_temporary;
mod attacks4_arbiter;
mod attacks4_ends;
mod attacks4_intensity;
mod attacks4_more;
mod attacks4_queued;
mod attacks4_random;
mod attacks4_restart_child;
mod attacks4_support;
mod attacks4_tree;
mod attacks5_layout;
mod attacks5_restart;
mod attacks6_periodic;
mod attacks6_restart;
mod attacks6_support;
mod attacks6_tree;
mod attacks6_worker;
mod attacks7_ends;
mod attacks7_restart;
mod attacks7_support;
mod attacks8_restart;
mod attacks8_stop;
mod attacks8_support;
mod attacks8_threads;
mod attacks9_futures;
mod attacks9_held;
mod attacks9_refuse;
mod attacks_pool;
mod attacks_restart;
mod cancellation_tokens;
mod config_files;
mod crate_root;
mod dynamic_children;
mod dynamic_pool;
mod escalation;
mod event_timing;
mod fault_regressions;
mod handle_by_path;
mod held_past_marker;
mod input_checks;
mod inspection;
mod invalid_specs;
mod lifecycle_events;
mod lifecycle_sequences;
mod metrics;
mod nested_supervisors;
mod newcomer;
mod otp_conformance;
mod panic_containment;
mod periodic;
mod reliability_bad_input;
mod reliability_fault_matrix;
mod reliability_no_loss;
mod reliability_restart_storm;
mod reliability_shutdown_under_load;
mod reliability_start_stop;
mod restart_backoff;
mod restart_intensity;
mod restart_policies;
mod shutdown_order;
mod snapshot_policy;
mod stable_address;
mod start_order;
mod startup_handles;
mod stop_and_start_again;
mod stop_drains_mailbox;
mod stop_grace;
mod stop_report_own_outcome;
mod stopping_event;
mod strategies;
mod strategy_policies;
mod temporary_children;
mod testkit;
mod web_by_path;
mod web_endpoints;
mod web_json;
mod web_system;
mod worker;
