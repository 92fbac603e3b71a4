//! A snapshot shows the policy each node was configured with (restart,
//! backoff, grace; a supervisor's strategy and intensity; a periodic task's
//! schedule), in its fields, its outline and its JSON (added to schema
//! version 1), and the outline shows periodic and worker statistics.

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::prelude::*;
use actix_supervisor::snapshot::{NodePolicy, Schedule};
use actix_supervisor::testkit;
use serde_json::Value;

#[derive(Default)]
struct Idle;
impl Actor for Idle {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Idle);

/// Fails every other tick.
struct Sampler(u64);
impl Tick for Sampler {
    type Error = String;
    async fn tick(&mut self, _: &TickContext) -> Result<(), String> {
        self.0 += 1;
        if self.0.is_multiple_of(2) {
            Err(format!("sample {} lost", self.0))
        } else {
            Ok(())
        }
    }
}

/// Runs until cancelled.
struct Loop;
impl Work for Loop {
    type Error = String;
    async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
        cx.token().cancelled().await;
        Ok(())
    }
}

fn tree() -> SupervisorBuilder {
    let schedule = Periodic::every(Duration::from_secs(1))
        .tick_timeout(Duration::from_millis(200))
        .failure_limit(5);
    let ingest = SupervisorActor::builder("ingest")
        .restart(RestartPolicy::Always)
        .backoff(Backoff::new(
            Duration::from_millis(50),
            Duration::from_secs(5),
        ))
        .child(ChildSpec::periodic("sampler", schedule, |_| Sampler(0)));
    SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .intensity(RestartIntensity::new(5, Duration::from_secs(10)))
        .grace(Duration::from_secs(30).into())
        .child(
            ChildSpec::new("store", Idle::default)
                .restart(RestartPolicy::OnFailure)
                .backoff(Backoff::new(
                    Duration::from_millis(100),
                    Duration::from_secs(30),
                ))
                .grace(Duration::from_secs(2).into()),
        )
        .child(ingest)
        .child(ChildSpec::worker("loop", |_| Loop))
}

#[test]
fn every_node_shows_the_policy_it_was_configured_with() {
    testkit::run_paused(async {
        let app = tree().start().unwrap();
        let tree = app.send(Inspect).await.unwrap();

        let root = &tree.root.policy;
        assert_eq!(root.restart, None, "nothing restarts a root");
        assert_eq!(root.strategy, Some(Strategy::OneForAll));
        assert_eq!(
            root.intensity,
            Some(RestartIntensity::new(5, Duration::from_secs(10)))
        );
        assert_eq!(root.grace, Some(Grace::Duration(Duration::from_secs(30))));

        let store = &tree.find("/app/store").unwrap().policy;
        assert_eq!(store.restart, Some(RestartPolicy::OnFailure));
        let backoff = store.backoff.as_ref().unwrap();
        assert_eq!(
            (backoff.initial, backoff.max),
            (Duration::from_millis(100), Duration::from_secs(30))
        );
        assert_eq!(store.grace, Some(Grace::Duration(Duration::from_secs(2))));
        assert_eq!((store.strategy, store.schedule.clone()), (None, None));

        let ingest = &tree.find("/app/ingest").unwrap().policy;
        assert_eq!(ingest.restart, Some(RestartPolicy::Always));
        assert_eq!(
            ingest.backoff.as_ref().unwrap().initial,
            Duration::from_millis(50)
        );
        assert_eq!(ingest.strategy, Some(Strategy::OneForOne));

        let sampler = &tree.find("/app/ingest/sampler").unwrap();
        let schedule = sampler.policy.schedule.as_ref().unwrap();
        assert_eq!(schedule.interval, Duration::from_secs(1));
        assert_eq!(schedule.tick_timeout, Some(Duration::from_millis(200)));
        assert_eq!(schedule.failure_limit, Some(5));
        assert_eq!(schedule.missed_ticks, "skip");
        assert!(schedule.tick_at_start);
        assert_eq!(sampler.policy.restart, Some(RestartPolicy::OnFailure));
        assert_eq!(tree.find("/app/loop").unwrap().policy.schedule, None);

        app.send(Stop).await.unwrap();
    });
}

#[test]
fn the_outline_shows_the_policy_and_the_statistics_of_periodic_and_worker_nodes() {
    testkit::run_paused(async {
        let app = tree().start().unwrap();
        testkit::wait_for_node(&app, "/app/ingest/sampler", |n| {
            n.task.as_ref().is_some_and(|task| task.runs >= 2)
        })
        .recheck_every(Duration::from_millis(500))
        .await;
        let tree = app.send(Inspect).await.unwrap();
        let stats = tree
            .find("/app/ingest/sampler")
            .unwrap()
            .task
            .clone()
            .unwrap();
        let outline = tree.to_string();

        let line = |name: &str| {
            outline
                .lines()
                .find(|line| line.contains(&format!("{name} [")))
                .unwrap_or_else(|| panic!("no line for {name}:\n{outline}"))
                .to_string()
        };
        let root = line("app");
        assert!(
            root.contains("one-for-all, at most 5 restarts in 10s, grace 30s"),
            "{outline}"
        );
        let store = line("store");
        assert!(
            store.contains("restarted on failure, backoff 100ms..30s, grace 2s"),
            "{outline}"
        );
        let sampler = line("sampler");
        assert!(sampler.contains("every 1s (timeout 200ms)"), "{outline}");
        let counts = format!("; {} runs, {} failed", stats.runs, stats.failures);
        assert!(stats.failures > 0 && sampler.contains(&counts), "{outline}");
        let worker = line("loop");
        assert!(worker.contains("0 runs, 0 failed"), "{outline}");
        app.send(Stop).await.unwrap();
    });
}

#[test]
fn the_policy_is_in_the_json_and_reads_back() {
    testkit::run_paused(async {
        let app = tree().start().unwrap();
        let tree = app.send(Inspect).await.unwrap();
        let json = serde_json::to_value(&tree).unwrap();

        assert_eq!(json["schema_version"], 1);
        let root = &json["root"]["policy"];
        let keys: Vec<&str> = root
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "backoff",
                "grace",
                "grace_ms",
                "intensity",
                "restart",
                "schedule",
                "strategy"
            ]
        );
        assert_eq!(root["strategy"], "one_for_all");
        assert_eq!(root["grace"], "30s");
        assert_eq!(root["grace_ms"], 30_000);
        assert_eq!(root["restart"], Value::Null);
        assert_eq!(root["intensity"]["max_restarts"], 5);
        let sampler = &json["root"]["children"][1]["children"][0]["policy"];
        assert_eq!(sampler["schedule"]["interval"], "1s");
        assert_eq!(sampler["schedule"]["interval_ms"], 1000);
        assert_eq!(sampler["schedule"]["tick_timeout_ms"], 200);
        assert_eq!(sampler["schedule"]["missed_ticks"], "skip");
        assert_eq!(sampler["restart"], "on_failure");
        let store = &json["root"]["children"][0]["policy"];
        assert_eq!(store["backoff"]["initial"], "100ms");

        let back: TreeSnapshot = serde_json::from_value(json).unwrap();
        let policies = |tree: &TreeSnapshot| -> Vec<NodePolicy> {
            tree.nodes().map(|n| n.policy.clone()).collect()
        };
        assert_eq!(policies(&back), policies(&tree));
        app.send(Stop).await.unwrap();
    });
}

#[test]
fn a_snapshot_written_before_policies_existed_still_reads() {
    let old = r#"{"schema_version": 1, "taken_at": "2026-11-29T23:41:07Z",
        "root": {"name": "app", "path": "/app", "kind": "supervisor", "state": "running",
                 "incarnation": 1, "restart_count": 0, "children": []}}"#;
    let tree: TreeSnapshot = serde_json::from_str(old).unwrap();
    assert_eq!(tree.root.policy, NodePolicy::default());
    let _: Option<Schedule> = tree.root.policy.schedule;
}
