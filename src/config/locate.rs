//! Traces a serde error back to the node and the field it is about.
//!
//! serde reports where it failed as a path of keys and indexes, such as
//! `children[1].children[0].backoff.max`. People name nodes by their names,
//! so the path is replayed on the parsed text: each `children[i]` step moves
//! into that child, whose `name` becomes part of the node's path
//! (`/app/tenants/receiver`), and what follows the last node is the field
//! (`backoff.max`).

use serde_json::Value;
use serde_path_to_error::Segment;

use super::TreeConfig;
use crate::error::ConfigError;

/// Deserializes a tree from parsed text, naming the node and the field of
/// any error.
pub(super) fn deserialize(value: Value) -> Result<TreeConfig, ConfigError> {
    serde_path_to_error::deserialize(&value).map_err(|error| {
        let reason = not_finite(error.inner().to_string());
        let (node, mut field) = locate(&value, error.path());
        match named_field(&reason) {
            Some(name) if field.rsplit('.').next() != Some(name) => push_key(&mut field, name),
            _ => {}
        }
        if field.is_empty() {
            field.push_str("(node)");
        }
        ConfigError::invalid(node, field, reason)
    })
}

/// serde's "invalid type: string "NaN", expected f64" for a TOML `nan`,
/// `inf` or `-inf` (carried as text, see [`from_toml`]), said plainly:
/// "nan is not a finite number (expected f64)". Other reasons are kept.
fn not_finite(reason: String) -> String {
    for (text, spelled) in [("NaN", "nan"), ("inf", "inf"), ("-inf", "-inf")] {
        let prefix = format!("invalid type: string \"{text}\", expected ");
        if let Some(expected) = reason.strip_prefix(&prefix) {
            return format!("{spelled} is not a finite number (expected {expected})");
        }
    }
    reason
}

/// The same document as JSON, on which errors are located. TOML's values
/// that JSON lacks are written as strings, so they are refused by type with
/// their text in the message (`nan`, `inf`, dates).
pub(super) fn from_toml(value: toml::Value) -> Value {
    match value {
        toml::Value::String(text) => Value::String(text),
        toml::Value::Integer(n) => Value::from(n),
        toml::Value::Float(x) => serde_json::Number::from_f64(x)
            .map_or_else(|| Value::String(x.to_string()), Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(datetime) => Value::String(datetime.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(from_toml).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(key, value)| (key, from_toml(value)))
                .collect(),
        ),
    }
}

/// The node (as a path of names) and the field (as written after the node)
/// that `path` leads to in `root`.
fn locate(root: &Value, path: &serde_path_to_error::Path) -> (String, String) {
    let mut node = format!("/{}", name_of(root).unwrap_or("(root)"));
    let mut at_node = Some(root);
    let mut field = String::new();
    let mut segments = path.iter().peekable();
    while let Some(segment) = segments.next() {
        match segment {
            Segment::Map { key } if key == "children" && field.is_empty() => {
                if let Some(Segment::Seq { index }) = segments.peek() {
                    let child = at_node.and_then(|n| n.get("children")?.get(*index));
                    match child.and_then(name_of) {
                        Some(name) => node = format!("{node}/{name}"),
                        None => node = format!("{node}/children[{index}]"),
                    }
                    at_node = child;
                    segments.next();
                } else {
                    push_key(&mut field, key);
                }
            }
            Segment::Map { key } => push_key(&mut field, key),
            Segment::Enum { variant } => push_key(&mut field, variant),
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Unknown => push_key(&mut field, "?"),
        }
    }
    (node, field)
}

fn name_of(node: &Value) -> Option<&str> {
    node.get("name")?.as_str().filter(|name| {
        !name.is_empty() && !name.contains('/') && !name.chars().any(char::is_control)
    })
}

fn push_key(field: &mut String, key: &str) {
    if !field.is_empty() {
        field.push('.');
    }
    field.push_str(key);
}

/// The field named by serde's "unknown field `x`" and "missing field `x`"
/// messages, whose path stops at the enclosing table.
fn named_field(reason: &str) -> Option<&str> {
    let rest = reason
        .strip_prefix("unknown field `")
        .or_else(|| reason.strip_prefix("missing field `"))?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(json: &str) -> (String, String) {
        let value: Value = serde_json::from_str(json).unwrap();
        match deserialize(value).unwrap_err() {
            ConfigError::InvalidField { node, field, .. } => (node, field),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_nested_field_is_named_by_its_nodes_names() {
        let json = r#"{"name": "app", "children": [
            {"name": "a", "factory": "x"},
            {"name": "t", "children": [{"name": "r", "factory": "x", "backoff": {"initial": "1s", "max": "soon"}}]}
        ]}"#;
        assert_eq!(
            error_of(json),
            ("/app/t/r".to_string(), "backoff.max".to_string())
        );
    }

    #[test]
    fn a_node_without_a_name_is_named_by_its_place() {
        let json = r#"{"name": "app", "children": [{"factory": "x"}]}"#;
        assert_eq!(
            error_of(json),
            ("/app/children[0]".to_string(), "name".to_string())
        );
    }

    #[test]
    fn a_toml_nan_is_reported_as_not_a_finite_number() {
        for (toml, spelled) in [
            ("nan", "nan"),
            ("inf", "inf"),
            ("-inf", "-inf"),
            ("+inf", "inf"),
        ] {
            let text = format!(
                "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"x\"\n\
                 backoff = {{ initial = \"1s\", max = \"2s\", multiplier = {toml} }}\n"
            );
            let value = from_toml(toml::from_str(&text).unwrap());
            match deserialize(value).unwrap_err() {
                ConfigError::InvalidField {
                    node,
                    field,
                    reason,
                } => {
                    assert_eq!(
                        (node.as_str(), field.as_str()),
                        ("/app/a", "backoff.multiplier")
                    );
                    assert!(
                        reason.starts_with(&format!("{spelled} is not a finite number")),
                        "{toml}: {reason}"
                    );
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn a_node_named_with_a_control_character_is_named_by_its_place() {
        let json = r#"{"name": "app", "children": [{"name": "a\nb", "factory": "x", "grace": 3}]}"#;
        assert_eq!(
            error_of(json),
            ("/app/children[0]".to_string(), "grace".to_string())
        );
    }

    #[test]
    fn an_index_inside_a_field_stays_in_the_field() {
        let json = r#"{"name": "app", "children": [{"name": "a", "factory": "x", "depends_on": ["b", 3]}]}"#;
        assert_eq!(
            error_of(json),
            ("/app/a".to_string(), "depends_on[1]".to_string())
        );
    }
}
