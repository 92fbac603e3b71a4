//! [`Pool`]: many children of one kind, started at run time from a template
//! with per-child arguments, with an optional cap on how many run at once.
//!
//! A pool is a [`SupervisorActor`] whose children are all temporary
//! ([`ChildSpec::remove_on_exit`]): each leaves the table when it will not
//! run again, so the table, the snapshot and the memory follow the live
//! children, not the history. The pool's supervisor keeps every promise of
//! a supervisor (a `Stop` drains every child and answers a report,
//! `Inspect` shows the live children, lifecycle events are published, each
//! child has a startup handle) and can be the root of a tree or a child of
//! another supervisor. What the pool adds is a [`Pool`] handle: it sends
//! the template and the arguments of each child to the supervisor, which
//! builds the child's spec there and starts it as a
//! [`StartChild`](crate::StartChild) would, or refuses it with
//! [`ControlError::Full`] when `max_children` children run already
//! (Postgres refuses a background worker the same way when its slots are
//! full; OTP's `simple_one_for_one` and Elixir's `DynamicSupervisor` are
//! the models). The pool's numbers skip a name already taken, by a child
//! started under that name with `start_named` or a plain `StartChild`.
//!
//! The limit is checked by the supervisor as it handles the start, so
//! concurrent callers on any thread can never start more than
//! `max_children`. A child that ended counts no longer: a caller that
//! waited for [`ChildHandle::ended`] and starts the next child is never
//! refused because of it.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix::Addr;

use super::supervisor::{SupervisorActor, SupervisorBuilder};
use crate::child::{ChildHandle, SupervisedActor};
use crate::error::{BuildError, ControlError};
use crate::policy::{Backoff, Grace, RestartIntensity, RestartPolicy};
use crate::spec::{AnyChildSpec, ChildSpec};
use crate::tree::NodePath;

/// The template a pool builds each child from, with the settings every
/// child gets; shared by the builder and every [`Pool`] handle.
struct Template<A, Args> {
    factory: Box<dyn Fn(&Args) -> A + Send + Sync>,
    /// Set while the pool is described, read at each start (a handle taken
    /// before a setter was called sees the setting).
    settings: Mutex<ChildSettings>,
    /// The pool's name, for errors about a pool that never started.
    name: String,
    /// The number of the next child named by the pool.
    next: AtomicU64,
}

/// The settings every child of a pool gets.
#[derive(Debug, Clone)]
struct ChildSettings {
    restart: RestartPolicy,
    backoff: Option<Backoff>,
    grace: Grace,
}

impl<A, Args> Template<A, Args> {
    fn settings(&self) -> ChildSettings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn update(&self, change: impl FnOnce(&mut ChildSettings)) {
        change(&mut self.settings.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Describes a [`Pool`] before it starts: its name, its template, its
/// `max_children`, and the settings of its children and of itself.
///
/// Start it as the root of a tree with [`start`](PoolBuilder::start), or
/// give it to another supervisor as a child (it converts into an
/// [`AnyChildSpec`]) after keeping its [`pool`](PoolBuilder::pool) handle.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
/// use actix_supervisor::pool::Pool;
///
/// struct Backfill { table: String }
/// impl Actor for Backfill {
///     type Context = Context<Self>;
///     fn started(&mut self, ctx: &mut Context<Self>) {
///         // ... the job's work ...
///         ctx.stop(); // done: the child leaves the pool
///     }
/// }
/// actix_supervisor::supervised!(Backfill);
///
/// # actix::System::new().block_on(async {
/// let jobs = Pool::builder("jobs", |table: &String| Backfill { table: table.clone() })
///     .max_children(2);
/// let pool = jobs.pool();
/// let app = SupervisorActor::builder("app").child(jobs).start()?;
///
/// let job = pool.start("accounts".to_string()).await?;
/// let report = job.ended().await;
/// assert_eq!(report.path.as_str(), "/app/jobs/1");
/// assert!(app.send(Inspect).await?.find("/app/jobs/1").is_none());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[must_use = "a pool builder does nothing until `start` is called or it is given to a parent"]
pub struct PoolBuilder<A, Args> {
    supervisor: SupervisorBuilder,
    template: Arc<Template<A, Args>>,
}

impl<A, Args> fmt::Debug for PoolBuilder<A, Args> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("supervisor", &self.supervisor)
            .field("max_children", &self.supervisor.parts.max_children)
            .field("children", &self.template.settings())
            .finish_non_exhaustive()
    }
}

/// A handle to a running pool: starts its children, and reaches its
/// supervisor.
///
/// Cheap to clone, and usable from any thread: each start sends the
/// child's arguments to the pool's supervisor, which builds the child.
/// Valid before the pool starts (starts wait in the supervisor's mailbox).
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
/// use actix_supervisor::pool::Pool;
///
/// struct Vacuum { table: &'static str }
/// impl Actor for Vacuum { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Vacuum);
///
/// # actix::System::new().block_on(async {
/// let pool = Pool::builder("vacuum", |table: &&'static str| Vacuum { table })
///     .max_children(1)
///     .start()?;
/// let first = pool.start("accounts").await?;
/// first.started().await?;
/// // Its one slot is taken: the next start is refused, with the reason.
/// match pool.start("orders").await {
///     Err(ControlError::Full { max_children, .. }) => assert_eq!(max_children, 1),
///     other => panic!("unexpected {other:?}"),
/// }
/// first.stop().await; // it ended: its slot is free at once
/// let second = pool.start("orders").await?;
/// // The refused start took no number.
/// assert_eq!(second.path().as_str(), "/vacuum/2");
/// let report = pool.supervisor().send(Stop).await?; // drains every child
/// assert!(report.is_drained());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Pool<A, Args> {
    supervisor: Addr<SupervisorActor>,
    template: Arc<Template<A, Args>>,
    _child: PhantomData<fn() -> A>,
}

impl<A, Args> Clone for Pool<A, Args> {
    fn clone(&self) -> Self {
        Pool {
            supervisor: self.supervisor.clone(),
            template: self.template.clone(),
            _child: PhantomData,
        }
    }
}

impl<A, Args> fmt::Debug for Pool<A, Args> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("actor", &std::any::type_name::<A>())
            .field("started", &self.template.next.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Pool<(), ()> {
    /// Starts describing a pool called `name` whose children are built by
    /// `template` from the arguments each is started with.
    ///
    /// Defaults: no `max_children`; children [`RestartPolicy::Never`]
    /// (one run each), a 5 s grace, no backoff; the pool's own grace
    /// [`Grace::Infinity`] and the default [`RestartIntensity`].
    pub fn builder<A, Args, F>(name: impl Into<String>, template: F) -> PoolBuilder<A, Args>
    where
        A: SupervisedActor,
        Args: Send + 'static,
        F: Fn(&Args) -> A + Send + Sync + 'static,
    {
        let name = name.into();
        PoolBuilder {
            supervisor: SupervisorActor::builder(name.clone()),
            template: Arc::new(Template {
                factory: Box::new(template),
                settings: Mutex::new(ChildSettings {
                    restart: RestartPolicy::Never,
                    backoff: None,
                    grace: Grace::default(),
                }),
                name,
                next: AtomicU64::new(1),
            }),
        }
    }
}

impl<A, Args> PoolBuilder<A, Args>
where
    A: SupervisedActor,
    Args: Send + 'static,
{
    /// Caps the live children at `max_children`: a start past it is refused
    /// with [`ControlError::Full`] (default: no cap). `0` refuses every
    /// start.
    pub fn max_children(mut self, max_children: usize) -> Self {
        self.supervisor.parts.max_children = Some(max_children);
        self
    }

    /// The restart policy of each child (default [`RestartPolicy::Never`]:
    /// one run). Whatever the policy, a child leaves the pool when it will
    /// not run again; with `OnFailure` or `Always`, restarts count against
    /// the pool's [`intensity`](PoolBuilder::intensity).
    pub fn child_restart(self, policy: RestartPolicy) -> Self {
        self.template.update(|child| child.restart = policy);
        self
    }

    /// Waits between the restarts of a child (default: at once).
    pub fn child_backoff(self, backoff: Backoff) -> Self {
        self.template.update(|child| child.backoff = Some(backoff));
        self
    }

    /// Bounds the drain of each child when it is stopped (default 5 s).
    pub fn child_grace(self, grace: Grace) -> Self {
        self.template.update(|child| child.grace = grace);
        self
    }

    /// Bounds the stop of the whole pool (default [`Grace::Infinity`]: each
    /// child's own grace bounds it).
    pub fn grace(mut self, grace: Grace) -> Self {
        self.supervisor = self.supervisor.grace(grace);
        self
    }

    /// How many restarts of its children the pool allows within a period
    /// before it gives up (default: 3 within 5 s).
    pub fn intensity(mut self, intensity: RestartIntensity) -> Self {
        self.supervisor = self.supervisor.intensity(intensity);
        self
    }

    /// As a child of another supervisor: what its parent does when the pool
    /// gives up (default [`RestartPolicy::OnFailure`]).
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.supervisor = self.supervisor.restart(policy);
        self
    }

    /// The pool's supervisor address: valid before it starts.
    pub fn address(&self) -> Addr<SupervisorActor> {
        self.supervisor.address()
    }

    /// The handle that starts children in the pool, valid before the pool
    /// starts: keep it before giving the builder to a parent.
    pub fn pool(&self) -> Pool<A, Args> {
        Pool {
            supervisor: self.supervisor.address(),
            template: self.template.clone(),
            _child: PhantomData,
        }
    }

    /// Checks the description and starts the pool as the root of a tree.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the pool and the field when a setting cannot
    /// be used (an empty name, a zero grace, a backoff whose maximum is
    /// below its initial delay, ...).
    ///
    /// # Panics
    ///
    /// When called outside a running actix system.
    pub fn start(self) -> Result<Pool<A, Args>, BuildError> {
        self.validate()?;
        let pool = self.pool();
        self.supervisor.start()?;
        Ok(pool)
    }

    /// Checks the pool's settings and its children's, without starting
    /// anything.
    ///
    /// # Errors
    ///
    /// The [`BuildError`] [`start`](PoolBuilder::start) would return.
    pub fn validate(&self) -> Result<(), BuildError> {
        self.supervisor.validate()?;
        let path = NodePath::root(self.supervisor.name());
        let child = self.template.settings();
        crate::spec::validate(
            &crate::spec::SpecCommon {
                name: "child",
                restart: child.restart,
                backoff: child.backoff.as_ref(),
                grace: child.grace,
                depends_on: &[],
                start_timeout: None,
            },
            &path,
        )
        .map_err(|err| match err {
            BuildError::InvalidField { field, reason, .. } => BuildError::InvalidField {
                path: path.clone(),
                field: child_field(field),
                reason,
            },
            other => other,
        })
    }
}

/// The pool's field for a child's field.
fn child_field(field: &'static str) -> &'static str {
    match field {
        "grace" => "child_grace",
        "backoff.initial" => "child_backoff.initial",
        "backoff.max" => "child_backoff.max",
        "backoff.multiplier" => "child_backoff.multiplier",
        "backoff.jitter" => "child_backoff.jitter",
        "backoff.stable_after" => "child_backoff.stable_after",
        other => other,
    }
}

impl<A, Args> From<PoolBuilder<A, Args>> for AnyChildSpec
where
    A: SupervisedActor,
    Args: Send + 'static,
{
    /// The pool as a child of another supervisor. Its own settings are
    /// checked with the tree; check its children's first with
    /// [`PoolBuilder::validate`] (otherwise a setting that cannot be used
    /// makes each start fail with [`ControlError::InvalidSpec`]).
    fn from(builder: PoolBuilder<A, Args>) -> Self {
        builder.supervisor.into()
    }
}

impl<A, Args> Pool<A, Args>
where
    A: SupervisedActor,
    Args: Send + 'static,
{
    /// Starts a child built by the template from `args`, named with the
    /// pool's next number (`1`, `2`, ...; a refused start takes none, and
    /// a number whose name a child has already is skipped), and answers
    /// its handle once the pool's supervisor took it: the child is
    /// starting, and its [`started`](ChildHandle::started) tells how the
    /// start went. The
    /// start is sent when `start` is called: dropping the future unpolled
    /// does not take it back (the child starts, and its handle is dropped).
    ///
    /// # Errors
    ///
    /// [`ControlError::Full`] when `max_children` children run already;
    /// [`ControlError::SupervisorStopping`] when the pool is stopping or
    /// gone; [`ControlError::InvalidSpec`] when the child settings cannot be
    /// used. `args` is dropped then.
    pub fn start(
        &self,
        args: Args,
    ) -> impl Future<Output = Result<ChildHandle<A>, ControlError>> + 'static {
        self.send(None, args)
    }

    /// Starts a child called `name` (unique in the pool, not a number the
    /// pool may give) built by the template from `args`; as
    /// [`start`](Pool::start).
    ///
    /// # Errors
    ///
    /// As [`start`](Pool::start), and [`ControlError::InvalidSpec`] for a
    /// name that is invalid or taken by a live child.
    pub fn start_named(
        &self,
        name: impl Into<String>,
        args: Args,
    ) -> impl Future<Output = Result<ChildHandle<A>, ControlError>> + 'static {
        self.send(Some(name.into()), args)
    }

    /// Sends the start to the pool's supervisor now (not when the future is
    /// first polled), which builds the child there.
    fn send(
        &self,
        name: Option<String>,
        args: Args,
    ) -> impl Future<Output = Result<ChildHandle<A>, ControlError>> + 'static {
        let template = self.template.clone();
        let started = self.supervisor.send(StartFromTemplate {
            template: self.template.clone(),
            name,
            args,
        });
        async move {
            started.await.unwrap_or_else(|_| {
                Err(ControlError::SupervisorStopping {
                    parent: NodePath::root(&template.name),
                })
            })
        }
    }

    /// The pool's supervisor: send it [`Inspect`](crate::Inspect),
    /// [`Stop`](crate::Stop), [`Subscribe`](crate::Subscribe),
    /// [`StopChild`](crate::StopChild) as to any supervisor.
    pub fn supervisor(&self) -> &Addr<SupervisorActor> {
        &self.supervisor
    }
}

/// A pool's start, handled by its supervisor: the child's spec, mailbox,
/// handle and name are made there, as the child is taken, so the pool's
/// numbers can skip the names already taken.
struct StartFromTemplate<A, Args> {
    template: Arc<Template<A, Args>>,
    /// `None`: the pool's next number that names no child.
    name: Option<String>,
    args: Args,
}

impl<A, Args> actix::Message for StartFromTemplate<A, Args>
where
    A: SupervisedActor,
{
    type Result = Result<ChildHandle<A>, ControlError>;
}

impl<A, Args> actix::Handler<StartFromTemplate<A, Args>> for SupervisorActor
where
    A: SupervisedActor,
    Args: Send + 'static,
{
    type Result = Result<ChildHandle<A>, ControlError>;

    fn handle(
        &mut self,
        start: StartFromTemplate<A, Args>,
        ctx: &mut actix::Context<Self>,
    ) -> Self::Result {
        self.can_take_child()?;
        let StartFromTemplate {
            template,
            name,
            args,
        } = start;
        let name = name.unwrap_or_else(|| loop {
            let number = template.next.fetch_add(1, Ordering::Relaxed).to_string();
            if !self.has_child(&number) {
                break number;
            }
        });
        let settings = template.settings();
        let mut spec = ChildSpec::new(name, move || (template.factory)(&args))
            .restart(settings.restart)
            .grace(settings.grace)
            .remove_on_exit();
        if let Some(backoff) = settings.backoff {
            spec = spec.backoff(backoff);
        }
        let handle = spec.handle();
        self.take_child(spec.into(), ctx)?;
        Ok(handle)
    }
}
