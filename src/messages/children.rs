//! Changing a supervisor's children at runtime: [`StartChild`],
//! [`StopChild`], [`RestartChild`], [`RemoveChild`]. The rest of the tree
//! keeps running meanwhile.

use actix::Message;

use crate::error::ControlError;
use crate::messages::stop::StopReport;
use crate::spec::AnyChildSpec;

/// Adds a child to a running supervisor and starts it, after the others.
///
/// Keep a [`ChildHandle`](crate::ChildHandle) from the spec before sending
/// it: its [`started`](crate::ChildHandle::started) future tells how the
/// start went.
///
/// # Errors
///
/// [`ControlError::InvalidSpec`] for a duplicate or invalid name, a bad field
/// or an unknown dependency; [`ControlError::SupervisorStopping`] when the
/// supervisor is stopping.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::{ChildSpec, RestartPolicy, StartChild, SupervisorActor};
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// # actix::System::new().block_on(async {
/// let app = SupervisorActor::builder("app").start().unwrap();
/// let spec = ChildSpec::new("backfill", Job::default).restart(RestartPolicy::Never);
/// let job = spec.handle();
/// app.send(StartChild::new(spec)).await.unwrap().unwrap();
/// assert!(job.started().await.is_ok());
/// # });
/// ```
#[derive(Debug)]
pub struct StartChild(pub(crate) AnyChildSpec);

impl StartChild {
    /// Starts `spec` as a new child.
    pub fn new(spec: impl Into<AnyChildSpec>) -> Self {
        StartChild(spec.into())
    }
}

impl Message for StartChild {
    type Result = Result<(), ControlError>;
}

/// Stops one child gracefully (its drain, its grace) and answers its report
/// once it stopped; the child stays in the table, `Stopped` (unless it is
/// [temporary](crate::ChildSpec::remove_on_exit): then it leaves), and
/// [`RestartChild`] can start it again.
///
/// # Errors
///
/// [`ControlError::UnknownChild`].
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// # actix::System::new().block_on(async {
/// let app = SupervisorActor::builder("app")
///     .child(ChildSpec::new("job", Job::default))
///     .start()?;
/// let report = app.send(StopChild::new("job")).await??;
/// assert_eq!(report.path.as_str(), "/app/job");
/// let tree = app.send(Inspect).await?;
/// assert_eq!(tree.find("/app/job").unwrap().state, NodeState::Stopped);
///
/// let unknown = app.send(StopChild::new("nobody")).await?;
/// assert!(matches!(unknown, Err(ControlError::UnknownChild { .. })));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct StopChild(pub(crate) String);

impl StopChild {
    /// Stops the child called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        StopChild(name.into())
    }
}

impl Message for StopChild {
    type Result = Result<StopReport, ControlError>;
}

/// Restarts one child: drains its current incarnation to the end of its
/// mailbox as it is now, then starts a fresh one; messages sent meanwhile
/// wait for it (even when the current incarnation holds its mailbox, in a
/// `ctx.wait` or an `AtomicResponse`, when the request comes, when
/// [`ChildFuture`](crate::ChildFuture)s of the draining incarnation are
/// still running at the end of the drain, or when its `stopping` answers
/// `Running::Continue`). What a [`ChildHandle`](crate::ChildHandle) sent is
/// held back for the new incarnation, which handles it first, in order;
/// messages sent through a raw `Addr` past the end of the drain may still
/// reach the old incarnation while it runs on. Answers once the new
/// incarnation is starting. A child that
/// ends on its own while the request waits (a normal end its policy does
/// not restart) is started again, as an ended child is (below).
///
/// # A child that ended
///
/// A child that ended (stopped with [`StopChild`] or its handle, ended
/// normally, or failed and not restarted by its policy) is **started
/// again** from its spec's factory, as its next incarnation (OTP's
/// `terminate_child` then `restart_child`). It keeps its name, its place in
/// start order and its dependencies; its restart rules start afresh, and a
/// start on request does not count against the restart intensity.
///
/// - Its [`ChildHandle`](crate::ChildHandle)s reach the new incarnation:
///   sends, [`stop`](crate::ChildHandle::stop),
///   [`started`](crate::ChildHandle::started) and
///   [`address`](crate::ChildHandle::address) follow it. A stop asked before it
///   started again answers the report of the start it stopped.
/// - A raw `Addr` taken before the child ended saw every send fail at once
///   (`MailboxError::Closed`) once it ended, and stays closed after: the new
///   incarnation has a new mailbox. Take the address again from a handle.
///
/// A temporary child ([`ChildSpec::remove_on_exit`](crate::ChildSpec::remove_on_exit))
/// has left the table when it ended, so it cannot be started again; nor can
/// a nested supervisor that ended.
///
/// # Errors
///
/// [`ControlError::UnknownChild`], [`ControlError::ChildEnded`] for a child
/// that ended and cannot start again (a nested supervisor),
/// [`ControlError::ChildStopping`] for a child a stop or a [`RemoveChild`]
/// is ending (it will end, and not start again),
/// [`ControlError::SupervisorStopping`].
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// # actix::System::new().block_on(async {
/// let app = SupervisorActor::builder("app")
///     .child(ChildSpec::new("job", Job::default))
///     .start()?;
/// app.send(RestartChild::new("job")).await??;
/// let tree = app.send(Inspect).await?;
/// assert_eq!(tree.find("/app/job").unwrap().incarnation, 2);
///
/// // Stopped, then started again: incarnation 3.
/// app.send(StopChild::new("job")).await??;
/// app.send(RestartChild::new("job")).await??;
/// let tree = app.send(Inspect).await?;
/// assert_eq!(tree.find("/app/job").unwrap().incarnation, 3);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct RestartChild(pub(crate) String);

impl RestartChild {
    /// Restarts the child called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        RestartChild(name.into())
    }
}

impl Message for RestartChild {
    type Result = Result<(), ControlError>;
}

/// Stops one child gracefully, if it still runs, and removes it from the
/// table; its name can then be used again. Answers its report. Until then,
/// a [`RestartChild`] of it answers [`ControlError::ChildStopping`]: nothing
/// starts a child that is being removed.
///
/// # Errors
///
/// [`ControlError::UnknownChild`]; [`ControlError::HasDependents`] when other
/// children depend on it.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// # actix::System::new().block_on(async {
/// let app = SupervisorActor::builder("app")
///     .child(ChildSpec::new("job", Job::default))
///     .start()?;
/// let report = app.send(RemoveChild::new("job")).await??;
/// assert!(report.is_drained());
/// assert!(app.send(Inspect).await?.find("/app/job").is_none());
/// // The name is free again.
/// app.send(StartChild::new(ChildSpec::new("job", Job::default))).await??;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct RemoveChild(pub(crate) String);

impl RemoveChild {
    /// Removes the child called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        RemoveChild(name.into())
    }
}

impl Message for RemoveChild {
    type Result = Result<StopReport, ControlError>;
}
