//! Promise 12, stop and start again: a child that ended (stopped with
//! `StopChild` or its handle, ended normally, or failed for good) starts
//! again from its kept spec with `RestartChild`, as its next incarnation,
//! reachable through the same `ChildHandle`. Stops asked of the start that
//! ended still answer its report; a raw `Addr` taken before the end fails
//! at once while the child is stopped, and stays closed after (the handle
//! gives the new one).

use crate::common;

use actix::prelude::*;

use actix_supervisor::testkit::EventRecorder;
use actix_supervisor::{
    events::EventKind, snapshot::NodeState, ControlError, Inspect, RestartChild, RestartPolicy,
    SendError, Stop, StopChild, StopOutcome, SupervisorActor,
};
use common::*;

async fn restart(app: &Addr<SupervisorActor>, name: &str) -> Result<(), ControlError> {
    within(app.send(RestartChild::new(name))).await.unwrap()
}

#[actix_rt::test]
async fn a_child_stopped_with_stop_child_starts_again_as_its_next_incarnation() {
    let (log, mut logged) = recorder();
    let spec = probe_spec("job", log);
    let job = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(within(job.send(Inc)).await.unwrap(), 1);

    let report = within(app.send(StopChild::new("job")))
        .await
        .unwrap()
        .unwrap();
    assert!(report.is_drained());
    let stopped = node(&app, "/app/job").await;
    assert_eq!(
        (stopped.state, stopped.incarnation),
        (NodeState::Stopped, 1)
    );
    assert!(matches!(job.do_send(Inc), Err(SendError::Gone { .. })));

    restart(&app, "job").await.unwrap();
    within(job.started()).await.unwrap();
    // Fresh state from the factory, through the same handle.
    assert_eq!(within(job.send(Inc)).await.unwrap(), 1);
    let again = node(&app, "/app/job").await;
    assert_eq!((again.state, again.incarnation), (NodeState::Running, 2));
    assert_eq!(again.restart_count, 1);

    let mut hooks = Vec::new();
    for _ in 0..4 {
        hooks.push(logged.next().await);
    }
    assert_eq!(
        hooks,
        [
            Event::Started(1),
            Event::Stopping(1),
            Event::Stopped(1),
            Event::Started(2)
        ]
    );
}

#[actix_rt::test]
async fn a_raw_addr_fails_while_stopped_and_stays_closed_after_the_start_again() {
    let (log, _logged) = recorder();
    let spec = probe_spec("job", log);
    let job = spec.handle();
    let raw = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(within(raw.send(Inc)).await.unwrap(), 1);

    within(job.stop()).await;
    assert_eq!(within(raw.send(Inc)).await, Err(MailboxError::Closed));

    restart(&app, "job").await.unwrap();
    within(job.started()).await.unwrap();
    assert_eq!(within(raw.send(Inc)).await, Err(MailboxError::Closed));
    // The handle's address is the new one.
    let fresh = job.address().clone();
    assert_eq!(within(fresh.send(Inc)).await.unwrap(), 1);
    assert_eq!(
        within(job.started())
            .await
            .unwrap()
            .send(Inc)
            .await
            .unwrap(),
        2
    );
}

#[actix_rt::test]
async fn stops_asked_before_the_start_again_answer_the_report_of_the_start_they_stopped() {
    let (log, _logged) = recorder();
    let spec = probe_spec("job", log);
    let job = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    for _ in 0..3 {
        job.do_send(Inc).unwrap();
    }
    let early = job.stop();
    let first = within(app.send(StopChild::new("job")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.drained, 3);

    restart(&app, "job").await.unwrap();
    within(job.started()).await.unwrap();
    // Polled only now, the early stop answers the first start's report and
    // does not stop the new one.
    assert_eq!(within(early).await, first);
    assert!(job.is_accepting());
    job.do_send(Inc).unwrap();

    let second = within(job.stop()).await;
    assert!(second.is_drained());
    assert_eq!(second.drained, 1);
    assert_ne!(second, first);
}

#[actix_rt::test]
async fn a_failed_child_starts_again_on_request() {
    let (log, _logged) = recorder();
    let spec = probe_spec("job", log).restart(RestartPolicy::Never);
    let job = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    let events = EventRecorder::start(&app).await.unwrap();
    job.do_send(FailWith("disk full".into())).unwrap();
    let report = within(job.stop()).await;
    assert!(matches!(report.outcome, StopOutcome::Failed(_)), "{report}");
    assert_eq!(node(&app, "/app/job").await.state, NodeState::Failed);

    restart(&app, "job").await.unwrap();
    within(job.started()).await.unwrap();
    assert_eq!(within(job.send(Inc)).await.unwrap(), 1);
    let again = node(&app, "/app/job").await;
    assert_eq!((again.state, again.incarnation), (NodeState::Running, 2));
    assert_eq!(
        again.last_failure.map(|f| f.message),
        Some("disk full".to_string()),
        "the last failure stays until a new one"
    );
    let started = events
        .wait_for(|e| {
            e.path.as_str() == "/app/job"
                && matches!(e.kind, EventKind::Started)
                && e.incarnation == 2
        })
        .await;
    assert_eq!(started.incarnation, 2);
}

#[actix_rt::test]
async fn a_child_that_stopped_itself_starts_again_and_its_policy_restarts_it_after() {
    let (log, _logged) = recorder();
    let spec = probe_spec("job", log);
    let job = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(job.send(StopNormally)).await.unwrap();
    within(job.stop()).await;
    assert_eq!(node(&app, "/app/job").await.state, NodeState::Stopped);

    restart(&app, "job").await.unwrap();
    within(job.started()).await.unwrap();
    // OnFailure still applies to the new start: a panic restarts it.
    assert!(within(job.send(Panic("boom"))).await.is_err());
    assert_eq!(within(job.send(Inc)).await.unwrap(), 1);
    let node = node(&app, "/app/job").await;
    assert_eq!((node.state, node.incarnation), (NodeState::Running, 3));
}

#[actix_rt::test]
async fn a_child_started_again_is_stopped_with_its_supervisor() {
    let (log, _logged) = recorder();
    let spec = probe_spec("job", log);
    let job = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(job.stop()).await;
    restart(&app, "job").await.unwrap();
    for _ in 0..5 {
        job.do_send(Inc).unwrap();
    }
    let report = within(app.send(Stop)).await.unwrap();
    assert!(report.is_drained(), "{report}");
    // The report is the new start's, as its handle answers it.
    assert_eq!(report.children, [within(job.stop()).await]);
    // After its supervisor stopped, nothing starts again.
    assert!(matches!(
        restart(&app, "job").await,
        Err(ControlError::SupervisorStopping { .. })
    ));
}

#[actix_rt::test]
async fn a_temporary_child_cannot_be_started_again() {
    let (log, _logged) = recorder();
    let spec = probe_spec("job", log).remove_on_exit();
    let job = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(job.stop()).await;
    assert!(matches!(
        restart(&app, "job").await,
        Err(ControlError::UnknownChild { .. })
    ));
    let tree = within(app.send(Inspect)).await.unwrap();
    assert!(tree.find("/app/job").is_none());
}

#[actix_rt::test]
async fn a_nested_supervisor_that_ended_is_not_started_again() {
    let app = SupervisorActor::builder("app")
        .child(SupervisorActor::builder("sub"))
        .start()
        .unwrap();
    let report = within(app.send(StopChild::new("sub")))
        .await
        .unwrap()
        .unwrap();
    assert!(report.is_drained(), "{report}");
    assert!(matches!(
        restart(&app, "sub").await,
        Err(ControlError::ChildEnded { .. })
    ));
}

#[actix_rt::test]
async fn a_stopped_supervisor_lets_go_of_the_factories_it_kept_to_start_children_again() {
    let before = actix_supervisor::testkit::live_actors();
    let (log, _logged) = recorder();
    // The factory holds the supervisor's own address, as a child that
    // reports to its parent would.
    let parent: std::sync::Arc<std::sync::Mutex<Option<Addr<SupervisorActor>>>> =
        Default::default();
    let held = parent.clone();
    let made = std::sync::atomic::AtomicU64::new(0);
    let spec = actix_supervisor::ChildSpec::new("job", move || {
        let _parent = held.lock().unwrap().clone();
        Probe {
            incarnation: made.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
            count: 0,
            log: log.clone(),
        }
    });
    let job = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    *parent.lock().unwrap() = Some(app.clone());
    within(job.stop()).await;

    within(app.send(Stop)).await.unwrap();
    // Only the kept factory still holds the supervisor's address now.
    drop((app, parent));
    within(actix_supervisor::testkit::settle_live_actors(before))
        .await
        .unwrap();
}
