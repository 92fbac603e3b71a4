//! The runner: the future that owns one child's actix context for the child's
//! whole life, contains its panics and restarts it in place.
//!
//! # Why the context is kept and restarted in place
//!
//! actix keeps an actor's mailbox inside its `ContextFut`; dropping the
//! `ContextFut` drops the mailbox's receiver, which closes the channel and
//! drops every queued message. So the only way to keep a child's `Addr` valid
//! and its queued messages alive across a restart is to keep the `ContextFut`
//! and restart it in place with `ContextFut::restart`, as `actix::Supervisor`
//! does. That method resets the context (flags, spawned futures, wait queue)
//! and calls `Supervised::restarting` on the actor value, which actix keeps
//! private inside the `ContextFut`.
//!
//! actix's own supervisor keeps the old value; we want fresh state from the
//! spec's factory. The runner builds the fresh value first, parks it in a
//! thread-local slot, and calls `restart`; the actor's `restarting` (one line,
//! written by [`supervised!`](crate::supervised)) swaps it in with
//! [`restart_fresh`]. If the slot is still full afterwards, `restarting` did
//! not install the value, and the child is given up with an error that says
//! so, rather than silently running on stale state.
//!
//! # Panics
//!
//! Every poll of the `ContextFut` (which runs `started`, handlers, spawned
//! futures, `stopping` and `stopped`), every factory call and every
//! `restarting` call runs inside `catch_unwind`. A caught panic is a failure
//! of that incarnation, handed to the restart policy. The unwind stops at the
//! runner, so the `ContextFut` is never dropped during it: a restart resets it
//! in place without running hooks, and when the child is given up the runner
//! calls `terminate()` before dropping it, so actix's drop logic does not run
//! `stopping`/`stopped` on the half-updated value (under plain actix, a second
//! panic there aborts the process). The message whose handler
//! panicked is dropped during the unwind, so its `send()` caller gets
//! `MailboxError::Closed` instead of waiting forever.
//!
//! # Stop: draining through the mailbox
//!
//! actix exposes neither the length of a mailbox nor a way to close it
//! without dropping it, and `ctx.stop()` stops reading it. So a stop queues a
//! `DrainMarker` through the child's own address: the mailbox is FIFO, so
//! when the marker is handled, everything queued before the stop has been
//! handled too, including the futures those messages made the actor wait on
//! (`ctx.wait`, `AtomicResponse`). Messages sent through a
//! [`ChildHandle`](crate::ChildHandle) are counted when queued and when
//! handled; the drain is over once the marker was reached and every accepted
//! message was handled. Only then does the runner call `ctx.stop()`, so
//! `stopping` and `stopped` run last. Futures spawned on the context
//! (`ctx.spawn`, `ResponseActFuture`) are cancelled by that stop, as in
//! plain actix. A grace timer bounds the whole drain.
//!
//! # Costs on the message path
//!
//! A message goes from the channel to the handler exactly as in plain actix:
//! the runner adds no allocation, lock or channel per message. Per poll it
//! adds a `catch_unwind` (free unless a panic happens), entering the node's
//! tracing span (only when a subscriber enabled it: see `InSpan`), a
//! command check, two atomic loads of the child's state word
//! (status and accepted count; before and after the poll), a waker
//! comparison and one thread-local access. A message sent through a
//! `ChildHandle` adds two atomic operations on the sender's side (a load and
//! a compare-and-swap) and one thread-local increment when handled; the poll
//! that handles it leaves this short path for the full one, which reads the
//! thread-local again and checks the drain's state.
//!
//! # Start detection
//!
//! Before each incarnation's first poll the runner queues a tiny
//! `ctx.wait` future, the start barrier. actix polls wait futures before the
//! mailbox and after `started` (and after the futures `started` itself passed
//! to `ctx.wait`), so the barrier completing means the start is over: a panic
//! before it is a failure in `started`, a panic after it a failure while
//! running.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{self, Poll};
use std::time::Duration;

use actix::dev::channel::AddressReceiver;
use actix::dev::ContextFut;
use actix::fut::ActorFuture;
use actix::{Actor, ActorContext, AsyncContext, Context};
use tokio::time::{Instant, Sleep};

use crate::actors::supervisor::children::{Activity, ChildEnv, ChildLink, Command, NodeRecord};
use crate::actors::supervisor::restart::{Decision, End};
use crate::actors::supervisor::{ChildEnded, GiveUp};
use crate::actors::SupervisedActor;
use crate::handle::{DrainMarker, Startup};
use crate::messages::events::EventKind;
use crate::messages::stop::{StopOutcome, StopReport};
use crate::policy::{Grace, Strategy};
use crate::spec::ChildSpec;
use crate::spec::StartContext;
use crate::tree::{Failure, FailureKind, FailurePhase, NodeState};

/// Builds a fresh actor value for each incarnation.
pub(crate) type Factory<A> = Box<dyn FnMut(&StartContext) -> Result<A, String> + Send>;

thread_local! {
    /// The value the next `restarting` call installs.
    static FRESH: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    /// What user code reports to the runner polling it.
    pub(crate) static SIGNALS: PollSignals = const {
        PollSignals {
            failure: Cell::new(None),
            handled: Cell::new(0),
            marker_reached: Cell::new(false),
            start_over: Cell::new(false),
        }
    };
}

/// What code running inside a child's poll reports to its runner, through
/// one thread-local (cleared before each poll of a context, read after it
/// unless the poll took the message path and handled nothing tracked).
pub(crate) struct PollSignals {
    /// An error exit reported by [`fail`], with the address of the context
    /// it was reported from (so a runner takes only its own child's).
    pub(crate) failure: Cell<Option<(usize, String)>>,
    /// Tracked messages handled on this thread, ever; the runner attributes
    /// the increase during one poll to the child it polled.
    pub(crate) handled: Cell<u64>,
    /// A drain marker was handled.
    pub(crate) marker_reached: Cell<bool>,
    /// A start barrier was reached: the start of the incarnation is over.
    pub(crate) start_over: Cell<bool>,
}

/// Readies the thread's signals for polling one child's context; returns
/// the count of tracked messages handled on this thread so far.
///
/// A flag left set by an earlier poll is cleared: a drain marker handled on
/// the message path (one a finished drain left in the mailbox) sets it and
/// no runner reads it, and another child's drain must not take it for its
/// own.
#[inline]
fn before_poll() -> u64 {
    SIGNALS.with(|signals| {
        signals.marker_reached.set(false);
        signals.start_over.set(false);
        signals.handled.get()
    })
}

/// Installs the fresh actor value built by the spec's factory. Call it from
/// [`Supervised::restarting`](actix::Supervised::restarting); the [`supervised!`](crate::supervised) macro
/// writes that call for you.
///
/// Outside a supervised restart it does nothing.
///
/// See [`supervised!`](crate::supervised) for writing `restarting` by hand.
pub fn restart_fresh<A: 'static>(actor: &mut A) {
    let Some(fresh) = FRESH.with(|slot| slot.borrow_mut().take()) else {
        return;
    };
    match fresh.downcast::<A>() {
        Ok(fresh) => {
            let stale = std::mem::replace(actor, *fresh);
            drop(stale);
        }
        // Not ours: leave it for the runner to find and report.
        Err(other) => FRESH.with(|slot| *slot.borrow_mut() = Some(other)),
    }
}

/// Ends the current incarnation as a failure (an "error exit"): the restart
/// policy treats it like a panic, and `reason` is recorded as the node's last
/// failure. It stops the context with `ctx.stop()`, so `stopping` and
/// `stopped` run as usual.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
///
/// struct Poller;
/// impl Actor for Poller { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Poller);
///
/// #[derive(Message)]
/// #[rtype(result = "()")]
/// struct ConnectionLost(String);
///
/// impl Handler<ConnectionLost> for Poller {
///     type Result = ();
///     fn handle(&mut self, msg: ConnectionLost, ctx: &mut Context<Self>) {
///         actix_supervisor::fail(ctx, format!("connection lost: {}", msg.0));
///     }
/// }
/// ```
pub fn fail<A>(ctx: &mut Context<A>, reason: impl std::fmt::Display)
where
    A: Actor<Context = Context<A>>,
{
    let from = std::ptr::from_ref(ctx) as usize;
    SIGNALS.with(|signals| signals.failure.set(Some((from, reason.to_string()))));
    ctx.stop();
}

/// Spawns the runner of one child on the current arbiter and returns the link
/// its supervisor keeps.
///
/// The runner keeps the spec's box for the child's whole life, as the home
/// of what it needs only now and then (the factory, an address, the last
/// waker, the rarer state of `RunnerState`): the runner's own task stays
/// small, and the box's
/// memory is not freed only to be allocated again.
pub(crate) fn spawn<A: SupervisedActor>(
    env: ChildEnv,
    mut spec: Box<ChildSpec<A>>,
) -> Rc<ChildLink> {
    let path = env.path.clone();
    spec.shared.set_path(path.clone());
    let mut record = NodeRecord::new();
    record.stats = spec.take_stats();
    let link = ChildLink::new(record, spec.kind, spec.shared.clone(), None, &env);
    let span = tracing::info_span!("node", path = %path);
    let receiver = spec.receiver.take();
    let mut runner = Runner {
        link: link.clone(),
        spec,
        context: ChildContext::Unbuilt(receiver),
        phase: Phase::Starting,
        handled: 0,
        yielded_before_start: false,
        #[cfg(feature = "testkit")]
        _live: crate::testkit::LiveActor::new(),
    };
    // Build the first incarnation now, so the child is `Starting` (and its
    // factory's failures are known) as soon as its supervisor has started it.
    span.in_scope(|| runner.begin_incarnation());
    if span.is_disabled() {
        // No subscriber wanted the span when it was made: it stays disabled.
        actix_rt::spawn(runner);
    } else {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Build the next incarnation on the next poll.
    Start,
    /// `started` has not returned yet.
    Starting,
    /// Handling messages.
    Running,
    /// Waiting out a backoff delay (its timer: `RunnerState::backoff`).
    Backoff,
    /// Between two incarnations, waiting for the supervisor's `Start` (a
    /// strategy restart), or parked after exceeding the supervisor's
    /// intensity (the failure: `RunnerState::parked_failure`).
    Parked,
    /// The child will not run again.
    Done,
}

/// What a runner keeps in its spec's box rather than in its own task: the
/// state it needs only now and then. The task then stays as small as a plain
/// actix actor's for actors of up to 32 bytes (see `Runner`).
#[derive(Default)]
pub(crate) struct RunnerState {
    /// The waker last registered with the child's shared state.
    pub(crate) known_waker: Option<std::task::Waker>,
    /// Made the first time the child stops, restarts or backs off.
    rare: Option<Box<RareState>>,
}

/// The part of a runner's state that only a child that stopped, restarted or
/// backed off ever needs.
#[derive(Default)]
struct RareState {
    /// The stop (or strategy-restart drain) in progress.
    stop: Option<Stopping>,
    /// The timer of `Phase::Backoff`.
    backoff: Option<Pin<Box<Sleep>>>,
    /// Parked after exceeding the supervisor's intensity: the failure, for
    /// the report if the child is stopped before it starts again.
    parked_failure: Option<Box<Failure>>,
}

impl RunnerState {
    #[inline]
    fn stop(&self) -> Option<&Stopping> {
        self.rare.as_ref()?.stop.as_ref()
    }

    fn stop_mut(&mut self) -> Option<&mut Stopping> {
        self.rare.as_mut()?.stop.as_mut()
    }

    fn rare_mut(&mut self) -> &mut RareState {
        self.rare.get_or_insert_with(Box::default)
    }

    fn backoff_mut(&mut self) -> Option<&mut Pin<Box<Sleep>>> {
        self.rare.as_mut()?.backoff.as_mut()
    }

    fn end_backoff(&mut self) {
        if let Some(rare) = &mut self.rare {
            rare.backoff = None;
        }
    }

    fn take_parked_failure(&mut self) -> Option<Box<Failure>> {
        self.rare.as_mut()?.parked_failure.take()
    }

    /// Between two incarnations: no stop, no backoff, no failure kept.
    fn clear(&mut self) {
        if let Some(rare) = &mut self.rare {
            **rare = RareState::default();
        }
    }
}

/// A stop in progress.
pub(crate) struct Stopping {
    began: Instant,
    /// Tracked messages handled before the stop began.
    handled_before: u64,
    /// Ends the drain by force; none for an infinite grace.
    deadline: Option<Instant>,
    /// The timer for `deadline`, armed once the drain has to wait.
    timer: Option<Pin<Box<Sleep>>>,
    /// The drain marker was handled.
    marker_reached: bool,
    /// `ctx.stop()` was called: the drain is over.
    stopping_context: bool,
    /// A drain before a strategy restart, not a stop: handles keep
    /// accepting, the drain ends at the marker, and the runner parks.
    for_restart: bool,
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

/// One child's runner. Its size decides the size of its tokio task, which
/// tokio rounds up to a multiple of 128 bytes: up to 408 bytes, the task
/// takes 512, as a plain actix actor's does with an actor of up to 64 bytes.
/// The runner adds 32 bytes to the actor's context (a test holds it there);
/// the rest of its state lives in `spec.run`.
struct Runner<A: SupervisedActor> {
    link: Rc<ChildLink>,
    /// The factory; the address that sends the drain marker and keeps the
    /// mailbox connected (actix restarts a context only while an address to
    /// it is alive); the last waker; the state of stops and backoffs.
    spec: Box<ChildSpec<A>>,
    context: ChildContext<A>,
    phase: Phase,
    /// Tracked messages handled by this child, all incarnations together.
    handled: u64,
    /// `Phase::Start` already yielded once; the next poll starts.
    yielded_before_start: bool,
    #[cfg(feature = "testkit")]
    _live: crate::testkit::LiveActor,
}

impl<A: SupervisedActor> Drop for Runner<A> {
    /// When the runtime drops a runner whose child is still alive (the
    /// system shuts down without a `Stop`), actix would run `stopping` and
    /// `stopped` outside any containment; instead the context is terminated
    /// and dropped inside `catch_unwind`, as when a child is given up.
    fn drop(&mut self) {
        if !matches!(self.phase, Phase::Done) {
            self.finish(NodeState::Stopped, StopOutcome::TimedOut);
        }
        // Dropping `spec` next settles a start still pending as gone.
    }
}

impl<A: SupervisedActor> Future for Runner<A> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let spec = &mut *this.spec;
        spec.shared
            .register_runner(&mut spec.run.known_waker, cx.waker());
        // The message path: a running child, no stop, no command, every
        // message its handles accepted handled. Nothing to do but poll it.
        if matches!(this.phase, Phase::Running)
            && this.spec.run.stop().is_none()
            && !this.link.has_command()
            && this.spec.shared.is_idle(this.handled)
        {
            if let ChildContext::Built(context) = &mut this.context {
                let handled_before = before_poll();
                let polled = catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *context).poll(cx)));
                // Still idle: no handle accepted a message during the poll
                // (from another thread, or from the child's own handlers), so
                // the poll handled none and reached no drain marker.
                if matches!(polled, Ok(Poll::Pending)) && this.spec.shared.is_idle(this.handled) {
                    return Poll::Pending;
                }
                if let Poll::Ready(end) = this.after_poll(polled, handled_before) {
                    this.end_incarnation(end);
                }
            }
        }
        match this.link.take_command() {
            Some(Command::Stop) => this.begin_stop(),
            Some(Command::Kill) => this.kill(),
            Some(Command::Restart) => this.begin_strategy_restart(),
            Some(Command::Start) => this.resume(),
            None if this.spec.run.stop().is_none() && !this.spec.shared.is_accepting() => {
                this.begin_stop()
            }
            None => {}
        }
        loop {
            match &mut this.phase {
                Phase::Start if !this.yielded_before_start => {
                    // Yield between an incarnation's end and the next start:
                    // a child that fails at once, again and again, must not
                    // keep the arbiter from everything else.
                    this.yielded_before_start = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Phase::Start => {
                    this.yielded_before_start = false;
                    // Only a stop that came while messages waited for this
                    // incarnation starts it with a stop under way: it drains
                    // them as soon as it has started.
                    let drain = this.spec.run.stop().is_some();
                    this.begin_incarnation();
                    if drain && matches!(this.phase, Phase::Starting | Phase::Running) {
                        this.queue_drain_marker();
                    }
                }
                Phase::Starting | Phase::Running => match this.poll_context(cx) {
                    Poll::Ready(end) => this.end_incarnation(end),
                    Poll::Pending if this.drain_is_over() => this.stop_context(),
                    // Checked only once a drain waits: a drain that ends in
                    // one poll never arms its timer.
                    Poll::Pending if this.deadline_passed(cx) => {
                        if this.spec.run.stop().is_some_and(|stop| stop.for_restart) {
                            this.park_now();
                        } else {
                            this.kill();
                        }
                    }
                    Poll::Pending => return Poll::Pending,
                },
                Phase::Backoff => match this.spec.run.backoff_mut().map(|s| s.as_mut().poll(cx)) {
                    Some(Poll::Pending) => return Poll::Pending,
                    Some(Poll::Ready(())) | None => {
                        this.spec.run.end_backoff();
                        this.phase = Phase::Start;
                    }
                },
                Phase::Parked => return Poll::Pending,
                Phase::Done => return Poll::Ready(()),
            }
        }
    }
}

impl<A: SupervisedActor> Runner<A> {
    /// Calls the factory and starts the next incarnation with its value.
    #[cold]
    fn begin_incarnation(&mut self) {
        let incarnation = {
            let mut record = self.link.record.borrow_mut();
            record.incarnation += 1;
            record.state = NodeState::Starting;
            record.started_at = Some(Instant::now());
            record.incarnation
        };
        let start = StartContext {
            path: self.link.path.clone(),
            incarnation,
            parent_token: self.link.scope.token.clone(),
            token: std::cell::OnceCell::new(),
        };
        let factory = &mut self.spec.factory;
        let built = catch_unwind(AssertUnwindSafe(|| factory(&start)));
        self.link.token.replace(start.token.into_inner());
        let actor = match built {
            Ok(Ok(actor)) => actor,
            Ok(Err(message)) => {
                let failure = Failure::new(FailureKind::Error, FailurePhase::Factory, message);
                return self.end_incarnation(End::Failed(failure));
            }
            Err(payload) => {
                let failure = Failure::new(
                    FailureKind::Panic,
                    FailurePhase::Factory,
                    panic_message(payload),
                );
                return self.end_incarnation(End::Failed(failure));
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
                if let Err(end) = restart_in_place(context, actor) {
                    return self.end_incarnation(end);
                }
                context
            }
        };
        context.ctx().wait(StartBarrier);
        self.phase = Phase::Starting;
    }

    /// Polls the child's context once, containing any panic.
    fn poll_context(&mut self, cx: &mut task::Context<'_>) -> Poll<End> {
        let ChildContext::Built(context) = &mut self.context else {
            unreachable!("a starting or running child has a context");
        };
        let handled_before = before_poll();
        let polled = catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *context).poll(cx)));
        self.after_poll(polled, handled_before)
    }

    /// Interprets one poll of the child's context: counts, start, end.
    ///
    /// Every poll is counted, even one that started with no handle message
    /// outstanding: a handle may accept a message while the poll runs (from
    /// another thread, or from one of this child's own handlers) and the
    /// context may handle it before the poll returns. A drain marker reached
    /// while no stop is known yet (a handle on another thread began it during
    /// the poll) is dropped here; the stop queues its own.
    fn after_poll(
        &mut self,
        polled: std::thread::Result<Poll<()>>,
        handled_before: u64,
    ) -> Poll<End> {
        let ChildContext::Built(context) = &mut self.context else {
            unreachable!("a starting or running child has a context");
        };
        let (handled, marker_reached, start_over) = SIGNALS.with(|signals| {
            (
                signals.handled.get() - handled_before,
                signals.marker_reached.replace(false),
                signals.start_over.replace(false),
            )
        });
        self.handled += handled;
        if let (true, Some(stop)) = (marker_reached, self.spec.run.stop_mut()) {
            stop.marker_reached = true;
        }
        // An error exit ends the incarnation: only then is `fail`'s record
        // looked at, and only this child's counts.
        let reported = if matches!(polled, Ok(Poll::Pending)) {
            None
        } else {
            let context_address = std::ptr::from_ref(context.ctx()) as usize;
            SIGNALS
                .with(|signals| signals.failure.take())
                .and_then(|(from, reason)| (from == context_address).then_some(reason))
        };
        let start_over = start_over || !matches!(self.phase, Phase::Starting);
        let phase = if start_over {
            FailurePhase::Running
        } else {
            FailurePhase::Starting
        };
        // The start is over even if the incarnation also ended in this poll
        // (its first message failed, say): it started, then it ended.
        if matches!(self.phase, Phase::Starting) && start_over {
            self.phase = Phase::Running;
            if self.spec.run.stop().is_none() {
                self.link.record.borrow_mut().state = NodeState::Running;
            }
            tracing::debug!("child started");
            self.spec.shared.settle_startup(Startup::Started);
            self.emit(|| EventKind::Started);
        }
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => Poll::Ready(match reported {
                Some(message) => End::Failed(Failure::new(FailureKind::Error, phase, message)),
                None => End::Normal,
            }),
            Err(payload) => {
                let message = panic_message(payload);
                Poll::Ready(End::Failed(Failure::new(
                    FailureKind::Panic,
                    phase,
                    message,
                )))
            }
        }
    }

    /// Records how the incarnation ended and applies the restart policy, or
    /// ends the stop in progress.
    #[cold]
    fn end_incarnation(&mut self, end: End) {
        self.cancel_token();
        if self.spec.run.stop().is_some_and(|stop| stop.for_restart) {
            if let Some(failure) = end.failure() {
                self.link.record.borrow_mut().last_failure = Some(Box::new(failure.clone()));
            }
            return self.park(1, Duration::ZERO);
        }
        let ran_for = {
            let mut record = self.link.record.borrow_mut();
            if let Some(failure) = end.failure() {
                record.last_failure = Some(Box::new(failure.clone()));
            }
            record
                .started_at
                .take()
                .map_or(Duration::ZERO, |t| t.elapsed())
        };
        let incarnation = self.link.record.borrow().incarnation;
        if let Some(failure) = end.failure() {
            self.spec.shared.settle_failed_start(failure);
            self.emit(|| EventKind::Failed {
                failure: failure.clone(),
            });
            tracing::error!(
                path = %self.link.path,
                incarnation,
                kind = ?failure.kind,
                phase = ?failure.phase,
                reason = %failure.message,
                "child failed"
            );
        }
        let decision = if self.spec.run.stop().is_some() {
            Decision::Finish
        } else {
            self.link.rules.borrow_mut().decide(&end, ran_for)
        };
        if matches!(decision, Decision::Restart { .. })
            && !self.link.scope.intensity.borrow_mut().allow(Instant::now())
        {
            // One restart too many for the supervisor: this child waits,
            // parked with its mailbox, while the supervisor gives up (and
            // either stops it or, restarted by its own parent, starts it
            // again).
            let failure = end.failure().cloned().unwrap_or_else(|| {
                Failure::new(
                    FailureKind::Error,
                    FailurePhase::Running,
                    "stopped normally, once too often for the restart intensity".into(),
                )
            });
            tracing::error!(path = %self.link.path, "restart intensity exceeded");
            self.phase = Phase::Parked;
            self.spec.run.rare_mut().parked_failure = Some(Box::new(failure.clone()));
            self.link.record.borrow_mut().state = NodeState::Failed;
            self.link.set_activity(Activity::Parked);
            if let Some(supervisor) = self.link.scope.supervisor.upgrade() {
                supervisor.do_send(GiveUp { failure });
            }
            return;
        }
        match decision {
            Decision::Restart { attempt, delay } => {
                tracing::warn!(
                    path = %self.link.path,
                    incarnation,
                    attempt,
                    delay = ?delay,
                    "restarting child"
                );
                if self.link.scope.strategy != Strategy::OneForOne {
                    // The supervisor restarts the siblings too, then this one.
                    self.park(attempt, delay);
                    if let Some(supervisor) = self.link.scope.supervisor.upgrade() {
                        supervisor.do_send(ChildEnded {
                            index: self.link.index as usize,
                            delay,
                        });
                    }
                    return;
                }
                self.link.record.borrow_mut().state = NodeState::Restarting {
                    attempt,
                    next_start_in: delay,
                };
                self.emit(|| EventKind::Restarting { attempt, delay });
                self.phase = if delay.is_zero() {
                    Phase::Start
                } else {
                    self.spec.run.rare_mut().backoff = Some(Box::pin(tokio::time::sleep(delay)));
                    Phase::Backoff
                };
            }
            Decision::Finish => {
                let (state, outcome) = match end {
                    End::Normal => (NodeState::Stopped, StopOutcome::Drained),
                    End::Failed(f) | End::Fatal(f) => (NodeState::Failed, StopOutcome::Failed(f)),
                };
                self.finish(state, outcome);
            }
        }
    }

    /// Starts a graceful stop: no new work from handles, a marker at the end
    /// of the mailbox, a grace timer. A child waiting out a backoff is not
    /// started again and ends at once.
    #[cold]
    fn begin_stop(&mut self) {
        if let Some(stop) = self.spec.run.stop_mut() {
            if stop.for_restart {
                // A strategy restart's drain becomes a stop: its marker is
                // already queued; from now on handles refuse new work.
                stop.for_restart = false;
                self.spec.shared.begin_stopping();
                tracing::info!(path = %self.link.path, "stopping child");
            }
            return;
        }
        if matches!(self.phase, Phase::Done) {
            return;
        }
        self.spec.shared.begin_stopping();
        tracing::info!(path = %self.link.path, "stopping child");
        match self.phase {
            Phase::Starting | Phase::Running => self.begin_drain(false),
            // Messages wait for the next incarnation: it starts now, without
            // the rest of its backoff, to handle them before it stops.
            Phase::Backoff | Phase::Parked
                if self
                    .spec
                    .run
                    .rare
                    .as_ref()
                    .is_none_or(|r| r.parked_failure.is_none())
                    && self.spec.shared.accepted() > self.handled =>
            {
                let stopping = self.new_stopping(false);
                self.spec.run.rare_mut().stop = Some(stopping);
                self.spec.run.end_backoff();
                if self.phase == Phase::Parked {
                    // Running again, as `resume` would say.
                    self.link.set_activity(Activity::Active);
                }
                self.phase = Phase::Start;
            }
            Phase::Start | Phase::Backoff | Phase::Parked | Phase::Done => {
                let stopping = self.new_stopping(false);
                self.spec.run.rare_mut().stop = Some(stopping);
                let parked_failure = self.spec.run.take_parked_failure();
                match parked_failure {
                    Some(failure) => self.finish(NodeState::Failed, StopOutcome::Failed(*failure)),
                    None => self.finish(NodeState::Stopped, StopOutcome::Drained),
                }
            }
        }
    }

    /// A drain that begins now, bounded by the child's grace.
    fn new_stopping(&self, for_restart: bool) -> Stopping {
        let began = Instant::now();
        let deadline = match self.link.grace {
            // A grace too long for the clock is no deadline at all.
            Grace::Duration(grace) => began.checked_add(grace),
            Grace::Infinity => None,
        };
        Stopping {
            began,
            handled_before: self.handled,
            deadline,
            timer: None,
            marker_reached: false,
            stopping_context: false,
            for_restart,
        }
    }

    /// Drains the running incarnation: queues the marker that ends the
    /// drain, and starts the grace.
    fn begin_drain(&mut self, for_restart: bool) {
        let stopping = self.new_stopping(for_restart);
        self.spec.run.rare_mut().stop = Some(stopping);
        self.queue_drain_marker();
    }

    /// Queues the marker that ends the drain in progress.
    fn queue_drain_marker(&mut self) {
        // The incarnation's work should wind down: its token tells it.
        self.cancel_token();
        self.link.record.borrow_mut().state = NodeState::Stopping;
        self.spec.addr.do_send(DrainMarker);
    }

    /// Ends the current incarnation for a strategy restart: drains it to a
    /// marker (handles keep accepting; later messages wait for the next
    /// incarnation), stops it, and parks until the supervisor's `Start`.
    #[cold]
    fn begin_strategy_restart(&mut self) {
        if self.spec.run.stop().is_some() {
            return;
        }
        match self.phase {
            Phase::Starting | Phase::Running => self.begin_drain(true),
            Phase::Start | Phase::Backoff => self.park(1, Duration::ZERO),
            Phase::Parked | Phase::Done => {}
        }
    }

    /// Ends a strategy restart's drain that ran out of grace: the
    /// incarnation is terminated without its hooks, but the mailbox is kept
    /// for the next one.
    #[cold]
    fn park_now(&mut self) {
        if let ChildContext::Built(context) = &mut self.context {
            context.ctx().terminate();
        }
        tracing::warn!(path = %self.link.path, "child did not drain within its grace; terminated for the restart");
        self.cancel_token();
        self.link.record.borrow_mut().started_at = None;
        self.park(1, Duration::ZERO);
    }

    /// Waits between two incarnations for the supervisor's `Start`.
    #[cold]
    fn park(&mut self, attempt: u32, delay: Duration) {
        self.spec.run.clear();
        self.phase = Phase::Parked;
        self.link.record.borrow_mut().state = NodeState::Restarting {
            attempt,
            next_start_in: delay,
        };
        self.emit(|| EventKind::Restarting { attempt, delay });
        self.link.set_activity(Activity::Parked);
    }

    /// Starts the next incarnation of a parked child.
    #[cold]
    fn resume(&mut self) {
        if matches!(self.phase, Phase::Parked) {
            self.spec.run.take_parked_failure();
            self.link.set_activity(Activity::Active);
            self.phase = Phase::Start;
        }
    }

    /// Whether the grace of the stop in progress ran out.
    fn deadline_passed(&mut self, cx: &mut task::Context<'_>) -> bool {
        let Some(stop) = self.spec.run.stop_mut() else {
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

    /// Whether the stop in progress has handled everything it must.
    fn drain_is_over(&self) -> bool {
        match self.spec.run.stop() {
            Some(stop) => {
                !stop.stopping_context
                    && stop.marker_reached
                    && (stop.for_restart || self.handled >= self.spec.shared.accepted())
            }
            None => false,
        }
    }

    /// Ends the drained context: `stopping` and `stopped` run on its next poll.
    #[cold]
    fn stop_context(&mut self) {
        if let (ChildContext::Built(context), Some(stop)) =
            (&mut self.context, self.spec.run.stop_mut())
        {
            stop.stopping_context = true;
            context.ctx().stop();
        }
    }

    /// Ends the child at once, reported `TimedOut`.
    #[cold]
    fn kill(&mut self) {
        if matches!(self.phase, Phase::Done) {
            return;
        }
        if self.spec.run.stop().is_none() {
            self.begin_stop();
            if matches!(self.phase, Phase::Done) {
                return;
            }
        }
        tracing::warn!(
            path = %self.link.path,
            undelivered = self.spec.shared.accepted().saturating_sub(self.handled),
            "child did not stop within its grace; terminated"
        );
        self.finish(NodeState::Stopped, StopOutcome::TimedOut);
    }

    /// Ends the child for good: drops its context (and with it the mailbox,
    /// so every pending and later send fails) without running user hooks,
    /// and publishes its report.
    #[cold]
    fn finish(&mut self, state: NodeState, outcome: StopOutcome) {
        self.cancel_token();
        // The link outlives the runner (in the supervisor's table); the
        // token need not.
        self.link.token.replace(None);
        self.link.set_activity(Activity::Done);
        if let ChildContext::Built(context) = &mut self.context {
            context.ctx().terminate();
        }
        // From here every handle refuses; what they accepted until now is
        // either handled already or will be counted undelivered below.
        let accepted = self.spec.shared.close();
        let context = std::mem::replace(&mut self.context, ChildContext::Unbuilt(None));
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(context))) {
            tracing::error!(
                path = %self.link.path,
                reason = %panic_message(payload),
                "dropping the child's actor value panicked"
            );
        }
        {
            let mut record = self.link.record.borrow_mut();
            record.state = state;
            record.started_at = None;
        }
        self.phase = Phase::Done;
        let (drained, duration) = match self.spec.run.stop() {
            Some(stop) => (self.handled - stop.handled_before, stop.began.elapsed()),
            None => (0, Duration::ZERO),
        };
        let report = StopReport {
            path: self.link.path.clone(),
            outcome,
            drained,
            undelivered: accepted.saturating_sub(self.handled),
            duration,
            children: Vec::new(),
        };
        tracing::info!(
            path = %self.link.path,
            state = %state,
            drained = report.drained,
            undelivered = report.undelivered,
            "child will not run again"
        );
        self.emit(|| EventKind::Stopped {
            report: report.clone(),
        });
        self.spec.shared.finish(report);
    }

    /// Cancels the incarnation's token, if it has one.
    fn cancel_token(&self) {
        self.link.token.cancel();
    }

    /// Sends a lifecycle event about this child's current incarnation, built
    /// only if someone listens.
    fn emit(&self, kind: impl FnOnce() -> EventKind) {
        let incarnation = self.link.record.borrow().incarnation;
        self.link
            .scope
            .events
            .emit(&self.link.path, incarnation, kind);
    }
}

/// Restarts `context` in place with `actor` as its value. The error is the
/// end of the incarnation that could not start.
fn restart_in_place<A: SupervisedActor>(
    context: &mut ContextFut<A, Context<A>>,
    actor: A,
) -> Result<(), End> {
    FRESH.with(|slot| *slot.borrow_mut() = Some(Box::new(actor)));
    let restarted = catch_unwind(AssertUnwindSafe(|| context.restart()));
    let leftover = FRESH.with(|slot| slot.borrow_mut().take());
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
        SIGNALS.with(|signals| signals.start_over.set(true));
        Poll::Ready(())
    }
}

/// The text of a panic payload; the payload is dropped inside its own
/// `catch_unwind`, since a payload's destructor may panic too.
pub(crate) fn panic_message(payload: Box<dyn Any + Send>) -> String {
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

#[cfg(test)]
mod leftover_signals {
    use super::*;
    use crate::{ChildSpec, SupervisorActor};
    use actix::{ActorFutureExt, Handler, Message, WrapFuture};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts the messages it handled; `Hold` makes it wait for a signal.
    struct Busy {
        handled: Arc<AtomicUsize>,
        release: Option<tokio::sync::oneshot::Receiver<()>>,
    }
    impl Actor for Busy {
        type Context = Context<Self>;
    }
    crate::supervised!(Busy);

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Hold;
    impl Handler<Hold> for Busy {
        type Result = ();
        fn handle(&mut self, _: Hold, ctx: &mut Context<Self>) {
            let release = self.release.take().expect("one hold");
            ctx.wait(
                async move { drop(release.await) }
                    .into_actor(self)
                    .map(|_, _, _| ()),
            );
        }
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Work;
    impl Handler<Work> for Busy {
        type Result = ();
        fn handle(&mut self, _: Work, _: &mut Context<Self>) {
            self.handled.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A drain marker handled where no runner reads it (a stale marker left
    /// by an earlier drain, handled on the message path) leaves the thread's
    /// "marker reached" flag set. Another child's drain must not take it for
    /// its own and stop before its mailbox is drained.
    #[test]
    fn a_leftover_marker_signal_does_not_end_another_childs_drain() {
        actix::System::new().block_on(async {
            let handled = Arc::new(AtomicUsize::new(0));
            let (release, held) = tokio::sync::oneshot::channel();
            let mut held = Some(held);
            let counter = handled.clone();
            let spec = ChildSpec::new("busy", move || Busy {
                handled: counter.clone(),
                release: held.take(),
            });
            let (handle, addr) = (spec.handle(), spec.address());
            let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
            handle.started().await.unwrap();
            addr.do_send(Hold);
            for _ in 0..5 {
                addr.do_send(Work);
            }
            // Let the child take `Hold` and wait on it.
            tokio::task::yield_now().await;
            SIGNALS.with(|signals| signals.marker_reached.set(true));
            let report = actix_rt::spawn(handle.stop());
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            // Fails when the child was already stopped, its wait dropped.
            let _ = release.send(());
            let report = report.await.unwrap();
            assert_eq!(handled.load(Ordering::SeqCst), 5, "{report:?}");
        });
    }
}
