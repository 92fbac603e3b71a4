//! Promise 13 for machines: the JSON form of a `TreeSnapshot` is schema
//! version 1, with RFC 3339 instants and durations in `*_ms` numbers beside
//! the human strings. Every field name is pinned here: renaming or removing
//! one breaks this test (and must raise `schema_version`).

use std::collections::BTreeSet;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::testkit;
use actix_supervisor::{
    fail,
    periodic::{Periodic, Tick, TickContext},
    snapshot::NodeState,
    Backoff, ChildSpec, SupervisorActor, TreeSnapshot,
};
use serde_json::Value;

#[derive(Default)]
struct Idle;
impl Actor for Idle {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Idle);

#[derive(Default)]
struct Broken;
impl Actor for Broken {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        fail(ctx, "broken on purpose");
    }
}
actix_supervisor::supervised!(Broken);

struct FailingTick;
impl Tick for FailingTick {
    type Error = String;
    async fn tick(&mut self, _: &TickContext) -> Result<(), String> {
        Err("the upstream is down".into())
    }
}

/// `/app` with a running actor, a child waiting out a 30 s backoff after a
/// failure, and a periodic child whose ticks fail.
async fn known_tree() -> TreeSnapshot {
    let waiting = ChildSpec::new("waiting", Broken::default)
        .backoff(Backoff::new(Duration::from_secs(30), Duration::from_secs(60)).jitter(0.0));
    let ticker = ChildSpec::periodic("ticker", Periodic::every(Duration::from_secs(1)), |_| {
        FailingTick
    });
    let app = SupervisorActor::builder("app")
        .child(ChildSpec::new("calm", Idle::default))
        .child(waiting)
        .child(ticker)
        .start()
        .unwrap();
    testkit::wait_until(&app, |tree| {
        let waiting = tree.find("/app/waiting").unwrap();
        let ticker = tree.find("/app/ticker").unwrap();
        matches!(waiting.state, NodeState::Restarting { .. })
            && ticker.task.as_ref().is_some_and(|t| t.runs >= 1)
    })
    // A tick's statistics change without a lifecycle event; paused time
    // makes the rechecks free.
    .recheck_every(Duration::from_millis(500))
    .await
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

const NODE_FIELDS: &[&str] = &[
    "name",
    "path",
    "kind",
    "state",
    "incarnation",
    "restart_count",
    "last_failure",
    "uptime",
    "uptime_ms",
    "task",
    "policy",
    "children",
];

#[actix_rt::test]
async fn every_field_name_of_the_snapshot_json_is_pinned() {
    tokio::time::pause();
    let tree = known_tree().await;
    let json = serde_json::to_value(&tree).unwrap();

    assert_eq!(keys(&json), set(&["schema_version", "taken_at", "root"]));
    assert_eq!(json["schema_version"], 1);
    let root = &json["root"];
    assert_eq!(keys(root), set(NODE_FIELDS));
    let children = root["children"].as_array().unwrap();

    let calm = &children[0];
    assert_eq!(keys(calm), set(NODE_FIELDS));
    assert_eq!(calm["state"], "running");
    assert!(
        calm["uptime_ms"].is_u64() && calm["uptime"].is_string(),
        "{calm}"
    );

    let waiting = &children[1];
    let mut restarting = set(NODE_FIELDS);
    restarting.extend(["attempt", "next_start_in", "next_start_in_ms"]);
    assert_eq!(keys(waiting), restarting);
    assert_eq!(waiting["state"], "restarting");
    assert_eq!(waiting["next_start_in_ms"], 30_000);
    assert_eq!(waiting["next_start_in"], "30s");
    assert_eq!(waiting["uptime_ms"], Value::Null);
    let failure = &waiting["last_failure"];
    assert_eq!(keys(failure), set(&["kind", "phase", "message", "at"]));
    assert_eq!(
        (&failure["kind"], &failure["phase"]),
        (&Value::from("error"), &Value::from("starting"))
    );

    let ticker = &children[2];
    assert_eq!(ticker["kind"], "periodic");
    let task = &ticker["task"];
    assert_eq!(
        keys(task),
        set(&[
            "runs",
            "failures",
            "consecutive_failures",
            "last_duration",
            "last_duration_ms",
            "last_error",
        ])
    );
    assert_eq!(task["last_error"], "the upstream is down");
    assert!(task["last_duration_ms"].is_u64(), "{task}");
}

#[actix_rt::test]
async fn instants_are_rfc3339_and_the_json_reads_back_to_the_same_snapshot() {
    tokio::time::pause();
    let tree = known_tree().await;
    let json = serde_json::to_value(&tree).unwrap();

    for instant in [
        &json["taken_at"],
        &json["root"]["children"][1]["last_failure"]["at"],
    ] {
        let text = instant.as_str().unwrap();
        assert!(text.ends_with('Z'), "{text}");
        assert!(humantime::parse_rfc3339(text).is_ok(), "{text}");
    }
    let back: TreeSnapshot = serde_json::from_value(json).unwrap();
    assert_eq!(back, tree);
}

#[test]
fn a_snapshot_written_by_a_machine_with_only_the_ms_fields_reads() {
    let text = r#"{
        "schema_version": 1,
        "taken_at": "2026-11-29T23:41:07Z",
        "root": {
            "name": "app", "path": "/app", "kind": "supervisor",
            "state": "restarting", "attempt": 2, "next_start_in_ms": 1500,
            "incarnation": 3, "restart_count": 2, "last_failure": null,
            "uptime_ms": null, "task": null, "children": []
        }
    }"#;
    let tree: TreeSnapshot = serde_json::from_str(text).unwrap();
    assert_eq!(
        tree.root.state,
        NodeState::Restarting {
            attempt: 2,
            next_start_in: Duration::from_millis(1500)
        }
    );
}
