//! Promises 7 and 10, as a property: every message a [`ChildHandle`] accepted
//! is handled exactly once by some incarnation, or reported undelivered (in
//! the child's `StopReport` or as an error to its sender); never both, never
//! neither.

mod common;

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::{ChildHandle, ChildSpec, Grace, StopOutcome, SupervisorActor};
use common::*;

/// Counts what it handles; can send itself a message through its own handle.
struct Requeuer {
    handled: u64,
    me: Option<ChildHandle<Requeuer>>,
}

impl Actor for Requeuer {
    type Context = Context<Self>;
}

actix_supervisor::supervised!(Requeuer);

/// Gives the actor its own handle.
#[derive(Message)]
#[rtype(result = "()")]
struct Introduce(ChildHandle<Requeuer>);

impl Handler<Introduce> for Requeuer {
    type Result = ();
    fn handle(&mut self, Introduce(me): Introduce, _: &mut Context<Self>) {
        self.me = Some(me);
    }
}

/// Counted; answers the count so far.
#[derive(Message)]
#[rtype(result = "u64")]
struct Count;

impl Handler<Count> for Requeuer {
    type Result = u64;
    fn handle(&mut self, _: Count, _: &mut Context<Self>) -> u64 {
        self.handled += 1;
        self.handled
    }
}

/// Sends the actor a `Count` through its own handle ("do it later").
#[derive(Message)]
#[rtype(result = "()")]
struct CountLater;

impl Handler<CountLater> for Requeuer {
    type Result = ();
    fn handle(&mut self, _: CountLater, _: &mut Context<Self>) {
        let me = self.me.as_ref().expect("introduced first");
        me.do_send(Count).expect("the child is running");
    }
}

fn requeuer_spec() -> ChildSpec<Requeuer> {
    ChildSpec::new("requeuer", || Requeuer {
        handled: 0,
        me: None,
    })
    .grace(Grace::Duration(Duration::from_secs(1)))
}

/// Regression: a message accepted while the child's context was being polled
/// and handled in that same poll was not counted, so the next stop waited
/// out its grace and reported the message undelivered although it had been
/// handled ("both").
#[actix_rt::test]
async fn a_message_a_child_sends_itself_is_counted_when_handled() {
    tokio::time::pause();
    let spec = requeuer_spec();
    let (requeuer, raw) = (spec.handle(), spec.address());
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(raw.send(Introduce(requeuer.clone()))).await.unwrap();

    within(raw.send(CountLater)).await.unwrap();
    assert_eq!(within(raw.send(Count)).await.unwrap(), 2, "it was handled");

    let report = within(requeuer.stop()).await;
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(report.undelivered, 0, "{report}");
}

/// The same race from other threads: senders on other arbiters whose
/// messages arrive while the child's context is being polled. Each reply
/// proves its message was handled, so none may be reported undelivered.
#[test]
fn awaited_sends_from_other_threads_are_all_counted_as_handled() {
    const SENDERS: u64 = 4;
    const EACH: u64 = 5_000;
    let report = actix::System::new().block_on(async {
        let spec = requeuer_spec();
        let requeuer = spec.handle();
        let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
        let senders: Vec<_> = (0..SENDERS)
            .map(|_| {
                let requeuer = requeuer.clone();
                std::thread::spawn(move || {
                    actix::System::new().block_on(async move {
                        for _ in 0..EACH {
                            requeuer.send(Count).await.expect("handled and answered");
                        }
                    })
                })
            })
            .collect();
        let joined = actix_rt::task::spawn_blocking(move || {
            senders
                .into_iter()
                .for_each(|sender| sender.join().unwrap())
        });
        within(joined).await.unwrap();
        within(requeuer.stop()).await
    });
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(report.undelivered, 0, "{report}");
}
