//! Promise 10 (startup handles): a child's handle tells when its first start
//! attempt is over, with no polling and no guessed timeout: `Ok(addr)` once
//! `started` returned, `StartFailed` with the reason if the factory or
//! `started` failed or panicked, `SupervisorGone` if it will never start.
//! Awaiting it twice is fine.

use crate::common;

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::{
    snapshot::{FailureKind, FailurePhase},
    ChildSpec, Kill, StartError, SupervisorActor,
};
use common::*;

#[actix_rt::test]
async fn a_normal_start_resolves_to_the_address_and_can_be_awaited_twice() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log);
    let probe = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();

    let addr = within(probe.started()).await.unwrap();
    assert_eq!(within(addr.send(Get)).await.unwrap(), (1, 0));
    assert!(within(probe.started()).await.is_ok());
}

#[actix_rt::test]
async fn a_panicking_factory_resolves_to_start_failed_with_the_message() {
    let spec = ChildSpec::new("broken", || -> Probe { panic!("no config file") });
    let broken = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();

    match within(broken.started()).await {
        Err(StartError::StartFailed { path, reason }) => {
            assert_eq!(path.as_str(), "/app/broken");
            assert_eq!(
                (reason.kind, reason.phase),
                (FailureKind::Panic, FailurePhase::Factory)
            );
            assert_eq!(reason.message, "no config file");
        }
        other => panic!("expected a failed start, got {other:?}"),
    }
}

/// Panics in `started`.
struct PanicsInStarted;

impl Actor for PanicsInStarted {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        panic!("cannot bind port");
    }
}
actix_supervisor::supervised!(PanicsInStarted);

#[actix_rt::test]
async fn a_panic_in_started_resolves_to_start_failed_with_the_message() {
    let spec = ChildSpec::new("server", || PanicsInStarted);
    let server = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();

    let err = within(server.started()).await.unwrap_err();
    assert!(
        matches!(&err, StartError::StartFailed { reason, .. }
            if reason.phase == FailurePhase::Starting && reason.message == "cannot bind port"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "/app/server: the start failed: panic in started: cannot bind port"
    );
}

/// Waits on a gate in `started`.
struct SlowStart(Gate);

impl Actor for SlowStart {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future::<_, Self>(self.0.passed()));
    }
}
actix_supervisor::supervised!(SlowStart);

#[actix_rt::test]
async fn the_start_is_over_only_when_started_and_its_waits_are_done() {
    let gate = Gate::new();
    let start_gate = gate.clone();
    let spec = ChildSpec::new("slow", move || SlowStart(start_gate.clone()));
    let slow = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();

    let mut started = Box::pin(slow.started());
    assert!(tokio::time::timeout(Duration::ZERO, &mut started)
        .await
        .is_err());
    gate.open();
    assert!(within(started).await.is_ok());
}

#[actix_rt::test]
async fn a_supervisor_gone_before_the_child_started_resolves_to_supervisor_gone() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log);
    let probe = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    // Handled in the supervisor's first poll, before the child's runner ran.
    app.do_send(Kill);

    assert_eq!(
        within(probe.started()).await.unwrap_err(),
        StartError::SupervisorGone { path: probe.path() }
    );
}

#[actix_rt::test]
async fn a_spec_never_given_to_a_supervisor_resolves_to_supervisor_gone() {
    let (log, _events) = recorder();
    let spec = probe_spec("orphan", log);
    let orphan = spec.handle();
    drop(spec);
    assert!(matches!(
        within(orphan.started()).await,
        Err(StartError::SupervisorGone { .. })
    ));
}

/// What a handle of a child that never started must do: its stop answers at
/// once, a send is refused with the message handed back, and its startup
/// future answers an error.
async fn assert_never_started(tally: actix_supervisor::ChildHandle<Tally>) {
    let report = tokio::time::timeout(Duration::from_secs(1), tally.stop())
        .await
        .expect("the stop of a child that never started never answered");
    assert_eq!(report.drained, 0, "{report}");
    match tally.do_send(Bump) {
        Err(actix_supervisor::SendError::Gone { message: Bump, .. })
        | Err(actix_supervisor::SendError::Stopping { message: Bump, .. }) => {}
        other => panic!("a send to a child that never started was {other:?}, not refused"),
    }
    let started = tokio::time::timeout(Duration::from_secs(1), tally.started())
        .await
        .expect("the startup future of a child that never started never answered");
    assert!(
        started.is_err(),
        "a child that never started has no address"
    );
}

// Defect 3 (issue 13): a handle whose `StartChild` was refused for a
// duplicate name: its stop never answered and `do_send` returned `Ok` while
// the message was dropped.
#[actix_rt::test]
async fn a_handle_of_a_child_refused_for_a_duplicate_name_answers_at_once() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let app = SupervisorActor::builder("app")
        .child(tally_spec("tally", log.clone()))
        .start()
        .unwrap();
    let twin = tally_spec("tally", log);
    let tally = twin.handle();
    let refused = within(app.send(actix_supervisor::StartChild::new(twin)))
        .await
        .unwrap();
    assert!(refused.is_err(), "a duplicate name is refused");
    assert_never_started(tally).await;
}

// Defect 3 (issue 13): a handle whose `StartChild` was refused because the
// supervisor was stopping.
#[actix_rt::test]
async fn a_handle_of_a_child_refused_by_a_stopping_supervisor_answers_at_once() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let busy = tally_spec("busy", log.clone());
    let busy_handle = busy.handle();
    let app = SupervisorActor::builder("app").child(busy).start().unwrap();
    let gate = Gate::new();
    busy_handle.do_send(Hold(1, gate.clone())).unwrap();
    within(busy_handle.started()).await.unwrap();

    let stopping = app.send(actix_supervisor::Stop);
    let late = tally_spec("late", log);
    let tally = late.handle();
    let refused = within(app.send(actix_supervisor::StartChild::new(late)))
        .await
        .unwrap();
    assert!(
        matches!(
            refused,
            Err(actix_supervisor::ControlError::SupervisorStopping { .. })
        ),
        "{refused:?}"
    );
    assert_never_started(tally).await;
    gate.open();
    within(stopping).await.unwrap();
}

// Defect 3 (issue 13): a handle whose tree failed to build.
#[actix_rt::test]
async fn a_handle_of_a_child_whose_tree_failed_to_build_answers_at_once() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec = tally_spec("tally", log.clone());
    let tally = spec.handle();
    let built = SupervisorActor::builder("app")
        .child(spec)
        .child(tally_spec("bad/name", log))
        .start();
    assert!(built.is_err(), "an invalid name is refused at build");
    assert_never_started(tally).await;
}

// Attack (passes on the current code; guards the lifecycle rewrite):
// a root supervisor sent `Kill` once its child runs: the
// child's handle still answers its stop and refuses new sends.
#[actix_rt::test]
async fn a_child_of_a_shut_down_root_answers_its_stop_and_refuses_sends() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec = tally_spec("tally", log);
    let tally = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(tally.started()).await.unwrap();
    within(tally.send(Bump)).await.unwrap();

    app.do_send(Kill);
    let report = tokio::time::timeout(Duration::from_secs(3600), tally.stop())
        .await
        .expect("the stop of a child whose root was shut down never answered");
    assert_eq!(report.path.as_str(), "/app/tally", "{report}");
    assert!(
        tally.do_send(Bump).is_err(),
        "a send to a child that is gone"
    );
}

// Defect 3 (issue 13). Found by attack: a handle whose spec was given to a
// builder that was dropped without being started.
#[actix_rt::test]
async fn a_handle_of_a_child_whose_tree_was_never_started_answers_at_once() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec = tally_spec("tally", log);
    let tally = spec.handle();
    drop(SupervisorActor::builder("app").child(spec));
    assert_never_started(tally).await;
}

// Defect 3 (issue 13). Found by attack: a handle whose spec was dropped
// without ever being given to a supervisor.
#[actix_rt::test]
async fn a_handle_of_a_spec_never_given_to_a_supervisor_answers_at_once() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec = tally_spec("tally", log);
    let tally = spec.handle();
    drop(spec);
    assert_never_started(tally).await;
}
