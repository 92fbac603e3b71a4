//! Promise 5: a panic in a factory, `started`, a handler, a spawned future,
//! `stopping`, `stopped` or `restarting` is a failure of that child alone. It
//! is caught, counted and handled by the restart policy; the arbiter, the
//! supervisor and the siblings keep running; a `send()` caller whose message
//! caused the panic gets an error, not a hang; the process never aborts.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use actix_supervisor::{
    snapshot::{FailureKind, FailurePhase, NodeState},
    ChildSpec, RestartPolicy, SupervisorActor,
};
use common::*;

#[actix_rt::test]
async fn a_handler_panic_restarts_the_child_behind_the_same_address_with_fresh_state() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log.clone());
    let probe = spec.address();
    let sibling_spec = probe_spec("sibling", log);
    let sibling = sibling_spec.address();
    let app = SupervisorActor::builder("app")
        .child(spec)
        .child(sibling_spec)
        .start()
        .unwrap();
    let bystander = Bystander.start();

    for _ in 0..3 {
        within(probe.send(Inc)).await.unwrap();
    }
    within(sibling.send(Inc)).await.unwrap();
    assert_eq!(within(probe.send(Get)).await.unwrap(), (1, 3));

    let err = within(probe.send(Panic("boom"))).await.unwrap_err();
    assert_eq!(
        err,
        MailboxError::Closed,
        "the panicking message's caller gets an error"
    );

    // The arbiter, the supervisor and the sibling kept working...
    assert_eq!(within(bystander.send(Get)).await.unwrap(), (0, 42));
    assert_eq!(within(sibling.send(Get)).await.unwrap(), (1, 1));
    // ...and the same address answers from a fresh incarnation.
    assert_eq!(within(probe.send(Get)).await.unwrap(), (2, 0));

    let child = node(&app, "/app/probe").await;
    assert_eq!(child.state, NodeState::Running);
    assert_eq!((child.incarnation, child.restart_count), (2, 1));
    let failure = child.last_failure.expect("the panic is recorded");
    assert_eq!(failure.kind, FailureKind::Panic);
    assert_eq!(failure.phase, FailurePhase::Running);
    assert_eq!(failure.message, "boom");
    assert_eq!(node(&app, "/app/sibling").await.restart_count, 0);
}

/// An actor whose hooks panic as its factory tells it to.
struct Fragile {
    incarnation: u64,
    panic_in_started: bool,
    panic_in_stopping: bool,
    panic_in_stopped: bool,
}

impl Actor for Fragile {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        if self.panic_in_started {
            panic!("started failed");
        }
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        if self.panic_in_stopping {
            panic!("stopping failed");
        }
        Running::Stop
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if self.panic_in_stopped {
            panic!("stopped failed");
        }
    }
}

actix_supervisor::supervised!(Fragile);

impl Handler<Get> for Fragile {
    type Result = MessageResult<Get>;
    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.incarnation, 0))
    }
}

impl Handler<StopNormally> for Fragile {
    type Result = ();
    fn handle(&mut self, _: StopNormally, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Panic> for Fragile {
    type Result = ();
    fn handle(&mut self, msg: Panic, _: &mut Context<Self>) {
        panic!("{}", msg.0);
    }
}

/// A spec whose first incarnation gets the given faults; later ones none.
fn fragile(name: &str, first: fn(&mut Fragile)) -> ChildSpec<Fragile> {
    let made = AtomicU64::new(0);
    ChildSpec::new(name, move || {
        let incarnation = made.fetch_add(1, Ordering::SeqCst) + 1;
        let mut actor = Fragile {
            incarnation,
            panic_in_started: false,
            panic_in_stopping: false,
            panic_in_stopped: false,
        };
        if incarnation == 1 {
            first(&mut actor);
        }
        actor
    })
}

#[actix_rt::test]
async fn a_panic_in_started_is_a_start_failure_and_the_next_incarnation_runs() {
    let spec = fragile("fragile", |a| a.panic_in_started = true);
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    // Sent before the first start: waits in the mailbox, handled by incarnation 2.
    assert_eq!(within(addr.send(Get)).await.unwrap(), (2, 0));
    let child = node(&app, "/app/fragile").await;
    assert_eq!(child.restart_count, 1);
    let failure = child.last_failure.unwrap();
    assert_eq!(
        (failure.kind, failure.phase),
        (FailureKind::Panic, FailurePhase::Starting)
    );
    assert_eq!(failure.message, "started failed");
}

#[actix_rt::test]
async fn a_panic_in_stopping_is_a_failure_and_is_restarted_under_on_failure() {
    // OnFailure does not restart after a normal stop, so a restart proves the
    // panic in `stopping` was counted as a failure.
    let spec = fragile("fragile", |a| a.panic_in_stopping = true);
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    within(addr.send(StopNormally)).await.unwrap();
    assert_eq!(within(addr.send(Get)).await.unwrap(), (2, 0));
    let failure = node(&app, "/app/fragile").await.last_failure.unwrap();
    assert_eq!(
        (failure.kind, failure.phase),
        (FailureKind::Panic, FailurePhase::Running)
    );
    assert_eq!(failure.message, "stopping failed");
}

#[actix_rt::test]
async fn a_panic_in_stopped_is_a_failure_and_is_restarted_under_on_failure() {
    let spec = fragile("fragile", |a| a.panic_in_stopped = true);
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    within(addr.send(StopNormally)).await.unwrap();
    assert_eq!(within(addr.send(Get)).await.unwrap(), (2, 0));
    let failure = node(&app, "/app/fragile").await.last_failure.unwrap();
    assert_eq!(
        (failure.kind, failure.phase),
        (FailureKind::Panic, FailurePhase::Running)
    );
    assert_eq!(failure.message, "stopped failed");
}

#[actix_rt::test]
async fn after_a_panic_stopping_and_stopped_never_run_on_the_broken_value() {
    // Under plain actix, the context's drop logic calls `stopping` and
    // `stopped` on the half-updated value after a panic, and a second panic
    // there aborts the process. Here the value is dropped without them, even
    // when the child is given up.
    let (log, mut events) = recorder();
    let spec = probe_spec("probe", log).restart(RestartPolicy::Never);
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    assert_eq!(events.next().await, Event::Started(1));
    assert!(within(addr.send(Panic("first"))).await.is_err());
    assert_eq!(node(&app, "/app/probe").await.state, NodeState::Failed);
    assert_eq!(events.drain(), [], "no hook ran after the panic");
}

#[actix_rt::test]
async fn a_panicking_factory_is_a_failed_start_and_is_retried() {
    let calls = Arc::new(AtomicU64::new(0));
    let (log, _events) = recorder();
    let counted = calls.clone();
    let spec = ChildSpec::new("probe", move || {
        let call = counted.fetch_add(1, Ordering::SeqCst) + 1;
        if call == 1 {
            panic!("factory failed");
        }
        Probe {
            incarnation: call,
            count: 0,
            log: log.clone(),
        }
    });
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    assert_eq!(within(addr.send(Get)).await.unwrap(), (2, 0));
    let child = node(&app, "/app/probe").await;
    assert_eq!((child.incarnation, child.restart_count), (2, 1));
    let failure = child.last_failure.unwrap();
    assert_eq!(
        (failure.kind, failure.phase),
        (FailureKind::Panic, FailurePhase::Factory)
    );
    assert_eq!(failure.message, "factory failed");
}

#[actix_rt::test]
async fn a_factory_error_is_a_failed_start_with_its_message() {
    let calls = AtomicU64::new(0);
    let (log, _events) = recorder();
    let spec = ChildSpec::try_new("probe", move || {
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call == 1 {
            return Err("database unreachable");
        }
        Ok(Probe {
            incarnation: call,
            count: 0,
            log: log.clone(),
        })
    });
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    assert_eq!(within(addr.send(Get)).await.unwrap(), (2, 0));
    let failure = node(&app, "/app/probe").await.last_failure.unwrap();
    assert_eq!(
        (failure.kind, failure.phase),
        (FailureKind::Error, FailurePhase::Factory)
    );
    assert_eq!(failure.message, "database unreachable");
}

/// An actor whose `restarting` panics once.
struct BadRestart {
    incarnation: u64,
    armed: Arc<AtomicBool>,
}

impl Actor for BadRestart {
    type Context = Context<Self>;
}

impl Supervised for BadRestart {
    fn restarting(&mut self, _: &mut Context<Self>) {
        if self.armed.swap(false, Ordering::SeqCst) {
            panic!("restarting failed");
        }
        actix_supervisor::restart_fresh(self);
    }
}

actix_supervisor::supervised!(BadRestart, custom_restarting);

impl Handler<Get> for BadRestart {
    type Result = MessageResult<Get>;
    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.incarnation, 0))
    }
}

impl Handler<Panic> for BadRestart {
    type Result = ();
    fn handle(&mut self, msg: Panic, _: &mut Context<Self>) {
        panic!("{}", msg.0);
    }
}

#[actix_rt::test]
async fn a_panic_in_restarting_is_a_failed_restart_and_is_retried() {
    let armed = Arc::new(AtomicBool::new(true));
    let made = AtomicU64::new(0);
    let flag = armed.clone();
    let spec = ChildSpec::new("bad", move || BadRestart {
        incarnation: made.fetch_add(1, Ordering::SeqCst) + 1,
        armed: flag.clone(),
    });
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    assert!(within(addr.send(Panic("handler"))).await.is_err());
    // Incarnation 2's value never got in (its `restarting` panicked); the
    // third attempt runs incarnation 3's value.
    assert_eq!(within(addr.send(Get)).await.unwrap(), (3, 0));
    let child = node(&app, "/app/bad").await;
    assert_eq!(child.restart_count, 2);
    let failure = child.last_failure.unwrap();
    assert_eq!(
        (failure.kind, failure.phase),
        (FailureKind::Panic, FailurePhase::Restarting)
    );
}

/// Spawns a future on its context that panics.
#[derive(Message)]
#[rtype(result = "()")]
struct SpawnPanic;

impl Handler<SpawnPanic> for Probe {
    type Result = ();
    fn handle(&mut self, _: SpawnPanic, ctx: &mut Context<Self>) {
        ctx.spawn(actix::fut::wrap_future::<_, Self>(async {
            panic!("spawned future failed");
        }));
    }
}

#[actix_rt::test]
async fn a_panic_in_a_future_spawned_on_the_context_is_contained() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log);
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    within(addr.send(SpawnPanic)).await.unwrap();
    assert_eq!(within(addr.send(Get)).await.unwrap(), (2, 0));
    let failure = node(&app, "/app/probe").await.last_failure.unwrap();
    assert_eq!(failure.message, "spawned future failed");
}
