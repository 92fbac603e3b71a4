//! Trees described in configuration files: TOML or JSON text in, a checked
//! [`SupervisorBuilder`] out.
//!
//! A file describes the tree's shape and policies; the code behind each leaf
//! comes from a [`Registry`] of factories, looked up by the leaf's `factory`
//! key. The root table is the root supervisor. A node with a `factory` is a
//! child actor; any other node is a supervisor, whose `children` are nodes.
//! Durations are written like `"250ms"`, `"30s"` or `"1h 30m"`; a grace may
//! also be `"infinity"`.
//!
//! ```toml
//! name = "app"
//! strategy = "one_for_one"          # or "one_for_all", "rest_for_one"
//! grace = "10s"
//! intensity = { max_restarts = 5, within = "30s" }
//!
//! [[children]]
//! name = "db"
//! factory = "pool"                  # a key of the registry
//! restart = "always"                # or "never", "on_failure" (default)
//! backoff = { initial = "100ms", max = "5s" }
//! grace = "2s"
//!
//! [[children]]
//! name = "reconciler"
//! factory = "reconciler"            # registered with `Registry::periodic`
//! depends_on = ["db"]
//! periodic = { interval = "250ms", tick_timeout = "5s", failure_limit = 3 }
//!
//! [[children]]                      # no factory: a nested supervisor
//! name = "tenants"
//! strategy = "rest_for_one"
//!
//! [[children.children]]
//! name = "receiver"
//! factory = "receiver"
//!
//! [[children.children]]
//! name = "backfill"
//! factory = "backfill"
//! restart = "never"
//! remove_on_exit = true             # leaves the tree when it ends
//! ```
//!
//! Every mistake is refused before anything starts, with a
//! [`ConfigError`] naming the node and the field: syntax, unknown or
//! misspelled fields, wrong types, unusable values (a zero interval, a backoff
//! whose `max` is below its `initial`, an intensity period of zero), duplicate
//! names, unknown or cyclic dependencies, unknown factories.
//!
//! # How deep a file may nest
//!
//! The parsers bound their recursion, so a tree read from text has a depth
//! limit (a tree built in code has none):
//!
//! | written as | levels of nodes below the root |
//! |------------|--------------------------------|
//! | TOML `[[children.children...]]` table headers | 80 |
//! | TOML inline tables, `children = [{ ..., children = [...] }]` | 40 |
//! | JSON | 63 |
//!
//! A deeper file is refused with [`ConfigError::Syntax`], with the line and
//! column where the limit was reached (for table headers, the line of the
//! deepest header).
//!
//! The file format lives in [`TreeConfig`] and [`NodeConfig`]; how a serde
//! error is traced back to a node is in `locate.rs`; the registry in
//! `registry.rs`; turning a checked config into builders in `build.rs`.

mod build;
mod locate;
mod registry;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use registry::Registry;

use crate::actors::{Periodic, SupervisorBuilder};
use crate::error::ConfigError;
use crate::policy::{Backoff, Grace, RestartIntensity, RestartPolicy, Strategy};

/// A whole tree as written in a configuration file: its root supervisor.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::config::{Registry, TreeConfig};
/// use actix_supervisor::ChildSpec;
///
/// #[derive(Default)]
/// struct Ingest;
/// impl Actor for Ingest { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Ingest);
///
/// let config = TreeConfig::from_toml_str(r#"
///     name = "app"
///     grace = "10s"
///
///     [[children]]
///     name = "ingest"
///     factory = "ingest"
///     restart = "always"
///     backoff = { initial = "250ms", max = "30s" }
/// "#)?;
///
/// let mut registry = Registry::new()
///     .actor("ingest", |name| ChildSpec::new(name, Ingest::default));
///
/// # actix::System::new().block_on(async {
/// let root = config.build(&mut registry)?.start()?;
/// # root.send(actix_supervisor::Stop).await.unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TreeConfig {
    /// The root supervisor.
    pub root: NodeConfig,
}

/// One node of a [`TreeConfig`]: a supervisor, or (with a `factory`) a
/// child actor.
///
/// Every field but `name` may be left out; an absent policy keeps the
/// default of the spec the factory returns (for supervisors, of
/// [`SupervisorBuilder`]).
///
/// # Examples
///
/// ```
/// use actix_supervisor::config::{NodeConfig, TreeConfig};
/// use actix_supervisor::RestartPolicy;
///
/// let mut tree = TreeConfig::from_toml_str(r#"
///     name = "app"
///
///     [[children]]
///     name = "ingest"
///     factory = "ingest"
/// "#)?;
/// let ingest: &mut NodeConfig = &mut tree.root.children[0];
/// assert!(!ingest.is_supervisor()); // it has a factory
/// assert_eq!(ingest.restart, None); // left out: the spec's own default
///
/// // Changed in code, e.g. from a command-line flag, before it is built:
/// ingest.restart = Some(RestartPolicy::Always);
/// tree.root.children.push(NodeConfig::new("jobs")); // a supervisor, no children yet
/// tree.validate()?;
/// assert!(tree.to_toml_string()?.contains(r#"restart = "always""#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NodeConfig {
    /// The node's name, unique among its siblings; no `/`.
    pub name: String,
    /// For a child actor: the [`Registry`] key of the code that makes it.
    /// Absent for a supervisor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factory: Option<String>,
    /// When the node is restarted (not for the root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    /// Delays between restarts (not for the root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// How long the node may take to stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<Grace>,
    /// Siblings that start before this node and stop after it (not for the
    /// root).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// For a periodic child: its schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periodic: Option<Periodic>,
    /// Leave the tree when the node ends for good, freeing the name (see
    /// [`ChildSpec::remove_on_exit`](crate::ChildSpec::remove_on_exit) and,
    /// for a supervisor,
    /// [`SupervisorBuilder::remove_on_exit`](crate::SupervisorBuilder::remove_on_exit)).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remove_on_exit: bool,
    /// For a supervisor: which children restart together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// For a supervisor: how many restarts it allows before giving up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intensity: Option<RestartIntensity>,
    /// For a supervisor: its children, in start order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<NodeConfig>,
}

impl NodeConfig {
    /// A node with only a name: a supervisor with default policies and no
    /// children, until fields are set.
    pub fn new(name: impl Into<String>) -> Self {
        NodeConfig {
            name: name.into(),
            factory: None,
            restart: None,
            backoff: None,
            grace: None,
            depends_on: Vec::new(),
            periodic: None,
            remove_on_exit: false,
            strategy: None,
            intensity: None,
            children: Vec::new(),
        }
    }

    /// Whether the node is a supervisor (it has no `factory`).
    pub fn is_supervisor(&self) -> bool {
        self.factory.is_none()
    }
}

impl TreeConfig {
    /// Reads a tree from TOML text.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Syntax`] for text that is not TOML (with its line and
    /// column), [`ConfigError::InvalidField`] naming the node and the field
    /// for anything that does not fit the format. Values are checked by
    /// [`validate`](TreeConfig::validate) and [`build`](TreeConfig::build).
    ///
    /// A file that nests deeper than the parser allows (see the module's
    /// "How deep a file may nest") is a syntax error too.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let value: toml::Value = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            format: "TOML",
            message: toml_syntax_message(text, &e),
        })?;
        locate::deserialize(locate::from_toml(value))
    }

    /// Reads a tree from JSON text.
    ///
    /// # Errors
    ///
    /// As [`from_toml_str`](TreeConfig::from_toml_str), for JSON (whose
    /// nesting limit is 63 levels of nodes below the root).
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ConfigError::Syntax {
                format: "JSON",
                message: e.to_string(),
            })?;
        locate::deserialize(value)
    }

    /// Reads a tree from a `.toml` or `.json` file.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Io`] when the file cannot be read,
    /// [`ConfigError::UnknownFormat`] for another extension, then as
    /// [`from_toml_str`](TreeConfig::from_toml_str).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let extension = path.extension().and_then(|e| e.to_str());
        let parse = match extension {
            Some("toml") => TreeConfig::from_toml_str,
            Some("json") => TreeConfig::from_json_str,
            _ => {
                return Err(ConfigError::UnknownFormat {
                    path: path.to_path_buf(),
                })
            }
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        parse(&text)
    }

    /// Writes the tree as TOML.
    ///
    /// # Errors
    ///
    /// When a value has no TOML form (none of this crate's types lack one).
    pub fn to_toml_string(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }

    /// Checks everything that can be checked without the factories: node
    /// kinds, names, dependencies and every policy value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError::InvalidField`] naming the node and the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        build::validate(&self.root)
    }

    /// Builds the tree's root supervisor, checked as a whole, with each
    /// leaf made by its factory from `registry`. Start it with
    /// [`SupervisorBuilder::start`] or
    /// [`Supervision::start`](crate::system::Supervision::start).
    ///
    /// # Errors
    ///
    /// As [`validate`](TreeConfig::validate), and for a `factory` that is not
    /// registered or whose kind does not match the node (a periodic factory
    /// needs a `periodic` schedule; others must not have one).
    pub fn build(&self, registry: &mut Registry) -> Result<SupervisorBuilder, ConfigError> {
        build::build(&self.root, registry)
    }
}

/// The most levels of `[[children]]` table headers below the root that the
/// TOML parser reads (its recursion limit, reached at 81).
const TOML_MAX_HEADER_DEPTH: usize = 80;

/// The TOML parser's message, with the line and column. Its nesting limit on
/// table headers ("recursion limit") comes without a position; the position
/// given then is that of the deepest table header, where the limit is met.
fn toml_syntax_message(text: &str, error: &toml::de::Error) -> String {
    let message = error.to_string().trim_end().to_string();
    if error.span().is_some() {
        return message;
    }
    match deepest_header(text) {
        Some((line, depth)) if depth > TOML_MAX_HEADER_DEPTH => format!(
            "{message} at line {line}, column 1: this table header nests {depth} levels deep; \
             a TOML file nests at most {TOML_MAX_HEADER_DEPTH} levels of `[[children]]` below the root"
        ),
        _ => message,
    }
}

/// The first table header (`[a.b]` or `[[a.b]]`) with the most dotted keys:
/// its line (from 1) and its number of keys. Keys are split on every `.`,
/// quoted or not: good enough to point at the line.
fn deepest_header(text: &str) -> Option<(usize, usize)> {
    let mut deepest: Option<(usize, usize)> = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if !line.starts_with('[') {
            continue;
        }
        let key = line.trim_start_matches('[');
        let key = key.split(']').next().unwrap_or(key);
        let depth = key.split('.').count();
        if deepest.is_none_or(|(_, most)| depth > most) {
            deepest = Some((index + 1, depth));
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TOML tree whose deepest node is `depth` levels below the root,
    /// written with table headers.
    fn nested_tables(depth: usize) -> String {
        let mut text = String::from("name = \"app\"\n");
        let mut key = String::from("children");
        for level in 1..=depth {
            text.push_str(&format!("\n[[{key}]]\nname = \"n{level}\"\n"));
            key.push_str(".children");
        }
        text
    }

    fn nested_json(depth: usize) -> String {
        let mut inner = String::from(r#"{"name": "leaf", "factory": "x"}"#);
        for level in 1..depth {
            inner = format!(r#"{{"name": "n{level}", "children": [{inner}]}}"#);
        }
        format!(r#"{{"name": "app", "children": [{inner}]}}"#)
    }

    fn nested_inline(depth: usize) -> String {
        let mut inner = String::from(r#"{ name = "leaf", factory = "x" }"#);
        for level in 1..depth {
            inner = format!(r#"{{ name = "n{level}", children = [{inner}] }}"#);
        }
        format!("name = \"app\"\nchildren = [{inner}]\n")
    }

    #[test]
    fn toml_table_headers_nest_80_levels_and_the_81st_is_refused_with_its_line() {
        assert!(TreeConfig::from_toml_str(&nested_tables(80)).is_ok());
        let text = nested_tables(81);
        let line = text
            .lines()
            .position(|l| l.matches('.').count() == 80)
            .unwrap()
            + 1;
        match TreeConfig::from_toml_str(&text).unwrap_err() {
            ConfigError::Syntax { format, message } => {
                assert_eq!(format, "TOML");
                assert!(
                    message.contains(&format!("at line {line}, column 1")),
                    "{message}"
                );
                assert!(message.contains("at most 80 levels"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn json_nests_63_levels_and_the_64th_is_refused_with_its_position() {
        assert!(TreeConfig::from_json_str(&nested_json(63)).is_ok());
        match TreeConfig::from_json_str(&nested_json(64)).unwrap_err() {
            ConfigError::Syntax { format, message } => {
                assert_eq!(format, "JSON");
                assert!(message.contains("line 1 column"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn toml_inline_tables_nest_40_levels_and_the_41st_is_refused_with_its_position() {
        assert!(TreeConfig::from_toml_str(&nested_inline(40)).is_ok());
        match TreeConfig::from_toml_str(&nested_inline(41)).unwrap_err() {
            ConfigError::Syntax { message, .. } => {
                assert!(message.contains("line 2, column"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
