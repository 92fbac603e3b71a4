//! The shape of a supervision tree as users see it: node paths, kinds, states,
//! failures, and [`TreeSnapshot`], the serialisable answer to
//! [`Inspect`](crate::Inspect).
//!
//! Everything here is plain data. It is built by supervisors from their child
//! tables, sent across threads, written to JSON for a health endpoint and read
//! back in tests. Its `Display` draws the tree as an indented outline. The
//! JSON form is stable and documented on [`TreeSnapshot`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::policy::{Backoff, Grace, RestartIntensity, RestartPolicy, Strategy};

/// The version of the snapshot's JSON schema; see [`TreeSnapshot`].
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// Where a node sits in the tree, e.g. `/app/timeline-7/walreceiver`.
///
/// A path is the names of a node's ancestors and of the node itself, each
/// after a `/`. Names never contain `/`, so a path is unambiguous. Cloning a
/// path is cheap (one reference count).
///
/// # Examples
///
/// ```
/// use actix_supervisor::path::NodePath;
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

    /// The longest text [`parse`](NodePath::parse) accepts, in bytes.
    pub const MAX_LEN: usize = 4096;

    /// Reads a path written as text, e.g. from a URL: `/` then names
    /// separated by `/`.
    ///
    /// # Errors
    ///
    /// [`PathError::Invalid`](crate::path::PathError::Invalid) for text that is
    /// empty, does not start with `/`, is longer than
    /// [`MAX_LEN`](NodePath::MAX_LEN) bytes, has an empty name (`//`, or a
    /// trailing `/`), a name `.` or `..`, or a control character.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_supervisor::path::NodePath;
    ///
    /// assert_eq!(NodePath::parse("/app/ingest")?.name(), "ingest");
    /// assert!(NodePath::parse("/app/../etc").is_err());
    /// assert!(NodePath::parse("/app//x").is_err());
    /// assert!(NodePath::parse("app").is_err());
    /// # Ok::<_, actix_supervisor::path::PathError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self, crate::path::PathError> {
        let invalid = |reason| crate::path::PathError::Invalid {
            path: text.chars().take(256).collect(),
            reason,
        };
        if text.len() > Self::MAX_LEN {
            return Err(invalid("longer than 4096 bytes"));
        }
        let Some(names) = text.strip_prefix('/') else {
            return Err(invalid("a path starts with `/`"));
        };
        for name in names.split('/') {
            match name {
                "" => return Err(invalid("a name in a path cannot be empty")),
                "." | ".." => return Err(invalid("`.` and `..` are not names")),
                _ if name.chars().any(char::is_control) => {
                    return Err(invalid("a name cannot contain control characters"))
                }
                _ => {}
            }
        }
        Ok(NodePath(Arc::from(text)))
    }

    /// The names in the path, from the root's.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').skip(1)
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
///
/// ## `Waiting`
/// The next incarnation waits for the siblings the node
/// [depends on](crate::ChildSpec::depends_on) to finish their start, at
/// most its [start timeout](crate::ChildSpec::start_timeout). Messages wait
/// in the mailbox.
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
    /// Waiting for the siblings it depends on to finish their start.
    Waiting,
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
            NodeState::Waiting => f.write_str("waiting"),
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
    /// Waiting for the siblings it depends on to finish their start: the
    /// start timeout ran out.
    Waiting,
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
    /// When the failure was caught (RFC 3339 in JSON).
    #[serde(with = "rfc3339")]
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
            FailurePhase::Waiting => "waiting for its dependencies",
        };
        write!(f, "{kind} in {phase}: {}", self.message)
    }
}

/// Statistics of a periodic or worker child: its ticks (or loop runs) and
/// their failures, across its incarnations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "TaskStatsJson", from = "TaskStatsJson")]
#[non_exhaustive]
pub struct TaskStats {
    /// Ticks (or loop runs) finished, failed or not.
    pub runs: u64,
    /// Of those, how many failed (an error, or a tick past its timeout).
    pub failures: u64,
    /// Failures in a row, up to the last run.
    pub consecutive_failures: u32,
    /// How long the last run took.
    pub last_duration: Option<Duration>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// The schedule of a periodic task, kept beside its statistics so that
    /// the snapshot can show it in the node's [`NodePolicy`]; never shown
    /// here.
    pub(crate) schedule: Option<Box<Schedule>>,
}

impl TaskStats {
    /// No runs yet, for a task run on `schedule`.
    pub(crate) fn scheduled(schedule: Schedule) -> Self {
        TaskStats {
            schedule: Some(Box::new(schedule)),
            ..TaskStats::default()
        }
    }
}

/// [`TaskStats`] as written in JSON: the duration in both forms.
#[derive(Serialize, Deserialize)]
struct TaskStatsJson {
    #[serde(default)]
    runs: u64,
    #[serde(default)]
    failures: u64,
    #[serde(default)]
    consecutive_failures: u32,
    #[serde(default, with = "humantime_serde")]
    last_duration: Option<Duration>,
    #[serde(default)]
    last_duration_ms: Option<u64>,
    #[serde(default)]
    last_error: Option<String>,
}

impl From<TaskStats> for TaskStatsJson {
    fn from(stats: TaskStats) -> Self {
        TaskStatsJson {
            runs: stats.runs,
            failures: stats.failures,
            consecutive_failures: stats.consecutive_failures,
            last_duration: stats.last_duration,
            last_duration_ms: stats.last_duration.map(millis),
            last_error: stats.last_error,
        }
    }
}

impl From<TaskStatsJson> for TaskStats {
    fn from(json: TaskStatsJson) -> Self {
        TaskStats {
            runs: json.runs,
            failures: json.failures,
            consecutive_failures: json.consecutive_failures,
            last_duration: json
                .last_duration
                .or(json.last_duration_ms.map(Duration::from_millis)),
            last_error: json.last_error,
            schedule: None,
        }
    }
}

/// Whole milliseconds, rounded down, saturating.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Instants as RFC 3339 strings (UTC, nanoseconds), for serde.
pub(crate) mod rfc3339 {
    use std::time::{SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    /// The instant as RFC 3339 text; instants before 1970 are written as
    /// the epoch, past 9999 as the end of that year.
    pub(crate) fn format(at: SystemTime) -> String {
        const MAX: std::time::Duration = std::time::Duration::from_secs(253_402_300_799);
        let at = at.clamp(UNIX_EPOCH, UNIX_EPOCH + MAX);
        humantime::format_rfc3339_nanos(at).to_string()
    }

    pub(crate) fn serialize<S: Serializer>(
        at: &SystemTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*at))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<SystemTime, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom)
    }
}

/// The policy a node was configured with, as its spec or builder set it
/// (defaults included): what [`NodeSnapshot::policy`] shows.
///
/// Fields that do not apply to a node are `None`: a root has no restart
/// policy or backoff (nothing restarts it), only a supervisor has a
/// strategy and an intensity, only a periodic task has a schedule.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Poller;
/// impl Actor for Poller { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Poller);
///
/// # actix::System::new().block_on(async {
/// let spec = ChildSpec::new("poller", Poller::default)
///     .restart(RestartPolicy::Always)
///     .backoff(Backoff::new(Duration::from_millis(100), Duration::from_secs(30)));
/// let app = SupervisorActor::builder("app").child(spec).start()?;
/// let tree = app.send(Inspect).await?;
///
/// let poller = &tree.find("/app/poller").unwrap().policy;
/// assert_eq!(poller.restart, Some(RestartPolicy::Always));
/// assert_eq!(poller.backoff.as_ref().unwrap().max, Duration::from_secs(30));
/// assert_eq!(poller.grace, Some(Grace::Duration(Duration::from_secs(5))));
/// assert_eq!(tree.root.policy.strategy, Some(Strategy::OneForOne));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct NodePolicy {
    /// When the node is restarted; `None` for a root.
    pub restart: Option<RestartPolicy>,
    /// The delay before each restart; `None` for an immediate restart.
    pub backoff: Option<Backoff>,
    /// How long a stop may drain it.
    pub grace: Option<Grace>,
    /// A supervisor's strategy.
    pub strategy: Option<Strategy>,
    /// A supervisor's restart intensity.
    pub intensity: Option<RestartIntensity>,
    /// A periodic task's schedule.
    pub schedule: Option<Schedule>,
}

/// The schedule of a periodic task, as configured
/// ([`Periodic`](crate::periodic::Periodic)), in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Schedule {
    /// Time between ticks.
    pub interval: Duration,
    /// What happens to missed ticks: `"burst"`, `"delay"` or `"skip"`, as
    /// in a configuration file.
    pub missed_ticks: String,
    /// A tick running longer fails.
    pub tick_timeout: Option<Duration>,
    /// Whether the first tick runs as soon as the task starts.
    pub tick_at_start: bool,
    /// This many failed ticks in a row fail the incarnation.
    pub failure_limit: Option<u32>,
}

impl Schedule {
    pub(crate) fn new(
        interval: Duration,
        missed_ticks: &str,
        tick_timeout: Option<Duration>,
        tick_at_start: bool,
        failure_limit: Option<u32>,
    ) -> Self {
        Schedule {
            interval,
            missed_ticks: missed_ticks.to_string(),
            tick_timeout,
            tick_at_start,
            failure_limit,
        }
    }
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(
            "interval",
            &humantime::format_duration(self.interval).to_string(),
        )?;
        map.serialize_entry("interval_ms", &millis(self.interval))?;
        map.serialize_entry("missed_ticks", &self.missed_ticks)?;
        map.serialize_entry(
            "tick_timeout",
            &self
                .tick_timeout
                .map(|timeout| humantime::format_duration(timeout).to_string()),
        )?;
        map.serialize_entry("tick_timeout_ms", &self.tick_timeout.map(millis))?;
        map.serialize_entry("tick_at_start", &self.tick_at_start)?;
        map.serialize_entry("failure_limit", &self.failure_limit)?;
        map.end()
    }
}

/// [`Schedule`] as read from JSON.
#[derive(Deserialize)]
struct ScheduleJson {
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
    #[serde(default)]
    interval_ms: Option<u64>,
    #[serde(default)]
    missed_ticks: String,
    #[serde(default, with = "humantime_serde")]
    tick_timeout: Option<Duration>,
    #[serde(default)]
    tick_timeout_ms: Option<u64>,
    #[serde(default)]
    tick_at_start: bool,
    #[serde(default)]
    failure_limit: Option<u32>,
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = ScheduleJson::deserialize(deserializer)?;
        Ok(Schedule {
            interval: json
                .interval
                .or(json.interval_ms.map(Duration::from_millis))
                .unwrap_or_default(),
            missed_ticks: json.missed_ticks,
            tick_timeout: json
                .tick_timeout
                .or(json.tick_timeout_ms.map(Duration::from_millis)),
            tick_at_start: json.tick_at_start,
            failure_limit: json.failure_limit,
        })
    }
}

impl Serialize for NodePolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("restart", &self.restart)?;
        map.serialize_entry("backoff", &self.backoff)?;
        map.serialize_entry("grace", &self.grace)?;
        map.serialize_entry(
            "grace_ms",
            &match self.grace {
                Some(Grace::Duration(grace)) => Some(millis(grace)),
                _ => None,
            },
        )?;
        map.serialize_entry("strategy", &self.strategy)?;
        map.serialize_entry("intensity", &self.intensity)?;
        map.serialize_entry("schedule", &self.schedule)?;
        map.end()
    }
}

/// [`NodePolicy`] as read from JSON.
#[derive(Deserialize)]
struct NodePolicyJson {
    #[serde(default)]
    restart: Option<RestartPolicy>,
    #[serde(default)]
    backoff: Option<Backoff>,
    #[serde(default)]
    grace: Option<Grace>,
    #[serde(default)]
    strategy: Option<Strategy>,
    #[serde(default)]
    intensity: Option<RestartIntensity>,
    #[serde(default)]
    schedule: Option<Schedule>,
}

impl<'de> Deserialize<'de> for NodePolicy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = NodePolicyJson::deserialize(deserializer)?;
        Ok(NodePolicy {
            restart: json.restart,
            backoff: json.backoff,
            grace: json.grace,
            strategy: json.strategy,
            intensity: json.intensity,
            schedule: json.schedule,
        })
    }
}

impl NodePolicy {
    /// The policy on one line: `on_failure, backoff 100ms..30s, grace 5s`,
    /// then a supervisor's strategy and intensity, a periodic task's
    /// schedule.
    fn write_line(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(schedule) = &self.schedule {
            let mut every = format!("every {}", shown(schedule.interval));
            if let Some(timeout) = schedule.tick_timeout {
                every.push_str(&format!(" (timeout {})", shown(timeout)));
            }
            parts.push(every);
        }
        if let Some(restart) = self.restart {
            parts.push(
                match restart {
                    RestartPolicy::Never => "never restarted",
                    RestartPolicy::OnFailure => "restarted on failure",
                    RestartPolicy::Always => "always restarted",
                }
                .to_string(),
            );
        }
        if let Some(backoff) = &self.backoff {
            parts.push(format!(
                "backoff {}..{}",
                shown(backoff.initial),
                shown(backoff.max)
            ));
        }
        if let Some(strategy) = self.strategy {
            parts.push(
                match strategy {
                    Strategy::OneForOne => "one-for-one",
                    Strategy::OneForAll => "one-for-all",
                    Strategy::RestForOne => "rest-for-one",
                }
                .to_string(),
            );
        }
        if let Some(intensity) = self.intensity {
            parts.push(format!(
                "at most {} restarts in {}",
                intensity.max_restarts,
                shown(intensity.within)
            ));
        }
        match self.grace {
            Some(Grace::Duration(grace)) => parts.push(format!("grace {}", shown(grace))),
            Some(Grace::Infinity) => parts.push("no grace limit".to_string()),
            None => {}
        }
        f.write_str(&parts.join(", "))
    }
}

/// A duration rounded to whole milliseconds, for outlines.
fn shown(duration: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_millis(millis(duration)))
}

/// One node of a [`TreeSnapshot`].
///
/// Its JSON form is described in [`TreeSnapshot`'s docs](TreeSnapshot#json-schema-version-1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "NodeSnapshotJson")]
#[non_exhaustive]
pub struct NodeSnapshot {
    /// The node's name, unique among its siblings.
    pub name: String,
    /// The node's full path.
    pub path: NodePath,
    /// What the node is.
    pub kind: NodeKind,
    /// Its lifecycle state when the snapshot was taken.
    pub state: NodeState,
    /// Which run this is: 1 for the first, one more after each restart.
    pub incarnation: u64,
    /// How many times the node was restarted.
    pub restart_count: u64,
    /// The most recent failure, if any.
    pub last_failure: Option<Failure>,
    /// How long the current incarnation has been running, if it is running.
    pub uptime: Option<Duration>,
    /// Tick or loop statistics, for periodic and worker children.
    pub task: Option<TaskStats>,
    /// Children of a supervisor, in start order; empty for other kinds.
    pub children: Vec<NodeSnapshot>,
    /// The policy it was configured with.
    pub policy: NodePolicy,
}

impl Serialize for NodeSnapshot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("path", &self.path)?;
        map.serialize_entry("kind", &self.kind)?;
        map.serialize_entry("state", state_label(&self.state))?;
        if let NodeState::Restarting {
            attempt,
            next_start_in,
        } = self.state
        {
            map.serialize_entry("attempt", &attempt)?;
            map.serialize_entry(
                "next_start_in",
                &humantime::format_duration(next_start_in).to_string(),
            )?;
            map.serialize_entry("next_start_in_ms", &millis(next_start_in))?;
        }
        map.serialize_entry("incarnation", &self.incarnation)?;
        map.serialize_entry("restart_count", &self.restart_count)?;
        map.serialize_entry("last_failure", &self.last_failure)?;
        map.serialize_entry(
            "uptime",
            &self
                .uptime
                .map(|uptime| humantime::format_duration(uptime).to_string()),
        )?;
        map.serialize_entry("uptime_ms", &self.uptime.map(millis))?;
        map.serialize_entry("task", &self.task)?;
        map.serialize_entry("policy", &self.policy)?;
        map.serialize_entry("children", &self.children)?;
        map.end()
    }
}

/// The `state` field's value for a state.
pub(crate) fn state_label(state: &NodeState) -> &'static str {
    match state {
        NodeState::Starting => "starting",
        NodeState::Running => "running",
        NodeState::Restarting { .. } => "restarting",
        NodeState::Stopping => "stopping",
        NodeState::Stopped => "stopped",
        NodeState::Failed => "failed",
        NodeState::Waiting => "waiting",
    }
}

/// [`NodeSnapshot`] as read from JSON.
#[derive(Deserialize)]
struct NodeSnapshotJson {
    name: String,
    path: NodePath,
    kind: NodeKind,
    state: StateLabel,
    #[serde(default)]
    attempt: u32,
    #[serde(default, with = "humantime_serde")]
    next_start_in: Option<Duration>,
    #[serde(default)]
    next_start_in_ms: Option<u64>,
    incarnation: u64,
    restart_count: u64,
    #[serde(default)]
    last_failure: Option<Failure>,
    #[serde(default, with = "humantime_serde")]
    uptime: Option<Duration>,
    #[serde(default)]
    uptime_ms: Option<u64>,
    #[serde(default)]
    task: Option<TaskStats>,
    #[serde(default)]
    children: Vec<NodeSnapshot>,
    #[serde(default)]
    policy: NodePolicy,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum StateLabel {
    Starting,
    Running,
    Restarting,
    Stopping,
    Stopped,
    Failed,
    Waiting,
}

impl From<NodeSnapshotJson> for NodeSnapshot {
    fn from(json: NodeSnapshotJson) -> Self {
        let state = match json.state {
            StateLabel::Starting => NodeState::Starting,
            StateLabel::Running => NodeState::Running,
            StateLabel::Restarting => NodeState::Restarting {
                attempt: json.attempt,
                next_start_in: json
                    .next_start_in
                    .or(json.next_start_in_ms.map(Duration::from_millis))
                    .unwrap_or_default(),
            },
            StateLabel::Stopping => NodeState::Stopping,
            StateLabel::Stopped => NodeState::Stopped,
            StateLabel::Failed => NodeState::Failed,
            StateLabel::Waiting => NodeState::Waiting,
        };
        NodeSnapshot {
            name: json.name,
            path: json.path,
            kind: json.kind,
            state,
            incarnation: json.incarnation,
            restart_count: json.restart_count,
            last_failure: json.last_failure,
            uptime: json.uptime.or(json.uptime_ms.map(Duration::from_millis)),
            task: json.task,
            children: json.children,
            policy: json.policy,
        }
    }
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
        if self.policy != NodePolicy::default() {
            f.write_str(" — ")?;
            self.policy.write_line(f)?;
        }
        if let Some(task) = &self.task {
            write!(f, "; {} runs, {} failed", task.runs, task.failures)?;
            if task.consecutive_failures > 0 {
                write!(f, " ({} in a row)", task.consecutive_failures)?;
            }
            if let Some(last) = task.last_duration {
                write!(f, ", last took {}", shown(last))?;
            }
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
/// It serialises with serde (JSON, TOML, ...), in the stable form the
/// form described below, and prints as an outline:
///
/// ```text
/// app [supervisor] running, incarnation 1 — one-for-one, at most 3 restarts in 5s, no grace limit
///  ├─ counter [actor] running, incarnation 3, 2 restarts, last failure: panic in running: boom — restarted on failure, backoff 100ms..30s, grace 5s
///  └─ sampler [periodic] running, incarnation 1 — every 1s, restarted on failure, grace 5s; 12 runs, 1 failed, last took 3ms
/// ```
///
/// Each line gives the node's state, then, after the dash, the policy it
/// was configured with ([`NodePolicy`]), then a periodic or worker node's
/// statistics ([`TaskStats`]).
///
/// # JSON schema (version 1)
///
/// The JSON form of a [`TreeSnapshot`] is meant for machines (dashboards,
/// probes, scripts) and is stable: field names are pinned by a test
/// (`tests/it/web_json.rs`), fields are only ever added, and a change that
/// renames or removes one raises `schema_version`.
///
/// - Instants are RFC 3339 strings in UTC with nanoseconds, e.g.
///   `"2026-11-29T23:41:07.123456789Z"`.
/// - Durations are written twice: as a whole number of milliseconds in a
///   field ending in `_ms` (for machines; rounded down), and as a
///   human-readable string under the plain name, e.g. `"1s 250ms"` (exact;
///   this is the one read back).
/// - Absent values are `null`.
///
/// ```json
/// {
///   "schema_version": 1,
///   "taken_at": "2026-11-29T23:41:07.123456789Z",
///   "root": {
///     "name": "app", "path": "/app", "kind": "supervisor",
///     "state": "running",
///     "incarnation": 1, "restart_count": 0, "last_failure": null,
///     "uptime": "2s 5ms", "uptime_ms": 2005,
///     "task": null,
///     "policy": {"restart": null, "backoff": null,
///                "grace": "infinity", "grace_ms": null,
///                "strategy": "one_for_one",
///                "intensity": {"max_restarts": 3, "within": "5s"},
///                "schedule": null},
///     "children": [{
///       "name": "scanner", "path": "/app/scanner", "kind": "periodic",
///       "state": "restarting", "attempt": 1,
///       "next_start_in": "500ms", "next_start_in_ms": 500,
///       "incarnation": 2, "restart_count": 1,
///       "last_failure": {"kind": "panic", "phase": "running",
///                        "message": "boom", "at": "2026-11-29T23:41:06.9Z"},
///       "uptime": null, "uptime_ms": null,
///       "task": {"runs": 4, "failures": 1, "consecutive_failures": 1,
///                "last_duration": "3ms", "last_duration_ms": 3,
///                "last_error": "boom"},
///       "policy": {"restart": "on_failure",
///                  "backoff": {"initial": "500ms", "max": "30s", "multiplier": 2.0,
///                              "jitter": 0.1, "stable_after": "30s", "seed": null},
///                  "grace": "5s", "grace_ms": 5000,
///                  "strategy": null, "intensity": null,
///                  "schedule": {"interval": "1s", "interval_ms": 1000,
///                               "missed_ticks": "skip",
///                               "tick_timeout": null, "tick_timeout_ms": null,
///                               "tick_at_start": true, "failure_limit": null}},
///       "children": []
///     }]
///   }
/// }
/// ```
///
/// `kind` is one of `supervisor`, `actor`, `periodic`, `worker`; `state` one
/// of `starting`, `running`, `restarting` (with `attempt`, `next_start_in`,
/// `next_start_in_ms`), `stopping`, `stopped`, `failed`. `policy` (added
/// within version 1; absent in older snapshots, read as all `null`) is the
/// node's [`NodePolicy`]: `restart`, `backoff`, `strategy` and `intensity`
/// in the form a configuration file takes, `grace` (`"infinity"` or a
/// duration, with `grace_ms`), and a periodic task's `schedule`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct TreeSnapshot {
    /// The node the snapshot was taken at.
    pub root: NodeSnapshot,
    /// When it was taken (RFC 3339 in JSON).
    #[serde(with = "rfc3339")]
    pub taken_at: SystemTime,
}

impl Serialize for TreeSnapshot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("schema_version", &SCHEMA_VERSION)?;
        map.serialize_entry("taken_at", &rfc3339::format(self.taken_at))?;
        map.serialize_entry("root", &self.root)?;
        map.end()
    }
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
