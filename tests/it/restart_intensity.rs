//! Promise 3 (within one supervisor): a supervisor allows at most N restarts
//! within a period T across its children; past it, it stops its remaining
//! children in shutdown order and fails. A root that gives up reports it
//! (event and snapshot) instead of looping.

use crate::common;

use std::time::Duration;

use actix_supervisor::testkit;
use actix_supervisor::{
    events::EventKind, snapshot::NodeState, Inspect, RestartIntensity, Stop, StopOutcome,
    SupervisorActor,
};
use common::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[actix_rt::test]
async fn the_restart_past_the_intensity_stops_the_children_and_fails_the_supervisor() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let crashy = probe_spec("crashy", log);
    let crashy_handle = crashy.handle();
    let (tally_log, mut tally_events) = recorder();
    let steady = tally_spec("steady", tally_log);
    let steady_handle = steady.handle();
    let app = SupervisorActor::builder("app")
        .intensity(RestartIntensity::new(3, Duration::from_secs(1)))
        .child(steady)
        .child(crashy)
        .start()
        .unwrap();
    let lifecycle = testkit::EventRecorder::start(&app).await.unwrap();
    for _ in 0..10 {
        steady_handle.do_send(Bump).unwrap();
    }

    for expected_incarnation in 2..=4 {
        assert!(within(crashy_handle.send(Panic("crash"))).await.is_err());
        assert_eq!(
            within(crashy_handle.send(Get)).await.unwrap().0,
            expected_incarnation
        );
    }
    assert!(within(crashy_handle.send(Panic("one too many")))
        .await
        .is_err());

    // The supervisor gives up: every child stops, the steady one gracefully.
    let report = within(app.send(Stop)).await.unwrap();
    match &report.outcome {
        StopOutcome::Failed(failure) => assert_eq!(failure.message, "one too many"),
        other => panic!("expected a failed supervisor, got {other:?}"),
    }
    let steady_report = report.find("/app/steady").unwrap();
    assert_eq!(steady_report.outcome, StopOutcome::Drained);
    assert_eq!(tally_events.drain(), [TallyEvent::Stopped(10)]);

    let tree = within(app.send(Inspect)).await.unwrap();
    assert_eq!(tree.root.state, NodeState::Failed, "{tree}");
    assert_eq!(
        tree.root.last_failure.as_ref().unwrap().message,
        "one too many"
    );
    let crashy_node = tree.find("/app/crashy").unwrap();
    assert_eq!(
        (crashy_node.state, crashy_node.incarnation),
        (NodeState::Failed, 4)
    );
    assert_eq!(tree.find("/app/steady").unwrap().state, NodeState::Stopped);

    let gave_up = lifecycle
        .wait_for(|e| matches!(e.kind, EventKind::GaveUp { .. }))
        .await;
    let EventKind::GaveUp { failure } = gave_up.kind else {
        unreachable!("waited for a give-up")
    };
    assert_eq!(
        (gave_up.path.as_str(), failure.message.as_str()),
        ("/app", "one too many")
    );
}

#[actix_rt::test]
async fn restarts_spread_beyond_the_period_never_trip_the_intensity() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log);
    let probe = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(RestartIntensity::new(2, Duration::from_secs(1)))
        .child(spec)
        .start()
        .unwrap();

    for _ in 0..10 {
        assert!(within(probe.send(Panic("now and then"))).await.is_err());
        tokio::time::advance(ms(500)).await;
    }
    assert_eq!(within(probe.send(Get)).await.unwrap().0, 11);
    assert_eq!(node(&app, "/app").await.state, NodeState::Running);
}

#[actix_rt::test]
async fn an_intensity_of_zero_gives_up_at_the_first_failure() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log);
    let probe = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(RestartIntensity::new(0, Duration::from_secs(1)))
        .child(spec)
        .start()
        .unwrap();

    assert!(within(probe.send(Panic("first"))).await.is_err());
    let report = within(app.send(Stop)).await.unwrap();
    assert!(matches!(report.outcome, StopOutcome::Failed(_)), "{report}");
    assert_eq!(node(&app, "/app/probe").await.incarnation, 1);
}
