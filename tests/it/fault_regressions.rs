//! Promises 5 and 6, under faults found in review: a child failing at every
//! start must not freeze its arbiter, `fail` is charged to the right actor,
//! a supervisor outlives its dropped addresses, and tearing down a system
//! with live children never runs their hooks uncontained.

use crate::common;

use std::sync::mpsc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::{
    snapshot::{FailureKind, FailurePhase, NodeState},
    ChildSpec, Inspect, RestartPolicy, SupervisorActor,
};
use common::*;

/// Runs `test` in an actix system on a thread of its own and waits for its
/// result: a test whose system freezes fails here instead of hanging.
fn on_own_system<T, F>(test: impl FnOnce() -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = T>,
{
    let (result, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let value = actix::System::new().block_on(test());
        let _ = result.send(value);
    });
    outcome
        .recv_timeout(TIMEOUT)
        .expect("the system froze or the test panicked")
}

#[test]
fn a_child_failing_at_every_start_without_backoff_does_not_freeze_the_arbiter() {
    let restarts = on_own_system(|| async {
        let spec = ChildSpec::try_new("down", || -> Result<Probe, &str> { Err("database down") });
        let app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(spec)
            .start()
            .unwrap();
        let bystander = Bystander.start();
        assert_eq!(bystander.send(Get).await.unwrap(), (0, 42));
        let tree = app.send(Inspect).await.unwrap();
        tree.find("/app/down").unwrap().restart_count
    });
    assert!(restarts >= 1, "the child was retried: {restarts}");
}

/// Stops itself in `started`: under `Always`, an immediate-restart loop.
#[derive(Default)]
struct Quitter;

impl Actor for Quitter {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
actix_supervisor::supervised!(Quitter);

#[test]
fn an_always_child_that_stops_itself_at_once_does_not_freeze_the_arbiter() {
    let restarts = on_own_system(|| async {
        let spec = ChildSpec::new("quitter", Quitter::default).restart(RestartPolicy::Always);
        let app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(spec)
            .start()
            .unwrap();
        assert_eq!(Bystander.start().send(Get).await.unwrap(), (0, 42));
        let tree = app.send(Inspect).await.unwrap();
        tree.find("/app/quitter").unwrap().restart_count
    });
    assert!(restarts >= 1, "{restarts}");
}

/// A plain actix actor, not supervised, that calls `fail` on itself.
struct Unsupervised;

impl Actor for Unsupervised {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        actix_supervisor::fail(ctx, "not yours");
    }
}

#[actix_rt::test]
async fn fail_called_by_an_unsupervised_actor_is_not_charged_to_a_child() {
    let (log, mut events) = recorder();
    let spec = probe_spec("probe", log).restart(RestartPolicy::OnFailure);
    let probe = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(events.next().await, Event::Started(1));

    let _unsupervised = Unsupervised.start();
    within(probe.send(StopNormally)).await.unwrap();
    let child = node(&app, "/app/probe").await;
    assert_eq!(child.state, NodeState::Stopped, "{:?}", child.last_failure);
    assert_eq!(child.last_failure, None);
}

#[actix_rt::test]
async fn fail_in_started_is_a_failed_start() {
    struct FailsToStart(u64);
    impl Actor for FailsToStart {
        type Context = Context<Self>;
        fn started(&mut self, ctx: &mut Context<Self>) {
            if self.0 == 1 {
                actix_supervisor::fail(ctx, "no lease");
            }
        }
    }
    actix_supervisor::supervised!(FailsToStart);
    impl Handler<Get> for FailsToStart {
        type Result = MessageResult<Get>;
        fn handle(&mut self, _: Get, _: &mut Context<Self>) -> Self::Result {
            MessageResult((self.0, 0))
        }
    }

    let made = std::sync::atomic::AtomicU64::new(0);
    let spec = ChildSpec::new("lease", move || {
        FailsToStart(made.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1)
    });
    let lease = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(within(lease.send(Get)).await.unwrap(), (2, 0));
    let failure = node(&app, "/app/lease").await.last_failure.unwrap();
    assert_eq!(
        (failure.kind, failure.phase),
        (FailureKind::Error, FailurePhase::Starting)
    );
    assert_eq!(failure.message, "no lease");
}

#[actix_rt::test]
async fn a_failed_first_start_under_never_fails_pending_sends() {
    let spec = ChildSpec::try_new("down", || -> Result<Probe, &str> { Err("database down") })
        .restart(RestartPolicy::Never);
    let addr = spec.address();
    let pending = addr.send(Get);
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    assert_eq!(within(pending).await.unwrap_err(), MailboxError::Closed);
    let child = node(&app, "/app/down").await;
    assert_eq!((child.state, child.incarnation), (NodeState::Failed, 1));
    let failure = child.last_failure.unwrap();
    assert_eq!(
        (failure.phase, failure.message.as_str()),
        (FailurePhase::Factory, "database down")
    );
}

#[actix_rt::test]
async fn dropping_every_address_of_a_supervisor_keeps_its_tree_running() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log);
    let probe = spec.handle();
    drop(SupervisorActor::builder("app").child(spec).start().unwrap());

    assert_eq!(within(probe.send(Inc)).await.unwrap(), 1);
    assert!(within(probe.send(Panic("still supervised"))).await.is_err());
    assert_eq!(
        within(probe.send(Get)).await.unwrap(),
        (2, 0),
        "restarted by its supervisor"
    );
}

/// Keeps a timer on its context, so it is alive when its system is dropped;
/// its `stopping` records that it ran, then panics, and so does its `Drop`.
struct TimerWithBadHooks {
    log: Recorder<&'static str>,
}

impl Actor for TimerWithBadHooks {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_secs(3600), |_, _| {});
    }
    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        self.log.record("stopping");
        panic!("stopping while the system is torn down");
    }
}

impl Drop for TimerWithBadHooks {
    fn drop(&mut self) {
        panic!("dropping the actor value");
    }
}
actix_supervisor::supervised!(TimerWithBadHooks);

#[test]
fn dropping_a_system_with_live_children_runs_no_hook_uncontained() {
    // Without the runner's own `Drop`, actix's drop logic ran `stopping` here
    // outside any containment, and the panicking `Drop` of the value during
    // that unwind aborted the process.
    let (log, mut events) = recorder();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let system = actix::System::new();
        system.block_on(async {
            let spec = ChildSpec::new("timer", move || TimerWithBadHooks { log: log.clone() });
            let app = SupervisorActor::builder("app").child(spec).start().unwrap();
            app.send(Inspect).await.unwrap();
        });
        drop(system);
        let _ = done.send(());
    });
    finished
        .recv_timeout(TIMEOUT)
        .expect("the system's teardown panicked or hung");
    assert_eq!(
        events.drain(),
        Vec::<&str>::new(),
        "no hook ran at teardown"
    );
}

/// Fails on `FailNow` with `fail()`, then keeps running once from
/// `stopping()` for a cleanup that ends a minute later.
struct Cleaner {
    incarnation: u64,
    cleaned: bool,
}

impl Actor for Cleaner {
    type Context = Context<Self>;

    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        if self.cleaned {
            return Running::Stop;
        }
        self.cleaned = true;
        ctx.run_later(Duration::from_secs(60), |_, ctx| ctx.stop());
        Running::Continue
    }
}

actix_supervisor::supervised!(Cleaner);

#[derive(Message)]
#[rtype(result = "()")]
struct FailNow;

impl Handler<FailNow> for Cleaner {
    type Result = ();
    fn handle(&mut self, _: FailNow, ctx: &mut Context<Self>) {
        actix_supervisor::fail(ctx, "lost its lease");
    }
}

impl Handler<Get> for Cleaner {
    type Result = MessageResult<Get>;
    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.incarnation, 0))
    }
}

// Defect 6 (issue 13): an error exit from `fail()` was lost when another
// child on the same arbiter ended while the failing actor was still in its
// `stopping()` cleanup: the child ended `Stopped` and was not restarted.
#[actix_rt::test]
async fn a_fail_whose_stopping_cleans_up_first_is_a_failure_whoever_ends_meanwhile() {
    tokio::time::pause();
    let made = std::sync::atomic::AtomicU64::new(0);
    let cleaner = ChildSpec::new("cleaner", move || Cleaner {
        incarnation: made.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
        cleaned: false,
    })
    .restart(RestartPolicy::OnFailure);
    let cleaner_handle = cleaner.handle();
    let (log, _events) = recorder();
    let sibling = probe_spec("sibling", log).restart(RestartPolicy::Never);
    let sibling_handle = sibling.handle();
    let app = SupervisorActor::builder("app")
        .child(cleaner)
        .child(sibling)
        .start()
        .unwrap();
    within(cleaner_handle.started()).await.unwrap();
    within(sibling_handle.started()).await.unwrap();

    within(cleaner_handle.send(FailNow)).await.unwrap();
    // While the cleaner cleans up, its sibling ends.
    within(sibling_handle.send(StopNormally)).await.unwrap();
    actix_supervisor::testkit::wait_for_node(&app, "/app/sibling", |n| n.state.is_terminal()).await;

    let node = actix_supervisor::testkit::wait_for_node(&app, "/app/cleaner", |n| {
        n.state.is_terminal() || n.incarnation >= 2
    })
    .timeout(Duration::from_secs(3600))
    .describe("the cleaner's incarnation ended")
    .await;
    let failure = node
        .last_failure
        .clone()
        .unwrap_or_else(|| panic!("the fail() was lost: {node:?}"));
    assert_eq!(failure.message, "lost its lease");
    assert_eq!(failure.kind, FailureKind::Error);
    assert_eq!(
        within(cleaner_handle.send(Get)).await.unwrap().0,
        2,
        "restarted under OnFailure"
    );
}

/// Reports an error exit with `fail()` on `FailNow`; while `linger` is set,
/// its `stopping()` keeps it running for ever.
struct Lingerer {
    linger: bool,
}

impl Actor for Lingerer {
    type Context = Context<Self>;

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        if self.linger {
            Running::Continue
        } else {
            Running::Stop
        }
    }
}

actix_supervisor::supervised!(Lingerer);

impl Handler<FailNow> for Lingerer {
    type Result = ();
    fn handle(&mut self, _: FailNow, ctx: &mut Context<Self>) {
        actix_supervisor::fail(ctx, "the lingerer failed");
    }
}

impl Handler<StopNormally> for Lingerer {
    type Result = ();
    fn handle(&mut self, _: StopNormally, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

// Attack (passes on the current code; guards the lifecycle rewrite):
// a child that called `fail()` but never ended (its
// `stopping()` kept it running) is removed, terminated at the end of its
// grace; a new child of the same type then stops normally. The dead child's
// error exit must not be charged to the new one (which is not restarted
// after a normal stop under `OnFailure`, and has no failure).
#[actix_rt::test]
async fn a_dead_childs_fail_is_never_charged_to_a_later_child() {
    tokio::time::pause();
    let first = ChildSpec::new("first", || Lingerer { linger: true })
        .restart(RestartPolicy::Never)
        .grace(actix_supervisor::Grace::Duration(Duration::from_millis(
            100,
        )));
    let first_handle = first.handle();
    let app = SupervisorActor::builder("app")
        .child(first)
        .start()
        .unwrap();
    within(first_handle.started()).await.unwrap();
    within(first_handle.send(FailNow)).await.unwrap();
    let removed = within(app.send(actix_supervisor::RemoveChild::new("first")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        removed.outcome,
        actix_supervisor::StopOutcome::TimedOut,
        "{removed}"
    );

    for round in 0..8 {
        let name = format!("later-{round}");
        let later = ChildSpec::new(name.clone(), || Lingerer { linger: false })
            .restart(RestartPolicy::OnFailure);
        let later_handle = later.handle();
        within(app.send(actix_supervisor::StartChild::new(later)))
            .await
            .unwrap()
            .unwrap();
        within(later_handle.started()).await.unwrap();
        within(later_handle.send(StopNormally)).await.unwrap();
        let path = format!("/app/{name}");
        let node = actix_supervisor::testkit::wait_for_node(&app, &path, |n| {
            n.state.is_terminal() || n.incarnation >= 2
        })
        .timeout(Duration::from_secs(60))
        .await;
        assert_eq!(node.last_failure, None, "{node:?}");
        assert_eq!(node.state, NodeState::Stopped, "{node:?}");
    }
}
