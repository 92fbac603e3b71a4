//! Every public error type of the crate.
//!
//! Each error names the node it concerns by its [`NodePath`], and, for
//! configuration, the field. All are `#[non_exhaustive]` so that new failure
//! modes can be added without breaking anyone's `match`.

use thiserror::Error;

use crate::tree::{Failure, NodePath};

/// A tree that cannot be built: refused before anything starts.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix_supervisor::{Backoff, BuildError, ChildSpec, SupervisorActor};
/// # use actix::prelude::*;
/// # #[derive(Default)] struct Idle;
/// # impl Actor for Idle { type Context = Context<Self>; }
/// # actix_supervisor::supervised!(Idle);
///
/// # actix::System::new().block_on(async {
/// let spec = ChildSpec::new("idle", Idle::default)
///     .backoff(Backoff::new(Duration::from_secs(5), Duration::from_secs(1)));
/// let err = SupervisorActor::builder("app").child(spec).start().unwrap_err();
/// assert!(matches!(err, BuildError::InvalidField { field: "backoff.max", .. }));
/// assert_eq!(err.path().as_str(), "/app/idle");
/// assert!(err.to_string().contains("backoff.max"));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A field of a node's spec has a value that cannot be used.
    #[error("{path}: invalid `{field}`: {reason}")]
    InvalidField {
        /// The node whose spec is wrong.
        path: NodePath,
        /// The field, e.g. `backoff.max`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A child's name is empty, contains `/`, or contains a control
    /// character.
    #[error("{parent}: invalid child name {name:?}: {reason}")]
    InvalidName {
        /// The supervisor the child was given to.
        parent: NodePath,
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The children's dependencies form a cycle.
    #[error("{parent}: dependency cycle: {}", cycle.join(" -> "))]
    DependencyCycle {
        /// The supervisor the children were given to.
        parent: NodePath,
        /// The names in the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// Two children of one supervisor have the same name.
    #[error("{parent}: duplicate child name {name:?}")]
    DuplicateName {
        /// The supervisor the children were given to.
        parent: NodePath,
        /// The name used twice.
        name: String,
    },
    /// Supervisors are nested deeper than the library allows
    /// ([`SupervisorBuilder::MAX_DEPTH`](crate::SupervisorBuilder::MAX_DEPTH)
    /// levels below the root).
    #[error("{path}: supervisors nested deeper than {limit} levels")]
    TooDeep {
        /// The first supervisor past the limit.
        path: NodePath,
        /// The deepest nesting allowed.
        limit: usize,
    },
}

impl BuildError {
    /// The node the error is about (for name errors, the supervisor that was
    /// given the bad name).
    pub fn path(&self) -> &NodePath {
        match self {
            BuildError::InvalidField { path, .. } | BuildError::TooDeep { path, .. } => path,
            BuildError::InvalidName { parent, .. }
            | BuildError::DuplicateName { parent, .. }
            | BuildError::DependencyCycle { parent, .. } => parent,
        }
    }
}

/// Checks a node name: non-empty, no `/`, no control characters.
///
/// A control character would let a name forge output: a newline in a name
/// writes an extra line into the tree's outline and into every log line that
/// carries the node's path.
pub(crate) fn check_name(parent: &NodePath, name: &str) -> Result<(), BuildError> {
    // The common case, checked per byte: printable ASCII without `/`
    // (every name of a large tree is checked when it is built).
    if !name.is_empty() && name.bytes().all(|b| b != b'/' && (0x20..0x7f).contains(&b)) {
        return Ok(());
    }
    let reason = if name.is_empty() {
        "a name cannot be empty"
    } else if name.contains('/') {
        "a name cannot contain `/`, which separates the names in a path"
    } else if name.chars().any(char::is_control) {
        "a name cannot contain control characters (a newline, a tab, an escape, ...), \
         which would forge lines in the tree's outline and in logs"
    } else {
        return Ok(());
    };
    Err(BuildError::InvalidName {
        parent: parent.clone(),
        name: name.to_string(),
        reason,
    })
}

/// A message a [`ChildHandle`](crate::ChildHandle) could not deliver, or a
/// reply that will never come.
///
/// When the message was never accepted, it is handed back
/// ([`into_message`](SendError::into_message)).
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
/// use actix_supervisor::SendError;
///
/// #[derive(Default)]
/// struct Store;
/// impl Actor for Store { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Store);
///
/// #[derive(Message, Debug, PartialEq)]
/// #[rtype(result = "()")]
/// struct Put(u32);
/// impl Handler<Put> for Store {
///     type Result = ();
///     fn handle(&mut self, _: Put, _: &mut Context<Self>) {}
/// }
///
/// # actix::System::new().block_on(async {
/// let spec = ChildSpec::new("store", Store::default);
/// let store = spec.handle();
/// let app = SupervisorActor::builder("app").child(spec).start()?;
/// app.send(Stop).await?;
///
/// let err = store.send(Put(7)).await.unwrap_err();
/// assert!(matches!(err, SendError::Stopping { .. } | SendError::Gone { .. }));
/// assert_eq!(err.path().as_str(), "/app/store");
/// assert_eq!(err.into_message(), Some(Put(7))); // never accepted: handed back
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Error)]
#[non_exhaustive]
pub enum SendError<M> {
    /// The child is stopping; the message was not accepted.
    #[error("{path}: the child is stopping and takes no new messages")]
    Stopping {
        /// The child.
        path: NodePath,
        /// The message, handed back.
        message: M,
    },
    /// The child will not run again; the message was not accepted.
    #[error("{path}: the child has stopped and will not run again")]
    Gone {
        /// The child.
        path: NodePath,
        /// The message, handed back.
        message: M,
    },
    /// The mailbox is full (`try_send` only); the message was not accepted.
    #[error("{path}: the child's mailbox is full")]
    Full {
        /// The child.
        path: NodePath,
        /// The message, handed back.
        message: M,
    },
    /// The message was accepted, but the incarnation that was handling it
    /// ended before answering (a panic, or termination at the end of a grace).
    #[error("{path}: the child ended before answering")]
    NoReply {
        /// The child.
        path: NodePath,
    },
}

impl<M> SendError<M> {
    /// The child the message was for.
    pub fn path(&self) -> &NodePath {
        match self {
            SendError::Stopping { path, .. }
            | SendError::Gone { path, .. }
            | SendError::Full { path, .. }
            | SendError::NoReply { path } => path,
        }
    }

    /// The message, when it was never accepted.
    pub fn into_message(self) -> Option<M> {
        match self {
            SendError::Stopping { message, .. }
            | SendError::Gone { message, .. }
            | SendError::Full { message, .. } => Some(message),
            SendError::NoReply { .. } => None,
        }
    }
}

impl<M> std::fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let variant = match self {
            SendError::Stopping { .. } => "Stopping",
            SendError::Gone { .. } => "Gone",
            SendError::Full { .. } => "Full",
            SendError::NoReply { .. } => "NoReply",
        };
        f.debug_struct(variant)
            .field("path", self.path())
            .finish_non_exhaustive()
    }
}

/// Why a child's first start did not succeed; see
/// [`ChildHandle::started`](crate::ChildHandle::started).
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// struct Client;
/// impl Actor for Client { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Client);
///
/// # actix::System::new().block_on(async {
/// # std::panic::set_hook(Box::new(|_| {})); // keep the example's output quiet
/// let spec = ChildSpec::new("client", || -> Client { panic!("no such host") })
///     .restart(RestartPolicy::Never);
/// let client = spec.handle();
/// let _app = SupervisorActor::builder("app").child(spec).start()?;
///
/// match client.started().await {
///     Err(StartError::StartFailed { path, reason }) => {
///         assert_eq!(path.as_str(), "/app/client");
///         assert!(reason.to_string().contains("no such host"));
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The factory or `started` failed or panicked.
    #[error("{path}: the start failed: {reason}")]
    StartFailed {
        /// The child.
        path: NodePath,
        /// What failed, with the panic message or error.
        reason: Failure,
    },
    /// The child will never start: its supervisor is gone, or it was stopped
    /// before it started.
    #[error("{path}: the child will never start: its supervisor is gone or stopped it first")]
    SupervisorGone {
        /// The child.
        path: NodePath,
    },
    /// A sibling the child depends on did not finish its start within the
    /// child's start timeout ([`ChildSpec::start_timeout`](crate::ChildSpec::start_timeout)):
    /// the child's first start attempt failed without running its code.
    /// Its restart policy decides what follows, like for any failed start.
    #[error(
        "{path}: did not start: the sibling it depends on, {dependency}, did not finish its \
         start within {}; see why in {dependency}'s last failure, or raise the start timeout",
        humantime::format_duration(*timeout)
    )]
    DependencyNotReady {
        /// The child.
        path: NodePath,
        /// The sibling it waited for (the first one not ready).
        dependency: NodePath,
        /// How long it waited: its start timeout.
        timeout: std::time::Duration,
    },
}

/// Why a control message to a supervisor ([`StartChild`](crate::StartChild),
/// [`StopChild`](crate::StopChild), [`RestartChild`](crate::RestartChild),
/// [`RemoveChild`](crate::RemoveChild)) was refused.
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
///     .child(ChildSpec::new("store", Job::default))
///     .child(ChildSpec::new("reader", Job::default).depends_on("store"))
///     .start()?;
///
/// match app.send(RemoveChild::new("store")).await? {
///     Err(ControlError::HasDependents { dependents, .. }) => assert_eq!(dependents, ["reader"]),
///     other => panic!("unexpected {other:?}"),
/// }
/// let duplicate = app.send(StartChild::new(ChildSpec::new("store", Job::default))).await?;
/// assert!(matches!(duplicate, Err(ControlError::InvalidSpec(BuildError::DuplicateName { .. }))));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The supervisor has no child of that name.
    #[error("{parent}: no child named {name:?}")]
    UnknownChild {
        /// The supervisor.
        parent: NodePath,
        /// The name asked for.
        name: String,
    },
    /// The supervisor is stopping (or stopped, or gave up) and takes no
    /// changes.
    #[error("{parent}: the supervisor is stopping")]
    SupervisorStopping {
        /// The supervisor.
        parent: NodePath,
    },
    /// The child has ended for good and cannot be restarted.
    #[error("{path}: the child has ended and cannot be restarted")]
    ChildEnded {
        /// The child.
        path: NodePath,
    },
    /// A stop of the child is under way: it will end, not restart.
    #[error("{path}: the child is stopping and cannot be restarted")]
    ChildStopping {
        /// The child.
        path: NodePath,
    },
    /// Other children depend on the one to remove.
    #[error("{parent}: {name:?} is needed by {dependents:?}")]
    HasDependents {
        /// The supervisor.
        parent: NodePath,
        /// The child to remove.
        name: String,
        /// The children that depend on it.
        dependents: Vec<String>,
    },
    /// The new child's spec is invalid (a duplicate name, a bad field, ...).
    #[error(transparent)]
    InvalidSpec(#[from] BuildError),
    /// The supervisor (a [`Pool`](crate::pool::Pool)) already runs its
    /// `max_children` children; the new one was not started. Start it again
    /// once one of them ended (its [`ChildHandle::ended`](crate::ChildHandle::ended)).
    #[error("{parent}: full: {max_children} children run already (max_children); start again once one ended")]
    Full {
        /// The supervisor.
        parent: NodePath,
        /// Its limit.
        max_children: usize,
    },
}

#[cfg(feature = "config")]
/// A configuration file or text that cannot become a tree: refused before
/// anything starts.
///
/// Every error about the tree's content names the node (by its path, as in
/// [`NodePath`]) and the field, e.g. `/app/ingest: invalid `backoff.max`:
/// must be at least `initial``.
///
/// # Examples
///
/// ```
/// use actix_supervisor::config::TreeConfig;
///
/// let text = r#"
/// name = "app"
///
/// [[children]]
/// name = "scanner"
/// factory = "scanner"
/// periodic = { interval = "0s" }
/// "#;
/// let err = TreeConfig::from_toml_str(text)
///     .and_then(|config| config.validate())
///     .unwrap_err();
/// assert_eq!(err.node(), Some("/app/scanner"));
/// assert_eq!(err.field(), Some("periodic.interval"));
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not valid TOML or JSON.
    #[error("{format} syntax error: {message}")]
    Syntax {
        /// `"TOML"` or `"JSON"`.
        format: &'static str,
        /// The parser's message, with the line and column. For a file that
        /// nests deeper than the parser allows, the position where the limit
        /// was met (for TOML table headers, the line of the deepest header;
        /// see the [`config`](crate::config) module, "How deep a file may
        /// nest").
        message: String,
    },
    /// A node's field is missing, unknown, of the wrong type, or has a value
    /// that cannot be used.
    #[error("{node}: invalid `{field}`: {reason}")]
    InvalidField {
        /// The node's path, e.g. `/app/tenants/receiver`. A node without a
        /// usable name is written by its place, e.g. `/app/children[2]`.
        node: String,
        /// The field, e.g. `backoff.max` or `depends_on[1]`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file's name ends in neither `.toml` nor `.json`.
    #[error("{}: unknown configuration format (expected a .toml or .json file)", path.display())]
    UnknownFormat {
        /// The file.
        path: std::path::PathBuf,
    },
}

#[cfg(feature = "config")]
impl ConfigError {
    /// The node an [`InvalidField`](ConfigError::InvalidField) error is
    /// about.
    pub fn node(&self) -> Option<&str> {
        match self {
            ConfigError::InvalidField { node, .. } => Some(node),
            _ => None,
        }
    }

    /// The field an [`InvalidField`](ConfigError::InvalidField) error is
    /// about.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }

    pub(crate) fn invalid(
        node: impl Into<String>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ConfigError::InvalidField {
            node: node.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(feature = "config")]
impl From<BuildError> for ConfigError {
    /// Names the node and the field of a tree's build error.
    fn from(error: BuildError) -> Self {
        match error {
            BuildError::InvalidField {
                path,
                field,
                reason,
            } => ConfigError::invalid(path.as_str(), field, reason),
            BuildError::InvalidName {
                parent,
                name,
                reason,
            } => ConfigError::invalid(
                parent.as_str(),
                "children.name",
                format!("{name:?}: {reason}"),
            ),
            BuildError::DuplicateName { parent, name } => ConfigError::invalid(
                parent.join(&name).as_str(),
                "name",
                format!("another child of {parent} is named {name:?}"),
            ),
            BuildError::TooDeep { path, limit } => ConfigError::invalid(
                path.as_str(),
                "children",
                format!("supervisors nested deeper than {limit} levels"),
            ),
            BuildError::DependencyCycle { parent, cycle } => ConfigError::invalid(
                cycle.first().map_or_else(
                    || parent.to_string(),
                    |first| parent.join(first).to_string(),
                ),
                "depends_on",
                format!("dependency cycle: {}", cycle.join(" -> ")),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason_for(name: &str) -> Option<&'static str> {
        match check_name(&NodePath::root("app"), name) {
            Ok(()) => None,
            Err(BuildError::InvalidName { reason, .. }) => Some(reason),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_name_with_a_control_character_is_refused() {
        for name in [
            "two\nlines",
            "tab\there",
            "esc\u{1b}[31m",
            "nul\0",
            "del\u{7f}",
            "\u{85}",
        ] {
            let reason = reason_for(name).unwrap_or_else(|| panic!("{name:?} accepted"));
            assert!(reason.contains("control characters"), "{name:?}: {reason}");
        }
    }

    #[test]
    fn ordinary_names_are_accepted() {
        for name in [
            "walreceiver",
            "timeline-7",
            "poller_2",
            "émetteur",
            "a b",
            "名前",
        ] {
            assert_eq!(reason_for(name), None, "{name:?}");
        }
    }

    #[test]
    fn an_empty_name_and_a_slash_are_refused() {
        assert!(reason_for("").is_some());
        assert!(reason_for("a/b").is_some());
    }
}
