//! Promise 12: `StartChild`, `StopChild`, `RestartChild` and `RemoveChild`
//! change a running supervisor's children; stopping one child waits for that
//! child only while the rest keeps running; duplicate and unknown names are
//! refused with clear errors.

use crate::common;

use actix_supervisor::{
    snapshot::NodeState, BuildError, ControlError, Inspect, RemoveChild, RestartChild, StartChild,
    Stop, StopChild, StopOutcome, SupervisorActor,
};
use common::*;

#[actix_rt::test]
async fn a_child_started_at_runtime_reports_its_start_and_joins_the_tree() {
    let app = SupervisorActor::builder("app").start().unwrap();
    let (log, _events) = recorder();
    let spec = probe_spec("late", log);
    let late = spec.handle();

    within(app.send(StartChild::new(spec)))
        .await
        .unwrap()
        .unwrap();
    let addr = within(late.started()).await.unwrap();
    assert_eq!(within(addr.send(Get)).await.unwrap(), (1, 0));
    assert_eq!(node(&app, "/app/late").await.state, NodeState::Running);
}

#[actix_rt::test]
async fn a_duplicate_name_is_refused() {
    let (log, _events) = recorder();
    let app = SupervisorActor::builder("app")
        .child(probe_spec("worker", log.clone()))
        .start()
        .unwrap();
    let err = within(app.send(StartChild::new(probe_spec("worker", log))))
        .await
        .unwrap();
    assert_eq!(
        err,
        Err(ControlError::InvalidSpec(BuildError::DuplicateName {
            parent: actix_supervisor::path::NodePath::root("app"),
            name: "worker".into(),
        }))
    );
}

#[actix_rt::test]
async fn stopping_one_child_waits_for_it_alone_while_the_rest_keeps_running() {
    let (log, _events) = recorder();
    let (tally_log, mut tally_events) = recorder();
    let busy = tally_spec("busy", tally_log);
    let busy_handle = busy.handle();
    let other = probe_spec("other", log);
    let other_handle = other.handle();
    let app = SupervisorActor::builder("app")
        .child(busy)
        .child(other)
        .start()
        .unwrap();
    let gate = Gate::new();
    within(busy_handle.send(Hold(1, gate.clone())))
        .await
        .unwrap();
    for _ in 0..100 {
        busy_handle.do_send(Bump).unwrap();
    }

    let stopping = app.send(StopChild::new("busy"));
    // While `busy` drains, its sibling answers.
    assert_eq!(within(other_handle.send(Inc)).await.unwrap(), 1);
    gate.open();
    let report = within(stopping).await.unwrap().unwrap();
    assert_eq!(
        (report.outcome, report.drained),
        (StopOutcome::Drained, 100)
    );
    assert_eq!(
        tally_events.drain(),
        [TallyEvent::Released(1), TallyEvent::Stopped(100)]
    );
    assert_eq!(within(other_handle.send(Inc)).await.unwrap(), 2);
    assert_eq!(node(&app, "/app/busy").await.state, NodeState::Stopped);
}

#[actix_rt::test]
async fn restarting_a_child_gives_a_fresh_incarnation_and_keeps_its_mailbox() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log);
    let probe = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(probe.send(Inc)).await.unwrap();

    let restarted = app.send(RestartChild::new("probe"));
    let queued = probe.send(Get);
    within(restarted).await.unwrap().unwrap();
    // Answered (by whichever incarnation it reached first), not lost.
    within(queued).await.unwrap();
    assert_eq!(within(probe.send(Get)).await.unwrap(), (2, 0));
    assert_eq!(node(&app, "/app/probe").await.restart_count, 1);
}

#[actix_rt::test]
async fn removing_a_child_stops_it_and_frees_its_name() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log.clone());
    let probe = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    let report = within(app.send(RemoveChild::new("probe")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained);
    assert!(probe.send(Get).await.is_err());
    let tree = within(app.send(Inspect)).await.unwrap();
    assert!(tree.find("/app/probe").is_none(), "{tree}");
    within(app.send(StartChild::new(probe_spec("probe", log))))
        .await
        .unwrap()
        .unwrap();
}

#[actix_rt::test]
async fn unknown_names_and_needed_children_are_refused() {
    let (log, _events) = recorder();
    let app = SupervisorActor::builder("app")
        .child(probe_spec("base", log.clone()))
        .child(probe_spec("user", log).depends_on("base"))
        .start()
        .unwrap();
    let parent = actix_supervisor::path::NodePath::root("app");

    let unknown = ControlError::UnknownChild {
        parent: parent.clone(),
        name: "ghost".into(),
    };
    assert_eq!(
        within(app.send(RemoveChild::new("ghost"))).await.unwrap(),
        Err(unknown.clone())
    );
    assert_eq!(
        within(app.send(StopChild::new("ghost"))).await.unwrap(),
        Err(unknown.clone())
    );
    assert_eq!(
        within(app.send(RestartChild::new("ghost"))).await.unwrap(),
        Err(unknown.clone())
    );
    assert_eq!(unknown.to_string(), "/app: no child named \"ghost\"");
    assert_eq!(
        within(app.send(RemoveChild::new("base"))).await.unwrap(),
        Err(ControlError::HasDependents {
            parent,
            name: "base".into(),
            dependents: vec!["user".into()],
        })
    );
}

#[actix_rt::test]
async fn a_stopping_supervisor_refuses_new_children() {
    let app = SupervisorActor::builder("app").start().unwrap();
    within(app.send(Stop)).await.unwrap();
    let (log, _events) = recorder();
    let refused = within(app.send(StartChild::new(probe_spec("late", log))))
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(ControlError::SupervisorStopping { .. })),
        "{refused:?}"
    );
}

// Defect 8 (issue 13): `RestartChild` sent while a stop of that child was
// under way answered `Ok(())`, and nothing restarted.
#[actix_rt::test]
async fn restarting_a_child_whose_stop_is_under_way_answers_an_error() {
    tokio::time::pause();
    let (log, mut events) = recorder();
    let spec = tally_spec("tally", log).grace(actix_supervisor::Grace::Duration(
        std::time::Duration::from_secs(60),
    ));
    let tally = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(tally.send(Bump)).await.unwrap();

    let gate = Gate::new();
    tally.do_send(Hold(1, gate.clone())).unwrap();
    let stopping = tally.stop();
    assert!(!tally.is_accepting());

    // The supervisor takes the restart while the drain waits on the gate;
    // it may answer at once or once the stop is over.
    let restart = app.send(RestartChild::new("tally"));
    tokio::pin!(restart);
    let early = tokio::time::timeout(std::time::Duration::from_secs(1), &mut restart).await;
    gate.open();
    let restart = match early {
        Ok(answer) => answer,
        Err(_) => within(restart).await,
    }
    .unwrap();
    let report = within(stopping).await;
    assert!(
        restart.is_err(),
        "RestartChild answered {restart:?} while the child was stopping; its stop reported {report}"
    );
    assert!(report.is_drained(), "{report}");
    let node = node(&app, "/app/tally").await;
    assert_eq!(node.state, NodeState::Stopped, "{node:?}");
    assert!(events.drain().contains(&TallyEvent::Released(1)));
}

// Attack (passes on the current code; guards the lifecycle rewrite):
// `RemoveChild` sent while the child's own stop drains (blocked on
// a gate), and a `StopChild` beside it: both answer once the child stopped,
// with the same report as its handle's stop.
#[actix_rt::test]
async fn removing_and_stopping_a_child_whose_stop_is_under_way_answer_its_report() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec = tally_spec("tally", log).grace(actix_supervisor::Grace::Duration(
        std::time::Duration::from_secs(60),
    ));
    let tally = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(tally.send(Bump)).await.unwrap();

    let gate = Gate::new();
    tally.do_send(Hold(1, gate.clone())).unwrap();
    for _ in 0..3 {
        tally.do_send(Bump).unwrap();
    }
    let stopping = tally.stop();
    let stop_child = app.send(StopChild::new("tally"));
    let remove = app.send(RemoveChild::new("tally"));
    tokio::pin!(stop_child, remove);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), &mut stop_child).await;
    gate.open();
    let report = within(stopping).await;
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.drained, 4, "{report}");
    let by_stop_child = tokio::time::timeout(std::time::Duration::from_secs(600), stop_child)
        .await
        .expect("StopChild never answered")
        .unwrap()
        .unwrap();
    assert_eq!(by_stop_child, report);
    let removed = tokio::time::timeout(std::time::Duration::from_secs(600), remove)
        .await
        .expect("RemoveChild never answered")
        .unwrap()
        .unwrap();
    assert_eq!(removed, report);
    let tree = within(app.send(Inspect)).await.unwrap();
    assert!(tree.find("/app/tally").is_none(), "{tree}");
}

// Attack (passes on the current code; guards the lifecycle rewrite):
// a `StopChild` in the turn between two incarnations (the crash's
// `NoReply` just came back), sent from a task of the arbiter: the messages
// accepted meanwhile are handled before its report.
#[actix_rt::test]
async fn a_stop_child_between_two_incarnations_drains_what_waits() {
    tokio::time::pause();
    let task = actix_rt::spawn(async {
        let (log, mut events) = recorder();
        let spec = probe_spec("probe", log).restart(actix_supervisor::RestartPolicy::OnFailure);
        let probe = spec.handle();
        let app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(spec)
            .start()
            .unwrap();
        within(probe.send(Inc)).await.unwrap();
        assert!(within(probe.send(Panic("crash"))).await.is_err());
        for n in 1..=5 {
            probe.do_send(Record(n)).unwrap();
        }
        let report = within(app.send(StopChild::new("probe")))
            .await
            .unwrap()
            .unwrap();
        let handled: Vec<u32> = events
            .drain()
            .into_iter()
            .filter_map(|e| match e {
                Event::Handled { n, .. } => Some(n),
                _ => None,
            })
            .collect();
        assert_eq!(handled, [1, 2, 3, 4, 5], "{report}");
        assert!(report.is_drained(), "{report}");
    });
    if let Err(err) = task.await {
        std::panic::resume_unwind(err.into_panic());
    }
}

// Attack (passes on the current code; guards the lifecycle rewrite):
// `RestartChild` for a child waiting out a backoff answers, and a fresh
// incarnation handles what waited, without the rest of the backoff.
#[actix_rt::test]
async fn restarting_a_child_in_its_backoff_answers_and_starts_it() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log)
        .restart(actix_supervisor::RestartPolicy::OnFailure)
        .backoff(actix_supervisor::Backoff::new(
            std::time::Duration::from_secs(3600),
            std::time::Duration::from_secs(3600),
        ));
    let probe = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(probe.send(Inc)).await.unwrap();
    probe.do_send(FailWith("into the backoff".into())).unwrap();
    let waiting = probe.send(Get);
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        app.send(RestartChild::new("probe")),
    )
    .await
    .expect("RestartChild during a backoff never answered")
    .unwrap();
    let (incarnation, count) = tokio::time::timeout(std::time::Duration::from_secs(60), waiting)
        .await
        .expect("the restarted child did not start before the end of its backoff")
        .unwrap();
    assert_eq!(answer, Ok(()));
    assert_eq!(incarnation, 2, "a fresh incarnation");
    assert_eq!(count, 0, "fresh state");
}

// Attack (passes): `RemoveChild` while the child waits out an hour of backoff with
// messages accepted through its handle: the remove answers at once (not
// after the backoff) with the child's report, and the report accounts for
// every waiting message (a stop in any phase drains what waits).
#[actix_rt::test]
async fn removing_a_child_in_its_backoff_drains_what_waits_and_answers() {
    tokio::time::pause();
    let (log, mut events) = recorder();
    let spec = probe_spec("probe", log).backoff(actix_supervisor::Backoff::new(
        std::time::Duration::from_secs(3600),
        std::time::Duration::from_secs(3600),
    ));
    let probe = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(probe.started()).await.unwrap();
    assert!(within(probe.send(Panic("into the backoff"))).await.is_err());
    for n in 1..=3 {
        probe.do_send(Record(n)).unwrap();
    }
    let removed = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        app.send(RemoveChild::new("probe")),
    )
    .await
    .expect("RemoveChild waited out the backoff")
    .unwrap()
    .expect("the child is removed");
    let seen: Vec<u32> = events
        .drain()
        .into_iter()
        .filter_map(|e| match e {
            Event::Handled { n, .. } => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(seen, [1, 2, 3], "{removed}");
    assert_eq!((removed.drained, removed.undelivered), (3, 0), "{removed}");
    assert!(removed.is_drained(), "{removed}");
    assert_eq!(within(probe.stop()).await, removed);
    let tree = within(app.send(actix_supervisor::Inspect)).await.unwrap();
    assert!(tree.find("/app/probe").is_none(), "{tree}");
}

// Attack (passes): `StopChild` and `RestartChild` sent in the same turn, in both
// orders, with messages waiting: the stop wins (the restart answers
// `ChildStopping`, or restarts first and the stop then ends the new
// incarnation); either way the stop's report is final and accounts for
// every waiting message.
#[actix_rt::test]
async fn restart_child_racing_stop_child_leaves_the_child_stopped_with_nothing_lost() {
    tokio::time::pause();
    for restart_first in [false, true] {
        let (log, mut events) = recorder();
        let spec = probe_spec("probe", log)
            .restart(actix_supervisor::RestartPolicy::Always)
            .grace(actix_supervisor::Grace::Duration(
                std::time::Duration::from_secs(60),
            ));
        let probe = spec.handle();
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();
        within(probe.started()).await.unwrap();
        for n in 1..=3 {
            probe.do_send(Record(n)).unwrap();
        }
        let (stop, restart) = if restart_first {
            let restart = app.send(RestartChild::new("probe"));
            (app.send(StopChild::new("probe")), restart)
        } else {
            let stop = app.send(StopChild::new("probe"));
            (stop, app.send(RestartChild::new("probe")))
        };
        let (stop, restart) = within(async { tokio::join!(stop, restart) }).await;
        let report = stop.unwrap().expect("StopChild answers the report");
        let restart = restart.unwrap();
        if !restart_first {
            assert!(
                matches!(restart, Err(ControlError::ChildStopping { .. })),
                "{restart:?}"
            );
        }
        let seen: Vec<u32> = events
            .drain()
            .into_iter()
            .filter_map(|e| match e {
                Event::Handled { n, .. } => Some(n),
                _ => None,
            })
            .collect();
        assert_eq!(seen, [1, 2, 3], "restart first: {restart_first}: {report}");
        assert_eq!(report.undelivered, 0, "{report}");
        assert!(report.is_drained(), "{report}");
        assert_eq!(within(probe.stop()).await, report);
        let child = node(&app, "/app/probe").await;
        assert_eq!(child.state, NodeState::Stopped, "{child:?}");
        assert!(matches!(
            probe.do_send(Record(9)),
            Err(actix_supervisor::SendError::Gone { .. })
        ));
    }
}
