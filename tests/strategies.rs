//! Promise 4: one-for-one restarts only the failed child; one-for-all
//! restarts every child; rest-for-one restarts the failed child and the
//! siblings started after it. Siblings are drained in reverse start order,
//! then everything restarts in start order; earlier siblings keep running and
//! keep their state.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use actix::prelude::*;
use std::time::Duration;

use actix_supervisor::testkit;
use actix_supervisor::{
    ChildHandle, ChildSpec, EventKind, Inspect, NodeState, Strategy, SupervisorActor,
};
use common::*;

/// Logs `started name#n` and `stopped name#n`; counts; panics on request.
struct Member {
    name: &'static str,
    incarnation: u64,
    count: u64,
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
        self.count += 1;
        self.count
    }
}

impl Handler<Panic> for Member {
    type Result = ();
    fn handle(&mut self, msg: Panic, _: &mut Context<Self>) {
        panic!("{}", msg.0);
    }
}

fn member(name: &'static str, log: Recorder<String>) -> ChildSpec<Member> {
    let made = AtomicU64::new(0);
    ChildSpec::new(name, move || Member {
        name,
        incarnation: made.fetch_add(1, Ordering::SeqCst) + 1,
        count: 0,
        log: log.clone(),
    })
}

/// Starts a, b, c under `strategy`, gives each some state, makes b panic, and
/// returns what the members logged after the panic, the incarnations, and
/// the handles.
async fn run(
    strategy: Strategy,
    logged_after_panic: usize,
) -> (Vec<String>, [u64; 3], [ChildHandle<Member>; 3]) {
    let (log, mut logged) = recorder();
    let specs = [
        member("a", log.clone()),
        member("b", log.clone()),
        member("c", log),
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
        within(handle.send(Inc)).await.unwrap();
    }
    for _ in 0..3 {
        logged.next().await;
    }

    assert!(within(handles[1].send(Panic("b failed"))).await.is_err());
    let mut after = Vec::new();
    for _ in 0..logged_after_panic {
        after.push(logged.next().await);
    }
    // Everything restarted answers again; nothing else happened.
    for handle in &handles {
        within(handle.send(Inc)).await.unwrap();
    }
    assert_eq!(logged.drain(), Vec::<String>::new());
    let tree = within(app.send(Inspect)).await.unwrap();
    let incarnation = |name: &str| tree.find(&format!("/app/{name}")).unwrap().incarnation;
    (
        after,
        [incarnation("a"), incarnation("b"), incarnation("c")],
        handles,
    )
}

#[actix_rt::test]
async fn one_for_one_restarts_only_the_failed_child() {
    let (after, incarnations, handles) = run(Strategy::OneForOne, 1).await;
    assert_eq!(after, ["started b#2"]);
    assert_eq!(incarnations, [1, 2, 1]);
    assert_eq!(
        within(handles[0].send(Inc)).await.unwrap(),
        3,
        "a kept its state"
    );
}

#[actix_rt::test]
async fn one_for_all_drains_the_siblings_in_reverse_then_starts_all_in_order() {
    let (after, incarnations, handles) = run(Strategy::OneForAll, 5).await;
    assert_eq!(
        after,
        [
            "stopped c#1",
            "stopped a#1",
            "started a#2",
            "started b#2",
            "started c#2"
        ]
    );
    assert_eq!(incarnations, [2, 2, 2]);
    assert_eq!(
        within(handles[0].send(Inc)).await.unwrap(),
        2,
        "a starts fresh"
    );
}

#[actix_rt::test]
async fn rest_for_one_restarts_the_failed_child_and_those_started_after_it() {
    let (after, incarnations, handles) = run(Strategy::RestForOne, 3).await;
    assert_eq!(after, ["stopped c#1", "started b#2", "started c#2"]);
    assert_eq!(incarnations, [1, 2, 2]);
    assert_eq!(
        within(handles[0].send(Inc)).await.unwrap(),
        3,
        "a kept its state"
    );
    assert_eq!(
        within(handles[2].send(Inc)).await.unwrap(),
        2,
        "c starts fresh"
    );
}

#[actix_rt::test]
async fn messages_sent_to_a_sibling_during_its_strategy_restart_reach_the_next_incarnation() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let a = member("a", log.clone());
    let b = member("b", log).backoff(
        actix_supervisor::Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).jitter(0.0),
    );
    let (a_handle, b_handle) = (a.handle(), b.handle());
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .child(a)
        .child(b)
        .start()
        .unwrap();
    within(a_handle.send(Inc)).await.unwrap();

    assert!(within(b_handle.send(Panic("b failed"))).await.is_err());
    // a was drained and waits, parked, for b's backoff to end.
    let a = testkit::wait_for_node(&app, "/app/a", |a| {
        matches!(a.state, NodeState::Restarting { .. })
    })
    .await;
    assert_eq!(a.incarnation, 1);
    let reply = a_handle.send(Inc);
    assert_eq!(within(reply).await.unwrap(), 1, "handled by a fresh a#2");
    assert_eq!(node(&app, "/app/a").await.incarnation, 2);
}

#[actix_rt::test]
async fn a_stop_during_a_strategy_restart_s_backoff_ends_it_and_frees_the_supervisor() {
    tokio::time::pause();
    let before = testkit::live_actors();
    let (log, _) = recorder();
    let (a, b) = (probe_spec("a", log.clone()), probe_spec("b", log));
    let b = b.backoff(actix_supervisor::Backoff::new(secs(10), secs(10)).jitter(0.0));
    let b_handle = b.handle();
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .child(a)
        .child(b)
        .start()
        .unwrap();
    let recorder = testkit::EventRecorder::start(&app).await.unwrap();
    assert!(within(b_handle.send(Panic("b failed"))).await.is_err());
    recorder
        .wait_for(|e| e.path.as_str() == "/app/b" && matches!(e.kind, EventKind::Restarting { .. }))
        .await;

    let report = within(app.send(actix_supervisor::Stop)).await.unwrap();
    assert!(report.is_drained(), "{report}");
    drop(app);
    // Freed at once, not when the ten-second backoff would have ended.
    testkit::settle_live_actors(before).await.unwrap();
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
