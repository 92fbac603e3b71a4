//! A scanner: eight periodic reconcilers under one supervisor, each on its
//! own interval. `billing-sync` fails every third tick; its failures are
//! logged and counted in the snapshot's task statistics, and since they never
//! reach its `failure_limit` in a row it keeps running, never restarted.
//! `index-compaction` gets stuck in a tick on a call that never answers; at
//! shutdown each reconciler has a short grace to finish its tick, and the
//! stop report shows that one `TimedOut` and every other one drained.
//!
//! Without the library each reconciler is a hand-written loop: a
//! `tokio::time::interval`, a `select!` on a shutdown token, a `match` that
//! logs errors (or, too often, a `?` that silently ends the loop for good),
//! an error counter nobody can read from outside, and a shutdown that awaits
//! eight join handles with a timeout and then cannot say which one hung.
//! Here a reconciler is a `Tick` implementation, a plain struct testable
//! without actix, and its schedule, failure rule, statistics and grace come
//! with `ChildSpec::periodic`.
//!
//! Run it with `cargo run --example 05_scanner`.

#[path = "common/bounded.rs"]
mod bounded;
#[path = "common/logging.rs"]
mod logging;

use std::collections::HashMap;
use std::error::Error;
use std::time::Duration;

use actix_supervisor::periodic::PeriodicActor;
use actix_supervisor::prelude::*;
use tokio::sync::watch;

/// How far a reconciler got, published as each tick begins (when the
/// previous tick has been recorded in the node's statistics).
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    /// The tick that just began.
    tick: u64,
    /// Ticks that failed before it.
    failed: u64,
}

/// One reconciler's round: compare desired and actual state, fix the drift.
struct Reconciler {
    /// Every `n`th tick fails, like an upstream that answers 503 now and then.
    fails_every: Option<u64>,
    /// This tick waits on a call that never answers.
    hangs_on: Option<u64>,
    failed: u64,
    progress: watch::Sender<Progress>,
}

impl Tick for Reconciler {
    type Error = String;

    async fn tick(&mut self, cx: &TickContext) -> Result<(), String> {
        let tick = cx.tick_number();
        let failed = self.failed;
        self.progress.send_replace(Progress { tick, failed });
        if self.hangs_on == Some(tick) {
            std::future::pending::<()>().await; // a lock held by a hung migration
        }
        tokio::time::sleep(Duration::from_millis(1)).await; // the round's work
        if self.fails_every.is_some_and(|n| tick.is_multiple_of(n)) {
            self.failed += 1;
            return Err(format!("upstream answered 503 on tick {tick}"));
        }
        Ok(())
    }
}

/// The reconcilers: name, interval, every how many ticks one fails, and
/// which tick hangs.
const RECONCILERS: [(&str, u64, Option<u64>, Option<u64>); 8] = [
    ("leases", 10, None, None),
    ("sessions", 15, None, None),
    ("uploads", 20, None, None),
    ("quotas", 25, None, None),
    ("dns", 30, None, None),
    ("certificates", 40, None, None),
    ("billing-sync", 10, Some(3), None),
    ("index-compaction", 20, None, Some(3)),
];

/// A reconciler's spec, and the receiving end of its progress.
fn reconciler(
    (name, every_ms, fails_every, hangs_on): (&str, u64, Option<u64>, Option<u64>),
) -> (
    ChildSpec<PeriodicActor<Reconciler>>,
    watch::Receiver<Progress>,
) {
    let (progress, watch) = watch::channel(Progress::default());
    let schedule = Periodic::every(Duration::from_millis(every_ms)).failure_limit(3);
    let spec = ChildSpec::periodic(name, schedule, move |_| Reconciler {
        fails_every,
        hangs_on,
        failed: 0,
        progress: progress.clone(),
    })
    // Each reconciler gets this long to finish the tick it is in.
    .grace(Grace::Duration(Duration::from_millis(250)));
    (spec, watch)
}

async fn run() -> Result<(), Box<dyn Error>> {
    let mut scanner = SupervisorActor::builder("scanner");
    let mut progress = HashMap::new();
    for config in RECONCILERS {
        let (spec, watch) = reconciler(config);
        scanner = scanner.child(spec);
        progress.insert(config.0, watch);
    }
    let scanner = scanner.start()?;

    // Wait until billing-sync has failed twice and index-compaction is stuck.
    progress["billing-sync"]
        .clone()
        .wait_for(|p| p.failed >= 2)
        .await?;
    progress["index-compaction"]
        .clone()
        .wait_for(|p| p.tick == 3)
        .await?;
    let tree = scanner.send(Inspect).await?;
    println!("{tree}");
    println!("reconciler        every  ticks  failed  last error");
    for ((name, every_ms, ..), node) in RECONCILERS.iter().zip(tree.nodes().skip(1)) {
        let stats = node.task.clone().unwrap_or_default();
        let last_error = stats.last_error.as_deref().unwrap_or("-");
        let every = format!("{every_ms}ms");
        println!(
            "{name:<16} {every:>6} {:>6} {:>7}  {last_error}",
            stats.runs, stats.failures
        );
    }

    let billing = tree
        .find("/scanner/billing-sync")
        .ok_or("no billing-sync")?;
    let stats = billing
        .task
        .as_ref()
        .ok_or("billing-sync has no task stats")?;
    assert!(stats.failures >= 2, "its failed ticks are counted");
    assert!(stats.consecutive_failures < 3, "never three in a row");
    assert_eq!(billing.state, NodeState::Running);
    assert_eq!(
        billing.restart_count, 0,
        "failed ticks are not failures of the child"
    );

    println!("\nstopping; each reconciler has 250ms to finish its tick ...");
    let report = scanner.send(Stop).await?;
    println!("{report}");
    let timed_out: Vec<_> = report
        .children
        .iter()
        .filter(|child| child.outcome == StopOutcome::TimedOut)
        .map(|child| child.path.as_str())
        .collect();
    println!("did not stop in time: {}", timed_out.join(", "));
    assert_eq!(timed_out, ["/scanner/index-compaction"]);
    // The scanner's own stop finished within its grace; the child that did
    // not is in the subtree's summary.
    assert_eq!(report.outcome, StopOutcome::Drained);
    assert!(!report.summary().stopped_cleanly());
    let drained = report
        .children
        .iter()
        .filter(|c| c.outcome == StopOutcome::Drained);
    assert_eq!(drained.count(), 7, "every other reconciler drained");
    Ok(())
}

#[actix::main]
async fn main() -> Result<(), Box<dyn Error>> {
    logging::init("actix_supervisor=warn");
    bounded::within_ten_seconds(run()).await
}
