//! [`ChildSpec`]: how to build and run one supervised actor.
//!
//! A spec carries the child's name, its factory, its restart policy and
//! backoff, its shutdown grace and its dependencies. It also creates the
//! child's mailbox up front, so [`ChildSpec::address`] hands out the child's
//! address before the child is started; that address stays valid for the
//! child's whole life, across every restart.
//!
//! Supervisors hold children of many actor types, so a spec is turned into a
//! type-erased [`AnyChildSpec`] when it is given to a supervisor.

use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::dev::channel::{self, AddressReceiver};
use actix::{Actor, Addr, Context};

use crate::child::drain::ChildShared;
use crate::child::link::{ChildEnv, ChildLink};
use crate::child::start::{Factory, Parts};
pub(crate) use crate::child::StartContext;
use crate::child::{runner, ChildHandle, SupervisedActor};
use crate::error::BuildError;
use crate::policy::FieldError;
use crate::policy::{Backoff, Grace, RestartPolicy};
use crate::tree::{NodeKind, NodePath, TaskStats};

/// The mailbox capacity actix gives a new context: `send()` callers wait once
/// this many messages are queued (`do_send` ignores it).
const MAILBOX_CAPACITY: usize = 16;

/// How long a child waits for the siblings it depends on to finish their
/// start, unless its spec says otherwise.
pub(crate) const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);

/// How to build and run one supervised actor.
///
/// The factory is called for the first start and again for every restart, so
/// each incarnation starts from fresh state. The actor type must implement
/// [`actix::Supervised`] by installing that fresh state; the
/// [`supervised!`](crate::supervised) macro writes the implementation.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::{Backoff, ChildSpec, RestartPolicy};
///
/// #[derive(Default)]
/// struct Sampler { samples: u64 }
/// impl Actor for Sampler { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Sampler);
///
/// let spec = ChildSpec::new("sampler", Sampler::default)
///     .restart(RestartPolicy::Always)
///     .backoff(Backoff::new(Duration::from_millis(100), Duration::from_secs(30)));
/// let addr: Addr<Sampler> = spec.address(); // valid now and after every restart
/// # drop(addr);
/// ```
//
// A spec describes a child and holds its identity (its mailbox and what its
// handles share); when the child starts, the spec's parts go to its runner
// and the spec itself is dropped.
pub struct ChildSpec<A: Actor<Context = Context<A>>> {
    factory: Factory<A>,
    restart: RestartPolicy,
    grace: Grace,
    extras: Option<Box<SpecExtras>>,
    /// Moved to the child's runner when it starts (the spec is dropped
    /// then): a clone would cost actix two allocations.
    addr: Option<Addr<A>>,
    /// Taken when the child starts; still here when the spec is dropped
    /// unstarted.
    receiver: Option<AddressReceiver<A>>,
    shared: Arc<ChildShared>,
    pub(crate) kind: NodeKind,
    /// Leaves its supervisor's table when it will not run again. Here, not
    /// in the extras: every pool child has it, and a box for one flag would
    /// cost each job an allocation.
    remove_on_exit: bool,
}

/// The parts of a spec most specs do not have.
#[derive(Debug, Default)]
struct SpecExtras {
    backoff: Option<Backoff>,
    depends_on: Vec<String>,
    start_timeout: Option<Duration>,
    /// A field of a kind's configuration that cannot be used, reported when
    /// the tree is built.
    config_error: Option<FieldError>,
    /// A periodic or worker child's statistics; moved to the node's record
    /// when the child starts.
    stats: Option<Arc<std::sync::Mutex<TaskStats>>>,
}

impl<A: Actor<Context = Context<A>>> Drop for ChildSpec<A> {
    /// A spec dropped without its child ever starting (its `StartChild` was
    /// refused, its tree failed to build) ends the child at once: its
    /// handles refuse, its startup handle and its stop answer, and what its
    /// handles accepted meanwhile is reported undelivered.
    fn drop(&mut self) {
        if self.receiver.is_some() {
            self.shared.finish_unstarted();
        }
    }
}

impl<A: SupervisedActor> ChildSpec<A> {
    /// A spec for a child called `name`, built by `factory`.
    ///
    /// Defaults: [`RestartPolicy::OnFailure`], no backoff (immediate
    /// restarts), a 5 s grace, no dependencies.
    pub fn new<F>(name: impl Into<String>, mut factory: F) -> Self
    where
        F: FnMut() -> A + Send + 'static,
    {
        Self::with_factory(name.into(), Box::new(move |_: &StartContext| Ok(factory())))
    }

    /// A spec whose factory is given the [`StartContext`] of each
    /// incarnation: its path, its number, and a cancellation token for the
    /// tasks the actor spawns.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix::prelude::*;
    /// use actix_supervisor::ChildSpec;
    /// use tokio_util::sync::CancellationToken;
    ///
    /// struct Receiver { stop_polling: CancellationToken }
    /// impl Actor for Receiver {
    ///     type Context = Context<Self>;
    ///     fn started(&mut self, _: &mut Context<Self>) {
    ///         let token = self.stop_polling.clone();
    ///         actix::spawn(async move {
    ///             token.cancelled().await; // ends with the incarnation
    ///         });
    ///     }
    /// }
    /// actix_supervisor::supervised!(Receiver);
    ///
    /// let spec = ChildSpec::with_context("receiver", |start| Receiver {
    ///     stop_polling: start.token().clone(),
    /// });
    /// # drop(spec);
    /// ```
    pub fn with_context<F>(name: impl Into<String>, mut factory: F) -> Self
    where
        F: FnMut(&StartContext) -> A + Send + 'static,
    {
        Self::with_factory(
            name.into(),
            Box::new(move |start: &StartContext| Ok(factory(start))),
        )
    }

    /// A spec whose factory can fail. A failed factory is a failure of the
    /// start attempt, handled by the restart policy like any other.
    ///
    /// # Examples
    ///
    /// ```
    /// # use actix::prelude::*;
    /// # struct Conn;
    /// # impl Actor for Conn { type Context = Context<Self>; }
    /// # actix_supervisor::supervised!(Conn);
    /// use actix_supervisor::ChildSpec;
    ///
    /// let spec = ChildSpec::try_new("conn", || -> Result<Conn, std::io::Error> {
    ///     Ok(Conn)
    /// });
    /// # drop(spec);
    /// ```
    pub fn try_new<F, E>(name: impl Into<String>, mut factory: F) -> Self
    where
        F: FnMut() -> Result<A, E> + Send + 'static,
        E: fmt::Display,
    {
        Self::with_factory(
            name.into(),
            Box::new(move |_: &StartContext| factory().map_err(|e| e.to_string())),
        )
    }

    fn with_factory(name: String, factory: Factory<A>) -> Self {
        let (sender, receiver) = channel::channel(MAILBOX_CAPACITY);
        let shared = ChildShared::new(name);
        ChildSpec {
            shared,
            factory,
            restart: RestartPolicy::default(),
            grace: Grace::default(),
            addr: Some(Addr::new(sender)),
            receiver: Some(receiver),
            kind: NodeKind::Actor,
            extras: None,
            remove_on_exit: false,
        }
    }

    /// Sets the restart policy (default [`RestartPolicy::OnFailure`]).
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// Waits between restarts according to `backoff` (default: restart at
    /// once).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.extras_mut().backoff = Some(backoff);
        self
    }

    /// Sets the shutdown grace (default 5 s).
    pub fn grace(mut self, grace: Grace) -> Self {
        self.grace = grace;
        self
    }

    /// Declares that this child needs the sibling `name`: it starts after it
    /// finished its start, and stops before it.
    ///
    /// "Finished its start" means that the sibling's `started` returned and
    /// the futures it waited on with `ctx.wait` completed (for a nested
    /// supervisor: each of its children finished its start). Until then,
    /// this child waits, shown as [`NodeState::Waiting`](crate::snapshot::NodeState::Waiting),
    /// at most its [`start_timeout`](ChildSpec::start_timeout). The same
    /// holds for each restart. Children with no dependency between them
    /// start concurrently.
    pub fn depends_on(mut self, name: impl Into<String>) -> Self {
        self.extras_mut().depends_on.push(name.into());
        self
    }

    /// Bounds how long each start of this child waits for the siblings it
    /// [depends on](ChildSpec::depends_on) to finish theirs (default 30 s).
    /// When it runs out, the start attempt fails without running the
    /// child's code: a failure in phase
    /// [`Waiting`](crate::snapshot::FailurePhase::Waiting) naming the sibling, and
    /// for the first attempt [`StartError::DependencyNotReady`](crate::StartError::DependencyNotReady);
    /// the child's restart policy decides what follows. A child without
    /// dependencies never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # use actix::prelude::*;
    /// # #[derive(Default)] struct Store;
    /// # impl Actor for Store { type Context = Context<Self>; }
    /// # actix_supervisor::supervised!(Store);
    /// # #[derive(Default)] struct Reader;
    /// # impl Actor for Reader { type Context = Context<Self>; }
    /// # actix_supervisor::supervised!(Reader);
    /// use actix_supervisor::{ChildSpec, SupervisorActor};
    ///
    /// let app = SupervisorActor::builder("app")
    ///     .child(ChildSpec::new("store", Store::default))
    ///     .child(
    ///         ChildSpec::new("reader", Reader::default)
    ///             .depends_on("store")
    ///             .start_timeout(Duration::from_secs(5)),
    ///     );
    /// # drop(app);
    /// ```
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.extras_mut().start_timeout = Some(timeout);
        self
    }

    /// The child's address. It is valid before the child starts (messages
    /// wait in the mailbox) and stays valid across restarts.
    pub fn address(&self) -> Addr<A> {
        self.addr().clone()
    }

    /// A handle to the child: its address, plus sends that are refused once
    /// the child is stopping and counted in its stop report, and a graceful
    /// [`stop`](ChildHandle::stop).
    pub fn handle(&self) -> ChildHandle<A> {
        ChildHandle::new(self.addr().clone(), self.shared.clone())
    }

    /// The child's name.
    pub fn name(&self) -> &str {
        self.shared.name()
    }

    /// The child's address, which the spec holds until the child starts.
    fn addr(&self) -> &Addr<A> {
        self.addr
            .as_ref()
            .expect("a spec holds its child's address until the child starts")
    }

    fn extras_mut(&mut self) -> &mut SpecExtras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// Gives the child statistics for `Inspect` to show.
    pub(crate) fn set_stats(&mut self, stats: Arc<std::sync::Mutex<TaskStats>>) {
        self.extras_mut().stats = Some(stats);
    }

    /// What the child's runner is started with; the spec is left empty.
    fn take_parts(&mut self) -> Parts<A> {
        Parts {
            factory: std::mem::replace(
                &mut self.factory,
                Box::new(|_: &StartContext| Err("started already".to_string())),
            ),
            addr: self.addr.take().expect("a spec is started once"),
            receiver: self.receiver.take().expect("a spec is started once"),
            shared: self.shared.clone(),
            kind: self.kind,
            stats: self.extras.as_mut().and_then(|extras| extras.stats.take()),
        }
    }

    /// Records a field of the kind's configuration that cannot be used; the
    /// tree refuses to build with it.
    pub(crate) fn set_config_error(&mut self, error: FieldError) {
        self.extras_mut().config_error = Some(error);
    }

    /// Makes the child **temporary**: once it will not run again (its
    /// policy does not restart it, it was stopped, or it gave up), it leaves
    /// its supervisor's table, and its name and its slot are free for the
    /// next child. Default: the child stays, `Stopped` or `Failed`, until
    /// [`RemoveChild`](crate::RemoveChild).
    ///
    /// Its end is still published: the `Stopped` lifecycle event carries its
    /// final report, whose outcome holds its last failure
    /// ([`StopOutcome::Failed`](crate::StopOutcome::Failed)), before it
    /// leaves; a [`ChildHandle::stop`](crate::ChildHandle::stop) answers
    /// that report. Once it left, a sibling that
    /// [depends on](ChildSpec::depends_on) it no longer waits for it to stop
    /// first; one that starts (or restarts) after it ended waits for it at
    /// most its start timeout, as for any dependency that ended.
    ///
    /// With [`RestartPolicy::Never`] this is OTP's `temporary` restart type:
    /// one run, then gone, for one-shot jobs started with
    /// [`StartChild`](crate::StartChild), so that a supervisor running
    /// millions of them keeps only the live ones. It is a separate choice
    /// from the policy (rather than a fourth policy) because whether a child
    /// restarts and whether its node is kept once it ended are two
    /// questions: an `Always` child may be temporary too, and leaves only
    /// when it is stopped or gives up.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix::prelude::*;
    /// use actix_supervisor::prelude::*;
    ///
    /// #[derive(Default)]
    /// struct Job;
    /// impl Actor for Job {
    ///     type Context = Context<Self>;
    ///     fn started(&mut self, ctx: &mut Context<Self>) {
    ///         ctx.stop(); // its work is done
    ///     }
    /// }
    /// actix_supervisor::supervised!(Job);
    ///
    /// # actix::System::new().block_on(async {
    /// let app = SupervisorActor::builder("app").start()?;
    /// let spec = ChildSpec::new("job-1", Job::default)
    ///     .restart(RestartPolicy::Never)
    ///     .remove_on_exit();
    /// let job = spec.handle();
    /// app.send(StartChild::new(spec)).await??;
    /// let report = job.stop().await; // answers once it ended
    /// assert!(report.is_drained());
    /// assert!(app.send(Inspect).await?.find("/app/job-1").is_none());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn remove_on_exit(mut self) -> Self {
        self.remove_on_exit = true;
        self
    }
}

impl<A: Actor<Context = Context<A>>> fmt::Debug for ChildSpec<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.shared.name())
            .field("actor", &std::any::type_name::<A>())
            .field("restart", &self.restart)
            .field(
                "backoff",
                &self.extras.as_ref().and_then(|e| e.backoff.as_ref()),
            )
            .field("grace", &self.grace)
            .field(
                "depends_on",
                &self.extras.as_ref().map_or(&[][..], |e| &e.depends_on[..]),
            )
            .field("remove_on_exit", &self.remove_on_exit)
            .finish_non_exhaustive()
    }
}

/// A child spec of any actor type, ready to be given to a supervisor.
///
/// Made from a [`ChildSpec`] with `.into()`; supervisor builders accept
/// anything that converts into it.
///
/// # Examples
///
/// Children of different actor types, and a nested supervisor, in one list:
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::plumbing::AnyChildSpec;
/// use actix_supervisor::{ChildSpec, SupervisorActor};
///
/// #[derive(Default)]
/// struct Cache;
/// impl Actor for Cache { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Cache);
/// # #[derive(Default)]
/// # struct Mailer;
/// # impl Actor for Mailer { type Context = Context<Self>; }
/// # actix_supervisor::supervised!(Mailer);
///
/// let children: Vec<AnyChildSpec> = vec![
///     ChildSpec::new("cache", Cache::default).into(),
///     ChildSpec::new("mailer", Mailer::default).into(),
///     SupervisorActor::builder("jobs").into(),
/// ];
/// let names: Vec<&str> = children.iter().map(AnyChildSpec::name).collect();
/// assert_eq!(names, ["cache", "mailer", "jobs"]);
///
/// let app = children
///     .into_iter()
///     .fold(SupervisorActor::builder("app"), |app, child| app.child(child));
/// assert!(app.validate().is_ok());
/// ```
pub struct AnyChildSpec(pub(crate) Box<dyn ErasedSpec>);

impl AnyChildSpec {
    /// The child's name.
    pub fn name(&self) -> &str {
        self.0.common().name
    }
}

impl fmt::Debug for AnyChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyChildSpec")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

impl<A: SupervisedActor> From<ChildSpec<A>> for AnyChildSpec {
    fn from(spec: ChildSpec<A>) -> Self {
        AnyChildSpec(Box::new(spec))
    }
}

/// The fields every kind of spec has, borrowed for validation and for the
/// supervisor's child table.
pub(crate) struct SpecCommon<'a> {
    pub(crate) name: &'a str,
    pub(crate) restart: RestartPolicy,
    pub(crate) backoff: Option<&'a Backoff>,
    pub(crate) grace: Grace,
    pub(crate) depends_on: &'a [String],
    /// Unset: [`DEFAULT_START_TIMEOUT`].
    pub(crate) start_timeout: Option<Duration>,
}

/// What a supervisor needs of a spec without knowing its actor type.
pub(crate) trait ErasedSpec: Send {
    fn common(&self) -> SpecCommon<'_>;
    /// Checks every field, as if the child sat under `parent`.
    fn validate(&self, parent: &NodePath) -> Result<(), BuildError>;
    /// Tells the child's handles the path it will have.
    fn assign_path(&self, path: NodePath);
    /// The path assigned by `assign_path`.
    fn assigned_path(&self) -> NodePath;
    /// Whether this is a nested supervisor's spec.
    fn is_supervisor(&self) -> bool {
        false
    }
    /// The children of a nested supervisor's spec; none for an actor.
    fn children(&self) -> &[AnyChildSpec] {
        &[]
    }
    /// Spawns the child's runner on the current arbiter.
    fn start(self: Box<Self>, env: ChildEnv) -> Rc<ChildLink>;
    /// Whether the child leaves its supervisor's table when it will not run
    /// again ([`ChildSpec::remove_on_exit`]).
    fn removes_on_exit(&self) -> bool {
        false
    }
}

impl<A: SupervisedActor> ErasedSpec for ChildSpec<A> {
    fn common(&self) -> SpecCommon<'_> {
        SpecCommon {
            name: self.shared.name(),
            restart: self.restart,
            backoff: self.extras.as_ref().and_then(|e| e.backoff.as_ref()),
            grace: self.grace,
            depends_on: self.extras.as_ref().map_or(&[], |e| &e.depends_on),
            start_timeout: self.extras.as_ref().and_then(|e| e.start_timeout),
        }
    }

    fn validate(&self, parent: &NodePath) -> Result<(), BuildError> {
        if let Some(error) = self.extras.as_ref().and_then(|e| e.config_error.as_ref()) {
            return Err(BuildError::InvalidField {
                path: parent.join(self.name()),
                field: error.field,
                reason: error.reason.clone(),
            });
        }
        validate(&self.common(), parent)
    }

    fn assign_path(&self, path: NodePath) {
        self.shared.set_path(path);
    }

    fn assigned_path(&self) -> NodePath {
        self.shared.path()
    }

    fn start(mut self: Box<Self>, env: ChildEnv) -> Rc<ChildLink> {
        let parts = self.take_parts();
        drop(self);
        runner::spawn(env, parts)
    }

    fn removes_on_exit(&self) -> bool {
        self.remove_on_exit
    }
}

/// Checks every field of a spec whose child sits under `parent`; errors name
/// the child's path (made only then) and the field.
pub(crate) fn validate(common: &SpecCommon<'_>, parent: &NodePath) -> Result<(), BuildError> {
    let path = || parent.join(common.name);
    if let Some(backoff) = common.backoff {
        backoff.validate().map_err(|e| BuildError::InvalidField {
            path: path(),
            field: e.field,
            reason: e.reason,
        })?;
    }
    if common.grace == Grace::Duration(Duration::ZERO) {
        return Err(BuildError::InvalidField {
            path: path(),
            field: "grace",
            reason: "must be above zero (use a short grace, not none)".into(),
        });
    }
    if common.start_timeout == Some(Duration::ZERO) {
        return Err(BuildError::InvalidField {
            path: path(),
            field: "start_timeout",
            reason: "must be above zero".into(),
        });
    }
    Ok(())
}
