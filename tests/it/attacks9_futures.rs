//! Ninth outside attack, with `Ender` (`attacks8_support`): an incarnation
//! that owns a `ChildFuture` in flight when a `RestartChild` comes reads on
//! past the marker, and what the handle sends then is held for the fresh
//! incarnation. Here the restart's grace cuts the future off (a lost
//! future), a root `Stop` takes the drain over, and a second
//! `RestartChild` comes while messages are held.
//!
//! Public API only.

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::{
    testkit, ChildHandle, Grace, RestartChild, RestartPolicy, Stop, StopOutcome, Strategy,
    SupervisorActor,
};

use crate::attacks7_support::{assert_ids_account, Fared};
use crate::attacks8_support::{ender, slow, Book, Bump, EndOn, Ender, How, Senders, Slow};
use crate::common::{unlimited, within, Gate};

/// An `Ender` (restart grace `grace`) that owns `Slow(0)` in flight behind
/// `gate` when a `RestartChild` begins its drain; then `Bump(11..=13)`,
/// held. Answers the supervisor, the handle, the book, the senders (the
/// `Slow` first) and the pending restart.
async fn held_behind_a_future(
    grace: Duration,
    futures: Vec<Slow>,
) -> (
    Addr<SupervisorActor>,
    ChildHandle<Ender>,
    std::sync::Arc<Book>,
    Senders,
    actix_rt::task::JoinHandle<Result<Result<(), actix_supervisor::ControlError>, MailboxError>>,
) {
    let (spec, handle, book) = ender("ender", How::Never, RestartPolicy::Always);
    let spec = spec.grace(Grace::Duration(grace));
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(handle.started()).await.unwrap();
    let mut senders = Senders::default();
    let n = futures.len();
    for future in futures {
        senders.send(&handle, future, None);
    }
    book.began(n).await;
    let restart = actix_rt::spawn(app.send(RestartChild::new("ender")));
    testkit::wait_for_node(&app, "/app/ender", |n| n.state == NodeState::Stopping)
        .describe("the restart's drain began")
        .await;
    for id in 11..=13 {
        senders.send(&handle, Bump(id), None);
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    (app, handle, book, senders, restart)
}

/// The restart's grace cuts off the `ChildFuture` in flight: it is lost
/// (undelivered, the child's report is not `Drained`), and the held
/// messages reach the fresh incarnation, in order.
///
/// Seen if broken: the final report `Drained` with 0 undelivered although
/// `Slow(0)`'s requester heard `NoReply`, or the held bumps answered by
/// incarnation 1, or lost.
#[actix_rt::test]
async fn a_future_cut_off_by_a_restarts_grace_is_lost_and_the_held_messages_reach_the_fresh_one() {
    tokio::time::pause();
    let gate = Gate::new();
    let (_app, handle, book, senders, restart) =
        held_behind_a_future(Duration::from_secs(1), vec![slow(0, &gate)]).await;
    let _ = within(restart).await.unwrap();
    let fared = senders.fared().await;
    assert_eq!((fared.answered, fared.no_reply), (3, 1), "{fared:?}");
    assert_eq!(book.handled(), vec![(11, 2), (12, 2), (13, 2)]);
    let report = within(handle.stop()).await;
    assert_ne!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(report.undelivered, 1, "{report}");
    assert_ids_account(&report, fared, book.ids(), "grace cut a future");
}

/// A root `Stop` that takes over a restart's drain past its marker drains
/// the held messages in the same incarnation, once the future ends: every
/// request answered by incarnation 1, no incarnation built, the child's
/// report `Drained`.
///
/// Seen if broken: held bumps answered with an error or by a second
/// incarnation, or a child report that is not `Drained`.
#[actix_rt::test]
async fn a_root_stop_past_a_restart_marker_drains_what_was_held_in_the_same_incarnation() {
    tokio::time::pause();
    let gate = Gate::new();
    let (app, handle, book, senders, restart) =
        held_behind_a_future(Duration::from_secs(60), vec![slow(0, &gate)]).await;
    let stop = actix_rt::spawn(app.send(Stop));
    tokio::time::sleep(Duration::from_millis(10)).await;
    gate.open();
    let _ = within(restart).await.unwrap();
    let report = within(stop).await.unwrap().unwrap();
    let fared = senders.fared().await;
    assert_eq!(fared.answered, 4, "{fared:?}: {report}");
    assert_eq!(
        book.handled(),
        vec![(11, 1), (12, 1), (13, 1), (0, 1)],
        "the bumps need no gate: {report}"
    );
    assert_eq!(book.built(), 1);
    let child = report.find("/app/ender").expect("the child's report");
    assert_eq!(child.outcome, StopOutcome::Drained, "{report}");
    assert_ids_account(child, fared, book.ids(), "root stop past a marker");
    let _ = handle;
}

/// A second `RestartChild` while messages are held: every held and later
/// request is answered once, in the order sent, by an incarnation after
/// the first.
///
/// Seen if broken: a held bump answered with an error or twice, by
/// incarnation 1, or out of order.
#[actix_rt::test]
async fn a_second_restart_child_while_messages_are_held_keeps_them_in_order() {
    tokio::time::pause();
    let gate = Gate::new();
    let (app, handle, book, mut senders, restart) =
        held_behind_a_future(Duration::from_secs(60), vec![slow(0, &gate)]).await;
    let again = actix_rt::spawn(app.send(RestartChild::new("ender")));
    tokio::time::sleep(Duration::from_millis(10)).await;
    for id in 14..=15 {
        senders.send(&handle, Bump(id), None);
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    gate.open();
    let _ = within(restart).await.unwrap();
    let _ = within(again).await.unwrap();
    let fared = senders.fared().await;
    assert_eq!(fared.answered, 6, "{fared:?}: {:?}", book.handled());
    let handled = book.handled();
    assert_eq!(book.ids(), vec![0, 11, 12, 13, 14, 15], "{handled:?}");
    assert!(handled[1..].iter().all(|&(_, inc)| inc >= 2), "{handled:?}");
    let report = within(handle.stop()).await;
    assert_ids_account(&report, fared, book.ids(), "two restarts");
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
}

/// `do_send` and `send` mixed from another thread while held: the fresh
/// incarnation handles every one, in the order sent.
#[actix_rt::test]
async fn held_messages_sent_from_another_thread_reach_the_fresh_one_in_order() {
    tokio::time::pause();
    let gate = Gate::new();
    let (_app, handle, book, senders, restart) =
        held_behind_a_future(Duration::from_secs(60), vec![slow(0, &gate)]).await;
    let remote = handle.clone();
    let fired = std::thread::spawn(move || {
        let mut fared = Fared::default();
        for id in 20..40 {
            crate::attacks8_support::fire(&remote, Bump(id), &mut fared);
        }
        fared
    })
    .join()
    .unwrap();
    assert_eq!(fired.fired, 20, "{fired:?}");
    gate.open();
    let _ = within(restart).await.unwrap();
    let fared = senders.fared().await + fired;
    let _ = within(handle.send(Bump(99))).await.unwrap();
    let handled = book.handled();
    let expected: Vec<u32> = [0, 11, 12, 13]
        .into_iter()
        .chain(20..40)
        .chain([99])
        .collect();
    assert_eq!(book.ids(), expected, "{handled:?}");
    assert!(handled[1..].iter().all(|&(_, inc)| inc == 2), "{handled:?}");
    let report = within(handle.stop()).await;
    let fared = Fared {
        answered: fared.answered + 1,
        ..fared
    };
    assert_ids_account(&report, fared, book.ids(), "another thread");
}

/// Sends `Bump(11..=13)` through `handle` once the node at `path` is
/// draining for a strategy restart set off by `x` failing, while the child
/// owns `Slow(0)` behind `gate`; opens the gate and answers the replies.
async fn held_by_a_strategy_restart(
    app: &Addr<SupervisorActor>,
    path: &str,
    handle: &ChildHandle<Ender>,
    book: &Book,
    x: &ChildHandle<Ender>,
) -> Vec<(u32, u64)> {
    within(handle.started()).await.unwrap();
    let gate = Gate::new();
    let mut senders = Senders::default();
    senders.send(handle, slow(0, &gate), None);
    book.began(1).await;
    let now = Gate::new();
    now.open();
    x.do_send(EndOn(now, How::Fail)).unwrap();
    testkit::wait_for_node(app, path, |n| n.state == NodeState::Stopping)
        .describe("the strategy restart's drain began")
        .await;
    let held: Vec<_> = (11..=13)
        .map(|id| actix_rt::spawn(handle.send(Bump(id))))
        .collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    gate.open();
    let mut got = Vec::new();
    for send in held {
        got.push(within(send).await.unwrap().expect("a held bump answered"));
    }
    assert_eq!(senders.fared().await.answered, 1, "Slow(0) answered");
    got
}

/// A one-for-all restart (a sibling failed) of a child that owns a
/// `ChildFuture`: what its handle sends past the marker goes to its fresh
/// incarnation, in order.
///
/// Seen if broken: the bumps answered by incarnation 1, or out of order.
#[actix_rt::test]
async fn a_one_for_all_restart_holds_what_a_sibling_sends_past_the_marker() {
    tokio::time::pause();
    let (spec, handle, book) = ender("a", How::Never, RestartPolicy::Always);
    let (x, x_handle, _) = ender("x", How::Never, RestartPolicy::Always);
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .intensity(unlimited())
        .child(spec)
        .child(x)
        .start()
        .unwrap();
    let got = held_by_a_strategy_restart(&app, "/app/a", &handle, &book, &x_handle).await;
    assert_eq!(got, vec![(11, 2), (12, 2), (13, 2)], "{:?}", book.handled());
}

/// A nested supervisor restarted by its parent (one-for-all, a sibling
/// failed) while its child owns a `ChildFuture`: what the child's handle
/// sends past the marker goes to the child's fresh incarnation, in order.
///
/// Seen if broken: the bumps answered by incarnation 1 (the old child kept
/// reading its mailbox while its future ran), or lost.
#[actix_rt::test]
async fn a_nested_supervisor_restarted_by_its_parent_holds_what_its_child_reads_past_the_marker() {
    tokio::time::pause();
    let (spec, handle, book) = ender("e", How::Never, RestartPolicy::Always);
    let (x, x_handle, _) = ender("x", How::Never, RestartPolicy::Always);
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .intensity(unlimited())
        .child(x)
        .child(SupervisorActor::builder("inner").child(spec))
        .start()
        .unwrap();
    let got = held_by_a_strategy_restart(&app, "/app/inner/e", &handle, &book, &x_handle).await;
    assert_eq!(got, vec![(11, 2), (12, 2), (13, 2)], "{:?}", book.handled());
}

/// During a restart's drain, a `ChildFuture` panics (ending incarnation 1)
/// while a sibling future still waits: the sibling is lost, the held bumps
/// reach the fresh incarnation, and the final report's counts close and it
/// is not `Drained`.
///
/// Seen if broken: a held bump answered with an error or by incarnation 1,
/// or a final report whose counts do not close or that says `Drained`.
#[actix_rt::test]
async fn a_child_future_panicking_during_a_restart_drain_loses_its_sibling_not_the_held_ones() {
    crate::attacks4_support::quiet_panics();
    tokio::time::pause();
    let (never, boom) = (Gate::new(), Gate::new());
    let panicking = Slow {
        id: 1,
        gate: boom.clone(),
        panics: true,
    };
    let (_app, handle, book, senders, restart) =
        held_behind_a_future(Duration::from_secs(60), vec![slow(0, &never), panicking]).await;
    assert_eq!(book.handled(), vec![], "all held");
    boom.open();
    let _ = within(restart).await.unwrap();
    let fared = senders.fared().await;
    assert_eq!(book.handled(), vec![(11, 2), (12, 2), (13, 2)], "{fared:?}");
    assert_eq!((fared.answered, fared.no_reply), (3, 2), "{fared:?}");
    let report = within(handle.stop()).await;
    assert_ne!(report.outcome, StopOutcome::Drained, "{report}");
    assert_ids_account(&report, fared, book.ids(), "a future panicked");
}

/// Held twice: a held `ChildFuture` replayed by incarnation 2 keeps it
/// reading past a second restart's marker; what is sent then is held again
/// for incarnation 3.
///
/// Seen if broken: bump 13 answered by incarnation 2, or any request lost.
#[actix_rt::test]
async fn a_held_child_future_replayed_by_the_fresh_one_makes_a_second_restart_hold_again() {
    tokio::time::pause();
    let (first, second) = (Gate::new(), Gate::new());
    let (app, handle, book, mut senders, restart) =
        held_behind_a_future(Duration::from_secs(60), vec![slow(0, &first)]).await;
    senders.send(&handle, slow(21, &second), None);
    tokio::time::sleep(Duration::from_millis(10)).await;
    first.open();
    within(restart).await.unwrap().unwrap().unwrap();
    book.began(2).await;
    let again = actix_rt::spawn(app.send(RestartChild::new("ender")));
    testkit::wait_for_node(&app, "/app/ender", |n| {
        n.state == NodeState::Stopping && n.incarnation == 2
    })
    .describe("the second restart's drain began")
    .await;
    let late = actix_rt::spawn(handle.send(Bump(30)));
    tokio::time::sleep(Duration::from_millis(10)).await;
    second.open();
    within(again).await.unwrap().unwrap().unwrap();
    assert_eq!(
        within(late).await.unwrap().unwrap(),
        (30, 3),
        "{:?}",
        book.handled()
    );
    let fared = senders.fared().await;
    assert_eq!(fared.answered, 5, "{fared:?}");
    assert_eq!(
        book.handled(),
        vec![(0, 1), (11, 2), (12, 2), (13, 2), (21, 2), (30, 3)]
    );
}

/// During a restart's drain, incarnation 1 ends itself (`fail` or
/// `ctx.stop()`, set off by a gate) while it owns a `ChildFuture` and
/// handle traffic is held: the future is lost (its requester hears, the
/// final report counts it undelivered and is not `Drained`) and the held
/// bumps reach the fresh incarnation, in order.
///
/// Seen if broken: a held bump lost with incarnation 1, the lost future
/// counted handled, or a `Drained` report.
#[actix_rt::test]
async fn an_own_end_during_a_restart_drain_loses_the_future_not_the_held_messages() {
    tokio::time::pause();
    for how in [How::Fail, How::Stop] {
        let (spec, handle, book) = ender("ender", How::Never, RestartPolicy::Always);
        let app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(spec)
            .start()
            .unwrap();
        within(handle.started()).await.unwrap();
        let (never, end) = (Gate::new(), Gate::new());
        handle.do_send(EndOn(end.clone(), how)).unwrap();
        let mut senders = Senders::default();
        senders.send(&handle, slow(0, &never), None);
        book.began(1).await;
        let restart = actix_rt::spawn(app.send(RestartChild::new("ender")));
        testkit::wait_for_node(&app, "/app/ender", |n| n.state == NodeState::Stopping)
            .describe("the restart's drain began")
            .await;
        for id in 11..=13 {
            senders.send(&handle, Bump(id), None);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        end.open();
        let _ = within(restart).await.unwrap();
        let mut fared = senders.fared().await;
        fared.fired += 1;
        assert_eq!(
            (fared.answered, fared.no_reply),
            (3, 1),
            "{how:?}: {fared:?}"
        );
        assert_eq!(book.handled(), vec![(11, 2), (12, 2), (13, 2)], "{how:?}");
        let report = within(handle.stop()).await;
        assert_ne!(report.outcome, StopOutcome::Drained, "{how:?}: {report}");
        // EndOn was handled by incarnation 1 (it books nothing).
        let mut ids = book.ids();
        ids.push(1000);
        assert_ids_account(&report, fared, ids, &format!("{how:?}"));
    }
}

/// A stop takes over a restart's drain past its marker, and the grace cuts
/// off the `ChildFuture` that kept the incarnation reading: the held bumps
/// were drained by incarnation 1, the future is undelivered, and the
/// counts close.
///
/// Seen if broken: held bumps undelivered although incarnation 1 ran on,
/// a `Drained` report, or counts that do not close.
#[actix_rt::test]
async fn a_stop_past_a_restart_marker_whose_grace_cuts_the_future_drains_the_held_ones() {
    tokio::time::pause();
    let never = Gate::new();
    let (_app, handle, book, senders, restart) =
        held_behind_a_future(Duration::from_secs(1), vec![slow(0, &never)]).await;
    let stop = actix_rt::spawn(handle.stop());
    let _ = within(restart).await.unwrap();
    let report = within(stop).await.unwrap();
    let fared = senders.fared().await;
    assert_eq!(book.handled(), vec![(11, 1), (12, 1), (13, 1)], "{report}");
    assert_eq!((fared.answered, fared.no_reply), (3, 1), "{report}");
    assert_ne!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(book.built(), 1, "{report}");
    assert_ids_account(&report, fared, book.ids(), "stop's grace cut the future");
}
