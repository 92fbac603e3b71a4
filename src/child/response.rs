//! [`ChildFuture`]: a handler's reply that awaits I/O and stays the work of
//! the child that handled the message, and [`Owned`], the runner's record
//! of the futures an incarnation owns.
//!
//! # How a future is owned
//!
//! A `ChildFuture` is spawned into the child's own context (`ctx.spawn`),
//! so it is polled by the runner's poll of that context, inside its
//! `catch_unwind`: a panic in it ends the incarnation as a failure, like a
//! panic in a handler. When it is spawned during a runner's poll, it also
//! registers its [`Slot`] with the runner (through [`super::signals`]), and
//! the runner keeps the slots of the incarnation under way ([`Owned`]):
//!
//! - a drain (a stop's, or a strategy restart's) is not over while a slot of
//!   the incarnation holds a future;
//! - when the incarnation ends, or is terminated at the end of a strategy
//!   drain's grace, the runner empties every slot: the futures are dropped
//!   and their requesters get an error at once, not after a backoff;
//! - when the child ends for good, its context (and every slot's future
//!   with it) is dropped after its handles were closed.
//!
//! # Invariants
//!
//! - A slot holds its future until the future completes (its reply is sent)
//!   or is cancelled; then it is empty for good. Only the child's thread
//!   touches it (`Rc`).
//! - A message sent through a [`ChildHandle`](crate::ChildHandle) whose
//!   handler answers with a `ChildFuture` is settled when its future ends,
//!   not when its handler is called (a [`Settlement`]): handled if the
//!   future completed, or if it was dropped unfinished while no drain
//!   waited for it (its incarnation ended, its handler ran); lost when it
//!   was dropped unfinished during a drain (a stop's or a restart's: the
//!   runner passes `lost` to [`Owned::cancel_all`]) or while the child is
//!   stopping; left unsettled once the child is gone. The child's report
//!   counts lost and unsettled messages as undelivered.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{self, Poll};

use actix::dev::{MessageResponse, OneshotSender};
use actix::fut::ActorFuture;
use actix::{Actor, AsyncContext, Message};

use super::signals::{self, Adopted, OwnedSlot};

/// A handler's reply computed by a future that belongs to the child: the
/// library's `ResponseFuture` for handlers that await I/O.
///
/// Return it from a [`Handler`](actix::Handler) of a supervised child
/// (`type Result = ChildFuture<T>`). The future runs in the child's own
/// context, concurrently with the messages that follow (like a future
/// spawned with `ctx.spawn`), and its output is the reply, whether the
/// message came through a [`ChildHandle`](crate::ChildHandle)
/// (`send`, `do_send`, `try_send`) or a raw `Addr`. The child owns it:
///
/// - **A panic in it is the child's failure**: the incarnation ends, the
///   failure is recorded and logged with the child's path, and the child's
///   restart policy applies. Its requester gets an error
///   ([`SendError::NoReply`](crate::SendError::NoReply) through a handle,
///   `MailboxError::Closed` through an `Addr`).
/// - **A stop waits for it**: a stop's drain is over only when every message
///   queued before it was handled *and* every `ChildFuture` of the
///   incarnation has answered, all within the child's grace. Past the grace
///   the future is cancelled (dropped), its requester gets the same error,
///   and the child's [`StopReport`](crate::StopReport) counts its message
///   as undelivered (when it came through a handle: the report counts only
///   those).
/// - **A strategy restart's drain waits for it too**, within the same grace;
///   past it the incarnation is terminated and the future dropped (its
///   requester gets an error), and the child's report counts its message
///   as undelivered: the drain did not keep its promise.
/// - When its incarnation ends for any other reason (a panic elsewhere,
///   [`fail`](crate::fail), `ctx.stop()`, a worker's loop returning on its
///   token), the future is dropped at once and its requester gets an error;
///   its message counts as handled (its handler ran), unless a drain (a
///   stop's or a restart's) was under way: that drain did not wait for it,
///   and the child's report counts the message as undelivered (so a later
///   stop's report is not `Drained`).
///
/// A message answered this way counts as handled when its future ends, not
/// when its handler returns. The work runs to its end even if its requester
/// stopped waiting for the answer.
///
/// # Ordering
///
/// Handlers still run one at a time, in mailbox order; each `ChildFuture`
/// starts when its handler returns, and the futures run concurrently with
/// each other and with later messages, so replies come in the order the
/// futures finish. The future cannot touch the actor: for work that must
/// have the actor to itself until it answers, use actix's `AtomicResponse`
/// (one at a time, and the mailbox waits).
///
/// # Which replies a child owns
///
/// | reply | a panic in it | a stop |
/// |---|---|---|
/// | `ChildFuture` | the child's failure | waits for it within the grace, then cancels it (undelivered) |
/// | `AtomicResponse` (and `ctx.wait`) | the child's failure | waits for it within the grace (the mailbox waits behind it) |
/// | `ResponseActFuture` (and `ctx.spawn`) | the child's failure | does not wait: the future is dropped when the drain is over |
/// | `ResponseFuture`, `tokio::spawn`, `actix_rt::spawn` | not the child's: its own task dies alone | neither waits for it nor cancels it |
///
/// Outside a supervisor (an actor started with plain actix), a
/// `ChildFuture` behaves like a `ResponseActFuture`.
///
/// On drop (a handler's reply is always handled by actix), nothing happens.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Fetcher;
/// impl Actor for Fetcher { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Fetcher);
///
/// #[derive(Message)]
/// #[rtype(result = "String")]
/// struct Fetch(String);
///
/// impl Handler<Fetch> for Fetcher {
///     type Result = ChildFuture<String>;
///     fn handle(&mut self, Fetch(key): Fetch, _: &mut Context<Self>) -> Self::Result {
///         ChildFuture::new(async move {
///             tokio::time::sleep(Duration::from_millis(20)).await; // the I/O
///             format!("value of {key}")
///         })
///     }
/// }
///
/// # actix::System::new().block_on(async {
/// let spec = ChildSpec::new("fetcher", Fetcher::default);
/// let fetcher = spec.handle();
/// let app = SupervisorActor::builder("app").child(spec).start()?;
///
/// let reply = fetcher.send(Fetch("a".into()));
/// // The stop waits for the future: its requester gets the answer.
/// let report = app.send(Stop).await?;
/// assert_eq!(reply.await?, "value of a");
/// assert!(report.is_drained());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[must_use = "a ChildFuture does nothing unless returned from a handler"]
pub struct ChildFuture<T> {
    future: Pin<Box<dyn Future<Output = T>>>,
    /// The message's settlement, when it came through a handle (settled
    /// when dropped).
    pending: Option<Box<dyn Settlement>>,
}

impl<T> ChildFuture<T> {
    /// A reply computed by `future`, owned by the child that handles the
    /// message.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_supervisor::ChildFuture;
    ///
    /// let reply: ChildFuture<u64> = ChildFuture::new(async { 42 });
    /// # drop(reply);
    /// ```
    pub fn new(future: impl Future<Output = T> + 'static) -> Self {
        ChildFuture {
            future: Box::pin(future),
            pending: None,
        }
    }
}

impl<T> fmt::Debug for ChildFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildFuture").finish_non_exhaustive()
    }
}

impl<A, M> MessageResponse<A, M> for ChildFuture<M::Result>
where
    A: Actor,
    M: Message,
    A::Context: AsyncContext<A>,
{
    fn handle(self, ctx: &mut A::Context, tx: Option<OneshotSender<M::Result>>) {
        let slot = Rc::new(Slot {
            work: RefCell::new(Some(Work {
                future: self.future,
                reply: tx,
                pending: self.pending,
            })),
        });
        signals::own(slot.clone());
        ctx.spawn(OwnedTask { slot });
    }
}

/// Whether a handler answering `M` (whose result is `T`) with `R` answers
/// with a [`ChildFuture`]: then its message is settled when the future
/// ends. Known at compile time for each handler.
#[inline(always)]
pub(crate) fn settles_later<R: 'static, T: 'static>() -> bool {
    TypeId::of::<R>() == TypeId::of::<ChildFuture<T>>()
}

/// The settlement of a message answered with a [`ChildFuture`]: it settles
/// the message when dropped, as completed or lost if told so first.
pub(crate) trait Settlement {
    /// The future completed: its reply was sent.
    fn complete(self: Box<Self>);
    /// The future was dropped unfinished while a drain that promised to
    /// wait for it was under way.
    fn lose(self: Box<Self>);
}

/// Hands the settlement of a message to the [`ChildFuture`] its handler
/// answered with (see [`settles_later`]): dropped with the future's work.
pub(crate) fn settle_later<R: 'static, T: 'static>(reply: &mut R, pending: Box<dyn Settlement>) {
    if let Some(reply) = (reply as &mut dyn Any).downcast_mut::<ChildFuture<T>>() {
        reply.pending = Some(pending);
    }
}

/// The work of one owned future: the future, the reply's sender, and the
/// settlement of its message.
struct Work<T> {
    future: Pin<Box<dyn Future<Output = T>>>,
    reply: Option<OneshotSender<T>>,
    /// Completed after the reply is sent, or dropped unfinished.
    pending: Option<Box<dyn Settlement>>,
}

/// What an owned future and the runner share: the work, until it ends.
struct Slot<T> {
    work: RefCell<Option<Work<T>>>,
}

impl<T> OwnedSlot for Slot<T> {
    fn is_live(&self) -> bool {
        self.work.borrow().is_some()
    }

    fn cancel(&self, lost: bool) {
        let Some(mut work) = self.work.borrow_mut().take() else {
            return;
        };
        if lost {
            if let Some(pending) = work.pending.take() {
                pending.lose();
            }
        }
        drop(work);
    }
}

/// The `ctx.spawn` item polling a slot's future inside the child's
/// context. Dropped with the context (a restart in place, the child's
/// end), it cancels the future.
struct OwnedTask<T> {
    slot: Rc<Slot<T>>,
}

impl<A: Actor, T> ActorFuture<A> for OwnedTask<T> {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        _: &mut A,
        _: &mut A::Context,
        cx: &mut task::Context<'_>,
    ) -> Poll<()> {
        let mut work = self.slot.work.borrow_mut();
        let Some(running) = work.as_mut() else {
            // Cancelled by the runner.
            return Poll::Ready(());
        };
        let Poll::Ready(output) = running.future.as_mut().poll(cx) else {
            return Poll::Pending;
        };
        let done = work.take().expect("the work is there until it ends");
        drop(work);
        if let Some(reply) = done.reply {
            let _ = reply.send(output);
        }
        if let Some(pending) = done.pending {
            pending.complete();
        }
        Poll::Ready(())
    }
}

impl<T> Drop for OwnedTask<T> {
    fn drop(&mut self) {
        self.slot.cancel(false);
    }
}

/// The owned futures of a child's incarnation under way, as its runner
/// keeps them.
#[derive(Default)]
pub(crate) struct Owned {
    slots: Vec<Rc<dyn OwnedSlot>>,
}

impl Owned {
    /// Takes in the slots registered during one poll, forgetting those
    /// whose future ended.
    pub(crate) fn adopt(&mut self, mut adopted: Adopted) {
        self.slots.retain(|slot| slot.is_live());
        self.slots.append(&mut adopted.0);
    }

    /// Whether no owned future of the incarnation is in flight.
    pub(crate) fn is_idle(&self) -> bool {
        !self.slots.iter().any(|slot| slot.is_live())
    }

    /// Whether no owned future was ever kept (or all were dropped since).
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Drops every owned future still in flight: their requesters get an
    /// error; with `lost`, a drain that promised to wait for them was under
    /// way, and their messages count undelivered. Returns how many there
    /// were.
    pub(crate) fn cancel_all(&mut self, lost: bool) -> usize {
        let mut cancelled = 0;
        for slot in self.slots.drain(..) {
            if slot.is_live() {
                cancelled += 1;
                slot.cancel(lost);
            }
        }
        cancelled
    }
}
