//! The runner: the future that owns one child's actix context for the
//! child's whole life and carries out what its [`Lifecycle`] decides.
//!
//! The runner decides nothing itself. It polls the context, turns what it
//! sees into lifecycle [`Event`]s (a start that is over, a marker reached, a
//! poll that left the context waiting, an end, a panic, a command from the
//! supervisor, a timer) and executes the [`Action`]s that
//! [`Lifecycle::step`] returns. The node's state and activity are written
//! from the lifecycle in one place, [`Runner::sync`].
//!
//! # Why the context is kept and restarted in place
//!
//! actix keeps an actor's mailbox inside its `ContextFut`; dropping the
//! `ContextFut` drops the mailbox's receiver, which closes the channel and
//! drops every queued message. So the only way to keep a child's `Addr` valid
//! and its queued messages alive across a restart is to keep the `ContextFut`
//! and restart it in place with `ContextFut::restart`, as `actix::Supervisor`
//! does. Fresh state reaches the actor value through
//! `Supervised::restarting` (see [`super::supervised`]).
//!
//! # Panics
//!
//! Every poll of the `ContextFut` (which runs `started`, handlers, spawned
//! futures, `stopping` and `stopped`), every factory call and every
//! `restarting` call runs inside `catch_unwind`. A caught panic ends that
//! incarnation as a failure. The unwind stops at the runner, so the
//! `ContextFut` is never dropped during it: a restart resets it in place
//! without running hooks, and when the child ends for good the runner calls
//! `terminate()` before dropping it, so actix's drop logic does not run
//! `stopping`/`stopped` on the half-updated value (under plain actix, a
//! second panic there aborts the process). The message whose handler
//! panicked is dropped during the unwind, so its `send()` caller gets
//! `MailboxError::Closed` instead of waiting forever.
//!
//! # Stop: draining through the mailbox
//!
//! actix exposes neither the length of a mailbox nor a way to close it
//! without dropping it, and `ctx.stop()` stops reading it. So a drain queues
//! a numbered [`DrainMarker`] through the child's own address: the mailbox
//! is FIFO, so when the marker is handled, everything queued before the
//! drain began has been handled too, including the futures those messages
//! made the actor wait on (`ctx.wait`, `AtomicResponse`). Messages sent
//! through a [`ChildHandle`](crate::ChildHandle) are also counted (see
//! [`super::drain`]), and a stop waits until every one of them is settled
//! and every future the incarnation owns has ended ([`super::response`]).
//! Only then does the runner call `ctx.stop()`, so `stopping` and `stopped`
//! run last. A grace timer bounds the whole drain.
//!
//! # Costs on the message path
//!
//! A message goes from the channel to the handler exactly as in plain actix:
//! the runner adds no allocation, lock or channel per message. Per poll it
//! adds a `catch_unwind` (free unless a panic happens), entering the node's
//! tracing span (only when a subscriber enabled it: see `InSpan`), a
//! command check, a few atomic loads of the child's counts (before and
//! after the poll), a waker comparison and the opening and closing of the
//! poll's signal scope ([`super::signals`]). A message sent through a
//! `ChildHandle` adds, on the sender's side, a compare-and-swap and a clone
//! of the child's shared state, and an atomic increment when it is handled.
//!
//! # Start detection
//!
//! Before each incarnation's first poll the runner queues a tiny
//! `ctx.wait` future, the start barrier. actix polls wait futures before the
//! mailbox and after `started` (and after the futures `started` itself passed
//! to `ctx.wait`), so the barrier completing means the start is over: a panic
//! before it is a failure in `started`, a panic after it a failure while
//! running.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{self, Poll};
use std::time::Duration;

use actix::dev::channel::AddressReceiver;
use actix::dev::ContextFut;
use actix::fut::ActorFuture;
use actix::{Actor, ActorContext, Addr, AsyncContext, Context};
use tokio::time::{Instant, Sleep};

use super::drain::{ChildShared, DrainMarker, Startup};
use super::lifecycle::{Action, Actions, Emit, Ending, Event, Lifecycle, Notice, State, Verdict};
use super::link::{
    Activity, ChildEnv, ChildLink, ChildNotice, Command, Nested, NodeRecord, StartAfter,
};
use super::response::Owned;
use super::restart::{Decision, End, Exit};
use super::signals::{self, Adopted, Reported};
use super::start::{Factory, Parts, StartContext, Unstarted};
use super::supervised::{SupervisedActor, FRESH};
use crate::messages::events::EventKind;
use crate::messages::stop::{StopOutcome, StopReport};
use crate::policy::{Grace, Strategy};
use crate::tree::{Failure, FailureKind, FailurePhase};

/// Spawns the runner of the child whose spec is `block` on the current
/// arbiter and returns the link its supervisor keeps. The runner keeps the
/// spec's block as its core.
pub(crate) fn spawn<A: SupervisedActor>(env: ChildEnv, mut block: Box<Block<A>>) -> Rc<ChildLink> {
    let parts = match std::mem::replace(&mut *block, Block::Empty) {
        Block::Spec(mut spec) => spec.take_parts(),
        Block::Core(_) | Block::Empty => unreachable!("a spec is started once"),
    };
    start(env, parts, block)
}

/// Spawns the runner of a child started again after it ended (see
/// [`super::respawn`]): it has no spec's block, so its core gets one.
pub(crate) fn spawn_again<A: SupervisedActor>(env: ChildEnv, parts: Parts<A>) -> Rc<ChildLink> {
    start(env, parts, Box::new(Block::Empty))
}

/// Spawns the runner of a child made of `parts`, with `block` for its core.
fn start<A: SupervisedActor>(
    env: ChildEnv,
    parts: Parts<A>,
    mut block: Box<Block<A>>,
) -> Rc<ChildLink> {
    let mut record = NodeRecord::new();
    record.stats = parts.stats;
    // A weak typed address, for handles asked for by path.
    let address = Nested(Box::new(parts.addr.downgrade()));
    let link = ChildLink::new(
        record,
        parts.kind,
        parts.shared.clone(),
        Some(address),
        &env,
    );
    let span = tracing::info_span!("node", path = %link.path());
    // A child without dependencies starts as before: no wait, no `Rare`.
    let (lifecycle, rare) = if env.start_after.links.is_empty() {
        (Lifecycle::new(), None)
    } else {
        let rare = Rare {
            start_after: env.start_after,
            ..Rare::default()
        };
        (Lifecycle::with_dependencies(), Some(Box::new(rare)))
    };
    *block = Block::Core(Core {
        factory: parts.factory,
        addr: parts.addr,
        shared: parts.shared,
        lifecycle,
        known_waker: None,
        stop: None,
    });
    let mut runner = Runner {
        link: link.clone(),
        core: block,
        rare,
        context: ChildContext::Unbuilt(Some(parts.receiver)),
        built_this_poll: false,
        #[cfg(feature = "testkit")]
        _live: crate::testkit::LiveActor::new(),
    };
    // Build the first incarnation now, so the child is `Starting` (and its
    // factory's failures are known) as soon as its supervisor has started it.
    // A handle may have asked for a stop before the child was started.
    let first = |runner: &mut Runner<A>| {
        if !runner.core.shared.is_accepting() {
            runner.apply(Event::Stop);
        }
        runner.apply(Event::Turn);
    };
    if span.is_disabled() {
        // No subscriber wanted the span when it was made: it stays disabled,
        // and is neither entered here nor kept (see `InSpan`).
        first(&mut runner);
        actix_rt::spawn(runner);
    } else {
        span.in_scope(|| first(&mut runner));
        actix_rt::spawn(InSpan::new(span, runner));
    }
    link
}

/// The child's actix context, once the first incarnation was built.
///
/// `Built` is much larger than `Unbuilt`, and it is the variant that lives
/// for the child's whole life: boxing it would add a pointer hop to every
/// poll on the message path.
#[allow(clippy::large_enum_variant)]
enum ChildContext<A: Actor<Context = Context<A>>> {
    /// No factory call succeeded yet: the mailbox is only its receiver.
    Unbuilt(Option<AddressReceiver<A>>),
    /// The context with the mailbox and the current actor value.
    Built(ContextFut<A, Context<A>>),
}

/// One child's runner. Its size decides the size of its tokio task, which
/// tokio rounds up to a multiple of 128 bytes: up to 408 bytes, the task
/// takes 512, as a plain actix actor's does with an actor of up to 64 bytes.
/// The runner adds 24 bytes to the actor's context (a test holds it within
/// 32); the rest of its state lives in its `core`, the block its spec was
/// boxed in, and in `rare`.
struct Runner<A: SupervisedActor> {
    link: Rc<ChildLink>,
    /// Always `Block::Core`.
    core: Box<Block<A>>,
    /// Made the first time the child stops, restarts, backs off or reports
    /// a failure that does not end its incarnation at once. Kept here, not
    /// in the core: it is not `Send`, and a spec's block must be.
    rare: Option<Box<Rare>>,
    context: ChildContext<A>,
    /// An incarnation was built in the runner's current poll (or before
    /// its first): the next turn owes the arbiter a yield
    /// ([`Event::Turn`], else [`Event::LaterTurn`]).
    built_this_poll: bool,
    #[cfg(feature = "testkit")]
    _live: crate::testkit::LiveActor,
}

/// One child's block: its spec's fields until the child starts, then its
/// runner's core. A spec given to a supervisor is boxed as a block, and its
/// runner keeps that box: one allocation for the spec and the runner's
/// state, and none freed at spawn (a spec's block freed then, of another
/// size class than the core's, stayed a hole in the heap: issue 17,
/// `docs/profiles/spawn.md`).
pub(crate) enum Block<A: Actor<Context = Context<A>>> {
    /// Given to a supervisor, not started yet.
    Spec(Unstarted<A>),
    /// Started: what the runner keeps out of its task.
    Core(Core<A>),
    /// While the spec's parts go to the runner.
    Empty,
}

impl<A: Actor<Context = Context<A>>> Block<A> {
    /// The spec, before the child starts (a supervisor reads it only then).
    pub(crate) fn spec(&self) -> &Unstarted<A> {
        match self {
            Block::Spec(spec) => spec,
            Block::Core(_) | Block::Empty => unreachable!("a started child's spec is not read"),
        }
    }
}

/// A runner's block holds its core from the runner's spawn to its end.
impl<A: Actor<Context = Context<A>>> std::ops::Deref for Block<A> {
    type Target = Core<A>;

    #[inline]
    fn deref(&self) -> &Core<A> {
        match self {
            Block::Core(core) => core,
            Block::Spec(_) | Block::Empty => unreachable!("a runner's block holds its core"),
        }
    }
}

impl<A: Actor<Context = Context<A>>> std::ops::DerefMut for Block<A> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Core<A> {
        match self {
            Block::Core(core) => core,
            Block::Spec(_) | Block::Empty => unreachable!("a runner's block holds its core"),
        }
    }
}

/// What a runner keeps in a block of its own rather than in its task.
pub(crate) struct Core<A: Actor<Context = Context<A>>> {
    factory: Factory<A>,
    /// Sends the drain markers, and keeps the mailbox connected (actix
    /// restarts a context only while an address to it is alive).
    addr: Addr<A>,
    shared: std::sync::Arc<ChildShared>,
    lifecycle: Lifecycle,
    /// The waker last registered with the child's shared state.
    known_waker: Option<std::task::Waker>,
    /// The clock of the stop (or strategy drain) under way. Here, not in
    /// [`Rare`]: a stop of an idle child then allocates this small box
    /// (64 bytes with glibc's header), not the whole of `Rare` (208).
    stop: Option<Box<StopClock>>,
}

/// The part of a runner's state only some children ever need.
#[derive(Default)]
struct Rare {
    /// The backoff timer, in `State::Backoff`.
    backoff: Option<Pin<Box<Sleep>>>,
    /// A failure reported with `fail` in this incarnation whose context has
    /// not ended yet (its `stopping` kept it running).
    reported: Option<String>,
    /// The siblings each incarnation waits for, for a child that has some
    /// (set when the child is spawned).
    start_after: StartAfter,
    /// The start timeout, in `State::Waiting`.
    start_timer: Option<Pin<Box<Sleep>>>,
    /// Completes when the sibling waited for is ready (or done), in
    /// `State::Waiting`.
    watch: Option<Pin<Box<dyn Future<Output = ()>>>>,
    /// The sibling named by the last start timeout.
    waited_for: Option<crate::tree::NodePath>,
    /// The incarnation's owned futures ([`super::response`]).
    owned: Owned,
    /// The box that carries a restart's fresh value to `restart_fresh`,
    /// kept between restarts.
    fresh: Option<Box<dyn std::any::Any>>,
    /// The messages held back past a restart's marker (each a
    /// [`Held<A>`](super::drain::Held)), in the order they were queued: the
    /// next incarnation handles them first ([`ReplayHeld`]).
    held: HeldQueue,
}

/// The messages held back past a restart's marker, oldest first, shared
/// by the runner and the `ReplayHeld` futures that hand them over.
type HeldQueue = Rc<std::cell::RefCell<std::collections::VecDeque<Box<dyn std::any::Any>>>>;

/// When a stop (or strategy drain) began, and its grace.
struct StopClock {
    began: Instant,
    /// Messages handled before it began.
    handled_before: u64,
    deadline: Option<Instant>,
    /// The timer for `deadline`, armed once the drain has to wait.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<A: SupervisedActor> Runner<A> {
    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }
}

/// A runner inside its node's tracing span, so that what the child and the
/// runner log is attributed to the node: `tracing::Instrumented`, but only
/// for a span a subscriber enabled. A runner whose span is disabled runs
/// without it, because with tracing's `log` feature on (actix-web turns it
/// on) and no subscriber set, entering and leaving a disabled span still
/// formats and filters a log record each time: about a hundred instructions
/// per message, more than the rest of the runner's work.
struct InSpan<A: SupervisedActor> {
    span: tracing::Span,
    /// Always some until dropped, inside the span, by `drop`.
    runner: Option<Runner<A>>,
}

impl<A: SupervisedActor> InSpan<A> {
    fn new(span: tracing::Span, runner: Runner<A>) -> Self {
        InSpan {
            span,
            runner: Some(runner),
        }
    }
}

impl<A: SupervisedActor> Future for InSpan<A> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let _entered = this.span.enter();
        match &mut this.runner {
            Some(runner) => Pin::new(runner).poll(cx),
            None => Poll::Ready(()),
        }
    }
}

impl<A: SupervisedActor> Drop for InSpan<A> {
    fn drop(&mut self) {
        let _entered = self.span.enter();
        drop(self.runner.take());
    }
}

impl<A: SupervisedActor> Drop for Runner<A> {
    /// When the runtime drops a runner whose child is still alive (the
    /// system shuts down without a `Stop`), actix would run `stopping` and
    /// `stopped` outside any containment; instead the child is killed: its
    /// context terminated and dropped inside `catch_unwind`, its report out.
    fn drop(&mut self) {
        // A child done for good (the usual end) has nothing left to kill.
        if !self.core.lifecycle.is_done() {
            self.apply(Event::Kill);
        }
    }
}

impl<A: SupervisedActor> Future for Runner<A> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.built_this_poll = false;
        let core: &mut Core<A> = &mut this.core;
        core.shared
            .register_runner(&mut core.known_waker, cx.waker());
        // The message path: a running child, no drain, no command, no stop
        // asked for through a handle. Nothing to do but poll it.
        if core.lifecycle.is_running_freely()
            && !this.link.has_command()
            && core.shared.is_accepting()
        {
            if let ChildContext::Built(context) = &mut this.context {
                let outer = signals::enter();
                let polled = catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *context).poll(cx)));
                let reported = signals::leave(outer);
                // Nothing reported, and no stop asked for through a handle:
                // the poll reached no marker, ended nothing, and there is
                // nothing more to do (messages settle themselves).
                if matches!(polled, Ok(Poll::Pending))
                    && reported.is_empty()
                    && this.core.shared.is_accepting()
                {
                    return Poll::Pending;
                }
                this.after_poll(polled, reported);
            }
        }
        this.poll_lifecycle(cx)
    }
}

impl<A: SupervisedActor> Runner<A> {
    /// The rest of a poll, off the message path: commands, a stop asked
    /// for through a handle, and the lifecycle's turns until nothing moves.
    /// Kept out of `poll` so that the message path's frame stays small.
    #[inline(never)]
    fn poll_lifecycle(&mut self, cx: &mut task::Context<'_>) -> Poll<()> {
        let this = self;
        let command = match this.link.take_command() {
            Some(Command::Stop) => Some(Event::Stop),
            Some(Command::Kill) => Some(Event::Kill),
            Some(Command::Restart) => Some(Event::Restart),
            Some(Command::Start) => Some(Event::Resume),
            None => None,
        };
        if let Some(event) = command {
            // A command's events never ask for a yield.
            this.apply(event);
        }
        this.stop_if_asked();
        loop {
            let before = this.mark();
            let state = before.0.state();
            match state {
                // A stop's (or a restart drain's) next incarnation: its
                // grace bounds it too (an incarnation that starts and ends
                // again and again).
                State::Pending { .. }
                    if this.core.lifecycle.grace_runs() && this.grace_over(cx) =>
                {
                    this.apply(Event::GraceOver);
                }
                State::Pending { .. } => {
                    let turn = if this.built_this_poll {
                        Event::Turn
                    } else {
                        Event::LaterTurn
                    };
                    if this.apply(turn) {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
                State::Starting { .. } | State::Running { .. } => {
                    // A restart's drain ends at its marker: the context stops
                    // there unless the incarnation owns futures in flight,
                    // and what follows the marker is held back for the next
                    // incarnation.
                    let stop_at = this
                        .core
                        .lifecycle
                        .restart_marker()
                        .map(|id| (id, !this.owned_idle()));
                    let past_marker = this.core.lifecycle.is_past_restart_marker();
                    let ChildContext::Built(context) = &mut this.context else {
                        unreachable!("a starting or running child has a context");
                    };
                    // Unset outside such a poll (polls of runners never
                    // nest), so only a restart's drain touches it.
                    let previous = stop_at.map(|(id, busy)| signals::stop_at_marker(id, busy));
                    let outer = signals::enter();
                    if past_marker {
                        signals::defer_past_marker();
                    }
                    let polled =
                        catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *context).poll(cx)));
                    let reported = signals::leave(outer);
                    if let Some(previous) = previous {
                        signals::restore_stop_at(previous);
                    }
                    let pending = matches!(polled, Ok(Poll::Pending));
                    this.after_poll(polled, reported);
                    // The context waits, and what followed its poll (a start
                    // that is over) left the child running freely: polling it
                    // again would only find the same nothing to do. Whatever
                    // comes next (a message, a command, a stop through a
                    // handle) wakes the runner.
                    if pending
                        && this.core.lifecycle.is_running_freely()
                        && !this.link.has_command()
                        && this.core.shared.is_accepting()
                    {
                        return Poll::Pending;
                    }
                }
                State::Backoff { .. } => {
                    let over = this
                        .rare
                        .as_mut()
                        .and_then(|rare| rare.backoff.as_mut())
                        .is_none_or(|timer| timer.as_mut().poll(cx).is_ready());
                    if over {
                        this.apply(Event::BackoffOver);
                    }
                }
                State::Waiting { .. } => this.poll_dependencies(cx),
                State::Deciding { .. } | State::Parked { .. } | State::GaveUp => {}
                State::Done { .. } => return Poll::Ready(()),
            }
            // Checked only once a drain waits: a drain that ends in one poll
            // never arms its timer.
            if this.mark() == before {
                if !this.grace_over(cx) {
                    return Poll::Pending;
                }
                this.apply(Event::GraceOver);
                if this.mark() == before {
                    return Poll::Pending;
                }
            }
        }
    }

    /// Where the runner is: its lifecycle and its incarnation. A turn of
    /// the poll's loop that leaves it unchanged made no progress; an
    /// incarnation that ended and was built again within one turn (and is
    /// `Starting` again) did.
    fn mark(&self) -> (Lifecycle, u64) {
        (self.core.lifecycle, self.link.record.borrow().incarnation)
    }

    /// A stop asked for through a handle (its status no longer accepting)
    /// reaches the lifecycle here.
    fn stop_if_asked(&mut self) {
        if !self.core.shared.is_accepting() && !self.core.lifecycle.has_stop() {
            self.apply(Event::Stop);
        }
    }

    /// Steps the lifecycle with `event`, writes what is derived from it, and
    /// carries out its actions (and the events they lead to). Returns
    /// whether the runner must yield.
    fn apply(&mut self, event: Event) -> bool {
        let mut actions = Actions::new();
        self.core.lifecycle.step_into(event, &mut actions);
        self.sync();
        let mut yield_now = false;
        // Drained in place: moving the array (a few hundred bytes) costs
        // more than the step.
        for action in actions.drain(..) {
            match self.execute(action) {
                Next::Nothing => {}
                Next::Yield => yield_now = true,
                Next::Event(event) => yield_now |= self.apply(event),
            }
        }
        yield_now
    }

    /// Writes what is derived from the lifecycle: the node's state, the
    /// runner's activity, and which timers are kept.
    fn sync(&mut self) {
        let lifecycle = self.core.lifecycle;
        let state = lifecycle.node_state();
        let was = std::mem::replace(&mut self.link.record.borrow_mut().state, state);
        if state == crate::tree::NodeState::Stopping && was != state {
            self.emit(|| EventKind::Stopping);
        }
        let activity = if lifecycle.is_done() {
            Activity::Done
        } else if lifecycle.is_at_rest() {
            Activity::Parked
        } else if lifecycle.is_ready() {
            Activity::Ready
        } else {
            Activity::Active
        };
        if self.link.activity() != activity {
            if activity == Activity::Done {
                // The lifecycle is done only with `Finish` among the step's
                // actions: the report's publication rings the bell.
                self.link.set_done_quietly();
            } else {
                self.link.set_activity(activity);
            }
        }
        if self.core.stop.is_some() && !lifecycle.grace_runs() && !lifecycle.is_done() {
            self.core.stop = None;
        }
        if let Some(rare) = &mut self.rare {
            if rare.backoff.is_some() && !matches!(lifecycle.state(), State::Backoff { .. }) {
                rare.backoff = None;
            }
            if rare.start_timer.is_some() && !matches!(lifecycle.state(), State::Waiting { .. }) {
                rare.start_timer = None;
                rare.watch = None;
            }
        }
    }

    /// Carries out one action.
    fn execute(&mut self, action: Action) -> Next {
        match action {
            Action::Yield => return Next::Yield,
            Action::Build => return Next::Event(self.build()),
            Action::BuildAndStart => match self.build() {
                Event::Built => {}
                ended => return Next::Event(ended),
            },
            Action::RecordFailure(failure) => {
                tracing::error!(
                    path = %self.link.path(),
                    incarnation = self.link.record.borrow().incarnation,
                    kind = ?failure.kind,
                    phase = ?failure.phase,
                    reason = %failure.message,
                    "child failed"
                );
                // The box of the last failure is reused: a child that keeps
                // failing allocates one box, not one per failure.
                match &mut self.link.record.borrow_mut().last_failure {
                    Some(last) => **last = failure,
                    last @ None => *last = Some(Box::new(failure)),
                }
            }
            Action::Started => {
                if !self.core.shared.is_startup_settled() {
                    tracing::debug!("child started");
                    self.core.shared.settle_startup(Startup::Started);
                }
                self.emit(|| EventKind::Started);
            }
            Action::StartFailed => {
                if let Some(failure) = self.link.record.borrow().last_failure.as_deref() {
                    let waited_for = self.rare.as_mut().and_then(|rare| {
                        let dependency = rare.waited_for.take()?;
                        Some((dependency, rare.start_after.timeout))
                    });
                    let outcome = match waited_for {
                        Some(waited) if failure.phase == FailurePhase::Waiting => {
                            Startup::NotReady(Box::new(waited))
                        }
                        _ => Startup::Failed(Box::new(failure.clone())),
                    };
                    self.core.shared.settle_startup(outcome);
                }
            }
            Action::Emit(Emit::Failed) => {
                let link = &self.link;
                self.emit(|| EventKind::Failed {
                    failure: link
                        .record
                        .borrow()
                        .last_failure
                        .as_deref()
                        .cloned()
                        .expect("a failure is recorded before it is published"),
                });
            }
            Action::Emit(Emit::Restarting { attempt, delay }) => {
                tracing::warn!(
                    path = %self.link.path(),
                    incarnation = self.link.record.borrow().incarnation,
                    attempt,
                    delay = ?delay,
                    "restarting child"
                );
                self.emit(|| EventKind::Restarting { attempt, delay });
            }
            Action::Refuse => {
                if self.core.shared.begin_stopping() {
                    tracing::info!(path = %self.link.path(), "stopping child");
                }
            }
            Action::ArmGrace => {
                let began = Instant::now();
                let deadline = match self.link.grace() {
                    // A grace too long for the clock is no deadline at all.
                    Grace::Duration(grace) => began.checked_add(grace),
                    Grace::Infinity => None,
                };
                let handled_before = self.core.shared.counts().handled();
                self.core.stop = Some(Box::new(StopClock {
                    began,
                    handled_before,
                    deadline,
                    timer: None,
                }));
            }
            Action::QueueMarker(id) => {
                // The incarnation's work should wind down: its token tells it.
                self.link.token.cancel();
                self.core.addr.do_send(DrainMarker(id));
            }
            Action::ReplayHeld => self.replay_held(),
            Action::StopContext => {
                if let ChildContext::Built(context) = &mut self.context {
                    context.ctx().stop();
                }
            }
            Action::Terminate => {
                if let ChildContext::Built(context) = &mut self.context {
                    context.ctx().terminate();
                }
                self.cancel_owned(true);
                tracing::warn!(path = %self.link.path(), "child did not drain within its grace; terminated for the restart");
                self.link.token.cancel();
                self.link.record.borrow_mut().started_at = None;
            }
            Action::Decide(exit) => {
                let verdict = self.decide(exit);
                return Next::Event(Event::Verdict {
                    verdict,
                    built_this_poll: self.built_this_poll,
                });
            }
            Action::ArmBackoff(delay) => {
                self.rare_mut().backoff = Some(Box::pin(tokio::time::sleep(delay)));
            }
            Action::Tell(notice) => {
                if notice == Notice::GaveUp {
                    tracing::error!(path = %self.link.path(), "restart intensity exceeded");
                }
                if let Some(supervisor) = self.link.scope.supervisor.upgrade() {
                    supervisor.do_send(ChildNotice {
                        index: self.link.index as usize,
                        notice,
                    });
                }
            }
            Action::Finish(ending) => self.finish(ending),
            Action::AwaitDependencies => return self.await_dependencies(),
            Action::WindDown => self.link.token.cancel(),
        }
        Next::Nothing
    }

    /// Arms the start timeout of a child about to wait for its
    /// dependencies; its answer, at once when they are all ready.
    #[cold]
    fn await_dependencies(&mut self) -> Next {
        let rare = self.rare_mut();
        rare.watch = None;
        rare.start_timer = Instant::now()
            .checked_add(rare.start_after.timeout)
            .map(|deadline| Box::pin(tokio::time::sleep_until(deadline)));
        if rare.start_after.first_not_ready().is_none() {
            return Next::Event(Event::DependenciesReady);
        }
        tracing::debug!(path = %self.link.path(), "waiting for the siblings it depends on");
        Next::Nothing
    }

    /// In `State::Waiting`: starts the incarnation once every dependency
    /// is ready, fails the attempt once the start timeout rang, and
    /// otherwise registers the runner's waker with the first dependency
    /// not ready (and the timer).
    #[cold]
    fn poll_dependencies(&mut self, cx: &mut task::Context<'_>) {
        // Under a stop, a dependency at rest (parked, given up, done) is
        // not waited for: it starts no more while the stop lasts (its
        // supervisor stops this child before it), and waiting would hold
        // the stop, and the supervisor's shutdown, until the grace.
        let stopping = self.core.lifecycle.has_stop();
        let Some(rare) = self.rare.as_mut() else {
            unreachable!("a child that waits for dependencies has them in `Rare`");
        };
        if stopping {
            // A watch begun before the stop waits for readiness only.
            rare.watch = None;
        }
        let ready = loop {
            let awaited = if stopping {
                rare.start_after
                    .first_awaited_by_stop(self.link.scope.shutting_down.get())
            } else {
                rare.start_after.first_not_ready()
            };
            let Some(dependency) = awaited else {
                break true;
            };
            // A dependency done for good (and not started again) is never
            // ready: only the timer ends the wait then.
            let watch = rare.watch.get_or_insert_with(|| {
                if stopping {
                    Box::pin(dependency.settled_or_replaced())
                } else {
                    Box::pin(dependency.ready_or_replaced())
                }
            });
            if watch.as_mut().poll(cx).is_pending() {
                break false;
            }
            rare.watch = None;
        };
        if ready {
            self.apply(Event::DependenciesReady);
            return;
        }
        let rang = rare
            .start_timer
            .as_mut()
            .is_some_and(|timer| timer.as_mut().poll(cx).is_ready());
        if !rang {
            return;
        }
        let timeout = rare.start_after.timeout;
        let dependency = rare
            .start_after
            .first_not_ready()
            .map_or_else(|| self.link.path().clone(), |link| link.path().clone());
        tracing::warn!(
            path = %self.link.path(),
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
        rare.waited_for = Some(dependency);
        self.apply(Event::StartTimeout(failure));
    }

    /// Calls the factory and puts the next incarnation's value in place.
    #[cold]
    fn build(&mut self) -> Event {
        self.built_this_poll = true;
        let incarnation = {
            let mut record = self.link.record.borrow_mut();
            record.incarnation += 1;
            record.started_at = Some(Instant::now());
            record.incarnation
        };
        if let Some(rare) = &mut self.rare {
            rare.reported = None;
        }
        let start = StartContext {
            path: self.link.path().clone(),
            incarnation,
            parent_token: self.link.scope.token.clone(),
            token: std::cell::OnceCell::new(),
        };
        let factory = &mut self.core.factory;
        let built = catch_unwind(AssertUnwindSafe(|| factory(&start)));
        self.link.token.replace(start.token.into_inner());
        let failed = |kind, message| Event::Ended {
            end: End::Failed(Failure::new(kind, FailurePhase::Factory, message)),
            settled: false,
        };
        let actor = match built {
            Ok(Ok(actor)) => actor,
            Ok(Err(message)) => {
                self.link.token.cancel();
                return failed(FailureKind::Error, message);
            }
            Err(payload) => {
                self.link.token.cancel();
                return failed(FailureKind::Panic, panic_message(payload));
            }
        };
        let context = match &mut self.context {
            ChildContext::Unbuilt(receiver) => {
                let receiver = receiver
                    .take()
                    .expect("an unbuilt context has its receiver");
                let context = Context::with_receiver(receiver).into_future(actor);
                self.context = ChildContext::Built(context);
                match &mut self.context {
                    ChildContext::Built(context) => context,
                    ChildContext::Unbuilt(_) => unreachable!("just built"),
                }
            }
            ChildContext::Built(context) => {
                let spare = &mut self.rare.get_or_insert_with(Box::default).fresh;
                if let Err(end) = restart_in_place(context, actor, spare) {
                    self.link.token.cancel();
                    return Event::Ended {
                        end,
                        settled: false,
                    };
                }
                context
            }
        };
        // Polled last first: the start barrier, then each message held back,
        // in order, then the mailbox.
        Self::replay_held_into(context, self.rare.as_deref());
        context.ctx().wait(StartBarrier);
        Event::Built
    }

    /// Turns one poll of the child's context, and what it reported, into
    /// lifecycle events.
    fn after_poll(&mut self, polled: std::thread::Result<Poll<()>>, mut reported: Reported) {
        if reported.owned() {
            self.adopt_owned(signals::take_owned());
        }
        if reported.deferred() {
            self.hold(signals::take_deferred());
        }
        if let Some(reason) = reported.failure.take() {
            // Kept until the incarnation ends: its `stopping` may keep it
            // running a while.
            self.rare_mut().reported = Some(reason);
        }
        if reported.start_over() {
            self.apply(Event::StartOver);
        }
        if let Some(id) = reported.marker() {
            self.apply(if reported.stopped_at_marker() {
                Event::StoppedAtMarker(id)
            } else {
                Event::MarkerReached(id)
            });
        }
        let phase = if self.core.lifecycle.is_starting() {
            FailurePhase::Starting
        } else {
            FailurePhase::Running
        };
        let end = match polled {
            Ok(Poll::Pending) => {
                if self.core.lifecycle.is_draining() {
                    if self.core.lifecycle.is_context_stopped() && self.context_runs() {
                        self.apply(Event::Refused);
                    }
                    if self.owned_idle() {
                        let settled = self.core.shared.is_settled();
                        self.apply(Event::Quiet { settled });
                    }
                }
                return;
            }
            Ok(Poll::Ready(())) => match self.rare.as_mut().and_then(|rare| rare.reported.take()) {
                Some(reason) => End::Failed(Failure::new(FailureKind::Error, phase, reason)),
                None => End::Normal,
            },
            Err(payload) => End::Failed(Failure::new(
                FailureKind::Panic,
                phase,
                panic_message(payload),
            )),
        };
        self.link.token.cancel();
        // A drain (a stop's or a restart's) promised to wait for them.
        self.cancel_owned(self.core.lifecycle.is_draining());
        let settled = self.core.shared.is_settled();
        self.apply(Event::Ended { end, settled });
    }

    /// Whether the context runs: told to stop, its `stopping` answered
    /// `Running::Continue`.
    fn context_runs(&mut self) -> bool {
        match &mut self.context {
            ChildContext::Built(context) => context.ctx().state() == actix::ActorState::Running,
            ChildContext::Unbuilt(_) => false,
        }
    }

    /// Keeps the futures the incarnation took on during a poll.
    #[cold]
    fn adopt_owned(&mut self, adopted: Adopted) {
        self.rare_mut().owned.adopt(adopted);
    }

    /// Keeps the messages held back past a restart's marker during a poll,
    /// for the next incarnation.
    #[cold]
    fn hold(&mut self, messages: Vec<Box<dyn std::any::Any>>) {
        self.rare_mut().held.borrow_mut().extend(messages);
    }

    /// Whether no future the incarnation owns is in flight: a drain is not
    /// over before.
    fn owned_idle(&self) -> bool {
        self.rare.as_ref().is_none_or(|rare| rare.owned.is_idle())
    }

    /// Hands the incarnation under way what it held back past its
    /// restart's marker, before anything still in its mailbox: a stop took
    /// the drain over.
    #[cold]
    fn replay_held(&mut self) {
        if let ChildContext::Built(context) = &mut self.context {
            Self::replay_held_into(context, self.rare.as_deref());
        }
    }

    /// Queues one `ReplayHeld` wait future per message held back, so that
    /// `context` handles them, oldest first, before its mailbox.
    fn replay_held_into(context: &mut ContextFut<A, Context<A>>, rare: Option<&Rare>) {
        let Some(rare) = rare else {
            return;
        };
        for _ in 0..rare.held.borrow().len() {
            context.ctx().wait(ReplayHeld::<A> {
                held: rare.held.clone(),
                actor: std::marker::PhantomData,
            });
        }
    }

    /// Drops the messages still held back for a next incarnation that will
    /// not come: the child is closed, so they are undelivered, and their
    /// requesters get an error.
    fn drop_held(&mut self) {
        let Some(rare) = self.rare.as_mut() else {
            return;
        };
        let held = std::mem::take(&mut *rare.held.borrow_mut());
        if held.is_empty() {
            return;
        }
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(held))) {
            tracing::error!(
                path = %self.link.path(),
                reason = %panic_message(payload),
                "dropping a message held for the next incarnation panicked"
            );
        }
    }

    /// Drops the futures the ending incarnation still owns, so that their
    /// requesters get an error now rather than after a backoff.
    fn cancel_owned(&mut self, lost: bool) {
        let Some(rare) = self.rare.as_mut().filter(|rare| !rare.owned.is_empty()) else {
            return;
        };
        let owned = &mut rare.owned;
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| owned.cancel_all(lost))) {
            tracing::error!(
                path = %self.link.path(),
                reason = %panic_message(payload),
                "dropping an owned future panicked"
            );
        }
    }

    /// Asks the restart rules, and the supervisor's intensity, what follows
    /// the end of the incarnation.
    #[cold]
    fn decide(&mut self, exit: Exit) -> Verdict {
        // One clock read for both the run's length and the intensity.
        let now = Instant::now();
        let started_at = self.link.record.borrow_mut().started_at.take();
        let mut rules = self.link.rules.borrow_mut();
        // Only a backoff reads how long the incarnation ran.
        let ran_for = match (rules.backoff(), started_at) {
            (Some(_), Some(started_at)) => now.saturating_duration_since(started_at),
            _ => Duration::ZERO,
        };
        let decision = rules.decide(exit, ran_for);
        drop(rules);
        match decision {
            Decision::Finish => Verdict::Finish,
            Decision::Restart { .. } if !self.link.scope.intensity.borrow_mut().allow(now) => {
                if exit == Exit::Normal {
                    // The node's last failure says why it gave up.
                    self.link.record.borrow_mut().last_failure = Some(Box::new(Failure::new(
                        FailureKind::Error,
                        FailurePhase::Running,
                        "stopped normally, once too often for the restart intensity".into(),
                    )));
                }
                Verdict::TooMany
            }
            Decision::Restart { attempt, delay } => Verdict::Restart {
                attempt,
                delay,
                alone: self.link.scope.strategy == Strategy::OneForOne,
            },
        }
    }

    /// Whether the grace of the stop (or drain) under way ran out.
    fn grace_over(&mut self, cx: &mut task::Context<'_>) -> bool {
        let Some(stop) = self.core.stop.as_mut() else {
            return false;
        };
        let Some(deadline) = stop.deadline else {
            return false;
        };
        stop.timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)))
            .as_mut()
            .poll(cx)
            .is_ready()
    }

    /// Ends the child for good: drops its context (and with it the mailbox,
    /// so every pending and later send fails) without running user hooks,
    /// and publishes its report.
    #[cold]
    fn finish(&mut self, ending: Ending) {
        self.link.token.cancel();
        // The link outlives the runner (in the supervisor's table); the
        // token need not.
        self.link.token.replace(None);
        if let ChildContext::Built(context) = &mut self.context {
            context.ctx().terminate();
        }
        // From here every handle refuses, and a message dropped unhandled is
        // undelivered, not cancelled.
        let counts = self.core.shared.close();
        self.drop_held();
        // Dropped in place (a move would copy the whole context first); a
        // panic in a destructor still leaves the slot `Unbuilt`.
        let context = &mut self.context;
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| {
            *context = ChildContext::Unbuilt(None);
        })) {
            tracing::error!(
                path = %self.link.path(),
                reason = %panic_message(payload),
                "dropping the child's actor value panicked"
            );
        }
        let state = self.core.lifecycle.node_state();
        let last_failure = {
            let mut record = self.link.record.borrow_mut();
            record.started_at = None;
            record.last_failure.as_deref().cloned()
        };
        let stop = self.core.stop.as_deref();
        let stop_began = stop.is_some();
        let (drained, duration) = match stop {
            Some(stop) => (
                counts.handled().saturating_sub(stop.handled_before),
                stop.began.elapsed(),
            ),
            None => (0, Duration::ZERO),
        };
        let undelivered = counts.undelivered();
        let outcome = match ending {
            Ending::Stopped if undelivered == 0 => StopOutcome::Drained,
            Ending::Stopped => StopOutcome::Incomplete,
            Ending::TimedOut => StopOutcome::TimedOut,
            Ending::Failed => StopOutcome::Failed(last_failure.unwrap_or_else(|| {
                Failure::new(FailureKind::Error, FailurePhase::Running, "failed".into())
            })),
        };
        // Made in its box: it is moved no more.
        let report = Box::new(StopReport {
            path: self.link.path().clone(),
            outcome,
            drained,
            undelivered,
            cancelled: counts.cancelled,
            duration,
            children: Vec::new(),
            // No stop reached it: its policy did not restart it.
            ended_on_its_own: ending != Ending::TimedOut && !stop_began,
        });
        if ending == Ending::TimedOut {
            tracing::warn!(
                path = %self.link.path(),
                undelivered,
                "child did not stop within its grace; terminated"
            );
        }
        tracing::info!(
            path = %self.link.path(),
            state = %state,
            drained = report.drained,
            undelivered = report.undelivered,
            "child will not run again"
        );
        self.emit(|| EventKind::Stopped {
            report: StopReport::clone(&report),
        });
        self.link.finished();
        self.keep_factory();
        self.link.finish(report);
    }

    /// Leaves the factory to the link, so the child can be started again
    /// (see [`super::respawn`]).
    fn keep_factory(&mut self) {
        // A temporary child leaves the table; under a supervisor that shuts
        // down nothing starts again (it drops what was kept at its end).
        if self.link.remove_on_exit || self.link.scope.finished.is_ending() {
            return;
        }
        let factory = std::mem::replace(
            &mut self.core.factory,
            Box::new(|_: &StartContext| Err("the factory was kept for a start again".into())),
        );
        let start_after = self
            .rare
            .as_ref()
            .map(|rare| rare.start_after.clone())
            .unwrap_or_default();
        self.link.keep(Box::new(super::respawn::Kept::new(
            factory,
            self.link.kind,
            start_after,
            spawn_again::<A>,
        )));
    }

    /// Sends a lifecycle event about this child's current incarnation, built
    /// only if someone listens.
    fn emit(&self, kind: impl FnOnce() -> EventKind) {
        let events = &self.link.scope.events;
        if events.is_listened() {
            let incarnation = self.link.record.borrow().incarnation;
            events.emit(self.link.path(), incarnation, kind);
        }
    }
}

/// What an executed action leads to.
enum Next {
    Nothing,
    Yield,
    Event(Event),
}

/// Restarts `context` in place with `actor` as its value. The error is the
/// end of the incarnation that could not start.
///
/// `spare` is the box that carries the value to `restart_fresh`, kept for the
/// next restart.
fn restart_in_place<A: SupervisedActor>(
    context: &mut ContextFut<A, Context<A>>,
    actor: A,
    spare: &mut Option<Box<dyn std::any::Any>>,
) -> Result<(), End> {
    let mut carrier = spare
        .take()
        .filter(|carrier| carrier.is::<Option<A>>())
        .unwrap_or_else(|| Box::new(None::<A>));
    if let Some(slot) = carrier.downcast_mut::<Option<A>>() {
        *slot = Some(actor);
    }
    FRESH.with(|slot| *slot.borrow_mut() = Some(carrier));
    let restarted = catch_unwind(AssertUnwindSafe(|| context.restart()));
    let mut carrier = FRESH.with(|slot| slot.borrow_mut().take());
    // The value `restarting` did not install, if any.
    let leftover = carrier
        .as_mut()
        .and_then(|carrier| carrier.downcast_mut::<Option<A>>())
        .and_then(Option::take);
    *spare = carrier;
    match restarted {
        Err(payload) => Err(End::Failed(Failure::new(
            FailureKind::Panic,
            FailurePhase::Restarting,
            panic_message(payload),
        ))),
        Ok(_) if leftover.is_some() => Err(End::Fatal(Failure::new(
            FailureKind::Error,
            FailurePhase::Restarting,
            format!(
                "`Supervised::restarting` of `{}` did not install the fresh state; \
                     implement it with `actix_supervisor::supervised!` or call \
                     `actix_supervisor::restart_fresh(self)` in it",
                std::any::type_name::<A>()
            ),
        ))),
        Ok(true) => Ok(()),
        Ok(false) => Err(End::Fatal(Failure::new(
            FailureKind::Error,
            FailurePhase::Restarting,
            "the mailbox was disconnected".into(),
        ))),
    }
}

/// A `ctx.wait` future that hands the next incarnation one message held
/// back past a restart's marker: the oldest still held. One is queued per
/// message, so a handler that makes the context wait (`ctx.wait`,
/// `AtomicResponse`) keeps the next one waiting too, as the mailbox would.
/// Dropped unpolled (the incarnation ended first), it leaves its message
/// held for the incarnation after.
struct ReplayHeld<A> {
    held: HeldQueue,
    actor: std::marker::PhantomData<fn(A)>,
}

impl<A: SupervisedActor> ActorFuture<A> for ReplayHeld<A> {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        actor: &mut A,
        ctx: &mut Context<A>,
        _: &mut task::Context<'_>,
    ) -> Poll<()> {
        let next = self.held.borrow_mut().pop_front();
        if let Some(next) = next {
            let handle = next
                .downcast::<super::drain::Held<A>>()
                .expect("a runner holds only its own child's messages");
            handle(actor, ctx);
        }
        Poll::Ready(())
    }
}

/// A `ctx.wait` future that completes at once, marking the start as over.
/// It is empty, so actix's box of it allocates nothing.
struct StartBarrier;

impl<A: Actor> ActorFuture<A> for StartBarrier {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        _: &mut A,
        _: &mut A::Context,
        _: &mut task::Context<'_>,
    ) -> Poll<()> {
        signals::start_over();
        Poll::Ready(())
    }
}

/// The text of a panic payload; the payload is dropped inside its own
/// `catch_unwind`, since a payload's destructor may panic too.
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An actor with 32 bytes of state, like one holding a few handles.
    #[derive(Default)]
    struct Holder {
        _state: [u64; 4],
    }
    impl Actor for Holder {
        type Context = Context<Self>;
    }
    crate::supervised!(Holder);

    /// tokio sizes a task's cell in steps of 128 bytes; with its bookkeeping
    /// (104 bytes), a future of up to 408 bytes takes 512. A plain actix
    /// actor's context with 32 bytes of state fits; so must its runner.
    #[test]
    fn a_runner_task_is_as_small_as_a_plain_actix_actor_task() {
        let runner = std::mem::size_of::<Runner<Holder>>();
        let context = std::mem::size_of::<ContextFut<Holder, Context<Holder>>>();
        assert!(
            runner - context <= 32,
            "a runner adds {} bytes to its context, more than 32",
            runner - context
        );
        assert!(
            runner <= 408,
            "a runner of {runner} bytes (its context: {context}) no longer fits a 512-byte task"
        );
    }
}
