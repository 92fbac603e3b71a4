//! Promise 24: a child marked temporary (`ChildSpec::remove_on_exit`)
//! leaves its supervisor's table when it will not run again, freeing its
//! name; its end is still published (the `Stopped` event with its report,
//! whose outcome holds its last failure), and a supervisor that runs many
//! one-shot jobs keeps only the live ones.

use crate::common;

use actix::prelude::*;

use actix_supervisor::testkit::EventRecorder;
use actix_supervisor::{
    events::EventKind, snapshot::NodeState, ChildSpec, Inspect, RestartPolicy, StartChild,
    StopChild, StopOutcome, SupervisorActor,
};
use common::*;

fn temporary(name: &str, log: Recorder<Event>) -> ChildSpec<Probe> {
    probe_spec(name, log)
        .restart(RestartPolicy::Never)
        .remove_on_exit()
}

async fn children_of(app: &Addr<SupervisorActor>) -> Vec<String> {
    let tree = within(app.send(Inspect)).await.unwrap();
    tree.root.children.iter().map(|c| c.name.clone()).collect()
}

#[actix_rt::test]
async fn a_temporary_child_that_ends_leaves_the_table_and_frees_its_name() {
    let (log, _logged) = recorder();
    let app = SupervisorActor::builder("app").start().unwrap();
    let events = EventRecorder::start(&app).await.unwrap();
    let spec = temporary("job", log.clone());
    let job = spec.handle();
    within(app.send(StartChild::new(spec)))
        .await
        .unwrap()
        .unwrap();
    within(job.started()).await.unwrap();

    within(job.send(StopNormally)).await.unwrap();
    let stopped = events
        .wait_for(|e| e.path.as_str() == "/app/job" && matches!(e.kind, EventKind::Stopped { .. }))
        .await;
    match stopped.kind {
        EventKind::Stopped { report } => assert_eq!(report.outcome, StopOutcome::Drained),
        other => panic!("expected Stopped, got {other:?}"),
    }
    assert_eq!(children_of(&app).await, Vec::<String>::new());

    // The name is free: a new child of the same name starts.
    let again = temporary("job", log);
    let handle = again.handle();
    within(app.send(StartChild::new(again)))
        .await
        .unwrap()
        .unwrap();
    within(handle.started()).await.unwrap();
    assert_eq!(children_of(&app).await, ["job"]);
}

#[actix_rt::test]
async fn a_temporary_childs_last_failure_is_published_in_its_stopped_event() {
    let (log, _logged) = recorder();
    let app = SupervisorActor::builder("app").start().unwrap();
    let events = EventRecorder::start(&app).await.unwrap();
    let spec = temporary("job", log);
    let job = spec.handle();
    within(app.send(StartChild::new(spec)))
        .await
        .unwrap()
        .unwrap();
    job.do_send(FailWith("disk full".into())).unwrap();

    let stopped = events
        .wait_for(|e| e.path.as_str() == "/app/job" && matches!(e.kind, EventKind::Stopped { .. }))
        .await;
    assert_eq!(events.kinds("/app/job"), ["started", "failed", "stopped"]);
    match stopped.kind {
        EventKind::Stopped { report } => match report.outcome {
            StopOutcome::Failed(failure) => assert_eq!(failure.message, "disk full"),
            other => panic!("expected a failed outcome, got {other:?}"),
        },
        other => panic!("expected Stopped, got {other:?}"),
    }
    // Its stop, asked after it ended, answers the same report.
    match within(job.stop()).await.outcome {
        StopOutcome::Failed(failure) => assert_eq!(failure.message, "disk full"),
        other => panic!("expected a failed outcome, got {other:?}"),
    }
    assert_eq!(children_of(&app).await, Vec::<String>::new());
}

#[actix_rt::test]
async fn a_temporary_child_is_gone_by_the_time_its_stop_answers() {
    let (log, _logged) = recorder();
    let app = SupervisorActor::builder("app").start().unwrap();
    let spec = temporary("job", log.clone());
    let job = spec.handle();
    within(app.send(StartChild::new(spec)))
        .await
        .unwrap()
        .unwrap();

    let report = within(job.stop()).await;
    assert!(report.is_drained());
    // Asked right after the report: no window where the name is taken.
    within(app.send(StartChild::new(temporary("job", log))))
        .await
        .unwrap()
        .unwrap();
}

#[actix_rt::test]
async fn a_temporary_always_child_restarts_and_leaves_only_when_stopped() {
    let (log, _logged) = recorder();
    let spec = probe_spec("worker", log)
        .restart(RestartPolicy::Always)
        .remove_on_exit();
    let worker = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    let events = EventRecorder::start(&app).await.unwrap();
    assert!(within(worker.send(Panic("boom"))).await.is_err());
    events
        .wait_for(|e| e.path.as_str() == "/app/worker" && matches!(e.kind, EventKind::Started))
        .await;
    let node = node(&app, "/app/worker").await;
    assert_eq!((node.state, node.incarnation), (NodeState::Running, 2));

    let report = within(app.send(StopChild::new("worker")))
        .await
        .unwrap()
        .unwrap();
    assert!(report.is_drained());
    assert_eq!(children_of(&app).await, Vec::<String>::new());
}

#[actix_rt::test]
async fn a_sibling_that_depends_on_a_temporary_child_outlives_it() {
    let (log, _logged) = recorder();
    let db = temporary("db", log.clone());
    let db_handle = db.handle();
    let api = probe_spec("api", log).depends_on("db");
    let api_handle = api.handle();
    let app = SupervisorActor::builder("app")
        .child(db)
        .child(api)
        .start()
        .unwrap();
    // api starts once db finished its start; then db leaves.
    within(api_handle.started()).await.unwrap();
    within(db_handle.stop()).await;
    assert_eq!(children_of(&app).await, ["api"]);
    let report = within(app.send(actix_supervisor::Stop)).await.unwrap();
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.children.len(), 1);
}

#[actix_rt::test]
async fn a_thousand_one_shot_jobs_leave_only_the_live_ones_in_the_tree() {
    let (log, _logged) = recorder();
    let app = SupervisorActor::builder("app")
        .child(probe_spec("keeper", log.clone()))
        .start()
        .unwrap();
    let mut running = Vec::new();
    for job in 0..1000 {
        let spec = temporary(&format!("job-{job}"), log.clone());
        running.push(spec.handle());
        within(app.send(StartChild::new(spec)))
            .await
            .unwrap()
            .unwrap();
        if running.len() == 10 {
            for handle in running.drain(..) {
                within(handle.send(StopNormally)).await.unwrap();
                within(handle.stop()).await;
            }
        }
    }
    assert_eq!(children_of(&app).await, ["keeper"]);
}

fn temporary_batch(name: &str, log: Recorder<Event>) -> actix_supervisor::SupervisorBuilder {
    SupervisorActor::builder(name)
        .child(probe_spec("worker", log))
        .remove_on_exit()
}

#[actix_rt::test]
async fn a_temporary_nested_supervisor_is_gone_by_the_time_its_stop_answers() {
    let (log, mut logged) = recorder();
    let app = SupervisorActor::builder("app").start().unwrap();
    let batch = temporary_batch("batch", log.clone());
    within(app.send(StartChild::new(batch)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(children_of(&app).await, ["batch"]);

    let report = within(app.send(StopChild::new("batch")))
        .await
        .unwrap()
        .unwrap();
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.children.len(), 1, "{report}");
    assert!(logged.drain().contains(&Event::Stopped(1)));
    // Asked right after the report: gone, and its name is free at once.
    assert_eq!(children_of(&app).await, Vec::<String>::new());
    within(app.send(StartChild::new(temporary_batch("batch", log))))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(children_of(&app).await, ["batch"]);
}

#[actix_rt::test]
async fn a_temporary_nested_supervisor_that_gives_up_leaves_with_its_failure_published() {
    let (log, _logged) = recorder();
    let worker = probe_spec("worker", log.clone());
    let worker_handle = worker.handle();
    let batch = SupervisorActor::builder("batch")
        .child(worker)
        .restart(RestartPolicy::Never)
        .intensity(actix_supervisor::RestartIntensity::new(
            0,
            std::time::Duration::from_secs(1),
        ))
        .remove_on_exit();
    let app = SupervisorActor::builder("app")
        .child(probe_spec("keeper", log))
        .child(batch)
        .start()
        .unwrap();
    let events = EventRecorder::start(&app).await.unwrap();
    within(worker_handle.started()).await.unwrap();

    // No restart allowed: the batch gives up at its worker's first failure,
    // and its policy does not restart it.
    worker_handle.do_send(FailWith("disk full".into())).unwrap();
    let stopped = events
        .wait_for(|e| {
            e.path.as_str() == "/app/batch" && matches!(e.kind, EventKind::Stopped { .. })
        })
        .await;
    match stopped.kind {
        EventKind::Stopped { report } => match report.outcome {
            StopOutcome::Failed(failure) => {
                assert!(failure.message.contains("disk full"), "{failure:?}")
            }
            other => panic!("expected a failed outcome, got {other:?}"),
        },
        other => panic!("expected Stopped, got {other:?}"),
    }
    assert_eq!(children_of(&app).await, ["keeper"]);
    let report = within(app.send(actix_supervisor::Stop)).await.unwrap();
    assert!(report.is_drained(), "{report}");
}

#[actix_rt::test]
async fn a_temporary_nested_supervisor_on_another_arbiter_leaves_when_stopped() {
    let (log, _logged) = recorder();
    let arbiter = actix::Arbiter::new();
    let app = SupervisorActor::builder("app").start().unwrap();
    let batch = temporary_batch("batch", log).on_arbiter(arbiter.handle());
    within(app.send(StartChild::new(batch)))
        .await
        .unwrap()
        .unwrap();
    let report = within(app.send(StopChild::new("batch")))
        .await
        .unwrap()
        .unwrap();
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.children.len(), 1, "{report}");
    assert_eq!(children_of(&app).await, Vec::<String>::new());
    within(app.send(actix_supervisor::Stop)).await.unwrap();
    arbiter.stop();
}

#[actix_rt::test]
async fn a_nested_supervisor_that_is_not_temporary_stays_after_its_stop() {
    let (log, _logged) = recorder();
    let app = SupervisorActor::builder("app")
        .child(SupervisorActor::builder("batch").child(probe_spec("worker", log)))
        .start()
        .unwrap();
    within(app.send(StopChild::new("batch")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(children_of(&app).await, ["batch"]);
    assert_eq!(node(&app, "/app/batch").await.state, NodeState::Stopped);
}

#[actix_rt::test]
async fn a_temporary_never_subtree_ended_by_its_parents_strategy_leaves_and_the_rest_restarts() {
    let (log, _logged) = recorder();
    let worker = probe_spec("worker", log.clone());
    let worker_handle = worker.handle();
    let app = SupervisorActor::builder("app")
        .strategy(actix_supervisor::Strategy::OneForAll)
        .intensity(unlimited())
        .child(worker)
        .child(temporary_batch("batch", log).restart(RestartPolicy::Never))
        .start()
        .unwrap();
    let events = EventRecorder::start(&app).await.unwrap();
    within(worker_handle.started()).await.unwrap();
    assert_eq!(children_of(&app).await, ["worker", "batch"]);

    // The worker fails: one-for-all takes the batch along, which runs once.
    assert!(within(worker_handle.send(Panic("boom"))).await.is_err());
    events
        .wait_for(|e| {
            e.path.as_str() == "/app/batch" && matches!(e.kind, EventKind::Stopped { .. })
        })
        .await;
    events
        .wait_for(|e| {
            e.path.as_str() == "/app/worker"
                && e.incarnation == 2
                && matches!(e.kind, EventKind::Started)
        })
        .await;
    assert_eq!(children_of(&app).await, ["worker"]);
    let report = within(app.send(actix_supervisor::Stop)).await.unwrap();
    assert!(report.is_drained(), "{report}");
}
