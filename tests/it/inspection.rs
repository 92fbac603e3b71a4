//! Promises 1 and 13: every node is in one explicit state, and `Inspect`
//! returns a `TreeSnapshot` with each node's name, path, kind, state,
//! incarnation, restart count, last failure and uptime, which round-trips
//! through serde and prints as a readable tree.

use crate::common;

use std::time::Duration;

use actix_supervisor::{
    snapshot::{FailureKind, NodeKind, NodeState},
    Backoff, Inspect, RestartPolicy, SupervisorActor, TreeSnapshot,
};
use common::*;

/// Builds a tree and drives it through a known sequence of failures.
async fn tree_after_known_failures() -> TreeSnapshot {
    let (log, _events) = recorder();
    let twice = probe_spec("twice", log.clone());
    let once_never = probe_spec("once", log.clone()).restart(RestartPolicy::Never);
    let done = probe_spec("done", log.clone());
    let waiting = probe_spec("waiting", log.clone())
        .backoff(Backoff::new(Duration::from_secs(30), Duration::from_secs(60)).jitter(0.0));
    let calm = probe_spec("calm", log);
    let (twice_addr, once_addr, done_addr, waiting_addr) = (
        twice.address(),
        once_never.address(),
        done.address(),
        waiting.address(),
    );
    let app = SupervisorActor::builder("app")
        .child(twice)
        .child(once_never)
        .child(done)
        .child(waiting)
        .child(calm)
        .start()
        .unwrap();

    assert!(within(twice_addr.send(Panic("first"))).await.is_err());
    within(twice_addr.send(FailWith("second".into())))
        .await
        .unwrap();
    within(twice_addr.send(Get)).await.unwrap();
    assert!(within(once_addr.send(Panic("only"))).await.is_err());
    within(done_addr.send(StopNormally)).await.unwrap();
    assert!(within(waiting_addr.send(Panic("slow"))).await.is_err());

    within(app.send(Inspect)).await.unwrap()
}

#[actix_rt::test]
async fn the_snapshot_shows_states_incarnations_restarts_and_failures() {
    tokio::time::pause();
    let tree = tree_after_known_failures().await;

    assert_eq!(tree.root.path.as_str(), "/app");
    assert_eq!(tree.root.kind, NodeKind::Supervisor);
    assert_eq!(tree.root.state, NodeState::Running);
    let names: Vec<_> = tree.root.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["twice", "once", "done", "waiting", "calm"],
        "start order"
    );

    let twice = tree.find("/app/twice").unwrap();
    assert_eq!(twice.kind, NodeKind::Actor);
    assert_eq!(twice.state, NodeState::Running);
    assert_eq!((twice.incarnation, twice.restart_count), (3, 2));
    let failure = twice.last_failure.as_ref().unwrap();
    assert_eq!(
        (failure.kind, failure.message.as_str()),
        (FailureKind::Error, "second")
    );
    assert!(twice.uptime.is_some());

    let once = tree.find("/app/once").unwrap();
    assert_eq!((once.state, once.incarnation), (NodeState::Failed, 1));
    assert_eq!(once.last_failure.as_ref().unwrap().message, "only");
    assert_eq!(once.uptime, None, "a failed node has no uptime");

    let done = tree.find("/app/done").unwrap();
    assert_eq!(
        (done.state, done.last_failure.as_ref()),
        (NodeState::Stopped, None)
    );

    let waiting = tree.find("/app/waiting").unwrap();
    assert_eq!(
        waiting.state,
        NodeState::Restarting {
            attempt: 1,
            next_start_in: Duration::from_secs(30)
        }
    );
    assert_eq!(waiting.incarnation, 1, "the next incarnation has not begun");

    let calm = tree.find("/app/calm").unwrap();
    assert_eq!(
        (calm.state, calm.restart_count, calm.last_failure.as_ref()),
        (NodeState::Running, 0, None)
    );
}

#[actix_rt::test]
async fn the_snapshot_round_trips_through_json() {
    tokio::time::pause();
    let tree = tree_after_known_failures().await;
    let json = serde_json::to_string_pretty(&tree).unwrap();
    let back: TreeSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, tree);
    // Durations are written the way people write them.
    assert!(json.contains("\"next_start_in\": \"30s\""), "{json}");
    assert!(json.contains("\"state\": \"restarting\""), "{json}");
}

#[actix_rt::test]
async fn the_snapshot_prints_as_a_tree() {
    tokio::time::pause();
    let text = tree_after_known_failures().await.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(
        lines[0],
        "app [supervisor] running, incarnation 1 — one-for-one, at most 3 restarts in 5s, no grace limit"
    );
    assert_eq!(
        lines[1],
        " ├─ twice [actor] running, incarnation 3, 2 restarts, last failure: error in running: second \
         — restarted on failure, grace 5s"
    );
    assert_eq!(
        lines[2],
        " ├─ once [actor] failed, incarnation 1, last failure: panic in running: only \
         — never restarted, grace 5s"
    );
    assert_eq!(
        lines[3],
        " ├─ done [actor] stopped, incarnation 1 — restarted on failure, grace 5s"
    );
    assert!(
        lines[4].starts_with(" ├─ waiting [actor] restarting (attempt 1, in 30s)"),
        "{text}"
    );
    assert!(
        lines[4].ends_with(" — restarted on failure, backoff 30s..1m, grace 5s"),
        "{text}"
    );
    assert_eq!(
        lines[5],
        " └─ calm [actor] running, incarnation 1 — restarted on failure, grace 5s"
    );
}
