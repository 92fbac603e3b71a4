//! Eighth outside attack, from other OS threads and on nested supervisors:
//! `ChildFuture`s that panic while other threads send and a stop comes; a
//! nested supervisor killed, or restarted by its parent's strategy, while
//! its child owns futures; a root stop while a strategy restart waits for
//! a sibling's future.
//!
//! The promises attacked: every stop answers; the report closes with what
//! the senders saw (`handled + cancelled + undelivered == accepted`, an `Ok`
//! handled, an error not); `Drained` lost nothing; a `Kill` to a nested
//! supervisor never leaves a child's report or its parent's stop hanging.

use std::time::Duration;

use actix_supervisor::snapshot::NodeState;
use actix_supervisor::testkit;
use actix_supervisor::{Kill, RestartPolicy, Stop, StopOutcome, SupervisorActor};

use crate::attacks6_support::{joined, on_other_thread};
use crate::attacks7_support::{assert_ids_account, Fared};
use crate::attacks8_support::{ender, slow, Bump, EndOn, How, Senders, Slow};
use crate::common::{unlimited, within, Gate};

/// Messages each sending thread tries at most.
const PER_THREAD: u32 = 400;

/// Three other threads send `Bump`s and `ChildFuture`s (every 25th of
/// which panics, restarting the child) until the handle refuses; the stop
/// comes while they send. The report closes with what they saw, whatever
/// the restarts in the middle.
#[actix_rt::test]
async fn panicking_child_futures_under_traffic_from_other_threads_during_a_stop_account_for_every_message(
) {
    for policy in [RestartPolicy::Always, RestartPolicy::OnFailure] {
        let (spec, handle, book) = ender("e", How::Never, policy);
        let _app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(spec)
            .start()
            .unwrap();
        within(handle.started()).await.unwrap();
        let open = Gate::new();
        open.open();
        let threads: Vec<_> = (1..=3u32)
            .map(|t| {
                let (handle, open) = (handle.clone(), open.clone());
                on_other_thread(move || async move {
                    let mut fared = Fared::default();
                    for i in 0..PER_THREAD {
                        let id = t * 10_000 + i;
                        let result = if i % 2 == 0 {
                            handle.send(Bump(id)).await.map(|_| ()).map_err(|e| {
                                matches!(e, actix_supervisor::SendError::NoReply { .. })
                            })
                        } else {
                            let msg = Slow {
                                id,
                                gate: open.clone(),
                                panics: i % 25 == 1,
                            };
                            handle.send(msg).await.map(|_| ()).map_err(|e| {
                                matches!(e, actix_supervisor::SendError::NoReply { .. })
                            })
                        };
                        match result {
                            Ok(()) => fared.answered += 1,
                            Err(true) => fared.no_reply += 1,
                            Err(false) => {
                                fared.refused += 1;
                                break;
                            }
                        }
                    }
                    fared
                })
            })
            .collect();
        book.began(60).await;
        let report = within(handle.stop()).await;
        let mut fared = Fared::default();
        for thread in threads {
            fared = fared + joined(thread).await;
        }
        let case = format!("{policy:?}");
        assert!(fared.no_reply > 0, "{case}: no future panicked: {fared:?}");
        // A future that panicked before the stop counts as handled (its
        // handler ran, the child lived on: the rustdoc's rule); every other
        // error is undelivered. So the report's handled count lies between
        // the messages answered and those plus the errors.
        let (booked, unhandled) = (
            book.ids().len() as u64,
            report.cancelled + report.undelivered,
        );
        assert_eq!(booked, fared.answered, "{case}: {fared:?}: {report}");
        assert!(
            booked + unhandled <= fared.accepted()
                && fared.accepted() <= booked + fared.no_reply + unhandled,
            "{case}: {booked} answered, {unhandled} cancelled or undelivered, {fared:?}: {report}"
        );
        if report.outcome == StopOutcome::Drained {
            assert_eq!(report.undelivered, 0, "{case}: {report}");
        }
    }
}

/// A nested supervisor is killed while its child owns a `ChildFuture` and
/// has answered others: the child's report answers, closes, and is not
/// `Drained`; the root's stop answers.
#[actix_rt::test]
async fn a_nested_supervisor_killed_while_its_child_owns_futures_leaves_no_report_hanging() {
    tokio::time::pause();
    let (spec, handle, book) = ender("e", How::Never, RestartPolicy::Always);
    let inner = SupervisorActor::builder("inner").child(spec);
    let inner_addr = inner.address();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(inner.restart(RestartPolicy::Never))
        .start()
        .unwrap();
    within(handle.started()).await.unwrap();
    let never = Gate::new();
    let mut senders = Senders::default();
    senders.send(&handle, slow(1, &never), None);
    senders.send(&handle, Bump(2), None);
    senders.send(&handle, slow(3, &never), Some(Duration::from_millis(5)));
    book.began(2).await;
    inner_addr.do_send(Kill);
    let report = within(handle.ended()).await;
    let fared = senders.fared().await;
    assert_ids_account(&report, fared, book.ids(), "killed parent");
    assert_ne!(report.outcome, StopOutcome::Drained, "{report}");
    let root = within(app.send(Stop)).await.unwrap();
    assert_eq!(root.outcome, StopOutcome::Drained, "{root}");
}

/// A nested supervisor restarted by its parent's one-for-all strategy (a
/// sibling failed) while its child owns a `ChildFuture` that the child's
/// own end (on its token, cancelled by the drain) drops: its requester gets
/// `NoReply`. The child lives on through the restart (one run, one report),
/// so its final report must account for that message as its sender saw it.
#[actix_rt::test]
async fn a_nested_supervisor_restarted_by_its_parent_never_hides_a_future_its_child_dropped() {
    tokio::time::pause();
    let (spec, handle, book) = ender("e", How::Stop, RestartPolicy::Always);
    let (x, x_handle, _) = ender("x", How::Never, RestartPolicy::Always);
    let app = SupervisorActor::builder("app")
        .strategy(actix_supervisor::Strategy::OneForAll)
        .intensity(unlimited())
        .child(x)
        .child(SupervisorActor::builder("inner").child(spec))
        .start()
        .unwrap();
    within(handle.started()).await.unwrap();
    let never = Gate::new();
    let mut senders = Senders::default();
    senders.send(&handle, slow(1, &never), None);
    book.began(1).await;
    let now = Gate::new();
    now.open();
    x_handle.do_send(EndOn(now, How::Fail)).unwrap();
    let first = senders.fared().await;
    assert_eq!(first.no_reply, 1, "the restart dropped the future");
    testkit::wait_for_node(&app, "/app/inner/e", |n| {
        n.state == NodeState::Running && n.incarnation >= 2
    })
    .await;
    let mut senders = Senders::default();
    senders.send(&handle, Bump(2), None);
    let fared = first + senders.fared().await;
    let root = within(app.send(Stop)).await.unwrap();
    let report = root.find("/app/inner/e").expect("e's report");
    assert_ids_account(report, fared, book.ids(), "nested, one-for-all");
}

/// The root is stopped while a strategy restart drains a sibling that owns
/// a `ChildFuture`: the stop takes the drain over. Whether the future then
/// completes (its gate opens) or is cancelled at the grace, the root's stop
/// answers and the sibling's report matches what its sender saw.
#[actix_rt::test]
async fn a_root_stop_while_a_strategy_restart_waits_for_a_future_accounts_for_it() {
    tokio::time::pause();
    for strategy in [
        actix_supervisor::Strategy::RestForOne,
        actix_supervisor::Strategy::OneForAll,
    ] {
        for opens in [true, false] {
            let case = format!("{strategy:?}, the gate opens: {opens}");
            let (a, a_handle, _) = ender("a", How::Never, RestartPolicy::Always);
            let (b, b_handle, b_book) = ender("b", How::Never, RestartPolicy::Always);
            let b = b.grace(actix_supervisor::Grace::Duration(Duration::from_secs(1)));
            let app = SupervisorActor::builder("app")
                .strategy(strategy)
                .intensity(unlimited())
                .child(a)
                .child(b)
                .start()
                .unwrap();
            within(b_handle.started()).await.unwrap();
            let gate = Gate::new();
            let mut senders = Senders::default();
            senders.send(&b_handle, slow(1, &gate), None);
            b_book.began(1).await;
            let now = Gate::new();
            now.open();
            a_handle.do_send(EndOn(now, How::Fail)).unwrap();
            testkit::wait_for_node(&app, "/app/b", |n| n.state != NodeState::Running).await;
            let stop = actix_rt::spawn(app.send(Stop));
            tokio::task::yield_now().await;
            if opens {
                gate.open();
            }
            let root = within(stop).await.unwrap().unwrap();
            let report = root.find("/app/b").expect("b's report");
            let fared = senders.fared().await;
            assert_ids_account(report, fared, b_book.ids(), &case);
            assert_eq!(fared.answered, u64::from(opens), "{case}: {root}");
            assert_eq!(
                b_book.built(),
                1,
                "{case}: b restarted during the stop: {root}"
            );
        }
    }
}
