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
#[derive(Debug, Clone, Copy, Default)]
pub struct Stop;

impl Message for Stop {
    type Result = StopReport;
}

/// How a node's stop ended.
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
/// Message counts cover the messages sent through the node's
/// [`ChildHandle`](crate::ChildHandle); messages sent through a raw `Addr`
/// are drained too, but actix keeps no count of its mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StopReport {
    /// The node that stopped.
    pub path: NodePath,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: StopOutcome,
    /// Messages handled between the stop request and the end.
    pub drained: u64,
    /// Messages accepted that will never be handled (left in the mailbox when
    /// the grace ran out, or queued when the node had already ended).
    pub undelivered: u64,
    /// Messages accepted whose requester gave up (dropped its `send` future)
    /// before they were handled, over the node's whole life: they were not
    /// handled, and they held no stop open.
    ///
    /// For a child, every message its handles accepted is counted exactly
    /// once: handled, cancelled here, or undelivered.
    #[serde(default)]
    pub cancelled: u64,
    /// From the stop request to the end.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// The reports of a supervisor's children, in start order.
    pub children: Vec<StopReport>,
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
