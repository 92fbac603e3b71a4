//! Promise 4: one-for-one restarts only the failed child; one-for-all
//! restarts every child; rest-for-one restarts the failed child and the
//! siblings started after it. Siblings are drained in reverse start order,
//! then everything restarts in start order; earlier siblings keep running and
//! keep their state.

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};

use actix::prelude::*;
use std::time::Duration;

use actix_supervisor::testkit;
use actix_supervisor::{
    events::EventKind, snapshot::NodeState, ChildHandle, ChildSpec, Inspect, Strategy,
    SupervisorActor,
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

// Defect 5 (issue 13): a one-for-all restart drain cut short by the grace
// left its drain marker in the mailbox; a later stop was credited with it
// early and dropped the messages sent through the raw `Addr` while the
// report said `Drained`.
#[actix_rt::test]
async fn a_restart_drain_cut_short_never_ends_a_later_stop_early() {
    tokio::time::pause();
    let (tally_log, mut tally_events) = recorder();
    let (probe_log, _probe_events) = recorder();
    let tally = tally_spec("tally", tally_log)
        .grace(actix_supervisor::Grace::Duration(Duration::from_secs(1)));
    let (tally_handle, raw) = (tally.handle(), tally.address());
    let crashy = probe_spec("crashy", probe_log);
    let crashy_handle = crashy.handle();
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .intensity(unlimited())
        .child(tally)
        .child(crashy)
        .start()
        .unwrap();
    within(tally_handle.started()).await.unwrap();
    within(crashy_handle.started()).await.unwrap();

    // The first incarnation blocks for good; the second will block on
    // `second`, with the first drain's marker queued behind it.
    let (first, second, third) = (Gate::new(), Gate::new(), Gate::new());
    raw.do_send(Hold(1, first.clone()));
    raw.do_send(Hold(2, second.clone()));
    let _ = within(crashy_handle.send(Panic("one for all"))).await;

    // The restart drain of `tally` times out; its next incarnation runs and
    // waits on `second`.
    testkit::wait_for_node(&app, "/app/tally", |n| {
        n.incarnation >= 2 && n.state == NodeState::Running
    })
    .timeout(Duration::from_secs(60))
    .describe("tally restarted after its drain timed out")
    .await;

    // Behind the old marker: a message that waits on `third`, then five.
    raw.do_send(Hold(3, third.clone()));
    for _ in 0..5 {
        raw.do_send(Bump);
    }
    let stopping = tally_handle.stop();
    tokio::pin!(stopping);
    second.open();
    // The old marker is reached now, with `Hold(3)` and the five behind it.
    let early = tokio::time::timeout(Duration::from_millis(10), &mut stopping).await;
    third.open();
    let report = match early {
        Ok(report) => report,
        Err(_) => tokio::time::timeout(Duration::from_secs(60), stopping)
            .await
            .expect("the stop never answered"),
    };

    let events = tally_events.drain();
    let last_stopped = events
        .iter()
        .rev()
        .find_map(|e| match e {
            TallyEvent::Stopped(n) => Some(*n),
            _ => None,
        })
        .expect("`stopped` ran");
    assert_eq!(
        last_stopped, 5,
        "every Bump sent before the stop was handled before it answered: {report}; {events:?}"
    );
    assert!(report.is_drained(), "{report}");
}

// Attack (passes on the current code; guards the lifecycle rewrite):
// a stop of a child while a one-for-all restart drains it
// (its drain blocked on a gate): the stop answers once the drain is done,
// every message accepted before it is handled, and the child is not
// restarted afterwards.
#[actix_rt::test]
async fn a_stop_during_a_strategy_restart_drain_answers_and_is_final() {
    tokio::time::pause();
    let (tally_log, mut tally_events) = recorder();
    let (probe_log, _probe_events) = recorder();
    let tally = tally_spec("tally", tally_log)
        .grace(actix_supervisor::Grace::Duration(Duration::from_secs(60)));
    let tally_handle = tally.handle();
    let crashy = probe_spec("crashy", probe_log);
    let crashy_handle = crashy.handle();
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .intensity(unlimited())
        .child(tally)
        .child(crashy)
        .start()
        .unwrap();
    within(tally_handle.started()).await.unwrap();
    within(crashy_handle.started()).await.unwrap();

    let gate = Gate::new();
    tally_handle.do_send(Hold(1, gate.clone())).unwrap();
    for _ in 0..5 {
        tally_handle.do_send(Bump).unwrap();
    }
    let _ = within(crashy_handle.send(Panic("one for all"))).await;
    testkit::wait_for_node(&app, "/app/tally", |n| n.state == NodeState::Stopping)
        .timeout(Duration::from_secs(10))
        .describe("tally drains for the one-for-all restart")
        .await;

    let stopping = tally_handle.stop();
    gate.open();
    let report = tokio::time::timeout(Duration::from_secs(600), stopping)
        .await
        .expect("the stop during a restart drain never answered");
    assert!(report.is_drained(), "{report}");
    let counts: Vec<u64> = tally_events
        .drain()
        .into_iter()
        .filter_map(|e| match e {
            TallyEvent::Stopped(n) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(counts.last(), Some(&5), "every Bump handled: {counts:?}");
    let node = testkit::wait_for_node(&app, "/app/tally", |n| n.state.is_terminal())
        .timeout(Duration::from_secs(60))
        .describe("tally ends for good")
        .await;
    assert_eq!(node.state, NodeState::Stopped, "{node:?}");
    assert_eq!(
        node.incarnation, 1,
        "not restarted after its stop: {node:?}"
    );
}

/// `first` and `second` (an hour of backoff) under `strategy`; `second`
/// has just failed, so the restart waits out its backoff. Returns the
/// supervisor, both handles and the probes' log.
async fn strategy_restart_in_backoff(
    strategy: Strategy,
) -> (
    Addr<SupervisorActor>,
    ChildHandle<Probe>,
    ChildHandle<Probe>,
    Records<Event>,
) {
    let (log, events) = recorder();
    let first = probe_spec("first", log.clone());
    let second = probe_spec("second", log)
        .backoff(actix_supervisor::Backoff::new(secs(3600), secs(3600)).jitter(0.0));
    let (first_handle, second_handle) = (first.handle(), second.handle());
    let app = SupervisorActor::builder("app")
        .strategy(strategy)
        .intensity(unlimited())
        .child(first)
        .child(second)
        .start()
        .unwrap();
    within(first_handle.started()).await.unwrap();
    within(second_handle.started()).await.unwrap();
    assert!(within(second_handle.send(Panic("second failed")))
        .await
        .is_err());
    (app, first_handle, second_handle, events)
}

fn handled_by(events: Vec<Event>, incarnation: u64) -> Vec<u32> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Handled { incarnation: i, n } if i == incarnation => Some(n),
            _ => None,
        })
        .collect()
}

// Attack (passes): a sibling parked for a one-for-all restart (it waits for the
// failed child's hour of backoff), with messages accepted through its
// handle, is stopped: its stop drains them at once (not after the
// backoff), and the strategy restart that follows does not bring it back.
#[actix_rt::test]
async fn a_stop_of_a_sibling_parked_for_a_one_for_all_restart_drains_at_once_and_is_final() {
    tokio::time::pause();
    let (app, first, second, mut events) = strategy_restart_in_backoff(Strategy::OneForAll).await;
    testkit::wait_for_node(&app, "/app/first", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    })
    .timeout(secs(60))
    .describe("first parked for the one-for-all restart")
    .await;
    for n in 1..=3 {
        first.do_send(Record(n)).unwrap();
    }
    let report = tokio::time::timeout(secs(1), first.stop())
        .await
        .expect("the stop of a parked sibling waited out the failed child's backoff");
    assert_eq!(handled_by(events.drain(), 2), [1, 2, 3], "{report}");
    assert_eq!((report.drained, report.undelivered), (3, 0), "{report}");
    assert!(report.is_drained(), "{report}");

    // The strategy restart goes on for `second` alone.
    let restarted = tokio::time::timeout(secs(7200), second.send(Inc))
        .await
        .expect("second never restarted after its backoff");
    assert_eq!(restarted.unwrap(), 1);
    let node = node(&app, "/app/first").await;
    assert_eq!(node.state, NodeState::Stopped, "{node:?}");
    assert_eq!(
        node.incarnation, 2,
        "not restarted after its stop: {node:?}"
    );
    assert!(matches!(
        first.do_send(Record(9)),
        Err(actix_supervisor::SendError::Gone { .. })
    ));
}

// Attack (passes): under rest-for-one, the failed child is stopped during its
// backoff while the sibling started after it waits, parked, with a message
// accepted through its handle. The stop answers at once; the parked
// sibling is not left parked for ever: it runs again and handles what
// waited for it.
#[actix_rt::test]
async fn stopping_the_failed_child_of_a_rest_for_one_restart_does_not_strand_its_parked_siblings() {
    tokio::time::pause();
    let (log, mut events) = recorder();
    let failing = probe_spec("failing", log.clone())
        .backoff(actix_supervisor::Backoff::new(secs(3600), secs(3600)).jitter(0.0));
    let after = probe_spec("after", log);
    let (failing_handle, after_handle) = (failing.handle(), after.handle());
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::RestForOne)
        .intensity(unlimited())
        .child(failing)
        .child(after)
        .start()
        .unwrap();
    within(failing_handle.started()).await.unwrap();
    within(after_handle.started()).await.unwrap();
    assert!(within(failing_handle.send(Panic("failing failed")))
        .await
        .is_err());
    testkit::wait_for_node(&app, "/app/after", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    })
    .timeout(secs(60))
    .describe("after parked for the rest-for-one restart")
    .await;
    after_handle.do_send(Record(1)).unwrap();

    let report = tokio::time::timeout(secs(1), failing_handle.stop())
        .await
        .expect("the stop of the failed child waited out its backoff");
    assert!(report.is_drained(), "{report}");
    let answer = tokio::time::timeout(secs(7200), after_handle.send(Get))
        .await
        .expect("the sibling parked for the rest-for-one restart was stranded: it never ran again");
    let (incarnation, _) = answer.unwrap();
    assert_eq!(incarnation, 2);
    assert_eq!(handled_by(events.drain(), 2), [1]);
    let state = node(&app, "/app/after").await.state;
    assert_eq!(state, NodeState::Running);
}

// Attack (passes): the supervisor is stopped while a one-for-all restart waits out
// the failed child's backoff and both children have messages waiting
// (through their handles): the supervisor's stop drains them all at once
// and reports them.
#[actix_rt::test]
async fn a_supervisor_stop_during_a_one_for_all_backoff_drains_what_waits_for_every_child() {
    tokio::time::pause();
    let (app, first, second, mut events) = strategy_restart_in_backoff(Strategy::OneForAll).await;
    testkit::wait_for_node(&app, "/app/first", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    })
    .timeout(secs(60))
    .describe("first parked for the one-for-all restart")
    .await;
    first.do_send(Record(1)).unwrap();
    second.do_send(Record(2)).unwrap();
    let report = tokio::time::timeout(secs(1), app.send(actix_supervisor::Stop))
        .await
        .expect("the supervisor's stop waited out the backoff")
        .unwrap();
    let mut done = handled_by(events.drain(), 2);
    done.sort();
    assert_eq!(done, [1, 2], "{report}");
    for path in ["/app/first", "/app/second"] {
        let child = report.find(path).unwrap();
        assert_eq!((child.drained, child.undelivered), (1, 0), "{report}");
    }
    assert!(report.is_drained(), "{report}");
}

// Found by attack: a sibling parked for a one-for-all restart (the failed
// child waits out an hour of backoff) is stopped with messages waiting;
// its factory panics from its second incarnation on, under a restart
// intensity that never trips. The stop must answer by its grace (300 ms) at
// the latest, with the waiting messages undelivered. Real time: a restart
// loop would keep paused time from moving.
#[actix_rt::test]
async fn a_stop_of_a_parked_sibling_whose_factory_then_fails_answers_by_its_grace() {
    let (log, mut events) = recorder();
    let made = std::sync::Arc::new(AtomicU64::new(0));
    let first_log = log.clone();
    let first = ChildSpec::new("first", move || {
        let incarnation = made.fetch_add(1, Ordering::SeqCst) + 1;
        if incarnation >= 2 {
            panic!("the factory panics from the second incarnation on");
        }
        Probe {
            incarnation,
            count: 0,
            log: first_log.clone(),
        }
    })
    .grace(actix_supervisor::Grace::Duration(Duration::from_millis(
        300,
    )));
    let second = probe_spec("second", log)
        .backoff(actix_supervisor::Backoff::new(secs(3600), secs(3600)).jitter(0.0));
    let (first_handle, second_handle) = (first.handle(), second.handle());
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .intensity(unlimited())
        .child(first)
        .child(second)
        .start()
        .unwrap();
    within(first_handle.started()).await.unwrap();
    within(second_handle.started()).await.unwrap();
    assert!(within(second_handle.send(Panic("second failed")))
        .await
        .is_err());
    testkit::wait_for_node(&app, "/app/first", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    })
    .timeout(secs(60))
    .describe("first parked for the one-for-all restart")
    .await;
    for n in 1..=3 {
        first_handle.do_send(Record(n)).unwrap();
    }
    let report = tokio::time::timeout(secs(10), first_handle.stop())
        .await
        .expect("the stop never answered: the drain incarnation's factory fails again and again");
    assert_eq!(handled_by(events.drain(), 2), Vec::<u32>::new(), "{report}");
    assert_eq!(report.undelivered, 3, "{report}");
    assert!(!report.is_drained(), "{report}");
}
