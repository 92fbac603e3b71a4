//! The crate root holds the concepts only: the tree, a child, its handle,
//! the control messages and their report, the policies, the snapshot, the
//! errors. Ready-made kinds of child, events, paths, snapshot details and
//! plumbing live in modules named after them.
//!
//! Adding a name to the root is a decision: this test fails until the list
//! below is changed with it.

// Every module path a newcomer is pointed to resolves (this file stops
// compiling if one moves).
#[allow(unused_imports)]
use actix_supervisor::{
    events::{EventKind, EventStream, LifecycleEvent, SubscribeRecipient},
    path::{
        ChildAt, NodePath, PathError, RemoveChildAt, RestartChildAt, StopChildAt, SupervisorAt,
    },
    periodic::{
        MissedTicks, Periodic, PeriodicActor, Tick, TickContext, TickContextBuilder, TickNow,
    },
    plumbing::{AnyChildSpec, SupervisedHandler},
    pool::{Pool, PoolBuilder},
    snapshot::{
        Failure, FailureKind, FailurePhase, NodeKind, NodePolicy, NodeState, Schedule, TaskStats,
    },
    worker::{Work, WorkContext, WorkContextBuilder, WorkerActor},
};

/// The names the crate root re-exports, read from `src/lib.rs` (its
/// top-level `pub use` items; modules and macros are listed apart).
fn root_exports() -> Vec<String> {
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs"))
        .expect("src/lib.rs is readable");
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut statement: Option<String> = None;
    for line in lib.lines() {
        let code = line.split("//").next().unwrap_or("");
        if let Some(text) = statement.as_mut() {
            text.push_str(code);
        } else if depth == 0 && code.starts_with("pub use ") {
            statement = Some(code.to_string());
        } else {
            depth += code.matches('{').count();
            depth -= code.matches('}').count();
        }
        if let Some(text) = statement.take_if(|text| text.contains(';')) {
            let list = match text.split_once('{') {
                Some((_, list)) => list.trim_end_matches([';', '}', ' ']).to_string(),
                None => text
                    .rsplit("::")
                    .next()
                    .unwrap()
                    .trim_end_matches(';')
                    .to_string(),
            };
            names.extend(
                list.split(',')
                    .map(|name| name.trim().to_string())
                    .filter(|name| !name.is_empty()),
            );
        }
    }
    names.sort();
    names
}

#[test]
fn the_crate_root_re_exports_the_concepts_only() {
    let mut expected = vec![
        // the tree
        "ArbiterPool",
        "ChildSpec",
        "Strategy",
        "SupervisorActor",
        "SupervisorBuilder",
        // a child
        "ChildFuture",
        "StartContext",
        "SupervisedActor",
        "fail",
        "restart_fresh",
        // its handle
        "ChildHandle",
        // the control messages and their report
        "Inspect",
        "Kill",
        "RemoveChild",
        "RestartChild",
        "StartChild",
        "Stop",
        "StopChild",
        "StopOutcome",
        "StopReport",
        "Subscribe",
        "SubtreeSummary",
        // the policies
        "Backoff",
        "Grace",
        "RestartIntensity",
        "RestartPolicy",
        // the snapshot
        "NodeSnapshot",
        "TreeSnapshot",
        // the errors
        "BuildError",
        "ConfigError",
        "ControlError",
        "SendError",
        "StartError",
    ];
    expected.sort();
    assert_eq!(root_exports(), expected);
}
