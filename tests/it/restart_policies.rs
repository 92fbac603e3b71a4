//! Promise 2 (policies): `Never` runs once, `OnFailure` restarts after a panic
//! or an error exit but not after a normal stop, `Always` restarts after
//! every end. A child that will not run again is `Stopped` or `Failed`, and
//! sends to it fail at once.

use crate::common;

use actix::MailboxError;
use actix_supervisor::{
    snapshot::{FailureKind, NodeState},
    RestartPolicy, SupervisorActor,
};
use common::*;

#[actix_rt::test]
async fn on_failure_does_not_restart_after_a_normal_stop() {
    let (log, mut events) = recorder();
    let spec = probe_spec("probe", log).restart(RestartPolicy::OnFailure);
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    within(addr.send(StopNormally)).await.unwrap();
    assert_eq!(
        [
            events.next().await,
            events.next().await,
            events.next().await
        ],
        [Event::Started(1), Event::Stopping(1), Event::Stopped(1)]
    );
    let child = node(&app, "/app/probe").await;
    assert_eq!((child.state, child.incarnation), (NodeState::Stopped, 1));
    assert_eq!(
        within(addr.send(Get)).await.unwrap_err(),
        MailboxError::Closed
    );
    assert_eq!(events.drain(), [], "no second incarnation started");
}

#[actix_rt::test]
async fn on_failure_restarts_after_an_error_exit() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log).restart(RestartPolicy::OnFailure);
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    within(addr.send(FailWith("lease lost".into())))
        .await
        .unwrap();
    assert_eq!(within(addr.send(Get)).await.unwrap(), (2, 0));
    let failure = node(&app, "/app/probe").await.last_failure.unwrap();
    assert_eq!(failure.kind, FailureKind::Error);
    assert_eq!(failure.message, "lease lost");
}

#[actix_rt::test]
async fn always_restarts_after_a_normal_stop() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log).restart(RestartPolicy::Always);
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    within(addr.send(StopNormally)).await.unwrap();
    assert_eq!(within(addr.send(Get)).await.unwrap(), (2, 0));
    let child = node(&app, "/app/probe").await;
    assert_eq!((child.state, child.restart_count), (NodeState::Running, 1));
    assert_eq!(child.last_failure, None, "a normal stop is not a failure");
}

#[actix_rt::test]
async fn always_restarts_after_a_panic() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log).restart(RestartPolicy::Always);
    let addr = spec.address();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();

    assert!(within(addr.send(Panic("boom"))).await.is_err());
    assert_eq!(within(addr.send(Get)).await.unwrap(), (2, 0));
}

#[actix_rt::test]
async fn never_does_not_restart_after_a_failure() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log).restart(RestartPolicy::Never);
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    assert!(within(addr.send(Panic("boom"))).await.is_err());
    let child = node(&app, "/app/probe").await;
    assert_eq!((child.state, child.incarnation), (NodeState::Failed, 1));
    assert_eq!(child.last_failure.unwrap().message, "boom");
    assert_eq!(
        within(addr.send(Get)).await.unwrap_err(),
        MailboxError::Closed
    );
}

#[actix_rt::test]
async fn never_does_not_restart_after_a_normal_stop() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log).restart(RestartPolicy::Never);
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    addr.do_send(StopNormally);
    let pending: Vec<_> = (0..3).map(|_| addr.send(Get)).collect();
    for reply in pending {
        assert_eq!(within(reply).await.unwrap_err(), MailboxError::Closed);
    }
    assert_eq!(node(&app, "/app/probe").await.state, NodeState::Stopped);
    assert_eq!(
        within(addr.send(Get)).await.unwrap_err(),
        MailboxError::Closed
    );
}

/// Fails in `started`, with an error, until the factory built `LIMIT` of
/// it; then runs.
struct FailsAtOnce {
    build: usize,
}

/// Incarnations of `FailsAtOnce` that fail.
const LIMIT: usize = 1_000;

impl actix::Actor for FailsAtOnce {
    type Context = actix::Context<Self>;
    fn started(&mut self, ctx: &mut actix::Context<Self>) {
        if self.build < LIMIT {
            actix_supervisor::fail(ctx, "not yet");
        }
    }
}

actix_supervisor::supervised!(FailsAtOnce);

/// A restart right after the poll that built the failing incarnation
/// yields to the arbiter first: a child that fails at once, again and
/// again, without a backoff and under no intensity limit, never keeps the
/// other tasks of its arbiter from running. Without the yield, the
/// runner would build all `LIMIT` incarnations in one poll.
#[actix_rt::test]
async fn a_child_failing_at_once_again_and_again_lets_its_arbiter_run_other_tasks() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let builds = Arc::new(AtomicUsize::new(0));
    let counted = builds.clone();
    let spec = actix_supervisor::ChildSpec::new("eager", move || FailsAtOnce {
        build: counted.fetch_add(1, Ordering::SeqCst) + 1,
    })
    .restart(RestartPolicy::Always);
    let handle = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    let (mut last, mut most, mut turns) = (builds.load(Ordering::SeqCst), 0, 0);
    while last < LIMIT {
        tokio::task::yield_now().await;
        let now = builds.load(Ordering::SeqCst);
        most = most.max(now - last);
        last = now;
        turns += 1;
        assert!(turns < 100 * LIMIT, "the child stopped restarting at {now}");
    }
    // tokio's local scheduler polls up to 61 tasks between two turns of
    // this one: one build per poll of the runner.
    assert!(
        most <= 64,
        "{most} incarnations were built between two turns of another task"
    );
    assert!(turns >= LIMIT / 64, "{turns} turns for {LIMIT} builds");
    // Its first start failed, and the supervisor kept up with every one.
    assert!(within(handle.started()).await.is_err());
    let child = node(&app, "/app/eager").await;
    assert_eq!(child.incarnation as usize, LIMIT);
}
