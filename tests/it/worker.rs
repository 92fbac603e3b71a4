//! Promise 14 (worker): a long-running loop in a plain struct runs under
//! supervision with a token that a stop cancels; the stop's ack follows the
//! loop's return, within the grace; `Ok` is a normal exit, `Err` and panics
//! are failures, each handled by the restart policy.

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_supervisor::{
    snapshot::{NodeKind, NodeState},
    worker::{Work, WorkContext, WorkerActor},
    ChildSpec, Grace, RestartPolicy, Stop, StopOutcome, SupervisorActor,
};
use common::*;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How a loop behaves.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Works until cancelled, then cleans up for 100 ms and returns.
    Cooperative,
    /// Never looks at its token.
    Stubborn,
    /// Returns at once with this result.
    Exit(Result<(), &'static str>),
    /// Panics at once.
    Panic,
}

struct Looper {
    behaviour: Behaviour,
    log: Recorder<String>,
}

impl Work for Looper {
    type Error = String;

    async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
        self.log.record(format!("run #{}", cx.incarnation()));
        match self.behaviour {
            Behaviour::Cooperative => {
                cx.token().cancelled().await;
                self.log.record("cancelled".into());
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.log.record("returned".into());
                Ok(())
            }
            Behaviour::Stubborn => {
                std::future::pending::<()>().await;
                Ok(())
            }
            Behaviour::Exit(result) => result.map_err(str::to_string),
            Behaviour::Panic => panic!("the loop panicked"),
        }
    }
}

/// A worker whose first incarnation behaves as given, later ones
/// cooperatively.
fn looper(first: Behaviour) -> (ChildSpec<WorkerActor<Looper>>, Records<String>) {
    let (log, records) = recorder();
    let made = Arc::new(AtomicU64::new(0));
    let spec = ChildSpec::worker("looper", move |_| Looper {
        behaviour: if made.fetch_add(1, Ordering::SeqCst) == 0 {
            first
        } else {
            Behaviour::Cooperative
        },
        log: log.clone(),
    });
    (spec, records)
}

#[test]
fn a_work_is_a_plain_struct_that_a_unit_test_runs_directly() {
    let (log, mut records) = recorder();
    let mut work = Looper {
        behaviour: Behaviour::Cooperative,
        log,
    };
    let token = CancellationToken::new();
    token.cancel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    assert_eq!(
        runtime.block_on(work.run(WorkContext::with_token(token))),
        Ok(())
    );
    assert_eq!(records.drain(), ["run #1", "cancelled", "returned"]);
}

#[actix_rt::test]
async fn a_cooperative_loop_sees_the_cancellation_and_the_ack_follows_its_return() {
    tokio::time::pause();
    let (spec, mut log) = looper(Behaviour::Cooperative);
    let worker = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(log.next().await, "run #1");
    assert_eq!(node(&app, "/app/looper").await.kind, NodeKind::Worker);

    let began = Instant::now();
    let report = within(worker.stop()).await;
    assert_eq!(report.outcome, StopOutcome::Drained);
    assert_eq!(
        log.drain(),
        ["cancelled", "returned"],
        "the loop returned before the ack"
    );
    assert_about(began.elapsed(), Duration::from_millis(100));
}

#[actix_rt::test]
async fn a_loop_ignoring_its_token_is_terminated_at_its_grace() {
    tokio::time::pause();
    let (spec, mut log) = looper(Behaviour::Stubborn);
    let spec = spec.grace(Grace::Duration(Duration::from_secs(2)));
    let worker = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(log.next().await, "run #1");

    let report = within(worker.stop()).await;
    assert_eq!(report.outcome, StopOutcome::TimedOut);
    assert_about(report.duration, Duration::from_secs(2));
}

#[actix_rt::test]
async fn returning_ok_is_a_normal_exit_not_restarted_under_on_failure() {
    let (spec, mut log) = looper(Behaviour::Exit(Ok(())));
    let spec = spec.restart(RestartPolicy::OnFailure);
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(log.next().await, "run #1");

    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(
        report.find("/app/looper").unwrap().outcome,
        StopOutcome::Drained
    );
    let looper = node(&app, "/app/looper").await;
    assert_eq!((looper.state, looper.incarnation), (NodeState::Stopped, 1));
    assert_eq!(looper.task.unwrap().runs, 1);
}

#[actix_rt::test]
async fn returning_an_error_is_a_failure_and_the_loop_is_restarted() {
    let (spec, mut log) = looper(Behaviour::Exit(Err("stream closed by the server")));
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    assert_eq!(log.next().await, "run #1");
    assert_eq!(log.next().await, "run #2");
    let looper = node(&app, "/app/looper").await;
    assert_eq!(
        looper.last_failure.unwrap().message,
        "stream closed by the server"
    );
    let stats = looper.task.unwrap();
    assert_eq!((stats.runs, stats.failures), (1, 1));
}

#[actix_rt::test]
async fn a_panicking_loop_is_contained_and_restarted() {
    let (spec, mut log) = looper(Behaviour::Panic);
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    assert_eq!(log.next().await, "run #1");
    assert_eq!(log.next().await, "run #2");
    let looper = node(&app, "/app/looper").await;
    assert_eq!(looper.state, NodeState::Running);
    assert_eq!(looper.last_failure.unwrap().message, "the loop panicked");
}

#[actix_rt::test]
async fn stopping_the_supervisor_cancels_the_loop_through_its_token() {
    tokio::time::pause();
    let (spec, mut log) = looper(Behaviour::Cooperative);
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(log.next().await, "run #1");

    let report = within(app.send(Stop)).await.unwrap();
    assert!(report.is_drained(), "{report}");
    assert_eq!(log.drain(), ["cancelled", "returned"]);
}

// Attack (passes): a worker stopped while it waits out an hour of backoff (its loop
// returned an error): the stop answers at once and drained, not after the
// backoff and not at its grace (a loop started for the stop's drain must
// see its token cancelled).
#[actix_rt::test]
async fn a_stop_during_a_worker_s_backoff_answers_at_once() {
    tokio::time::pause();
    let (spec, mut records) = looper(Behaviour::Exit(Err("first run failed")));
    let spec = spec
        .restart(RestartPolicy::OnFailure)
        .backoff(actix_supervisor::Backoff::new(
            Duration::from_secs(3600),
            Duration::from_secs(3600),
        ));
    let worker = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(records.next().await, "run #1");
    actix_supervisor::testkit::wait_for_node(&app, "/app/looper", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    })
    .timeout(Duration::from_secs(60))
    .describe("the worker waits out its backoff")
    .await;
    let began = Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(60), worker.stop())
        .await
        .expect("the stop waited out the backoff");
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "the stop took {:?}: {report}",
        began.elapsed()
    );
    assert_eq!(node(&app, "/app/looper").await.state, NodeState::Stopped);
    let _ = records.drain();
}

// Found by attack: a worker under `Always` whose loop panics when its token
// is cancelled, stopped: each incarnation started to go on with the stop's
// drain panics again at once. The stop must answer by its grace (300 ms)
// at the latest, not drained, and the child stay ended. Real time: the
// restarts keep paused time from moving.
#[actix_rt::test]
async fn a_worker_panicking_on_cancellation_under_always_answers_its_stop_by_its_grace() {
    struct PanicsOnCancel;
    impl Work for PanicsOnCancel {
        type Error = String;
        async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
            cx.token().cancelled().await;
            panic!("the loop panicked on cancellation");
        }
    }
    let spec = ChildSpec::worker("looper", |_| PanicsOnCancel)
        .restart(RestartPolicy::Always)
        .grace(Grace::Duration(Duration::from_millis(300)));
    let worker = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(worker.started()).await.unwrap();
    let report = tokio::time::timeout(Duration::from_secs(10), worker.stop())
        .await
        .expect("the stop never answered: the worker is restarted again and again");
    assert!(!report.is_drained(), "{report}");
    let child = node(&app, "/app/looper").await;
    assert!(child.state.is_terminal(), "{child:?}");
}
