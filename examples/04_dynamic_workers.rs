//! Workers registered at runtime with `StartChild`, and how their caller
//! learns what became of them: the startup handle (`ChildHandle::started`)
//! answers with each of its three outcomes (started; failed, with the
//! reason; will never start, because the supervisor is gone), and a
//! lifecycle event subscription reports when a worker dies.
//!
//! Without the library a team spawns the task and then guesses: a "did it
//! start" flag polled with a sleep, or a oneshot the task must remember to
//! send on every early-return path (a forgotten one hangs the caller; one
//! sent too early says "started" for a task that failed right after), and a
//! task that dies is noticed when someone looks for its work. Here the
//! handle settles exactly once for every start attempt, even when the spec
//! never reached a running supervisor, and the death arrives as an event
//! with its reason.
//!
//! Run it with `cargo run --example 04_dynamic_workers`.

#[path = "common/bounded.rs"]
mod bounded;
#[path = "common/logging.rs"]
mod logging;

use std::error::Error;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::prelude::*;
use actix_supervisor::{path::NodePath, snapshot::FailurePhase};
use futures_util::StreamExt;

/// Copies a table in batches; its fourth batch holds a row it cannot read.
struct Backfill {
    table: &'static str,
}

impl Work for Backfill {
    type Error = String;

    async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
        for batch in 1.. {
            if cx.is_stop_requested() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await; // copying the batch
            if batch == 4 {
                return Err(format!(
                    "{}: batch {batch}: row 4113 is not UTF-8",
                    self.table
                ));
            }
        }
        Ok(())
    }
}

/// Would export reports to a bucket, if it had credentials.
struct Export;
impl Actor for Export {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Export);

fn describe(event: &LifecycleEvent) -> String {
    match &event.kind {
        EventKind::Started => "started".to_string(),
        EventKind::Failed { failure } => format!("failed: {failure}"),
        EventKind::Stopped { report } => match report.outcome {
            StopOutcome::Drained => "stopped, drained".to_string(),
            StopOutcome::Failed(_) => "stopped, after that failure".to_string(),
            _ => format!("stopped: {report}"),
        },
        other => format!("{other:?}"),
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let tenant = SupervisorActor::builder("tenant-7");
    let tenant_addr = tenant.address();
    let app = SupervisorActor::builder("app").child(tenant).start()?;
    // Every lifecycle event of the tree from now on, in order.
    let mut events = app.send(Subscribe::all()).await?;

    println!("1. a worker that starts");
    let spec = ChildSpec::worker("backfill", |_| Backfill { table: "orders" })
        .restart(RestartPolicy::Never);
    let backfill = spec.handle();
    app.send(StartChild::new(spec)).await??;
    backfill.started().await?;
    println!("   {} started", backfill.path());

    println!("2. a worker whose factory fails");
    let spec = ChildSpec::try_new("export", || -> Result<Export, String> {
        Err("no credentials for s3://reports".into())
    })
    .restart(RestartPolicy::Never);
    let export = spec.handle();
    app.send(StartChild::new(spec)).await??; // accepted: the start itself fails
    match export.started().await {
        Err(StartError::StartFailed { path, reason }) => {
            println!("   {path} did not start: {reason}");
            assert_eq!(reason.phase, FailurePhase::Factory);
        }
        other => panic!("expected a failed start, got {other:?}"),
    }

    println!("3. a worker for a tenant whose supervisor was stopped first");
    tenant_addr.do_send(Stop);
    let spec = ChildSpec::worker("reindex", |_| Backfill { table: "search" });
    let reindex = spec.handle();
    // Fire and forget: only the handle is awaited, and it still settles.
    tenant_addr.do_send(StartChild::new(spec));
    match reindex.started().await {
        Err(gone @ StartError::SupervisorGone { .. }) => println!("   {gone}"),
        other => panic!("expected the supervisor to be gone, got {other:?}"),
    }

    println!("4. waiting to be told that the backfill died; every event meanwhile:");
    let mut backfill_events = Vec::new();
    while !matches!(backfill_events.last(), Some(EventKind::Stopped { .. })) {
        let event = events.next().await.ok_or("the event stream ended")?;
        println!("   {:<16} {}", event.path.as_str(), describe(&event));
        if event.path == NodePath::root("app").join("backfill") {
            backfill_events.push(event.kind);
        }
    }
    match &backfill_events[..] {
        [EventKind::Started, EventKind::Failed { failure }, EventKind::Stopped { .. }] => {
            assert!(failure.message.contains("row 4113"), "{failure}");
        }
        other => panic!("unexpected events for the backfill: {other:?}"),
    }

    let tree = app.send(Inspect).await?;
    println!("\nthe tree:\n{tree}");
    let node = tree.find("/app/backfill").ok_or("no backfill node")?;
    assert_eq!(node.state, NodeState::Failed, "never restarted");
    println!("stopped:\n{}", app.send(Stop).await?);
    Ok(())
}

#[actix::main]
async fn main() -> Result<(), Box<dyn Error>> {
    logging::init("actix_supervisor=warn");
    bounded::within_ten_seconds(run()).await
}
