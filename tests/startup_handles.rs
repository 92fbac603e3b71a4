//! Promise 10 (startup handles): a child's handle tells when its first start
//! attempt is over, with no polling and no guessed timeout: `Ok(addr)` once
//! `started` returned, `StartFailed` with the reason if the factory or
//! `started` failed or panicked, `SupervisorGone` if it will never start.
//! Awaiting it twice is fine.

mod common;

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::{ChildSpec, FailureKind, FailurePhase, Kill, StartError, SupervisorActor};
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
