//! The accounting that closes: what a child's handles and its runner share
//! ([`ChildShared`]), and the two messages that connect them through the
//! child's own mailbox, [`Tracked`] (a user message sent through a handle)
//! and [`DrainMarker`] (the end of the mailbox at the moment a drain began).
//!
//! # Invariants
//!
//! - A child's status and the count of messages its handles accepted live in
//!   one atomic word, so a handle checks the status and counts its message in
//!   one step (a compare-and-swap): every message a handle reports as
//!   accepted was counted while the child was accepting, and none is counted
//!   after the status moved on. When the runner closes the child for good it
//!   reads the final count in the same step that marks it gone, even while
//!   handles on other threads are sending.
//! - A child's status only moves forward: accepting, stopping, gone.
//! - Every accepted message is **settled** exactly once while the child is
//!   not gone: when its handler is called (handled; for a handler answering
//!   with a [`ChildFuture`](super::response::ChildFuture), when that future
//!   ends or its incarnation does), or when it is dropped
//!   unhandled because its requester gave up (cancelled: actix skips a
//!   request whose future was dropped, and a `send` future dropped while it
//!   waits for room in a full mailbox drops its message). A message dropped
//!   after the child is gone is undelivered, counted as accepted minus
//!   settled when the child closed. A `ChildFuture` dropped unfinished
//!   during a drain that promised to wait for it (a stop's, or a
//!   restart's: its incarnation ended, or the grace terminated it)
//!   settles its message as lost: undelivered too, yet it no longer holds
//!   the drain open. So accepted = handled + cancelled + undelivered,
//!   and a requester that gives up never holds a drain open.
//! - The accepted count only goes down when `try_send` finds the mailbox full
//!   (or closed) after counting; the message is handed back.
//! - The report is published once, when the runner is done with the child.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Waker;

use actix::dev::{MessageResponse, OneshotSender};
use actix::{Actor, Handler, Message};

use super::response;
use crate::latch::{BoxLatch, Latch};
use crate::messages::stop::StopReport;
use crate::tree::{Failure, NodePath};
use compact_str::CompactString;
use once_cell::race::OnceBox;

pub(crate) const ACCEPTING: u8 = 0;
pub(crate) const STOPPING: u8 = 1;
pub(crate) const GONE: u8 = 2;

/// In [`ChildShared::state`]: the child takes no new messages.
const STOPPING_BIT: u64 = 1 << 62;
/// In [`ChildShared::state`]: the child will not run again.
const GONE_BIT: u64 = 1 << 63;
/// In [`ChildShared::state`]: one send between its count and its push into
/// the mailbox (bits 40 to 61).
const IN_FLIGHT_ONE: u64 = 1 << 40;
const IN_FLIGHT: u64 = STOPPING_BIT - IN_FLIGHT_ONE;
/// In [`ChildShared::state`]: the messages accepted through handles (bits 0
/// to 39).
const COUNT: u64 = IN_FLIGHT_ONE - 1;

/// In [`ChildShared::dropped`]: one message lost (bits 40 to 63); the
/// cancelled ones are bits 0 to 39.
const LOST_ONE: u64 = 1 << 40;
/// In [`ChildShared::dropped`]: the cancelled messages.
const CANCELLED: u64 = LOST_ONE - 1;

/// The status a state word holds.
fn status_of(state: u64) -> u8 {
    if state & GONE_BIT != 0 {
        GONE
    } else if state & STOPPING_BIT != 0 {
        STOPPING
    } else {
        ACCEPTING
    }
}

/// What a child's handles and its runner share, across threads.
#[derive(Debug)]
pub(crate) struct ChildShared {
    /// Inline up to 24 bytes: most names then cost no block of their own
    /// (a 32-byte chunk at least in glibc, for every child).
    name: CompactString,
    path: OnceLock<NodePath>,
    /// The status (two high bits) and the messages accepted through handles
    /// (the rest).
    state: AtomicU64,
    /// Accepted messages handled or cancelled.
    settled: AtomicU64,
    /// Accepted messages settled unhandled: cancelled by their requesters
    /// (bits 0 to 39), and lost, their `ChildFuture` dropped unfinished
    /// during a drain (bits 40 to 63). One word: the shared
    /// state stays within its size bound.
    dropped: AtomicU64,
    /// The runner task's waker, kept (not taken) so that a stop request or a
    /// change in the counts always reaches the runner, whatever it is doing.
    runner: Mutex<Option<Waker>>,
    report: BoxLatch<StopReport>,
    /// How the first start attempt went.
    startup: Latch<Startup>,
    /// Rung when the report or the start outcome is set, or the runner's
    /// activity changes: one `Notify` for every change a waiter watches.
    bell: tokio::sync::Notify,
    /// Set once, when the child ended and was started again: the shared
    /// state and address of that next start (see [`Successor`]).
    successor: OnceBox<Successor>,
}

/// The next start of a child that ended and was started again
/// ([`RestartChild`](crate::RestartChild) on an ended child): its own
/// shared state, fresh (accepting, no report), and its new address. The
/// shared state of the start that ended keeps its report, so every stop
/// asked of it still answers; handles follow the chain to the latest start.
pub(crate) struct Successor {
    pub(crate) shared: Arc<ChildShared>,
    /// The new `Addr<A>`, typed by the handle that reads it.
    pub(crate) addr: Box<dyn std::any::Any + Send + Sync>,
}

impl std::fmt::Debug for Successor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Successor")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

/// How a child's first start attempt went.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Startup {
    Started,
    Failed(Box<Failure>),
    Gone,
    /// A sibling it depends on (this path) was not ready within this time.
    NotReady(Box<(NodePath, std::time::Duration)>),
}

/// The counts of a child's accepted messages at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) accepted: u64,
    /// Handled, cancelled or lost.
    pub(crate) settled: u64,
    pub(crate) cancelled: u64,
    /// Settled, yet not handled: a `ChildFuture` dropped unfinished during
    /// a drain (a stop's or a restart's) that promised to wait for it.
    pub(crate) lost: u64,
}

impl Counts {
    /// From the accepted count, the settled count and the `dropped` word.
    fn new(accepted: u64, settled: u64, dropped: u64) -> Self {
        Counts {
            accepted,
            settled,
            cancelled: dropped & CANCELLED,
            lost: dropped / LOST_ONE,
        }
    }

    /// Settled less cancelled and lost. Saturating: counts read while a
    /// message settles on another thread may see its `dropped` before its
    /// `settled` (added in that order, so that a runner that sees every
    /// message settled also sees why).
    pub(crate) fn handled(&self) -> u64 {
        self.settled
            .saturating_sub(self.cancelled)
            .saturating_sub(self.lost)
    }

    /// Accepted and not handled or cancelled: never settled, or lost.
    pub(crate) fn undelivered(&self) -> u64 {
        self.accepted.saturating_sub(self.settled) + self.lost
    }
}

impl ChildShared {
    pub(crate) fn new(name: String) -> Arc<Self> {
        Arc::new(ChildShared {
            name: CompactString::from(name),
            path: OnceLock::new(),
            state: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            runner: Mutex::new(None),
            report: BoxLatch::new(),
            startup: Latch::new(),
            bell: tokio::sync::Notify::new(),
            successor: OnceBox::new(),
        })
    }

    /// The child's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The child's path once its supervisor placed it; before, `/` + name.
    pub(crate) fn path(&self) -> NodePath {
        self.path
            .get()
            .cloned()
            .unwrap_or_else(|| NodePath::root(&self.name))
    }

    /// The path its supervisor placed the child at. Every child with a
    /// link has one: the link sets it when it is made.
    pub(crate) fn placed_path(&self) -> &NodePath {
        self.path
            .get()
            .expect("a child's path is set before its link is made")
    }

    pub(crate) fn set_path(&self, path: NodePath) {
        let _ = self.path.set(path);
    }

    /// Marks the child as stopping; true if this call did it.
    pub(crate) fn begin_stopping(&self) -> bool {
        status_of(self.state.fetch_or(STOPPING_BIT, SeqCst)) == ACCEPTING
    }

    #[inline]
    pub(crate) fn is_accepting(&self) -> bool {
        status_of(self.state.load(SeqCst)) == ACCEPTING
    }

    /// Whether every accepted message is settled.
    pub(crate) fn is_settled(&self) -> bool {
        self.state.load(SeqCst) & COUNT == self.settled.load(SeqCst)
    }

    pub(crate) fn status(&self) -> u8 {
        status_of(self.state.load(SeqCst))
    }

    /// The counts now.
    pub(crate) fn counts(&self) -> Counts {
        let dropped = self.dropped.load(SeqCst);
        let settled = self.settled.load(SeqCst);
        Counts::new(self.state.load(SeqCst) & COUNT, settled, dropped)
    }

    /// Remembers the runner's waker; `known` is the runner's own copy, so an
    /// unchanged waker costs a comparison and no lock.
    ///
    /// Inlined into every poll of the runner (the message path): the call
    /// cost more than the comparison.
    #[inline(always)]
    pub(crate) fn register_runner(&self, known: &mut Option<Waker>, waker: &Waker) {
        if known.as_ref().is_some_and(|k| k.will_wake(waker)) {
            return;
        }
        self.register_new_runner(known, waker);
    }

    /// The waker changed (or is the first one): keep it, and publish it.
    #[cold]
    #[inline(never)]
    fn register_new_runner(&self, known: &mut Option<Waker>, waker: &Waker) {
        *known = Some(waker.clone());
        *self.runner.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker.clone());
    }

    /// Wakes the runner so it looks at the status and counts again.
    pub(crate) fn wake_runner(&self) {
        if let Some(waker) = self
            .runner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            waker.wake_by_ref();
        }
    }

    /// Marks the child gone: from now on every handle refuses, and a message
    /// dropped unhandled is undelivered. Returns the counts, once every send
    /// that was counted before has pushed its message or handed it back (a
    /// few instructions on another thread: no send awaits in between).
    pub(crate) fn close(&self) -> Counts {
        let mut state = self.state.fetch_or(GONE_BIT | STOPPING_BIT, SeqCst);
        while state & IN_FLIGHT != 0 {
            std::thread::yield_now();
            state = self.state.load(SeqCst);
        }
        let dropped = self.dropped.load(SeqCst);
        let settled = self.settled.load(SeqCst);
        Counts::new(state & COUNT, settled, dropped)
    }

    /// The child will not run again; closes it if needed and publishes its
    /// report (once).
    pub(crate) fn finish(&self, report: Box<StopReport>) {
        // Usually the runner closed it already, to count what it reports,
        // and no send is in flight: then one load is enough.
        if self.state.load(SeqCst) & (GONE_BIT | IN_FLIGHT) != GONE_BIT {
            self.close();
        }
        self.settle_startup(Startup::Gone);
        self.report.set(report, &self.bell);
    }

    /// Ends a child that never started (its spec was dropped): the handles
    /// refuse, the startup handle and every stop answer.
    pub(crate) fn finish_unstarted(&self) {
        let counts = self.close();
        self.finish(Box::new(StopReport {
            path: self.path(),
            outcome: crate::messages::stop::StopOutcome::NotStarted,
            drained: 0,
            undelivered: counts.undelivered(),
            cancelled: counts.cancelled,
            duration: std::time::Duration::ZERO,
            children: Vec::new(),
            ended_on_its_own: false,
        }));
    }

    /// The report, once the child is done.
    pub(crate) fn report(
        self: &Arc<Self>,
    ) -> impl std::future::Future<Output = StopReport> + 'static {
        let shared = self.clone();
        async move {
            let report = shared.report.wait_ref(&shared.bell).await;
            StopReport::clone(report)
        }
    }

    /// The report, if the child is done.
    pub(crate) fn final_report(&self) -> Option<&StopReport> {
        self.report.get()
    }

    /// The bell rung on every change a waiter on this child watches.
    pub(crate) fn bell(&self) -> &tokio::sync::Notify {
        &self.bell
    }

    /// Whether the first start attempt is settled.
    pub(crate) fn is_startup_settled(&self) -> bool {
        self.startup.get().is_some()
    }

    /// Settles the first start attempt, if it is not settled yet.
    pub(crate) fn settle_startup(&self, outcome: Startup) {
        if self.startup.get().is_none() {
            self.startup.set(outcome, &self.bell);
        }
    }

    /// Waits until the first start attempt is settled.
    pub(crate) async fn startup(&self) -> Startup {
        self.startup.wait(&self.bell).await
    }

    /// Counts a message about to be queued, unless the child stopped
    /// accepting; the check and the count are one step. On `Err`, nothing
    /// was counted. On `Ok`, the send is in flight until [`pushed`] or
    /// [`unaccept`].
    ///
    /// [`pushed`]: ChildShared::pushed
    /// [`unaccept`]: ChildShared::unaccept
    #[inline]
    pub(crate) fn accept(&self) -> Result<(), u8> {
        let mut state = self.state.load(SeqCst);
        loop {
            if status_of(state) != ACCEPTING {
                return Err(status_of(state));
            }
            match self
                .state
                .compare_exchange_weak(state, state + 1 + IN_FLIGHT_ONE, SeqCst, SeqCst)
            {
                Ok(_) => return Ok(()),
                Err(now) => state = now,
            }
        }
    }

    /// The accepted message is in the mailbox (or held by its request's
    /// future): the send is no longer in flight.
    #[inline]
    pub(crate) fn pushed(&self) {
        self.state.fetch_sub(IN_FLIGHT_ONE, SeqCst);
    }

    /// Takes back the count of a message that was not queued after all (it
    /// is handed back to its sender).
    pub(crate) fn unaccept(&self) {
        self.state.fetch_sub(1 + IN_FLIGHT_ONE, SeqCst);
        // The runner may be waiting for the count to come down.
        self.wake_runner();
    }

    /// An accepted message reached its handler.
    #[inline]
    fn settle_handled(&self) {
        self.settled.fetch_add(1, SeqCst);
    }

    /// An accepted message answered with a `ChildFuture` is done:
    ///
    /// - its future completed: handled;
    /// - dropped unfinished while no drain waited for it (its incarnation
    ///   ended, a panic elsewhere): handled, its handler ran;
    /// - dropped unfinished during a drain (a stop's, or a restart's: the
    ///   runner says so with [`FutureEnd::Lost`]), or while the child is
    ///   stopping: lost, the drain promised to wait for it;
    /// - the child is gone: left unsettled, undelivered.
    pub(crate) fn settle_owned(&self, end: FutureEnd) {
        match (self.status(), end) {
            (GONE, _) => return,
            (_, FutureEnd::Lost) | (STOPPING, FutureEnd::Dropped) => {
                self.dropped.fetch_add(LOST_ONE, SeqCst);
            }
            _ => {}
        }
        self.settled.fetch_add(1, SeqCst);
    }

    /// An accepted message was dropped unhandled: cancelled by its
    /// requester, unless the child is gone (then it is undelivered).
    #[cold]
    fn settle_dropped(&self) {
        if self.status() == GONE {
            return;
        }
        // `dropped` first: see `Counts::handled`.
        self.dropped.fetch_add(1, SeqCst);
        self.settled.fetch_add(1, SeqCst);
        // A drain may be waiting for this message.
        self.wake_runner();
    }
}

impl ChildShared {
    /// The next start of this child, once it ended and was started again.
    #[inline]
    pub(crate) fn successor(&self) -> Option<&Successor> {
        self.successor.get()
    }

    /// Records the next start of this child; only for a child that is gone
    /// (its report out), once.
    pub(crate) fn set_successor(&self, next: Successor) {
        debug_assert_eq!(self.status(), GONE, "only an ended child starts again");
        let _ = self.successor.set(Box::new(next));
    }
}

/// A user message sent through a [`ChildHandle`](crate::ChildHandle): it
/// settles its child's count when it is handled or dropped.
///
/// Plumbing for [`supervised!`](crate::supervised); not for direct use.
#[doc(hidden)]
pub struct Tracked<M> {
    message: Option<M>,
    child: Arc<ChildShared>,
}

impl<M> Tracked<M> {
    pub(crate) fn new(message: M, child: Arc<ChildShared>) -> Self {
        Tracked {
            message: Some(message),
            child,
        }
    }

    /// Takes the message back out, settling nothing (it was not queued).
    pub(crate) fn into_inner(mut self) -> M {
        self.message
            .take()
            .expect("a tracked message holds its message until handled")
    }
}

impl<M> std::fmt::Debug for Tracked<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracked").finish_non_exhaustive()
    }
}

impl<M> Drop for Tracked<M> {
    fn drop(&mut self) {
        if self.message.is_some() {
            self.child.settle_dropped();
        }
    }
}

impl<M: Message> Message for Tracked<M> {
    type Result = M::Result;
}

/// The reply of a [`Tracked`] message: the inner handler's reply,
/// unchanged, or the message itself, held back for the next incarnation.
#[doc(hidden)]
pub struct TrackedResponse<R>(Reply<R>);

/// What a [`TrackedResponse`] carries.
enum Reply<R> {
    /// The handler's reply.
    Handled(R),
    /// The `Tracked<M>` message, unhandled: the incarnation is past its
    /// restart's marker (see [`signals::defers`](super::signals::defers)).
    Held(Box<dyn std::any::Any>),
}

impl<R> std::fmt::Debug for TrackedResponse<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.0 {
            Reply::Handled(_) => "Handled",
            Reply::Held(_) => "Held",
        };
        f.debug_tuple("TrackedResponse").field(&what).finish()
    }
}

impl<A, M, R> MessageResponse<A, Tracked<M>> for TrackedResponse<R>
where
    A: Handler<M, Result = R>,
    M: Message + 'static,
    R: MessageResponse<A, M>,
{
    #[inline]
    fn handle(self, ctx: &mut A::Context, tx: Option<OneshotSender<M::Result>>) {
        match self.0 {
            Reply::Handled(reply) => reply.handle(ctx, tx),
            Reply::Held(message) => hold::<A, M>(message, tx),
        }
    }
}

/// Hands a message held back past a restart's marker, with its reply's
/// sender, to the runner: the next incarnation handles it before anything
/// queued in its mailbox. Unsettled until then; if the child ends for good
/// first, it is undelivered.
#[cold]
fn hold<A, M>(message: Box<dyn std::any::Any>, tx: Option<OneshotSender<M::Result>>)
where
    A: Handler<M>,
    M: Message + 'static,
{
    let message = message
        .downcast::<Tracked<M>>()
        .expect("a held reply carries its own message");
    let handle: Held<A> = Box::new(move |actor, ctx| {
        handle_tracked(actor, *message, ctx).handle(ctx, tx);
    });
    super::signals::defer(Box::new(handle));
}

/// A message held back for the next incarnation, ready to be handled by it
/// (see [`hold`]); the runner downcasts the signal's item to it.
pub(crate) type Held<A> = Box<dyn FnOnce(&mut A, &mut <A as Actor>::Context)>;

/// Handles a [`Tracked`] message with the actor's own handler, settling it
/// (or, for a handler answering with a
/// [`ChildFuture`](super::response::ChildFuture), handing its settlement to
/// the future).
#[doc(hidden)]
#[inline]
pub fn handle_tracked<A, M>(
    actor: &mut A,
    mut message: Tracked<M>,
    ctx: &mut A::Context,
) -> TrackedResponse<A::Result>
where
    A: Handler<M>,
    M: Message + 'static,
{
    if super::signals::defers() {
        return TrackedResponse(Reply::Held(Box::new(message)));
    }
    let inner = message
        .message
        .take()
        .expect("a tracked message holds its message until handled");
    // Decided at compile time, for each handler.
    if response::settles_later::<A::Result, M::Result>() {
        return handle_owning(actor, inner, message, ctx);
    }
    message.child.settle_handled();
    drop(message);
    TrackedResponse(Reply::Handled(actor.handle(inner, ctx)))
}

/// [`handle_tracked`] for a handler answering with a `ChildFuture`: the
/// message is settled when its future ends (or here, if the handler
/// panics: its `Pending` is dropped during the unwind).
#[cold]
fn handle_owning<A, M>(
    actor: &mut A,
    inner: M,
    message: Tracked<M>,
    ctx: &mut A::Context,
) -> TrackedResponse<A::Result>
where
    A: Handler<M>,
    M: Message + 'static,
{
    let pending = Box::new(Pending {
        child: message.child.clone(),
        end: FutureEnd::Dropped,
    });
    drop(message);
    let mut reply = actor.handle(inner, ctx);
    response::settle_later::<A::Result, M::Result>(&mut reply, pending);
    TrackedResponse(Reply::Handled(reply))
}

/// An accepted message whose settlement waits for the end of its
/// [`ChildFuture`]. Dropped (the future completed, or was dropped), it
/// settles the message (see [`ChildShared::settle_owned`]).
pub(crate) struct Pending {
    child: Arc<ChildShared>,
    /// How the future ended; `Dropped` until told otherwise.
    end: FutureEnd,
}

/// How a `ChildFuture` answering a handle's message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FutureEnd {
    /// It completed: its reply was sent.
    Completed,
    /// It was dropped unfinished, no drain waiting for it.
    Dropped,
    /// It was dropped unfinished while a drain waited for it.
    Lost,
}

impl response::Settlement for Pending {
    fn complete(mut self: Box<Self>) {
        self.end = FutureEnd::Completed;
    }

    fn lose(mut self: Box<Self>) {
        self.end = FutureEnd::Lost;
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.child.settle_owned(self.end);
    }
}

/// Queued when a drain begins, with the drain's number; when it is handled,
/// everything queued before the drain began has been handled.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct DrainMarker(pub(crate) u32);

impl Message for DrainMarker {
    type Result = ();
}

/// Handles a [`DrainMarker`]: reports it to the runner polling the child,
/// and stops the context right after it when the marker ends a restart's
/// drain with nothing left in flight, so that what was queued behind it
/// waits for the fresh incarnation.
#[doc(hidden)]
pub fn handle_drain_marker<C: actix::ActorContext>(marker: DrainMarker, ctx: &mut C) {
    if super::signals::marker_reached(marker.0) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use response::Settlement;

    /// The settlement of one accepted message answered with a
    /// `ChildFuture`, as its handler hands it to the future.
    fn owned(child: &Arc<ChildShared>) -> Box<Pending> {
        Box::new(Pending {
            child: child.clone(),
            end: FutureEnd::Dropped,
        })
    }

    fn accept(child: &ChildShared, n: usize) {
        for _ in 0..n {
            child.accept().unwrap();
            child.pushed();
        }
    }

    #[test]
    fn an_owned_future_settles_by_how_and_when_it_ended() {
        let child = ChildShared::new("child".into());
        accept(&child, 8);
        // Accepting: completed or dropped (its incarnation ended), handled;
        // dropped during a restart's drain, lost.
        owned(&child).complete();
        drop(owned(&child));
        owned(&child).lose();
        // Stopping: completed is handled; dropped unfinished is lost; a
        // requester that gave up cancelled its message.
        child.begin_stopping();
        owned(&child).complete();
        drop(owned(&child));
        drop(Tracked::new((), child.clone()));
        assert_eq!(
            child.counts(),
            Counts {
                accepted: 8,
                settled: 6,
                cancelled: 1,
                lost: 2,
            }
        );
        // Gone: left unsettled, whichever way it ends.
        let late = [owned(&child), owned(&child)];
        let counts = child.close();
        let [completed, dropped] = late;
        completed.complete();
        drop(dropped);
        assert_eq!(child.counts(), counts);
        assert_eq!(counts.handled(), 3);
        assert_eq!(counts.cancelled, 1);
        assert_eq!(counts.undelivered(), 4, "two unsettled and two lost");
        assert_eq!(
            counts.handled() + counts.cancelled + counts.undelivered(),
            counts.accepted
        );
    }
}
