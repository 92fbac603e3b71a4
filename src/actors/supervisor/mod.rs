//! [`SupervisorActor`]: the actor that starts an ordered set of children from
//! their specs, supervises them, and answers control messages about them.
//!
//! The per-child work (containing panics, restarting in place, waiting out a
//! backoff) is done by each child's runner ([`crate::actors::runner`]); the
//! supervisor owns the child table ([`children`]) and the view of the tree.

pub(crate) mod children;
pub(crate) mod restart;

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, MessageResult};
use tokio::time::Instant;
use tracing::Instrument as _;

use self::children::{ChildEntry, ChildEnv, Children, Command};
use crate::error::{check_name, BuildError};
use crate::messages::inspect::Inspect;
use crate::spec::{self, AnyChildSpec};
use crate::tree::{NodeKind, NodePath, NodeSnapshot, NodeState, TreeSnapshot};

/// An actix actor that supervises an ordered set of children.
///
/// Build one with [`SupervisorActor::builder`]. Each child is started from its
/// [`ChildSpec`](crate::ChildSpec) in the order given; when a child's
/// incarnation ends, its restart policy decides whether a fresh one starts,
/// now or after a backoff. Ask for the tree with [`Inspect`].
///
/// When the supervisor stops, every child is terminated and its address
/// closes.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::{ChildSpec, Inspect, SupervisorActor};
///
/// #[derive(Default)]
/// struct Counter(u64);
/// impl Actor for Counter { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Counter);
///
/// #[derive(Message)]
/// #[rtype(result = "u64")]
/// struct Increment;
/// impl Handler<Increment> for Counter {
///     type Result = u64;
///     fn handle(&mut self, _: Increment, _: &mut Context<Self>) -> u64 {
///         self.0 += 1;
///         self.0
///     }
/// }
///
/// # actix::System::new().block_on(async {
/// let counter = ChildSpec::new("counter", Counter::default);
/// let addr = counter.address();
/// let app = SupervisorActor::builder("app").child(counter).start()?;
///
/// assert_eq!(addr.send(Increment).await?, 1);
/// let tree = app.send(Inspect).await?;
/// assert_eq!(tree.find("/app/counter").unwrap().incarnation, 1);
/// println!("{tree}");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct SupervisorActor {
    path: NodePath,
    children: Children,
    pending: Vec<AnyChildSpec>,
    started_at: Instant,
}

impl SupervisorActor {
    /// Starts describing a supervisor called `name`.
    pub fn builder(name: impl Into<String>) -> SupervisorBuilder {
        SupervisorBuilder {
            name: name.into(),
            children: Vec::new(),
        }
    }

    /// This supervisor's path.
    pub fn path(&self) -> &NodePath {
        &self.path
    }

    fn snapshot(&self) -> NodeSnapshot {
        let children = self
            .children
            .iter()
            .map(|entry| entry.link.record.borrow().snapshot(Vec::new()))
            .collect();
        NodeSnapshot {
            name: self.path.name().to_string(),
            path: self.path.clone(),
            kind: NodeKind::Supervisor,
            state: NodeState::Running,
            incarnation: 1,
            restart_count: 0,
            last_failure: None,
            uptime: Some(self.started_at.elapsed()),
            children,
        }
    }
}

/// Describes a [`SupervisorActor`] before it starts: its name and children.
///
/// Nothing is started until [`start`](SupervisorBuilder::start), which checks
/// the whole description first.
#[derive(Debug)]
#[must_use = "a supervisor builder does nothing until `start` is called"]
pub struct SupervisorBuilder {
    name: String,
    children: Vec<AnyChildSpec>,
}

impl SupervisorBuilder {
    /// Adds a child; children start in the order they are added.
    pub fn child(mut self, spec: impl Into<AnyChildSpec>) -> Self {
        self.children.push(spec.into());
        self
    }

    /// Checks the description and starts the supervisor on the current
    /// arbiter; its children start right after.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the node and the field when a name is empty,
    /// contains `/` or is used twice, or when a policy has a value that cannot
    /// be used (see [`Backoff`](crate::Backoff)). Nothing is started then.
    ///
    /// # Panics
    ///
    /// When called outside a running actix system.
    pub fn start(self) -> Result<Addr<SupervisorActor>, BuildError> {
        let supervisor = self.build()?;
        let span = tracing::info_span!("node", path = %supervisor.path);
        let context = Context::new();
        let addr = context.address();
        actix_rt::spawn(context.into_future(supervisor).instrument(span));
        Ok(addr)
    }

    fn build(self) -> Result<SupervisorActor, BuildError> {
        if let Err(BuildError::InvalidName { name, reason, .. }) =
            check_name(&NodePath::root(""), &self.name)
        {
            return Err(BuildError::InvalidField {
                path: NodePath::root(&name),
                field: "name",
                reason: reason.to_string(),
            });
        }
        let path = NodePath::root(&self.name);
        let mut names = std::collections::HashSet::new();
        for child in &self.children {
            let common = child.0.common();
            check_name(&path, common.name)?;
            if !names.insert(common.name) {
                return Err(BuildError::DuplicateName {
                    parent: path.clone(),
                    name: common.name.to_string(),
                });
            }
            spec::validate(&common, &path.join(common.name))?;
        }
        for child in &self.children {
            let common = child.0.common();
            for dependency in common.depends_on {
                if dependency == common.name || !names.contains(dependency.as_str()) {
                    return Err(BuildError::InvalidField {
                        path: path.join(common.name),
                        field: "depends_on",
                        reason: format!("{dependency:?} is not a sibling"),
                    });
                }
            }
        }
        Ok(SupervisorActor {
            path,
            children: Children::default(),
            pending: self.children,
            started_at: Instant::now(),
        })
    }
}

impl Actor for SupervisorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::info!(path = %self.path, children = self.pending.len(), "supervisor started");
        self.started_at = Instant::now();
        let me = ctx.address().downgrade();
        for spec in std::mem::take(&mut self.pending) {
            let common = spec.0.common();
            let name = common.name.to_string();
            if let Err(err) = self.children.check_unique(&self.path, &name) {
                tracing::error!(%err, "child not started");
                continue;
            }
            let env = ChildEnv {
                path: self.path.join(&name),
                supervisor: me.clone(),
                restart: common.restart,
                backoff: common.backoff.cloned(),
            };
            let link = spec.0.start(env);
            self.children.push(ChildEntry { name, link });
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        for child in self.children.iter() {
            child.link.command(Command::Terminate);
        }
        tracing::info!(path = %self.path, "supervisor stopped");
    }
}

impl Handler<Inspect> for SupervisorActor {
    type Result = MessageResult<Inspect>;

    fn handle(&mut self, _: Inspect, _: &mut Context<Self>) -> Self::Result {
        MessageResult(TreeSnapshot::new(self.snapshot()))
    }
}

/// Ends the supervisor's context; used by tests of the "supervisor gone" path.
impl Handler<crate::messages::Shutdown> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, _: crate::messages::Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
