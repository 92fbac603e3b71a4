//! A nested supervisor on another arbiter: the relay that stands for it in
//! its parent, and the messages the relay and the supervisor exchange.
//!
//! A parent and the runners of its children share each child's
//! [`ChildLink`] through an `Rc`, on one thread. A supervisor placed with
//! [`SupervisorBuilder::on_arbiter`] runs on another thread, so the parent
//! keeps a link for it served by a relay task on the parent's arbiter, and
//! everything that crosses between them is `Send`:
//!
//! - the builder itself (specs and factories are `Send`), moved whole to the
//!   other arbiter and spawned there with the mailbox made up front, so its
//!   address is valid, and the same, from the moment it is built;
//! - the parent's commands, as messages to that address: `Stop`, `Kill`,
//!   and for a strategy restart [`ParkChildren`] then `StartChildren`;
//! - its end, as the answer to [`AwaitEnd`], which the relay asks for as
//!   soon as it starts;
//! - an escalation (it exceeded its intensity), through a channel to the
//!   relay, which decides with the parent's restart rules and intensity and
//!   answers with `ParkChildren` and `StartChildren` (a restart: the same
//!   supervisor, its children parked and started again, so every address
//!   in the subtree stays valid) or [`GiveUp`];
//! - events and cancellation: the tree's event channel and tokens are
//!   thread-safe already, so the remote supervisor publishes into its
//!   parent's channel and its token is a child of its parent's.
//!
//! `Inspect` reaches it through the link's address like any nested
//! supervisor.
//!
//! A subtree that waits for its siblings is spawned only once they are
//! ready: a stop or a kill meanwhile, or a sibling that does not finish its
//! start in time, ends it without spawning it, so none of its children
//! starts before what it depends on (they answer `NotStarted`).
//!
//! # What the relay does not wait for
//!
//! A `Kill` (the parent's grace ran out, or the parent was killed) is sent
//! on, and the relay reports the subtree `TimedOut` at once, its `Stopped`
//! event included, without waiting for the other thread: a CPU-bound
//! handler there cannot hold its parent's stop past the parent's grace. The
//! subtree ends as soon as its arbiter takes the message.
//!
//! # Who publishes the end
//!
//! The relay, on the parent's thread, in the order a nested supervisor there
//! keeps: the `Stopped` event, then the link done (a temporary subtree asks
//! its parent to take it out of the table), then the report to whoever
//! waits on the link. The subtree hands its end over as the answer to
//! [`AwaitEnd`], with a [`Settled`] sender on which the relay says when it is
//! done; only then does the subtree answer the `Stop`s sent to its own
//! address. A subtree whose relay is gone answers them at once, and never
//! publishes a `Stopped` event of its own: the relay reported its end
//! (killed, or gone with its arbiter).

use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use actix::{Addr, Context, Handler, Message, ResponseFuture};
use actix_rt::ArbiterHandle;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::builder::{AsChild, Place, SupervisorBuilder};
use super::park::{ParkChildren, StartChildren};
use super::{ShutdownCause, SupervisorActor};
use crate::child::lifecycle::Notice;
use crate::child::link::{
    Activity, ChildEnv, ChildLink, ChildNotice, Command, Nested, NodeRecord, StartAfter,
};
use crate::child::restart::{Decision, Exit};
use crate::messages::events::EventKind;
use crate::messages::stop::{Stop, StopOutcome, StopReport};
use crate::messages::Kill;
use crate::policy::Strategy;
use crate::tree::{Failure, FailureKind, FailurePhase, NodeKind, NodePath, NodeState};
use futures_util::FutureExt as _;

/// Starts `builder` (validated, its paths assigned) on `arbiter` as the
/// child `env` describes, and the relay that serves its link here.
pub(super) fn start(
    builder: SupervisorBuilder,
    arbiter: ArbiterHandle,
    env: ChildEnv,
) -> Rc<ChildLink> {
    let addr = builder.parts.addr.clone();
    let link = ChildLink::new(
        NodeRecord::new(),
        NodeKind::Supervisor,
        builder.parts.shared.clone(),
        Some(Nested(Box::new(addr.clone()))),
        &env,
    );
    link.record.borrow_mut().incarnation = 1;
    if env.start_after.first_not_ready().is_some() {
        // Set now, not when the relay first runs: an `Inspect` in between
        // must not ask a supervisor that is not spawned yet.
        set_state(&link, NodeState::Waiting);
    }
    let (to_parent, escalations) = mpsc::unbounded_channel();
    let spawn = Spawn {
        builder,
        arbiter,
        to_parent,
    };
    actix_rt::spawn(relay(link.clone(), addr, env, spawn, escalations));
    link
}

/// A supervisor to spawn on another arbiter once the siblings it depends
/// on are ready.
struct Spawn {
    builder: SupervisorBuilder,
    arbiter: ArbiterHandle,
    to_parent: mpsc::UnboundedSender<Failure>,
}

impl Spawn {
    /// Spawns the supervisor on its arbiter, placed as `env` says. On a
    /// stopped arbiter the builder, and with it the mailbox, is dropped:
    /// the relay's `AwaitEnd` then fails and the child is reported failed.
    fn run(self, env: &ChildEnv) {
        let Spawn {
            builder,
            arbiter,
            to_parent,
        } = self;
        let (path, events, token) = (
            env.path.clone(),
            env.scope.events.clone(),
            env.scope.token.child_token(),
        );
        let spawned = arbiter.spawn_fn(move || {
            builder.spawn(Place {
                path,
                events,
                token,
                link: None,
                as_child: Some(AsChild::Remote(to_parent)),
            });
        });
        if !spawned {
            tracing::error!(path = %env.path, "the arbiter of a nested supervisor has stopped");
        }
    }
}

/// Completes once every sibling in `after` finished its start; or, past
/// its timeout, with the first that did not.
async fn dependencies_ready(after: &StartAfter) -> Result<(), NodePath> {
    let ready = async {
        while let Some(dependency) = after.first_not_ready().cloned() {
            if dependency.activity() == Activity::Done {
                // Never ready: only the timeout ends the wait.
                std::future::pending::<()>().await;
            }
            dependency.ready_or_done().await;
        }
    };
    match tokio::time::timeout(after.timeout, ready).await {
        Ok(()) => Ok(()),
        Err(_) => Err(after
            .first_not_ready()
            .map(|link| link.path().clone())
            .unwrap_or_else(|| NodePath::root("?"))),
    }
}

/// To a supervisor: answers with its stop report once it has ended (after
/// a `Stop`, giving up, or `Kill`), without asking it to stop; `None` if it
/// ended without one. The answer comes before the supervisor publishes its
/// end (its `Stopped` event, its `Stop`s answered), which waits until the
/// relay sends on the [`Settled`] it carries, once the parent's link is
/// done.
#[derive(Debug)]
pub(crate) struct AwaitEnd;

/// The relay's word that the parent's link took the end.
pub(crate) type Settled = tokio::sync::oneshot::Sender<()>;

/// Where a supervisor on another arbiter gives its end to its relay.
pub(crate) type EndSender = tokio::sync::oneshot::Sender<(StopReport, Settled)>;

impl Message for AwaitEnd {
    type Result = Option<(StopReport, Option<Settled>)>;
}

impl Handler<AwaitEnd> for SupervisorActor {
    type Result = ResponseFuture<Option<(StopReport, Option<Settled>)>>;

    fn handle(&mut self, _: AwaitEnd, _: &mut Context<Self>) -> Self::Result {
        if let Some(published) = self.report.borrow().clone() {
            // Published already: nothing is left to order.
            return Box::pin(async move { Some((published.take(), None)) });
        }
        let (end, on_end) = tokio::sync::oneshot::channel();
        *self.state.relay.borrow_mut() = Some(end);
        Box::pin(async move {
            let (report, settled) = on_end.await.ok()?;
            Some((report, Some(settled)))
        })
    }
}

/// To a supervisor on another arbiter that escalated: its parent will not
/// restart it; it stops its children for good and fails with `failure`.
#[derive(Debug)]
pub(crate) struct GiveUp(pub(crate) Failure);

impl Message for GiveUp {
    type Result = ();
}

impl Handler<GiveUp> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, GiveUp(failure): GiveUp, _: &mut Context<Self>) {
        self.begin_shutdown(ShutdownCause::GiveUp(failure));
    }
}

/// To a supervisor: answers once each of its children finished its start
/// (or is done): the siblings that depend on it may start.
#[derive(Debug)]
struct AwaitReady;

impl Message for AwaitReady {
    type Result = ();
}

impl Handler<AwaitReady> for SupervisorActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: AwaitReady, _: &mut Context<Self>) -> Self::Result {
        let children: Vec<_> = self.children.iter().cloned().collect();
        Box::pin(async move {
            for child in &children {
                child.ready_or_done().await;
            }
        })
    }
}

/// What the relay waits for.
enum Next {
    Command(Command),
    Ready,
    Escalated(Failure),
    RestartDue,
    Ended(Option<(StopReport, Option<Settled>)>),
}

/// Serves the link of a supervisor on another arbiter until it ends:
/// first waits for the siblings it depends on, then spawns it.
async fn relay(
    link: Rc<ChildLink>,
    addr: Addr<SupervisorActor>,
    env: ChildEnv,
    spawn: Spawn,
    mut escalations: mpsc::UnboundedReceiver<Failure>,
) {
    let mut known_waker = None;
    let mut command = None;
    if env.start_after.first_not_ready().is_some() {
        // Usually set by `start` already; again here for a sibling that
        // stopped being ready in between.
        set_state(&link, NodeState::Waiting);
        let waiting = poll_fn(|cx| {
            link.shared.register_runner(&mut known_waker, cx.waker());
            match link.take_command() {
                Some(command) => Poll::Ready(command),
                None => Poll::Pending,
            }
        });
        tokio::select! {
            biased;
            taken = waiting => match taken {
                // A stop or a kill before its siblings are ready: the
                // subtree is never spawned, so none of its children starts
                // before what it depends on; their handles answer
                // `NotStarted`, what they accepted reported undelivered
                // (their specs are dropped with the builder).
                Command::Stop | Command::Kill => {
                    drop(spawn);
                    return ended_here(&link, &env, StopOutcome::NotStarted);
                }
                other => command = Some(other),
            },
            ready = dependencies_ready(&env.start_after) => {
                if let Err(dependency) = ready {
                    let failure = Failure::new(
                        FailureKind::Error,
                        FailurePhase::Waiting,
                        format!("{dependency} did not finish its start in time"),
                    );
                    tracing::warn!(path = %link.path(), %dependency, "a sibling it depends on did not finish its start in time");
                    link.record.borrow_mut().last_failure = Some(Box::new(failure.clone()));
                    let incarnation = link.record.borrow().incarnation;
                    env.scope.events.emit(link.path(), incarnation, || EventKind::Failed {
                        failure: failure.clone(),
                    });
                    // Never spawned: its children never start.
                    drop(spawn);
                    return ended_here(&link, &env, StopOutcome::Failed(failure));
                }
            }
        }
    }
    spawn.run(&env);
    set_state(&link, NodeState::Starting);
    let mut ended = std::pin::pin!(addr.send(AwaitEnd));
    let mut ready = Some(Box::pin(addr.send(AwaitReady)));
    let mut started_at = Instant::now();
    // A one-for-one restart after an escalation, waiting out its backoff.
    let mut restart_at: Option<Instant> = None;
    loop {
        let next = match command.take() {
            Some(command) => Next::Command(command),
            None => {
                let command = poll_fn(|cx| {
                    link.shared.register_runner(&mut known_waker, cx.waker());
                    match link.take_command() {
                        Some(command) => Poll::Ready(command),
                        None => Poll::Pending,
                    }
                });
                let is_ready_pending = ready.is_some();
                tokio::select! {
                    biased;
                    command = command => Next::Command(command),
                    report = &mut ended => Next::Ended(report.ok().flatten()),
                    Some(failure) = escalations.recv() => Next::Escalated(failure),
                    _ = async { ready.as_mut().expect("pending").await }, if is_ready_pending => Next::Ready,
                    () = sleep_until(restart_at), if restart_at.is_some() => Next::RestartDue,
                }
            }
        };
        match next {
            Next::Ready => {
                ready = None;
                if link.activity() == Activity::Active {
                    set_state(&link, NodeState::Running);
                    link.set_activity(Activity::Ready);
                }
            }
            Next::Ended(Some((report, settled))) => {
                return settled_end(&link, &env, report, settled)
            }
            Next::Ended(None) => return gone_with_its_arbiter(&link, &env),
            Next::Command(Command::Stop) => {
                restart_at = None;
                set_state(&link, NodeState::Stopping);
                addr.do_send(Stop);
            }
            Next::Command(Command::Kill) => {
                // An end handed over already is taken as it is.
                if let Some(Ok(Some((report, settled)))) = ended.as_mut().now_or_never() {
                    return settled_end(&link, &env, report, settled);
                }
                addr.do_send(Stop);
                addr.do_send(Kill);
                return ended_here(&link, &env, StopOutcome::TimedOut);
            }
            Next::Command(Command::Restart) => {
                restart_at = None;
                ready = None;
                if addr.send(ParkChildren::for_strategy()).await.is_ok() {
                    link.set_activity(Activity::Parked);
                }
            }
            Next::Command(Command::Start) => {
                link.set_activity(Activity::Active);
                if addr.send(StartChildren).await.is_ok() {
                    started_at = Instant::now();
                    started_again(&link);
                    ready = Some(Box::pin(addr.send(AwaitReady)));
                }
            }
            Next::RestartDue => {
                restart_at = None;
                link.set_activity(Activity::Active);
                if addr.send(StartChildren).await.is_ok() {
                    started_at = Instant::now();
                    started_again(&link);
                    ready = Some(Box::pin(addr.send(AwaitReady)));
                }
            }
            Next::Escalated(failure) => {
                // A stop under way ends it anyway.
                if !link.shared.is_accepting() {
                    continue;
                }
                match decide(&link, &env, &failure, started_at.elapsed()) {
                    Decision::Finish => addr.do_send(GiveUp(failure)),
                    Decision::Restart { attempt, delay } => {
                        set_state(
                            &link,
                            NodeState::Restarting {
                                attempt,
                                next_start_in: delay,
                            },
                        );
                        let park = ParkChildren {
                            attempt,
                            next_start_in: delay,
                        };
                        ready = None;
                        link.set_activity(Activity::Active);
                        if addr.send(park).await.is_err() {
                            continue;
                        }
                        if env.scope.strategy == Strategy::OneForOne {
                            restart_at = Some(Instant::now() + delay);
                        } else {
                            // The parent restarts the siblings too, then
                            // starts this one (a `Start` command).
                            link.set_activity(Activity::Parked);
                            if let Some(parent) = env.scope.supervisor.upgrade() {
                                parent.do_send(ChildNotice {
                                    index: env.index,
                                    notice: Notice::Ended { delay },
                                });
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What follows an escalation, by the child's restart rules and its
/// parent's intensity; one restart too many is the parent's to give up on.
fn decide(link: &ChildLink, env: &ChildEnv, failure: &Failure, ran_for: Duration) -> Decision {
    tracing::error!(path = %link.path(), reason = %failure.message, "a supervisor on another arbiter escalates to its parent");
    link.record.borrow_mut().last_failure = Some(Box::new(failure.clone()));
    // A parent that is stopping restarts nothing (see `escalate`).
    if env.scope.shutting_down.get() {
        return Decision::Finish;
    }
    let decision = link.rules.borrow_mut().decide(Exit::Failed, ran_for);
    if matches!(decision, Decision::Restart { .. })
        && !env.scope.intensity.borrow_mut().allow(Instant::now())
    {
        if let Some(parent) = env.scope.supervisor.upgrade() {
            parent.do_send(ChildNotice {
                index: env.index,
                notice: Notice::GaveUp,
            });
        }
        return Decision::Finish;
    }
    decision
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn set_state(link: &ChildLink, state: NodeState) {
    let mut record = link.record.borrow_mut();
    if record.state.is_terminal() {
        return;
    }
    record.state = state;
    if state == NodeState::Running {
        record.started_at = Some(Instant::now());
    }
}

fn started_again(link: &ChildLink) {
    link.record.borrow_mut().incarnation += 1;
    set_state(link, NodeState::Running);
}

/// The supervisor is gone with its arbiter, without telling its end: it is
/// reported failed, its `Stopped` event published here.
fn gone_with_its_arbiter(link: &ChildLink, env: &ChildEnv) {
    let failure = Failure::new(
        FailureKind::Error,
        FailurePhase::Running,
        "its arbiter stopped, or had stopped before it started".into(),
    );
    tracing::error!(path = %link.path(), "a supervisor on another arbiter is gone with its arbiter");
    link.record.borrow_mut().last_failure = Some(Box::new(failure.clone()));
    ended_here(link, env, StopOutcome::Failed(failure));
}

/// Ended without its supervisor publishing its end (never spawned: a stop,
/// a kill or a dependency that did not finish its start in time; or gone
/// with its arbiter): reported with `outcome`, its `Stopped` event
/// published here.
fn ended_here(link: &ChildLink, env: &ChildEnv, outcome: StopOutcome) {
    settle(link, env, empty_report(link, outcome));
}

/// The end the supervisor handed over: its `Stopped` event published and
/// the link settled here, then the supervisor told to answer its `Stop`s.
fn settled_end(link: &ChildLink, env: &ChildEnv, report: StopReport, settled: Option<Settled>) {
    settle(link, env, report);
    if let Some(settled) = settled {
        let _ = settled.send(());
    }
}

/// The subtree's end, in the order a nested supervisor on the parent's
/// thread keeps: its `Stopped` event, then the link's last state and
/// activity, then its report.
fn settle(link: &ChildLink, env: &ChildEnv, report: StopReport) {
    let incarnation = link.record.borrow().incarnation;
    env.scope
        .events
        .emit(link.path(), incarnation, || EventKind::Stopped {
            report: report.clone(),
        });
    let state = match report.outcome {
        StopOutcome::Failed(_) => NodeState::Failed,
        _ => NodeState::Stopped,
    };
    set_state(link, state);
    // Done before the report is out, and a temporary one asks its parent to
    // take it out of the table first (see `ChildLink::finished`).
    link.set_activity(Activity::Done);
    link.finished();
    link.finish(Box::new(report));
}

fn empty_report(link: &ChildLink, outcome: StopOutcome) -> StopReport {
    StopReport {
        path: link.path().clone(),
        outcome,
        drained: 0,
        undelivered: 0,
        cancelled: 0,
        duration: Duration::ZERO,
        children: Vec::new(),
        ended_on_its_own: false,
    }
}
