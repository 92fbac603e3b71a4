//! Promise 8: each child has a shutdown grace; past it the child is
//! terminated and reported `TimedOut` with how much work was left undone,
//! while its siblings still drain fully. A supervisor's grace bounds its
//! whole subtree.

use crate::common;

use std::time::Duration;

use actix_supervisor::{snapshot::NodeState, Grace, SendError, Stop, StopOutcome, SupervisorActor};
use common::*;
use tokio::time::Instant;

#[actix_rt::test]
async fn a_child_that_never_finishes_draining_is_terminated_at_its_grace() {
    tokio::time::pause();
    let (log, mut events) = recorder();
    let stuck_spec =
        tally_spec("stuck", log.clone()).grace(Grace::Duration(Duration::from_secs(2)));
    let stuck = stuck_spec.handle();
    let sibling_spec = tally_spec("sibling", log);
    let sibling = sibling_spec.handle();
    let app = SupervisorActor::builder("app")
        .child(stuck_spec)
        .child(sibling_spec)
        .start()
        .unwrap();

    let never = Gate::new();
    within(stuck.send(Hold(1, never.clone()))).await.unwrap();
    let waiting_reply = stuck.send(Bump);
    for _ in 0..4 {
        stuck.do_send(Bump).unwrap();
    }
    let sibling_gate = Gate::new();
    within(sibling.send(Hold(2, sibling_gate.clone())))
        .await
        .unwrap();
    for _ in 0..10 {
        sibling.do_send(Bump).unwrap();
    }

    let began = Instant::now();
    let stopping = app.send(Stop);
    within(app.send(actix_supervisor::Inspect)).await.unwrap();
    sibling_gate.open();
    let report = within(stopping).await.unwrap();

    let stuck_report = report.find("/app/stuck").unwrap();
    assert_eq!(stuck_report.outcome, StopOutcome::TimedOut);
    assert_eq!(
        stuck_report.undelivered, 5,
        "the five bumps behind the held message"
    );
    assert_about(stuck_report.duration, Duration::from_secs(2));
    assert_about(began.elapsed(), Duration::from_secs(2));
    let sibling_report = report.find("/app/sibling").unwrap();
    assert_eq!(
        (sibling_report.outcome.clone(), sibling_report.drained),
        (StopOutcome::Drained, 10)
    );
    // The supervisor's own grace held: the child's outcome is its own.
    assert_eq!(report.outcome, StopOutcome::Drained);
    assert_eq!(report.summary().nodes_timed_out, 1, "{report}");
    assert!(!report.is_drained());

    // The terminated child ran no hook; the sibling's `stopped` saw all ten.
    assert_eq!(
        events.drain(),
        [TallyEvent::Released(2), TallyEvent::Stopped(10)]
    );
    // The caller of an undelivered message gets an error, not a hang.
    assert!(matches!(
        within(waiting_reply).await,
        Err(SendError::NoReply { .. })
    ));
    assert_eq!(node(&app, "/app/stuck").await.state, NodeState::Stopped);
}

#[actix_rt::test]
async fn a_stuck_child_stopped_through_its_handle_times_out_at_its_grace() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec = tally_spec("stuck", log).grace(Grace::Duration(Duration::from_millis(300)));
    let stuck = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(stuck.send(Hold(1, Gate::new()))).await.unwrap();

    let began = Instant::now();
    let report = within(stuck.stop()).await;
    assert_eq!(report.outcome, StopOutcome::TimedOut);
    assert_about(began.elapsed(), Duration::from_millis(300));
}

#[actix_rt::test]
async fn a_supervisor_grace_bounds_its_whole_subtree() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let specs: Vec<_> = (0..3)
        .map(|i| tally_spec(&format!("stuck-{i}"), log.clone()).grace(Grace::Infinity))
        .collect();
    let handles: Vec<_> = specs.iter().map(|s| s.handle()).collect();
    let mut builder =
        SupervisorActor::builder("app").grace(Grace::Duration(Duration::from_secs(5)));
    for spec in specs {
        builder = builder.child(spec);
    }
    let app = builder.start().unwrap();
    for handle in &handles {
        within(handle.send(Hold(1, Gate::new()))).await.unwrap();
    }

    let began = Instant::now();
    let report = within(app.send(Stop)).await.unwrap();
    assert_about(began.elapsed(), Duration::from_secs(5));
    assert_eq!(report.outcome, StopOutcome::TimedOut);
    // All three drained in parallel, held, until the supervisor's grace.
    assert_eq!(report.children.len(), 3);
    assert!(report
        .children
        .iter()
        .all(|r| r.outcome == StopOutcome::TimedOut));
}
