//! What a child is started with: a spec's fields until it starts
//! ([`Unstarted`], what [`ChildSpec`](crate::ChildSpec) wraps), the parts
//! its runner takes from them (its factory, its mailbox, its shared state:
//! [`Parts`]), and what each incarnation's factory call is told
//! ([`StartContext`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::dev::channel::AddressReceiver;
use actix::{Actor, Addr, Context};
use tokio_util::sync::CancellationToken;

use super::drain::ChildShared;
use crate::policy::{Backoff, FieldError, Grace, RestartPolicy};
use crate::tree::{NodeKind, NodePath, TaskStats};

/// Builds a fresh actor value for each incarnation.
pub(crate) type Factory<A> = Box<dyn FnMut(&StartContext) -> Result<A, String> + Send>;

/// A spec's fields, until its child starts: what a
/// [`ChildSpec`](crate::ChildSpec) holds, and what a supervisor keeps of it
/// (boxed in the runner's `Block`, whose allocation the runner then keeps
/// as its core).
pub(crate) struct Unstarted<A: Actor<Context = Context<A>>> {
    pub(crate) factory: Factory<A>,
    pub(crate) restart: RestartPolicy,
    pub(crate) grace: Grace,
    pub(crate) extras: Option<Box<SpecExtras>>,
    /// Moved to the child's runner when it starts: a clone would cost
    /// actix two allocations.
    pub(crate) addr: Option<Addr<A>>,
    /// Taken when the child starts; still here when the spec is dropped
    /// unstarted.
    pub(crate) receiver: Option<AddressReceiver<A>>,
    pub(crate) shared: Arc<ChildShared>,
    pub(crate) kind: NodeKind,
    /// Leaves its supervisor's table when it will not run again. Here, not
    /// in the extras: every pool child has it, and a box for one flag would
    /// cost each job an allocation.
    pub(crate) remove_on_exit: bool,
}

/// The parts of a spec most specs do not have.
#[derive(Debug, Default)]
pub(crate) struct SpecExtras {
    pub(crate) backoff: Option<Backoff>,
    pub(crate) depends_on: Vec<String>,
    pub(crate) start_timeout: Option<Duration>,
    /// A field of a kind's configuration that cannot be used, reported when
    /// the tree is built.
    pub(crate) config_error: Option<FieldError>,
    /// A periodic or worker child's statistics; moved to the node's record
    /// when the child starts.
    pub(crate) stats: Option<Arc<Mutex<TaskStats>>>,
}

impl<A: Actor<Context = Context<A>>> Drop for Unstarted<A> {
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

impl<A: Actor<Context = Context<A>>> Unstarted<A> {
    /// The child's address, which the spec holds until the child starts.
    pub(crate) fn addr(&self) -> &Addr<A> {
        self.addr
            .as_ref()
            .expect("a spec holds its child's address until the child starts")
    }

    /// What the child's runner is started with; the spec is left empty
    /// (its factory a closure that allocates nothing).
    pub(crate) fn take_parts(&mut self) -> Parts<A> {
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
}

/// Everything a child's runner is started with, taken from its spec.
pub(crate) struct Parts<A: Actor<Context = Context<A>>> {
    pub(crate) factory: Factory<A>,
    pub(crate) addr: Addr<A>,
    pub(crate) receiver: AddressReceiver<A>,
    pub(crate) shared: Arc<ChildShared>,
    pub(crate) kind: NodeKind,
    /// A periodic or worker child's statistics.
    pub(crate) stats: Option<Arc<Mutex<TaskStats>>>,
}

/// What a factory is told about the incarnation it builds.
///
/// Given to the factory of [`ChildSpec::with_context`](crate::ChildSpec::with_context),
/// [`ChildSpec::periodic`](crate::ChildSpec::periodic) and
/// [`ChildSpec::worker`](crate::ChildSpec::worker).
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::{ChildSpec, SupervisorActor};
///
/// struct Conn { incarnation: u64 }
/// impl Actor for Conn { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Conn);
/// # #[derive(Message)]
/// # #[rtype(result = "u64")]
/// # struct Incarnation;
/// # impl Handler<Incarnation> for Conn {
/// #     type Result = u64;
/// #     fn handle(&mut self, _: Incarnation, _: &mut Context<Self>) -> u64 { self.incarnation }
/// # }
/// # #[derive(Message)]
/// # #[rtype(result = "()")]
/// # struct Crash;
/// # impl Handler<Crash> for Conn {
/// #     type Result = ();
/// #     fn handle(&mut self, _: Crash, _: &mut Context<Self>) { panic!("connection reset") }
/// # }
///
/// # actix::System::new().block_on(async {
/// # std::panic::set_hook(Box::new(|_| {})); // keep the example's output quiet
/// let spec = ChildSpec::with_context("conn", |start| Conn { incarnation: start.incarnation() });
/// let conn = spec.handle();
/// let _app = SupervisorActor::builder("app").child(spec).start()?;
/// assert_eq!(conn.send(Incarnation).await?, 1);
/// assert!(conn.send(Crash).await.is_err()); // restarted at once (no backoff)
/// assert_eq!(conn.send(Incarnation).await?, 2);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct StartContext {
    pub(crate) path: NodePath,
    pub(crate) incarnation: u64,
    /// The supervisor's token, parent of this incarnation's (shared, not
    /// cloned: see `SupervisorScope::token`).
    pub(crate) parent_token: Arc<CancellationToken>,
    /// This incarnation's token, made the first time it is asked for: a
    /// child that never asks costs no token.
    pub(crate) token: std::cell::OnceCell<CancellationToken>,
}

impl StartContext {
    /// The child's path.
    pub fn path(&self) -> &NodePath {
        &self.path
    }

    /// Which incarnation this is: 1 for the first start.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// A token cancelled as soon as a stop (or a strategy restart) of this
    /// incarnation begins, and when it ends at the latest: tasks it spawned
    /// can wind down while its mailbox drains. A child of the supervisor's
    /// token, so cancelling a subtree cancels everything under it and
    /// nothing else.
    pub fn token(&self) -> &CancellationToken {
        self.token.get_or_init(|| self.parent_token.child_token())
    }
}
