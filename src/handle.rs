//! [`ChildHandle`]: the library's front door to one child. It keeps the
//! child's stable `Addr`, refuses new work once the child is stopping, counts
//! what it accepted, and stops the child.
//!
//! Also here: the two messages that connect a handle to the child's runner
//! through the child's own mailbox, [`Tracked`] (a user message, counted when
//! handled) and [`DrainMarker`] (the end of the mailbox at the moment a stop
//! began). Both are handled by the impls that
//! [`supervised!`](crate::supervised) writes.
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
//! - The count only goes down when `try_send` finds the mailbox full (or
//!   closed) after counting; the runner is woken then, and a drain waits for
//!   the count to settle.
//! - The report is published once, when the runner is done with the child.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Waker;

use actix::dev::{MessageResponse, OneshotSender, ToEnvelope};
use actix::{Actor, Addr, Handler, MailboxError, Message};

use crate::actors::runner::SIGNALS;
use crate::error::{SendError, StartError};
use crate::latch::Latch;
use crate::messages::stop::StopReport;
use crate::tree::NodePath;
use crate::tree::{Failure, FailurePhase};

const ACCEPTING: u8 = 0;
const STOPPING: u8 = 1;
const GONE: u8 = 2;

/// In [`ChildShared::state`]: the child takes no new messages.
const STOPPING_BIT: u64 = 1 << 62;
/// In [`ChildShared::state`]: the child will not run again.
const GONE_BIT: u64 = 1 << 63;
/// In [`ChildShared::state`]: the messages accepted through handles.
const COUNT: u64 = STOPPING_BIT - 1;

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
    name: String,
    path: OnceLock<NodePath>,
    /// The status (two high bits) and the messages accepted through handles
    /// (the rest).
    state: AtomicU64,
    /// The runner task's waker, kept (not taken) so that a stop request or a
    /// change in the count always reaches the runner, whatever it is doing.
    runner: Mutex<Option<Waker>>,
    report: Latch<Box<StopReport>>,
    /// How the first start attempt went.
    startup: Latch<Startup>,
    /// Rung when the report or the start outcome is set, or the runner's
    /// activity changes: one `Notify` for every change a waiter watches.
    bell: tokio::sync::Notify,
}

/// How a child's first start attempt went.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Startup {
    Started,
    Failed(Box<Failure>),
    Gone,
}

impl ChildShared {
    pub(crate) fn new(name: String) -> Arc<Self> {
        Arc::new(ChildShared {
            name,
            path: OnceLock::new(),
            state: AtomicU64::new(0),
            runner: Mutex::new(None),
            report: Latch::new(),
            startup: Latch::new(),
            bell: tokio::sync::Notify::new(),
        })
    }

    /// The child's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The child's path once its supervisor started it; before, `/` + name.
    pub(crate) fn path(&self) -> NodePath {
        self.path
            .get()
            .cloned()
            .unwrap_or_else(|| NodePath::root(&self.name))
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

    /// Whether the child accepts messages and has handled every one its
    /// handles accepted (`handled` of them): one atomic load.
    #[inline]
    pub(crate) fn is_idle(&self, handled: u64) -> bool {
        self.state.load(SeqCst) == handled
    }

    fn status(&self) -> u8 {
        status_of(self.state.load(SeqCst))
    }

    #[inline]
    pub(crate) fn accepted(&self) -> u64 {
        self.state.load(SeqCst) & COUNT
    }

    /// Remembers the runner's waker; `known` is the runner's own copy, so an
    /// unchanged waker costs a comparison and no lock.
    #[inline]
    pub(crate) fn register_runner(&self, known: &mut Option<Waker>, waker: &Waker) {
        if known.as_ref().is_some_and(|k| k.will_wake(waker)) {
            return;
        }
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

    /// Marks the child gone: from now on every handle refuses. Returns how
    /// many messages handles accepted, in all, read in the same step.
    pub(crate) fn close(&self) -> u64 {
        self.state.fetch_or(GONE_BIT | STOPPING_BIT, SeqCst) & COUNT
    }

    /// The child will not run again; closes it if needed and publishes its
    /// report (once).
    pub(crate) fn finish(&self, report: StopReport) {
        self.close();
        self.report.set(Box::new(report), &self.bell);
    }

    /// The report, once the child is done.
    pub(crate) fn report(self: &Arc<Self>) -> impl Future<Output = StopReport> + 'static {
        let shared = self.clone();
        async move { *shared.report.wait(&shared.bell).await }
    }

    /// The bell rung on every change a waiter on this child watches.
    pub(crate) fn bell(&self) -> &tokio::sync::Notify {
        &self.bell
    }

    /// Settles the first start attempt, if it is not settled yet.
    pub(crate) fn settle_startup(&self, outcome: Startup) {
        if self.startup.get().is_none() {
            self.startup.set(outcome, &self.bell);
        }
    }

    /// Settles a start attempt that ended with `failure`, if it failed while
    /// starting.
    pub(crate) fn settle_failed_start(&self, failure: &Failure) {
        if matches!(
            failure.phase,
            FailurePhase::Factory | FailurePhase::Restarting | FailurePhase::Starting
        ) {
            self.settle_startup(Startup::Failed(Box::new(failure.clone())));
        }
    }

    /// Counts a message about to be queued, unless the child stopped
    /// accepting; the check and the count are one step. On `Err`, nothing
    /// was counted.
    #[inline]
    fn accept(&self) -> Result<(), u8> {
        let mut state = self.state.load(SeqCst);
        loop {
            if status_of(state) != ACCEPTING {
                return Err(status_of(state));
            }
            match self
                .state
                .compare_exchange_weak(state, state + 1, SeqCst, SeqCst)
            {
                Ok(_) => return Ok(()),
                Err(now) => state = now,
            }
        }
    }

    /// Takes back the count of a message that was not queued after all.
    fn unaccept(&self) {
        self.state.fetch_sub(1, SeqCst);
        // The runner may be waiting for the count to come down.
        self.wake_runner();
    }
}

/// A handle to a supervised child: its stable address plus stop-aware,
/// counted sends and a graceful stop.
///
/// Get one from [`ChildSpec::handle`](crate::ChildSpec::handle). It is cheap
/// to clone and can be sent to other threads. Its `Addr` stays valid across
/// restarts; messages sent through the handle while the child is stopping
/// are refused with [`SendError::Stopping`] and handed back, so none is
/// dropped silently, and the child's stop report counts the handle's messages.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::{ChildSpec, SendError, SupervisorActor};
///
/// #[derive(Default)]
/// struct Ledger { entries: u64 }
/// impl Actor for Ledger { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Ledger);
///
/// #[derive(Message)]
/// #[rtype(result = "u64")]
/// struct Append;
/// impl Handler<Append> for Ledger {
///     type Result = u64;
///     fn handle(&mut self, _: Append, _: &mut Context<Self>) -> u64 {
///         self.entries += 1;
///         self.entries
///     }
/// }
///
/// # actix::System::new().block_on(async {
/// let spec = ChildSpec::new("ledger", Ledger::default);
/// let ledger = spec.handle();
/// let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
///
/// for _ in 0..99 {
///     ledger.do_send(Append).unwrap();
/// }
/// assert_eq!(ledger.send(Append).await.unwrap(), 100);
///
/// let report = ledger.stop().await;
/// assert!(report.is_drained());
/// assert!(matches!(ledger.do_send(Append), Err(SendError::Gone { .. })));
/// # });
/// ```
pub struct ChildHandle<A: Actor> {
    addr: Addr<A>,
    shared: Arc<ChildShared>,
}

impl<A: Actor> Clone for ChildHandle<A> {
    fn clone(&self) -> Self {
        ChildHandle {
            addr: self.addr.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<A: Actor> fmt::Debug for ChildHandle<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildHandle")
            .field("path", &self.shared.path())
            .field("status", &self.shared.status())
            .finish_non_exhaustive()
    }
}

impl<A: Actor> ChildHandle<A> {
    pub(crate) fn new(addr: Addr<A>, shared: Arc<ChildShared>) -> Self {
        ChildHandle { addr, shared }
    }

    /// The child's actix address: valid across restarts. Sends through it
    /// are not refused while the child stops, nor counted in its report.
    pub fn addr(&self) -> &Addr<A> {
        &self.addr
    }

    /// The child's path (before its supervisor starts it: `/` + its name).
    pub fn path(&self) -> NodePath {
        self.shared.path()
    }

    /// Waits until the child's first start attempt is over.
    ///
    /// Resolves to the child's address once `started` returned (and the
    /// futures it waited on finished). It can be awaited any number of times,
    /// from anywhere; later restarts do not change its answer.
    ///
    /// # Errors
    ///
    /// [`StartError::StartFailed`] with the failure when the factory or
    /// `started` failed or panicked; [`StartError::SupervisorGone`] when the
    /// child will never start.
    pub fn started(&self) -> impl Future<Output = Result<Addr<A>, StartError>> + 'static {
        let shared = self.shared.clone();
        let addr = self.addr.clone();
        async move {
            // The path once the start is settled: a handle taken from a spec
            // before its supervisor placed it knows only the child's name.
            match shared.startup.wait(&shared.bell).await {
                Startup::Started => Ok(addr),
                Startup::Failed(reason) => Err(StartError::StartFailed {
                    path: shared.path(),
                    reason: *reason,
                }),
                Startup::Gone => Err(StartError::SupervisorGone {
                    path: shared.path(),
                }),
            }
        }
    }

    /// Whether the child still takes new messages: not stopping, not gone.
    pub fn is_accepting(&self) -> bool {
        self.shared.is_accepting()
    }

    fn refused<M>(&self, status: u8, message: M) -> SendError<M> {
        let path = self.path();
        if status == STOPPING {
            SendError::Stopping { path, message }
        } else {
            SendError::Gone { path, message }
        }
    }

    /// Sends a message and returns a future of the reply.
    ///
    /// As with `Addr::send`, the message is queued when `send` is called (or,
    /// when the mailbox is full, when the future is first polled); the future
    /// waits for the reply.
    ///
    /// # Errors
    ///
    /// [`SendError::Stopping`] or [`SendError::Gone`] (with the message) when
    /// the child takes no new messages; [`SendError::NoReply`] when it was
    /// accepted but the child ended before answering.
    pub fn send<M>(&self, message: M) -> impl Future<Output = Result<M::Result, SendError<M>>>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<Tracked<M>>,
        A::Context: ToEnvelope<A, Tracked<M>>,
    {
        let queued = match self.shared.accept() {
            Ok(()) => Ok((self.addr.send(Tracked(message)), self.path())),
            Err(status) => Err(self.refused(status, message)),
        };
        async move {
            let (reply, path) = queued?;
            reply
                .await
                .map_err(|_: MailboxError| SendError::NoReply { path })
        }
    }

    /// Sends a message without waiting for a reply, ignoring the mailbox's
    /// capacity.
    ///
    /// # Errors
    ///
    /// [`SendError::Stopping`] or [`SendError::Gone`], with the message.
    pub fn do_send<M>(&self, message: M) -> Result<(), SendError<M>>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<Tracked<M>>,
        A::Context: ToEnvelope<A, Tracked<M>>,
    {
        if let Err(status) = self.shared.accept() {
            return Err(self.refused(status, message));
        }
        self.addr.do_send(Tracked(message));
        Ok(())
    }

    /// Sends a message without waiting, if the mailbox has room.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`], [`SendError::Stopping`] or [`SendError::Gone`],
    /// with the message.
    pub fn try_send<M>(&self, message: M) -> Result<(), SendError<M>>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<Tracked<M>>,
        A::Context: ToEnvelope<A, Tracked<M>>,
    {
        if let Err(status) = self.shared.accept() {
            return Err(self.refused(status, message));
        }
        self.addr.try_send(Tracked(message)).map_err(|err| {
            self.shared.unaccept();
            let path = self.path();
            match err {
                actix::prelude::SendError::Full(Tracked(message)) => {
                    SendError::Full { path, message }
                }
                actix::prelude::SendError::Closed(Tracked(message)) => {
                    SendError::Gone { path, message }
                }
            }
        })
    }

    /// Stops the child gracefully and waits for its report.
    ///
    /// The child takes no new messages from handles from now on, handles
    /// every message already in its mailbox, then runs `stopping` and
    /// `stopped`; past its grace it is terminated (`TimedOut`). It is not
    /// restarted, whatever its policy. Calling `stop` again, from anywhere,
    /// waits for the same end and returns the same report.
    pub fn stop(&self) -> impl Future<Output = StopReport> + 'static
    where
        A: Handler<DrainMarker>,
        A::Context: ToEnvelope<A, DrainMarker>,
    {
        // The runner, woken, begins the drain: it queues the marker that
        // ends it, as for every other stop.
        if self.shared.begin_stopping() {
            self.shared.wake_runner();
        }
        self.shared.report()
    }
}

/// A user message sent through a [`ChildHandle`], counted when handled.
///
/// Plumbing for [`supervised!`](crate::supervised); not for direct use.
#[doc(hidden)]
#[derive(Debug)]
pub struct Tracked<M>(pub M);

impl<M: Message> Message for Tracked<M> {
    type Result = M::Result;
}

/// The reply of a [`Tracked`] message: the inner handler's reply, unchanged.
#[doc(hidden)]
#[derive(Debug)]
pub struct TrackedResponse<R>(R);

impl<A, M, R> MessageResponse<A, Tracked<M>> for TrackedResponse<R>
where
    A: Actor,
    M: Message,
    R: MessageResponse<A, M>,
{
    #[inline]
    fn handle(self, ctx: &mut A::Context, tx: Option<OneshotSender<M::Result>>) {
        self.0.handle(ctx, tx)
    }
}

/// Handles a [`Tracked`] message with the actor's own handler, counting it.
#[doc(hidden)]
#[inline]
pub fn handle_tracked<A, M>(
    actor: &mut A,
    message: Tracked<M>,
    ctx: &mut A::Context,
) -> TrackedResponse<A::Result>
where
    A: Handler<M>,
    M: Message,
{
    SIGNALS.with(|signals| signals.handled.set(signals.handled.get() + 1));
    TrackedResponse(actor.handle(message.0, ctx))
}

/// Queued when a stop begins; when it is handled, everything queued before
/// the stop has been handled.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct DrainMarker;

impl Message for DrainMarker {
    type Result = ();
}

/// Handles a [`DrainMarker`].
#[doc(hidden)]
pub fn handle_drain_marker() {
    SIGNALS.with(|signals| signals.marker_reached.set(true));
}
