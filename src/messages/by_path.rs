//! Control by path: [`StopChildAt`], [`RestartChildAt`], [`RemoveChildAt`],
//! [`SupervisorAt`] and [`ChildAt`] name a node by its [`NodePath`] from the
//! supervisor they are sent to (usually the root), and are routed through
//! nested supervisors to the one that owns the node. The by-name forms
//! ([`StopChild`](crate::StopChild), ...) stay for a supervisor's own
//! children.
//!
//! Every refusal is a [`PathError`] that names the path: a path that is not
//! well formed, a node that does not exist, the supervisor the message was
//! sent to (stop it with [`Stop`](crate::Stop)), a node that ended, a
//! supervisor on the way that is stopping.

use std::fmt;
use std::marker::PhantomData;

use actix::{Actor, Addr, Message};
use thiserror::Error;

use crate::actors::SupervisorActor;
use crate::child::ChildHandle;
use crate::error::ControlError;
use crate::messages::stop::StopReport;
use crate::tree::{NodeKind, NodePath};

/// Why a message addressed by path was refused.
///
/// # Examples
///
/// ```
/// use actix_supervisor::path::{NodePath, PathError, StopChildAt};
/// use actix_supervisor::SupervisorActor;
///
/// # actix::System::new().block_on(async {
/// let app = SupervisorActor::builder("app").start()?;
/// let missing = NodePath::parse("/app/nothing")?;
/// let refused = app.send(StopChildAt::new(missing.clone())).await?;
/// assert_eq!(refused.unwrap_err(), PathError::Unknown { path: missing });
/// let root = app.send(StopChildAt::new(NodePath::parse("/app")?)).await?;
/// assert!(matches!(root, Err(PathError::Protected { .. })));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PathError {
    /// The text is not a well-formed path (see [`NodePath::parse`]).
    #[error("invalid path {path:?}: {reason}")]
    Invalid {
        /// The text as given (cut to 256 bytes).
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No node has that path (or a node on the way is not a supervisor).
    #[error("{path}: no such node")]
    Unknown {
        /// The path asked for.
        path: NodePath,
    },
    /// The node cannot be controlled this way: the supervisor the message
    /// was sent to (send it [`Stop`](crate::Stop) instead), or a node the
    /// caller protects.
    #[error("{path}: the node is protected: {reason}")]
    Protected {
        /// The node.
        path: NodePath,
        /// Why.
        reason: String,
    },
    /// The node has ended for good and cannot be restarted.
    #[error("{path}: the node has ended")]
    Ended {
        /// The node.
        path: NodePath,
    },
    /// A supervisor on the way is stopping (or gone) and takes no changes.
    #[error("{path}: its supervisor is stopping")]
    Stopping {
        /// The node asked for.
        path: NodePath,
    },
    /// The owning supervisor refused for another reason.
    #[error(transparent)]
    Control(ControlError),
    /// The node runs another actor type than the one asked for
    /// ([`ChildAt`]).
    #[error("{path}: the node is a {kind:?} node, not a `{expected}`; ask for its own actor type")]
    WrongType {
        /// The node.
        path: NodePath,
        /// The actor type asked for.
        expected: &'static str,
        /// What the node is.
        kind: NodeKind,
    },
}

impl PathError {
    /// The error for the node at `path` that its owner answered with
    /// `error`.
    pub(crate) fn from_control(path: &NodePath, error: ControlError) -> Self {
        match error {
            ControlError::UnknownChild { .. } => PathError::Unknown { path: path.clone() },
            ControlError::ChildEnded { .. } => PathError::Ended { path: path.clone() },
            ControlError::SupervisorStopping { .. } => PathError::Stopping { path: path.clone() },
            other => PathError::Control(other),
        }
    }
}

/// Stops the node at a path gracefully (its drain, its grace), through the
/// supervisor that owns it, and answers its report. The node stays in its
/// supervisor's table, `Stopped`.
///
/// # Errors
///
/// [`PathError::Unknown`], [`PathError::Protected`] for the supervisor the
/// message is sent to, [`PathError::Stopping`].
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::path::{NodePath, StopChildAt};
/// use actix_supervisor::{ChildSpec, SupervisorActor};
///
/// #[derive(Default)]
/// struct Poller;
/// impl Actor for Poller { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Poller);
///
/// # actix::System::new().block_on(async {
/// let ingest = SupervisorActor::builder("ingest").child(ChildSpec::new("poller", Poller::default));
/// let app = SupervisorActor::builder("app").child(ingest).start()?;
/// let path = NodePath::parse("/app/ingest/poller")?;
/// let report = app.send(StopChildAt::new(path)).await??;
/// assert!(report.is_drained());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct StopChildAt(pub(crate) NodePath);

impl StopChildAt {
    /// Stops the node at `path`.
    pub fn new(path: NodePath) -> Self {
        StopChildAt(path)
    }
}

impl Message for StopChildAt {
    type Result = Result<StopReport, PathError>;
}

/// Restarts the node at a path, through the supervisor that owns it, as
/// [`RestartChild`](crate::RestartChild) does: drains its incarnation, then
/// starts a fresh one. Answers once the new incarnation is starting.
///
/// # Errors
///
/// [`PathError::Unknown`], [`PathError::Protected`], [`PathError::Ended`],
/// [`PathError::Stopping`].
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::path::{NodePath, RestartChildAt};
/// use actix_supervisor::{ChildSpec, SupervisorActor};
///
/// #[derive(Default)]
/// struct Poller;
/// impl Actor for Poller { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Poller);
///
/// # actix::System::new().block_on(async {
/// let spec = ChildSpec::new("poller", Poller::default);
/// let poller = spec.handle();
/// let app = SupervisorActor::builder("app").child(spec).start()?;
/// poller.started().await?;
/// app.send(RestartChildAt::new(NodePath::parse("/app/poller")?)).await??;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct RestartChildAt(pub(crate) NodePath);

impl RestartChildAt {
    /// Restarts the node at `path`.
    pub fn new(path: NodePath) -> Self {
        RestartChildAt(path)
    }
}

impl Message for RestartChildAt {
    type Result = Result<(), PathError>;
}

/// Stops the node at a path, if it still runs, and removes it from its
/// supervisor's table, as [`RemoveChild`](crate::RemoveChild) does. Answers
/// its report.
///
/// # Errors
///
/// [`PathError::Unknown`], [`PathError::Protected`], and
/// [`PathError::Control`] with [`ControlError::HasDependents`] when siblings
/// depend on it.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::path::{NodePath, RemoveChildAt};
/// use actix_supervisor::{ChildSpec, Inspect, SupervisorActor};
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// # actix::System::new().block_on(async {
/// let pool = SupervisorActor::builder("pool").child(ChildSpec::new("job-1", Job::default));
/// let app = SupervisorActor::builder("app").child(pool).start()?;
/// app.send(RemoveChildAt::new(NodePath::parse("/app/pool/job-1")?)).await??;
/// assert!(app.send(Inspect).await?.find("/app/pool/job-1").is_none());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct RemoveChildAt(pub(crate) NodePath);

impl RemoveChildAt {
    /// Removes the node at `path`.
    pub fn new(path: NodePath) -> Self {
        RemoveChildAt(path)
    }
}

impl Message for RemoveChildAt {
    type Result = Result<StopReport, PathError>;
}

/// Asks for the address of the supervisor at a path (the one the message is
/// sent to, or one nested below it), e.g. to [`Inspect`](crate::Inspect) a
/// subtree or to [`StartChild`](crate::StartChild) under it.
///
/// # Errors
///
/// [`PathError::Unknown`] when no node has that path or the node is not a
/// supervisor.
///
/// # Examples
///
/// ```
/// use actix_supervisor::path::{NodePath, SupervisorAt};
/// use actix_supervisor::{Inspect, SupervisorActor};
///
/// # actix::System::new().block_on(async {
/// let app = SupervisorActor::builder("app")
///     .child(SupervisorActor::builder("ingest"))
///     .start()?;
/// let ingest = app.send(SupervisorAt::new(NodePath::parse("/app/ingest")?)).await??;
/// assert_eq!(ingest.send(Inspect).await?.root.path.as_str(), "/app/ingest");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SupervisorAt(pub(crate) NodePath);

impl SupervisorAt {
    /// The supervisor at `path`.
    pub fn new(path: NodePath) -> Self {
        SupervisorAt(path)
    }
}

impl Message for SupervisorAt {
    type Result = Result<Addr<SupervisorActor>, PathError>;
}

/// Asks for a [`ChildHandle`] to the node at a path, with its actor type
/// checked: for a tree whose specs were not at hand when it was built (one
/// loaded from a configuration file, children started elsewhere), or to
/// reach a nested supervisor (`ChildAt::<SupervisorActor>`), whose handle
/// tells when it [`started`](ChildHandle::started) (its children finished
/// their start) and gives its [`token`](ChildHandle::token) and address; it
/// takes no counted messages, and is stopped with [`StopChildAt`].
///
/// # Errors
///
/// [`PathError::Unknown`] when no node has that path,
/// [`PathError::WrongType`] when it runs another actor type,
/// [`PathError::Ended`] when it has ended for good (its mailbox is closed),
/// [`PathError::Protected`] for the supervisor the message is sent to (you
/// hold its address).
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
/// use actix_supervisor::path::{ChildAt, NodePath, PathError};
///
/// #[derive(Default)]
/// struct Store { rows: u64 }
/// impl Actor for Store { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Store);
///
/// #[derive(Message)]
/// #[rtype(result = "u64")]
/// struct Insert;
/// impl Handler<Insert> for Store {
///     type Result = u64;
///     fn handle(&mut self, _: Insert, _: &mut Context<Self>) -> u64 {
///         self.rows += 1;
///         self.rows
///     }
/// }
///
/// # actix::System::new().block_on(async {
/// let ingest = SupervisorActor::builder("ingest").child(ChildSpec::new("store", Store::default));
/// let app = SupervisorActor::builder("app").child(ingest).start()?;
///
/// let path = NodePath::parse("/app/ingest/store")?;
/// let store = app.send(ChildAt::<Store>::new(path.clone())).await??;
/// assert_eq!(store.send(Insert).await?, 1);
///
/// let wrong = app.send(ChildAt::<SupervisorActor>::new(path)).await?;
/// assert!(matches!(wrong, Err(PathError::WrongType { .. })));
///
/// let ingest = NodePath::parse("/app/ingest")?;
/// let ingest = app.send(ChildAt::<SupervisorActor>::new(ingest)).await??;
/// ingest.started().await?;
/// let token = ingest.token().await?;
/// app.send(Stop).await?;
/// assert!(token.is_cancelled());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct ChildAt<A: Actor> {
    pub(crate) path: NodePath,
    actor: PhantomData<fn() -> A>,
}

impl<A: Actor> ChildAt<A> {
    /// A handle to the node at `path`, which runs an `A`.
    pub fn new(path: NodePath) -> Self {
        ChildAt {
            path,
            actor: PhantomData,
        }
    }
}

impl<A: Actor> fmt::Debug for ChildAt<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildAt")
            .field("path", &self.path)
            .field("actor", &std::any::type_name::<A>())
            .finish()
    }
}

impl<A: Actor> Clone for ChildAt<A> {
    fn clone(&self) -> Self {
        ChildAt::new(self.path.clone())
    }
}

impl<A: Actor> Message for ChildAt<A> {
    type Result = Result<ChildHandle<A>, PathError>;
}
