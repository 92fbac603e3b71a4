//! Readiness-ordered start (issue 14.1): a child starts only after every
//! sibling it depends on finished its start (`started` and the futures it
//! waited on with `ctx.wait`); children with no dependency between them
//! start concurrently; a dependent waits at most its start timeout, shown as
//! `Waiting`, then fails with a typed start error; the same order holds for
//! strategy restarts and for a nested supervisor's subtree; a stop of a
//! waiting child answers and accounts for what waits.

use crate::common;

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::prelude::*;
use actix_supervisor::{snapshot::FailurePhase, testkit};
use common::*;

/// How a [`Step`]'s start finishes.
#[derive(Clone)]
enum Hold {
    /// Its `started` returns and nothing is waited on.
    None,
    /// `started` waits this long (paused time) on `ctx.wait`.
    For(Duration),
    /// `started` waits on `ctx.wait` until the gate opens.
    Gate(Gate),
}

/// Records "NAME started" when `started` runs and "NAME ready" when the
/// future it waits on completes; records "NAME handled" for each [`Inc`].
struct Step {
    name: &'static str,
    hold: Hold,
    log: Recorder<String>,
}

impl Actor for Step {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        self.log.record(format!("{} started", self.name));
        let hold: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> = match &self.hold {
            Hold::None => return,
            Hold::For(delay) => Box::pin(tokio::time::sleep(*delay)),
            Hold::Gate(gate) => Box::pin(gate.passed()),
        };
        ctx.wait(actix::fut::wrap_future::<_, Self>(hold).map(|(), this, _| {
            this.log.record(format!("{} ready", this.name));
        }));
    }
}
actix_supervisor::supervised!(Step);

impl Handler<Inc> for Step {
    type Result = u64;
    fn handle(&mut self, _: Inc, _: &mut Context<Self>) -> u64 {
        self.log.record(format!("{} handled", self.name));
        0
    }
}

impl Handler<Panic> for Step {
    type Result = ();
    fn handle(&mut self, msg: Panic, _: &mut Context<Self>) {
        panic!("{}", msg.0);
    }
}

fn step(name: &'static str, hold: Hold, log: &Recorder<String>) -> ChildSpec<Step> {
    let log = log.clone();
    ChildSpec::new(name, move || Step {
        name,
        hold: hold.clone(),
        log: log.clone(),
    })
}

/// Reads `count` entries of the log.
async fn read(records: &mut Records<String>, count: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..count {
        seen.push(records.next().await);
    }
    seen
}

#[actix_rt::test]
async fn a_dependency_waiting_in_started_keeps_its_dependent_from_starting_before() {
    tokio::time::pause();
    let (log, mut records) = recorder();
    let reader = step("reader", Hold::None, &log).depends_on("store");
    let reader_handle = reader.handle();
    let app = SupervisorActor::builder("app")
        .child(step("store", Hold::For(Duration::from_millis(100)), &log))
        .child(reader)
        .start()
        .unwrap();

    within(reader_handle.started()).await.unwrap();
    assert_eq!(
        read(&mut records, 3).await,
        ["store started", "store ready", "reader started"]
    );
    within(app.send(Stop)).await.unwrap();
}

#[actix_rt::test]
async fn children_without_a_dependency_between_them_start_without_waiting_for_each_other() {
    let (log, mut records) = recorder();
    let held = Gate::new();
    let slow = step("slow", Hold::Gate(held.clone()), &log);
    let slow_handle = slow.handle();
    let quick = step("quick", Hold::None, &log);
    let quick_handle = quick.handle();
    let app = SupervisorActor::builder("app")
        .child(slow)
        .child(quick)
        .start()
        .unwrap();

    // `quick` finishes its start while `slow` is still in its own.
    within(quick_handle.started()).await.unwrap();
    assert_eq!(node(&app, "/app/slow").await.state, NodeState::Starting);
    assert_eq!(node(&app, "/app/quick").await.state, NodeState::Running);
    held.open();
    within(slow_handle.started()).await.unwrap();
    let mut seen = read(&mut records, 3).await;
    seen.sort();
    assert_eq!(seen, ["quick started", "slow ready", "slow started"]);
    within(app.send(Stop)).await.unwrap();
}

#[actix_rt::test]
async fn inspect_shows_a_child_waiting_for_its_dependencies() {
    let (log, mut records) = recorder();
    let held = Gate::new();
    let reader = step("reader", Hold::None, &log).depends_on("store");
    let reader_handle = reader.handle();
    let app = SupervisorActor::builder("app")
        .child(step("store", Hold::Gate(held.clone()), &log))
        .child(reader)
        .start()
        .unwrap();

    assert_eq!(records.next().await, "store started");
    let waiting = node(&app, "/app/reader").await;
    assert_eq!(waiting.state, NodeState::Waiting);
    assert_eq!(waiting.incarnation, 0, "nothing of the reader ran");
    assert_eq!(waiting.state.to_string(), "waiting");
    let json = serde_json::to_value(&waiting).unwrap();
    assert_eq!(json["state"], "waiting");

    held.open();
    within(reader_handle.started()).await.unwrap();
    assert_eq!(
        read(&mut records, 2).await,
        ["store ready", "reader started"]
    );
    assert_eq!(node(&app, "/app/reader").await.state, NodeState::Running);
    within(app.send(Stop)).await.unwrap();
}

#[actix_rt::test]
async fn dependents_of_a_failing_dependency_wait_then_fail_with_a_typed_start_error() {
    tokio::time::pause();
    let (log, mut records) = recorder();
    let store = ChildSpec::try_new("store", || -> Result<Step, String> {
        Err("the disk is gone".into())
    })
    .restart(RestartPolicy::Always)
    .backoff(Backoff::new(
        Duration::from_millis(200),
        Duration::from_millis(200),
    ));
    let reader = step("reader", Hold::None, &log)
        .depends_on("store")
        .restart(RestartPolicy::Never)
        .start_timeout(Duration::from_secs(2));
    let reader_handle = reader.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(store)
        .child(reader)
        .start()
        .unwrap();

    match within(reader_handle.started()).await {
        Err(StartError::DependencyNotReady {
            path,
            dependency,
            timeout,
        }) => {
            assert_eq!(path.as_str(), "/app/reader");
            assert_eq!(dependency.as_str(), "/app/store");
            assert_eq!(timeout, Duration::from_secs(2));
        }
        other => panic!("expected DependencyNotReady, got {other:?}"),
    }
    // Handled by the reader's own policy (`Never`): it failed, naming the
    // dependency, and none of its code ran.
    let reader = testkit::wait_for_node(&app, "/app/reader", |n| n.state.is_terminal()).await;
    assert_eq!(reader.state, NodeState::Failed);
    let failure = reader.last_failure.expect("the timeout is its failure");
    assert_eq!(failure.phase, FailurePhase::Waiting);
    assert!(failure.message.contains("/app/store"), "{failure}");
    assert!(records.drain().is_empty());
    // The store goes on under its own policy.
    assert!(node(&app, "/app/store").await.restart_count > 0);
    within(app.send(Stop)).await.unwrap();
}

#[actix_rt::test]
async fn a_one_for_all_restart_starts_each_child_after_its_dependencies_finished_their_start() {
    tokio::time::pause();
    let (log, mut records) = recorder();
    let reader = step("reader", Hold::None, &log).depends_on("store");
    let reader_handle = reader.handle();
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .child(step("store", Hold::For(Duration::from_millis(100)), &log))
        .child(reader)
        .start()
        .unwrap();
    within(reader_handle.started()).await.unwrap();
    assert_eq!(
        read(&mut records, 3).await,
        ["store started", "store ready", "reader started"]
    );

    reader_handle.do_send(Panic("boom")).unwrap();
    assert_eq!(
        read(&mut records, 3).await,
        ["store started", "store ready", "reader started"]
    );
    within(app.send(Stop)).await.unwrap();
}

#[actix_rt::test]
async fn a_rest_for_one_restart_starts_each_child_after_its_dependencies_finished_their_start() {
    tokio::time::pause();
    let (log, mut records) = recorder();
    let slow = || Hold::For(Duration::from_millis(100));
    let store = step("store", slow(), &log);
    let store_handle = store.handle();
    let reader = step("reader", Hold::None, &log).depends_on("cache");
    let reader_handle = reader.handle();
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::RestForOne)
        .child(store)
        .child(step("cache", slow(), &log).depends_on("store"))
        .child(reader)
        .start()
        .unwrap();
    within(reader_handle.started()).await.unwrap();
    let first = read(&mut records, 5).await;
    assert_eq!(
        first,
        [
            "store started",
            "store ready",
            "cache started",
            "cache ready",
            "reader started"
        ]
    );

    // The store fails: the cache and the reader restart with it, each
    // after what it depends on finished its start again.
    store_handle.do_send(Panic("boom")).unwrap();
    assert_eq!(read(&mut records, 5).await, first);
    within(app.send(Stop)).await.unwrap();
}

#[actix_rt::test]
async fn a_sibling_depending_on_a_nested_supervisor_waits_for_its_subtree_to_start() {
    tokio::time::pause();
    let (log, mut records) = recorder();
    let api = step("api", Hold::None, &log).depends_on("db");
    let api_handle = api.handle();
    let db = SupervisorActor::builder("db")
        .child(step("store", Hold::For(Duration::from_millis(100)), &log))
        .child(step("index", Hold::For(Duration::from_millis(300)), &log));
    let app = SupervisorActor::builder("app")
        .child(db)
        .child(api)
        .start()
        .unwrap();

    within(api_handle.started()).await.unwrap();
    let mut seen = read(&mut records, 5).await;
    assert_eq!(seen.pop().unwrap(), "api started");
    seen.sort();
    assert_eq!(
        seen,
        [
            "index ready",
            "index started",
            "store ready",
            "store started"
        ]
    );
    within(app.send(Stop)).await.unwrap();
}

#[actix_rt::test]
async fn a_stop_while_a_child_waits_drains_its_mailbox_once_its_dependencies_started() {
    let (log, mut records) = recorder();
    let held = Gate::new();
    let reader = step("reader", Hold::None, &log).depends_on("store");
    let reader_handle = reader.handle();
    let app = SupervisorActor::builder("app")
        .child(step("store", Hold::Gate(held.clone()), &log))
        .child(reader)
        .start()
        .unwrap();
    assert_eq!(records.next().await, "store started");
    for _ in 0..3 {
        reader_handle.do_send(Inc).unwrap();
    }

    let stopped = reader_handle.stop();
    let stopping =
        testkit::wait_for_node(&app, "/app/reader", |n| n.state == NodeState::Stopping).await;
    assert_eq!(stopping.incarnation, 0);
    assert!(
        reader_handle.do_send(Inc).is_err(),
        "a stopping child refuses"
    );
    held.open();
    let report = within(stopped).await;
    assert!(report.is_drained(), "{report:?}");
    assert_eq!((report.drained, report.undelivered), (3, 0));
    assert_eq!(
        read(&mut records, 5).await,
        [
            "store ready",
            "reader started",
            "reader handled",
            "reader handled",
            "reader handled"
        ]
    );
    within(app.send(Stop)).await.unwrap();
}

#[actix_rt::test]
async fn a_stop_while_a_child_waits_in_vain_answers_within_its_grace_with_what_waits() {
    tokio::time::pause();
    let (log, mut records) = recorder();
    let held = Gate::new();
    let reader = step("reader", Hold::None, &log)
        .depends_on("store")
        .grace(Grace::Duration(Duration::from_secs(1)));
    let reader_handle = reader.handle();
    let app = SupervisorActor::builder("app")
        .child(step("store", Hold::Gate(held.clone()), &log))
        .child(reader)
        .start()
        .unwrap();
    assert_eq!(records.next().await, "store started");
    reader_handle.do_send(Inc).unwrap();
    reader_handle.do_send(Inc).unwrap();

    let report = within(reader_handle.stop()).await;
    assert_eq!(report.outcome, StopOutcome::TimedOut);
    assert_eq!((report.drained, report.undelivered), (0, 2));
    assert!(records.drain().is_empty(), "none of the reader's code ran");
    held.open();
    within(app.send(Stop)).await.unwrap();
}

#[actix_rt::test]
async fn a_zero_start_timeout_is_refused_naming_the_field() {
    let (log, _records) = recorder();
    let error = SupervisorActor::builder("app")
        .child(step("store", Hold::None, &log))
        .child(
            step("reader", Hold::None, &log)
                .depends_on("store")
                .start_timeout(Duration::ZERO),
        )
        .start()
        .unwrap_err();
    assert!(
        matches!(&error, BuildError::InvalidField { field: "start_timeout", path, .. } if path.as_str() == "/app/reader"),
        "{error}"
    );
}

#[actix_rt::test]
async fn a_nested_supervisor_depending_on_a_sibling_starts_its_subtree_after_it() {
    let (log, mut records) = recorder();
    let held = Gate::new();
    let handler = step("handler", Hold::None, &log);
    let handler_handle = handler.handle();
    let api = SupervisorActor::builder("api")
        .depends_on("store")
        .child(handler);
    let app = SupervisorActor::builder("app")
        .child(step("store", Hold::Gate(held.clone()), &log))
        .child(api)
        .start()
        .unwrap();

    assert_eq!(records.next().await, "store started");
    let api = node(&app, "/app/api").await;
    assert_eq!(api.state, NodeState::Waiting);
    assert!(api.children.is_empty() || api.children[0].incarnation == 0);
    held.open();
    within(handler_handle.started()).await.unwrap();
    assert_eq!(
        read(&mut records, 2).await,
        ["store ready", "handler started"]
    );
    assert_eq!(node(&app, "/app/api").await.state, NodeState::Running);
    within(app.send(Stop)).await.unwrap();
}

#[actix_rt::test]
async fn a_nested_supervisor_whose_dependency_never_starts_fails_by_its_policy_after_its_timeout() {
    tokio::time::pause();
    let (log, mut records) = recorder();
    let store = ChildSpec::try_new("store", || -> Result<Step, String> {
        Err("the disk is gone".into())
    })
    .restart(RestartPolicy::Always)
    .backoff(Backoff::new(
        Duration::from_millis(200),
        Duration::from_millis(200),
    ));
    let handler = step("handler", Hold::None, &log);
    let handler_handle = handler.handle();
    let api = SupervisorActor::builder("api")
        .depends_on("store")
        .restart(RestartPolicy::Never)
        .start_timeout(Duration::from_secs(1))
        .child(handler);
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(store)
        .child(api)
        .start()
        .unwrap();

    let api = testkit::wait_for_node(&app, "/app/api", |n| n.state.is_terminal()).await;
    assert_eq!(api.state, NodeState::Failed);
    let failure = api.last_failure.expect("the timeout is its failure");
    assert_eq!(failure.phase, FailurePhase::Waiting);
    assert!(failure.message.contains("/app/store"), "{failure}");
    // Its child never started, and its handle says so.
    assert!(within(handler_handle.started()).await.is_err());
    assert!(records.drain().is_empty());
    within(app.send(Stop)).await.unwrap();
}

#[actix_rt::test]
async fn a_dependent_waits_for_a_dependency_started_again_after_it_ended() {
    let (log, mut records) = recorder();
    let reader = step("reader", Hold::None, &log).depends_on("store");
    let reader_handle = reader.handle();
    let app = SupervisorActor::builder("app")
        .child(step("store", Hold::None, &log).restart(RestartPolicy::Never))
        .child(reader)
        .start()
        .unwrap();
    within(reader_handle.started()).await.unwrap();
    assert_eq!(
        read(&mut records, 2).await,
        ["store started", "reader started"]
    );

    // The store ends for good; the reader, failing, waits for it.
    within(app.send(StopChild::new("store")))
        .await
        .unwrap()
        .unwrap();
    reader_handle.do_send(Panic("boom")).unwrap();
    testkit::wait_for_node(&app, "/app/reader", |n| n.state == NodeState::Waiting).await;

    // Started again on a new link, the store lets the reader start.
    within(app.send(RestartChild::new("store")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read(&mut records, 2).await,
        ["store started", "reader started"]
    );
    let reader =
        testkit::wait_for_node(&app, "/app/reader", |n| n.state == NodeState::Running).await;
    assert_eq!(reader.incarnation, 2);
    within(app.send(Stop)).await.unwrap();
}
