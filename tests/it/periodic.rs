//! Promise 14 (periodic): a tick collaborator, a plain struct, runs on an
//! interval under supervision: exact scheduling under paused time, failed
//! ticks counted and logged without stopping the child, a limit of failures
//! in a row that makes a child failure, a tick timeout, the documented
//! missed-tick schedules, a stop that finishes the tick in progress and
//! starts no other, and panics contained.

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_supervisor::{
    periodic::{MissedTicks, Periodic, PeriodicActor, Tick, TickContext},
    snapshot::{NodeKind, NodeState},
    BuildError, ChildSpec, Grace, StopOutcome, SupervisorActor,
};
use common::*;
use tokio::time::Instant;

/// What the tick numbered `n` (counted across incarnations) does.
#[derive(Debug, Clone, Copy)]
enum Step {
    Succeed,
    Fail(&'static str),
    Take(Duration),
    Panic,
}

/// A tick that follows a script and records when each tick starts.
struct Scripted {
    script: fn(u64) -> Step,
    count: Arc<AtomicU64>,
    starts: Recorder<(u64, Instant)>,
}

impl Tick for Scripted {
    type Error = String;

    async fn tick(&mut self, _: &TickContext) -> Result<(), String> {
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        self.starts.record((n, Instant::now()));
        match (self.script)(n) {
            Step::Succeed => Ok(()),
            Step::Fail(reason) => Err(reason.to_string()),
            Step::Take(duration) => {
                tokio::time::sleep(duration).await;
                Ok(())
            }
            Step::Panic => panic!("tick {n} panicked"),
        }
    }
}

fn scripted(
    schedule: Periodic,
    script: fn(u64) -> Step,
) -> (ChildSpec<PeriodicActor<Scripted>>, Records<(u64, Instant)>) {
    let (starts, records) = recorder();
    let count = Arc::new(AtomicU64::new(0));
    let spec = ChildSpec::periodic("ticker", schedule, move |_| Scripted {
        script,
        count: count.clone(),
        starts: starts.clone(),
    });
    (spec, records)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_tick_is_a_plain_struct_that_a_unit_test_calls_directly() {
    let (starts, mut records) = recorder();
    let mut task = Scripted {
        script: |n| {
            if n == 2 {
                Step::Fail("second")
            } else {
                Step::Succeed
            }
        },
        count: Arc::new(AtomicU64::new(0)),
        starts,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(task.tick(&TickContext::detached()).await, Ok(()));
        assert_eq!(
            task.tick(&TickContext::detached()).await,
            Err("second".into())
        );
    });
    assert_eq!(records.drain().len(), 2);
}

#[actix_rt::test]
async fn ticks_run_exactly_at_the_interval() {
    tokio::time::pause();
    let (spec, mut starts) = scripted(Periodic::every(ms(250)), |_| Step::Succeed);
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    let (_, mut previous) = starts.next().await;
    for _ in 0..5 {
        let (_, now) = starts.next().await;
        assert_about(now - previous, ms(250));
        previous = now;
    }
    let ticker = node(&app, "/app/ticker").await;
    assert_eq!(ticker.kind, NodeKind::Periodic);
}

#[actix_rt::test]
async fn a_failed_tick_is_counted_and_the_child_keeps_running() {
    tokio::time::pause();
    let (spec, mut starts) = scripted(Periodic::every(ms(100)), |n| match n {
        2 | 3 => Step::Fail("upstream unavailable"),
        _ => Step::Succeed,
    });
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    // Quick ticks finish in the poll that starts them: once the sixth has
    // started, six have run.
    while starts.next().await.0 < 6 {}
    let ticker = node(&app, "/app/ticker").await;
    assert_eq!((ticker.state, ticker.incarnation), (NodeState::Running, 1));
    let stats = ticker
        .task
        .expect("periodic children report tick statistics");
    assert_eq!(
        (stats.runs, stats.failures, stats.consecutive_failures),
        (6, 2, 0)
    );
    assert_eq!(stats.last_error.as_deref(), Some("upstream unavailable"));
}

#[actix_rt::test]
async fn failures_in_a_row_up_to_the_limit_fail_the_child_and_it_restarts() {
    tokio::time::pause();
    let (spec, mut starts) = scripted(Periodic::every(ms(100)).failure_limit(3), |n| {
        if n <= 3 {
            Step::Fail("lease lost")
        } else {
            Step::Succeed
        }
    });
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    while starts.next().await.0 < 5 {}
    let ticker = node(&app, "/app/ticker").await;
    assert_eq!(
        ticker.incarnation, 2,
        "the third failure in a row failed incarnation 1"
    );
    let failure = ticker.last_failure.unwrap();
    assert_eq!(
        failure.message,
        "3 ticks in a row failed; the last: lease lost"
    );
}

#[actix_rt::test]
async fn a_tick_past_its_timeout_counts_as_failed() {
    tokio::time::pause();
    let (spec, mut starts) = scripted(Periodic::every(ms(1000)).tick_timeout(ms(100)), |n| {
        if n == 1 {
            Step::Take(ms(5000))
        } else {
            Step::Succeed
        }
    });
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    let (_, first) = starts.next().await;
    let (_, second) = starts.next().await;
    assert_about(second - first, ms(1000));
    let stats = node(&app, "/app/ticker").await.task.unwrap();
    assert_eq!(stats.failures, 1);
    assert_eq!(
        stats.last_error.as_deref(),
        Some("the tick ran past its timeout of 100ms")
    );
}

/// The start times of ticks 2 to 5, from the start of tick 1, when tick 1
/// takes 350 ms on a 100 ms interval.
async fn schedule_after_a_slow_tick(missed: MissedTicks) -> Vec<Duration> {
    let (spec, mut starts) = scripted(Periodic::every(ms(100)).missed_ticks(missed), |n| {
        if n == 1 {
            Step::Take(ms(350))
        } else {
            Step::Succeed
        }
    });
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    let (_, first) = starts.next().await;
    let mut after = Vec::new();
    for _ in 2..=5 {
        after.push(starts.next().await.1 - first);
    }
    after
}

#[actix_rt::test]
async fn each_missed_tick_behaviour_gives_its_documented_schedule() {
    tokio::time::pause();
    let within_slack = |actual: Duration, expected: u64, what: &str| {
        assert!(
            actual >= ms(expected) && actual < ms(expected) + TIMER_SLACK,
            "{what}: {actual:?} is not {expected} ms"
        );
    };
    // Burst and Skip keep to the schedule: offsets from the first tick.
    for (missed, expected) in [
        (MissedTicks::Burst, [350, 350, 350, 400]),
        (MissedTicks::Skip, [350, 400, 500, 600]),
    ] {
        let actual = schedule_after_a_slow_tick(missed).await;
        for (actual, expected) in actual.iter().zip(expected) {
            within_slack(*actual, expected, &format!("{missed:?}"));
        }
    }
    // Delay counts each interval from the tick before: gaps.
    let delayed = schedule_after_a_slow_tick(MissedTicks::Delay).await;
    within_slack(delayed[0], 350, "Delay, first");
    for pair in delayed.windows(2) {
        within_slack(pair[1] - pair[0], 100, "Delay, gap");
    }
}

#[actix_rt::test]
async fn a_stop_during_a_long_tick_waits_for_it_and_starts_no_other() {
    tokio::time::pause();
    let (spec, mut starts) = scripted(Periodic::every(ms(100)), |_| Step::Take(ms(1000)));
    let ticker = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();

    let (_, began) = starts.next().await;
    let report = within(ticker.stop()).await;
    assert_eq!(report.outcome, StopOutcome::Drained);
    assert_about(Instant::now() - began, ms(1000));
    assert_eq!(starts.drain(), [], "no tick started after the stop");
}

#[actix_rt::test]
async fn a_stop_with_a_grace_shorter_than_the_tick_times_out() {
    tokio::time::pause();
    let (spec, mut starts) = scripted(Periodic::every(ms(100)), |_| Step::Take(ms(1000)));
    let spec = spec.grace(Grace::Duration(ms(200)));
    let ticker = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();

    starts.next().await;
    let report = within(ticker.stop()).await;
    assert_eq!(report.outcome, StopOutcome::TimedOut);
    assert_about(report.duration, ms(200));
}

#[actix_rt::test]
async fn a_panicking_tick_is_contained_and_the_child_restarted() {
    tokio::time::pause();
    let (spec, mut starts) = scripted(Periodic::every(ms(100)), |n| {
        if n == 1 {
            Step::Panic
        } else {
            Step::Succeed
        }
    });
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    while starts.next().await.0 < 3 {}
    let ticker = node(&app, "/app/ticker").await;
    assert_eq!((ticker.state, ticker.incarnation), (NodeState::Running, 2));
    assert_eq!(ticker.last_failure.unwrap().message, "tick 1 panicked");
}

#[test]
fn a_bad_schedule_is_refused_when_the_tree_is_built() {
    for (schedule, field) in [
        (Periodic::every(Duration::ZERO), "periodic.interval"),
        (
            Periodic::every(ms(1)).tick_timeout(Duration::ZERO),
            "periodic.tick_timeout",
        ),
        (
            Periodic::every(ms(1)).failure_limit(0),
            "periodic.failure_limit",
        ),
    ] {
        let (spec, _) = scripted(schedule, |_| Step::Succeed);
        let err = SupervisorActor::builder("app")
            .child(spec)
            .start()
            .unwrap_err();
        assert!(
            matches!(&err, BuildError::InvalidField { path, field: f, .. }
                if path.as_str() == "/app/ticker" && *f == field),
            "{err:?}"
        );
    }
}

/// Visits ten partitions of 100 ms each, stopping early when asked.
struct Partitioned {
    visited: Recorder<u32>,
}

impl Tick for Partitioned {
    type Error = String;

    async fn tick(&mut self, cx: &TickContext) -> Result<(), String> {
        for partition in 0..10 {
            if cx.is_stop_requested() {
                break;
            }
            tokio::time::sleep(ms(100)).await;
            self.visited.record(partition);
        }
        Ok(())
    }
}

#[actix_rt::test]
async fn a_partitioned_tick_notices_a_stop_between_partitions() {
    tokio::time::pause();
    let (visited, mut partitions) = recorder();
    let spec = ChildSpec::periodic("scanner", Periodic::every(ms(5000)), move |_| Partitioned {
        visited: visited.clone(),
    });
    let scanner = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();

    assert_eq!(partitions.next().await, 0);
    assert_eq!(partitions.next().await, 1);
    let began = Instant::now();
    let report = within(scanner.stop()).await;
    assert_eq!(report.outcome, StopOutcome::Drained);
    // The partition under way finished; none after it started.
    assert_eq!(partitions.drain(), [2]);
    assert_about(Instant::now() - began, ms(100));
}

#[actix_rt::test]
async fn tick_now_runs_a_tick_out_of_schedule() {
    tokio::time::pause();
    let (spec, mut starts) = scripted(Periodic::every(Duration::from_secs(3600)), |_| {
        Step::Succeed
    });
    let ticker = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    let (_, first) = starts.next().await;

    within(ticker.send(actix_supervisor::periodic::TickNow))
        .await
        .unwrap();
    let (n, second) = starts.next().await;
    assert_eq!(n, 2);
    assert!(
        second - first < Duration::from_secs(1),
        "not the hourly schedule"
    );
}

// Attack (passes): a periodic child stopped while it waits out an hour of backoff
// (its first tick panicked): the stop answers at once, drained, and starts
// no tick (a stop takes no new work, and nothing waits to be drained).
#[actix_rt::test]
async fn a_stop_during_a_periodic_child_s_backoff_answers_at_once_and_starts_no_tick() {
    tokio::time::pause();
    let (spec, mut starts) = scripted(Periodic::every(ms(100)), |n| {
        if n == 1 {
            Step::Panic
        } else {
            Step::Succeed
        }
    });
    let spec = spec.backoff(actix_supervisor::Backoff::new(
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    ));
    let ticker = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(starts.next().await.0, 1);
    actix_supervisor::testkit::wait_for_node(&app, "/app/ticker", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    })
    .timeout(Duration::from_secs(60))
    .describe("the ticker waits out its backoff")
    .await;

    let report = tokio::time::timeout(Duration::from_secs(1), ticker.stop())
        .await
        .expect("the stop waited out the backoff");
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(
        starts.drain(),
        [],
        "a tick started during the stop: {report}"
    );
    assert_eq!(node(&app, "/app/ticker").await.state, NodeState::Stopped);
}

// Attack (passes): a periodic child stopped mid-tick, the tick then failing (an
// error, not a panic): the stop waits for the tick, answers, and the child
// is not restarted.
#[actix_rt::test]
async fn a_tick_failing_after_a_stop_began_ends_the_child_for_good() {
    tokio::time::pause();
    let (spec, mut starts) = scripted(Periodic::every(ms(100)).failure_limit(1), |n| {
        if n == 1 {
            Step::Take(ms(1000))
        } else {
            Step::Fail("later tick")
        }
    });
    let spec = spec.restart(actix_supervisor::RestartPolicy::Always);
    let ticker = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    starts.next().await;
    let report = tokio::time::timeout(Duration::from_secs(600), ticker.stop())
        .await
        .expect("the stop never answered");
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(starts.drain(), [], "no tick started after the stop");
    let child = node(&app, "/app/ticker").await;
    assert_eq!((child.state, child.incarnation), (NodeState::Stopped, 1));
}
