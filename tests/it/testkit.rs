//! Promise 13 (the last sentence): a test can wait, without sleeps, until
//! the tree matches a condition; and the rest of the testkit: an event
//! recorder for order assertions, a start/stop stress helper that catches
//! hangs and leaked actors, the live-actor count, and paused-time helpers.

use crate::common;

use std::cell::RefCell;
use std::future::IntoFuture;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::testkit::{
    self, EventRecorder, EventWaitError, StressFailure, WaitError, TIMER_SLACK,
};
use actix_supervisor::{
    events::EventKind, snapshot::NodeState, Backoff, ChildHandle, ChildSpec, Grace, Kill,
    NodeSnapshot, RestartIntensity, StartChild, Stop, Strategy, SupervisorActor, SupervisorBuilder,
};
use common::*;
use tokio::time::Instant;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A probe that restarts at once after a failure.
fn quick_probe(name: &str) -> ChildSpec<Probe> {
    let (log, _) = recorder();
    probe_spec(name, log)
}

/// A probe that restarts one second after each failure.
fn slow_probe(name: &str) -> ChildSpec<Probe> {
    quick_probe(name).backoff(Backoff::new(secs(1), secs(1)).jitter(0.0))
}

/// A tree `/app` with `spec` as its only child, and the child's handle.
fn app_with(spec: ChildSpec<Probe>) -> (Addr<SupervisorActor>, ChildHandle<Probe>) {
    let probe = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    (app, probe)
}

// ---------------------------------------------------------------- waiting

#[actix_rt::test]
async fn wait_until_resolves_when_the_event_comes_not_before_and_not_later() {
    tokio::time::pause();
    let (app, probe) = app_with(slow_probe("probe"));
    within(probe.started()).await.unwrap();

    let began = Instant::now();
    assert!(within(probe.send(Panic("boom"))).await.is_err());
    let tree = testkit::wait_until(&app, |tree| {
        tree.find("/app/probe")
            .is_some_and(|n| n.incarnation == 2 && n.state == NodeState::Running)
    })
    .await;

    // Woken by the restart itself: exactly when the backoff ended.
    testkit::assert_about(began.elapsed(), secs(1));
    let node = tree.find("/app/probe").unwrap();
    assert_eq!(node.restart_count, 1);
    assert_eq!(node.last_failure.as_ref().unwrap().message, "boom");
}

#[actix_rt::test]
async fn a_condition_that_already_holds_resolves_without_time_passing() {
    tokio::time::pause();
    let (app, probe) = app_with(slow_probe("probe"));
    within(probe.started()).await.unwrap();

    let began = Instant::now();
    let node = testkit::wait_for_node(&app, "/app/probe", |n| n.state == NodeState::Running).await;
    assert_eq!(began.elapsed(), Duration::ZERO);
    assert_eq!(node.incarnation, 1);
}

#[actix_rt::test]
async fn a_wait_that_never_holds_fails_with_the_condition_and_the_last_snapshot() {
    tokio::time::pause();
    let spec = slow_probe("probe");
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    let began = Instant::now();
    let err = testkit::wait_for_node(&app, "/app/probe", |n| n.incarnation == 9)
        .describe("the ninth incarnation")
        .timeout(secs(3))
        .try_wait()
        .await
        .unwrap_err();

    assert!(err.is_timeout());
    testkit::assert_about(began.elapsed(), secs(3));
    let last = err.last_snapshot().expect("a snapshot was taken");
    assert_eq!(last.find("/app/probe").unwrap().state, NodeState::Running);
    let message = err.to_string();
    assert!(
        message.starts_with(
            "timed out after 3s waiting for /app/probe to match the ninth incarnation"
        ),
        "{message}"
    );
    assert!(
        message.contains("probe [actor] running, incarnation 1"),
        "the message prints the tree: {message}"
    );
}

#[actix_rt::test]
#[should_panic(expected = "app [supervisor] running")]
async fn awaiting_a_wait_that_never_holds_fails_the_test_printing_the_tree() {
    tokio::time::pause();
    let app = SupervisorActor::builder("app")
        .child(slow_probe("probe"))
        .start()
        .unwrap();
    testkit::wait_until(&app, |tree| tree.nodes().count() == 5).await;
}

#[actix_rt::test]
#[should_panic(expected = "waiting for the condition at tests/it/testkit.rs:")]
async fn an_undescribed_condition_is_named_by_where_the_wait_was_written() {
    tokio::time::pause();
    let app = SupervisorActor::builder("app").start().unwrap();
    testkit::wait_until(&app, |_| false).await;
}

#[actix_rt::test]
async fn a_wait_for_a_node_that_is_not_in_the_tree_says_so() {
    tokio::time::pause();
    let app = SupervisorActor::builder("app")
        .child(slow_probe("probe"))
        .start()
        .unwrap();
    let err = testkit::wait_for_node(&app, "/app/prob", |_| true)
        .timeout(secs(1))
        .try_wait()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("(there is no node /app/prob in the tree)"),
        "{err}"
    );
}

#[actix_rt::test]
async fn a_wait_on_a_supervisor_that_is_gone_fails_at_once() {
    tokio::time::pause();
    let app = SupervisorActor::builder("app").start().unwrap();
    within(app.send(Kill)).await.unwrap();

    let began = Instant::now();
    let err = testkit::wait_until(&app, |_| true)
        .try_wait()
        .await
        .unwrap_err();
    assert!(matches!(err, WaitError::SupervisorGone { .. }), "{err}");
    assert_eq!(began.elapsed(), Duration::ZERO, "not after the timeout");
}

#[actix_rt::test]
async fn a_wait_for_a_node_sees_a_child_started_after_it_began() {
    tokio::time::pause();
    let app = SupervisorActor::builder("app").start().unwrap();
    let spec = slow_probe("late");
    let late = spec.handle();

    let waiting = testkit::wait_for_node(&app, "/app/late", |n| n.state == NodeState::Running);
    let starting = async {
        within(app.send(StartChild::new(spec)))
            .await
            .unwrap()
            .unwrap();
        within(late.started()).await.unwrap();
    };
    let (node, ()) = tokio::join!(waiting.into_future(), starting);
    assert_eq!(node.path.as_str(), "/app/late");
}

/// A periodic task that ticks only when asked: its tick count is a change
/// no lifecycle event announces.
struct Quiet;
impl actix_supervisor::periodic::Tick for Quiet {
    type Error = String;
    async fn tick(&mut self, _: &actix_supervisor::periodic::TickContext) -> Result<(), String> {
        Ok(())
    }
}

/// A tree with a periodic child, `/app/quiet`, that ticks only on
/// `TickNow` (its schedule is an hour, its first tick after it).
async fn tree_with_a_quiet_ticker() -> (
    Addr<SupervisorActor>,
    ChildHandle<actix_supervisor::periodic::PeriodicActor<Quiet>>,
) {
    let schedule =
        actix_supervisor::periodic::Periodic::every(secs(3600)).first_tick_after_interval();
    let spec = ChildSpec::periodic("quiet", schedule, |_| Quiet);
    let quiet = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(quiet.started()).await.unwrap();
    (app, quiet)
}

/// A condition that makes `quiet` tick when it first looks at the tree (so
/// the change comes after the wait's first snapshot), then waits for the
/// tick to be counted.
fn ticked_after_first_look(
    quiet: ChildHandle<actix_supervisor::periodic::PeriodicActor<Quiet>>,
) -> impl FnMut(&NodeSnapshot) -> bool {
    let mut to_tick = Some(quiet);
    move |node| {
        if let Some(quiet) = to_tick.take() {
            quiet.address().do_send(actix_supervisor::periodic::TickNow);
        }
        node.task.as_ref().is_some_and(|task| task.runs == 1)
    }
}

#[actix_rt::test]
async fn a_change_without_an_event_is_seen_with_recheck_every() {
    tokio::time::pause();
    let (app, quiet) = tree_with_a_quiet_ticker().await;
    let began = Instant::now();
    let node = testkit::wait_for_node(&app, "/app/quiet", ticked_after_first_look(quiet))
        .recheck_every(Duration::from_millis(10))
        .await;
    assert_eq!(node.task.unwrap().runs, 1);
    testkit::assert_about(began.elapsed(), Duration::from_millis(10));
}

#[actix_rt::test]
async fn a_change_without_an_event_fails_the_wait_with_a_hint_to_recheck() {
    tokio::time::pause();
    let (app, quiet) = tree_with_a_quiet_ticker().await;
    let err = testkit::wait_for_node(&app, "/app/quiet", ticked_after_first_look(quiet))
        .timeout(secs(1))
        .try_wait()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("use `recheck_every`"), "{err}");
    let last = err.last_snapshot().unwrap();
    assert_eq!(
        last.find("/app/quiet").unwrap().task.as_ref().unwrap().runs,
        1
    );
}

// ---------------------------------------------------------------- recording

#[actix_rt::test]
async fn the_recorder_keeps_a_node_s_events_in_the_order_they_happened() {
    tokio::time::pause();
    let (a, b) = (slow_probe("a"), slow_probe("b"));
    let (a_handle, b_handle) = (a.handle(), b.handle());
    let app = SupervisorActor::builder("app")
        .child(a)
        .child(b)
        .start()
        .unwrap();
    let recorder = EventRecorder::start(&app).await.unwrap();

    assert!(within(a_handle.send(Panic("a broke"))).await.is_err());
    within(a_handle.send(Get)).await.unwrap();
    within(b_handle.stop()).await;
    within(a_handle.stop()).await;

    assert_eq!(
        recorder.kinds("/app/a"),
        [
            "started",
            "failed",
            "restarting",
            "started",
            "stopping",
            "stopped"
        ]
    );
    assert_eq!(recorder.kinds("/app/b"), ["started", "stopping", "stopped"]);
    let b_stopped = recorder.for_path("/app/b").pop().unwrap();
    let a_stopped = recorder.for_path("/app/a").pop().unwrap();
    let all = recorder.events();
    let at = |wanted| all.iter().position(|e| *e == wanted).unwrap();
    assert!(at(b_stopped) < at(a_stopped), "b was stopped first");
    assert_eq!(recorder.missed(), 0);
}

#[actix_rt::test]
async fn events_sent_before_a_reply_are_recorded_when_the_reply_arrives() {
    let (app, probe) = app_with(quick_probe("probe"));
    let recorder = EventRecorder::start(&app).await.unwrap();

    assert!(within(probe.send(Panic("boom"))).await.is_err());
    // Handled by the next incarnation, which announced its start first.
    assert_eq!(within(probe.send(Get)).await.unwrap().0, 2);
    let last = recorder.for_path("/app/probe").pop().unwrap();
    assert_eq!((last.incarnation, last.kind), (2, EventKind::Started));
}

#[actix_rt::test]
async fn wait_for_finds_an_event_recorded_before_it_was_called() {
    let (app, probe) = app_with(slow_probe("probe"));
    let recorder = EventRecorder::start(&app).await.unwrap();
    within(probe.stop()).await;
    within(probe.send(Get)).await.unwrap_err();

    let stopped = recorder
        .wait_for(|e| matches!(e.kind, EventKind::Stopped { .. }))
        .timeout(Duration::ZERO)
        .await;
    assert_eq!(stopped.path.as_str(), "/app/probe");
}

#[actix_rt::test]
async fn wait_for_waits_for_a_later_event_without_sleeping() {
    tokio::time::pause();
    let (app, probe) = app_with(slow_probe("probe"));
    let recorder = EventRecorder::start(&app).await.unwrap();
    within(probe.started()).await.unwrap();

    let began = Instant::now();
    probe.do_send(Panic("boom")).unwrap();
    let restarted = recorder
        .wait_for(|e| e.incarnation == 2 && e.kind == EventKind::Started)
        .await;
    testkit::assert_about(began.elapsed(), secs(1));
    assert_eq!(restarted.path.as_str(), "/app/probe");
}

#[actix_rt::test]
async fn a_wait_for_an_event_that_never_comes_fails_listing_the_events_seen() {
    tokio::time::pause();
    let app = SupervisorActor::builder("app")
        .child(slow_probe("probe"))
        .start()
        .unwrap();
    let recorder = EventRecorder::start(&app).await.unwrap();
    let err = recorder
        .wait_for(|e| matches!(e.kind, EventKind::GaveUp { .. }))
        .describe("the supervisor giving up")
        .timeout(secs(2))
        .try_wait()
        .await
        .unwrap_err();

    assert!(matches!(err, EventWaitError::TimedOut { .. }));
    assert_eq!(err.seen().len(), 1);
    assert_eq!(
        err.to_string(),
        "timed out after 2s waiting for the supervisor giving up; \
         the events recorded were:\n  /app/probe #1 started"
    );
}

#[actix_rt::test]
#[should_panic(expected = "waiting for an event matching the predicate at tests/it/testkit.rs:")]
async fn awaiting_a_wait_for_an_event_that_never_comes_fails_the_test() {
    tokio::time::pause();
    let app = SupervisorActor::builder("app").start().unwrap();
    let recorder = EventRecorder::start(&app).await.unwrap();
    recorder.wait_for(|_| true).await;
}

#[actix_rt::test]
async fn the_recorder_keeps_up_with_thousands_of_events() {
    let spec = quick_probe("probe");
    let probe = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    let recorder = EventRecorder::start(&app).await.unwrap();

    // Three events per restart: far more than a subscription buffers.
    for _ in 0..2000 {
        assert!(within(probe.send(Panic("again"))).await.is_err());
    }
    within(probe.send(Get)).await.unwrap();
    assert_eq!(recorder.missed(), 0);
    let kinds = recorder.kinds("/app/probe");
    assert_eq!(kinds.len(), 1 + 2000 * 3);
    assert_eq!(kinds.iter().filter(|k| **k == "started").count(), 2001);
}

#[actix_rt::test]
async fn a_subtree_recorder_sees_only_that_subtree() {
    let (left, right) = (slow_probe("left"), slow_probe("right"));
    let (left_handle, right_handle) = (left.handle(), right.handle());
    let app = SupervisorActor::builder("app")
        .child(left)
        .child(right)
        .start()
        .unwrap();
    let recorder = EventRecorder::start_subtree(&app, left_handle.path())
        .await
        .unwrap();
    within(right_handle.stop()).await;
    within(left_handle.stop()).await;
    recorder
        .wait_for(|e| matches!(e.kind, EventKind::Stopped { .. }))
        .await;
    assert!(recorder
        .events()
        .iter()
        .all(|e| e.path.as_str() == "/app/left"));
}

// ---------------------------------------------------------------- stress

/// A tree with every kind of node: plain actors, a dependency, a nested
/// supervisor.
fn busy_tree() -> SupervisorBuilder {
    let (log, _) = recorder();
    let (tally_log, _) = recorder();
    SupervisorActor::builder("app")
        .child(probe_spec("probe", log.clone()))
        .child(tally_spec("tally", tally_log).depends_on("probe"))
        .child(
            SupervisorActor::builder("nested")
                .child(probe_spec("inner", log.clone()))
                .child(probe_spec("other", log)),
        )
}

#[actix_rt::test]
async fn stressing_a_tree_runs_every_cycle_and_leaves_nothing_behind() {
    tokio::time::pause();
    let before = testkit::live_actors();
    let report = testkit::stress_tree(busy_tree)
        .cycles(60)
        .seed(11)
        .cycle_timeout(secs(5))
        .await;

    assert_eq!(report.cycles, 60);
    assert!(
        (61..=180).contains(&report.stops_issued),
        "one to three stops per cycle, more than one sometimes: {report:?}"
    );
    // Nothing in this tree waits on a timer: a cycle lasts as long as its
    // latest stop's drawn delay.
    assert!(report.max_cycle_time <= Duration::from_millis(10) + TIMER_SLACK);
    assert_eq!(report.live_actors_after, 0);
    assert_eq!(testkit::live_actors(), before);
}

#[actix_rt::test]
async fn the_same_seed_plays_the_same_cycles() {
    tokio::time::pause();
    let run = |seed| testkit::stress_tree(busy_tree).cycles(20).seed(seed);
    let first = run(3).await;
    let again = run(3).await;
    assert_eq!(first, again);
    // And the seed is used: another one draws other cycles.
    let other = run(4).await;
    assert_ne!(first, other, "seeds 3 and 4 played the same cycles");
}

#[actix_rt::test]
async fn stressing_a_child_starts_and_stops_it_in_one_host() {
    tokio::time::pause();
    let before = testkit::live_actors();
    let (log, _) = recorder();
    let report = testkit::stress_child(|| probe_spec("probe", log.clone()))
        .cycles(60)
        .max_stops(4)
        .await;
    assert_eq!(report.cycles, 60);
    assert!(report.stops_issued > 60, "{report:?}");
    assert_eq!(testkit::live_actors(), before, "the host is gone too");

    let nested = testkit::stress_child(busy_tree).cycles(20).await;
    assert_eq!(nested.cycles, 20);
}

/// Never finishes starting: `started` makes it wait forever.
struct NeverStarts;

impl Actor for NeverStarts {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future(std::future::pending::<()>()));
    }
}

actix_supervisor::supervised!(NeverStarts);

#[actix_rt::test]
async fn a_stop_that_never_answers_is_reported_as_a_hang_and_the_tree_is_shut_down() {
    tokio::time::pause();
    let before = testkit::live_actors();
    let err = testkit::stress_tree(|| {
        SupervisorActor::builder("app")
            .child(ChildSpec::new("never", || NeverStarts).grace(Grace::Infinity))
    })
    .cycle_timeout(secs(2))
    .try_run()
    .await
    .unwrap_err();

    assert_eq!((err.cycle, err.seed), (0, 0));
    match &err.failure {
        StressFailure::Hung { after, snapshot } => {
            assert_eq!(*after, secs(2));
            let node = snapshot.as_ref().unwrap().find("/app/never").unwrap();
            assert_eq!(node.state, NodeState::Stopping);
        }
        other => panic!("expected a hang, got {other}"),
    }
    testkit::settle_live_actors(before).await.unwrap();
}

#[actix_rt::test]
async fn a_supervisor_kept_alive_after_its_cycle_is_reported_as_left_behind() {
    tokio::time::pause();
    let before = testkit::live_actors();
    let kept = Rc::new(RefCell::new(Vec::new()));
    let err = testkit::stress_tree(|| {
        let builder = busy_tree();
        kept.borrow_mut().push(builder.address());
        builder
    })
    .seed(5)
    .try_run()
    .await
    .unwrap_err();

    assert_eq!(err.cycle, 0);
    match &err.failure {
        StressFailure::Leaked(left) => {
            assert_eq!((left.expected, left.live), (before, before + 2));
        }
        other => panic!("expected a leak, got {other}"),
    }
    assert!(err
        .to_string()
        .starts_with("stress cycle 0 (seed 5) failed"));
    kept.borrow_mut().clear();
    testkit::settle_live_actors(before).await.unwrap();
}

#[actix_rt::test]
#[should_panic(expected = "stress cycle 0 (seed 9) failed: ")]
async fn awaiting_a_failing_stress_run_fails_the_test_with_its_seed() {
    tokio::time::pause();
    let kept = RefCell::new(Vec::new());
    testkit::stress_tree(|| {
        let builder = SupervisorActor::builder("app");
        kept.borrow_mut().push(builder.address());
        builder
    })
    .seed(9)
    .await;
}

/// Fails in `started` on odd incarnations: a tree with it always has a
/// restart in flight.
struct FailsEveryOtherStart(u64);

impl Actor for FailsEveryOtherStart {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        assert!(self.0.is_multiple_of(2), "odd start");
    }
}

actix_supervisor::supervised!(FailsEveryOtherStart);

fn fails_every_other_start(name: &str) -> ChildSpec<FailsEveryOtherStart> {
    ChildSpec::with_context(name, |start| FailsEveryOtherStart(start.incarnation()))
        .backoff(Backoff::new(Duration::from_millis(3), Duration::from_millis(3)).jitter(0.0))
}

/// Restarts under every strategy, a nested subtree that escalates, and a
/// child whose factory always fails.
fn tree_with_restarts_in_flight() -> SupervisorBuilder {
    let (log, _) = recorder();
    SupervisorActor::builder("app")
        .intensity(RestartIntensity::new(50, secs(1)))
        .strategy(Strategy::OneForAll)
        .child(probe_spec("probe", log.clone()))
        .child(fails_every_other_start("flaky"))
        .child(
            SupervisorActor::builder("nested")
                .intensity(RestartIntensity::new(1, secs(1)))
                .strategy(Strategy::RestForOne)
                .backoff(Backoff::new(
                    Duration::from_millis(5),
                    Duration::from_millis(5),
                ))
                .child(probe_spec("inner", log))
                .child(fails_every_other_start("flaky").depends_on("inner"))
                .child(ChildSpec::try_new("broken", || {
                    Err::<FailsEveryOtherStart, _>("no config")
                })),
        )
}

#[actix_rt::test]
async fn stressing_trees_with_restarts_in_flight_leaves_nothing_behind() {
    tokio::time::pause();
    for seed in 0..5 {
        let tree = testkit::stress_tree(tree_with_restarts_in_flight)
            .cycles(30)
            .seed(seed)
            .max_delay(Duration::from_millis(20))
            .await;
        assert_eq!(tree.live_actors_after, 0);
        let child = testkit::stress_child(tree_with_restarts_in_flight)
            .cycles(30)
            .seed(seed)
            .max_delay(Duration::from_millis(20))
            .await;
        assert_eq!(child.live_actors_after, 0);
    }
}

// ---------------------------------------------------------------- live actors

#[actix_rt::test]
async fn live_actors_counts_supervisors_and_runners_until_they_are_dropped() {
    tokio::time::pause();
    let before = testkit::live_actors();
    let app = busy_tree().start().unwrap();
    testkit::wait_until(&app, |tree| {
        tree.nodes().all(|n| n.state == NodeState::Running)
    })
    .await;
    // Two supervisors, four children.
    assert_eq!(testkit::live_actors(), before + 6);

    within(app.send(Stop)).await.unwrap();
    let began = Instant::now();
    // Runners end with their children; the root lives while it is held,
    // and keeps its nested supervisor, to be inspected.
    testkit::settle_live_actors(before + 2).await.unwrap();
    assert_eq!(testkit::live_actors(), before + 2);
    drop(app);
    testkit::settle_live_actors(before).await.unwrap();
    assert_eq!(began.elapsed(), Duration::ZERO, "settling moves no clock");
}

#[actix_rt::test]
async fn settling_gives_up_with_the_count_when_actors_stay() {
    let before = testkit::live_actors();
    let app = SupervisorActor::builder("app").start().unwrap();
    let left = testkit::settle_live_actors(before).await.unwrap_err();
    assert_eq!((left.expected, left.live), (before, before + 1));
    assert_eq!(
        left.to_string(),
        format!(
            "{} library actors are alive on this thread, {before} expected: 1 left behind",
            before + 1
        )
    );
    drop(app);
}

// ---------------------------------------------------------------- paused time

#[test]
fn run_paused_runs_the_test_in_an_actix_system_with_the_clock_paused() {
    let (waited, answer) = testkit::run_paused(async {
        let began = Instant::now();
        tokio::time::sleep(secs(3600)).await;
        let bystander = Bystander.start();
        (began.elapsed(), bystander.send(Get).await.unwrap())
    });
    testkit::assert_about(waited, secs(3600));
    assert_eq!(answer, (0, 42));
}

#[test]
fn assert_about_accepts_the_timer_slack_and_nothing_more() {
    testkit::assert_about(secs(1), secs(1));
    testkit::assert_about(secs(1) + TIMER_SLACK - Duration::from_nanos(1), secs(1));
    for off in [secs(1) + TIMER_SLACK, secs(1) - Duration::from_nanos(1)] {
        let result = std::panic::catch_unwind(|| testkit::assert_about(off, secs(1)));
        assert!(result.is_err(), "{off:?} is not about 1s");
    }
}

/// `Duration::MAX` reads as "wait for ever": it must not overflow the clock.
#[actix_rt::test]
async fn a_timeout_too_long_for_the_clock_waits_without_overflowing() {
    tokio::time::pause();
    let (app, probe) = app_with(slow_probe("probe"));
    let recorder = EventRecorder::start(&app).await.unwrap();
    within(probe.started()).await.unwrap();
    let node = testkit::wait_for_node(&app, "/app/probe", |n| n.state == NodeState::Running)
        .timeout(Duration::MAX)
        .await;
    assert_eq!(node.incarnation, 1);
    within(probe.stop()).await;
    let stopped = recorder
        .wait_for(|e| matches!(e.kind, EventKind::Stopped { .. }))
        .timeout(Duration::MAX)
        .await;
    assert_eq!(stopped.path.as_str(), "/app/probe");
}
