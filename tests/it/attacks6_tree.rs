//! Sixth outside attack, on trees: a three-level subtree stopped at every
//! level at once from several OS threads; an escalation that reaches a
//! parent already stopping; children started into a subtree whose parent
//! is stopping; control requests given up half way.
//!
//! The promises attacked (README, `docs/design.md` promises 3, 7, 9, 10, 12):
//! every stop, `StopChild`, `RestartChild` and `RemoveChild` answers; a
//! second stop gets the same report; nothing accepted is lost; a
//! supervisor past its intensity fails and its parent applies its own
//! policy, which a stop under way overrides (nothing starts again while a
//! stop lasts); `Inspect` shows what runs.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::{
    periodic::{Periodic, TickNow},
    snapshot::NodeState,
    testkit::{self, EventRecorder},
    ChildSpec, ControlError, Grace, Inspect, RemoveChild, RestartChild, RestartIntensity,
    RestartPolicy, StartChild, Stop, StopChild, StopOutcome, Strategy, SupervisorActor,
};

use crate::attacks4_support::quiet_panics;
use crate::attacks6_support::*;
use crate::common::{self, probe_spec, recorder, unlimited, within, Event, Panic};

const HOUR: Duration = Duration::from_secs(3600);

/// Asserts that no node of the tree under `app` is still running or on its
/// way to run again.
async fn assert_all_at_rest(app: &Addr<SupervisorActor>, case: &str) {
    let Ok(tree) = app.send(Inspect).await else {
        return; // the root is gone: nothing of it runs
    };
    for node in tree.root.iter() {
        assert!(
            node.state.is_terminal(),
            "{case}: {} is {:?} after every stop answered:\n{tree}",
            node.path,
            node.state
        );
    }
}

/// Promise (README "every `Stop` ... answers", design promise 10 "A second
/// `Stop` gets the same report; a `Stop` during ... another stop behaves",
/// promise 7 "Nothing accepted before the stop is lost"): a subtree three
/// levels deep, stopped at once from four OS threads (the leaf's handle, the
/// worker's handle, `StopChild` to the middle supervisor, `Stop` to the
/// root) while its periodic leaf holds a tick with requests behind it,
/// answers every one of them; the leaf's own report is the one in the
/// root's; every request is accounted for; no tick or loop runs during the
/// stop without seeing it.
#[actix_rt::test]
async fn a_three_level_subtree_stopped_at_every_level_from_four_threads_answers_each_once() {
    for round in 0..5 {
        let case = format!("round {round}");
        let (tick_factory, mut tick) = held_tick(Ending::Ok);
        let (loop_factory, mut looped) = held_loop(Ending::Ok);
        let ticker_spec = ChildSpec::periodic("ticker", Periodic::every(HOUR), tick_factory);
        let looper_spec = ChildSpec::worker("looper", loop_factory);
        let ticker = ticker_spec.handle();
        let looper = looper_spec.handle();
        let tenant = SupervisorActor::builder("tenant")
            .child(ticker_spec)
            .child(looper_spec);
        let region = SupervisorActor::builder("region").child(tenant);
        let region_addr = region.address();
        let app = SupervisorActor::builder("app")
            .child(region)
            .start()
            .unwrap();
        assert_eq!(tick.next_entered().await, 1, "{case}");
        assert_eq!(looped.next_entered().await, 1, "{case}");

        let kept = send_notes(&ticker, &tick.book, 0..6);
        let abandoned = abandon_notes(&ticker, &tick.book, 6..9).await;
        let go = Arc::new(Barrier::new(4));
        let leaf = {
            let (go, ticker) = (go.clone(), ticker.clone());
            on_other_thread(move || {
                go.wait();
                ticker.stop()
            })
        };
        let worker = {
            let (go, looper) = (go.clone(), looper.clone());
            on_other_thread(move || {
                go.wait();
                looper.stop()
            })
        };
        let middle = {
            let (go, region_addr) = (go.clone(), region_addr.clone());
            on_other_thread(move || {
                go.wait();
                region_addr.send(StopChild::new("tenant"))
            })
        };
        let root = {
            let (go, app) = (go.clone(), app.clone());
            on_other_thread(move || {
                go.wait();
                app.send(Stop)
            })
        };
        testkit::wait_for_node(&app, "/app/region/tenant/ticker", |n| {
            n.state == NodeState::Stopping
        })
        .describe("the ticker is stopping")
        .await;
        tick.gate.open();
        looped.gate.open();

        let root = joined(root).await.expect("the root answers its stop");
        let leaf = joined(leaf).await;
        let worker = joined(worker).await;
        let middle = joined(middle).await.expect("the middle supervisor answers");
        let fared = within(kept).await.unwrap();

        assert_eq!(
            Some(&leaf),
            root.find("/app/region/tenant/ticker"),
            "{case}: the leaf's handle and the root tell two stories:\n{root}"
        );
        assert_eq!(
            Some(&worker),
            root.find("/app/region/tenant/looper"),
            "{case}: the worker's handle and the root tell two stories:\n{root}"
        );
        match middle {
            Ok(report) => assert_eq!(
                Some(&report),
                root.find("/app/region/tenant"),
                "{case}: StopChild and the root tell two stories:\n{root}"
            ),
            Err(ControlError::SupervisorStopping { .. }) => {}
            Err(other) => panic!("{case}: StopChild answered {other:?}:\n{root}"),
        }
        let summary = root.summary();
        assert_eq!(summary.nodes, 5, "{case}:\n{root}");
        assert!(summary.stopped_cleanly(), "{case}:\n{root}");
        assert_accounts(&leaf, fared + abandoned, &tick.book, &case);
        assert_eq!(fared.answered, 6, "{case}: {fared:?}\n{root}");
        assert_eq!(
            tick.book.runs(),
            [(1, false)],
            "{case}: a tick began in the stop"
        );
        assert_eq!(
            looped.book.runs(),
            [(1, false)],
            "{case}: a loop began in the stop"
        );
        assert_all_at_rest(&app, &case).await;
    }
}

/// A root (one-for-all) over "region" (a supervisor allowing no restart,
/// over a probe) and "slow" (a periodic child depending on "region", its
/// first tick held). The root's stop is started, and has reached "slow";
/// then the probe panics, so "region" gives up while its parent stops.
struct Escalating {
    app: Addr<SupervisorActor>,
    stop: actix_rt::task::JoinHandle<Result<actix_supervisor::StopReport, MailboxError>>,
    probe_log: common::Records<Event>,
    held: Held,
    recorded: EventRecorder,
}

async fn escalate_during_the_root_s_stop(
    slow_grace: Grace,
    arbiter: Option<ArbiterHandle>,
) -> Escalating {
    quiet_panics();
    let (log, mut probe_log) = recorder();
    let probe = probe_spec("probe", log);
    let probe_handle = probe.handle();
    let mut region = SupervisorActor::builder("region")
        .intensity(RestartIntensity::new(0, HOUR))
        .child(probe);
    if let Some(arbiter) = arbiter {
        region = region.on_arbiter(arbiter);
    }
    let (tick_factory, mut held) = held_tick(Ending::Ok);
    // "slow" depends on "region", so the root's stop drains "slow" first and
    // stops "region" only once "slow" ended.
    let slow = ChildSpec::periodic("slow", Periodic::every(HOUR), tick_factory)
        .depends_on("region")
        .grace(slow_grace);
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .intensity(unlimited())
        .child(region.restart(RestartPolicy::Always))
        .child(slow)
        .start()
        .unwrap();
    let recorded = EventRecorder::start(&app).await.unwrap();
    assert_eq!(probe_log.next().await, Event::Started(1));
    assert_eq!(held.next_entered().await, 1);

    let stop = actix_rt::spawn(app.send(Stop));
    testkit::wait_for_node(&app, "/app/slow", |n| n.state == NodeState::Stopping)
        .describe("the root's stop reached slow")
        .await;
    assert!(probe_handle.send(Panic("boom")).await.is_err());
    testkit::wait_for_node(&app, "/app/region", |n| n.last_failure.is_some())
        .describe("region gave up and escalated")
        .await;
    Escalating {
        app,
        stop,
        probe_log,
        held,
        recorded,
    }
}

/// Promise (design promise 3 "past it the supervisor stops its other
/// children ... and fails, and its parent applies its own policy", promise
/// 10 "a `Stop` during ... another stop behaves"; README "every stop
/// answers"): a nested supervisor that gives up while its parent's stop is
/// under way (the parent still draining a later sibling) escalates to a
/// parent that starts nothing again: neither the failed subtree nor a
/// sibling is restarted by the one-for-all strategy, and the root's stop
/// answers.
#[actix_rt::test]
async fn an_escalation_reaching_a_one_for_all_root_during_its_stop_restarts_nothing() {
    for round in 0..5 {
        let case = format!("round {round}");
        let Escalating {
            app,
            stop,
            mut probe_log,
            held,
            recorded,
        } = escalate_during_the_root_s_stop(Grace::Duration(HOUR), None).await;
        held.gate.open();

        let report = within(stop)
            .await
            .expect("the stop task")
            .expect("the root answers its stop");
        assert_ne!(report.outcome, StopOutcome::TimedOut, "{case}:\n{report}");
        assert!(
            report.find("/app/region/probe").is_some(),
            "{case}:\n{report}"
        );
        let mut seen = probe_log.drain();
        seen.retain(|e| matches!(e, Event::Started(_)));
        assert_eq!(seen, [], "{case}: the probe started again during the stop");
        assert_eq!(
            held.book.built(),
            1,
            "{case}: slow was built again:\n{report}"
        );
        assert_eq!(held.book.runs(), [(1, false)], "{case}");
        let kinds = recorded.kinds("/app/region");
        assert!(
            !kinds.contains(&"started"),
            "{case}: region started again during its parent's stop: {kinds:?}"
        );
        assert_all_at_rest(&app, &case).await;
    }
}

/// Promise (design promise 1 "Each node is in exactly one of ... states",
/// 13 "`Inspect` answers" the tree; `StopReport::ended_on_its_own` "a
/// supervisor that gave up. Its report is the one made then", and
/// `StopOutcome::Failed` "or the node had already given up after this
/// failure when the stop came"): a nested supervisor that gave up while its
/// parent stops, and that nothing will restart (its parent is stopping),
/// is not shown as `Restarting { next_start_in: 0 }` for as long as the
/// parent's stop lasts, and its report says it gave up.
#[actix_rt::test]
async fn a_subtree_that_gave_up_while_its_parent_stops_is_shown_and_reported_as_given_up() {
    given_up_during_the_parent_s_stop(None).await;
}

/// The same, with the subtree on another arbiter: its escalation is decided
/// by the parent's relay, which restarts nothing while the parent stops.
#[actix_rt::test]
async fn a_subtree_on_another_arbiter_that_gave_up_while_its_parent_stops_is_reported_as_given_up()
{
    let other = Arbiter::new();
    given_up_during_the_parent_s_stop(Some(other.handle())).await;
    other.stop();
    other.join().expect("the arbiter's thread ends");
}

async fn given_up_during_the_parent_s_stop(arbiter: Option<ArbiterHandle>) {
    let Escalating {
        app, stop, held, ..
    } = escalate_during_the_root_s_stop(Grace::Infinity, arbiter).await;
    let tree = within(app.send(Inspect)).await.unwrap();
    let region = tree.find("/app/region").unwrap().clone();
    held.gate.open();
    let report = within(stop)
        .await
        .expect("the stop task")
        .expect("the root answers its stop");
    assert!(
        !matches!(region.state, NodeState::Restarting { .. }),
        "region gave up and its parent is stopping: nothing will restart it, yet \
         Inspect shows it restarting:\n{tree}\nthen the stop reported:\n{report}"
    );
    let region = report.find("/app/region").unwrap();
    assert!(
        matches!(region.outcome, StopOutcome::Failed(_)) && region.ended_on_its_own,
        "region gave up before the stop reached it, yet its report says:\n{report}"
    );
}

/// Promise (design promise 12 "`StartChild` ... at run time", promise 7
/// "Nothing accepted before the stop is lost", README "every stop
/// answers"): children started into a middle supervisor while the root's
/// stop is under way (once before the stop reaches the middle, once while
/// the middle drains) are either refused or started and then stopped by
/// that same stop: each start answers, each started child's `ended()`
/// answers with the report the root's stop holds, and nothing runs after.
#[actix_rt::test]
async fn children_started_into_a_subtree_while_its_parent_stops_are_refused_or_stopped_with_it() {
    for round in 0..5 {
        let case = format!("round {round}");
        let (inner_factory, mut inner) = held_tick(Ending::Ok);
        let region = SupervisorActor::builder("region").child(ChildSpec::periodic(
            "inner",
            Periodic::every(HOUR),
            inner_factory,
        ));
        let region_addr = region.address();
        let (slow_factory, mut slow) = held_tick(Ending::Ok);
        let app = SupervisorActor::builder("app")
            .child(region)
            .child(
                ChildSpec::periodic("slow", Periodic::every(HOUR), slow_factory)
                    .depends_on("region"),
            )
            .start()
            .unwrap();
        assert_eq!(inner.next_entered().await, 1, "{case}");
        assert_eq!(slow.next_entered().await, 1, "{case}");

        let stop = actix_rt::spawn(app.send(Stop));
        testkit::wait_for_node(&app, "/app/slow", |n| n.state == NodeState::Stopping)
            .describe("the root's stop reached slow")
            .await;
        let (early_factory, mut early) = held_tick(Ending::Ok);
        let early_spec = ChildSpec::periodic("early", Periodic::every(HOUR), early_factory);
        let early_handle = early_spec.handle();
        let early_start = {
            let region_addr = region_addr.clone();
            joined(on_other_thread(move || async move {
                region_addr.send(StartChild::new(early_spec)).await
            }))
            .await
            .expect("region answers")
        };
        if early_start.is_ok() {
            assert_eq!(early.next_entered().await, 1, "{case}");
            early.gate.open();
        }
        slow.gate.open();
        testkit::wait_for_node(&app, "/app/region/inner", |n| {
            n.state == NodeState::Stopping
        })
        .describe("region drains inner")
        .await;
        let (late_factory, _late) = held_tick(Ending::Ok);
        let late_spec = ChildSpec::periodic("late", Periodic::every(HOUR), late_factory);
        let late_handle = late_spec.handle();
        let late_start = joined(on_other_thread(move || async move {
            region_addr.send(StartChild::new(late_spec)).await
        }))
        .await
        .expect("region answers");
        inner.gate.open();

        let report = within(stop)
            .await
            .expect("the stop task")
            .expect("the root answers its stop");
        for (name, start, handle) in [
            ("early", early_start, early_handle),
            ("late", late_start, late_handle),
        ] {
            let path = format!("/app/region/{name}");
            let ended = within(handle.ended()).await;
            match start {
                Ok(()) => {
                    assert_eq!(
                        Some(&ended),
                        report.find(&path),
                        "{case}: {name} started, but its end is not the root's report:\n{report}"
                    );
                    assert!(ended.is_drained(), "{case}: {name}:\n{report}");
                }
                Err(ControlError::SupervisorStopping { .. }) => {
                    assert!(
                        report.find(&path).is_none(),
                        "{case}: {name} refused, yet in\n{report}"
                    );
                    assert_eq!(ended.outcome, StopOutcome::NotStarted, "{case}: {name}");
                }
                Err(other) => panic!("{case}: {name}'s start answered {other:?}"),
            }
            assert!(
                handle.send(TickNow).await.is_err(),
                "{case}: {name} takes work"
            );
        }
        assert!(report.summary().stopped_cleanly(), "{case}:\n{report}");
        assert_all_at_rest(&app, &case).await;
    }
}

/// Promise (README "every stop, `RemoveChild`, `RestartChild` answers";
/// `ChildHandle::send` docs "Dropping the future before it completes
/// cancels the request"; design promise 10): control requests about a
/// draining child, each given up by its requester after the supervisor
/// took it, leave a tree that still answers: the child's stop ends with
/// one report for every asker, a later `RemoveChild` answers (the report or
/// `UnknownChild`), and what `Inspect` shows agrees with it.
#[actix_rt::test]
async fn control_requests_given_up_half_way_about_a_draining_child_leave_a_tree_that_answers() {
    for round in 0..5 {
        let case = format!("round {round}");
        let (factory, mut held) = held_tick(Ending::Ok);
        let spec = ChildSpec::periodic("ticker", Periodic::every(HOUR), factory);
        let ticker = spec.handle();
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();
        assert_eq!(held.next_entered().await, 1, "{case}");
        let kept = send_notes(&ticker, &held.book, 0..4);

        // A StopChild given up once the supervisor took it (the child shows
        // `Stopping`), then a RestartChild and a RemoveChild given up at
        // their first poll, and again after a turn of the runtime.
        {
            let stop_child = app.send(StopChild::new("ticker"));
            tokio::pin!(stop_child);
            let stopping =
                testkit::wait_for_node(&app, "/app/ticker", |n| n.state == NodeState::Stopping)
                    .describe("StopChild took the ticker");
            tokio::select! {
                answer = &mut stop_child => panic!("{case}: StopChild answered while the tick holds: {answer:?}"),
                _ = stopping => {}
            }
        }
        let _ = tokio::time::timeout(Duration::ZERO, app.send(RestartChild::new("ticker"))).await;
        let _ = tokio::time::timeout(Duration::ZERO, app.send(RemoveChild::new("ticker"))).await;
        for _ in 0..3 {
            let restart = app.send(RestartChild::new("ticker"));
            let remove = app.send(RemoveChild::new("ticker"));
            tokio::task::yield_now().await;
            drop((restart, remove));
        }
        let restart = actix_rt::spawn(app.send(RestartChild::new("ticker")));
        held.gate.open();

        let ended = within(ticker.ended()).await;
        let fared = within(kept).await.unwrap();
        assert_accounts(&ended, fared, &held.book, &case);
        assert_eq!(fared.answered, 4, "{case}: {ended}");
        match within(restart).await.unwrap().unwrap() {
            Err(ControlError::ChildStopping { .. }) | Err(ControlError::UnknownChild { .. }) => {}
            other => panic!("{case}: a RestartChild during the stop answered {other:?}"),
        }
        let removed = within(app.send(RemoveChild::new("ticker"))).await.unwrap();
        let tree = within(app.send(Inspect)).await.unwrap();
        match removed {
            Ok(report) => {
                assert_eq!(report, ended, "{case}: two reports for one stop");
                assert!(tree.find("/app/ticker").is_none(), "{case}:\n{tree}");
            }
            Err(ControlError::UnknownChild { .. }) => {
                assert!(tree.find("/app/ticker").is_none(), "{case}:\n{tree}");
            }
            Err(other) => panic!("{case}: RemoveChild answered {other:?}\n{tree}"),
        }
        let stop = within(ticker.stop()).await;
        assert_eq!(stop, ended, "{case}: the handle's stop told another story");
        assert_eq!(held.book.runs(), [(1, false)], "{case}");
        within(app.send(Stop)).await.unwrap();
    }
}

/// Promise (design promise 12 "`RestartChild` ... at run time", `RestartChild`
/// docs "drains its current incarnation ..., then starts a fresh one";
/// promise 6 "The `Addr` a user holds stays valid across restarts"; promise
/// 13 `Inspect` shows incarnations): `RestartChild` of a running nested
/// supervisor whose periodic child holds a tick drains that child (the tick
/// sees the restart, the requests queued behind it are handled), answers
/// once the subtree starts again, and the child's handle reaches its fresh
/// incarnation, which ticks; `Inspect` shows both restarted and running.
#[actix_rt::test]
async fn restart_child_of_a_nested_supervisor_mid_tick_drains_it_and_the_old_handle_reaches_the_new_one(
) {
    for round in 0..5 {
        let case = format!("round {round}");
        let (factory, mut held) = held_tick(Ending::Ok);
        let spec = ChildSpec::periodic("ticker", Periodic::every(HOUR), factory);
        let ticker = spec.handle();
        let app = SupervisorActor::builder("app")
            .child(SupervisorActor::builder("region").child(spec))
            .start()
            .unwrap();
        assert_eq!(held.next_entered().await, 1, "{case}");

        let before = send_notes(&ticker, &held.book, 0..4);
        let restart = actix_rt::spawn(app.send(RestartChild::new("region")));
        held.token_cancelled().await;
        held.gate.open();
        within(restart)
            .await
            .unwrap()
            .unwrap()
            .unwrap_or_else(|e| panic!("{case}: RestartChild answered {e}"));
        assert_eq!(
            held.next_entered().await,
            1,
            "{case}: the fresh ticker's tick"
        );
        let before = within(before).await.unwrap();
        assert_eq!(before.answered, 4, "{case}: {before:?}");
        assert_eq!(
            within(ticker.send(Note(9, held.book.clone())))
                .await
                .unwrap_or_else(|e| panic!("{case}: the handle after the restart: {e}")),
            9
        );
        let noted = held.book.noted_by();
        assert_eq!(
            noted,
            [(0, 1), (1, 1), (2, 1), (3, 1), (9, 2)],
            "{case}: (note, incarnation that handled it)"
        );
        let tree = within(app.send(Inspect)).await.unwrap();
        for (path, incarnation) in [("/app/region", 2), ("/app/region/ticker", 2)] {
            let node = tree
                .find(path)
                .unwrap_or_else(|| panic!("{case}: no {path} in\n{tree}"));
            assert_eq!(
                (&node.state, node.incarnation),
                (&NodeState::Running, incarnation),
                "{case}: {path} in\n{tree}"
            );
        }
        let report = within(app.send(Stop)).await.unwrap();
        assert!(report.summary().stopped_cleanly(), "{case}:\n{report}");
    }
}
