//! Attacks, from the public API, on a restart that reaches a child between
//! two incarnations (commit 78fbaa9 and after): restart requests stacked,
//! stops racing a restart drain, drain incarnations that cannot start,
//! children with dependencies, senders on other threads, and requesters
//! that give up.
//!
//! The promises (rustdoc of `RestartChild`, `StopReport::cancelled`,
//! `NodeSnapshot`, `docs/lifecycle.md` "A restart between two
//! incarnations"): what was accepted before a restart is drained by an
//! incarnation that is then ended, and only the next one is fresh; every
//! message a handle accepted is handled once, or counted cancelled or
//! undelivered in the child's report; every `RestartChild` and every stop
//! answers; `restart_count` is `incarnation - 1`, with one `Restarting`
//! event per restart.
//!
//! Nothing here sleeps: each test waits on answers, reports and events.

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::events::EventKind;
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::testkit::EventRecorder;
use actix_supervisor::{
    Backoff, Grace, RemoveChild, RestartChild, RestartPolicy, Stop, StopReport, Strategy,
    SupervisorActor,
};

use crate::attacks4_support::{
    flaky, flaky_try, quiet_panics, stop_by, supervise, Book, How, Job, StartFails, Stopper, Which,
};
use crate::common::{node, unlimited, within};

/// The report of the node at `path` in a supervisor's stop report.
fn report_of(report: &StopReport, path: &str) -> StopReport {
    report
        .children
        .iter()
        .find(|c| c.path.as_str() == path)
        .cloned()
        .unwrap_or_else(|| panic!("no report of {path} in {report}"))
}

/// Every accepted message (`(sender, seq)` in `sent`) is handled once (in
/// each sender's order), or counted cancelled or undelivered in `report`.
#[track_caller]
fn accounts(book: &Book, sent: &[(u32, u32)], report: &StopReport, case: &str) {
    let handled = book.handled();
    let mut seen = std::collections::HashSet::new();
    for s in &handled {
        assert!(
            seen.insert((s.sender, s.seq)),
            "{case}: ({}, {}) handled twice: {handled:?}",
            s.sender,
            s.seq
        );
        assert!(
            sent.contains(&(s.sender, s.seq)),
            "{case}: handled a message never sent"
        );
    }
    assert_eq!(
        handled.len() as u64 + report.undelivered + report.cancelled,
        sent.len() as u64,
        "{case}: {} handled, report {report}",
        handled.len()
    );
}

/// `restart_count` is `incarnation - 1` and the child's events hold one
/// `Restarting` per restart and one `Started` per incarnation, numbered
/// 1, 2, 3, ... (waits for the current incarnation's `Started` first).
async fn restarts_agree(
    app: &Addr<SupervisorActor>,
    events: &EventRecorder,
    path: &str,
    case: &str,
) {
    let snapshot = node(app, path).await;
    if snapshot.state == NodeState::Running {
        let inc = snapshot.incarnation;
        let p = path.to_string();
        events
            .wait_for(move |e| {
                e.path.as_str() == p && e.incarnation == inc && e.kind == EventKind::Started
            })
            .await;
    }
    assert_eq!(
        snapshot.restart_count + 1,
        snapshot.incarnation,
        "{case}: {snapshot:?}"
    );
    let mine = events.for_path(path);
    let restarting = mine
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Restarting { .. }))
        .count() as u64;
    let started: Vec<u64> = mine
        .iter()
        .filter(|e| e.kind == EventKind::Started)
        .map(|e| e.incarnation)
        .collect();
    let kinds: Vec<String> = mine
        .iter()
        .map(|e| format!("{}:{}", e.incarnation, kind_name(&e.kind)))
        .collect();
    assert_eq!(
        restarting, snapshot.restart_count,
        "{case}: one Restarting per restart: {kinds:?}, {snapshot:?}"
    );
    let expected: Vec<u64> = (1..=snapshot.incarnation).collect();
    if snapshot.state == NodeState::Running {
        assert_eq!(started, expected, "{case}: {kinds:?}");
    }
}

fn kind_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Started => "started",
        EventKind::Failed { .. } => "failed",
        EventKind::Restarting { .. } => "restarting",
        EventKind::Stopped { .. } => "stopped",
        EventKind::Stopping => "stopping",
        _ => "other",
    }
}

/// Sends `prefix` as sender 0, returns what was sent.
fn send_prefix(
    handle: &actix_supervisor::ChildHandle<crate::attacks4_support::Flaky>,
    sender: u32,
    prefix: &[How],
) -> Vec<(u32, u32)> {
    let mut sent = Vec::new();
    for (seq, how) in prefix.iter().enumerate() {
        handle
            .do_send(Job::new(sender, seq as u32, *how))
            .expect("a running child takes work");
        sent.push((sender, seq as u32));
    }
    sent
}

/// Two `RestartChild` asked at once, right behind failing messages (so the
/// requests reach the child between incarnations or in a drain cut short):
/// both answer `Ok`, every message is handled once, none sent before the
/// requests reaches the incarnation that answers afterwards, and the
/// restarts are counted once each.
#[actix_rt::test]
async fn two_restart_child_at_once_behind_failures_both_answer_and_lose_nothing() {
    quiet_panics();
    for prefix in [
        vec![How::Panic, How::Fail, How::Panic],
        vec![How::Fail, How::Fail],
        vec![How::Run, How::Panic, How::Run],
        vec![How::Panic, How::Run, How::Run, How::Run],
    ] {
        let case = format!("{prefix:?}");
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::Always);
        let (app, handle) = supervise(spec);
        let events = EventRecorder::start(&app).await.unwrap();
        within(handle.started()).await.unwrap();
        let mut sent = send_prefix(&handle, 0, &prefix);
        let (first, second) = within(futures_util::future::join(
            app.send(RestartChild::new("job")),
            app.send(RestartChild::new("job")),
        ))
        .await;
        assert_eq!(first.unwrap(), Ok(()), "{case}: the first");
        assert_eq!(second.unwrap(), Ok(()), "{case}: the second");
        let fresh = within(handle.send(Which)).await.unwrap();
        let stale: Vec<_> = book
            .handled()
            .into_iter()
            .filter(|s| s.incarnation >= fresh)
            .collect();
        assert!(
            stale.is_empty(),
            "{case}: incarnation {fresh}, fresh after both restarts, handled {stale:?} sent before them"
        );
        for seq in 0..3 {
            handle.do_send(Job::new(1, seq, How::Run)).unwrap();
            sent.push((1, seq));
        }
        within(handle.send(Which)).await.unwrap();
        restarts_agree(&app, &events, "/app/job", &case).await;
        let report = within(app.send(Stop)).await.unwrap();
        accounts(&book, &sent, &report_of(&report, "/app/job"), &case);
    }
}

/// `RestartChild` of one child while a failure of its sibling restarts
/// both (`OneForAll`): every request answers `Ok`, each child's messages
/// are handled once, and each child's restarts are counted once.
#[actix_rt::test]
async fn restart_child_during_a_one_for_all_restart_answers_and_loses_nothing() {
    quiet_panics();
    for (a_prefix, b_prefix) in [
        (vec![How::Panic], vec![How::Run, How::Run]),
        (vec![How::Panic, How::Fail], vec![How::Panic, How::Run]),
        (vec![How::Run, How::Fail], vec![How::Fail]),
    ] {
        let case = format!("a {a_prefix:?}, b {b_prefix:?}");
        let (book_a, book_b) = (Book::new(), Book::new());
        let spec_a = flaky("a", &book_a, StartFails::Never).restart(RestartPolicy::Always);
        let spec_b = flaky("b", &book_b, StartFails::Never).restart(RestartPolicy::Always);
        let (a, b) = (spec_a.handle(), spec_b.handle());
        let app = SupervisorActor::builder("app")
            .strategy(Strategy::OneForAll)
            .intensity(unlimited())
            .child(spec_a)
            .child(spec_b)
            .start()
            .unwrap();
        let events = EventRecorder::start(&app).await.unwrap();
        within(a.started()).await.unwrap();
        within(b.started()).await.unwrap();
        let sent_a = send_prefix(&a, 0, &a_prefix);
        let sent_b = send_prefix(&b, 0, &b_prefix);
        let (rb, ra) = within(futures_util::future::join(
            app.send(RestartChild::new("b")),
            app.send(RestartChild::new("a")),
        ))
        .await;
        assert_eq!(rb.unwrap(), Ok(()), "{case}: b");
        assert_eq!(ra.unwrap(), Ok(()), "{case}: a");
        within(a.send(Which)).await.unwrap();
        within(b.send(Which)).await.unwrap();
        restarts_agree(&app, &events, "/app/a", &case).await;
        restarts_agree(&app, &events, "/app/b", &case).await;
        let report = within(app.send(Stop)).await.unwrap();
        accounts(&book_a, &sent_a, &report_of(&report, "/app/a"), &case);
        accounts(&book_b, &sent_b, &report_of(&report, "/app/b"), &case);
    }
}

/// A stop (by the handle, `StopChild`, the supervisor's `Stop`,
/// `RemoveChild`) asked at once with a `RestartChild`, right behind
/// failing messages: both answer, and every message sent before is
/// handled once or counted in the report of the run that ended.
#[actix_rt::test]
async fn a_stop_racing_a_restart_between_incarnations_answers_and_accounts() {
    quiet_panics();
    for stopper in crate::attacks4_support::STOPPERS {
        for prefix in [
            vec![How::Panic, How::Run, How::Run],
            vec![How::Fail, How::Panic, How::Run],
            vec![How::Run, How::Panic, How::Run],
        ] {
            let case = format!("{stopper:?} {prefix:?}");
            let book = Book::new();
            let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::Always);
            let (app, handle) = supervise(spec);
            within(handle.started()).await.unwrap();
            let sent = send_prefix(&handle, 0, &prefix);
            let restart = app.send(RestartChild::new("job"));
            let (restarted, report) = within(futures_util::future::join(
                restart,
                stop_by(stopper, &app, &handle),
            ))
            .await;
            let restarted = restarted.expect("the supervisor answers");
            if std::env::var("ATTACK5_SHOW").is_ok() {
                eprintln!("{case}: restart {restarted:?}, stop {report}");
            }
            if handle.is_accepting() {
                // The restart came after the stop and started the child
                // again: the stop's report closes the run it ended.
                assert_eq!(restarted, Ok(()), "{case}");
            }
            accounts(&book, &sent, &report, &case);
            if stopper != Stopper::ParentStop {
                within(app.send(Stop)).await.unwrap();
            }
        }
    }
}

/// A child whose every incarnation ends in `started` (a normal stop, a
/// panic, a `fail`), restarted after a short backoff, with a finite grace:
/// `RestartChild` asked while it cycles answers, and the messages queued
/// (never handled: no incarnation lives to handle them) are all counted
/// undelivered or cancelled when the tree stops.
#[actix_rt::test]
async fn a_restart_of_a_child_that_ends_in_every_start_answers() {
    quiet_panics();
    for how in [How::StopNormally, How::Panic, How::Fail] {
        let case = format!("{how:?}");
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Always(how))
            .restart(RestartPolicy::Always)
            .backoff(Backoff::new(
                Duration::from_millis(1),
                Duration::from_millis(5),
            ))
            .grace(Grace::Duration(Duration::from_millis(200)));
        let (app, handle) = supervise(spec);
        let mut sent = Vec::new();
        for seq in 0..3 {
            if handle.do_send(Job::new(0, seq, How::Run)).is_ok() {
                sent.push((0, seq));
            }
        }
        let answer = within(app.send(RestartChild::new("job"))).await.unwrap();
        if std::env::var("ATTACK5_SHOW").is_ok() {
            eprintln!("{case}: {answer:?}, built {}", book.built());
        }
        let job = node(&app, "/app/job").await;
        assert!(job.incarnation == job.restart_count + 1, "{case}: {job:?}");
        let report = within(app.send(Stop)).await.unwrap();
        accounts(&book, &sent, &report_of(&report, "/app/job"), &case);
    }
}

/// A restart whose drain incarnation cannot be built (the factory fails
/// on every even build) or fails in `started`: `RestartChild` answers,
/// and every message is handled once or accounted for.
#[actix_rt::test]
async fn a_restart_whose_drain_incarnation_cannot_start_answers_and_accounts() {
    quiet_panics();
    fn even(n: u64) -> bool {
        n.is_multiple_of(2)
    }
    fn never(_: u64) -> bool {
        false
    }
    for (fails, start_fails, prefix) in [
        (
            even as fn(u64) -> bool,
            StartFails::Never,
            vec![How::Panic, How::Run, How::Run],
        ),
        (
            never,
            StartFails::EveryOther(How::Panic),
            vec![How::Panic, How::Run, How::Run],
        ),
        (
            never,
            StartFails::EveryOther(How::Fail),
            vec![How::Fail, How::Run],
        ),
        (
            never,
            StartFails::EveryOther(How::StopNormally),
            vec![How::Fail, How::Run, How::Run],
        ),
    ] {
        let case = format!("{start_fails:?} {prefix:?}");
        let book = Book::new();
        let spec = flaky_try("job", &book, start_fails, fails).restart(RestartPolicy::Always);
        let (app, handle) = supervise(spec);
        within(handle.started()).await.unwrap();
        let mut sent = send_prefix(&handle, 0, &prefix);
        let answer = within(app.send(RestartChild::new("job"))).await.unwrap();
        if std::env::var("ATTACK5_SHOW").is_ok() {
            eprintln!("{case}: {answer:?} {:?}", book.handled());
        }
        if handle.do_send(Job::new(1, 0, How::Run)).is_ok() {
            sent.push((1, 0));
        }
        let report = within(app.send(Stop)).await.unwrap();
        accounts(&book, &sent, &report_of(&report, "/app/job"), &case);
    }
}

/// A child with a dependency (the documented exception: it is parked at
/// once, so its fresh incarnation may take what waited): `RestartChild`
/// behind failures answers `Ok`, nothing is lost or handled twice, and
/// restarts are counted once.
#[actix_rt::test]
async fn restart_child_of_a_child_with_a_dependency_answers_and_loses_nothing() {
    quiet_panics();
    for prefix in [
        vec![How::Panic, How::Run],
        vec![How::Fail, How::Panic, How::Run],
    ] {
        let case = format!("{prefix:?}");
        let (db_book, book) = (Book::new(), Book::new());
        let db = flaky("db", &db_book, StartFails::Never);
        let spec = flaky("api", &book, StartFails::Never)
            .restart(RestartPolicy::Always)
            .depends_on("db");
        let handle = spec.handle();
        let app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(db)
            .child(spec)
            .start()
            .unwrap();
        let events = EventRecorder::start(&app).await.unwrap();
        within(handle.started()).await.unwrap();
        let sent = send_prefix(&handle, 0, &prefix);
        let answer = within(app.send(RestartChild::new("api"))).await.unwrap();
        assert_eq!(answer, Ok(()), "{case}");
        within(handle.send(Which)).await.unwrap();
        restarts_agree(&app, &events, "/app/api", &case).await;
        let report = within(app.send(Stop)).await.unwrap();
        accounts(&book, &sent, &report_of(&report, "/app/api"), &case);
    }
}

/// Three threads send 200 messages each while the test thread makes the
/// child fail and restarts it, over and over: every accepted message is
/// handled once, in each sender's order (a message refused is not
/// counted), and restarts are counted once.
#[actix_rt::test]
async fn senders_on_other_threads_during_restarts_lose_nothing() {
    quiet_panics();
    let book = Book::new();
    let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::Always);
    let (app, handle) = supervise(spec);
    let events = EventRecorder::start(&app).await.unwrap();
    within(handle.started()).await.unwrap();
    let threads: Vec<_> = (1..=3u32)
        .map(|sender| {
            let handle = handle.clone();
            std::thread::spawn(move || {
                let mut sent = Vec::new();
                for seq in 0..200 {
                    if handle.do_send(Job::new(sender, seq, How::Run)).is_ok() {
                        sent.push((sender, seq));
                    }
                }
                sent
            })
        })
        .collect();
    let mut sent = Vec::new();
    for seq in 0..6 {
        let how = if seq % 2 == 0 { How::Panic } else { How::Fail };
        handle.do_send(Job::new(0, seq, how)).unwrap();
        sent.push((0, seq));
        let answer = within(app.send(RestartChild::new("job"))).await.unwrap();
        assert_eq!(answer, Ok(()), "restart {seq}");
    }
    for thread in threads {
        let mine = within(tokio::task::spawn_blocking(move || thread.join()))
            .await
            .unwrap()
            .unwrap();
        sent.extend(mine);
    }
    within(handle.send(Which)).await.unwrap();
    restarts_agree(&app, &events, "/app/job", "threads").await;
    let report = within(app.send(Stop)).await.unwrap();
    let report = report_of(&report, "/app/job");
    accounts(&book, &sent, &report, "threads");
    book.assert_each_once_in_order(&sent, "threads");
}

/// Requests whose requester gives up at once (a `send` future dropped by a
/// zero timeout) mixed with failing messages, then `RestartChild`: it
/// answers, and every message is handled once or counted cancelled, so
/// the accounting closes and the final stop is not held open.
#[actix_rt::test]
async fn requests_given_up_around_a_restart_are_counted_cancelled_or_handled() {
    quiet_panics();
    let book = Book::new();
    let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::Always);
    let (app, handle) = supervise(spec);
    within(handle.started()).await.unwrap();
    let mut sent = Vec::new();
    for seq in 0..10u32 {
        let how = if seq % 4 == 1 { How::Panic } else { How::Run };
        // `send` queues the message when called; the zero timeout drops
        // the future after its first poll.
        let _ = tokio::time::timeout(Duration::ZERO, handle.send(Job::new(0, seq, how))).await;
        sent.push((0, seq));
    }
    let answer = within(app.send(RestartChild::new("job"))).await.unwrap();
    assert_eq!(answer, Ok(()));
    for seq in 10..14u32 {
        let _ = tokio::time::timeout(Duration::ZERO, handle.send(Job::new(0, seq, How::Run))).await;
        sent.push((0, seq));
    }
    let report = within(app.send(Stop)).await.unwrap();
    accounts(&book, &sent, &report_of(&report, "/app/job"), "given up");
}

/// `RemoveChild` asked while a restart drain incarnation runs (behind
/// failures and a `RestartChild`): the child leaves, `RemoveChild`'s report
/// closes the accounting, and a later `RestartChild` of the name says the
/// child is not there.
#[actix_rt::test]
async fn remove_child_during_a_restart_drain_closes_the_accounting() {
    quiet_panics();
    let book = Book::new();
    let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::Always);
    let (app, handle) = supervise(spec);
    within(handle.started()).await.unwrap();
    let sent = send_prefix(&handle, 0, &[How::Panic, How::Fail, How::Run, How::Run]);
    let restart = app.send(RestartChild::new("job"));
    let remove = app.send(RemoveChild::new("job"));
    let (restarted, removed) = within(futures_util::future::join(restart, remove)).await;
    let restarted = restarted.unwrap();
    let report = removed.unwrap().expect("the child was in the table");
    accounts(&book, &sent, &report, "remove");
    assert!(
        !handle.is_accepting(),
        "restart {restarted:?}, then removed"
    );
    assert!(
        within(app.send(RestartChild::new("job")))
            .await
            .unwrap()
            .is_err(),
        "the child is gone"
    );
    within(app.send(Stop)).await.unwrap();
}

/// Which stop a drain incarnation meets.
#[derive(Debug, Clone, Copy)]
enum DrainStopper {
    Handle,
    Parent,
    Remove,
}

/// A stop that reaches the child while a restart's drain incarnation is
/// busy: the child failed on `Panic`, `RestartChild` was asked behind a
/// request that waits on a gate (so the incarnation built after the
/// failure drains, and holds in that request); then a stop comes, then
/// the gate opens. Both answer, and the accounting closes: the gated
/// request is handled (its future ended) and the messages behind it are
/// handled or undelivered, once.
#[actix_rt::test]
async fn a_stop_during_a_restart_drain_incarnation_answers_and_accounts() {
    quiet_panics();
    for stopper in [
        DrainStopper::Handle,
        DrainStopper::Parent,
        DrainStopper::Remove,
    ] {
        let case = format!("{stopper:?}");
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::Always);
        let (app, handle) = supervise(spec);
        let events = EventRecorder::start(&app).await.unwrap();
        within(handle.started()).await.unwrap();
        let gate = crate::common::Gate::new();
        handle.do_send(Job::new(0, 0, How::Panic)).unwrap();
        let gated = actix::spawn(handle.send(crate::attacks4_support::Await {
            sender: 0,
            seq: 1,
            gate: gate.clone(),
        }));
        handle.do_send(Job::new(0, 2, How::Run)).unwrap();
        let sent = vec![(0, 0), (0, 1), (0, 2)];
        let restart = actix::spawn(app.send(RestartChild::new("job")));
        // The drain incarnation (2) holds in the gated request.
        events
            .wait_for(|e| {
                e.path.as_str() == "/app/job" && e.incarnation == 2 && e.kind == EventKind::Started
            })
            .await;
        let stop = {
            let (app, handle) = (app.clone(), handle.clone());
            actix::spawn(async move {
                match stopper {
                    DrainStopper::Handle => handle.stop().await,
                    DrainStopper::Parent => report_of(&app.send(Stop).await.unwrap(), "/app/job"),
                    DrainStopper::Remove => app
                        .send(RemoveChild::new("job"))
                        .await
                        .unwrap()
                        .expect("the child is in the table"),
                }
            })
        };
        // The stop is under way once the node shows `Stopping`; then the
        // gate opens.
        events
            .wait_for(|e| {
                e.path.as_str() == "/app/job" && e.incarnation == 2 && e.kind == EventKind::Stopping
            })
            .await;
        gate.open();
        let restarted = within(restart).await.unwrap().unwrap();
        let report = within(stop).await.unwrap();
        let _ = within(gated).await;
        if std::env::var("ATTACK5_SHOW").is_ok() {
            eprintln!(
                "{case}: restart {restarted:?}, {report:?}, {:?}, started {:?}",
                book.handled(),
                book.started()
            );
        }
        accounts(&book, &sent, &report, &case);
        if !matches!(stopper, DrainStopper::Parent) {
            within(app.send(Stop)).await.unwrap();
        }
    }
}

/// A restart whose drain incarnation holds in a request that never ends,
/// with a 50 ms grace, under paused time: `RestartChild` answers `Ok` once
/// the grace is over, the request cut off with its incarnation counts as
/// undelivered (its `ChildFuture` was dropped by the drain that promised to
/// wait for it), and the fresh incarnation takes the work sent after.
#[test]
fn a_restart_drain_held_past_its_grace_answers_and_the_fresh_one_works() {
    quiet_panics();
    actix_supervisor::testkit::run_paused(async {
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Never)
            .restart(RestartPolicy::Always)
            .grace(Grace::Duration(Duration::from_millis(50)));
        let (app, handle) = supervise(spec);
        within(handle.started()).await.unwrap();
        let never = crate::common::Gate::new();
        handle.do_send(Job::new(0, 0, How::Panic)).unwrap();
        let stuck = actix::spawn(handle.send(crate::attacks4_support::Await {
            sender: 0,
            seq: 1,
            gate: never.clone(),
        }));
        handle.do_send(Job::new(0, 2, How::Run)).unwrap();
        let answer = within(app.send(RestartChild::new("job"))).await.unwrap();
        assert_eq!(answer, Ok(()));
        let fresh = within(handle.send(Which)).await.unwrap();
        assert_eq!(
            within(handle.send(Job::new(1, 0, How::Run))).await.unwrap(),
            fresh
        );
        assert!(
            within(stuck).await.unwrap().is_err(),
            "cut off by the grace"
        );
        let report = within(app.send(Stop)).await.unwrap();
        let report = report_of(&report, "/app/job");
        // The request cut off with its incarnation: its handler ran (the
        // book has it), but the drain did not wait for its `ChildFuture`
        // as it promised, so the report counts it undelivered (attack8).
        let handled = book.handled();
        assert_eq!(
            handled.len(),
            4,
            "each message's handler ran once: {handled:?}"
        );
        assert_eq!(
            (report.undelivered, report.cancelled),
            (1, 0),
            "the cut-off request: {report}"
        );
        assert_ne!(
            report.outcome,
            actix_supervisor::StopOutcome::Drained,
            "{report}"
        );
    });
}

/// `Inspect`, asked over and over while the child fails and is restarted
/// (by its policy and by `RestartChild`) from this and another task, never
/// shows an impossible node: `restart_count` is `incarnation - 1`, a
/// running node has an uptime and a node that is not running has none.
#[actix_rt::test]
async fn inspect_during_restart_churn_never_shows_an_impossible_node() {
    quiet_panics();
    let book = Book::new();
    let spec = flaky("job", &book, StartFails::EveryOther(How::Fail))
        .restart(RestartPolicy::Always)
        .backoff(Backoff::new(
            Duration::from_micros(100),
            Duration::from_millis(1),
        ));
    let (app, handle) = supervise(spec);
    within(handle.started()).await.unwrap();
    let churn = {
        let (app, handle) = (app.clone(), handle.clone());
        actix::spawn(async move {
            for n in 0..40u32 {
                let _ = handle.do_send(Job::new(0, n, How::Panic));
                let _ = app.send(RestartChild::new("job")).await;
            }
        })
    };
    let mut seen = std::collections::BTreeSet::new();
    while !churn.is_finished() {
        let job = node(&app, "/app/job").await;
        seen.insert(format!("{:?}", std::mem::discriminant(&job.state)));
        assert_eq!(job.restart_count + 1, job.incarnation, "{job:?}");
        assert_eq!(
            job.uptime.is_some(),
            job.state == NodeState::Running,
            "{job:?}"
        );
    }
    within(churn).await.unwrap();
    within(app.send(Stop)).await.unwrap();
}

/// The supervisor's `Stop` arriving while a `RestartChild`'s drain
/// incarnation is busy. Sequence: the child (policy `Always`) fails on a
/// `Panic`; behind it a request that waits on a gate, then a `Run`; then
/// `RestartChild` is sent (not awaited); incarnation 2 is built to drain
/// and holds in the gated request; the supervisor is sent `Stop` and shows
/// `Stopping`; the gate opens. Promised (rustdoc of `RestartChild`): it
/// answers `Ok` only once the new incarnation is starting, else
/// `ChildStopping` / `SupervisorStopping` for a child a stop is ending.
#[actix_rt::test]
async fn restart_child_cut_off_by_the_supervisors_stop_answers_ok_only_for_a_fresh_start() {
    quiet_panics();
    let book = Book::new();
    let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::Always);
    let (app, handle) = supervise(spec);
    let events = EventRecorder::start(&app).await.unwrap();
    within(handle.started()).await.unwrap();
    let gate = crate::common::Gate::new();
    handle.do_send(Job::new(0, 0, How::Panic)).unwrap();
    let gated = actix::spawn(handle.send(crate::attacks4_support::Await {
        sender: 0,
        seq: 1,
        gate: gate.clone(),
    }));
    handle.do_send(Job::new(0, 2, How::Run)).unwrap();
    let restart = actix::spawn(app.send(RestartChild::new("job")));
    events
        .wait_for(|e| {
            e.path.as_str() == "/app/job" && e.incarnation == 2 && e.kind == EventKind::Stopping
        })
        .await;
    let stop = actix::spawn(app.send(Stop));
    // The stop reached the supervisor: it shows `Stopping` for the root.
    events
        .wait_for(|e| e.path.as_str() == "/app" && e.kind == EventKind::Stopping)
        .await;
    gate.open();
    let answer = within(restart).await.unwrap().unwrap();
    within(stop).await.unwrap().unwrap();
    let _ = within(gated).await;
    let started = book.started();
    assert!(
        answer.is_err() || started.contains(&3),
        "RestartChild answered {answer:?}, yet only incarnations {started:?} started"
    );
}
