//! Eighth outside attack, on restarts' drains (`RestartChild`, one-for-all)
//! of a child that owns `ChildFuture`s and ends on its own during the drain
//! (on its token, which the drain cancels, or when a gate opens), and on a
//! stop that arrives while such a drain waits.
//!
//! The promises attacked: `RestartChild` and strategy restarts drain what
//! was accepted before them to a marker ("A strategy restart's drain waits
//! for owned futures too", `docs/async_handlers.md`); a stop's report closes
//! (`handled + cancelled + undelivered == accepted`, with an `Ok` reply
//! handled and an error not); a report that says `Drained` lost nothing;
//! a `ChildFuture` dropped unfinished by the child's own end during a stop
//! is undelivered and the report is not `Drained`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::worker::{Work, WorkContext, WorkerActor};

use actix_supervisor::snapshot::NodeState;
use actix_supervisor::testkit;
use actix_supervisor::{
    Backoff, ChildFuture, ChildSpec, RestartChild, RestartPolicy, StartContext, StopOutcome,
    Strategy, SupervisorActor,
};

use crate::attacks7_support::assert_ids_account;
use crate::attacks8_support::{ender, slow, Bump, EndOn, How, Senders};
use crate::common::{unlimited, within, Gate};

/// A child that ends itself (`ctx.stop()`) when its token is cancelled, as
/// the docs advise, owns a `ChildFuture` when a `RestartChild` comes: the
/// restart's drain cancels the token, the child ends, the future is dropped
/// and its requester gets `NoReply`. The restart then goes on; the later
/// stop must not count that message as handled.
#[actix_rt::test]
async fn a_restart_child_whose_drain_ends_the_child_on_its_token_never_counts_the_dropped_future_handled(
) {
    tokio::time::pause();
    let (spec, handle, book) = ender("e", How::Stop, RestartPolicy::Always);
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(handle.started()).await.unwrap();
    let never = Gate::new();
    let mut senders = Senders::default();
    senders.send(&handle, slow(1, &never), None);
    book.began(1).await;
    within(app.send(RestartChild::new("e")))
        .await
        .unwrap()
        .unwrap();
    senders.send(&handle, Bump(2), None);
    let report = within(handle.stop()).await;
    let fared = senders.fared().await;
    assert!(book.built() >= 2, "the restart built a fresh incarnation");
    assert_ids_account(
        &report,
        fared,
        book.ids(),
        "RestartChild, own end on the token",
    );
}

/// The same through a one-for-all restart: a `Never` sibling that ends on
/// its token is "drained and ends instead"; its in-flight future is dropped
/// by its own end during that drain. Its final report must not say
/// `Drained` with nothing undelivered (held: the sibling's end is its
/// last, so the future is left unsettled and counted undelivered).
#[actix_rt::test]
async fn a_never_sibling_ended_by_a_one_for_all_drain_never_says_drained_over_a_dropped_future() {
    tokio::time::pause();
    let (a, a_handle, a_book) = ender("a", How::Stop, RestartPolicy::Never);
    let (b, b_handle, _) = ender("b", How::Never, RestartPolicy::Always);
    let _app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .intensity(unlimited())
        .child(a)
        .child(b)
        .start()
        .unwrap();
    within(a_handle.started()).await.unwrap();
    within(b_handle.started()).await.unwrap();
    let never = Gate::new();
    let mut senders = Senders::default();
    senders.send(&a_handle, slow(1, &never), None);
    a_book.began(1).await;
    let now = Gate::new();
    now.open();
    b_handle.do_send(EndOn(now, How::Fail)).unwrap();
    let report = within(a_handle.ended()).await;
    let fared = senders.fared().await;
    assert_ids_account(&report, fared, a_book.ids(), "one-for-all, Never sibling");
}

/// A stop comes while a `RestartChild`'s drain waits for a `ChildFuture`;
/// then the child ends itself (a gate opens): the future is dropped
/// unfinished during the stop. Every stop answers, the report closes and
/// is not `Drained`; a message sent after the restart request was accepted
/// is accounted for too.
#[actix_rt::test]
async fn a_stop_during_a_restart_childs_drain_then_an_own_end_counts_the_dropped_future_undelivered(
) {
    tokio::time::pause();
    for how in [How::Stop, How::Fail] {
        let (spec, handle, book) = ender("e", How::Never, RestartPolicy::Always);
        let app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(spec)
            .start()
            .unwrap();
        within(handle.started()).await.unwrap();
        let (never, end) = (Gate::new(), Gate::new());
        let mut senders = Senders::default();
        senders.send(&handle, slow(1, &never), None);
        handle.do_send(EndOn(end.clone(), how)).unwrap();
        book.began(1).await;
        let restart = app.send(RestartChild::new("e"));
        let restarted = actix_rt::spawn(restart);
        tokio::task::yield_now().await;
        senders.send(&handle, Bump(2), None);
        let stop = handle.stop();
        end.open();
        let report = within(stop).await;
        let _ = within(restarted).await;
        let mut fared = senders.fared().await;
        fared.fired += 1; // the EndOn
        let mut ids = book.ids();
        ids.push(0); // the EndOn, handled at once
        assert_ids_account(&report, fared, ids, &format!("{how:?}"));
        assert_ne!(report.outcome, StopOutcome::Drained, "{how:?}: {report}");
        assert_eq!(
            within(handle.stop()).await,
            report,
            "{how:?}: a second stop"
        );
    }
}

/// The same through a strategy restart: `a` fails, and its later sibling
/// `b` (rest-for-one), or any sibling (one-for-all), restarts with it. `b`
/// ends on its token (the drain cancels it) with a `ChildFuture` in flight;
/// `b` lives on (`Always`), so its later stop must account for the dropped
/// future as its sender saw it.
#[actix_rt::test]
async fn a_strategy_restart_that_ends_a_sibling_on_its_token_never_counts_its_dropped_future_handled(
) {
    tokio::time::pause();
    for strategy in [Strategy::RestForOne, Strategy::OneForAll] {
        let (a, a_handle, _) = ender("a", How::Never, RestartPolicy::Always);
        let (b, b_handle, b_book) = ender("b", How::Stop, RestartPolicy::Always);
        let _app = SupervisorActor::builder("app")
            .strategy(strategy)
            .intensity(unlimited())
            .child(a)
            .child(b)
            .start()
            .unwrap();
        within(b_handle.started()).await.unwrap();
        let never = Gate::new();
        let mut senders = Senders::default();
        senders.send(&b_handle, slow(1, &never), None);
        b_book.began(1).await;
        let now = Gate::new();
        now.open();
        a_handle.do_send(EndOn(now, How::Fail)).unwrap();
        let fared_first = senders.fared().await;
        assert_eq!(
            fared_first.no_reply, 1,
            "{strategy:?}: the restart dropped it"
        );
        let mut senders = Senders::default();
        senders.send(&b_handle, Bump(2), None);
        let report = within(b_handle.stop()).await;
        let fared = fared_first + senders.fared().await;
        assert!(b_book.built() >= 2, "{strategy:?}: b was restarted");
        assert_ids_account(&report, fared, b_book.ids(), &format!("{strategy:?}"));
    }
}

/// `RestartChild` comes in a long backoff, with messages waiting, to a
/// child that ends on its token: the incarnation built to drain them may
/// find its token cancelled at once. What waited must be handled by an
/// incarnation before the fresh one, the restart must answer, and the
/// child must not spin through incarnations; a message sent after the
/// request waits for the fresh one.
#[actix_rt::test]
async fn a_restart_child_in_a_backoff_of_a_child_that_ends_on_its_token_drains_what_waited_once() {
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
        let now = Gate::new();
        now.open();
        handle.do_send(EndOn(now, How::Fail)).unwrap();
        testkit::wait_for_node(&app, "/app/e", |n| {
            matches!(n.state, NodeState::Restarting { .. })
        })
        .await;
        let mut senders = Senders::default();
        for id in 1..=3 {
            senders.send(&handle, Bump(id), None);
        }
        tokio::task::yield_now().await;
        within(app.send(RestartChild::new("e")))
            .await
            .unwrap()
            .unwrap();
        senders.send(&handle, Bump(4), None);
        let fared = senders.fared().await;
        assert_eq!(fared.answered, 4, "{how:?}: {fared:?}");
        let by = |id| {
            book.handled()
                .into_iter()
                .find(|&(m, _)| m == id)
                .map(|(_, i)| i)
        };
        let fresh = by(4).expect("handled");
        for id in 1..=3 {
            assert!(
                by(id).expect("handled") < fresh,
                "{how:?}: message {id}, queued before the restart, reached the fresh \
                 incarnation {fresh}: {:?}",
                book.handled()
            );
        }
        assert!(book.built() <= 4, "{how:?}: {} incarnations", book.built());
        let report = within(handle.stop()).await;
        assert_eq!(report.undelivered, 0, "{how:?}: {report}");
    }
}

/// Two `RestartChild` requests in a row while the first one's drain waits
/// for a `ChildFuture`, with a message between them and one after. The
/// draining incarnation reads on while its future runs, but what a handle
/// sent past its marker is held for a fresh incarnation (`RestartChild`);
/// no message goes back to an earlier incarnation; once both answered, a
/// message reaches a fresh incarnation, not the one that owned the future;
/// nothing is lost.
#[actix_rt::test]
async fn two_restart_childs_while_the_first_drain_waits_for_a_future_end_in_a_fresh_incarnation() {
    tokio::time::pause();
    for on_token in [How::Never, How::Stop] {
        let case = format!("own end on the token: {on_token:?}");
        let (spec, handle, book) = ender("e", on_token, RestartPolicy::Always);
        let app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(spec)
            .start()
            .unwrap();
        within(handle.started()).await.unwrap();
        let gate = Gate::new();
        let mut senders = Senders::default();
        senders.send(&handle, slow(1, &gate), None);
        book.began(1).await;
        let first = actix_rt::spawn(app.send(RestartChild::new("e")));
        tokio::task::yield_now().await;
        senders.send(&handle, Bump(2), None);
        tokio::task::yield_now().await;
        let second = actix_rt::spawn(app.send(RestartChild::new("e")));
        tokio::task::yield_now().await;
        senders.send(&handle, Bump(3), None);
        tokio::task::yield_now().await;
        gate.open();
        let first = within(first).await.unwrap().unwrap();
        let second = within(second).await.unwrap().unwrap();
        assert!(
            first.is_ok() && second.is_ok(),
            "{case}: {first:?}, {second:?}"
        );
        senders.send(&handle, Bump(4), None);
        let fared = senders.fared().await;
        let by = |id| {
            book.handled()
                .into_iter()
                .find(|&(m, _)| m == id)
                .map(|(_, i)| i)
        };
        let (owner, between, after, last) = (by(1), by(2), by(3), by(4));
        assert!(
            between <= after && after <= last,
            "{case}: handled out of order: {:?}",
            book.handled()
        );
        if let (Some(owner), Some(last)) = (owner, last) {
            assert!(
                owner < last,
                "{case}: no fresh incarnation: {:?}",
                book.handled()
            );
        }
        // Sent once the first restart's drain began: held for a fresh one.
        let first_built = by(2).expect("every message sent is handled");
        assert!(
            first_built > 1,
            "{case}: the draining incarnation handled a message sent after its marker: {:?}",
            book.handled()
        );
        let report = within(handle.stop()).await;
        assert_ids_account(&report, fared, book.ids(), &case);
    }
}

/// The library's own worker: its loop returns when its token is cancelled
/// (the documented way to write one), and a handler of the worker answers
/// with a `ChildFuture`. A `RestartChild` cancels the token; the loop
/// returns with the future in flight.
struct Coop;

impl Work for Coop {
    type Error = String;
    async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
        cx.token().cancelled().await;
        Ok(())
    }
}

/// Holds a `ChildFuture` of a worker until its gate opens.
#[derive(Message)]
#[rtype(result = "u32")]
struct Held(u32, Gate, Arc<AtomicU32>);

impl Handler<Held> for WorkerActor<Coop> {
    type Result = ChildFuture<u32>;
    fn handle(&mut self, Held(id, gate, began): Held, _: &mut Context<Self>) -> ChildFuture<u32> {
        began.fetch_add(1, Ordering::SeqCst);
        ChildFuture::new(async move {
            gate.passed().await;
            id
        })
    }
}

#[actix_rt::test]
async fn a_restart_child_of_a_cooperative_worker_never_counts_its_dropped_future_handled() {
    tokio::time::pause();
    let spec = ChildSpec::worker("w", |_: &StartContext| Coop).restart(RestartPolicy::Always);
    let handle = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(handle.started()).await.unwrap();
    let began = Arc::new(AtomicU32::new(0));
    let mut senders = Senders::default();
    senders.send(&handle, Held(1, Gate::new(), began.clone()), None);
    within(async {
        while began.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    within(app.send(RestartChild::new("w")))
        .await
        .unwrap()
        .unwrap();
    let report = within(handle.stop()).await;
    let fared = senders.fared().await;
    assert_ids_account(&report, fared, Vec::new(), "worker, RestartChild");
}
