//! The entry point of an application's supervision tree: [`Supervision`]
//! starts the root supervisor inside an actix `System` (or the runtime of an
//! actix-web app), and on SIGINT, SIGTERM or a [`ShutdownHandle`] stops the
//! whole tree gracefully within the root's grace, the global grace; [`run`]
//! does all of it for a program's `main` and turns the report into an exit
//! status.
//!
//! # Signals
//!
//! With the `signals` feature (on by default), a stop begins on SIGINT or
//! SIGTERM on Unix, and on Ctrl-C on Windows. Without it, tokio's signal
//! handling is not compiled, [`run`] does not exist, and a tree run by
//! [`Supervision::run_until_shutdown`] stops on a [`ShutdownHandle`] (or
//! when its root ends) only.
//!
//! In an actix-web app, which handles the signals itself, start the tree with
//! [`Supervision::start`] before the server, and call
//! [`Supervision::stop`] after the server's future returns.
//!
//! # Readiness and the end of a tree
//!
//! A [`Supervision`] knows when a stop began: from the moment a signal or a
//! [`ShutdownHandle`] arrives (before the tree is even told),
//! [`Supervision::is_stopping`] is true, and the readiness probe of the
//! `web` feature answers 503, so a load balancer drains the replica while
//! the tree drains its work.
//!
//! A tree can also end by itself: when its root exceeds its restart
//! intensity, it gives up (promise 3). [`Supervision::run_until_shutdown`]
//! then returns at once with the root's report instead of waiting for a
//! signal with nothing running, and [`run`] exits with status 3, so that
//! systemd or Kubernetes restarts the process.
//!
//! # Exit status of [`run`]
//!
//! | status | meaning |
//! |-------:|---------|
//! | 0 | stopped by a signal or a shutdown request; every node the stop stopped drained |
//! | 1 | stopped by a signal or a shutdown request; some node timed out, failed while stopping or left accepted work undone, the root's grace ran out, or the root was gone |
//! | 2 | the tree could not be built (the error is logged) |
//! | 3 | the root gave up on its own (restart intensity exceeded) |
//!
//! A node that had ended on its own long before the stop (a
//! [`Never`](crate::RestartPolicy::Never) child that failed at start-up, a
//! one-shot job that finished) is not judged: its failure was logged and
//! published when it happened, and the process ran on without it. To be
//! judged on it too (status 1 unless every node in the report drained),
//! ask for [`ExitRule::EveryNode`] ([`run_with`],
//! [`Supervision::exit_rule`]). The final report is logged in every case
//! (`info` when everything drained, `warn` when not, `error` when the tree
//! ended on its own); [`Supervision::run_until_exit`] returns it with the
//! status.

use std::process::ExitCode;

use actix::{Addr, MailboxError};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::actors::{SupervisorActor, SupervisorBuilder};
use crate::error::BuildError;
use crate::messages::{EventKind, Inspect, Stop, StopOutcome, StopReport, Subscribe};
use crate::tree::TreeSnapshot;

/// A running supervision tree: its root supervisor and the means to stop it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::system::Supervision;
/// use actix_supervisor::{ChildSpec, Grace, SupervisorActor};
///
/// #[derive(Default)]
/// struct Poller;
/// impl Actor for Poller { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Poller);
///
/// # actix::System::new().block_on(async {
/// let tree = SupervisorActor::builder("app")
///     .grace(Grace::Duration(Duration::from_secs(30)))
///     .child(ChildSpec::new("poller", Poller::default));
/// let supervision = Supervision::start(tree)?;
///
/// // Anywhere in the program, e.g. in an admin endpoint:
/// supervision.shutdown_handle().shutdown();
///
/// let report = supervision.run_until_shutdown().await?;
/// assert!(report.is_drained());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Supervision {
    root: Addr<SupervisorActor>,
    shutdown: CancellationToken,
    /// Cancelled as soon as a stop begins: a signal, a shutdown request, a
    /// call to `stop`.
    stopping: CancellationToken,
    /// What the exit status judges.
    exit_rule: ExitRule,
}

impl Supervision {
    /// Checks the tree and starts its root on the current actix system.
    ///
    /// # Errors
    ///
    /// The tree's [`BuildError`], when it cannot be built; nothing is started
    /// then.
    ///
    /// # Panics
    ///
    /// When called outside a running actix system.
    pub fn start(root: SupervisorBuilder) -> Result<Self, BuildError> {
        Ok(Supervision {
            root: root.start()?,
            shutdown: CancellationToken::new(),
            stopping: CancellationToken::new(),
            exit_rule: ExitRule::default(),
        })
    }

    /// Wraps a root supervisor started by other means, so that it can be
    /// run, stopped and served (`web`) like one started by
    /// [`start`](Supervision::start).
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_supervisor::system::Supervision;
    /// use actix_supervisor::SupervisorActor;
    ///
    /// # actix::System::new().block_on(async {
    /// let root = SupervisorActor::builder("app").start()?;
    /// let supervision = Supervision::from_root(root);
    /// assert!(!supervision.is_stopping());
    /// supervision.stop().await?;
    /// assert!(supervision.is_stopping());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn from_root(root: Addr<SupervisorActor>) -> Self {
        Supervision {
            root,
            shutdown: CancellationToken::new(),
            stopping: CancellationToken::new(),
            exit_rule: ExitRule::default(),
        }
    }

    /// Whether a stop of the tree began through this `Supervision` (or a
    /// clone of it): a signal or a shutdown request arrived, or
    /// [`stop`](Supervision::stop) was called. Readiness probes answer 503
    /// from then on.
    pub fn is_stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    /// The token cancelled once a stop began.
    #[cfg_attr(not(feature = "web"), allow(dead_code))]
    pub(crate) fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }

    /// Completes once a stop began (see [`is_stopping`](Supervision::is_stopping)).
    pub fn stop_begun(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.stopping.clone().cancelled_owned()
    }

    /// The root supervisor.
    pub fn root(&self) -> &Addr<SupervisorActor> {
        &self.root
    }

    /// A handle that triggers the same graceful shutdown as a signal.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// A snapshot of the whole tree.
    ///
    /// # Errors
    ///
    /// When the root supervisor is gone.
    pub async fn inspect(&self) -> Result<TreeSnapshot, MailboxError> {
        self.root.send(Inspect).await
    }

    /// Stops the whole tree gracefully and returns its report.
    ///
    /// # Errors
    ///
    /// When the root supervisor is gone.
    pub async fn stop(&self) -> Result<StopReport, MailboxError> {
        self.stopping.cancel();
        self.root.send(Stop).await
    }

    /// Waits for SIGINT, SIGTERM (Ctrl-C on Windows; no signal without the
    /// `signals` feature, see [Signals](self#signals)) or a
    /// [`ShutdownHandle`], then stops the whole tree gracefully and returns its report, logged at `info` when
    /// everything drained and at `warn` otherwise.
    ///
    /// Readiness drops ([`is_stopping`](Supervision::is_stopping)) as soon as
    /// the signal arrives. If the root gives up on its own meanwhile, it
    /// returns at once with the root's final report (its outcome
    /// [`StopOutcome::Failed`]), logged at `error`.
    ///
    /// # Errors
    ///
    /// When the root supervisor is gone.
    ///
    /// # Panics
    ///
    /// When the signal handlers cannot be installed (no tokio signal driver).
    pub async fn run_until_shutdown(self) -> Result<StopReport, MailboxError> {
        self.run_until_end().await.map(|(report, _)| report)
    }

    /// As [`run_until_shutdown`](Supervision::run_until_shutdown), then the
    /// exit status [`run`] would return for it (see the
    /// [module docs](self#exit-status-of-run)), with the report: for a
    /// program that runs its tree beside an actix-web server, e.g.
    /// `examples/web/06_actix_web.rs`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::process::ExitCode;
    /// use actix_supervisor::system::Supervision;
    /// use actix_supervisor::SupervisorActor;
    ///
    /// #[actix::main] // or #[actix_web::main], beside an actix-web server
    /// async fn main() -> ExitCode {
    ///     let supervision = Supervision::start(SupervisorActor::builder("app")).unwrap();
    ///     // ... start the HTTP server ...
    ///     match supervision.run_until_exit().await {
    ///         Ok((report, code)) => {
    ///             tracing::info!(%report, "stopped");
    ///             code
    ///         }
    ///         Err(_) => ExitCode::FAILURE,
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// When the root supervisor is gone.
    ///
    /// # Panics
    ///
    /// When the signal handlers cannot be installed (no tokio signal driver).
    pub async fn run_until_exit(self) -> Result<(StopReport, ExitCode), MailboxError> {
        let rule = self.exit_rule;
        let (report, gave_up) = self.run_until_end().await?;
        let code = if gave_up {
            ExitCode::from(GAVE_UP)
        } else {
            exit_code_with(&report, rule)
        };
        Ok((report, code))
    }

    /// What [`run_until_exit`](Supervision::run_until_exit) judges for its
    /// exit status (default [`ExitRule::StoppedNodes`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_supervisor::system::{ExitRule, Supervision};
    /// use actix_supervisor::SupervisorActor;
    ///
    /// # actix::System::new().block_on(async {
    /// let supervision = Supervision::start(SupervisorActor::builder("app"))?
    ///     .exit_rule(ExitRule::EveryNode);
    /// # drop(supervision);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn exit_rule(mut self, rule: ExitRule) -> Self {
        self.exit_rule = rule;
        self
    }

    /// As `run_until_shutdown`, also saying whether the root gave up on its
    /// own (`true`) rather than being asked to stop.
    async fn run_until_end(self) -> Result<(StopReport, bool), MailboxError> {
        // Installed first, so that a signal arriving from now on stops the
        // tree instead of killing the process.
        let stop_signal = stop_signal();
        // Subscribed before anything else, so that an end of the root is
        // not missed between the check and the wait.
        let events = self.root.send(Subscribe::all()).await?;
        let root_path = self.root_path().await;
        tracing::info!(path = %root_path, "running; waiting for {WAITING_FOR}");
        let (cause, on_its_own) = tokio::select! {
            cause = stop_signal => (cause, false),
            () = self.shutdown.cancelled() => ("a shutdown request", false),
            () = root_ended(&self.root, events) => ("the root ended on its own", true),
        };
        self.stopping.cancel();
        tracing::info!(cause, "stopping the supervision tree");
        let report = self.root.send(Stop).await?;
        if on_its_own {
            let gave_up = matches!(report.outcome, StopOutcome::Failed(_));
            tracing::error!(report = %report, gave_up, "the supervision tree ended on its own");
            return Ok((report, gave_up));
        }
        if report.is_drained() {
            tracing::info!(report = %report, "the supervision tree stopped; everything drained");
        } else {
            tracing::warn!(report = %report, "the supervision tree stopped; not everything drained");
        }
        Ok((report, false))
    }

    async fn root_path(&self) -> String {
        match self.root.send(Inspect).await {
            Ok(tree) => tree.root.path.to_string(),
            Err(_) => "(gone)".to_string(),
        }
    }
}

/// What [`Supervision::run_until_shutdown`] waits for, as its log line says.
#[cfg(all(feature = "signals", unix))]
const WAITING_FOR: &str = "SIGINT or SIGTERM";
#[cfg(all(feature = "signals", windows))]
const WAITING_FOR: &str = "Ctrl-C";
#[cfg(not(all(feature = "signals", any(unix, windows))))]
const WAITING_FOR: &str = "a shutdown request";

/// Installs the handlers of the signals that stop a tree (SIGINT and SIGTERM
/// on Unix, Ctrl-C on Windows) and returns a future that completes with the
/// name of the first one received.
///
/// # Panics
///
/// When the handlers cannot be installed (no tokio signal driver).
#[cfg(all(feature = "signals", unix))]
fn stop_signal() -> impl std::future::Future<Output = &'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    async move {
        tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        }
    }
}

/// Installs the Ctrl-C handler and returns a future that completes when
/// Ctrl-C is pressed.
///
/// # Panics
///
/// When the handler cannot be installed (no tokio signal driver).
#[cfg(all(feature = "signals", windows))]
fn stop_signal() -> impl std::future::Future<Output = &'static str> {
    let mut ctrl_c = tokio::signal::windows::ctrl_c().expect("installing a Ctrl-C handler");
    async move {
        ctrl_c.recv().await;
        "Ctrl-C"
    }
}

/// Without the `signals` feature (or on a platform without signals), no
/// signal stops the tree: a future that never completes.
#[cfg(not(all(feature = "signals", any(unix, windows))))]
fn stop_signal() -> impl std::future::Future<Output = &'static str> {
    std::future::pending()
}

/// Completes when the root supervisor has ended (given up, or stopped by
/// someone else); never otherwise.
async fn root_ended(root: &Addr<SupervisorActor>, mut events: crate::events::EventStream) {
    let has_ended = || async {
        match root.send(Inspect).await {
            Ok(tree) => tree.root.state.is_terminal(),
            Err(_) => true,
        }
    };
    if has_ended().await {
        return;
    }
    let root_path = match root.send(Inspect).await {
        Ok(tree) => tree.root.path,
        Err(_) => return,
    };
    while let Some(event) = events.next().await {
        let ended = match &event.kind {
            EventKind::GaveUp { .. } | EventKind::Stopped { .. } => event.path == root_path,
            // Events were missed: ask instead.
            EventKind::Lagged { .. } => has_ended().await,
            _ => false,
        };
        if ended {
            return;
        }
    }
    // The event channel closed: the tree is gone.
}

/// Triggers the graceful shutdown of a [`Supervision`] from anywhere, as a
/// signal would. Cheap to clone; can be sent to other threads.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(CancellationToken);

impl ShutdownHandle {
    /// Starts the shutdown; calling it again does nothing more.
    pub fn shutdown(&self) {
        self.0.cancel();
    }
}

/// What the exit status of [`run`] judges in the final report.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use actix_supervisor::system::{self, ExitRule};
/// use actix_supervisor::SupervisorActor;
///
/// fn main() -> std::process::ExitCode {
///     let tree = SupervisorActor::builder("app");
///     // Fail the process also for a one-shot child that failed long ago.
///     system::run_with(tree, Duration::from_secs(30), ExitRule::EveryNode)
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitRule {
    /// Success when the root stopped within its grace and every node the
    /// stop stopped drained ([`SubtreeSummary::stopped_cleanly`]); nodes
    /// that had ended on their own before the stop are not judged.
    ///
    /// [`SubtreeSummary::stopped_cleanly`]: crate::SubtreeSummary::stopped_cleanly
    #[default]
    StoppedNodes,
    /// Success only when every node in the report drained
    /// ([`StopReport::is_drained`]), including those that had ended on
    /// their own before the stop.
    EveryNode,
}

/// The exit status a report of a requested stop calls for, under the
/// default [`ExitRule::StoppedNodes`]: success when the root stopped within
/// its grace and every node the stop stopped drained, failure (1)
/// otherwise. [`run`] exits with 3 instead when the root gave up on its
/// own; see the [module docs](self#exit-status-of-run).
pub fn exit_code(report: &StopReport) -> ExitCode {
    exit_code_with(report, ExitRule::default())
}

/// The exit status a report of a requested stop calls for under `rule`.
pub fn exit_code_with(report: &StopReport, rule: ExitRule) -> ExitCode {
    let success = match rule {
        ExitRule::StoppedNodes => {
            report.outcome == StopOutcome::Drained && report.summary().stopped_cleanly()
        }
        ExitRule::EveryNode => report.is_drained(),
    };
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The exit status of a root that gave up on its own.
const GAVE_UP: u8 = 3;

/// Runs a supervision tree as the whole program: starts a new actix `System`,
/// starts the tree with `grace` as its global grace, waits for SIGINT or
/// SIGTERM (Ctrl-C on Windows), stops the tree, logs the final report, and returns the exit
/// status: 0 when every node the stop stopped drained, 1 when not, 2 when
/// the tree could not be built (the error is logged), 3 when the root gave
/// up on its own (it returns then, without a signal, so that an
/// orchestrator restarts the process); see the
/// [module docs](self#exit-status-of-run).
/// Needs the `signals` feature (on by default).
///
/// # Examples
///
/// ```no_run
/// use std::process::ExitCode;
/// use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::{ChildSpec, SupervisorActor};
///
/// #[derive(Default)]
/// struct Reconciler;
/// impl Actor for Reconciler { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Reconciler);
///
/// fn main() -> ExitCode {
///     let tree = SupervisorActor::builder("app")
///         .child(ChildSpec::new("reconciler", Reconciler::default));
///     actix_supervisor::system::run(tree, Duration::from_secs(30))
/// }
/// ```
#[cfg(feature = "signals")]
pub fn run(root: SupervisorBuilder, grace: std::time::Duration) -> ExitCode {
    run_with(root, grace, ExitRule::default())
}

/// As [`run`], with the exit status judged by `rule`.
#[cfg(feature = "signals")]
pub fn run_with(root: SupervisorBuilder, grace: std::time::Duration, rule: ExitRule) -> ExitCode {
    actix::System::new().block_on(async move {
        let supervision =
            match Supervision::start(root.grace(crate::policy::Grace::Duration(grace))) {
                Ok(supervision) => supervision.exit_rule(rule),
                Err(err) => {
                    tracing::error!(%err, "the supervision tree cannot be built");
                    return ExitCode::from(2);
                }
            };
        match supervision.run_until_exit().await {
            Ok((_, code)) => code,
            Err(err) => {
                tracing::error!(%err, "the root supervisor is gone");
                ExitCode::FAILURE
            }
        }
    })
}
