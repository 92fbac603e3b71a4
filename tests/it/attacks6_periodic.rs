//! Sixth outside attack, on periodic children stopped in the middle of a
//! tick: the tick then ends in every way (`Ok`, an error at the failure
//! limit, a panic, past its timeout) under every restart policy, with
//! requests waiting behind it (the tick holds the mailbox), some of them
//! given up by their requesters.
//!
//! The promises attacked (README, `periodic` module docs, `docs/lifecycle.md`):
//! a stop drains what waits after the tick in progress; once a stop has
//! begun no new tick starts; a stop that finds an incarnation ending
//! mid-drain starts another to drain the rest if its policy restarts it;
//! every message accepted through a handle is handled, cancelled or
//! undelivered, exactly once; every stop answers.

use std::time::Duration;

use actix_supervisor::{
    periodic::{Periodic, TickNow},
    snapshot::NodeState,
    testkit, ChildSpec, Grace, RestartPolicy, StopOutcome, SupervisorActor,
};

use crate::attacks4_support::quiet_panics;
use crate::attacks6_support::*;
use crate::common::unlimited;

/// Far enough that no timer of these tests reaches it: a bound on what must
/// answer, in paused time.
const HOUR: Duration = Duration::from_secs(3600);

/// Awaits `fut` within an hour of paused time.
async fn in_paused_hour<F: std::future::Future>(fut: F, what: &str) -> F::Output {
    tokio::time::timeout(HOUR, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within an hour of paused time"))
}

/// One case: a periodic child whose first tick is held, five requests sent
/// behind it and five more given up at once, then a stop; the tick ends as
/// `ending` says once the stop has begun.
async fn stop_during_a_held_tick(ending: Ending, policy: RestartPolicy) {
    let case = format!("{ending:?} under {policy:?}");
    let (factory, mut held) = held_tick(ending);
    let mut schedule = Periodic::every(HOUR);
    if matches!(ending, Ending::Err | Ending::Hang) {
        schedule = schedule.failure_limit(1);
    }
    if ending == Ending::Hang {
        schedule = schedule.tick_timeout(Duration::from_secs(30));
    }
    let spec = ChildSpec::periodic("ticker", schedule, factory)
        .restart(policy)
        .grace(Grace::Duration(2 * HOUR));
    let ticker = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    assert_eq!(held.next_entered().await, 1, "{case}");

    let kept = send_notes(&ticker, &held.book, 0..5);
    let abandoned = abandon_notes(&ticker, &held.book, 5..10).await;
    assert_eq!(
        abandoned.abandoned, 5,
        "{case}: a note given up was answered: {abandoned:?}"
    );
    let stop = actix_rt::spawn(ticker.stop());
    testkit::wait_for_node(&app, "/app/ticker", |n| n.state == NodeState::Stopping)
        .describe("the ticker is stopping, its tick still held")
        .await;
    held.gate.open();

    let report = in_paused_hour(stop, "the child's stop").await.unwrap();
    let fared = in_paused_hour(kept, "the notes").await.unwrap();
    assert_ne!(report.outcome, StopOutcome::TimedOut, "{case}: {report}");
    assert_eq!(
        held.book.runs(),
        [(1, false)],
        "{case}: a tick began after the stop began: {report}"
    );
    if ending != Ending::Hang {
        assert_eq!(
            held.book.ends(),
            [(1, true)],
            "{case}: the held tick did not see the stop requested"
        );
    }
    assert_accounts(&report, fared + abandoned, &held.book, &case);
    assert_eq!(fared.refused, 0, "{case}: {fared:?}");
    let failed = ending != Ending::Ok;
    if !failed || policy != RestartPolicy::Never {
        assert_eq!(
            fared.answered, 5,
            "{case}: a note waiting behind the tick was not drained: {fared:?} {report}"
        );
    }
    let node = testkit::wait_for_node(&app, "/app/ticker", |n| n.state.is_terminal())
        .describe("the ticker ended")
        .await;
    assert!(
        node.state == NodeState::Stopped || matches!(node.state, NodeState::Failed),
        "{case}: {node:?}"
    );
    assert!(ticker.send(TickNow).await.is_err(), "{case}");
    let again = in_paused_hour(ticker.stop(), "a second stop").await;
    assert_eq!(
        again, report,
        "{case}: a second stop answered another report"
    );
    in_paused_hour(app.send(actix_supervisor::Stop), "the root's stop")
        .await
        .unwrap();
}

/// Promise (README "Stop drains every mailbox", `periodic` docs "a stop's
/// drain finishes the tick in progress ... no new tick starts",
/// `docs/lifecycle.md` "A stop drains in every phase"): a periodic child
/// stopped while a tick holds its mailbox, the tick then ending in each way
/// under each policy, answers its stop, starts no tick after the stop
/// began, and accounts for every request that waited behind the tick:
/// handled (drained by a fresh incarnation when the tick's end failed the
/// child and its policy restarts it), cancelled by its requester, or
/// undelivered, exactly once.
#[actix_rt::test]
async fn a_tick_ending_every_way_after_its_stop_began_drains_what_waited_and_starts_no_tick() {
    quiet_panics();
    tokio::time::pause();
    for ending in [Ending::Ok, Ending::Err, Ending::Panic, Ending::Hang] {
        for policy in [
            RestartPolicy::Never,
            RestartPolicy::OnFailure,
            RestartPolicy::Always,
        ] {
            stop_during_a_held_tick(ending, policy).await;
        }
    }
}

/// Promise (`TickNow` docs "skipped while a tick runs or once a stop began",
/// `periodic` docs "Once a stop has begun, no new tick starts"): `TickNow`
/// requests queued behind a tick in progress when a stop comes are each
/// answered, counted as drained, and start no tick.
#[actix_rt::test]
async fn tick_now_requests_queued_behind_a_tick_when_a_stop_comes_start_no_tick() {
    tokio::time::pause();
    let (factory, mut held) = held_tick(Ending::Ok);
    let spec = ChildSpec::periodic("ticker", Periodic::every(HOUR), factory);
    let ticker = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(held.next_entered().await, 1);

    let requests: Vec<_> = (0..4)
        .map(|_| actix_rt::spawn(ticker.send(TickNow)))
        .collect();
    let stop = actix_rt::spawn(ticker.stop());
    testkit::wait_for_node(&app, "/app/ticker", |n| n.state == NodeState::Stopping)
        .describe("the ticker is stopping, its tick still held")
        .await;
    held.gate.open();

    let report = in_paused_hour(stop, "the child's stop").await.unwrap();
    for request in requests {
        in_paused_hour(request, "a TickNow")
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("a queued TickNow was not handled: {e}: {report}"));
    }
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(
        (report.drained, report.undelivered, report.cancelled),
        (4, 0, 0),
        "{report}"
    );
    assert_eq!(
        held.book.runs(),
        [(1, false)],
        "a tick began after the stop"
    );
    app.send(actix_supervisor::Stop).await.unwrap();
}

/// How a restart of the held child is asked for.
#[derive(Debug, Clone, Copy)]
enum RestartBy {
    /// `RestartChild` to its supervisor.
    Request,
    /// A sibling's panic under one-for-all.
    Strategy,
}

/// Promise (`RestartChild` docs "drains its current incarnation to the end
/// of its mailbox as it is now, then starts a fresh one; messages sent
/// meanwhile wait for it"; `docs/lifecycle.md` "A restart between two
/// incarnations" for a strategy restart too; `TickContext::is_stop_requested`
/// "Whether a stop (or a restart) of the child began"): a periodic child
/// restarted while a tick holds its mailbox sees the restart in its tick,
/// starts no other tick in that incarnation, handles the requests sent
/// before the restart in the old incarnation and those sent after in the
/// fresh one, whose first tick runs with no stop requested.
#[actix_rt::test]
async fn a_periodic_child_restarted_mid_tick_drains_to_the_request_and_the_fresh_one_ticks() {
    quiet_panics();
    tokio::time::pause();
    for by in [RestartBy::Strategy, RestartBy::Request] {
        let case = format!("{by:?}");
        let (factory, mut held) = held_tick(Ending::Ok);
        let spec = ChildSpec::periodic("ticker", Periodic::every(HOUR), factory);
        let ticker = spec.handle();
        let (log, _probe_log) = crate::common::recorder();
        let probe = crate::common::probe_spec("probe", log);
        let probe_handle = probe.handle();
        let app = SupervisorActor::builder("app")
            .strategy(actix_supervisor::Strategy::OneForAll)
            .intensity(unlimited())
            .child(spec)
            .child(probe)
            .start()
            .unwrap();
        assert_eq!(held.next_entered().await, 1, "{case}");
        in_paused_hour(probe_handle.started(), "the probe's start")
            .await
            .unwrap();

        let before = send_notes(&ticker, &held.book, 0..4);
        let restart = match by {
            RestartBy::Request => Some(actix_rt::spawn(
                app.send(actix_supervisor::RestartChild::new("ticker")),
            )),
            RestartBy::Strategy => {
                let _ = probe_handle.send(crate::common::Panic("sibling")).await;
                None
            }
        };
        held.token_cancelled().await;
        let after = send_notes(&ticker, &held.book, 4..8);
        held.gate.open();

        if let Some(restart) = restart {
            in_paused_hour(restart, "RestartChild")
                .await
                .unwrap()
                .unwrap()
                .unwrap_or_else(|e| panic!("{case}: RestartChild answered {e}"));
        }
        assert_eq!(
            held.next_entered().await,
            1,
            "{case}: the fresh incarnation's tick"
        );
        let before = in_paused_hour(before, "the notes sent before")
            .await
            .unwrap();
        let after = in_paused_hour(after, "the notes sent after").await.unwrap();
        assert_eq!((before.answered, after.answered), (4, 4), "{case}");
        assert_eq!(held.book.runs(), [(1, false), (1, false)], "{case}");
        assert_eq!(held.book.ends(), [(1, true)], "{case}");
        let mut noted = held.book.noted_by();
        noted.sort_unstable();
        let expected: Vec<(u32, u64)> = (0..8).map(|id| (id, if id < 4 { 1 } else { 2 })).collect();
        assert_eq!(
            noted, expected,
            "{case}: (note, incarnation that handled it)"
        );
        let report = in_paused_hour(app.send(actix_supervisor::Stop), "the root's stop")
            .await
            .unwrap();
        assert!(report.summary().stopped_cleanly(), "{case}:\n{report}");
    }
}

/// Promise (`docs/async_handlers.md` "`ChildFuture` ... a stop waits for it
/// within the grace"; `periodic` docs "a stop's drain finishes the tick in
/// progress"): requests answered by a `ChildFuture`, queued behind a held
/// tick when a stop comes, are handled by the drain after the tick, and the
/// stop waits for their futures (which take ten seconds of paused time)
/// before it answers: each requester gets its answer, none `NoReply`.
#[actix_rt::test]
async fn child_futures_started_by_the_drain_after_a_held_tick_are_waited_for_by_the_stop() {
    tokio::time::pause();
    let (factory, mut held) = held_tick(Ending::Ok);
    let spec =
        ChildSpec::periodic("ticker", Periodic::every(HOUR), factory).grace(Grace::Duration(HOUR));
    let ticker = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(held.next_entered().await, 1);

    let requests: Vec<_> = (0..3)
        .map(|id| {
            let send = ticker.send(SlowNote(id, held.book.clone(), Duration::from_secs(10)));
            actix_rt::spawn(send)
        })
        .collect();
    let stop = actix_rt::spawn(ticker.stop());
    held.token_cancelled().await;
    held.gate.open();

    let report = in_paused_hour(stop, "the child's stop").await.unwrap();
    let handled_at_the_answer = held.book.notes().len();
    for request in requests {
        let answer = in_paused_hour(request, "a slow note").await.unwrap();
        assert!(
            answer.is_ok(),
            "a ChildFuture was not waited for: {answer:?}: {report}"
        );
    }
    assert_eq!(
        handled_at_the_answer, 3,
        "the stop answered before the futures ended: {report}"
    );
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!((report.drained, report.undelivered), (3, 0), "{report}");
    assert_eq!(held.book.runs(), [(1, false)]);
    app.send(actix_supervisor::Stop).await.unwrap();
}

/// Promise (`MissedTicks::Burst` docs "Run the missed ticks at once";
/// `periodic` docs "Once a stop has begun, no new tick starts"): ticks
/// missed while a tick was held, under `Burst`, are not run once a stop
/// began, whether the stop came before or after the ticks were missed
/// (without a stop, the first of them runs as soon as the held tick ends:
/// the attack has teeth).
#[actix_rt::test]
async fn ticks_missed_under_burst_while_a_tick_was_held_do_not_run_once_a_stop_began() {
    tokio::time::pause();
    for stop_first in [None, Some(false), Some(true)] {
        let case = format!("stop first: {stop_first:?}");
        let (factory, mut held) = held_tick(Ending::Ok);
        let schedule = Periodic::every(Duration::from_secs(1))
            .missed_ticks(actix_supervisor::periodic::MissedTicks::Burst);
        let spec = ChildSpec::periodic("ticker", schedule, factory).grace(Grace::Duration(HOUR));
        let ticker = spec.handle();
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();
        assert_eq!(held.next_entered().await, 1, "{case}");

        let stop = match stop_first {
            None => {
                tokio::time::advance(Duration::from_secs(10)).await;
                held.gate.open();
                assert_eq!(held.next_entered().await, 2, "{case}: no missed tick ran");
                app.send(actix_supervisor::Stop).await.unwrap();
                continue;
            }
            Some(true) => {
                let stop = actix_rt::spawn(ticker.stop());
                held.token_cancelled().await;
                tokio::time::advance(Duration::from_secs(10)).await;
                stop
            }
            Some(false) => {
                tokio::time::advance(Duration::from_secs(10)).await;
                let stop = actix_rt::spawn(ticker.stop());
                held.token_cancelled().await;
                stop
            }
        };
        held.gate.open();
        let report = in_paused_hour(stop, "the child's stop").await.unwrap();
        assert_eq!(report.outcome, StopOutcome::Drained, "{case}: {report}");
        assert_eq!(
            held.book.runs(),
            [(1, false)],
            "{case}: a missed tick ran in the stop"
        );
        app.send(actix_supervisor::Stop).await.unwrap();
    }
}
