//! Sixth outside attack, on worker children: a loop that ends in every way
//! after its stop began (returns, fails, panics, ignores its token past the
//! grace) under every restart policy, and a stop that comes during the
//! worker's backoff.
//!
//! The promises attacked (`worker` module docs, README, `docs/lifecycle.md`):
//! the stop waits for the loop, bounded by the grace; the token is cancelled
//! as soon as a stop begins, so any loop that runs during a stop (one
//! started to drain after a failure mid-stop, or at once out of a backoff)
//! sees the stop requested; every message accepted through a handle is
//! accounted for exactly once; every stop answers, a second one with the
//! same report.

use std::time::Duration;

use actix_supervisor::{
    snapshot::NodeState, testkit, Backoff, ChildSpec, Grace, RestartPolicy, StopOutcome,
    SupervisorActor,
};

use crate::attacks4_support::quiet_panics;
use crate::attacks6_support::*;
use crate::common::unlimited;

const HOUR: Duration = Duration::from_secs(3600);

/// Awaits `fut` within an hour of paused time.
async fn in_paused_hour<F: std::future::Future>(fut: F, what: &str) -> F::Output {
    tokio::time::timeout(HOUR, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within an hour of paused time"))
}

/// Asserts that the first loop began before any stop and every later one
/// with the stop already requested.
fn assert_later_runs_saw_the_stop(held: &Held, case: &str) {
    let runs = held.book.runs();
    assert_eq!(runs.first(), Some(&(1, false)), "{case}: {runs:?}");
    for &(incarnation, stop_requested) in &runs[1..] {
        assert!(
            stop_requested,
            "{case}: incarnation {incarnation}'s loop began during the stop \
             with its token not cancelled: {runs:?}"
        );
    }
}

async fn stop_during_a_held_loop(ending: Ending, policy: RestartPolicy) {
    let case = format!("{ending:?} under {policy:?}");
    let (factory, mut held) = held_loop(ending);
    let grace = if ending == Ending::Hang {
        Duration::from_secs(30)
    } else {
        2 * HOUR
    };
    let spec = ChildSpec::worker("looper", factory)
        .restart(policy)
        .grace(Grace::Duration(grace));
    let looper = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    assert_eq!(held.next_entered().await, 1, "{case}");

    let kept = send_notes(&looper, &held.book, 0..5);
    let abandoned = abandon_notes(&looper, &held.book, 5..10).await;
    let stop = actix_rt::spawn(looper.stop());
    testkit::wait_for_node(&app, "/app/looper", |n| n.state == NodeState::Stopping)
        .describe("the worker is stopping, its loop still held")
        .await;
    held.gate.open();

    let report = in_paused_hour(stop, "the worker's stop").await.unwrap();
    let fared = in_paused_hour(kept, "the notes").await.unwrap();
    if ending == Ending::Hang {
        assert_eq!(report.outcome, StopOutcome::TimedOut, "{case}: {report}");
    } else {
        assert_ne!(report.outcome, StopOutcome::TimedOut, "{case}: {report}");
    }
    assert_later_runs_saw_the_stop(&held, &case);
    assert_accounts(&report, fared + abandoned, &held.book, &case);
    assert_eq!(
        (fared.answered, fared.refused),
        (5, 0),
        "{case}: the notes sent before the stop: {report}"
    );
    let node = testkit::wait_for_node(&app, "/app/looper", |n| n.state.is_terminal())
        .describe("the worker ended")
        .await;
    assert!(
        node.state == NodeState::Stopped || node.state == NodeState::Failed,
        "{case}: {node:?}"
    );
    let again = in_paused_hour(looper.stop(), "a second stop").await;
    assert_eq!(
        again, report,
        "{case}: a second stop answered another report"
    );
    in_paused_hour(app.send(actix_supervisor::Stop), "the root's stop")
        .await
        .unwrap();
}

/// Promise (`worker` docs "the token is cancelled as soon as a stop begins
/// ... the child's stop waits for the loop to return, bounded by the
/// child's grace"; README "every stop answers"): a worker stopped while its
/// loop is busy, the loop then returning, failing, panicking or hanging
/// under each policy, answers its stop (timed out only for the loop that
/// hangs), runs no loop during the stop without its token cancelled, and
/// accounts for every request.
#[actix_rt::test]
async fn a_loop_ending_every_way_after_its_stop_began_answers_and_no_later_loop_misses_the_stop() {
    quiet_panics();
    tokio::time::pause();
    for ending in [Ending::Ok, Ending::Err, Ending::Panic, Ending::Hang] {
        for policy in [
            RestartPolicy::Never,
            RestartPolicy::OnFailure,
            RestartPolicy::Always,
        ] {
            stop_during_a_held_loop(ending, policy).await;
        }
    }
}

/// Promise (`docs/lifecycle.md` "A `Stop` there starts the next incarnation
/// at once (without the rest of its backoff) to drain, then ends the child";
/// `worker` docs "a token cancelled when a stop (or a restart) of the child
/// begins"): a worker whose loop failed on its own, stopped during its
/// backoff, answers at once, and the loop of the incarnation started to
/// drain begins with its stop requested.
#[actix_rt::test]
async fn a_loop_started_out_of_a_backoff_by_a_stop_sees_the_stop_at_once() {
    quiet_panics();
    tokio::time::pause();
    for ending in [Ending::Err, Ending::Panic] {
        let case = format!("{ending:?}");
        let (factory, mut held) = held_loop(ending);
        let spec = ChildSpec::worker("looper", factory)
            .restart(RestartPolicy::Always)
            .backoff(Backoff::new(HOUR, HOUR));
        let looper = spec.handle();
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();
        assert_eq!(held.next_entered().await, 1, "{case}");
        held.gate.open(); // the first loop fails on its own
        testkit::wait_for_node(&app, "/app/looper", |n| {
            matches!(n.state, NodeState::Restarting { .. })
        })
        .describe("the worker waits out its backoff")
        .await;

        let kept = send_notes(&looper, &held.book, 0..3);
        let report = tokio::time::timeout(Duration::from_secs(60), looper.stop())
            .await
            .unwrap_or_else(|_| panic!("{case}: the stop waited out the backoff"));
        let fared = in_paused_hour(kept, "the notes").await.unwrap();
        assert_eq!(report.outcome, StopOutcome::Drained, "{case}: {report}");
        assert_later_runs_saw_the_stop(&held, &case);
        assert_accounts(&report, fared, &held.book, &case);
        assert_eq!(fared.answered, 3, "{case}: {report}");
        app.send(actix_supervisor::Stop).await.unwrap();
    }
}

/// Promise (`worker` docs "a token cancelled when a stop (or a restart) of
/// the child begins", "the struct is built fresh by the spec's factory for
/// each incarnation"; `RestartChild` docs "Answers once the new incarnation
/// is starting"): a worker restarted while its loop is busy, by
/// `RestartChild` or by a sibling's failure under one-for-all, sees its
/// token cancelled; the restart waits for the loop to return; the fresh
/// incarnation's loop begins with a token that is not cancelled.
#[actix_rt::test]
async fn a_worker_restarted_mid_loop_waits_for_the_loop_and_the_fresh_one_has_a_fresh_token() {
    quiet_panics();
    tokio::time::pause();
    for by_request in [true, false] {
        let case = if by_request {
            "RestartChild"
        } else {
            "one-for-all"
        };
        let (factory, mut held) = held_loop(Ending::Ok);
        let spec = ChildSpec::worker("looper", factory);
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

        let restart = if by_request {
            Some(actix_rt::spawn(
                app.send(actix_supervisor::RestartChild::new("looper")),
            ))
        } else {
            let _ = probe_handle.send(crate::common::Panic("sibling")).await;
            None
        };
        assert_eq!(held.token_cancelled().await, 1, "{case}");
        held.gate.open();
        if let Some(restart) = restart {
            in_paused_hour(restart, "RestartChild")
                .await
                .unwrap()
                .unwrap()
                .unwrap_or_else(|e| panic!("{case}: RestartChild answered {e}"));
        }
        assert_eq!(held.next_entered().await, 2, "{case}");
        assert_eq!(
            held.book.runs(),
            [(1, false), (2, false)],
            "{case}: the fresh loop began with its token cancelled"
        );
        let node = crate::common::node(&app, "/app/looper").await;
        assert_eq!(node.state, NodeState::Running, "{case}: {node:?}");
        let report = in_paused_hour(app.send(actix_supervisor::Stop), "the root's stop")
            .await
            .unwrap();
        assert!(report.summary().stopped_cleanly(), "{case}:\n{report}");
    }
}

/// Promise (`worker` docs "Returning `Ok` is a normal exit; `Err` or a
/// panic is a failure; both are handled by the child's restart policy";
/// `ChildHandle::stop` docs "Calling `stop` again, from anywhere, waits for
/// the same end and returns the same report"; README "every stop
/// answers"): a worker's loop ending on its own (from another OS thread
/// opening its gate) at the moment a stop comes from a third thread, in
/// every way and under every policy: the stop answers, `ended()` answers
/// the same report, the node ends, and no loop runs after the stop
/// answered.
#[actix_rt::test]
async fn a_loop_ending_on_its_own_as_a_stop_comes_from_another_thread_answers_one_report() {
    quiet_panics();
    for round in 0..10 {
        for ending in [Ending::Ok, Ending::Err, Ending::Panic] {
            // `Always` spins until the grace: see the ignored test
            // `a_cooperative_loop_under_always_is_stopped_at_once_and_not_restarted`.
            for policy in [RestartPolicy::Never, RestartPolicy::OnFailure] {
                let case = format!("round {round}, {ending:?} under {policy:?}");
                let (factory, mut held) = held_loop(ending);
                let spec = ChildSpec::worker("looper", factory).restart(policy);
                let looper = spec.handle();
                let app = SupervisorActor::builder("app")
                    .intensity(unlimited())
                    .child(spec)
                    .start()
                    .unwrap();
                assert_eq!(held.next_entered().await, 1, "{case}");

                let go = std::sync::Arc::new(std::sync::Barrier::new(2));
                let ends = {
                    let (go, gate) = (go.clone(), held.gate.clone());
                    on_other_thread(move || {
                        go.wait();
                        gate.open();
                        async {}
                    })
                };
                let stop = {
                    let looper = looper.clone();
                    on_other_thread(move || {
                        go.wait();
                        looper.stop()
                    })
                };
                joined(ends).await;
                let report = joined(stop).await;
                let ended = crate::common::within(looper.ended()).await;
                assert_eq!(ended, report, "{case}: ended() and stop() differ");
                let runs = held.book.runs().len();
                let node = testkit::wait_for_node(&app, "/app/looper", |n| n.state.is_terminal())
                    .describe("the worker ended")
                    .await;
                let root = crate::common::within(app.send(actix_supervisor::Stop))
                    .await
                    .unwrap();
                assert_eq!(
                    held.book.runs().len(),
                    runs,
                    "{case}: a loop ran after the stop answered ({node:?}):\n{root}"
                );
                assert_eq!(
                    root.find("/app/looper"),
                    Some(&report),
                    "{case}: the root's report of the worker differs"
                );
            }
        }
    }
}

/// The loop of the `WorkContext` docs: waits for its token, then returns.
struct Listener(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl actix_supervisor::worker::Work for Listener {
    type Error = String;
    async fn run(&mut self, cx: actix_supervisor::worker::WorkContext) -> Result<(), String> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        cx.token().cancelled().await;
        Ok(())
    }
}

/// Promise (`worker` docs "The child's stop waits for the loop to return
/// ... bounded by the child's grace", the `WorkContext` example "the loop
/// saw its token and returned" and the stop `is_drained()`; README "every
/// stop answers"; `ChildHandle::stop` "after the stop the child is not
/// restarted, whatever its policy"): a worker under `Always` whose loop
/// returns as soon as its token is cancelled is stopped at once, drained,
/// without its factory building incarnation after incarnation; so is one
/// whose previous loop had ended on its own (and was restarted by
/// `Always`).
///
/// Seen instead: (a) a fresh worker: the stop builds three more
/// incarnations, each running its loop, before it answers `Drained`; (b)
/// after a restart that followed a normal exit: each incarnation's loop
/// returns at once (its token is cancelled), the incarnation ends before
/// its drain is over, the stop starts another "to drain the rest", and so
/// on, about 30,000 incarnations a second until the grace ends it
/// `TimedOut` (with `Grace::Infinity` the stop would never answer). Under
/// `OnFailure` the same loops stop at once, drained.
#[actix_rt::test]
async fn a_cooperative_loop_under_always_is_stopped_at_once_and_not_restarted() {
    for policy in [RestartPolicy::OnFailure, RestartPolicy::Always] {
        // (a) The loop of the `WorkContext` docs.
        let runs = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = runs.clone();
        let spec = ChildSpec::worker("listener", move |_| Listener(counted.clone()))
            .restart(policy)
            .grace(Grace::Duration(Duration::from_secs(1)));
        let listener = spec.handle();
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();
        crate::common::within(listener.started()).await.unwrap();
        let report = crate::common::within(listener.stop()).await;
        let runs = runs.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            report.outcome,
            StopOutcome::Drained,
            "(a) {policy:?}: {report}"
        );
        assert_eq!(
            runs, 1,
            "(a) {policy:?}: loops run for one start and one stop: {report}"
        );
        crate::common::within(app.send(actix_supervisor::Stop))
            .await
            .unwrap();

        // (b) The first loop returns `Ok` on its own; under `Always` a
        // second incarnation runs a loop that waits for its token.
        let (factory, mut held) = held_loop(Ending::Ok);
        let spec = ChildSpec::worker("looper", factory)
            .restart(policy)
            .grace(Grace::Duration(Duration::from_secs(1)));
        let looper = spec.handle();
        let app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(spec)
            .start()
            .unwrap();
        assert_eq!(held.next_entered().await, 1);
        held.gate.open();
        let expected = if policy == RestartPolicy::Always {
            assert_eq!(held.next_entered().await, 2);
            2
        } else {
            crate::common::within(looper.ended()).await;
            1
        };
        let report = crate::common::within(looper.stop()).await;
        let runs = held.book.runs().len();
        assert_ne!(
            report.outcome,
            StopOutcome::TimedOut,
            "(b) {policy:?}: {report}"
        );
        assert_eq!(runs, expected, "(b) {policy:?}: loops run: {report}");
        crate::common::within(app.send(actix_supervisor::Stop))
            .await
            .unwrap();
    }
}
