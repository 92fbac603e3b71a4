//! The worker kind: a long-running async loop ([`Work`], in a plain struct)
//! run by [`WorkerActor`], a supervised actor like any other.
//!
//! The loop is handed a [`WorkContext`] whose token is cancelled as soon as
//! a stop (or a restart) of the child begins; the token is a child of the
//! supervisor's, so stopping a subtree cancels every loop under it. The
//! child's stop waits for the loop to return (the actor answers `stopping`
//! with `Continue` while it runs), bounded by the child's grace: a loop that
//! ignores its token is terminated at the grace and reported `TimedOut`.
//! Returning `Ok` is a normal exit; `Err` or a panic is a failure; both are
//! handled by the child's restart policy.
//!
//! The loop owns its struct while it runs. To send a worker commands, give
//! its struct the receiving end of a channel in the factory, and keep the
//! sending end (see [`ChildSpec::worker`]).

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use actix::fut::wrap_future;
use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Running};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::spec::{ChildSpec, StartContext};
use crate::tree::{NodeKind, NodePath, TaskStats};

/// A long-running loop: a replication stream receiver, a queue poller, an
/// event fan-out.
///
/// Implement it on a plain struct, built fresh by the spec's factory for each
/// incarnation. `run` should return soon after its context's token is
/// cancelled. Write it as an `async fn`.
///
/// # Examples
///
/// ```
/// use actix_supervisor::{Work, WorkContext};
///
/// /// Polls a queue until stopped.
/// struct Poller { polled: u64 }
///
/// impl Work for Poller {
///     type Error = std::io::Error;
///
///     async fn run(&mut self, cx: WorkContext) -> Result<(), Self::Error> {
///         while !cx.is_stop_requested() {
///             self.polled += 1; // one round of work
///             if self.polled == 3 {
///                 break; // done on its own: a normal exit
///             }
///         }
///         Ok(())
///     }
/// }
///
/// // Unit-testable without actix:
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut poller = Poller { polled: 0 };
/// poller.run(WorkContext::detached()).await.unwrap();
/// assert_eq!(poller.polled, 3);
/// # });
/// ```
pub trait Work: Unpin + 'static {
    /// What a failed loop returns; recorded with its `Display`.
    type Error: fmt::Display;

    /// Runs the loop until it is done or its token is cancelled.
    fn run(&mut self, cx: WorkContext) -> impl Future<Output = Result<(), Self::Error>>;
}

/// What a worker's loop is given: its node, and a token cancelled when a
/// stop (or a restart) of the child begins.
#[derive(Debug, Clone)]
pub struct WorkContext {
    path: NodePath,
    incarnation: u64,
    token: CancellationToken,
}

impl WorkContext {
    /// A context for running a loop outside any supervision tree, in unit
    /// tests: path `/detached`, incarnation 1, and a token nobody cancels
    /// (see [`with_token`](WorkContext::with_token)).
    pub fn detached() -> Self {
        WorkContext::with_token(CancellationToken::new())
    }

    /// A detached context whose token the test holds, to stop the loop.
    pub fn with_token(token: CancellationToken) -> Self {
        WorkContext {
            path: NodePath::root("detached"),
            incarnation: 1,
            token,
        }
    }

    /// The worker's path.
    pub fn path(&self) -> &NodePath {
        &self.path
    }

    /// Which incarnation runs this loop: 1 for the first start.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Whether a stop (or a restart) of the child began.
    pub fn is_stop_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The token, cancelled when a stop (or a restart) begins; a child of the
    /// supervisor's token. Await `token().cancelled()` in a `select!`.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

/// The actor that runs a [`Work`] loop. Built by [`ChildSpec::worker`].
pub struct WorkerActor<W: Work> {
    work: Option<W>,
    context: WorkContext,
    stats: Arc<Mutex<TaskStats>>,
    running: bool,
}

impl<W: Work> fmt::Debug for WorkerActor<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerActor")
            .field("path", &self.context.path)
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

impl<W: Work> Actor for WorkerActor<W> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(mut work) = self.work.take() else {
            return;
        };
        self.running = true;
        let cx = self.context.clone();
        let run = async move {
            let began = Instant::now();
            let result = work.run(cx).await.map_err(|e| e.to_string());
            (work, result, began.elapsed())
        };
        ctx.spawn(
            wrap_future::<_, Self>(run).map(|(work, result, took), this, ctx| {
                this.work = Some(work);
                this.running = false;
                #[cfg(feature = "metrics")]
                crate::metrics::record_worker_run(&this.context.path, took, result.is_ok());
                let mut stats = this.stats.lock().unwrap_or_else(|e| e.into_inner());
                stats.runs += 1;
                stats.last_duration = Some(took);
                match result {
                    Ok(()) => {
                        stats.consecutive_failures = 0;
                        drop(stats);
                        ctx.stop();
                    }
                    Err(error) => {
                        stats.failures += 1;
                        stats.consecutive_failures += 1;
                        stats.last_error = Some(error.clone());
                        drop(stats);
                        crate::fail(ctx, error);
                    }
                }
            }),
        );
    }

    /// Keeps the actor alive until its loop has returned: a stop waits for
    /// it (within the grace).
    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        if self.running {
            Running::Continue
        } else {
            Running::Stop
        }
    }
}

crate::supervised!(impl [W] WorkerActor<W> where [W: Work]);

impl<W: Work> ChildSpec<WorkerActor<W>> {
    /// A worker child: `factory` builds the loop's struct for each
    /// incarnation, and the loop starts with the incarnation. Its snapshot
    /// carries its loop statistics.
    ///
    /// # Examples
    ///
    /// A worker that takes commands through a channel wired by the factory:
    ///
    /// ```
    /// use actix_supervisor::{ChildSpec, Work, WorkContext};
    /// use tokio::sync::mpsc;
    ///
    /// struct Fanout { commands: mpsc::UnboundedReceiver<String>, sent: u64 }
    ///
    /// impl Work for Fanout {
    ///     type Error = String;
    ///     async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
    ///         loop {
    ///             tokio::select! {
    ///                 _ = cx.token().cancelled() => return Ok(()),
    ///                 command = self.commands.recv() => match command {
    ///                     Some(_event) => self.sent += 1,
    ///                     None => return Ok(()),
    ///                 },
    ///             }
    ///         }
    ///     }
    /// }
    ///
    /// let (commands, receiver) = mpsc::unbounded_channel();
    /// let receiver = std::sync::Mutex::new(Some(receiver));
    /// let spec = ChildSpec::worker("fanout", move |_| Fanout {
    ///     // The first incarnation takes the receiver; a restarted one would
    ///     // get a fresh channel in a real application.
    ///     commands: receiver.lock().unwrap().take().unwrap_or_else(|| mpsc::unbounded_channel().1),
    ///     sent: 0,
    /// });
    /// commands.send("event".to_string()).unwrap();
    /// # drop(spec);
    /// ```
    pub fn worker<F>(name: impl Into<String>, mut factory: F) -> Self
    where
        F: FnMut(&StartContext) -> W + Send + 'static,
    {
        let stats = Arc::new(Mutex::new(TaskStats::default()));
        let shared_stats = stats.clone();
        let mut spec = ChildSpec::with_context(name, move |start: &StartContext| WorkerActor {
            work: Some(factory(start)),
            context: WorkContext {
                path: start.path().clone(),
                incarnation: start.incarnation(),
                token: start.token().clone(),
            },
            stats: shared_stats.clone(),
            running: false,
        });
        spec.kind = NodeKind::Worker;
        spec.set_stats(stats);
        spec
    }
}
