//! Seventh outside attack, on where a restart's drain ends (the marker's
//! handler stops the context right after it): a child whose `stopping`
//! refuses to stop right after the marker; a stop or a kill set off at each
//! point of a restart's drain; `ChildFuture`s in flight and requests given
//! up half-way while the restart drains, with senders on another thread.
//!
//! The promises attacked: `RestartChild` "drains its current incarnation to
//! the end of its mailbox as it is now, then starts a fresh one; messages
//! sent meanwhile wait for it (even when the current incarnation holds its
//! mailbox, in a `ctx.wait` or an `AtomicResponse`, when the request
//! comes)", the one exception being `ChildFuture`s in flight;
//! `docs/lifecycle.md` ("A restart between two incarnations": "The marker
//! is queued when the request arrives, so the drain ends where the request
//! was made: later messages wait for the fresh incarnation"); `StopReport`
//! ("every message its handles accepted is counted exactly once: handled,
//! cancelled here, or undelivered"; `Drained`: "Everything accepted before
//! the stop was handled"); `ChildHandle::stop` ("after the stop the child is
//! not restarted, whatever its policy").

use std::time::Duration;

use actix_supervisor::{
    snapshot::NodeState, testkit, RestartChild, Stop, StopOutcome, Strategy, SupervisorActor,
};

use crate::attacks4_support::quiet_panics;
use crate::attacks7_support::*;
use crate::common::{probe_spec, recorder, unlimited, within, Gate, Panic};

/// What asks for the restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    /// `RestartChild` of the keeper.
    Request,
    /// A sibling started before it panics under one-for-all.
    OneForAll,
    /// A sibling started before it panics under rest-for-one.
    RestForOne,
}

/// How the keeper's mailbox is held when the restart comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    Wait,
    Atomic,
}

/// Promise (`RestartChild`, `docs/lifecycle.md` above): what is sent once
/// the restart's drain began waits for the fresh incarnation. Attack: the
/// keeper holds its mailbox when the restart comes, and its `stopping`
/// answers `Running::Continue` (once, or always in that incarnation) when
/// the marker's handler stops its context. actix then sets the context
/// running again and reads on past the marker in the same poll; the runner
/// holds back what it reads there for the fresh incarnation.
///
/// Seen if broken: requests 11 to 14, sent after the node showed
/// `Stopping` for the restart, answered by incarnation 1 instead of 2
/// (and, with nothing to stop the context again, the restart finishing
/// only when the grace terminates the old incarnation).
#[actix_rt::test]
async fn a_keeper_that_refuses_to_stop_at_its_restart_marker_leaves_later_messages_to_the_fresh_one(
) {
    quiet_panics();
    tokio::time::pause();
    let mut broken = Vec::new();
    for refuse in [Refuse::Once, Refuse::Always] {
        for by in [By::Request, By::OneForAll, By::RestForOne] {
            for holder in [Holder::Wait, Holder::Atomic] {
                let case = format!("{refuse:?}, {by:?}, {holder:?}");
                if let Some(seen) = refused_restart(refuse, by, holder, &case).await {
                    broken.push(seen);
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// Runs one case; answers what broke, if anything.
async fn refused_restart(refuse: Refuse, by: By, holder: Holder, case: &str) -> Option<String> {
    let (spec, book) = keeper("keeper", refuse, At::Nowhere, What::Stop);
    let handle = spec.handle();
    let (probe_log, _records) = recorder();
    let probe = probe_spec("probe", probe_log);
    let probe_handle = probe.handle();
    let strategy = match by {
        By::RestForOne => Strategy::RestForOne,
        _ => Strategy::OneForAll,
    };
    let app = SupervisorActor::builder("app")
        .strategy(strategy)
        .intensity(unlimited())
        .child(probe)
        .child(spec)
        .start()
        .unwrap();
    within(handle.started()).await.unwrap();
    within(probe_handle.started()).await.unwrap();

    let gate = Gate::new();
    let held = match holder {
        Holder::Wait => {
            handle.do_send(Hold(0, gate.clone())).unwrap();
            None
        }
        Holder::Atomic => Some(actix_rt::spawn(handle.send(Atomic(0, gate.clone())))),
    };
    let before: Vec<_> = (1..=4)
        .map(|id| actix_rt::spawn(handle.send(Bump(id))))
        .collect();
    let restart = match by {
        By::Request => Some(actix_rt::spawn(app.send(RestartChild::new("keeper")))),
        _ => {
            let _ = within(probe_handle.send(Panic("the sibling fails"))).await;
            None
        }
    };
    testkit::wait_for_node(&app, "/app/keeper", |n| n.state == NodeState::Stopping)
        .describe("the restart's drain began")
        .await;
    let after: Vec<_> = (11..=14)
        .map(|id| actix_rt::spawn(handle.send(Bump(id))))
        .collect();
    gate.open();
    let opened = tokio::time::Instant::now();
    if let Some(restart) = restart {
        within(restart).await.unwrap().unwrap().unwrap();
    }
    let restart_answered = opened.elapsed();
    if let Some(held) = held {
        within(held).await.unwrap().unwrap();
    }
    let mut answers = Vec::new();
    for send in before.into_iter().chain(after) {
        answers.push(within(send).await.unwrap().unwrap());
    }
    let later = within(handle.send(Bump(20))).await.unwrap();
    let later_answered = opened.elapsed();
    let report = within(app.send(Stop)).await.unwrap();
    let keeper = report.find("/app/keeper").unwrap();
    assert_eq!(keeper.undelivered, 0, "{case}: {report}");

    let want: Vec<(u32, u64)> = (1..=4)
        .map(|id| (id, 1))
        .chain((11..=14).map(|id| (id, 2)))
        .collect();
    (answers != want).then(|| {
        format!(
            "{case}: (request, incarnation that answered) {answers:?}, want {want:?} \
             ({} refusals; after the gate opened, the restart answered at \
             {restart_answered:?} of paused time, a request sent then was answered by \
             incarnation {} at {later_answered:?})",
            book.refused(),
            later.1
        )
    })
}

/// Promise (`RestartChild`): a restart whose keeper holds no mailbox and
/// refuses nothing still ends its drain at its marker, the control case for
/// the test above (the same steps, `Refuse::No`).
#[actix_rt::test]
async fn a_keeper_that_stops_at_its_restart_marker_leaves_later_messages_to_the_fresh_one() {
    quiet_panics();
    tokio::time::pause();
    for by in [By::Request, By::OneForAll, By::RestForOne] {
        for holder in [Holder::Wait, Holder::Atomic] {
            let case = format!("{by:?}, {holder:?}");
            let seen = refused_restart(Refuse::No, by, holder, &case).await;
            assert!(seen.is_none(), "{}", seen.unwrap());
        }
    }
}

/// Promises (`StopReport`, `ChildHandle::stop`, `Kill` above): a stop or a
/// kill set off from inside the keeper at each point of a restart's drain
/// (while it handles a request queued before the marker; in its old
/// incarnation's `stopped`, right after the marker stopped its context;
/// in the fresh incarnation's `started`) answers a report whose counts
/// close with what the senders saw; a stop loses nothing (every request
/// answered, `Drained`); no incarnation is built after the report, and
/// none handles anything past the one the stop drained with.
///
/// Seen if broken: a send that never answers (the hang guard), a report
/// whose `handled + cancelled + undelivered` is not the 9 requests
/// accepted, `Drained` with a `NoReply`, or a third incarnation built.
#[actix_rt::test]
async fn a_stop_or_a_kill_at_every_point_of_a_restart_drain_answers_with_exact_counts() {
    quiet_panics();
    tokio::time::pause();
    for what in [What::Stop, What::Kill] {
        for at in [At::Bump(2), At::Bump(12), At::Stopped, At::Started2] {
            for holder in [Holder::Wait, Holder::Atomic] {
                for by in [By::Request, By::OneForAll] {
                    let case = format!("{what:?} at {at:?}, {holder:?}, {by:?}");
                    stop_within_restart(what, at, holder, by, &case).await;
                }
            }
        }
    }
}

async fn stop_within_restart(what: What, at: At, holder: Holder, by: By, case: &str) {
    let (spec, book) = keeper("keeper", Refuse::No, at, what);
    let handle = spec.handle();
    let (probe_log, _records) = recorder();
    let probe = probe_spec("probe", probe_log);
    let probe_handle = probe.handle();
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .intensity(unlimited())
        .child(probe)
        .child(spec)
        .start()
        .unwrap();
    book.app.set(app.clone()).unwrap();
    within(handle.started()).await.unwrap();
    within(probe_handle.started()).await.unwrap();

    let gate = Gate::new();
    let held = match holder {
        Holder::Wait => {
            handle.do_send(Hold(0, gate.clone())).unwrap();
            None
        }
        Holder::Atomic => Some(actix_rt::spawn(handle.send(Atomic(0, gate.clone())))),
    };
    let before: Vec<_> = (1..=4)
        .map(|id| actix_rt::spawn(handle.send(Bump(id))))
        .collect();
    let restart = match by {
        By::Request => Some(actix_rt::spawn(app.send(RestartChild::new("keeper")))),
        _ => {
            let _ = within(probe_handle.send(Panic("the sibling fails"))).await;
            None
        }
    };
    testkit::wait_for_node(&app, "/app/keeper", |n| n.state == NodeState::Stopping)
        .describe("the restart's drain began")
        .await;
    let after: Vec<_> = (11..=14)
        .map(|id| actix_rt::spawn(handle.send(Bump(id))))
        .collect();
    gate.open();

    // The restart answers (an error once the stop or the kill took over
    // is fine; no answer at all is not).
    if let Some(restart) = restart {
        let _ = within(restart).await.unwrap();
    }
    let mut fared = Fared::default();
    if let Some(held) = held {
        fared.note(within(held).await.unwrap());
    }
    for send in before.into_iter().chain(after) {
        fared.note(within(send).await.unwrap());
    }
    if holder == Holder::Wait {
        // The `Hold` was a `do_send`: accepted, no answer to wait for. Every
        // request after it is answered or failed by now, so it was handled
        // by now if it ever will be.
        if book.handled_by(0).is_some() {
            fared.answered += 1;
        } else {
            fared.no_reply += 1;
        }
    }
    assert!(book.fired(), "{case}: the trigger never went off");
    let report = within(handle.ended()).await;
    assert_eq!(
        fared.refused, 0,
        "{case}: every request was sent before any stop"
    );
    assert_accounts(&report, fared, &book, case);
    if what == What::Stop {
        assert_eq!(
            (fared.answered, report.outcome.clone()),
            (9, StopOutcome::Drained),
            "{case}: a stop loses nothing ({fared:?}, {:?}): {report}",
            book.handled()
        );
        assert_eq!(within(handle.stop()).await, report, "{case}: a second stop");
    }
    let highest = book.handled().iter().map(|&(_, i)| i).max().unwrap_or(1);
    assert!(
        highest <= 2,
        "{case}: incarnation {highest} handled: {:?}",
        book.handled()
    );
    let built = book.built();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        book.built(),
        built,
        "{case}: an incarnation was built after the report"
    );
    assert!(built <= 2, "{case}: {built} incarnations built: {report}");
    if what == What::Stop {
        let tree = within(app.send(actix_supervisor::Inspect)).await.unwrap();
        assert_eq!(
            tree.find("/app/keeper").unwrap().state,
            NodeState::Stopped,
            "{case}"
        );
        within(app.send(Stop)).await.unwrap();
    }
}

/// Promises (`RestartChild`: with `ChildFuture`s in flight the draining
/// incarnation "keeps reading its mailbox until they end ... so messages
/// sent meanwhile may be handled by it"; `StopReport`: every accepted
/// message counted once): a `RestartChild` that comes while a
/// `ChildFuture` is in flight, with another OS thread sending requests
/// all along (four awaiting each answer, one giving each up after its
/// first poll), loses nothing: the future answers from the old
/// incarnation, every request is answered once by one incarnation or
/// counted cancelled, and the final stop's counts close.
///
/// Seen if broken: `NoReply` for a request, a request handled twice, the
/// restart never answering, or counts that do not close.
#[actix_rt::test]
async fn a_restart_with_a_child_future_in_flight_and_senders_on_another_thread_loses_nothing() {
    for round in 0..3 {
        let case = format!("round {round}");
        let (spec, book) = keeper("keeper", Refuse::No, At::Nowhere, What::Stop);
        let handle = spec.handle();
        let app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(spec)
            .start()
            .unwrap();
        within(handle.started()).await.unwrap();

        let gate = Gate::new();
        let slow = actix_rt::spawn(handle.send(Slow(100, gate.clone())));
        let mut fared = Fared::default();
        fared.note(within(handle.send(Bump(1))).await);
        let sender = {
            let handle = handle.clone();
            crate::attacks6_support::on_other_thread(move || async move {
                let lane = |lane: u32, give_up: bool| {
                    let handle = handle.clone();
                    async move {
                        let mut fared = Fared::default();
                        for k in 0..150 {
                            let send = handle.send(Bump(1000 + lane * 1000 + k));
                            if give_up {
                                match tokio::time::timeout(Duration::ZERO, send).await {
                                    Ok(result) => fared.note(result),
                                    Err(_) => fared.abandoned += 1,
                                }
                            } else {
                                fared.note(send.await);
                            }
                        }
                        fared
                    }
                };
                let (a, b, c, d, e) = tokio::join!(
                    lane(0, false),
                    lane(1, false),
                    lane(2, false),
                    lane(3, false),
                    lane(4, true)
                );
                a + b + c + d + e
            })
        };
        let restart = actix_rt::spawn(app.send(RestartChild::new("keeper")));
        testkit::wait_for_node(&app, "/app/keeper", |n| n.state == NodeState::Stopping)
            .describe("the restart's drain began, the future in flight")
            .await;
        gate.open();
        within(restart).await.unwrap().unwrap().unwrap();
        let slow = within(slow).await.unwrap();
        assert_eq!(slow.as_ref().ok(), Some(&(100, 1)), "{case}: {slow:?}");
        fared.note(slow);
        fared = fared + crate::attacks6_support::joined(sender).await;
        let report = within(handle.stop()).await;
        assert_eq!(
            (fared.no_reply, fared.refused),
            (0, 0),
            "{case}: a restart loses nothing and refuses nothing: {report}"
        );
        assert_eq!(report.outcome, StopOutcome::Drained, "{case}: {report}");
        assert_accounts(&report, fared, &book, &case);
        assert_eq!(
            book.built(),
            2,
            "{case}: one restart, one fresh incarnation"
        );
        within(app.send(Stop)).await.unwrap();
    }
}

/// Promises (`ChildHandle::stop`: "past its grace it is terminated
/// (`TimedOut`)"; `StopReport` counts): a keeper whose `stopping` answers
/// `Running::Continue` (once, or always) is stopped while it holds its
/// mailbox with requests queued behind, either directly or right after a
/// `RestartChild` whose marker it refused to stop at: the stop answers
/// (within the grace, as paused time runs), its counts close with what the
/// senders saw, and nothing is built after it.
///
/// Seen if broken: a stop that never answers, or counts that do not close.
#[actix_rt::test]
async fn a_keeper_that_refuses_to_stop_is_still_stopped_with_exact_counts() {
    tokio::time::pause();
    for refuse in [Refuse::Once, Refuse::Always] {
        for after_restart in [false, true] {
            let case = format!("{refuse:?}, after a restart: {after_restart}");
            let (spec, book) = keeper("keeper", refuse, At::Nowhere, What::Stop);
            let handle = spec.handle();
            let app = SupervisorActor::builder("app")
                .intensity(unlimited())
                .child(spec)
                .start()
                .unwrap();
            within(handle.started()).await.unwrap();
            let mut fared = Fared::default();
            if after_restart {
                let gate = Gate::new();
                let held = actix_rt::spawn(handle.send(Atomic(0, gate.clone())));
                let restart = actix_rt::spawn(app.send(RestartChild::new("keeper")));
                testkit::wait_for_node(&app, "/app/keeper", |n| n.state == NodeState::Stopping)
                    .describe("the restart's drain began")
                    .await;
                gate.open();
                fared.note(within(held).await.unwrap());
                // Answered at the latest when the grace ends the old
                // incarnation (see the defect above); not awaited here.
                drop(restart);
            }
            let gate = Gate::new();
            let held = actix_rt::spawn(handle.send(Atomic(1, gate.clone())));
            let queued: Vec<_> = (2..=6)
                .map(|id| actix_rt::spawn(handle.send(Bump(id))))
                .collect();
            let stop = actix_rt::spawn(handle.stop());
            testkit::wait_for_node(&app, "/app/keeper", |n| n.state == NodeState::Stopping)
                .describe("the stop began")
                .await;
            gate.open();
            let report = within(stop).await.unwrap();
            fared.note(within(held).await.unwrap());
            for send in queued {
                fared.note(within(send).await.unwrap());
            }
            assert_accounts(&report, fared, &book, &case);
            let built = book.built();
            tokio::time::sleep(Duration::from_secs(60)).await;
            assert_eq!(
                book.built(),
                built,
                "{case}: built after the report: {report}"
            );
            within(app.send(Stop)).await.unwrap();
        }
    }
}
