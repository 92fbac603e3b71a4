//! [`Stop`] and its reply, [`StopReport`].
//!
//! `Stop` asks a supervisor to stop its whole subtree gracefully; a single
//! child is stopped through its [`ChildHandle::stop`](crate::ChildHandle::stop).
//! Either way the target stops taking new work, handles every message already
//! in its mailbox, and only then runs `stopping`/`stopped` and answers with a
//! report. Stopping twice gives the same report twice.

use std::fmt;
use std::time::Duration;

use actix::Message;
use serde::{Deserialize, Serialize};

use crate::tree::{Failure, NodePath};

/// Stops a supervisor and its whole subtree gracefully; answers when every
/// node has stopped, with the tree of their reports.
///
/// Children stop in reverse dependency order, independent siblings in
/// parallel, each within its own grace, all within the supervisor's grace.
/// A second `Stop` (also one sent after the first finished) answers the same
/// report.
///
/// # Examples
///
/// Messages queued before the stop are handled before it answers:
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Ledger { entries: u64 }
/// impl Actor for Ledger { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Ledger);
///
/// #[derive(Message)]
/// #[rtype(result = "()")]
/// struct Record;
/// impl Handler<Record> for Ledger {
///     type Result = ();
///     fn handle(&mut self, _: Record, _: &mut Context<Self>) { self.entries += 1; }
/// }
///
/// # actix::System::new().block_on(async {
/// let spec = ChildSpec::new("ledger", Ledger::default);
/// let ledger = spec.handle();
/// let app = SupervisorActor::builder("app").child(spec).start()?;
/// for _ in 0..3 {
///     ledger.do_send(Record)?; // accepted: handled before the stop answers
/// }
///
/// let report = app.send(Stop).await?;
/// assert!(report.is_drained());
/// assert_eq!(report.find("/app/ledger").unwrap().undelivered, 0);
/// // Stopping again answers the same report; sending is refused.
/// assert_eq!(app.send(Stop).await?, report);
/// assert!(ledger.do_send(Record).is_err());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Stop;

impl Message for Stop {
    type Result = StopReport;
}

/// How a node's stop ended.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::worker::{Work, WorkContext};
/// use actix_supervisor::{ChildSpec, Grace, Stop, StopOutcome, SupervisorActor};
///
/// /// Never looks at its token: a stop can only time out.
/// struct Stubborn;
/// impl Work for Stubborn {
///     type Error = String;
///     async fn run(&mut self, _: WorkContext) -> Result<(), String> {
///         std::future::pending().await
///     }
/// }
/// # #[derive(Default)]
/// # struct Cache;
/// # impl Actor for Cache { type Context = Context<Self>; }
/// # actix_supervisor::supervised!(Cache);
///
/// # actix::System::new().block_on(async {
/// # tokio::time::pause();
/// let stubborn = ChildSpec::worker("stubborn", |_| Stubborn)
///     .grace(Grace::Duration(Duration::from_secs(1)));
/// let app = SupervisorActor::builder("app")
///     .child(stubborn)
///     .child(ChildSpec::new("cache", Cache::default))
///     .start()?;
///
/// let report = app.send(Stop).await?;
/// assert_eq!(report.find("/app/stubborn").unwrap().outcome, StopOutcome::TimedOut);
/// assert_eq!(report.find("/app/cache").unwrap().outcome, StopOutcome::Drained);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "failure")]
#[non_exhaustive]
pub enum StopOutcome {
    /// Everything accepted before the stop was handled.
    Drained,
    /// The node ended (its last incarnation stopped on its own, and its
    /// policy does not restart it) with accepted messages left unhandled:
    /// see [`StopReport::undelivered`].
    Incomplete,
    /// The child never started: its spec was dropped (its `StartChild` was
    /// refused, or its tree failed to build). What its handles accepted is
    /// undelivered.
    NotStarted,
    /// The grace ran out; the node was terminated with work left undone.
    TimedOut,
    /// User code failed while stopping (or the node had already given up
    /// after this failure when the stop came).
    Failed(Failure),
}

/// What happened when a node stopped: the answer to [`Stop`] and to
/// [`ChildHandle::stop`](crate::ChildHandle::stop).
///
/// # The node's own outcome, and its subtree's
///
/// Each report describes one node: [`outcome`](StopReport::outcome), the
/// message counts and [`ended_on_its_own`](StopReport::ended_on_its_own)
/// are the node's own. A supervisor's report holds its children's, in start
/// order; walk them with [`iter`](StopReport::iter), pick one with
/// [`find`](StopReport::find), count them with
/// [`summary`](StopReport::summary), and print the whole tree with
/// `Display`.
///
/// - A child's `outcome` is how it ended: drained, timed out at its grace,
///   failed. A child that had already ended on its own (a
///   [`Never`](crate::RestartPolicy::Never) child that failed an hour ago)
///   answers the report made then, with `ended_on_its_own` set.
/// - A supervisor's `outcome` is its own: `Drained` when every child
///   stopped within the supervisor's grace (however each ended),
///   `TimedOut` when its grace ran out and it killed the children left,
///   `Failed` when it gave up (restart intensity exceeded). It handles no
///   counted messages itself, so its counts are zero; the subtree's totals
///   are in [`summary`](StopReport::summary).
///
/// Message counts cover the messages sent through the node's
/// [`ChildHandle`](crate::ChildHandle); messages sent through a raw `Addr`
/// are drained too, but actix keeps no count of its mailbox.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Idle;
/// impl Actor for Idle { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Idle);
///
/// # actix::System::new().block_on(async {
/// let app = SupervisorActor::builder("app")
///     .child(ChildSpec::new("a", Idle::default))
///     .child(ChildSpec::new("b", Idle::default).grace(Duration::from_secs(1).into()))
///     .start()?;
/// let report: StopReport = app.send(Stop).await?;
///
/// assert_eq!(report.outcome, StopOutcome::Drained);
/// let paths: Vec<&str> = report.iter().map(|r| r.path.as_str()).collect();
/// assert_eq!(paths, ["/app", "/app/a", "/app/b"]);
/// assert_eq!(report.find("/app/b").unwrap().undelivered, 0);
/// println!("{report}"); // "/app drained in 1ms" and one indented line per child
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// A one-shot child that failed long before the stop does not make its
/// supervisor's stop a failure; the summary counts it apart:
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Migration;
/// impl Actor for Migration {
///     type Context = Context<Self>;
///     fn started(&mut self, ctx: &mut Context<Self>) {
///         actix_supervisor::fail(ctx, "the schema is locked");
///     }
/// }
/// actix_supervisor::supervised!(Migration);
///
/// #[derive(Default)]
/// struct Server;
/// impl Actor for Server { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Server);
///
/// # actix::System::new().block_on(async {
/// let migration = ChildSpec::new("migration", Migration::default).restart(RestartPolicy::Never);
/// let once = migration.handle();
/// let app = SupervisorActor::builder("app")
///     .child(migration)
///     .child(ChildSpec::new("server", Server::default))
///     .start()?;
/// assert!(once.started().await.is_err()); // failed, and will not run again
///
/// let report = app.send(Stop).await?;
/// assert_eq!(report.outcome, StopOutcome::Drained); // the root's own stop went well
/// assert!(!report.is_drained()); // not every node drained: the migration had failed
/// let migration = report.find("/app/migration").unwrap();
/// assert!(matches!(migration.outcome, StopOutcome::Failed(_)));
/// assert!(migration.ended_on_its_own);
///
/// let summary = report.summary();
/// assert_eq!((summary.nodes, summary.nodes_drained), (3, 2));
/// assert_eq!(summary.nodes_failed_before, 1);
/// assert!(summary.stopped_cleanly()); // everything the stop stopped drained
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StopReport {
    /// The node that stopped.
    pub path: NodePath,
    /// How the node itself ended (see [the type's docs](StopReport) for a
    /// supervisor's).
    #[serde(flatten)]
    pub outcome: StopOutcome,
    /// Messages the node handled between the stop request and its end
    /// (zero for a supervisor: see [`summary`](StopReport::summary)).
    pub drained: u64,
    /// Messages the node accepted that will never be handled (left in the
    /// mailbox when the grace ran out, or queued when the node had already
    /// ended).
    pub undelivered: u64,
    /// Messages accepted whose requester gave up (dropped its `send` future)
    /// before they were handled, over the node's whole life: they were not
    /// handled, and they held no stop open.
    ///
    /// For a child, every message its handles accepted is counted exactly
    /// once: handled, cancelled here, or undelivered.
    #[serde(default)]
    pub cancelled: u64,
    /// From the stop request to the end (zero for a node that ended on its
    /// own).
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// The reports of a supervisor's children, in start order.
    pub children: Vec<StopReport>,
    /// Whether the node had ended on its own before any stop reached it:
    /// a child whose policy did not restart it after it failed or stopped,
    /// a supervisor that gave up. Its outcome says how it ended then, and
    /// [`summary`](StopReport::summary) counts it (and what is below it)
    /// apart from the nodes the stop stopped.
    #[serde(default)]
    pub ended_on_its_own: bool,
}

/// Counts over a report and every report below it: how the nodes ended
/// and the messages they handled, from [`StopReport::summary`].
///
/// A node that had ended on its own before the stop (and every node below
/// it) is counted in `nodes_ended_before` (and, if it failed, in
/// `nodes_failed_before`), not by its outcome.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Idle;
/// impl Actor for Idle { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Idle);
///
/// # actix::System::new().block_on(async {
/// let ingest = SupervisorActor::builder("ingest").child(ChildSpec::new("poller", Idle::default));
/// let app = SupervisorActor::builder("app").child(ingest).start()?;
/// let summary = app.send(Stop).await?.summary();
/// assert_eq!((summary.nodes, summary.nodes_drained), (3, 3));
/// assert!(summary.stopped_cleanly());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SubtreeSummary {
    /// Every node in the report, its root included.
    pub nodes: u64,
    /// Nodes the stop stopped that drained.
    pub nodes_drained: u64,
    /// Nodes the stop stopped that were terminated at a grace.
    pub nodes_timed_out: u64,
    /// Nodes that failed while stopping.
    pub nodes_failed: u64,
    /// Nodes that ended with accepted work left undone, or never started.
    pub nodes_incomplete: u64,
    /// Nodes that had ended on their own before the stop, with the nodes
    /// below them.
    pub nodes_ended_before: u64,
    /// Of those, the nodes that had ended by a failure.
    pub nodes_failed_before: u64,
    /// Messages handled between the stop request and the end, in total.
    pub messages_drained: u64,
    /// Messages accepted and never handled, in total.
    pub messages_undelivered: u64,
    /// Messages whose requester gave up, in total.
    pub messages_cancelled: u64,
}

impl SubtreeSummary {
    /// Whether every node the stop stopped drained: none timed out,
    /// failed, or left accepted work undone. Nodes that had ended on their
    /// own before the stop are not judged.
    pub fn stopped_cleanly(&self) -> bool {
        self.nodes_timed_out == 0 && self.nodes_failed == 0 && self.nodes_incomplete == 0
    }
}

impl fmt::Display for SubtreeSummary {
    /// `4 nodes: 3 drained, 1 failed before the stop`, then the message
    /// totals that are not zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} nodes: {} drained", self.nodes, self.nodes_drained)?;
        let counts = [
            (self.nodes_timed_out, "timed out"),
            (self.nodes_failed, "failed while stopping"),
            (self.nodes_incomplete, "left work undone"),
            (
                self.nodes_ended_before - self.nodes_failed_before,
                "ended before the stop",
            ),
            (self.nodes_failed_before, "failed before the stop"),
        ];
        for (count, what) in counts {
            if count > 0 {
                write!(f, ", {count} {what}")?;
            }
        }
        if self.messages_drained > 0 {
            write!(f, "; {} messages drained", self.messages_drained)?;
        }
        if self.messages_undelivered > 0 {
            write!(f, "; {} undelivered", self.messages_undelivered)?;
        }
        Ok(())
    }
}

impl StopReport {
    /// Whether this node and every node below it drained.
    pub fn is_drained(&self) -> bool {
        self.outcome == StopOutcome::Drained && self.children.iter().all(StopReport::is_drained)
    }

    /// This report and every report below it, parents first.
    pub fn iter(&self) -> impl Iterator<Item = &StopReport> {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let report = stack.pop()?;
            stack.extend(report.children.iter().rev());
            Some(report)
        })
    }

    /// The report of the node at `path`, if it is in this report.
    pub fn find(&self, path: &str) -> Option<&StopReport> {
        self.iter().find(|r| r.path.as_str() == path)
    }

    /// Counts over this report and every report below it: how many nodes
    /// drained, timed out, failed while stopping, or had ended on their own
    /// before the stop, and the messages they handled in total.
    ///
    /// # Examples
    ///
    /// See [`StopReport`]'s second example.
    pub fn summary(&self) -> SubtreeSummary {
        let mut summary = SubtreeSummary::default();
        let mut stack = vec![(self, false)];
        while let Some((report, below_an_end)) = stack.pop() {
            let before = below_an_end || report.ended_on_its_own;
            summary.nodes += 1;
            summary.messages_drained += report.drained;
            summary.messages_undelivered += report.undelivered;
            summary.messages_cancelled += report.cancelled;
            if before {
                summary.nodes_ended_before += 1;
                if matches!(report.outcome, StopOutcome::Failed(_)) {
                    summary.nodes_failed_before += 1;
                }
            } else {
                match report.outcome {
                    StopOutcome::Drained => summary.nodes_drained += 1,
                    StopOutcome::TimedOut => summary.nodes_timed_out += 1,
                    StopOutcome::Failed(_) => summary.nodes_failed += 1,
                    StopOutcome::Incomplete | StopOutcome::NotStarted => {
                        summary.nodes_incomplete += 1
                    }
                }
            }
            stack.extend(report.children.iter().map(|child| (child, before)));
        }
        summary
    }

    fn write_outline(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        let outcome = match &self.outcome {
            StopOutcome::Drained => "drained".to_string(),
            StopOutcome::Incomplete => "ended with work left".to_string(),
            StopOutcome::NotStarted => "never started".to_string(),
            StopOutcome::TimedOut => "timed out".to_string(),
            StopOutcome::Failed(failure) => format!("failed ({failure})"),
        };
        // Whole milliseconds, or whole microseconds below one: "54ms", "21µs".
        let rounded = if self.duration < Duration::from_millis(1) {
            Duration::from_micros(self.duration.as_micros() as u64)
        } else {
            Duration::from_millis(self.duration.as_millis() as u64)
        };
        write!(
            f,
            "{:indent$}{} {outcome} in {}",
            "",
            self.path,
            humantime::format_duration(rounded),
            indent = depth * 2
        )?;
        if self.drained > 0 {
            write!(f, ", {} messages drained", self.drained)?;
        }
        if self.undelivered > 0 {
            write!(f, ", {} undelivered", self.undelivered)?;
        }
        if self.ended_on_its_own {
            write!(f, " (had ended on its own before the stop)")?;
        }
        if depth == 0 && !self.children.is_empty() {
            write!(f, "; {}", self.summary())?;
        }
        writeln!(f)?;
        for child in &self.children {
            child.write_outline(f, depth + 1)?;
        }
        Ok(())
    }
}

impl fmt::Display for StopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_outline(f, 0)
    }
}
