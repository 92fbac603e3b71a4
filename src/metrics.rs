//! Metrics of a running tree through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`): the application installs the recorder it
//! wants (Prometheus, OpenTelemetry, statsd, ...), the library only emits.
//!
//! # What is emitted
//!
//! Tick and worker durations are recorded by the periodic and worker
//! children themselves, always (while no recorder is installed, the facade
//! drops them at no cost). Everything else comes from the tree's lifecycle
//! events, once [`track`] follows a tree, and from snapshots, each time
//! [`record_snapshot`] is called (the `web` feature's `GET /metrics` calls it
//! before every render, [`track`] after every burst of events).
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `actix_supervisor_starts_total` | counter | `path` | incarnations started (`started` returned) |
//! | `actix_supervisor_restarts_total` | counter | `path` | restarts decided (immediate or after a backoff) |
//! | `actix_supervisor_failures_total` | counter | `path`, `kind` (`panic`, `error`), `phase` (`factory`, `restarting`, `starting`, `running`) | failed incarnations |
//! | `actix_supervisor_gave_up_total` | counter | `path` | supervisors that exceeded their restart intensity (escalated or gave up) |
//! | `actix_supervisor_stops_total` | counter | `path`, `outcome` (`drained`, `incomplete`, `not_started`, `timed_out`, `failed`) | nodes that ended for good |
//! | `actix_supervisor_stop_duration_seconds` | histogram | `path` | from the stop request to the end, per node |
//! | `actix_supervisor_drained_messages_total` | counter | `path` | messages handled during a stop (leaf nodes; a supervisor's report adds its children's) |
//! | `actix_supervisor_undelivered_messages_total` | counter | `path` | messages accepted but never handled |
//! | `actix_supervisor_cancelled_messages_total` | counter | `path` | messages whose requester gave up before they were handled |
//! | `actix_supervisor_nodes` | gauge | `state` (`starting`, `running`, `restarting`, `stopping`, `stopped`, `failed`) | nodes per state, at the last snapshot |
//! | `actix_supervisor_tick_duration_seconds` | histogram | `path`, `outcome` (`ok`, `error`) | each tick of a periodic child |
//! | `actix_supervisor_worker_run_seconds` | histogram | `path`, `outcome` (`ok`, `error`) | each run of a worker's loop |
//! | `actix_supervisor_events_lagged_total` | counter | none | events [`track`] missed because it fell behind |
//!
//! The `actix_supervisor_nodes` gauge has no tree label: it shows the last
//! snapshot recorded, so track one tree per process (the usual case: one
//! root per service).
//!
//! # Label cardinality
//!
//! Labels hold node paths, states and fixed words, never message contents
//! or failure messages. A tree's paths are as many as its nodes; a dynamic
//! pool that starts children under ever new names (`job-1`, `job-2`, ...)
//! would make a new series per child, so name pool children by slot
//! (`worker-0` .. `worker-15`) when their metrics matter.
//!
//! # Examples
//!
//! ```
//! use actix_supervisor::{metrics, SupervisorActor};
//!
//! # actix::System::new().block_on(async {
//! let app = SupervisorActor::builder("app").start()?;
//! // Once a recorder is installed (e.g. `metrics::install_prometheus()`):
//! metrics::track(&app).await?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::time::Duration;

use actix::{Addr, MailboxError};
use futures_util::{FutureExt, StreamExt};

use crate::actors::SupervisorActor;
use crate::messages::{EventKind, EventStream, Inspect, LifecycleEvent, StopOutcome, Subscribe};
use crate::tree::{state_label, FailureKind, FailurePhase, NodePath, TreeSnapshot};

/// `actix_supervisor_starts_total`.
pub const STARTS: &str = "actix_supervisor_starts_total";
/// `actix_supervisor_restarts_total`.
pub const RESTARTS: &str = "actix_supervisor_restarts_total";
/// `actix_supervisor_failures_total`.
pub const FAILURES: &str = "actix_supervisor_failures_total";
/// `actix_supervisor_gave_up_total`.
pub const GAVE_UP: &str = "actix_supervisor_gave_up_total";
/// `actix_supervisor_stops_total`.
pub const STOPS: &str = "actix_supervisor_stops_total";
/// `actix_supervisor_stop_duration_seconds`.
pub const STOP_DURATION: &str = "actix_supervisor_stop_duration_seconds";
/// `actix_supervisor_drained_messages_total`.
pub const DRAINED: &str = "actix_supervisor_drained_messages_total";
/// `actix_supervisor_undelivered_messages_total`.
pub const UNDELIVERED: &str = "actix_supervisor_undelivered_messages_total";
/// `actix_supervisor_cancelled_messages_total`.
pub const CANCELLED: &str = "actix_supervisor_cancelled_messages_total";
/// `actix_supervisor_nodes`.
pub const NODES: &str = "actix_supervisor_nodes";
/// `actix_supervisor_tick_duration_seconds`.
pub const TICK_DURATION: &str = "actix_supervisor_tick_duration_seconds";
/// `actix_supervisor_worker_run_seconds`.
pub const WORKER_RUN: &str = "actix_supervisor_worker_run_seconds";
/// `actix_supervisor_events_lagged_total`.
pub const EVENTS_LAGGED: &str = "actix_supervisor_events_lagged_total";

/// Every state the `actix_supervisor_nodes` gauge has a series for.
const STATES: [&str; 6] = [
    "starting",
    "running",
    "restarting",
    "stopping",
    "stopped",
    "failed",
];

/// Follows the tree under `root`: from now on, each lifecycle event updates
/// the counters and histograms, and each burst of events the gauge of nodes
/// per state. Returns once subscribed; the following runs as a task on the
/// current arbiter until the tree is gone.
///
/// # Errors
///
/// When the root supervisor is gone.
pub async fn track(root: &Addr<SupervisorActor>) -> Result<(), MailboxError> {
    let events = root.send(Subscribe::all()).await?;
    let tree = root.send(Inspect).await?;
    record_snapshot(&tree);
    actix_rt::spawn(follow(root.clone(), events));
    Ok(())
}

async fn follow(root: Addr<SupervisorActor>, mut events: EventStream) {
    while let Some(event) = events.next().await {
        record_event(&event);
        // Drain what is already there before taking a snapshot.
        while let Some(Some(event)) = events.next().now_or_never() {
            record_event(&event);
        }
        match root.send(Inspect).await {
            Ok(tree) => record_snapshot(&tree),
            Err(_) => return,
        }
    }
}

/// Updates the counters and histograms for one lifecycle event.
pub fn record_event(event: &LifecycleEvent) {
    let path = || event.path.as_str().to_owned();
    match &event.kind {
        EventKind::Started => ::metrics::counter!(STARTS, "path" => path()).increment(1),
        EventKind::Restarting { .. } => {
            ::metrics::counter!(RESTARTS, "path" => path()).increment(1)
        }
        EventKind::Failed { failure } => ::metrics::counter!(
            FAILURES,
            "path" => path(),
            "kind" => kind_label(failure.kind),
            "phase" => phase_label(failure.phase),
        )
        .increment(1),
        EventKind::GaveUp { .. } | EventKind::Escalated { .. } => {
            ::metrics::counter!(GAVE_UP, "path" => path()).increment(1)
        }
        EventKind::Stopped { report } => {
            let outcome = match report.outcome {
                StopOutcome::Drained => "drained",
                StopOutcome::Incomplete => "incomplete",
                StopOutcome::NotStarted => "not_started",
                StopOutcome::TimedOut => "timed_out",
                StopOutcome::Failed(_) => "failed",
            };
            ::metrics::counter!(STOPS, "path" => path(), "outcome" => outcome).increment(1);
            ::metrics::histogram!(STOP_DURATION, "path" => path()).record(report.duration);
            if report.children.is_empty() {
                ::metrics::counter!(DRAINED, "path" => path()).increment(report.drained);
                ::metrics::counter!(UNDELIVERED, "path" => path()).increment(report.undelivered);
                ::metrics::counter!(CANCELLED, "path" => path()).increment(report.cancelled);
            }
        }
        EventKind::Lagged { missed } => ::metrics::counter!(EVENTS_LAGGED).increment(*missed),
        EventKind::Stopping => {}
    }
}

/// Sets the gauge of nodes per state from `tree` (every state, zeros
/// included).
pub fn record_snapshot(tree: &TreeSnapshot) {
    let mut counts = [0u32; STATES.len()];
    for node in tree.nodes() {
        let label = state_label(&node.state);
        if let Some(i) = STATES.iter().position(|s| *s == label) {
            counts[i] += 1;
        }
    }
    for (state, count) in STATES.iter().zip(counts) {
        ::metrics::gauge!(NODES, "state" => *state).set(count);
    }
}

/// Records one tick of the periodic child at `path`.
pub(crate) fn record_tick(path: &NodePath, took: Duration, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    ::metrics::histogram!(TICK_DURATION, "path" => path.as_str().to_owned(), "outcome" => outcome)
        .record(took);
}

/// Records one run of the worker at `path`.
pub(crate) fn record_worker_run(path: &NodePath, took: Duration, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    ::metrics::histogram!(WORKER_RUN, "path" => path.as_str().to_owned(), "outcome" => outcome)
        .record(took);
}

fn kind_label(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Panic => "panic",
        FailureKind::Error => "error",
    }
}

fn phase_label(phase: FailurePhase) -> &'static str {
    match phase {
        FailurePhase::Factory => "factory",
        FailurePhase::Restarting => "restarting",
        FailurePhase::Starting => "starting",
        FailurePhase::Running => "running",
        FailurePhase::Waiting => "waiting",
    }
}

/// Installs a Prometheus recorder as the process's global `metrics`
/// recorder and returns its handle, for
/// [`WebConfig::prometheus`](crate::web::WebConfig::prometheus) or to render
/// the text format yourself. Histograms are rendered as summaries (the
/// exporter's default).
///
/// # Errors
///
/// When a global recorder is already installed.
///
/// # Examples
///
/// ```
/// use actix_supervisor::{metrics, SupervisorActor};
///
/// # actix::System::new().block_on(async {
/// let prometheus = metrics::install_prometheus()?;
/// let app = SupervisorActor::builder("app").start()?;
/// metrics::track(&app).await?;
/// assert!(prometheus.render().contains("actix_supervisor_nodes"));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn install_prometheus(
) -> Result<metrics_exporter_prometheus::PrometheusHandle, metrics_exporter_prometheus::BuildError>
{
    metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()
}
