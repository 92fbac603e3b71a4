//! [`Registry`]: the code behind a configuration file's leaves, by key.
//!
//! A file can say which actor runs where and under which policies, but not
//! what the actor is: that is code. Each registered factory makes a
//! [`ChildSpec`] for a node's name; the node's policies from the file are
//! then applied on top of what the factory set.

use std::collections::BTreeMap;
use std::fmt;

use crate::actors::{Periodic, PeriodicActor, Tick};
use crate::child::SupervisedActor;
use crate::spec::{AnyChildSpec, ChildSpec};

use super::NodeConfig;

/// Makes a node's spec from its name and its configuration.
type MakeSpec = Box<dyn FnMut(&NodeConfig) -> Option<AnyChildSpec>>;

/// What a registered factory makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FactoryKind {
    /// Any supervised actor, configured without a schedule.
    Actor,
    /// A periodic child, which needs the node's `periodic` schedule.
    Periodic,
}

struct Entry {
    kind: FactoryKind,
    make: MakeSpec,
}

/// The factories a [`TreeConfig`](super::TreeConfig) can name, by key.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::config::Registry;
/// use actix_supervisor::periodic::{Tick, TickContext};
/// use actix_supervisor::ChildSpec;
///
/// #[derive(Default)]
/// struct Ingest;
/// impl Actor for Ingest { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Ingest);
///
/// struct Reconcile;
/// impl Tick for Reconcile {
///     type Error = std::convert::Infallible;
///     async fn tick(&mut self, _ctx: &TickContext) -> Result<(), Self::Error> {
///         Ok(())
///     }
/// }
///
/// let registry = Registry::new()
///     .actor("ingest", |name| ChildSpec::new(name, Ingest::default))
///     .periodic("reconciler", |name, schedule| {
///         ChildSpec::periodic(name, schedule, |_| Reconcile)
///     });
/// assert_eq!(registry.keys().collect::<Vec<_>>(), ["ingest", "reconciler"]);
/// ```
#[derive(Default)]
pub struct Registry {
    entries: BTreeMap<String, Entry>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers `make` under `key`: it makes the spec of a node with
    /// `factory = key`, given the node's name. The node's `restart`,
    /// `backoff`, `grace` and `depends_on`, when written, are applied to the
    /// spec it returns. A later registration under the same key replaces an
    /// earlier one.
    ///
    /// `make` is called once for each node naming it; to keep the children's
    /// handles, collect them from inside it (e.g. into a shared map).
    pub fn actor<A, F>(mut self, key: impl Into<String>, mut make: F) -> Self
    where
        A: SupervisedActor,
        F: FnMut(&str) -> ChildSpec<A> + 'static,
    {
        let make = Box::new(move |node: &NodeConfig| Some(apply(make(&node.name), node)));
        self.insert(key.into(), FactoryKind::Actor, make);
        self
    }

    /// Registers a periodic `make` under `key`: it makes the spec of a node
    /// with `factory = key`, given the node's name and its `periodic`
    /// schedule (which such a node must have), usually with
    /// [`ChildSpec::periodic`]. Policies are applied as for
    /// [`actor`](Registry::actor).
    pub fn periodic<T, F>(mut self, key: impl Into<String>, mut make: F) -> Self
    where
        T: Tick,
        F: FnMut(&str, Periodic) -> ChildSpec<PeriodicActor<T>> + 'static,
    {
        let make = Box::new(move |node: &NodeConfig| {
            let schedule = node.periodic.clone()?;
            Some(apply(make(&node.name, schedule), node))
        });
        self.insert(key.into(), FactoryKind::Periodic, make);
        self
    }

    /// The registered keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    fn insert(&mut self, key: String, kind: FactoryKind, make: MakeSpec) {
        self.entries.insert(key, Entry { kind, make });
    }

    /// The kind of the factory under `key`, if any.
    pub(super) fn kind(&self, key: &str) -> Option<FactoryKind> {
        self.entries.get(key).map(|entry| entry.kind)
    }

    /// Makes `node`'s spec with the factory under `key`; `None` when there is
    /// none, or when a periodic factory is given no schedule.
    pub(super) fn make(&mut self, key: &str, node: &NodeConfig) -> Option<AnyChildSpec> {
        let entry = self.entries.get_mut(key)?;
        (entry.make)(node)
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(key, entry)| (key, entry.kind)))
            .finish()
    }
}

/// Applies the policies written in `node` to the spec its factory made.
fn apply<A: SupervisedActor>(mut spec: ChildSpec<A>, node: &NodeConfig) -> AnyChildSpec {
    if let Some(restart) = node.restart {
        spec = spec.restart(restart);
    }
    if let Some(backoff) = &node.backoff {
        spec = spec.backoff(backoff.clone());
    }
    if let Some(grace) = node.grace {
        spec = spec.grace(grace);
    }
    for dependency in &node.depends_on {
        spec = spec.depends_on(dependency.clone());
    }
    spec.into()
}
