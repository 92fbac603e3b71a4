//! Cancellation (issue 4): each incarnation's factory is given a token that is
//! a child of its supervisor's; it is cancelled when the incarnation ends, so
//! stopping or failing a subtree cancels everything under it and nothing else.

use crate::common;

use actix::prelude::*;
use actix_supervisor::{ChildSpec, Stop, SupervisorActor};
use common::*;
use tokio_util::sync::CancellationToken;

/// Spawns a task that waits on its incarnation's token and records its end.
struct Spawner {
    token: CancellationToken,
    task_ended: Recorder<u64>,
    incarnation: u64,
}

impl Actor for Spawner {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        let (token, ended, incarnation) = (
            self.token.clone(),
            self.task_ended.clone(),
            self.incarnation,
        );
        actix::spawn(async move {
            token.cancelled().await;
            ended.record(incarnation);
        });
    }
}
actix_supervisor::supervised!(Spawner);

impl Handler<Panic> for Spawner {
    type Result = ();
    fn handle(&mut self, msg: Panic, _: &mut Context<Self>) {
        panic!("{}", msg.0);
    }
}

/// A spec whose factory hands each incarnation's token to the test too.
fn spawner(
    name: &str,
    tokens: Recorder<CancellationToken>,
    task_ended: Recorder<u64>,
) -> ChildSpec<Spawner> {
    ChildSpec::with_context(name, move |start| {
        tokens.record(start.token().clone());
        Spawner {
            token: start.token().clone(),
            task_ended: task_ended.clone(),
            incarnation: start.incarnation(),
        }
    })
}

#[actix_rt::test]
async fn each_incarnation_gets_a_token_cancelled_when_it_ends() {
    let (tokens, mut given) = recorder();
    let (ended, mut task_ended) = recorder();
    let spec = spawner("spawner", tokens, ended);
    let handle = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();

    let first = given.next().await;
    assert!(within(handle.send(Panic("boom"))).await.is_err());
    assert_eq!(
        task_ended.next().await,
        1,
        "the first incarnation's task ended"
    );
    let second = given.next().await;
    assert!(first.is_cancelled());
    assert!(
        !second.is_cancelled(),
        "the next incarnation has a fresh token"
    );
}

#[actix_rt::test]
async fn the_token_is_cancelled_when_the_stop_begins_not_when_the_drain_ends() {
    let (tokens, mut given) = recorder();
    let (ended, _task_ended) = recorder();
    let spec = spawner("spawner", tokens, ended);
    let handle = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    let token = given.next().await;
    // Hold the drain open with a message that waits on a gate.
    let gate = Gate::new();
    within(handle.send(HoldOn(gate.clone()))).await.unwrap();

    let stopping = app.send(actix_supervisor::StopChild::new("spawner"));
    within(app.send(actix_supervisor::Inspect)).await.unwrap();
    within(token.cancelled()).await;
    assert!(!handle.is_accepting(), "the drain is still going on");
    gate.open();
    within(stopping).await.unwrap().unwrap();
}

/// Waits on a gate, with `ctx.wait`.
#[derive(Message)]
#[rtype(result = "()")]
struct HoldOn(Gate);

impl Handler<HoldOn> for Spawner {
    type Result = ();
    fn handle(&mut self, msg: HoldOn, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future::<_, Self>(msg.0.passed()));
    }
}

#[actix_rt::test]
async fn stopping_one_child_cancels_its_token_and_no_other() {
    let (tokens, mut given) = recorder();
    let (ended, mut task_ended) = recorder();
    let left = spawner("left", tokens.clone(), ended.clone());
    let right = spawner("right", tokens, ended);
    let left_handle = left.handle();
    let _app = SupervisorActor::builder("app")
        .child(left)
        .child(right)
        .start()
        .unwrap();
    let (left_token, right_token) = (given.next().await, given.next().await);

    within(left_handle.stop()).await;
    assert_eq!(task_ended.next().await, 1);
    assert!(left_token.is_cancelled());
    assert!(
        !right_token.is_cancelled(),
        "the sibling's token is untouched"
    );
}

#[actix_rt::test]
async fn stopping_a_supervisor_cancels_every_token_below_it() {
    let (tokens, mut given) = recorder();
    let (ended, mut task_ended) = recorder();
    let app = SupervisorActor::builder("app")
        .child(spawner("a", tokens.clone(), ended.clone()))
        .child(spawner("b", tokens, ended))
        .start()
        .unwrap();
    let (a, b) = (given.next().await, given.next().await);

    let report = within(app.send(Stop)).await.unwrap();
    assert!(report.is_drained());
    assert!(a.is_cancelled() && b.is_cancelled());
    assert_eq!([task_ended.next().await, task_ended.next().await], [1, 1]);
}
