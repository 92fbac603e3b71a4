//! Bad input found from outside (issue 16), refused with a typed error at
//! every door, or written so that it reads back: promise 17.
//!
//! - a node name with a control character (a newline would forge a line in
//!   the tree's outline and in log lines);
//! - a backoff seed above `i64::MAX`, which JSON holds and TOML does not;
//! - `multiplier = nan` in TOML, said plainly.

use actix::prelude::*;
use actix_supervisor::config::{Registry, TreeConfig};
use actix_supervisor::prelude::*;

#[derive(Default)]
struct Idle;
impl Actor for Idle {
    type Context = Context<Self>;
}
supervised!(Idle);

const FORGED: &str = "poller\n  admin running";

fn is_control_char_refusal(error: &BuildError) -> bool {
    matches!(error, BuildError::InvalidName { reason, .. } if reason.contains("control characters"))
}

#[actix_rt::test]
async fn a_child_name_with_a_newline_is_refused_by_the_builder() {
    let error = SupervisorActor::builder("app")
        .child(ChildSpec::new(FORGED, Idle::default))
        .start()
        .unwrap_err();
    assert!(is_control_char_refusal(&error), "{error:?}");
    assert_eq!(error.path().as_str(), "/app");
}

#[actix_rt::test]
async fn a_root_name_with_a_control_character_is_refused() {
    let error = SupervisorActor::builder("app\u{1b}[2J")
        .start()
        .unwrap_err();
    assert!(error.to_string().contains("control characters"), "{error}");
}

#[actix_rt::test]
async fn a_dynamic_child_name_with_a_tab_is_refused() {
    let app = SupervisorActor::builder("app").start().unwrap();
    let reply = app
        .send(StartChild::new(ChildSpec::new("a\tb", Idle::default)))
        .await
        .unwrap();
    match reply {
        Err(ControlError::InvalidSpec(error)) => {
            assert!(is_control_char_refusal(&error), "{error:?}")
        }
        other => panic!("unexpected {other:?}"),
    }
    app.send(Stop).await.unwrap();
}

#[test]
fn a_configured_name_with_a_newline_is_refused_naming_its_place() {
    let json = r#"{"name": "app", "children": [{"name": "poller\n  admin", "factory": "idle"}]}"#;
    let error = TreeConfig::from_json_str(json)
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(error.node(), Some("/app/children[0]"), "{error}");
    assert_eq!(error.field(), Some("name"), "{error}");
    assert!(error.to_string().contains("control characters"), "{error}");
}

#[test]
fn a_seed_above_i64_max_from_json_is_written_so_toml_reads_it_back() {
    let json = r#"{"name": "app", "children": [{"name": "job", "factory": "idle",
        "backoff": {"initial": "10ms", "max": "1s", "seed": 18446744073709551615}}]}"#;
    let config = TreeConfig::from_json_str(json).unwrap();
    let toml = config.to_toml_string().unwrap();
    let back = TreeConfig::from_toml_str(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    assert_eq!(back, config);
    assert_eq!(
        back.root.children[0].backoff.as_ref().unwrap().seed,
        Some(u64::MAX)
    );
    // And the tree builds with it.
    let mut registry = Registry::new().actor("idle", |name| ChildSpec::new(name, Idle::default));
    assert!(back.build(&mut registry).is_ok());
}

#[test]
fn a_seed_up_to_i64_max_is_written_as_a_toml_integer() {
    let json = r#"{"name": "app", "children": [{"name": "job", "factory": "idle",
        "backoff": {"initial": "10ms", "max": "1s", "seed": 9223372036854775807}}]}"#;
    let toml = TreeConfig::from_json_str(json)
        .unwrap()
        .to_toml_string()
        .unwrap();
    assert!(toml.contains("seed = 9223372036854775807"), "{toml}");
}

#[test]
fn a_nan_multiplier_in_toml_is_reported_as_not_a_finite_number() {
    let text = r#"
        name = "app"
        [[children]]
        name = "job"
        factory = "idle"
        backoff = { initial = "10ms", max = "1s", multiplier = nan }
    "#;
    let error = TreeConfig::from_toml_str(text).unwrap_err();
    assert_eq!(error.node(), Some("/app/job"));
    assert_eq!(error.field(), Some("backoff.multiplier"));
    assert!(
        error.to_string().contains("nan is not a finite number"),
        "{error}"
    );
}
