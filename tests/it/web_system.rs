//! Issue 15, Kubernetes-ready shutdown: a tree whose root gives up on its
//! own ends `system::run` at once with exit status 3 (no signal needed), so
//! an orchestrator restarts the process; `run_until_shutdown` returns the
//! root's final report then; and a stop marks the `Supervision` as stopping
//! before the tree is told.

use std::process::ExitCode;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::system::Supervision;
use actix_supervisor::{
    fail, ChildSpec, RestartIntensity, RestartPolicy, StopOutcome, SupervisorActor,
    SupervisorBuilder,
};

#[derive(Default)]
struct Broken;
impl Actor for Broken {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        fail(ctx, "broken on purpose");
    }
}
actix_supervisor::supervised!(Broken);

#[derive(Default)]
struct Idle;
impl Actor for Idle {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Idle);

/// A root that gives up after its second restart in a minute.
fn doomed() -> SupervisorBuilder {
    SupervisorActor::builder("app")
        .intensity(RestartIntensity::new(2, Duration::from_secs(60)))
        .child(ChildSpec::new("idle", Idle::default))
        .child(ChildSpec::new("broken", Broken::default).restart(RestartPolicy::Always))
}

#[test]
fn run_returns_exit_status_3_when_the_root_gives_up_on_its_own() {
    let (done, code) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(actix_supervisor::system::run(
            doomed(),
            Duration::from_secs(5),
        ));
    });
    // The bound only turns a hang (waiting for a signal with nothing
    // running) into a failure.
    let code = code
        .recv_timeout(Duration::from_secs(10))
        .expect("run returns without a signal");
    assert_eq!(code, ExitCode::from(3));
}

#[actix_rt::test]
async fn run_until_shutdown_returns_the_final_report_when_the_root_gives_up() {
    let supervision = Supervision::start(doomed()).unwrap();
    let observer = supervision.clone();
    let report = tokio::time::timeout(Duration::from_secs(10), supervision.run_until_shutdown())
        .await
        .expect("returns without a signal")
        .unwrap();
    match &report.outcome {
        StopOutcome::Failed(failure) => assert!(failure.message.contains("broken on purpose")),
        other => panic!("{other:?}"),
    }
    assert_eq!(report.path.as_str(), "/app");
    assert!(
        observer.is_stopping(),
        "readiness stays down once the tree ended"
    );
}

#[actix_rt::test]
async fn a_stop_marks_the_supervision_stopping_for_every_clone() {
    let supervision = Supervision::start(
        SupervisorActor::builder("app").child(ChildSpec::new("idle", Idle::default)),
    )
    .unwrap();
    let probe = supervision.clone();
    assert!(!probe.is_stopping());
    let report = supervision.stop().await.unwrap();
    assert!(report.is_drained());
    assert!(probe.is_stopping());
    tokio::time::timeout(Duration::from_secs(10), probe.stop_begun())
        .await
        .expect("already begun");
}

#[actix_rt::test]
async fn run_until_exit_answers_status_3_with_the_report_when_the_root_gives_up() {
    let supervision = Supervision::start(doomed()).unwrap();
    let (report, code) =
        tokio::time::timeout(Duration::from_secs(10), supervision.run_until_exit())
            .await
            .expect("returns without a signal")
            .unwrap();
    assert_eq!(code, ExitCode::from(3));
    assert!(matches!(report.outcome, StopOutcome::Failed(_)));
}
