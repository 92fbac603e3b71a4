//! Turns a [`TreeConfig`](super::TreeConfig)'s nodes into builders and specs,
//! checking what the file format alone cannot: which fields fit which kind of
//! node, and that each leaf's factory exists and is of the right kind.
//!
//! The values themselves (durations, names, dependencies) are then checked by
//! the same validation as a tree built in code, whose errors already name the
//! node and the field. [`validate`] builds the tree with stand-in factories,
//! so a file can be checked without the code behind it.

use actix::prelude::*;

use super::registry::{FactoryKind, Registry};
use super::NodeConfig;
use crate::actors::{Periodic, SupervisorActor, SupervisorBuilder, Tick, TickContext};
use crate::error::{check_name, BuildError, ConfigError};
use crate::spec::{AnyChildSpec, ChildSpec};
use crate::tree::NodePath;

/// Builds the root supervisor described by `root`, checked as a whole.
pub(super) fn build(
    root: &NodeConfig,
    registry: &mut Registry,
) -> Result<SupervisorBuilder, ConfigError> {
    let root_path = NodePath::root(&root.name);
    refuse_child_fields_on_root(root, &root_path)?;
    let builder = supervisor(root, &root_path, &mut Factories::Registry(registry))?;
    builder.validate_as_root()?;
    Ok(builder)
}

/// Checks `root` as [`build`] does, with every factory standing in.
pub(super) fn validate(root: &NodeConfig) -> Result<(), ConfigError> {
    let root_path = NodePath::root(&root.name);
    refuse_child_fields_on_root(root, &root_path)?;
    let builder = supervisor(root, &root_path, &mut Factories::StandIns)?;
    builder.validate_as_root()?;
    Ok(())
}

/// Where leaves' specs come from.
enum Factories<'a> {
    /// The user's code.
    Registry(&'a mut Registry),
    /// Idle actors, for checking a file on its own.
    StandIns,
}

fn refuse_child_fields_on_root(root: &NodeConfig, path: &NodePath) -> Result<(), ConfigError> {
    let why = "the root has no parent to apply it; give it to a child instead";
    if root.factory.is_some() {
        return Err(ConfigError::invalid(
            path.as_str(),
            "factory",
            "the root is a supervisor; give the factory to a child",
        ));
    }
    if root.restart.is_some() {
        return Err(ConfigError::invalid(path.as_str(), "restart", why));
    }
    if root.backoff.is_some() {
        return Err(ConfigError::invalid(path.as_str(), "backoff", why));
    }
    if !root.depends_on.is_empty() {
        return Err(ConfigError::invalid(
            path.as_str(),
            "depends_on",
            "the root has no siblings",
        ));
    }
    Ok(())
}

/// The supervisor `node`, at `path`, with its children.
fn supervisor(
    node: &NodeConfig,
    path: &NodePath,
    factories: &mut Factories<'_>,
) -> Result<SupervisorBuilder, ConfigError> {
    if node.periodic.is_some() {
        return Err(ConfigError::invalid(
            path.as_str(),
            "periodic",
            "a supervisor (a node without `factory`) has no schedule; did you forget `factory`?",
        ));
    }
    let mut builder = SupervisorActor::builder(node.name.clone());
    if node.remove_on_exit {
        builder = builder.remove_on_exit();
    }
    if let Some(strategy) = node.strategy {
        builder = builder.strategy(strategy);
    }
    if let Some(intensity) = node.intensity {
        builder = builder.intensity(intensity);
    }
    if let Some(grace) = node.grace {
        builder = builder.grace(grace);
    }
    if let Some(restart) = node.restart {
        builder = builder.restart(restart);
    }
    if let Some(backoff) = &node.backoff {
        builder = builder.backoff(backoff.clone());
    }
    for dependency in &node.depends_on {
        builder = builder.depends_on(dependency.clone());
    }
    for (index, child) in node.children.iter().enumerate() {
        if let Err(BuildError::InvalidName { reason, .. }) = check_name(path, &child.name) {
            return Err(ConfigError::invalid(
                format!("{path}/children[{index}]"),
                "name",
                reason,
            ));
        }
        let child_path = path.join(&child.name);
        let spec = match &child.factory {
            Some(key) => leaf(child, key, &child_path, factories)?,
            None => supervisor(child, &child_path, factories)?.into(),
        };
        builder = builder.child(spec);
    }
    Ok(builder)
}

/// The child actor `node`, at `path`, made by the factory under `key`.
fn leaf(
    node: &NodeConfig,
    key: &str,
    path: &NodePath,
    factories: &mut Factories<'_>,
) -> Result<AnyChildSpec, ConfigError> {
    let invalid = |field: &str, reason: String| ConfigError::invalid(path.as_str(), field, reason);
    let supervisor_only = "only a supervisor (a node without `factory`) has";
    if node.strategy.is_some() {
        return Err(invalid("strategy", format!("{supervisor_only} a strategy")));
    }
    if node.intensity.is_some() {
        return Err(invalid(
            "intensity",
            format!("{supervisor_only} an intensity"),
        ));
    }
    if !node.children.is_empty() {
        return Err(invalid("children", format!("{supervisor_only} children")));
    }
    let kind = match factories {
        Factories::Registry(registry) => registry.kind(key).ok_or_else(|| {
            let known: Vec<&str> = registry.keys().collect();
            invalid(
                "factory",
                format!("no factory is registered as {key:?} (registered: {known:?})"),
            )
        })?,
        Factories::StandIns if node.periodic.is_some() => FactoryKind::Periodic,
        Factories::StandIns => FactoryKind::Actor,
    };
    match (kind, &node.periodic) {
        (FactoryKind::Periodic, None) => {
            return Err(invalid(
                "periodic",
                format!(
                    "factory {key:?} makes a periodic child: give its schedule, \
                     e.g. periodic = {{ interval = \"1s\" }}"
                ),
            ))
        }
        (FactoryKind::Actor, Some(_)) => {
            return Err(invalid(
                "periodic",
                format!("factory {key:?} makes an actor without a schedule"),
            ))
        }
        _ => {}
    }
    let spec = match factories {
        Factories::Registry(registry) => registry.make(key, node),
        Factories::StandIns => Some(stand_in(node)),
    };
    let spec = spec.ok_or_else(|| invalid("factory", format!("factory {key:?} made nothing")))?;
    if spec.name() != node.name {
        return Err(invalid(
            "factory",
            format!(
                "factory {key:?} made a child named {:?}; it must use the name it is given",
                spec.name()
            ),
        ));
    }
    Ok(spec)
}

/// An idle actor standing in for a leaf's code, with the leaf's policies.
fn stand_in(node: &NodeConfig) -> AnyChildSpec {
    let mut registry = match &node.periodic {
        Some(_) => Registry::new().periodic("", |name, schedule: Periodic| {
            ChildSpec::periodic(name, schedule, |_| StandIn)
        }),
        None => Registry::new().actor("", |name| ChildSpec::new(name, || StandIn)),
    };
    registry
        .make("", node)
        .unwrap_or_else(|| ChildSpec::new(node.name.clone(), || StandIn).into())
}

/// Does nothing; stands in for the code behind a leaf when a file is checked
/// on its own.
struct StandIn;

impl Actor for StandIn {
    type Context = Context<Self>;
}

crate::supervised!(StandIn);

impl Tick for StandIn {
    type Error = std::convert::Infallible;

    async fn tick(&mut self, _cx: &TickContext) -> Result<(), Self::Error> {
        Ok(())
    }
}
