//! One lifecycle event on one line, for test failure messages:
//! `/app/probe #2 failed: panic in running: boom`.

use std::fmt;

use crate::messages::events::{EventKind, LifecycleEvent};

/// The name of an event's kind, as in JSON.
pub(crate) fn kind_label(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Started => "started",
        EventKind::Failed { .. } => "failed",
        EventKind::Restarting { .. } => "restarting",
        EventKind::Stopped { .. } => "stopped",
        EventKind::GaveUp { .. } => "gave_up",
        EventKind::Escalated { .. } => "escalated",
        EventKind::Lagged { .. } => "lagged",
        EventKind::Stopping => "stopping",
    }
}

/// One event on one line: `/app/probe #2 failed: panic in running: boom`.
pub(crate) struct EventLine<'a>(pub(crate) &'a LifecycleEvent);

impl fmt::Display for EventLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let event = self.0;
        write!(
            f,
            "{} #{} {}",
            event.path,
            event.incarnation,
            kind_label(&event.kind)
        )?;
        match &event.kind {
            EventKind::Failed { failure }
            | EventKind::GaveUp { failure }
            | EventKind::Escalated { failure } => write!(f, ": {failure}"),
            EventKind::Restarting { attempt, delay } => {
                write!(f, " (attempt {attempt}, in {delay:?})")
            }
            EventKind::Stopped { report } => write!(f, ": {:?}", report.outcome),
            EventKind::Lagged { missed } => write!(f, ": {missed} missed"),
            _ => Ok(()),
        }
    }
}
