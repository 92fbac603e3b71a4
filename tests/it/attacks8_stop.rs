//! Eighth outside attack, on stops whose drain meets a `ChildFuture` that
//! ends badly: it panics, it is dropped by the child's own end in the same
//! poll in which another completes, its requester gave up half-way, the
//! stop came in a backoff, the child sits under a nested supervisor (on this
//! arbiter or another).
//!
//! The promises attacked: every stop answers; its report closes
//! (`handled + cancelled + undelivered == accepted`, an `Ok` reply handled,
//! an error not); `Drained` means nothing accepted was lost; a
//! `ChildFuture` dropped unfinished by the child's own end during a stop's
//! drain is undelivered and the report is not `Drained`; after a stop the
//! child is not restarted.

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::testkit;
use actix_supervisor::{
    Backoff, ChildHandle, RestartPolicy, Stop, StopOutcome, StopReport, SupervisorActor,
};

use crate::attacks7_support::{assert_ids_account, Fared};
use crate::attacks8_support::{
    ender, fire, slow, Book, Bump, EndOn, Ender, How, Senders, Slow, DOOMED_DROPS,
};
use crate::common::{unlimited, within, Gate};

/// Checks a stopped child's report against its senders and its book, and
/// that it is not `Drained` when `lost` (a sender was left without a reply).
fn assert_closes(report: &StopReport, fared: Fared, book: &Book, extra: &[u32], case: &str) {
    let mut ids = book.ids();
    ids.extend_from_slice(extra);
    assert_ids_account(report, fared, ids, case);
    if fared.no_reply > 0 || fared.abandoned > book.ids().len() as u64 {
        assert_ne!(report.outcome, StopOutcome::Drained, "{case}: {report}");
    }
}

/// Two `ChildFuture`s wait on one gate, one of which panics; the gate opens
/// during the stop's drain. Whichever is polled first, the panic ends the
/// incarnation (a failure during the stop): the other is completed or
/// dropped, and its sender's view must match the report.
#[actix_rt::test]
async fn a_child_future_panicking_during_a_stops_drain_is_accounted_with_its_sibling_future() {
    tokio::time::pause();
    for policy in [RestartPolicy::Always, RestartPolicy::Never] {
        for panics_first in [true, false] {
            let case = format!("{policy:?}, panicking future first: {panics_first}");
            let (spec, handle, book) = ender("e", How::Never, policy);
            let _app = SupervisorActor::builder("app")
                .intensity(unlimited())
                .child(spec)
                .start()
                .unwrap();
            within(handle.started()).await.unwrap();
            let gate = Gate::new();
            let boom = Slow {
                id: 1,
                gate: gate.clone(),
                panics: true,
            };
            let mut senders = Senders::default();
            if panics_first {
                senders.send(&handle, boom, None);
                senders.send(&handle, slow(2, &gate), None);
            } else {
                senders.send(&handle, slow(2, &gate), None);
                senders.send(&handle, boom, None);
            }
            book.began(2).await;
            let stop = handle.stop();
            gate.open();
            let report = within(stop).await;
            let fared = senders.fared().await;
            assert_closes(&report, fared, &book, &[], &case);
            assert_eq!(book.built(), 1, "{case}: restarted after its stop");
        }
    }
}

/// A `ChildFuture` and the child's own end (`ctx.stop()` or `fail`) become
/// ready in the same poll, during the stop's drain, in both orders: a future
/// that answered `Ok` is handled, one dropped is undelivered.
#[actix_rt::test]
async fn a_child_future_ready_in_the_same_poll_as_the_childs_own_end_is_accounted_as_its_sender_saw_it(
) {
    tokio::time::pause();
    for how in [How::Stop, How::Fail] {
        for end_first in [true, false] {
            let case = format!("{how:?}, end first: {end_first}");
            let (spec, handle, book) = ender("e", How::Never, RestartPolicy::Always);
            let _app = SupervisorActor::builder("app")
                .intensity(unlimited())
                .child(spec)
                .start()
                .unwrap();
            within(handle.started()).await.unwrap();
            let gate = Gate::new();
            let mut senders = Senders::default();
            let mut fired = Fared::default();
            if end_first {
                fire(&handle, EndOn(gate.clone(), how), &mut fired);
                senders.send(&handle, slow(1, &gate), None);
            } else {
                senders.send(&handle, slow(1, &gate), None);
                fire(&handle, EndOn(gate.clone(), how), &mut fired);
            }
            book.began(1).await;
            let stop = handle.stop();
            gate.open();
            let report = within(stop).await;
            let fared = senders.fared().await + fired;
            assert_closes(&report, fared, &book, &[0], &case);
            assert_eq!(book.built(), 1, "{case}: restarted after its stop");
        }
    }
}

/// Requesters give up (a timeout around `send`) after their handler ran;
/// the child then ends on its token during the stop, dropping their futures
/// unfinished: the messages were accepted and never answered, so they are
/// undelivered (not cancelled, not handled) and the report is not `Drained`.
#[actix_rt::test]
async fn futures_whose_requesters_gave_up_and_that_the_childs_own_end_drops_are_undelivered() {
    tokio::time::pause();
    let (spec, handle, book) = ender("e", How::Stop, RestartPolicy::Always);
    let _app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(handle.started()).await.unwrap();
    let never = Gate::new();
    let mut senders = Senders::default();
    for id in 1..=3 {
        senders.send(&handle, slow(id, &never), Some(Duration::from_millis(10)));
    }
    book.began(3).await;
    tokio::time::advance(Duration::from_millis(20)).await;
    senders.send(&handle, slow(4, &never), None);
    book.began(4).await;
    let report = within(handle.stop()).await;
    let fared = senders.fared().await;
    assert_eq!((fared.abandoned, fared.no_reply), (3, 1), "{report}");
    assert_closes(&report, fared, &book, &[], "gave up, then own end");
    assert_eq!((report.undelivered, report.cancelled), (4, 0), "{report}");
}

/// A stop comes in a long backoff with messages waiting, among them a
/// `ChildFuture` whose gate is open; the incarnation built to drain ends on
/// its token (cancelled by the stop) at once. Every stop answers, the report
/// closes, and the child is not restarted after its stop.
#[actix_rt::test]
async fn a_stop_in_a_backoff_of_a_child_that_ends_on_its_token_accounts_for_what_waited() {
    tokio::time::pause();
    for how in [How::Stop, How::Fail] {
        let (spec, handle, book) = ender("e", how, RestartPolicy::Always);
        let app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(spec.backoff(Backoff::new(
                Duration::from_secs(10),
                Duration::from_secs(60),
            )))
            .start()
            .unwrap();
        within(handle.started()).await.unwrap();
        let open = Gate::new();
        open.open();
        let mut fired = Fared::default();
        fire(&handle, EndOn(open.clone(), How::Fail), &mut fired);
        testkit::wait_for_node(&app, "/app/e", |n| {
            matches!(n.state, NodeState::Restarting { .. })
        })
        .await;
        let mut senders = Senders::default();
        senders.send(&handle, Bump(1), None);
        senders.send(&handle, slow(2, &open), None);
        senders.send(&handle, Bump(3), None);
        tokio::task::yield_now().await;
        let report = within(handle.stop()).await;
        let fared = senders.fared().await + fired;
        assert_closes(&report, fared, &book, &[0], &format!("{how:?}"));
        let built = book.built();
        tokio::time::advance(Duration::from_secs(120)).await;
        assert_eq!(book.built(), built, "{how:?}: restarted after its stop");
    }
}

/// A subtree `inner` holding `e`, which ends on its token with a
/// `ChildFuture` in flight; on `arbiter` if given.
fn nested(arbiter: Option<ArbiterHandle>) -> (Addr<SupervisorActor>, ChildHandle<Ender>, Book2) {
    let (spec, handle, book) = ender("e", How::Stop, RestartPolicy::Always);
    let mut inner = SupervisorActor::builder("inner").child(spec);
    if let Some(arbiter) = arbiter {
        inner = inner.on_arbiter(arbiter);
    }
    let app = SupervisorActor::builder("app")
        .child(inner)
        .start()
        .unwrap();
    (app, handle, book)
}

type Book2 = std::sync::Arc<Book>;

/// The root of a tree is stopped while a grandchild (on this arbiter or
/// another) owns a `ChildFuture` and ends on its token: the grandchild's
/// report says the message was lost, and the subtree's summary carries it.
#[actix_rt::test]
async fn a_root_stop_reports_a_future_dropped_by_a_grandchilds_own_end_on_any_arbiter() {
    let other = Arbiter::new();
    for arbiter in [None, Some(other.handle())] {
        let case = format!("on another arbiter: {}", arbiter.is_some());
        let (app, handle, book) = nested(arbiter);
        within(handle.started()).await.unwrap();
        let never = Gate::new();
        let mut senders = Senders::default();
        senders.send(&handle, slow(1, &never), None);
        senders.send(&handle, Bump(2), None);
        book.began(1).await;
        let root = within(app.send(Stop)).await.unwrap();
        let report = root.find("/app/inner/e").expect("the grandchild's report");
        let fared = senders.fared().await;
        assert_closes(report, fared, &book, &[], &case);
        assert_eq!(report.outcome, StopOutcome::Incomplete, "{case}: {root}");
        assert_eq!(root.summary().messages_undelivered, 1, "{case}: {root}");
        assert_eq!(&within(handle.stop()).await, report, "{case}");
    }
    other.stop();
}

/// A `ChildFuture` whose state panics when dropped is dropped by the
/// library: by the child's own end during the stop, or by the stop's grace.
/// The panic is user code's (the child's failure, at worst); the stop must
/// still answer, and the supervisor must still answer after it.
#[actix_rt::test]
async fn a_child_future_that_panics_as_it_is_dropped_never_leaves_a_stop_unanswered() {
    tokio::time::pause();
    for on_token in [How::Stop, How::Never] {
        let case = format!("own end on the token: {on_token:?}");
        let (spec, handle, book) = ender("e", on_token, RestartPolicy::Always);
        let app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(spec.grace(actix_supervisor::Grace::Duration(Duration::from_secs(1))))
            .start()
            .unwrap();
        within(handle.started()).await.unwrap();
        let mut senders = Senders::default();
        senders.send(&handle, crate::attacks8_support::Doomed(1), None);
        book.began(1).await;
        let drops = DOOMED_DROPS.load(std::sync::atomic::Ordering::SeqCst);
        let report = within(handle.stop()).await;
        let fared = senders.fared().await;
        let dropped = DOOMED_DROPS.load(std::sync::atomic::Ordering::SeqCst) - drops;
        assert_eq!(
            dropped, 1,
            "{case}: the future was dropped {dropped} times: {report}"
        );
        assert_closes(&report, fared, &book, &[], &case);
        let root = within(app.send(Stop)).await.unwrap();
        assert!(root.find("/app/e").is_some(), "{case}: {root}");
    }
}

/// Messages wait in a backoff; the stop's drain incarnation handles one
/// that ends it (`ctx.stop()` or `fail`) and answers with a `ChildFuture`
/// ready at its first poll, then the ones queued behind it in the same
/// poll (actix reads on), among them another `ChildFuture`. Each sender's
/// view must match the report.
#[actix_rt::test]
async fn a_drain_incarnation_that_ends_in_a_handler_answering_a_ready_future_accounts_for_the_rest()
{
    tokio::time::pause();
    for (how, policy) in [
        (How::Stop, RestartPolicy::Always),
        (How::Fail, RestartPolicy::Always),
        (How::Stop, RestartPolicy::OnFailure),
        (How::Fail, RestartPolicy::OnFailure),
    ] {
        let (spec, handle, book) = ender("e", How::Never, policy);
        let app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(spec.backoff(Backoff::new(
                Duration::from_secs(10),
                Duration::from_secs(60),
            )))
            .start()
            .unwrap();
        within(handle.started()).await.unwrap();
        let open = Gate::new();
        open.open();
        let mut fired = Fared::default();
        fire(&handle, EndOn(open.clone(), How::Fail), &mut fired);
        testkit::wait_for_node(&app, "/app/e", |n| {
            matches!(n.state, NodeState::Restarting { .. })
        })
        .await;
        let mut senders = Senders::default();
        senders.send(&handle, crate::attacks8_support::ReadyAndEnd(1, how), None);
        senders.send(&handle, slow(2, &open), None);
        senders.send(&handle, Bump(3), None);
        tokio::task::yield_now().await;
        let report = within(handle.stop()).await;
        let fared = senders.fared().await + fired;
        assert_closes(&report, fared, &book, &[0], &format!("{how:?}, {policy:?}"));
    }
}

/// Messages are sent through a handle taken from the spec before the tree
/// starts, among them `ChildFuture`s (one ready, one that never completes),
/// and the stop comes before the child's first incarnation ran, for a
/// child that ends on its token: the stop answers, its report closes.
#[actix_rt::test]
async fn a_stop_before_the_first_incarnation_ran_accounts_for_futures_sent_before_the_start() {
    tokio::time::pause();
    for on_token in [How::Stop, How::Fail, How::Never] {
        let case = format!("own end on the token: {on_token:?}");
        let (spec, handle, book) = ender("e", on_token, RestartPolicy::Always);
        let spec = spec.grace(actix_supervisor::Grace::Duration(Duration::from_secs(1)));
        let (open, never) = (Gate::new(), Gate::new());
        open.open();
        let mut senders = Senders::default();
        senders.send(&handle, slow(1, &open), None);
        senders.send(&handle, slow(2, &never), None);
        senders.send(&handle, Bump(3), None);
        tokio::task::yield_now().await;
        let _app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(spec)
            .start()
            .unwrap();
        let report = within(handle.stop()).await;
        let fared = senders.fared().await;
        assert_closes(&report, fared, &book, &[], &case);
        assert_eq!(fared.no_reply + fared.answered + fared.refused, 3, "{case}");
    }
}
