//! Readiness-ordered start for supervisors: a nested supervisor starts its
//! subtree only after the siblings it depends on finished their start, and
//! finishes its own start once each of its children finished theirs.
//!
//! A child run by a runner waits in its lifecycle (`State::Waiting`, see
//! [`crate::child::lifecycle`]). A nested supervisor is no runner's child:
//! it waits here, shown as [`NodeState::Waiting`], at most its start
//! timeout ([`SupervisorBuilder::start_timeout`](super::SupervisorBuilder::start_timeout)).
//! When the timeout runs out, its start failed: it escalates the failure
//! (phase [`FailurePhase::Waiting`]) to its parent, whose policy for it
//! decides, as for any failure of the subtree.
//!
//! Readiness is read from each child's link ([`ChildLink::is_ready`]),
//! which says whether its incarnation finished its start; a nested
//! supervisor's link says so once [`SupervisorActor::announce_ready`] saw
//! each of its children ready (or ended for good).
//!
//! [`ChildLink::is_ready`]: crate::child::link::ChildLink::is_ready

use actix::{ActorFutureExt, AsyncContext, Context};

use super::SupervisorActor;
use crate::child::link::{Activity, StartAfter};
use crate::tree::{Failure, FailureKind, FailurePhase, NodePath, NodeState};

/// What a supervisor starts once the siblings it depends on are ready.
#[derive(Debug, Clone, Copy)]
pub(super) enum Then {
    /// Its children, for the first time (from its specs).
    StartPending,
    /// Its parked children again: the subtree's next incarnation.
    StartChildren,
}

impl SupervisorActor {
    /// Does `then` once every sibling this supervisor depends on finished
    /// its start: at once for a root, or a supervisor without dependencies
    /// or whose dependencies are ready.
    pub(super) fn start_when_ready(&mut self, then: Then, ctx: &mut Context<Self>) {
        let after = self
            .as_child
            .as_ref()
            .and_then(super::builder::AsChild::env)
            .map(|env| &env.start_after)
            .filter(|after| after.first_not_ready().is_some())
            .cloned();
        let Some(after) = after else {
            return self.start_now(then, ctx);
        };
        tracing::debug!(path = %self.path, "waiting for the siblings it depends on");
        self.state.set(NodeState::Waiting);
        // Only the latest wait counts: one begun before a park and a new
        // start must not start the subtree, nor time it out.
        let wait = self.state.next_wait();
        let timeout = after.timeout;
        let ready = wait_until_ready(after);
        ctx.spawn(
            actix::fut::wrap_future::<_, Self>(ready).map(move |not_ready, this, ctx| {
                if this.state.get() != NodeState::Waiting || !this.state.is_wait(wait) {
                    return;
                }
                match not_ready {
                    None => this.start_now(then, ctx),
                    Some(dependency) => {
                        tracing::warn!(
                            path = %this.path,
                            dependency = %dependency,
                            timeout = ?timeout,
                            "a sibling it depends on did not finish its start in time"
                        );
                        let failure = Failure::new(
                            FailureKind::Error,
                            FailurePhase::Waiting,
                            format!(
                                "{dependency}, a sibling it depends on, did not finish its start within {}",
                                humantime::format_duration(timeout)
                            ),
                        );
                        this.last_failure = Some(failure.clone());
                        this.escalate(failure, ctx);
                    }
                }
            }),
        );
    }

    fn start_now(&mut self, then: Then, ctx: &mut Context<Self>) {
        match then {
            Then::StartPending => self.start_pending(ctx),
            // A subtree whose first start timed out starts its children
            // for the first time, as its next incarnation.
            Then::StartChildren if !self.pending.is_empty() => {
                self.incarnation += 1;
                if let Some(link) = self.state.link() {
                    link.record.borrow_mut().incarnation = self.incarnation;
                }
                self.start_pending(ctx);
            }
            Then::StartChildren => self.start_children_now(ctx),
        }
    }

    /// Starts the children from their specs, in start order; each waits
    /// for the siblings it depends on in its own lifecycle.
    fn start_pending(&mut self, ctx: &mut Context<Self>) {
        let pending = std::mem::take(&mut self.pending);
        self.children.reserve(pending.len());
        for (spec, depends_on) in pending {
            self.start_child(spec, depends_on, ctx);
        }
        self.state.set(NodeState::Running);
        self.announce_ready(ctx);
    }

    /// A nested supervisor finishes its start once each of its children
    /// finished theirs (or ended for good), as an OTP supervisor's `init`
    /// returns once its children started: then its link in its parent says
    /// it is ready, and the siblings that depend on it may start. Called
    /// when the subtree starts and each time it is started again.
    pub(super) fn announce_ready(&self, ctx: &mut Context<Self>) {
        let Some(own) = self.state.link() else {
            return;
        };
        let children: Vec<_> = self.children.iter().cloned().collect();
        let wait = async move {
            for child in &children {
                child.ready_or_done().await;
            }
        };
        ctx.spawn(
            actix::fut::wrap_future::<_, Self>(wait).map(move |(), this, _| {
                // Not if the subtree was parked, or began to stop, meanwhile.
                if this.state.get() == NodeState::Running && own.activity() == Activity::Active {
                    own.set_activity(Activity::Ready);
                    // Its handles' `started()` answers (the first time).
                    own.shared
                        .settle_startup(crate::child::drain::Startup::Started);
                }
            }),
        );
    }
}

/// Completes when every sibling in `after` is ready at once (`None`), or
/// when its timeout runs out, with the first one not ready.
async fn wait_until_ready(after: StartAfter) -> Option<NodePath> {
    let ready = async {
        // One done for good (and not started again) is never ready: only
        // the timeout ends the wait then.
        while let Some(dependency) = after.first_not_ready().cloned() {
            dependency.ready_or_replaced().await;
        }
    };
    match tokio::time::timeout(after.timeout, ready).await {
        Ok(()) => None,
        Err(_) => after.first_not_ready().map(|link| link.path().clone()),
    }
}
