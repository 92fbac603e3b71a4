//! What a child is started with: its factory, its mailbox, its shared state
//! ([`Parts`]), and what each incarnation's factory call is told
//! ([`StartContext`]).

use std::sync::{Arc, Mutex};

use actix::dev::channel::AddressReceiver;
use actix::{Actor, Addr, Context};
use tokio_util::sync::CancellationToken;

use super::drain::ChildShared;
use crate::tree::{NodeKind, NodePath, TaskStats};

/// Builds a fresh actor value for each incarnation.
pub(crate) type Factory<A> = Box<dyn FnMut(&StartContext) -> Result<A, String> + Send>;

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
