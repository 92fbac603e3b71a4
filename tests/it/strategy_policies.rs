//! Promise 4 with promise 2: a strategy restart honours each bystander's
//! own policy. When `b` fails, the siblings the strategy takes along are
//! drained in reverse start order; a `Never` bystander then ends for good
//! (it runs once), an `OnFailure` or `Always` bystander starts again with
//! `b`, in start order. `OnFailure` bystanders restart because the strategy
//! ended them: they did not end on their own (OTP restarts `transient`
//! bystanders too). Each test asserts the order of the actors' own hooks.

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;

use actix_supervisor::{
    snapshot::NodeState, ChildHandle, ChildSpec, Inspect, RestartPolicy, SendError, Strategy,
    SupervisorActor,
};
use common::*;

/// Logs `started name#n` and `stopped name#n`; panics on request.
struct Member {
    name: &'static str,
    incarnation: u64,
    log: Recorder<String>,
}

impl Actor for Member {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.log
            .record(format!("started {}#{}", self.name, self.incarnation));
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.log
            .record(format!("stopped {}#{}", self.name, self.incarnation));
    }
}
actix_supervisor::supervised!(Member);

impl Handler<Inc> for Member {
    type Result = u64;
    fn handle(&mut self, _: Inc, _: &mut Context<Self>) -> u64 {
        self.incarnation
    }
}

impl Handler<Panic> for Member {
    type Result = ();
    fn handle(&mut self, msg: Panic, _: &mut Context<Self>) {
        panic!("{}", msg.0);
    }
}

fn member(name: &'static str, policy: RestartPolicy, log: Recorder<String>) -> ChildSpec<Member> {
    let made = Arc::new(AtomicU64::new(0));
    ChildSpec::new(name, move || Member {
        name,
        incarnation: made.fetch_add(1, Ordering::SeqCst) + 1,
        log: log.clone(),
    })
    .restart(policy)
}

/// What one run showed.
struct Outcome {
    /// The hooks that ran after `b` panicked, in order.
    after: Vec<String>,
    /// The state and incarnation of a, b, c once it settled.
    nodes: [(NodeState, u64); 3],
    handles: [ChildHandle<Member>; 3],
}

/// Starts a, b, c under `strategy`, a and c with `bystanders`' policy and b
/// `OnFailure`; makes b panic; collects the `hooks` logged after it.
async fn run(strategy: Strategy, bystanders: RestartPolicy, hooks: usize) -> Outcome {
    let (log, mut logged) = recorder();
    let specs = [
        member("a", bystanders, log.clone()),
        member("b", RestartPolicy::OnFailure, log.clone()),
        member("c", bystanders, log),
    ];
    let handles = [specs[0].handle(), specs[1].handle(), specs[2].handle()];
    let [a, b, c] = specs;
    let app = SupervisorActor::builder("app")
        .strategy(strategy)
        .child(a)
        .child(b)
        .child(c)
        .start()
        .unwrap();
    for handle in &handles {
        within(handle.started()).await.unwrap();
    }
    let mut started = Vec::new();
    for _ in 0..3 {
        started.push(logged.next().await);
    }
    assert_eq!(started, ["started a#1", "started b#1", "started c#1"]);

    assert!(within(handles[1].send(Panic("b failed"))).await.is_err());
    let mut after = Vec::new();
    for _ in 0..hooks {
        after.push(logged.next().await);
    }
    // b is back; every child still there answers; nothing else ran.
    assert_eq!(within(handles[1].send(Inc)).await.unwrap(), 2);
    for handle in &handles {
        let _ = within(handle.send(Inc)).await;
    }
    assert_eq!(logged.drain(), Vec::<String>::new());
    let tree = within(app.send(Inspect)).await.unwrap();
    let node = |name: &str| {
        let node = tree.find(&format!("/app/{name}")).unwrap();
        (node.state, node.incarnation)
    };
    Outcome {
        after,
        nodes: [node("a"), node("b"), node("c")],
        handles,
    }
}

const RUNNING_1: (NodeState, u64) = (NodeState::Running, 1);
const RUNNING_2: (NodeState, u64) = (NodeState::Running, 2);
const STOPPED_1: (NodeState, u64) = (NodeState::Stopped, 1);

/// A bystander that ended for good: drained, and its handle refuses.
async fn assert_ended_for_good(handle: &ChildHandle<Member>) {
    let report = within(handle.stop()).await;
    assert!(report.is_drained(), "{report}");
    assert!(matches!(handle.do_send(Inc), Err(SendError::Gone { .. })));
}

#[actix_rt::test]
async fn one_for_one_leaves_never_bystanders_alone() {
    let run = run(Strategy::OneForOne, RestartPolicy::Never, 1).await;
    assert_eq!(run.after, ["started b#2"]);
    assert_eq!(run.nodes, [RUNNING_1, RUNNING_2, RUNNING_1]);
}

#[actix_rt::test]
async fn one_for_one_leaves_on_failure_bystanders_alone() {
    let run = run(Strategy::OneForOne, RestartPolicy::OnFailure, 1).await;
    assert_eq!(run.after, ["started b#2"]);
    assert_eq!(run.nodes, [RUNNING_1, RUNNING_2, RUNNING_1]);
}

#[actix_rt::test]
async fn one_for_one_leaves_always_bystanders_alone() {
    let run = run(Strategy::OneForOne, RestartPolicy::Always, 1).await;
    assert_eq!(run.after, ["started b#2"]);
    assert_eq!(run.nodes, [RUNNING_1, RUNNING_2, RUNNING_1]);
}

#[actix_rt::test]
async fn one_for_all_drains_never_bystanders_and_ends_them_for_good() {
    let run = run(Strategy::OneForAll, RestartPolicy::Never, 3).await;
    assert_eq!(run.after, ["stopped c#1", "stopped a#1", "started b#2"]);
    assert_eq!(run.nodes, [STOPPED_1, RUNNING_2, STOPPED_1]);
    assert_ended_for_good(&run.handles[0]).await;
    assert_ended_for_good(&run.handles[2]).await;
}

#[actix_rt::test]
async fn one_for_all_restarts_on_failure_bystanders_it_stopped() {
    let run = run(Strategy::OneForAll, RestartPolicy::OnFailure, 5).await;
    assert_eq!(
        run.after,
        [
            "stopped c#1",
            "stopped a#1",
            "started a#2",
            "started b#2",
            "started c#2"
        ]
    );
    assert_eq!(run.nodes, [RUNNING_2, RUNNING_2, RUNNING_2]);
}

#[actix_rt::test]
async fn one_for_all_restarts_always_bystanders() {
    let run = run(Strategy::OneForAll, RestartPolicy::Always, 5).await;
    assert_eq!(
        run.after,
        [
            "stopped c#1",
            "stopped a#1",
            "started a#2",
            "started b#2",
            "started c#2"
        ]
    );
    assert_eq!(run.nodes, [RUNNING_2, RUNNING_2, RUNNING_2]);
}

#[actix_rt::test]
async fn rest_for_one_drains_later_never_bystanders_and_ends_them_for_good() {
    let run = run(Strategy::RestForOne, RestartPolicy::Never, 2).await;
    assert_eq!(run.after, ["stopped c#1", "started b#2"]);
    assert_eq!(run.nodes, [RUNNING_1, RUNNING_2, STOPPED_1]);
    assert_ended_for_good(&run.handles[2]).await;
}

#[actix_rt::test]
async fn rest_for_one_restarts_later_on_failure_bystanders_it_stopped() {
    let run = run(Strategy::RestForOne, RestartPolicy::OnFailure, 3).await;
    assert_eq!(run.after, ["stopped c#1", "started b#2", "started c#2"]);
    assert_eq!(run.nodes, [RUNNING_1, RUNNING_2, RUNNING_2]);
}

#[actix_rt::test]
async fn rest_for_one_restarts_later_always_bystanders() {
    let run = run(Strategy::RestForOne, RestartPolicy::Always, 3).await;
    assert_eq!(run.after, ["stopped c#1", "started b#2", "started c#2"]);
    assert_eq!(run.nodes, [RUNNING_1, RUNNING_2, RUNNING_2]);
}

#[actix_rt::test]
async fn a_temporary_never_bystander_leaves_the_tree_after_its_drain() {
    let (log, mut logged) = recorder();
    let a = member("a", RestartPolicy::Never, log.clone()).remove_on_exit();
    let b = member("b", RestartPolicy::OnFailure, log);
    let (a_handle, b_handle) = (a.handle(), b.handle());
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .child(a)
        .child(b)
        .start()
        .unwrap();
    within(b_handle.started()).await.unwrap();
    assert!(within(b_handle.send(Panic("b failed"))).await.is_err());
    assert_eq!(within(b_handle.send(Inc)).await.unwrap(), 2);
    let mut hooks = Vec::new();
    for _ in 0..4 {
        hooks.push(logged.next().await);
    }
    assert_eq!(
        hooks,
        ["started a#1", "started b#1", "stopped a#1", "started b#2"]
    );
    assert!(within(a_handle.stop()).await.is_drained());
    let tree = within(app.send(Inspect)).await.unwrap();
    assert!(tree.find("/app/a").is_none(), "{tree}");
}
