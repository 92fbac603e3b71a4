//! The entry point of an application's supervision tree: [`Supervision`]
//! starts the root supervisor inside an actix `System` (or the runtime of an
//! actix-web app), and on SIGINT, SIGTERM or a [`ShutdownHandle`] stops the
//! whole tree gracefully within the root's grace, the global grace; [`run`]
//! does all of it for a program's `main` and turns the report into an exit
//! status.
//!
//! In an actix-web app, which handles the signals itself, start the tree with
//! [`Supervision::start`] before the server, and call
//! [`Supervision::stop`] after the server's future returns.

use std::process::ExitCode;
use std::time::Duration;

use actix::{Addr, MailboxError};
use tokio_util::sync::CancellationToken;

use crate::actors::{SupervisorActor, SupervisorBuilder};
use crate::error::BuildError;
use crate::messages::{Inspect, Stop, StopReport};
use crate::policy::Grace;
use crate::tree::TreeSnapshot;

/// A running supervision tree: its root supervisor and the means to stop it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::{system::Supervision, ChildSpec, Grace, SupervisorActor};
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
#[derive(Debug)]
pub struct Supervision {
    root: Addr<SupervisorActor>,
    shutdown: CancellationToken,
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
        })
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
        self.root.send(Stop).await
    }

    /// Waits for SIGINT, SIGTERM or a [`ShutdownHandle`], then stops the
    /// whole tree gracefully and returns its report, logged at `info` when
    /// everything drained and at `warn` otherwise.
    ///
    /// # Errors
    ///
    /// When the root supervisor is gone.
    ///
    /// # Panics
    ///
    /// When the signal handlers cannot be installed (no tokio signal driver).
    pub async fn run_until_shutdown(self) -> Result<StopReport, MailboxError> {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler");
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .expect("installing a SIGINT handler");
        tracing::info!(path = %self.root_path().await, "running; waiting for SIGINT or SIGTERM");
        let cause = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
            () = self.shutdown.cancelled() => "a shutdown request",
        };
        tracing::info!(cause, "stopping the supervision tree");
        let report = self.stop().await?;
        if report.is_drained() {
            tracing::info!(report = %report, "the supervision tree stopped; everything drained");
        } else {
            tracing::warn!(report = %report, "the supervision tree stopped; not everything drained");
        }
        Ok(report)
    }

    async fn root_path(&self) -> String {
        match self.root.send(Inspect).await {
            Ok(tree) => tree.root.path.to_string(),
            Err(_) => "(gone)".to_string(),
        }
    }
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

/// The exit status a report calls for: success when every node drained,
/// failure otherwise.
pub fn exit_code(report: &StopReport) -> ExitCode {
    if report.is_drained() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs a supervision tree as the whole program: starts a new actix `System`,
/// starts the tree with `grace` as its global grace, waits for SIGINT or
/// SIGTERM, stops the tree, and returns the exit status: 0 when everything
/// drained, 1 when not, 2 when the tree could not be built (the error is
/// logged).
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
pub fn run(root: SupervisorBuilder, grace: Duration) -> ExitCode {
    actix::System::new().block_on(async move {
        let supervision = match Supervision::start(root.grace(Grace::Duration(grace))) {
            Ok(supervision) => supervision,
            Err(err) => {
                tracing::error!(%err, "the supervision tree cannot be built");
                return ExitCode::from(2);
            }
        };
        match supervision.run_until_shutdown().await {
            Ok(report) => exit_code(&report),
            Err(err) => {
                tracing::error!(%err, "the root supervisor is gone");
                ExitCode::FAILURE
            }
        }
    })
}
