//! [`ArbiterPool`]: a few arbiters (threads), one supervised subtree on
//! each, to spread a tree's children over the machine's cores.

use actix_rt::{Arbiter, ArbiterHandle};

use super::builder::SupervisorBuilder;
use super::SupervisorActor;

/// `n` arbiters, each a thread with an actix event loop, to place one
/// subtree on each with [`subtrees`](ArbiterPool::subtrees) (or
/// [`SupervisorBuilder::on_arbiter`] with [`handle`](ArbiterPool::handle)).
///
/// Dropping the pool asks its arbiters to stop once the work they hold is
/// done; [`join`](ArbiterPool::join) also waits for their threads. Stop the
/// tree first: a subtree whose arbiter stops is reported failed.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
/// use actix_supervisor::ArbiterPool;
///
/// #[derive(Default)]
/// struct Hasher;
/// impl Actor for Hasher { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Hasher);
///
/// # actix::System::new().block_on(async {
/// let pool = ArbiterPool::new(2);
/// let mut app = SupervisorActor::builder("app");
/// // "hashers-0" on the first arbiter, "hashers-1" on the second.
/// for subtree in pool.subtrees("hashers", |_, sup| {
///     sup.child(ChildSpec::new("hasher", Hasher::default))
/// }) {
///     app = app.child(subtree);
/// }
/// let app = app.start()?;
/// let tree = app.send(Inspect).await?;
/// assert!(tree.find("/app/hashers-1/hasher").is_some());
/// app.send(Stop).await?;
/// drop(pool);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct ArbiterPool {
    arbiters: Vec<Arbiter>,
}

impl ArbiterPool {
    /// Starts `n` arbiters (at least one).
    ///
    /// # Panics
    ///
    /// When called outside a running actix system, or when a thread
    /// cannot be spawned.
    pub fn new(n: usize) -> Self {
        ArbiterPool {
            arbiters: (0..n.max(1)).map(|_| Arbiter::new()).collect(),
        }
    }

    /// How many arbiters it has.
    pub fn len(&self) -> usize {
        self.arbiters.len()
    }

    /// Always false: a pool has at least one arbiter.
    pub fn is_empty(&self) -> bool {
        self.arbiters.is_empty()
    }

    /// The handle of arbiter `i` (modulo the pool's size).
    pub fn handle(&self, i: usize) -> ArbiterHandle {
        self.arbiters[i % self.arbiters.len()].handle()
    }

    /// One supervisor per arbiter, named `{name}-{i}` and placed on arbiter
    /// `i`, its children added by `fill(i, builder)`; give them to a parent
    /// with [`SupervisorBuilder::child`].
    pub fn subtrees(
        &self,
        name: &str,
        mut fill: impl FnMut(usize, SupervisorBuilder) -> SupervisorBuilder,
    ) -> Vec<SupervisorBuilder> {
        (0..self.arbiters.len())
            .map(|i| {
                let builder = SupervisorActor::builder(format!("{name}-{i}"));
                fill(i, builder).on_arbiter(self.handle(i))
            })
            .collect()
    }

    /// Stops every arbiter and waits for their threads to end.
    pub fn join(mut self) {
        for arbiter in std::mem::take(&mut self.arbiters) {
            arbiter.stop();
            let _ = arbiter.join();
        }
    }
}

impl Drop for ArbiterPool {
    fn drop(&mut self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}
