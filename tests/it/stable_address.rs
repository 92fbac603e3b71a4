//! Promise 6: the `Addr` a user holds for a child stays valid across
//! restarts; messages sent while the child restarts wait in its mailbox for
//! the next incarnation, which starts from fresh state; when the child will
//! not run again, every pending and later `send()` fails at once.

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};

use actix::prelude::*;
use actix_supervisor::{
    snapshot::{FailureKind, FailurePhase, NodeState},
    ChildSpec, Kill, RestartPolicy, SupervisorActor,
};
use common::*;

#[actix_rt::test]
async fn the_address_is_valid_before_the_child_starts() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log);
    let addr = spec.address();
    // Queued before the supervisor even exists.
    addr.do_send(Inc);
    let pending = addr.send(Inc);
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(within(pending).await.unwrap(), 2);
}

#[actix_rt::test]
async fn never_after_a_failure_fails_pending_and_later_sends_at_once() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log).restart(RestartPolicy::Never);
    let addr = spec.address();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(addr.send(Inc)).await.unwrap();

    // All queued behind the panicking message before it is handled.
    addr.do_send(Panic("boom"));
    let pending: Vec<_> = (0..3).map(|_| addr.send(Get)).collect();
    for reply in pending {
        assert_eq!(within(reply).await.unwrap_err(), MailboxError::Closed);
    }
    assert_eq!(
        within(addr.send(Get)).await.unwrap_err(),
        MailboxError::Closed
    );
    assert!(matches!(addr.try_send(Inc), Err(SendError::Closed(_))));
}

#[actix_rt::test]
async fn a_child_whose_supervisor_is_gone_fails_sends_at_once() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log);
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(addr.send(Inc)).await.unwrap();

    within(app.send(Kill)).await.unwrap();
    assert_eq!(
        within(addr.send(Get)).await.unwrap_err(),
        MailboxError::Closed
    );
}

/// Implements `Supervised` but forgets to install the fresh state.
struct Forgetful {
    incarnation: u64,
}

impl Actor for Forgetful {
    type Context = Context<Self>;
}

impl Supervised for Forgetful {}

actix_supervisor::supervised!(Forgetful, custom_restarting);

impl Handler<Panic> for Forgetful {
    type Result = ();
    fn handle(&mut self, msg: Panic, _: &mut Context<Self>) {
        panic!("{}", msg.0);
    }
}

impl Handler<Get> for Forgetful {
    type Result = MessageResult<Get>;
    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.incarnation, 0))
    }
}

#[actix_rt::test]
async fn a_restart_that_cannot_install_fresh_state_gives_the_child_up_with_a_clear_error() {
    let made = AtomicU64::new(0);
    let spec = ChildSpec::new("forgetful", move || Forgetful {
        incarnation: made.fetch_add(1, Ordering::SeqCst) + 1,
    })
    .restart(RestartPolicy::Always);
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    assert!(within(addr.send(Panic("boom"))).await.is_err());
    // Never silently running on stale state: the child is given up.
    assert_eq!(
        within(addr.send(Get)).await.unwrap_err(),
        MailboxError::Closed
    );
    let child = node(&app, "/app/forgetful").await;
    assert_eq!(child.state, NodeState::Failed);
    let failure = child.last_failure.unwrap();
    assert_eq!(
        (failure.kind, failure.phase),
        (FailureKind::Error, FailurePhase::Restarting)
    );
    assert!(
        failure.message.contains("restart_fresh"),
        "{}",
        failure.message
    );
    assert!(failure.message.contains("Forgetful"), "{}", failure.message);
}
