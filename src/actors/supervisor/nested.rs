//! A supervisor as the child of another: its spec (a [`SupervisorBuilder`]
//! given to a parent), and the relay that carries the parent's commands to it
//! and its end back to the parent.
//!
//! A nested supervisor is an actix actor of its own, not run by a runner: its
//! code is the library's, it keeps no user state, and its children's runners
//! already keep their mailboxes across restarts. So the parent's link to it
//! is served by a small relay task: `Stop` and `Kill` become `Stop` (and
//! `Kill`) messages; a strategy `Restart` parks every child of the
//! subtree (drained, mailboxes kept), and `Start` starts them again, as a new
//! incarnation of the subtree. When the nested supervisor ends, the relay
//! publishes its report to the parent.

use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use actix::fut::wrap_future;
use actix::{ActorFutureExt, AsyncContext, Context};

use super::builder::{AsChild, Place, SupervisorBuilder};
use super::park::{ParkChildren, StartChildren};
use super::{ShutdownCause, SupervisorActor};
use crate::child::lifecycle::Notice;
use crate::child::link::ChildNotice;
use crate::child::link::{Activity, ChildEnv, ChildLink, Command, Nested, NodeRecord};
use crate::child::restart::{Decision, Exit, RestartRules};
use crate::error::BuildError;
use crate::messages::events::EventKind;
use crate::messages::stop::{Stop, StopReport};
use crate::messages::Kill;
use crate::policy::Strategy;
use crate::spec::{self, AnyChildSpec, ErasedSpec, SpecCommon};
use crate::tree::{Failure, NodeKind, NodePath, NodeState};

impl From<SupervisorBuilder> for AnyChildSpec {
    fn from(builder: SupervisorBuilder) -> Self {
        AnyChildSpec(Box::new(builder))
    }
}

impl ErasedSpec for SupervisorBuilder {
    fn common(&self) -> SpecCommon<'_> {
        SpecCommon {
            name: &self.parts.name,
            restart: self.parts.restart,
            backoff: self.parts.backoff.as_ref(),
            grace: self.parts.grace,
            depends_on: &self.parts.depends_on,
            start_timeout: self.parts.start_timeout,
        }
    }

    fn validate(&self, parent: &NodePath) -> Result<(), BuildError> {
        spec::validate(&self.common(), parent)?;
        self.validate_at(&parent.join(&self.parts.name))
    }

    fn assign_path(&self, path: NodePath) {
        self.assign_paths(&path);
    }

    fn is_supervisor(&self) -> bool {
        true
    }

    fn children(&self) -> &[AnyChildSpec] {
        &self.parts.children
    }

    fn assigned_path(&self) -> NodePath {
        self.parts.shared.path()
    }

    fn removes_on_exit(&self) -> bool {
        self.parts.remove_on_exit
    }

    fn start(self: Box<Self>, env: ChildEnv) -> Rc<ChildLink> {
        let mut builder = *self;
        if let Some(arbiter) = builder.parts.arbiter.take() {
            return super::remote::start(builder, arbiter, env);
        }
        let link = ChildLink::new(
            NodeRecord::new(),
            NodeKind::Supervisor,
            builder.parts.shared.clone(),
            Some(Nested(Box::new(builder.parts.addr.clone()))),
            &env,
        );
        link.record.borrow_mut().incarnation = 1;
        let addr = builder.parts.addr.clone();
        let as_child = AsChild::Local {
            rules: RestartRules::new(env.restart, env.backoff.as_deref().cloned()),
            env: env.clone(),
        };
        builder.spawn(Place {
            path: env.path.clone(),
            events: env.scope.events.clone(),
            token: env.scope.token.child_token(),
            link: Some(link.clone()),
            as_child: Some(as_child),
        });
        actix_rt::spawn(relay(link.clone(), addr, env));
        link
    }
}

/// The address of the nested supervisor behind `link`, if it is one.
pub(super) fn address_of(link: &ChildLink) -> Option<actix::Addr<SupervisorActor>> {
    link.nested
        .as_ref()
        .and_then(|nested| nested.0.downcast_ref::<actix::Addr<SupervisorActor>>())
        .cloned()
}

/// What the relay waits for.
enum Next {
    Command(Command),
    Ended(StopReport),
}

/// Serves a nested supervisor's link in its parent until it ends (its own
/// shutdown publishes its report into the link).
async fn relay(link: Rc<ChildLink>, addr: actix::Addr<SupervisorActor>, env: ChildEnv) {
    let mut report = std::pin::pin!(link.shared.report());
    let mut known_waker = None;
    loop {
        let next = poll_fn(|cx| {
            link.shared.register_runner(&mut known_waker, cx.waker());
            match link.take_command() {
                Some(command) => Poll::Ready(Next::Command(command)),
                None => report.as_mut().poll(cx).map(Next::Ended),
            }
        })
        .await;
        match next {
            Next::Ended(report) => {
                link.set_activity(Activity::Done);
                let incarnation = link.record.borrow().incarnation;
                env.scope
                    .events
                    .emit(&env.path, incarnation, || EventKind::Stopped { report });
                return;
            }
            Next::Command(Command::Stop) => addr.do_send(Stop),
            Next::Command(Command::Kill) => {
                // A stop in progress (or begun now) finishes with its
                // children killed, and publishes its report.
                addr.do_send(Stop);
                addr.do_send(Kill);
            }
            Next::Command(Command::Restart) => {
                if addr.send(ParkChildren::for_strategy()).await.is_ok() {
                    link.set_activity(Activity::Parked);
                }
            }
            Next::Command(Command::Start) => {
                link.set_activity(Activity::Active);
                let _ = addr.send(StartChildren).await;
            }
        }
    }
}

impl SupervisorActor {
    /// Drains and parks every child, in reverse start order, keeping their
    /// mailboxes; completes when all are at rest. A `Never` child is not
    /// parked but stopped for good, as a bystander of a strategy restart is
    /// (`bystander_command`): it runs once, and a temporary one leaves.
    pub(super) fn park_children(&self) -> impl Future<Output = ()> + 'static {
        let links: Vec<_> = self.children.iter().cloned().collect();
        async move {
            for link in links.iter().rev() {
                link.command(super::bystander_command(link));
                link.at_rest().await;
            }
        }
    }

    /// Starts every parked child again, in start order: the subtree's next
    /// incarnation, with a clean restart intensity.
    pub(super) fn start_children(&mut self, ctx: &mut Context<Self>) {
        // A stop that came while the subtree waited for its restart wins:
        // a stopped (or failed) supervisor never runs again.
        if self.is_ending() {
            return;
        }
        // After the siblings it depends on (`start_order`).
        self.start_when_ready(super::start_order::Then::StartChildren, ctx);
    }

    /// [`start_children`](Self::start_children), its dependencies ready.
    pub(super) fn start_children_now(&mut self, ctx: &mut Context<Self>) {
        self.incarnation += 1;
        self.started_at = tokio::time::Instant::now();
        self.intensity.borrow_mut().reset();
        if let Some(link) = self.state.link() {
            link.record.borrow_mut().incarnation = self.incarnation;
        }
        for link in self.children.iter() {
            link.command(Command::Start);
        }
        self.state.set(NodeState::Running);
        self.announce_ready(ctx);
        self.events
            .emit(&self.path, self.incarnation, || EventKind::Started);
    }

    /// A nested supervisor exceeded its intensity: it passes the failure to
    /// its parent, whose policy for it decides. A restart parks the subtree
    /// and starts it again (after the backoff, or when the parent's strategy
    /// says); otherwise, or past the parent's intensity, the subtree stops
    /// for good and the supervisor fails.
    pub(super) fn escalate(&mut self, failure: Failure, ctx: &mut Context<Self>) {
        // Children past the intensity together each report it: the first
        // report escalates; the others find the subtree already on its way
        // to a restart (or to its end) and change nothing.
        if self.is_ending() || matches!(self.state.get(), NodeState::Restarting { .. }) {
            return;
        }
        if self.as_child.is_none() {
            return;
        }
        tracing::error!(path = %self.path, reason = %failure.message, "supervisor escalates to its parent");
        self.state.set_failure(&failure);
        self.events
            .emit(&self.path, self.incarnation, || EventKind::Escalated {
                failure: failure.clone(),
            });
        let as_child = match self.as_child.as_mut() {
            Some(AsChild::Local { env, rules }) => (env, rules),
            Some(AsChild::Remote(parent)) => {
                // Its parent's relay, on the parent's arbiter, decides and
                // sends the decision back as messages.
                self.state.set(NodeState::Restarting {
                    attempt: 1,
                    next_start_in: Duration::ZERO,
                });
                if parent.send(failure.clone()).is_err() {
                    self.begin_shutdown(ShutdownCause::GiveUp(failure));
                }
                return;
            }
            None => return,
        };
        let (env, rules) = as_child;
        let ran_for = self.started_at.elapsed();
        // A parent that is stopping restarts nothing: the subtree stops
        // for good, failed, and its report is the one made now.
        let mut decision = if env.scope.shutting_down.get() {
            Decision::Finish
        } else {
            rules.decide(Exit::Failed, ran_for)
        };
        if matches!(decision, Decision::Restart { .. })
            && !env
                .scope
                .intensity
                .borrow_mut()
                .allow(tokio::time::Instant::now())
        {
            if let Some(parent) = env.scope.supervisor.upgrade() {
                parent.do_send(ChildNotice {
                    index: env.index,
                    notice: Notice::GaveUp,
                });
            }
            decision = Decision::Finish;
        }
        let Decision::Restart { attempt, delay } = decision else {
            return self.begin_shutdown(ShutdownCause::GiveUp(failure));
        };
        self.state.set(NodeState::Restarting {
            attempt,
            next_start_in: delay,
        });
        let (strategy, parent, index) =
            (env.scope.strategy, env.scope.supervisor.clone(), env.index);
        let park = self.park_children();
        if strategy == Strategy::OneForOne {
            // Abandoned once the supervisor has stopped meanwhile.
            let stopped = self.token.clone();
            let restart = async move {
                park.await;
                tokio::select! {
                    () = stopped.cancelled() => {}
                    () = tokio::time::sleep(delay) => {}
                }
            };
            ctx.spawn(
                wrap_future::<_, Self>(restart).map(|(), this, ctx| this.start_children(ctx)),
            );
        } else {
            // The parent restarts the siblings too, then starts this one.
            let link = self.state.link();
            ctx.spawn(wrap_future::<_, Self>(park).map(move |(), _, _| {
                if let Some(link) = &link {
                    link.set_activity(Activity::Parked);
                }
                if let Some(parent) = parent.upgrade() {
                    parent.do_send(ChildNotice {
                        index,
                        notice: Notice::Ended { delay },
                    });
                }
            }));
        }
    }
}
