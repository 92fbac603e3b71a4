//! [`SupervisorBuilder`]: the description of a supervisor before it starts,
//! and its validation.
//!
//! A builder is checked as a whole, its nested supervisors included, before
//! anything starts, so bad configuration anywhere in a tree is refused with
//! an error that names the node and the field. A builder creates its
//! supervisor's mailbox up front, so [`SupervisorBuilder::address`] is valid
//! before it starts; as a child of another supervisor it also has the fields
//! of a child spec (restart policy, backoff, dependencies).

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use actix::dev::channel::{self, AddressReceiver};
use actix::{Addr, Context};
use actix_rt::ArbiterHandle;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::children::Children;
use super::{shutdown, OwnState, SupervisorActor};
use crate::child::drain::ChildShared;
use crate::child::link::{ChildEnv, ChildLink};
use crate::child::restart::RestartRules;
use crate::error::{check_name, BuildError};
use crate::messages::events::Events;
use crate::policy::{Backoff, Grace, IntensityWindow, RestartIntensity, RestartPolicy, Strategy};
use crate::spec::AnyChildSpec;
use crate::tree::NodePath;

/// Describes a [`SupervisorActor`] before it starts: its name, grace,
/// intensity, strategy and children.
///
/// Nothing is started until [`start`](SupervisorBuilder::start), which checks
/// the whole description first. A builder is also a child spec: give it to
/// another supervisor's [`child`](SupervisorBuilder::child) to nest it.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Conn;
/// impl Actor for Conn { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Conn);
///
/// # actix::System::new().block_on(async {
/// let db = SupervisorActor::builder("db")
///     .strategy(Strategy::OneForAll) // the primary and its replica restart together
///     .child(ChildSpec::new("primary", Conn::default))
///     .child(ChildSpec::new("replica", Conn::default));
/// let app = SupervisorActor::builder("app")
///     .intensity(RestartIntensity::new(5, Duration::from_secs(10)))
///     .child(db) // a nested supervisor
///     .child(ChildSpec::new("api", Conn::default).depends_on("db"))
///     .start()?;
/// assert!(app.send(Inspect).await?.find("/app/db/replica").is_some());
///
/// // A bad description is refused as a whole, before anything starts.
/// let twice = SupervisorActor::builder("app")
///     .child(ChildSpec::new("api", Conn::default))
///     .child(ChildSpec::new("api", Conn::default));
/// assert!(matches!(twice.validate(), Err(BuildError::DuplicateName { .. })));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[must_use = "a supervisor builder does nothing until `start` is called or it is given to a parent"]
pub struct SupervisorBuilder {
    /// Boxed, so that each call of the by-value builder (`.child(…)` once
    /// per child) moves a pointer, not the whole description.
    pub(crate) parts: Box<BuilderParts>,
}

/// What a [`SupervisorBuilder`] describes.
pub(crate) struct BuilderParts {
    pub(super) name: String,
    pub(super) grace: Grace,
    pub(super) intensity: RestartIntensity,
    pub(super) strategy: Strategy,
    pub(super) children: Vec<AnyChildSpec>,
    pub(super) restart: RestartPolicy,
    pub(super) backoff: Option<Backoff>,
    pub(super) depends_on: Vec<String>,
    pub(super) start_timeout: Option<std::time::Duration>,
    pub(super) addr: Addr<SupervisorActor>,
    pub(super) receiver: AddressReceiver<SupervisorActor>,
    pub(super) shared: Arc<ChildShared>,
    /// Where it runs, when not on its parent's arbiter.
    pub(super) arbiter: Option<ArbiterHandle>,
    /// How many live children it takes at most (a pool's `max_children`).
    pub(crate) max_children: Option<usize>,
    /// As a child: leaves its parent's table when it ends for good.
    pub(super) remove_on_exit: bool,
}

impl fmt::Debug for SupervisorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorBuilder")
            .field("name", &self.parts.name)
            .field("grace", &self.parts.grace)
            .field("intensity", &self.parts.intensity)
            .field("strategy", &self.parts.strategy)
            .field("children", &self.parts.children)
            .field("restart", &self.parts.restart)
            .field("arbiter", &self.parts.arbiter.is_some())
            .field("remove_on_exit", &self.parts.remove_on_exit)
            .finish_non_exhaustive()
    }
}

/// A nested supervisor's place among its parent's children.
#[derive(Debug)]
pub(crate) enum AsChild {
    /// On its parent's arbiter: it shares its parent's scope, and applies
    /// its restart rules as such a child itself.
    Local { env: ChildEnv, rules: RestartRules },
    /// On another arbiter (see [`on_arbiter`](SupervisorBuilder::on_arbiter)):
    /// its parent's relay decides what follows an escalation, told through
    /// this channel.
    Remote(tokio::sync::mpsc::UnboundedSender<crate::tree::Failure>),
}

impl AsChild {
    /// Its place among its parent's children, when it shares its parent's
    /// arbiter (a remote one's parent waits for its dependencies itself).
    pub(super) fn env(&self) -> Option<&ChildEnv> {
        match self {
            AsChild::Local { env, .. } => Some(env),
            AsChild::Remote(_) => None,
        }
    }
}

/// The start plan of a supervisor's children, worked out when its
/// description is checked.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// The start order (indexes in the order given) and each child's
    /// dependencies (indexes in the order given); `None` when no child has
    /// dependencies: the order given, then.
    dependencies: Option<(Vec<usize>, Vec<Vec<usize>>)>,
}

/// Where a supervisor is placed in its tree when it is built.
pub(super) struct Place {
    pub(super) path: NodePath,
    pub(super) events: Events,
    pub(super) token: CancellationToken,
    /// Its link in its parent, when it is a child.
    pub(super) link: Option<Rc<ChildLink>>,
    /// Its place among its parent's children, when it is a child.
    pub(super) as_child: Option<AsChild>,
}

impl SupervisorBuilder {
    /// How deep supervisors may nest: a child supervisor of the root is at
    /// level 1. A deeper tree is refused with [`BuildError::TooDeep`]
    /// (when built, or when given to `StartChild`), never an overflowed
    /// stack.
    pub const MAX_DEPTH: usize = 64;

    pub(super) fn new(name: String) -> Self {
        let (sender, receiver) = channel::channel(16);
        let parts = BuilderParts {
            shared: ChildShared::new(name.clone()),
            name,
            grace: Grace::Infinity,
            intensity: RestartIntensity::default(),
            strategy: Strategy::default(),
            children: Vec::new(),
            restart: RestartPolicy::default(),
            backoff: None,
            depends_on: Vec::new(),
            start_timeout: None,
            addr: Addr::new(sender),
            receiver,
            arbiter: None,
            max_children: None,
            remove_on_exit: false,
        };
        SupervisorBuilder {
            parts: Box::new(parts),
        }
    }

    /// Adds a child (a [`ChildSpec`](crate::ChildSpec), or another
    /// supervisor's builder). Children start in the order they are added,
    /// except that a child starts after the siblings it depends on.
    pub fn child(mut self, spec: impl Into<AnyChildSpec>) -> Self {
        self.parts.children.push(spec.into());
        self
    }

    /// Bounds the whole subtree's stop (default [`Grace::Infinity`]: each
    /// child's own grace bounds it). When it runs out, every child still
    /// stopping is terminated and reported `TimedOut`.
    pub fn grace(mut self, grace: Grace) -> Self {
        self.parts.grace = grace;
        self
    }

    /// Sets the restart intensity (default: 3 restarts within 5 s, across
    /// all children). One restart more, and the supervisor gives up: it
    /// stops its remaining children in shutdown order and fails.
    pub fn intensity(mut self, intensity: RestartIntensity) -> Self {
        self.parts.intensity = intensity;
        self
    }

    /// Sets which children restart with one that is restarted (default
    /// [`Strategy::OneForOne`]).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.parts.strategy = strategy;
        self
    }

    /// As a child of another supervisor: what its parent does when it gives
    /// up (default [`RestartPolicy::OnFailure`]: restart the whole subtree).
    /// A parent that is stopping restarts nothing: a subtree that gives up
    /// then stops for good and fails, and its report (with
    /// [`ended_on_its_own`](crate::StopReport::ended_on_its_own)) is the one
    /// made then.
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.parts.restart = policy;
        self
    }

    /// As a child of another supervisor: waits between restarts of the whole
    /// subtree (default: restart at once).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.parts.backoff = Some(backoff);
        self
    }

    /// As a child of another supervisor: once the whole subtree ended for
    /// good (stopped, killed, or given up with no restart left by its
    /// [`restart`](Self::restart) policy), it leaves its parent's table,
    /// freeing its name, as a temporary child does
    /// ([`ChildSpec::remove_on_exit`](crate::ChildSpec::remove_on_exit)).
    /// Its final report, with every child's, is still answered to its stop
    /// and published in its `Stopped` event. Default: it stays, `Stopped`
    /// or `Failed`, until [`RemoveChild`](crate::RemoveChild). A root has no
    /// table to leave: the setting is then ignored.
    ///
    /// ```
    /// # use actix::prelude::*;
    /// use actix_supervisor::prelude::*;
    /// # #[derive(Default)] struct Worker;
    /// # impl Actor for Worker { type Context = Context<Self>; }
    /// # actix_supervisor::supervised!(Worker);
    ///
    /// # actix::System::new().block_on(async {
    /// let app = SupervisorActor::builder("app").start()?;
    /// let batch = SupervisorActor::builder("batch-7")
    ///     .child(ChildSpec::new("worker", Worker::default))
    ///     .remove_on_exit();
    /// app.send(StartChild::new(batch)).await??;
    /// let report = app.send(StopChild::new("batch-7")).await??;
    /// assert!(report.is_drained());
    /// assert!(app.send(Inspect).await?.find("/app/batch-7").is_none());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn remove_on_exit(mut self) -> Self {
        self.parts.remove_on_exit = true;
        self
    }

    /// As a child of another supervisor: starts after the sibling `name`
    /// finished its start, and stops before it. Its children start only
    /// then; see [`start_timeout`](Self::start_timeout).
    pub fn depends_on(mut self, name: impl Into<String>) -> Self {
        self.parts.depends_on.push(name.into());
        self
    }

    /// Runs this supervisor, and with it its whole subtree, on `arbiter` (a
    /// thread of its own) instead of its parent's arbiter (default: its
    /// parent's; for a root, the arbiter that calls
    /// [`start`](SupervisorBuilder::start)).
    ///
    /// Every promise holds across the thread boundary: the subtree is
    /// checked with the rest of the tree before anything starts; its
    /// [`address`](SupervisorBuilder::address) and its children's stay valid
    /// for its whole life, restarts included; its parent's `Stop` drains it
    /// and includes its report, `Inspect` shows it, its events reach the
    /// tree's subscribers, its tokens are children of its parent's, and
    /// when it gives up, its parent's policy and intensity decide, as for a
    /// supervisor on the parent's arbiter. A parent's grace bounds it even
    /// while its arbiter is busy: past the grace the parent reports it
    /// `TimedOut` without waiting for its thread. Details and figures:
    /// `docs/arbiters.md`.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix::prelude::*;
    /// use actix_supervisor::prelude::*;
    ///
    /// #[derive(Default)]
    /// struct Hasher;
    /// impl Actor for Hasher { type Context = Context<Self>; }
    /// actix_supervisor::supervised!(Hasher);
    ///
    /// # actix::System::new().block_on(async {
    /// let other = Arbiter::new(); // a thread with an actix event loop
    /// let hashers = SupervisorActor::builder("hashers")
    ///     .child(ChildSpec::new("hasher", Hasher::default))
    ///     .on_arbiter(other.handle());
    /// let app = SupervisorActor::builder("app").child(hashers).start()?;
    ///
    /// let tree = app.send(Inspect).await?; // asks the other thread too
    /// assert!(tree.find("/app/hashers/hasher").is_some());
    /// let report = app.send(Stop).await?; // drains the other thread's subtree
    /// assert_eq!(report.children[0].children[0].path.as_str(), "/app/hashers/hasher");
    /// other.stop();
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn on_arbiter(mut self, arbiter: ArbiterHandle) -> Self {
        self.parts.arbiter = Some(arbiter);
        self
    }

    /// As a child of another supervisor: bounds how long each start of the
    /// subtree waits for the siblings it [depends on](Self::depends_on) to
    /// finish theirs (default 30 s). Meanwhile it shows as
    /// [`NodeState::Waiting`](crate::snapshot::NodeState::Waiting) and none of its
    /// children starts; when the timeout runs out, its start failed (phase
    /// [`Waiting`](crate::snapshot::FailurePhase::Waiting)) and its parent's policy
    /// for it decides, as when it escalates.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use actix_supervisor::SupervisorActor;
    ///
    /// let tenants = SupervisorActor::builder("tenants")
    ///     .depends_on("store")
    ///     .start_timeout(Duration::from_secs(10));
    /// # drop(tenants);
    /// ```
    pub fn start_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.parts.start_timeout = Some(timeout);
        self
    }

    /// The supervisor's address: valid before it starts (messages wait).
    pub fn address(&self) -> Addr<SupervisorActor> {
        self.parts.addr.clone()
    }

    /// The supervisor's name.
    pub fn name(&self) -> &str {
        &self.parts.name
    }

    /// Checks the description and starts the supervisor, as the root of a
    /// tree, on the current arbiter (or the one given to
    /// [`on_arbiter`](SupervisorBuilder::on_arbiter)); its children start
    /// right after.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the node and the field when a name is empty,
    /// contains `/` or is used twice, when a dependency is unknown or forms a
    /// cycle, or when a policy has a value that cannot be used (see
    /// [`Backoff`](crate::Backoff)), anywhere in the tree, or (field
    /// `arbiter`) when the arbiter it was placed on has stopped. Nothing is
    /// started then.
    ///
    /// # Panics
    ///
    /// When called outside a running actix system.
    pub fn start(mut self) -> Result<Addr<SupervisorActor>, BuildError> {
        let (path, plan) = self.plan_as_root()?;
        self.assign_paths(&path);
        let addr = self.parts.addr.clone();
        let place = move || Place {
            path,
            events: Events::new(),
            token: CancellationToken::new(),
            link: None,
            as_child: None,
        };
        match self.parts.arbiter.take() {
            None => self.spawn_planned(place(), plan),
            Some(arbiter) => {
                let root = self.parts.shared.path();
                if !arbiter.spawn_fn(move || self.spawn_planned(place(), plan)) {
                    return Err(BuildError::InvalidField {
                        path: root,
                        field: "arbiter",
                        reason: "the arbiter has stopped; give a running one".into(),
                    });
                }
            }
        }
        Ok(addr)
    }

    /// Checks the whole description, as [`start`](SupervisorBuilder::start)
    /// does, without starting anything (and without an actix system).
    ///
    /// # Errors
    ///
    /// The [`BuildError`] `start` would return.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_supervisor::{BuildError, SupervisorActor};
    ///
    /// let nameless = SupervisorActor::builder("");
    /// assert!(matches!(nameless.validate(), Err(BuildError::InvalidField { field: "name", .. })));
    /// ```
    pub fn validate(&self) -> Result<(), BuildError> {
        self.validate_as_root().map(drop)
    }

    /// Checks the whole description as the root of a tree; returns the root's
    /// path.
    pub(crate) fn validate_as_root(&self) -> Result<NodePath, BuildError> {
        self.plan_as_root().map(|(path, _)| path)
    }

    /// Checks the whole description as the root of a tree; returns the root's
    /// path and its children's start plan.
    fn plan_as_root(&self) -> Result<(NodePath, Plan), BuildError> {
        if let Err(BuildError::InvalidName { name, reason, .. }) =
            check_name(&NodePath::root(""), &self.parts.name)
        {
            return Err(BuildError::InvalidField {
                path: NodePath::root(&name),
                field: "name",
                reason: reason.to_string(),
            });
        }
        let path = NodePath::root(&self.parts.name);
        let plan = self.plan_at(&path)?;
        Ok((path, plan))
    }

    /// Refuses a subtree whose supervisors, placed at `path`, would nest
    /// deeper than [`MAX_DEPTH`](Self::MAX_DEPTH); checked without
    /// recursion, so no depth can overflow the stack.
    fn check_depth(&self, path: &NodePath) -> Result<(), BuildError> {
        // The root is level 0.
        let depth = path.as_str().matches('/').count().saturating_sub(1);
        let mut stack: Vec<(&[AnyChildSpec], usize, NodePath)> =
            vec![(&self.parts.children, depth, path.clone())];
        while let Some((children, depth, parent)) = stack.pop() {
            for child in children.iter().filter(|child| child.0.is_supervisor()) {
                let path = parent.join(child.name());
                if depth + 1 > Self::MAX_DEPTH {
                    return Err(BuildError::TooDeep {
                        path,
                        limit: Self::MAX_DEPTH,
                    });
                }
                stack.push((child.0.children(), depth + 1, path));
            }
        }
        Ok(())
    }

    /// Checks the supervisor's own fields and, recursively, its children, as
    /// if it sat at `path`.
    pub(crate) fn validate_at(&self, path: &NodePath) -> Result<(), BuildError> {
        self.plan_at(path).map(drop)
    }

    /// Checks the supervisor's own fields and, recursively, its children, as
    /// if it sat at `path`; returns its children's start plan, worked out
    /// in the same pass over the specs (a supervisor of many children walks
    /// their specs, cold in memory, as few times as it can).
    fn plan_at(&self, path: &NodePath) -> Result<Plan, BuildError> {
        self.check_depth(path)?;
        let field = |field: &'static str, reason: String| BuildError::InvalidField {
            path: path.clone(),
            field,
            reason,
        };
        if self.parts.grace == Grace::Duration(std::time::Duration::ZERO) {
            return Err(field(
                "grace",
                "must be above zero (use a short grace, not none)".into(),
            ));
        }
        self.parts
            .intensity
            .validate()
            .map_err(|e| field(e.field, e.reason))?;
        let mut names = Vec::with_capacity(self.parts.children.len());
        let mut seen = hashbrown::HashSet::with_capacity(self.parts.children.len());
        let mut dependencies = false;
        for child in &self.parts.children {
            let common = child.0.common();
            let name = common.name;
            check_name(path, name)?;
            if !seen.insert(name) {
                return Err(BuildError::DuplicateName {
                    parent: path.clone(),
                    name: name.to_string(),
                });
            }
            child.0.validate(path)?;
            dependencies |= !common.depends_on.is_empty();
            names.push(name);
        }
        if !dependencies {
            // Start order is the order given; nothing more to work out.
            return Ok(Plan::default());
        }
        let depends_on = self.dependency_indexes(&names, path)?;
        let order = shutdown::start_order(&names, &depends_on).map_err(|cycle| {
            BuildError::DependencyCycle {
                parent: path.clone(),
                cycle,
            }
        })?;
        Ok(Plan {
            dependencies: Some((order, depends_on)),
        })
    }

    /// Tells this supervisor's handles, and its children's, their paths.
    pub(crate) fn assign_paths(&self, path: &NodePath) {
        self.parts.shared.set_path(path.clone());
        for child in &self.parts.children {
            child.0.assign_path(path.join(child.name()));
        }
    }

    /// The start plan of a supervisor validated already (as a child of its
    /// parent), made again without checking anything else: the fallbacks
    /// are never taken.
    fn plan(&self, path: &NodePath) -> Plan {
        if self
            .parts
            .children
            .iter()
            .all(|child| child.0.common().depends_on.is_empty())
        {
            return Plan::default();
        }
        let names: Vec<&str> = self.parts.children.iter().map(AnyChildSpec::name).collect();
        let depends_on = self
            .dependency_indexes(&names, path)
            .unwrap_or_else(|_| vec![Vec::new(); names.len()]);
        let order = shutdown::start_order(&names, &depends_on)
            .unwrap_or_else(|_| (0..names.len()).collect());
        Plan {
            dependencies: Some((order, depends_on)),
        }
    }

    /// Each child's dependencies as indexes in the order given (`names`:
    /// the children's names, in that order).
    fn dependency_indexes(
        &self,
        names: &[&str],
        path: &NodePath,
    ) -> Result<Vec<Vec<usize>>, BuildError> {
        let index: hashbrown::HashMap<&str, usize> =
            names.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        self.parts
            .children
            .iter()
            .map(|child| {
                let common = child.0.common();
                common
                    .depends_on
                    .iter()
                    .map(|dependency| match index.get(dependency.as_str()) {
                        Some(&i) if dependency != common.name => Ok(i),
                        _ => Err(BuildError::InvalidField {
                            path: path.join(common.name),
                            field: "depends_on",
                            reason: format!("{dependency:?} is not a sibling"),
                        }),
                    })
                    .collect()
            })
            .collect()
    }

    /// Builds the (validated) supervisor at `place` and spawns it on the
    /// current arbiter, in a span carrying its path.
    pub(super) fn spawn(self, place: Place) {
        let plan = self.plan(&place.path);
        self.spawn_planned(place, plan);
    }

    /// [`spawn`](Self::spawn), with the plan its validation made.
    fn spawn_planned(self, place: Place, plan: Plan) {
        let (supervisor, receiver) = self.into_actor(place, plan);
        let span = tracing::info_span!("node", path = %supervisor.path);
        let context = Context::with_receiver(receiver);
        actix_rt::spawn(context.into_future(supervisor).instrument(span));
    }

    fn into_actor(
        self,
        place: Place,
        plan: Plan,
    ) -> (SupervisorActor, AddressReceiver<SupervisorActor>) {
        let pending = match plan.dependencies {
            // The common case: the order given, no dependencies (an empty
            // `Vec` allocates nothing).
            None => self
                .parts
                .children
                .into_iter()
                .map(|spec| (spec, Vec::new()))
                .collect(),
            Some((order, depends_on)) => {
                let mut position = vec![0; order.len()];
                for (at, &i) in order.iter().enumerate() {
                    position[i] = at;
                }
                let mut specs: Vec<Option<AnyChildSpec>> =
                    self.parts.children.into_iter().map(Some).collect();
                order
                    .iter()
                    .filter_map(|&i| {
                        let deps = depends_on[i].iter().map(|&d| position[d]).collect();
                        specs[i].take().map(|spec| (spec, deps))
                    })
                    .collect()
            }
        };
        let supervisor = SupervisorActor {
            path: place.path.clone(),
            grace: self.parts.grace,
            children: Children::new(),
            pending,
            started_at: Instant::now(),
            state: Rc::new(OwnState::new(place.link)),
            report: Rc::new(watch::Sender::new(None)),
            keep_alive: None,
            events: place.events,
            intensity: Rc::new(RefCell::new(IntensityWindow::new(self.parts.intensity))),
            last_failure: None,
            token: place.token,
            strategy: self.parts.strategy,
            restarts: std::collections::VecDeque::new(),
            awaiting_start: Default::default(),
            removing: Vec::new(),
            incarnation: 1,
            as_child: place.as_child,
            child_scope: None,
            max_children: self.parts.max_children,
            #[cfg(feature = "testkit")]
            _live: crate::testkit::LiveActor::new(),
        };
        (supervisor, self.parts.receiver)
    }
}
