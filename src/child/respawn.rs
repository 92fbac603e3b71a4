//! Starting again a child that ended: what its runner leaves behind when it
//! is done ([`Kept`]: the factory, the kind) so that its supervisor can start
//! it again from its spec, as its next incarnation, on request
//! ([`RestartChild`](crate::RestartChild)).
//!
//! A child that ended has closed its mailbox: every pending and later send
//! to its old `Addr` failed at once, as for any child that will not run
//! again. Its next start gets a new mailbox, a new address and fresh shared
//! state ([`ChildShared`]: accepting, no report); the old shared state keeps
//! its report, so every stop asked before still answers, and points to the
//! new one ([`Successor`]), which is how a [`ChildHandle`](crate::ChildHandle)
//! reaches the new incarnation. A raw `Addr` taken before stays closed.

use std::rc::Rc;

use actix::dev::channel;
use actix::Addr;

use super::drain::{ChildShared, Successor};
use super::link::{ChildEnv, ChildLink, Respawn, StartAfter};
use super::start::{Factory, Parts};
use super::supervised::SupervisedActor;
use crate::tree::NodeKind;

/// The capacity of a restarted child's new mailbox, as a spec's.
const MAILBOX_CAPACITY: usize = 16;

/// A finished child's factory, kept by its link.
pub(crate) struct Kept<A: SupervisedActor> {
    factory: Factory<A>,
    kind: NodeKind,
    start_after: StartAfter,
    /// Spawns a runner (the runner's own `spawn`, handed over so that this
    /// file does not import the runner, which makes a `Kept`).
    spawn: Spawn<A>,
}

/// How a runner is spawned: `runner::spawn_again`.
pub(crate) type Spawn<A> = fn(ChildEnv, Parts<A>) -> Rc<ChildLink>;

impl<A: SupervisedActor> std::fmt::Debug for Kept<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<A: SupervisedActor> Kept<A> {
    pub(crate) fn new(
        factory: Factory<A>,
        kind: NodeKind,
        start_after: StartAfter,
        spawn: Spawn<A>,
    ) -> Self {
        Kept {
            factory,
            kind,
            start_after,
            spawn,
        }
    }
}

impl<A: SupervisedActor> Respawn for Kept<A> {
    fn start_after(&self) -> StartAfter {
        self.start_after.clone()
    }

    fn respawn(self: Box<Self>, env: ChildEnv, old: &ChildLink) -> Rc<ChildLink> {
        let (sender, receiver) = channel::channel(MAILBOX_CAPACITY);
        let addr = Addr::new(sender);
        let shared = ChildShared::new(old.shared.name().to_string());
        old.shared.set_successor(Successor {
            shared: shared.clone(),
            addr: Box::new(addr.clone()),
        });
        let (last_failure, stats) = {
            let record = old.record.borrow();
            (record.last_failure.clone(), record.stats.clone())
        };
        let parts = Parts {
            factory: self.factory,
            addr,
            receiver,
            shared,
            kind: self.kind,
            stats,
        };
        let link = (self.spawn)(env, parts);
        // The last failure stays the node's until a new one comes.
        let mut record = link.record.borrow_mut();
        if record.last_failure.is_none() {
            record.last_failure = last_failure;
        }
        drop(record);
        link
    }
}
