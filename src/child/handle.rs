//! [`ChildHandle`]: the library's front door to one child. It keeps the
//! child's stable `Addr`, refuses new work once the child is stopping, counts
//! what it accepted (see [`super::drain`] for the accounting), and stops the
//! child.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, MailboxError, Message};

use super::drain::{ChildShared, DrainMarker, Startup, Tracked, STOPPING};
use super::supervised::SupervisedHandler;
use crate::error::{SendError, StartError};
use crate::messages::stop::StopReport;
use crate::tree::NodePath;

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
            .field("status", &self.current().0.status())
            .finish_non_exhaustive()
    }
}

impl<A: Actor> ChildHandle<A> {
    pub(crate) fn new(addr: Addr<A>, shared: Arc<ChildShared>) -> Self {
        ChildHandle { addr, shared }
    }

    /// The child's actix address: valid across restarts. Sends through it
    /// are not refused while the child stops, nor counted in its report.
    ///
    /// A child that ended and was started again with
    /// [`RestartChild`](crate::RestartChild) has a new address: this is
    /// always the latest one, while an `Addr` taken before the child ended
    /// stays closed (its sends fail at once).
    pub fn address(&self) -> &Addr<A> {
        self.current().1
    }

    /// The child's path (before its supervisor starts it: `/` + its name).
    pub fn path(&self) -> NodePath {
        self.shared.path()
    }

    /// The shared state and address of the child's latest start: the ones
    /// the handle was made with, or, once the child ended and was started
    /// again, those of its latest start (see `crate::child::respawn`).
    #[inline]
    fn current(&self) -> (&Arc<ChildShared>, &Addr<A>) {
        let (mut shared, mut addr) = (&self.shared, &self.addr);
        while let Some(next) = shared.successor() {
            shared = &next.shared;
            addr = next
                .addr
                .downcast_ref::<Addr<A>>()
                .expect("a child starts again with the same actor type");
        }
        (shared, addr)
    }

    /// Waits until the child's first start attempt is over.
    ///
    /// Resolves to the child's address once `started` returned (and the
    /// futures it waited on finished). It can be awaited any number of times,
    /// from anywhere; later restarts do not change its answer. Once the
    /// child ended and was started again with
    /// [`RestartChild`](crate::RestartChild), a new call waits for that
    /// start, with the new address.
    ///
    /// # Errors
    ///
    /// [`StartError::StartFailed`] with the failure when the factory or
    /// `started` failed or panicked; [`StartError::SupervisorGone`] when the
    /// child will never start.
    pub fn started(&self) -> impl Future<Output = Result<Addr<A>, StartError>> + 'static {
        let (shared, addr) = self.current();
        let (shared, addr) = (shared.clone(), addr.clone());
        async move {
            // The path once the start is settled: a handle taken from a spec
            // before its supervisor placed it knows only the child's name.
            match shared.startup().await {
                Startup::Started => Ok(addr),
                Startup::Failed(reason) => Err(StartError::StartFailed {
                    path: shared.path(),
                    reason: *reason,
                }),
                Startup::Gone => Err(StartError::SupervisorGone {
                    path: shared.path(),
                }),
                Startup::NotReady(waited) => {
                    let (dependency, timeout) = *waited;
                    Err(StartError::DependencyNotReady {
                        path: shared.path(),
                        dependency,
                        timeout,
                    })
                }
            }
        }
    }

    /// Whether the child still takes new messages: not stopping, not gone.
    pub fn is_accepting(&self) -> bool {
        self.current().0.is_accepting()
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
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes cancels the request: a
    /// message still waiting in the mailbox is skipped, and counted as
    /// cancelled, not as undelivered, in the child's stop report. A stop
    /// never waits for a request its requester gave up.
    pub fn send<M>(&self, message: M) -> impl Future<Output = Result<M::Result, SendError<M>>>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: SupervisedHandler<M>,
    {
        use futures_util::future::{ready, Either, FutureExt};
        let (shared, addr) = self.current();
        match shared.accept() {
            // Combinators, not an `async` block: the future is built where
            // it is returned, without moving actix's request (which holds a
            // timer) into a block of its own.
            Ok(()) => {
                let reply = addr.send(Tracked::new(message, shared.clone()));
                shared.pushed();
                let shared = shared.clone();
                Either::Left(reply.map(move |reply| {
                    reply.map_err(|_: MailboxError| SendError::NoReply {
                        path: shared.path(),
                    })
                }))
            }
            Err(status) => Either::Right(ready(Err(self.refused(status, message)))),
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
        A: SupervisedHandler<M>,
    {
        let (shared, addr) = self.current();
        if let Err(status) = shared.accept() {
            return Err(self.refused(status, message));
        }
        addr.do_send(Tracked::new(message, shared.clone()));
        shared.pushed();
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
        A: SupervisedHandler<M>,
    {
        let (shared, addr) = self.current();
        if let Err(status) = shared.accept() {
            return Err(self.refused(status, message));
        }
        addr.try_send(Tracked::new(message, shared.clone()))
            .map(|()| shared.pushed())
            .map_err(|err| {
                shared.unaccept();
                let path = self.path();
                match err {
                    actix::prelude::SendError::Full(tracked) => SendError::Full {
                        path,
                        message: tracked.into_inner(),
                    },
                    actix::prelude::SendError::Closed(tracked) => SendError::Gone {
                        path,
                        message: tracked.into_inner(),
                    },
                }
            })
    }

    /// Stops the child gracefully and waits for its report.
    ///
    /// The child takes no new messages from handles from now on, handles
    /// every message already in its mailbox, then runs `stopping` and
    /// `stopped`; past its grace it is terminated (`TimedOut`). Between two
    /// incarnations (right after a failure, in a backoff, parked for a
    /// strategy restart) the next incarnation starts at once, only to drain
    /// what waits; after the stop the child is not restarted, whatever its
    /// policy, until [`RestartChild`](crate::RestartChild) starts it again
    /// (then `stop` stops that new start; a stop asked before answers the
    /// report of the start it stopped). Calling `stop` again, from anywhere, waits for the same end
    /// and returns the same report. A child that never started (its spec was
    /// dropped) answers at once, `StopOutcome::NotStarted`.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix::prelude::*;
    /// use actix_supervisor::{ChildSpec, StopOutcome, SupervisorActor};
    ///
    /// #[derive(Default)]
    /// struct Worker;
    /// impl Actor for Worker { type Context = Context<Self>; }
    /// actix_supervisor::supervised!(Worker);
    ///
    /// #[derive(Message)]
    /// #[rtype(result = "()")]
    /// struct Job;
    /// impl Handler<Job> for Worker {
    ///     type Result = ();
    ///     fn handle(&mut self, _: Job, _: &mut Context<Self>) {}
    /// }
    ///
    /// # actix::System::new().block_on(async {
    /// let spec = ChildSpec::new("worker", Worker::default);
    /// let worker = spec.handle();
    /// let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    /// for _ in 0..10 {
    ///     worker.do_send(Job).unwrap();
    /// }
    /// let report = worker.stop().await;
    /// assert_eq!(report.outcome, StopOutcome::Drained);
    /// assert_eq!(report.drained, 10); // every job queued before the stop
    /// assert_eq!(worker.stop().await, report); // the same answer again
    /// # });
    /// ```
    pub fn stop(&self) -> impl Future<Output = StopReport> + 'static
    where
        A: Handler<DrainMarker>,
        A::Context: ToEnvelope<A, DrainMarker>,
    {
        // The runner, woken, begins the drain: it queues the marker that
        // ends it, as for every other stop.
        let shared = self.current().0;
        if shared.begin_stopping() {
            shared.wake_runner();
        }
        shared.report()
    }

    /// Waits until the child ended for good, however it ended (its own end
    /// that its policy does not restart, a stop, its supervisor gone), and
    /// answers its final report; it stops nothing. A one-shot job's owner
    /// awaits this to learn that the job is over (a temporary child has
    /// left its supervisor's table by then). Once the child ended and was
    /// started again with [`RestartChild`](crate::RestartChild), a new call
    /// waits for the end of that run (a call made before answers the run it
    /// was made in).
    ///
    /// # Examples
    ///
    /// ```
    /// use actix::prelude::*;
    /// use actix_supervisor::prelude::*;
    ///
    /// #[derive(Default)]
    /// struct Job;
    /// impl Actor for Job {
    ///     type Context = Context<Self>;
    ///     fn started(&mut self, ctx: &mut Context<Self>) {
    ///         ctx.stop(); // its work is done
    ///     }
    /// }
    /// actix_supervisor::supervised!(Job);
    ///
    /// # actix::System::new().block_on(async {
    /// let spec = ChildSpec::new("job", Job::default).restart(RestartPolicy::Never);
    /// let job = spec.handle();
    /// let _app = SupervisorActor::builder("app").child(spec).start()?;
    /// let report = job.ended().await;
    /// assert_eq!(report.path.as_str(), "/app/job");
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn ended(&self) -> impl Future<Output = StopReport> + 'static {
        self.current().0.report()
    }
}
