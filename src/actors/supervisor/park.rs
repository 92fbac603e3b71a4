//! The two messages that restart a nested supervisor's subtree in place,
//! from its parent's relay (on its parent's arbiter or another):
//! [`ParkChildren`] drains and parks its children, keeping their mailboxes,
//! and [`StartChildren`] starts them again as the subtree's next
//! incarnation. The supervisor itself, and so its address, stays.

use std::time::Duration;

use actix::{Context, Handler, Message, ResponseFuture};

use super::SupervisorActor;
use crate::tree::NodeState;

/// To a nested supervisor: drain and park every child (in reverse start
/// order), keeping their mailboxes, for a restart of the subtree; shown as
/// `Restarting` with this attempt and delay meanwhile.
#[derive(Debug)]
pub(crate) struct ParkChildren {
    pub(super) attempt: u32,
    pub(super) next_start_in: Duration,
}

impl ParkChildren {
    /// For a restart its parent's strategy runs.
    pub(super) fn for_strategy() -> Self {
        ParkChildren {
            attempt: 1,
            next_start_in: Duration::ZERO,
        }
    }
}

impl Message for ParkChildren {
    type Result = ();
}

/// To a nested supervisor: start every parked child again, in start order,
/// as the subtree's next incarnation.
#[derive(Debug)]
pub(crate) struct StartChildren;

impl Message for StartChildren {
    type Result = ();
}

impl Handler<ParkChildren> for SupervisorActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, park: ParkChildren, _: &mut Context<Self>) -> Self::Result {
        if self.is_ending() {
            return Box::pin(std::future::ready(()));
        }
        self.state.set(NodeState::Restarting {
            attempt: park.attempt,
            next_start_in: park.next_start_in,
        });
        Box::pin(self.park_children())
    }
}

impl Handler<StartChildren> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, _: StartChildren, ctx: &mut Context<Self>) {
        self.start_children(ctx);
    }
}
