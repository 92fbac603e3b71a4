//! Promise 17: policies, graces, intervals, strategies and whole trees load
//! from TOML or JSON (durations written like "250ms"); bad configuration is
//! refused when the tree is built, with an error naming the node and the
//! field; a valid file plus a registry of factories builds a running tree.

use crate::common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use actix_supervisor::config::{NodeConfig, Registry, TreeConfig};
use actix_supervisor::{
    events::EventKind,
    periodic::{Periodic, Tick, TickContext},
    snapshot::{NodeKind, NodeState},
    Backoff, ChildHandle, ChildSpec, ConfigError, ControlError, Grace, RemoveChild, RestartPolicy,
    Strategy, Subscribe,
};
use common::*;
use futures_util::StreamExt;

const TREE: &str = r#"
name = "app"
grace = "5s"
intensity = { max_restarts = 10, within = "1s" }

[[children]]
name = "db"
factory = "probe"

[[children]]
name = "api"
factory = "probe"
depends_on = ["db"]
restart = "never"

[[children]]
name = "scan"
factory = "ticker"
periodic = { interval = "250ms", tick_timeout = "1s" }

[[children]]
name = "tenants"
strategy = "rest_for_one"
grace = "infinity"

[[children.children]]
name = "receiver"
factory = "probe"
backoff = { initial = "100ms", max = "2s", jitter = 0.0 }
"#;

struct Ticker;

impl Tick for Ticker {
    type Error = String;

    async fn tick(&mut self, _cx: &TickContext) -> Result<(), String> {
        Ok(())
    }
}

/// The handles of the probes a registry made, by name.
type Handles = Rc<RefCell<HashMap<String, ChildHandle<Probe>>>>;

/// A registry making probes and tickers, and the probes' handles by name.
fn registry() -> (Registry, Handles) {
    let handles = Rc::new(RefCell::new(HashMap::new()));
    let kept = handles.clone();
    let registry = Registry::new()
        .actor("probe", move |name| {
            let (log, _) = recorder();
            let spec = probe_spec(name, log);
            kept.borrow_mut().insert(name.to_string(), spec.handle());
            spec
        })
        .periodic("ticker", |name, schedule| {
            ChildSpec::periodic(name, schedule, |_| Ticker)
        });
    (registry, handles)
}

#[test]
fn every_policy_type_reads_from_toml_with_humantime_durations() {
    let config = TreeConfig::from_toml_str(TREE).unwrap();
    let root = &config.root;
    assert_eq!(root.grace, Some(Grace::Duration(Duration::from_secs(5))));
    assert_eq!(root.intensity.unwrap().within, Duration::from_secs(1));
    let api = &root.children[1];
    assert_eq!(api.restart, Some(RestartPolicy::Never));
    assert_eq!(api.depends_on, ["db"]);
    let scan = &root.children[2];
    let schedule = scan.periodic.as_ref().unwrap();
    assert_eq!(schedule.interval, Duration::from_millis(250));
    assert_eq!(schedule.tick_timeout, Some(Duration::from_secs(1)));
    let tenants = &root.children[3];
    assert!(tenants.is_supervisor());
    assert_eq!(tenants.strategy, Some(Strategy::RestForOne));
    assert_eq!(tenants.grace, Some(Grace::Infinity));
    let backoff = tenants.children[0].backoff.as_ref().unwrap();
    assert_eq!(backoff.initial, Duration::from_millis(100));
    assert_eq!(backoff.max, Duration::from_secs(2));
}

#[test]
fn toml_and_json_describe_the_same_tree_and_a_tree_survives_a_round_trip() {
    let from_toml = TreeConfig::from_toml_str(TREE).unwrap();
    let json = serde_json::to_string_pretty(&from_toml).unwrap();
    let from_json = TreeConfig::from_json_str(&json).unwrap();
    assert_eq!(from_json, from_toml);
    let again = TreeConfig::from_toml_str(&from_toml.to_toml_string().unwrap()).unwrap();
    assert_eq!(again, from_toml);
}

#[test]
fn a_config_built_in_code_is_the_same_as_one_read_from_a_file() {
    let mut leaf = NodeConfig::new("worker");
    leaf.factory = Some("probe".into());
    leaf.backoff = Some(Backoff::new(
        Duration::from_millis(250),
        Duration::from_secs(30),
    ));
    let mut root = NodeConfig::new("app");
    root.children.push(leaf);
    let read = TreeConfig::from_json_str(
        r#"{"name": "app", "children": [
            {"name": "worker", "factory": "probe", "backoff": {"initial": "250ms", "max": "30s"}}
        ]}"#,
    )
    .unwrap();
    assert_eq!(read.root, root);
}

#[actix_rt::test]
async fn a_valid_file_and_a_registry_build_a_running_tree_with_the_files_policies() {
    let (mut registry, handles) = registry();
    let app = TreeConfig::from_toml_str(TREE)
        .unwrap()
        .build(&mut registry)
        .unwrap()
        .start()
        .unwrap();
    let mut events = within(app.send(Subscribe::all())).await.unwrap();
    let handle = |name: &str| handles.borrow()[name].clone();
    for name in ["db", "api", "receiver"] {
        within(handle(name).started()).await.unwrap();
    }

    let tree = within(app.send(actix_supervisor::Inspect)).await.unwrap();
    let kind = |path: &str| tree.find(path).unwrap().kind;
    assert_eq!(kind("/app/db"), NodeKind::Actor);
    assert_eq!(kind("/app/scan"), NodeKind::Periodic);
    assert_eq!(kind("/app/tenants"), NodeKind::Supervisor);
    assert_eq!(kind("/app/tenants/receiver"), NodeKind::Actor);

    // `depends_on = ["db"]` took effect: db cannot be removed while api needs it.
    let refused = within(app.send(RemoveChild::new("db"))).await.unwrap();
    assert!(
        matches!(refused, Err(ControlError::HasDependents { .. })),
        "{refused:?}"
    );

    // `restart = "never"` took effect on api; db keeps the default, on-failure.
    assert!(within(handle("api").send(Panic("api down"))).await.is_err());
    assert!(within(handle("db").send(Panic("db down"))).await.is_err());
    let mut api_failed = false;
    let mut db_restarted = false;
    while !(api_failed && db_restarted) {
        let event = within(events.next()).await.unwrap();
        match (event.path.as_str(), &event.kind) {
            ("/app/api", EventKind::Failed { .. }) => api_failed = true,
            ("/app/api", EventKind::Restarting { .. }) => panic!("api restarted"),
            ("/app/db", EventKind::Started) if event.incarnation == 2 => db_restarted = true,
            _ => {}
        }
    }
    assert_eq!(node(&app, "/app/api").await.state, NodeState::Failed);
    assert_eq!(node(&app, "/app/db").await.restart_count, 1);
    within(app.send(actix_supervisor::Stop)).await.unwrap();
}

/// What a bad input should be refused with.
enum Expect {
    /// An error naming this node and this field.
    Field(&'static str, &'static str),
    /// A syntax error mentioning this.
    Syntax(&'static str),
}

/// Reads `text` (JSON when it starts with `{`), validates it, then builds it
/// with the test registry.
fn refusal(text: &str) -> ConfigError {
    let read = if text.trim_start().starts_with('{') {
        TreeConfig::from_json_str(text)
    } else {
        TreeConfig::from_toml_str(text)
    };
    let config = match read {
        Ok(config) => config,
        Err(error) => return error,
    };
    let (mut registry, _) = registry();
    let built = config.build(&mut registry).map(|_| ());
    let validated = config.validate();
    match (built, validated) {
        (Err(built), Err(validated)) => {
            assert_eq!(built.to_string(), validated.to_string(), "validate agrees");
            built
        }
        (Err(built), Ok(())) => built,
        (Ok(()), result) => panic!("accepted (validate: {result:?}):\n{text}"),
    }
}

#[test]
fn every_bad_input_is_refused_naming_the_node_and_the_field() {
    use Expect::*;
    let cases: &[(&str, &str, Expect)] = &[
        (
            "TOML syntax",
            "name = \"app\"\n[[children]\nname = \"a\"",
            Syntax("line 2"),
        ),
        ("JSON syntax", "{\"name\": \"app\",}", Syntax("line 1")),
        (
            "misspelled node field",
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\nrestarts = \"never\"",
            Field("/app/a", "restarts"),
        ),
        (
            "misspelled schedule field",
            "name = \"app\"\n[[children]]\nname = \"scan\"\nfactory = \"ticker\"\nperiodic = { intervall = \"1s\" }",
            Field("/app/scan", "periodic.intervall"),
        ),
        (
            "missing interval",
            "name = \"app\"\n[[children]]\nname = \"scan\"\nfactory = \"ticker\"\nperiodic = { tick_timeout = \"1s\" }",
            Field("/app/scan", "periodic.interval"),
        ),
        (
            "grace as a number",
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\ngrace = 5",
            Field("/app/a", "grace"),
        ),
        (
            "duration without a unit",
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\nbackoff = { initial = \"100\", max = \"1s\" }",
            Field("/app/a", "backoff.initial"),
        ),
        (
            "negative duration",
            "{\"name\": \"app\", \"children\": [{\"name\": \"a\", \"factory\": \"probe\", \"grace\": \"-5s\"}]}",
            Field("/app/a", "grace"),
        ),
        (
            "huge duration",
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\ngrace = \"99999999999999999999999s\"",
            Field("/app/a", "grace"),
        ),
        (
            "negative restart count",
            "name = \"app\"\nintensity = { max_restarts = -1, within = \"1s\" }",
            Field("/app", "intensity.max_restarts"),
        ),
        (
            "zero interval",
            "name = \"app\"\n[[children]]\nname = \"scan\"\nfactory = \"ticker\"\nperiodic = { interval = \"0s\" }",
            Field("/app/scan", "periodic.interval"),
        ),
        (
            "zero tick timeout",
            "name = \"app\"\n[[children]]\nname = \"scan\"\nfactory = \"ticker\"\nperiodic = { interval = \"1s\", tick_timeout = \"0ms\" }",
            Field("/app/scan", "periodic.tick_timeout"),
        ),
        (
            "backoff max below initial",
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\nbackoff = { initial = \"5s\", max = \"1s\" }",
            Field("/app/a", "backoff.max"),
        ),
        (
            "jitter above 1",
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\nbackoff = { initial = \"1s\", max = \"5s\", jitter = 1.5 }",
            Field("/app/a", "backoff.jitter"),
        ),
        (
            "multiplier NaN",
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\nbackoff = { initial = \"1s\", max = \"5s\", multiplier = nan }",
            Field("/app/a", "backoff.multiplier"),
        ),
        (
            "intensity of 0 in a period of 0, nested",
            "name = \"app\"\n[[children]]\nname = \"t\"\nintensity = { max_restarts = 0, within = \"0s\" }",
            Field("/app/t", "intensity.within"),
        ),
        (
            "zero grace",
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\ngrace = \"0s\"",
            Field("/app/a", "grace"),
        ),
        (
            "unknown restart policy",
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\nrestart = \"sometimes\"",
            Field("/app/a", "restart"),
        ),
        (
            "unknown strategy, two levels down",
            "name = \"app\"\n[[children]]\nname = \"t\"\n[[children.children]]\nname = \"u\"\nstrategy = \"one_for_some\"",
            Field("/app/t/u", "strategy"),
        ),
        (
            "duplicate names",
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"",
            Field("/app/a", "name"),
        ),
        (
            "empty name",
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\n[[children]]\nname = \"\"\nfactory = \"probe\"",
            Field("/app/children[1]", "name"),
        ),
        (
            "name with a slash",
            "name = \"app\"\n[[children]]\nname = \"a/b\"\nfactory = \"probe\"",
            Field("/app/children[0]", "name"),
        ),
        (
            "missing name",
            "{\"name\": \"app\", \"children\": [{\"factory\": \"probe\"}]}",
            Field("/app/children[0]", "name"),
        ),
        (
            "empty root name",
            "name = \"\"",
            Field("/", "name"),
        ),
        (
            "unknown dependency",
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\ndepends_on = [\"nope\"]",
            Field("/app/a", "depends_on"),
        ),
        (
            "dependency cycle",
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\ndepends_on = [\"b\"]\n[[children]]\nname = \"b\"\nfactory = \"probe\"\ndepends_on = [\"a\"]",
            Field("/app/a", "depends_on"),
        ),
        (
            "restart policy on the root",
            "name = \"app\"\nrestart = \"always\"",
            Field("/app", "restart"),
        ),
        (
            "strategy on a leaf",
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\nstrategy = \"one_for_all\"",
            Field("/app/a", "strategy"),
        ),
        (
            "schedule on a supervisor",
            "name = \"app\"\n[[children]]\nname = \"t\"\nperiodic = { interval = \"1s\" }",
            Field("/app/t", "periodic"),
        ),
        (
            "children as a string",
            "{\"name\": \"app\", \"children\": \"a, b\"}",
            Field("/app", "children"),
        ),
        (
            "depends_on with a number",
            "{\"name\": \"app\", \"children\": [{\"name\": \"a\", \"factory\": \"probe\", \"depends_on\": [\"b\", 2]}]}",
            Field("/app/a", "depends_on[1]"),
        ),
    ];
    assert!(cases.len() >= 15);
    for (what, text, expect) in cases {
        let error = refusal(text);
        let message = error.to_string();
        match expect {
            Field(node, field) => {
                assert_eq!(
                    (error.node(), error.field()),
                    (Some(*node), Some(*field)),
                    "{what}: {message}"
                );
                assert!(
                    message.contains(node) && message.contains(field),
                    "{what}: {message}"
                );
            }
            Syntax(needle) => assert!(
                matches!(error, ConfigError::Syntax { .. }) && message.contains(needle),
                "{what}: {message}"
            ),
        }
        println!("{what:<40} {message}");
    }
}

#[test]
fn factories_are_checked_against_the_registry() {
    let cases = [
        (
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"nope\"",
            "/app/a",
            "factory",
            "no factory is registered as \"nope\"",
        ),
        (
            "name = \"app\"\n[[children]]\nname = \"scan\"\nfactory = \"ticker\"",
            "/app/scan",
            "periodic",
            "periodic child",
        ),
        (
            "name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"probe\"\nperiodic = { interval = \"1s\" }",
            "/app/a",
            "periodic",
            "without a schedule",
        ),
    ];
    for (text, node, field, reason) in cases {
        let config = TreeConfig::from_toml_str(text).unwrap();
        let (mut registry, _) = registry();
        let error = config.build(&mut registry).unwrap_err();
        assert_eq!((error.node(), error.field()), (Some(node), Some(field)));
        assert!(error.to_string().contains(reason), "{error}");
    }
}

#[test]
fn a_factory_must_use_the_name_it_is_given() {
    let config =
        TreeConfig::from_toml_str("name = \"app\"\n[[children]]\nname = \"a\"\nfactory = \"x\"")
            .unwrap();
    let mut registry = Registry::new().actor("x", |_name| {
        let (log, _) = recorder();
        probe_spec("something-else", log)
    });
    let error = config.build(&mut registry).unwrap_err();
    assert_eq!(
        (error.node(), error.field()),
        (Some("/app/a"), Some("factory"))
    );
}

#[test]
fn files_are_read_by_their_extension() {
    let dir = std::env::temp_dir().join(format!("actix-supervisor-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml_path = dir.join("tree.toml");
    std::fs::write(&toml_path, TREE).unwrap();
    let json_path = dir.join("tree.json");
    let tree = TreeConfig::from_toml_str(TREE).unwrap();
    std::fs::write(&json_path, serde_json::to_string(&tree).unwrap()).unwrap();

    assert_eq!(TreeConfig::from_file(&toml_path).unwrap(), tree);
    assert_eq!(TreeConfig::from_file(&json_path).unwrap(), tree);
    assert!(matches!(
        TreeConfig::from_file(dir.join("tree.yaml")),
        Err(ConfigError::UnknownFormat { .. })
    ));
    assert!(matches!(
        TreeConfig::from_file(dir.join("missing.toml")),
        Err(ConfigError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_schedule_reads_with_its_defaults() {
    let config = TreeConfig::from_toml_str(
        "name = \"app\"\n[[children]]\nname = \"scan\"\nfactory = \"ticker\"\nperiodic = { interval = \"1m 30s\" }",
    )
    .unwrap();
    assert_eq!(
        config.root.children[0].periodic,
        Some(Periodic::every(Duration::from_secs(90)))
    );
}

#[actix_rt::test]
async fn remove_on_exit_in_a_file_makes_a_temporary_child() {
    let text = r#"
name = "app"

[[children]]
name = "job"
factory = "probe"
restart = "never"
remove_on_exit = true

[[children]]
name = "kept"
factory = "probe"
restart = "never"
"#;
    let config = TreeConfig::from_toml_str(text).unwrap();
    assert!(config.root.children[0].remove_on_exit);
    assert!(!config.root.children[1].remove_on_exit);
    // Written back only where it is set, and read back the same.
    let written = config.to_toml_string().unwrap();
    assert_eq!(
        written.matches("remove_on_exit = true").count(),
        1,
        "{written}"
    );
    assert_eq!(TreeConfig::from_toml_str(&written).unwrap(), config);

    let (mut registry, handles) = registry();
    let app = config.build(&mut registry).unwrap().start().unwrap();
    let handle = |name: &str| handles.borrow()[name].clone();
    for name in ["job", "kept"] {
        within(handle(name).started()).await.unwrap();
        assert!(within(handle(name).send(Panic("done badly")))
            .await
            .is_err());
        within(handle(name).ended()).await;
    }
    let tree = within(app.send(actix_supervisor::Inspect)).await.unwrap();
    assert!(tree.find("/app/job").is_none(), "{tree}");
    assert_eq!(tree.find("/app/kept").unwrap().state, NodeState::Failed);
    within(app.send(actix_supervisor::Stop)).await.unwrap();
}

#[actix_rt::test]
async fn remove_on_exit_on_a_supervisor_makes_a_temporary_subtree() {
    let text = r#"
name = "app"

[[children]]
name = "tenants"
remove_on_exit = true

[[children.children]]
name = "job"
factory = "probe"
"#;
    let (mut registry, handles) = registry();
    let app = TreeConfig::from_toml_str(text)
        .unwrap()
        .build(&mut registry)
        .unwrap()
        .start()
        .unwrap();
    let job = handles.borrow()["job"].clone();
    within(job.started()).await.unwrap();
    let report = within(app.send(actix_supervisor::StopChild::new("tenants")))
        .await
        .unwrap()
        .unwrap();
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.children.len(), 1, "{report}");
    let tree = within(app.send(actix_supervisor::Inspect)).await.unwrap();
    assert!(tree.find("/app/tenants").is_none(), "{tree}");
    within(app.send(actix_supervisor::Stop)).await.unwrap();
}
