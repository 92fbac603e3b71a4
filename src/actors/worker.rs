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

use super::detached::Detached;
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
/// use actix_supervisor::worker::{Work, WorkContext};
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
///
/// # Examples
///
/// ```
/// use actix_supervisor::worker::{Work, WorkContext};
/// use actix_supervisor::{ChildSpec, SupervisorActor};
/// use tokio::sync::mpsc;
///
/// /// Listens until its child is stopped.
/// struct Listener(mpsc::UnboundedSender<String>);
/// impl Work for Listener {
///     type Error = String;
///     async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
///         let _ = self.0.send(format!("{} listening, incarnation {}", cx.path(), cx.incarnation()));
///         cx.token().cancelled().await; // until a stop (or a restart) begins
///         Ok(())
///     }
/// }
///
/// # actix::System::new().block_on(async {
/// let (log, mut lines) = mpsc::unbounded_channel();
/// let spec = ChildSpec::worker("listener", move |_| Listener(log.clone()));
/// let listener = spec.handle();
/// let _app = SupervisorActor::builder("app").child(spec).start()?;
/// assert_eq!(lines.recv().await.unwrap(), "/app/listener listening, incarnation 1");
/// assert!(listener.stop().await.is_drained()); // the loop saw its token and returned
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
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
        WorkContext::builder().build()
    }

    /// A detached context whose token the test holds, to stop the loop.
    pub fn with_token(token: CancellationToken) -> Self {
        WorkContext::builder().token(token).build()
    }

    /// Builds a context for running a loop in a unit test, with the path,
    /// incarnation, token and stop request of the test's choosing; unset
    /// parts are as in [`detached`](WorkContext::detached).
    ///
    /// # Examples
    ///
    /// A loop that resumes where the previous incarnation left off, and
    /// returns at once when a stop already began:
    ///
    /// ```
    /// use actix_supervisor::path::NodePath;
    /// use actix_supervisor::worker::{Work, WorkContext};
    ///
    /// #[derive(Default)]
    /// struct Replicator { resumed: bool, batches: u64 }
    ///
    /// impl Work for Replicator {
    ///     type Error = String;
    ///     async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
    ///         self.resumed = cx.incarnation() > 1;
    ///         while !cx.is_stop_requested() && self.batches < 3 {
    ///             self.batches += 1;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut after_restart = Replicator::default();
    /// after_restart.run(WorkContext::builder().incarnation(2).build()).await?;
    /// assert!(after_restart.resumed);
    /// assert_eq!(after_restart.batches, 3);
    ///
    /// let mut stopped = Replicator::default();
    /// let cx = WorkContext::builder()
    ///     .path(NodePath::root("app").join("replicator"))
    ///     .stop_requested(true)
    ///     .build();
    /// stopped.run(cx).await?;
    /// assert_eq!(stopped.batches, 0);
    /// # Ok::<_, String>(())
    /// # }).unwrap();
    /// ```
    pub fn builder() -> WorkContextBuilder {
        WorkContextBuilder {
            detached: Detached::default(),
            incarnation: 1,
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

/// Builds a [`WorkContext`] for a unit test; made by
/// [`WorkContext::builder`].
///
/// # Examples
///
/// A test that keeps the token, to stop the loop while it runs:
///
/// ```
/// use actix_supervisor::worker::{Work, WorkContext};
/// use tokio_util::sync::CancellationToken;
///
/// /// Drains a queue until stopped.
/// struct Drainer { rounds: u32 }
///
/// impl Work for Drainer {
///     type Error = String;
///     async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
///         while !cx.is_stop_requested() {
///             self.rounds += 1;
///             tokio::task::yield_now().await; // the round's I/O
///         }
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let token = CancellationToken::new();
/// let cx = WorkContext::builder().incarnation(3).token(token.clone()).build();
/// let mut drainer = Drainer { rounds: 0 };
/// let (drained, ()) = tokio::join!(drainer.run(cx), async { token.cancel() });
/// drained?;
/// assert_eq!(drainer.rounds, 1); // the round in progress finished; no other began
/// # Ok::<_, String>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct WorkContextBuilder {
    detached: Detached,
    incarnation: u64,
}

impl WorkContextBuilder {
    /// The worker's path (default `/detached`).
    pub fn path(mut self, path: NodePath) -> Self {
        self.detached.path = Some(path);
        self
    }

    /// Which incarnation runs the loop (default 1, the first start).
    pub fn incarnation(mut self, incarnation: u64) -> Self {
        self.incarnation = incarnation;
        self
    }

    /// The token the loop sees, kept by the test to stop the loop while it
    /// runs (default: a fresh token nobody cancels).
    pub fn token(mut self, token: CancellationToken) -> Self {
        self.detached.token = Some(token);
        self
    }

    /// Whether a stop was already requested when the loop begins (default
    /// `false`): `true` cancels the token at [`build`](Self::build). With
    /// `false`, a stop is still requested if the token given to
    /// [`token`](Self::token) is cancelled.
    pub fn stop_requested(mut self, requested: bool) -> Self {
        self.detached.stop_requested = requested;
        self
    }

    /// The context.
    pub fn build(self) -> WorkContext {
        let (path, token) = self.detached.build();
        WorkContext {
            path,
            incarnation: self.incarnation,
            token,
        }
    }
}

/// The actor that runs a [`Work`] loop. Built by [`ChildSpec::worker`].
///
/// Its loop returning `Ok` ends the child normally; its
/// [`RestartPolicy`](crate::RestartPolicy) decides what follows.
///
/// # Examples
///
/// ```
/// use actix_supervisor::worker::{Work, WorkContext, WorkerActor};
/// use actix_supervisor::{ChildHandle, ChildSpec, StopOutcome, SupervisorActor};
///
/// /// Runs the migrations once, then is done.
/// struct Migrate;
/// impl Work for Migrate {
///     type Error = String;
///     async fn run(&mut self, _: WorkContext) -> Result<(), String> { Ok(()) }
/// }
///
/// # actix::System::new().block_on(async {
/// let spec = ChildSpec::worker("migrate", |_| Migrate);
/// let migrate: ChildHandle<WorkerActor<Migrate>> = spec.handle();
/// let _app = SupervisorActor::builder("app").child(spec).start()?;
///
/// let report = migrate.ended().await; // `OnFailure` (the default): not restarted
/// assert!(report.ended_on_its_own);
/// assert_eq!(report.outcome, StopOutcome::Drained);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
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
    /// use actix_supervisor::worker::{Work, WorkContext};
    /// use actix_supervisor::ChildSpec;
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
        spec.0.kind = NodeKind::Worker;
        spec.set_stats(stats);
        spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detached_context_is_incarnation_1_at_slash_detached_with_no_stop_requested() {
        let cx = WorkContext::detached();
        assert_eq!(cx.path(), &NodePath::root("detached"));
        assert_eq!(cx.incarnation(), 1);
        assert!(!cx.is_stop_requested());
    }

    #[test]
    fn the_builder_sets_the_path_and_the_incarnation() {
        let path = NodePath::root("app").join("poller");
        let cx = WorkContext::builder()
            .path(path.clone())
            .incarnation(7)
            .build();
        assert_eq!(cx.path(), &path);
        assert_eq!(cx.incarnation(), 7);
        assert!(!cx.is_stop_requested());
    }

    #[test]
    fn stop_requested_cancels_the_token_the_loop_sees() {
        let cx = WorkContext::builder().stop_requested(true).build();
        assert!(cx.is_stop_requested());
        assert!(cx.token().is_cancelled());
    }

    #[test]
    fn a_token_kept_by_the_test_stops_the_loop_after_the_build() {
        let token = CancellationToken::new();
        let cx = WorkContext::builder().token(token.clone()).build();
        assert!(!cx.is_stop_requested());
        token.cancel();
        assert!(cx.is_stop_requested());
        // `with_token` is the same thing, shorter.
        let cx = WorkContext::with_token(token);
        assert!(cx.is_stop_requested());
    }

    #[test]
    fn stop_requested_cancels_a_token_given_before_or_after_it() {
        let before = CancellationToken::new();
        let _ = WorkContext::builder()
            .token(before.clone())
            .stop_requested(true)
            .build();
        assert!(before.is_cancelled());
        let after = CancellationToken::new();
        let _ = WorkContext::builder()
            .stop_requested(true)
            .token(after.clone())
            .build();
        assert!(after.is_cancelled());
    }
}
