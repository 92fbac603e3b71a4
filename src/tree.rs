//! The shape of a supervision tree as users see it: node paths, kinds, states,
//! failures, and [`TreeSnapshot`], the serialisable answer to
//! [`Inspect`](crate::Inspect).
//!
//! Everything here is plain data. It is built by supervisors from their child
//! tables, sent across threads, written to JSON for a health endpoint and read
//! back in tests. Its `Display` draws the tree as an indented outline.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// Where a node sits in the tree, e.g. `/app/timeline-7/walreceiver`.
///
/// A path is the names of a node's ancestors and of the node itself, each
/// after a `/`. Names never contain `/`, so a path is unambiguous. Cloning a
/// path is cheap (one reference count).
///
/// # Examples
///
/// ```
/// use actix_supervisor::NodePath;
///
/// let app = NodePath::root("app");
/// let child = app.join("scanner");
/// assert_eq!(child.as_str(), "/app/scanner");
/// assert_eq!(child.name(), "scanner");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodePath(Arc<str>);

impl NodePath {
    /// The path of a root node called `name`.
    pub fn root(name: &str) -> Self {
        Self::concat(&["/", name])
    }

    /// The path of a child called `name` under this node.
    pub fn join(&self, name: &str) -> Self {
        Self::concat(&[&self.0, "/", name])
    }

    /// A path made of `parts`, allocated once: the text is put together in a
    /// buffer kept per thread, not in a `String` freed at once (with one
    /// path per child, such short-lived strings leave holes in the heap).
    fn concat(parts: &[&str]) -> Self {
        thread_local! {
            static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        SCRATCH
            .try_with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                scratch.clear();
                parts.iter().for_each(|part| scratch.push_str(part));
                NodePath(Arc::from(scratch.as_str()))
            })
            .unwrap_or_else(|_| NodePath(parts.concat().into()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last name in the path: the node's own name.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }
}

impl fmt::Display for NodePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NodeKind {
    /// A [`SupervisorActor`](crate::SupervisorActor) with children of its own.
    Supervisor,
    /// Any actix actor, supervised.
    Actor,
    /// A periodic task: a tick run on an interval.
    Periodic,
    /// A worker: a long-running async loop.
    Worker,
}

/// The lifecycle state of a node. A node is in exactly one state at a time.
///
/// # Node lifecycle
///
/// ## `Starting`
/// The factory built a fresh actor value and `started` is running (with any
/// future it passed to `ctx.wait`). Messages wait in the mailbox.
///
/// ## `Running`
/// `started` returned; the actor handles its mailbox.
///
/// ## `Restarting`
/// The incarnation ended and the restart policy asked for another one, after
/// `next_start_in` (zero for an immediate restart). Messages sent meanwhile
/// wait in the mailbox for the next incarnation.
///
/// ## `Stopping`
/// The node was asked to stop and is finishing its work.
///
/// ## `Stopped`
/// The node ended normally and will not run again; sends to it fail.
///
/// ## `Failed`
/// The node failed and its supervisor gave up on it (policy `Never`, or a
/// restart that cannot succeed); sends to it fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
#[non_exhaustive]
pub enum NodeState {
    /// Building a fresh incarnation; `started` has not returned yet.
    Starting,
    /// `started` returned; handling messages.
    Running,
    /// Waiting to start the next incarnation.
    Restarting {
        /// The restart attempt this wait leads to: 1 for the first restart
        /// after a stable run, counting up while failures follow each other.
        attempt: u32,
        /// The delay chosen when the restart was decided.
        #[serde(with = "humantime_serde")]
        next_start_in: Duration,
    },
    /// Finishing its work before stopping.
    Stopping,
    /// Ended normally; will not run again.
    Stopped,
    /// Ended by a failure that its supervisor will not restart; it runs
    /// again only if a restart of a whole subtree above it (escalation)
    /// brings it back.
    Failed,
}

impl NodeState {
    /// Whether the node has ended (`Stopped` or `Failed`): its supervisor
    /// will not start it again (only a restart of a subtree above it can).
    pub fn is_terminal(&self) -> bool {
        matches!(self, NodeState::Stopped | NodeState::Failed)
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeState::Starting => f.write_str("starting"),
            NodeState::Running => f.write_str("running"),
            NodeState::Restarting {
                attempt,
                next_start_in,
            } => {
                let millis = Duration::from_millis(next_start_in.as_millis() as u64);
                let shown = humantime::format_duration(millis);
                write!(f, "restarting (attempt {attempt}, in {shown})")
            }
            NodeState::Stopping => f.write_str("stopping"),
            NodeState::Stopped => f.write_str("stopped"),
            NodeState::Failed => f.write_str("failed"),
        }
    }
}

/// How an incarnation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// User code panicked; the panic was caught.
    Panic,
    /// The actor reported an error (see [`fail`](crate::fail)) or the factory
    /// returned one.
    Error,
}

/// Where in a node's life a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailurePhase {
    /// The spec's factory, building the actor value.
    Factory,
    /// `Supervised::restarting`, installing the fresh value.
    Restarting,
    /// `started`, or a future it passed to `ctx.wait`.
    Starting,
    /// A handler, a future spawned on the context, `stopping` or `stopped`.
    Running,
}

/// A failure of one incarnation: what happened, where, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Failure {
    /// Panic or error.
    pub kind: FailureKind,
    /// The part of the lifecycle that failed.
    pub phase: FailurePhase,
    /// The panic message or the error's `Display`.
    pub message: String,
    /// When the failure was caught.
    pub at: SystemTime,
}

impl Failure {
    pub(crate) fn new(kind: FailureKind, phase: FailurePhase, message: String) -> Self {
        Failure {
            kind,
            phase,
            message,
            at: SystemTime::now(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            FailureKind::Panic => "panic",
            FailureKind::Error => "error",
        };
        let phase = match self.phase {
            FailurePhase::Factory => "factory",
            FailurePhase::Restarting => "restarting",
            FailurePhase::Starting => "started",
            FailurePhase::Running => "running",
        };
        write!(f, "{kind} in {phase}: {}", self.message)
    }
}

/// Statistics of a periodic or worker child: its ticks (or loop runs) and
/// their failures, across its incarnations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskStats {
    /// Ticks (or loop runs) finished, failed or not.
    pub runs: u64,
    /// Of those, how many failed (an error, or a tick past its timeout).
    pub failures: u64,
    /// Failures in a row, up to the last run.
    pub consecutive_failures: u32,
    /// How long the last run took.
    #[serde(with = "humantime_serde")]
    pub last_duration: Option<Duration>,
    /// The last failure's message.
    pub last_error: Option<String>,
}

/// One node of a [`TreeSnapshot`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NodeSnapshot {
    /// The node's name, unique among its siblings.
    pub name: String,
    /// The node's full path.
    pub path: NodePath,
    /// What the node is.
    pub kind: NodeKind,
    /// Its lifecycle state when the snapshot was taken.
    #[serde(flatten)]
    pub state: NodeState,
    /// Which run this is: 1 for the first, one more after each restart.
    pub incarnation: u64,
    /// How many times the node was restarted.
    pub restart_count: u64,
    /// The most recent failure, if any.
    pub last_failure: Option<Failure>,
    /// How long the current incarnation has been running, if it is running.
    #[serde(with = "humantime_serde")]
    pub uptime: Option<Duration>,
    /// Tick or loop statistics, for periodic and worker children.
    #[serde(default)]
    pub task: Option<TaskStats>,
    /// Children of a supervisor, in start order; empty for other kinds.
    pub children: Vec<NodeSnapshot>,
}

impl NodeSnapshot {
    /// This node and every node below it, depth first, parents before
    /// children.
    pub fn iter(&self) -> impl Iterator<Item = &NodeSnapshot> {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let node = stack.pop()?;
            stack.extend(node.children.iter().rev());
            Some(node)
        })
    }

    fn write_outline(&self, f: &mut fmt::Formatter<'_>, prefix: &str, last: bool) -> fmt::Result {
        let (branch, indent) = match (prefix.is_empty(), last) {
            (true, _) => ("", ""),
            (false, true) => ("└─ ", "   "),
            (false, false) => ("├─ ", "│  "),
        };
        write!(
            f,
            "{prefix}{branch}{} [{}] {}",
            self.name,
            kind_label(self.kind),
            self.state
        )?;
        write!(f, ", incarnation {}", self.incarnation)?;
        match self.restart_count {
            0 => {}
            1 => write!(f, ", 1 restart")?,
            n => write!(f, ", {n} restarts")?,
        }
        if let Some(failure) = &self.last_failure {
            write!(f, ", last failure: {failure}")?;
        }
        writeln!(f)?;
        let child_prefix = if prefix.is_empty() && branch.is_empty() {
            " ".to_string()
        } else {
            format!("{prefix}{indent}")
        };
        for (i, child) in self.children.iter().enumerate() {
            child.write_outline(f, &child_prefix, i + 1 == self.children.len())?;
        }
        Ok(())
    }
}

fn kind_label(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Supervisor => "supervisor",
        NodeKind::Actor => "actor",
        NodeKind::Periodic => "periodic",
        NodeKind::Worker => "worker",
    }
}

/// A picture of a supervision tree (or subtree) at one moment.
///
/// It serialises with serde (JSON, TOML, ...) and prints as an outline:
///
/// ```text
/// app [supervisor] running, incarnation 1
///  ├─ counter [actor] running, incarnation 3, 2 restarts, last failure: panic in running: boom
///  └─ sampler [actor] running, incarnation 1
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TreeSnapshot {
    /// The node the snapshot was taken at.
    pub root: NodeSnapshot,
    /// When it was taken.
    pub taken_at: SystemTime,
}

impl TreeSnapshot {
    pub(crate) fn new(root: NodeSnapshot) -> Self {
        TreeSnapshot {
            root,
            taken_at: SystemTime::now(),
        }
    }

    /// The node at `path`, if it is in this snapshot.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(tree: actix_supervisor::TreeSnapshot) {
    /// if let Some(node) = tree.find("/app/counter") {
    ///     println!("counter restarted {} times", node.restart_count);
    /// }
    /// # }
    /// ```
    pub fn find(&self, path: &str) -> Option<&NodeSnapshot> {
        self.root.iter().find(|n| n.path.as_str() == path)
    }

    /// Every node, depth first, parents before children.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeSnapshot> {
        self.root.iter()
    }
}

impl fmt::Display for TreeSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.write_outline(f, "", true)
    }
}
