//! What an incarnation reads past the marker that ends its restart's drain
//! is held back for the fresh incarnation, which handles it first, in
//! order (`RestartChild`, `docs/lifecycle.md`): when the incarnation owns a
//! `ChildFuture` in flight at the marker (its context keeps reading until
//! the future ends), and when its `stopping` answers `Running::Continue`.
//! What is held when the child ends for good is undelivered, and its
//! requesters hear.

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::testkit;
use actix_supervisor::{snapshot::NodeState, Kill, RestartChild, StopOutcome, SupervisorActor};

use crate::attacks7_support::*;
use crate::common::{within, Gate};

/// Starts a supervisor with one keeper; answers it, its handle and book.
async fn one_keeper(
    refuse: Refuse,
) -> (
    Addr<SupervisorActor>,
    actix_supervisor::ChildHandle<Keeper>,
    std::sync::Arc<Book>,
) {
    let (spec, book) = keeper("keeper", refuse, At::Nowhere, What::Stop);
    let handle = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(handle.started()).await.unwrap();
    (app, handle, book)
}

/// Asks for a restart and waits until its drain began; answers the
/// pending request.
async fn restart(
    app: &Addr<SupervisorActor>,
) -> actix_rt::task::JoinHandle<
    Result<Result<(), actix_supervisor::ControlError>, actix::MailboxError>,
> {
    let restart = actix_rt::spawn(app.send(RestartChild::new("keeper")));
    testkit::wait_for_node(app, "/app/keeper", |n| n.state == NodeState::Stopping)
        .describe("the restart's drain began")
        .await;
    restart
}

/// A reply awaited on a task of its own.
type Reply<M> =
    actix_rt::task::JoinHandle<Result<<M as Message>::Result, actix_supervisor::SendError<M>>>;

/// A keeper that owns a `ChildFuture` in flight (`Slow(0)`, behind `gate`)
/// when a `RestartChild` begins; then requests 11 to 13, read past the
/// restart's marker (paused time moves only once all of them were read).
struct PastTheMarker {
    app: Addr<SupervisorActor>,
    handle: actix_supervisor::ChildHandle<Keeper>,
    book: std::sync::Arc<Book>,
    gate: Gate,
    slow: Reply<Slow>,
    restart: actix_rt::task::JoinHandle<
        Result<Result<(), actix_supervisor::ControlError>, actix::MailboxError>,
    >,
    after: Vec<Reply<Bump>>,
}

async fn past_the_marker() -> PastTheMarker {
    let (app, handle, book) = one_keeper(Refuse::No).await;
    let gate = Gate::new();
    let slow = actix_rt::spawn(handle.send(Slow(0, gate.clone())));
    // Handled after the `Slow`: its future is in flight.
    assert_eq!(within(handle.send(Bump(1))).await.unwrap(), (1, 1));
    let restart = restart(&app).await;
    let after = (11..=13)
        .map(|id| actix_rt::spawn(handle.send(Bump(id))))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    PastTheMarker {
        app,
        handle,
        book,
        gate,
        slow,
        restart,
        after,
    }
}

/// Seen if broken: requests 11 to 13, sent once the restart's drain began,
/// answered by incarnation 1 (it kept reading its mailbox while its
/// `ChildFuture` ran), as `RestartChild` documented as its one exception
/// before.
#[actix_rt::test]
async fn a_restart_with_a_child_future_in_flight_leaves_later_messages_to_the_fresh_one() {
    tokio::time::pause();
    let PastTheMarker {
        app: _app,
        handle,
        book,
        gate,
        slow,
        restart,
        after,
    } = past_the_marker().await;
    assert_eq!(book.handled(), vec![(1, 1)], "nothing past the marker yet");
    gate.open();
    within(restart).await.unwrap().unwrap().unwrap();
    assert_eq!(within(slow).await.unwrap().unwrap(), (0, 1));
    let mut answers = Vec::new();
    for send in after {
        answers.push(within(send).await.unwrap().unwrap());
    }
    assert_eq!(answers, vec![(11, 2), (12, 2), (13, 2)]);
    assert_eq!(within(handle.send(Bump(20))).await.unwrap(), (20, 2));
    let handled = book.handled();
    assert_eq!(
        &handled[2..],
        &[(11, 2), (12, 2), (13, 2), (20, 2)],
        "held messages are handled first, in order: {handled:?}"
    );
    let report = within(handle.stop()).await;
    assert_eq!(
        (report.outcome, report.undelivered),
        (StopOutcome::Drained, 0)
    );
}

/// A held message that makes the context wait (`ctx.wait`) keeps the next
/// held one waiting, as the mailbox would.
///
/// Seen if broken: request 12 handled before the held `Hold(11)` let go.
#[actix_rt::test]
async fn a_held_message_that_holds_the_mailbox_keeps_the_next_one_waiting() {
    tokio::time::pause();
    let (app, handle, book) = one_keeper(Refuse::Always).await;
    let restart = restart(&app).await;
    let gate = Gate::new();
    handle.do_send(Hold(11, gate.clone())).unwrap();
    let twelve = actix_rt::spawn(handle.send(Bump(12)));
    // Incarnation 1 refuses to stop: the grace (5 s) ends it.
    within(restart).await.unwrap().unwrap().unwrap();
    let thirteen = actix_rt::spawn(handle.send(Bump(13)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        book.handled(),
        vec![],
        "the held Hold(11) waits for its gate"
    );
    gate.open();
    assert_eq!(within(twelve).await.unwrap().unwrap(), (12, 2));
    assert_eq!(within(thirteen).await.unwrap().unwrap(), (13, 2));
    assert_eq!(book.handled(), vec![(11, 2), (12, 2), (13, 2)]);
}

/// Seen if broken: a held request never answered, or a report whose counts
/// do not close (the held messages counted handled or cancelled).
#[actix_rt::test]
async fn messages_held_when_a_kill_ends_the_child_are_undelivered() {
    tokio::time::pause();
    let (app, handle, book) = one_keeper(Refuse::Always).await;
    let restart = restart(&app).await;
    let held: Vec<_> = (11..=13)
        .map(|id| actix_rt::spawn(handle.send(Bump(id))))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.do_send(Kill);
    let _ = within(restart).await.unwrap();
    for send in held {
        assert!(within(send).await.unwrap().is_err(), "a held request hears");
    }
    let report = within(handle.ended()).await;
    assert_eq!(book.handled(), vec![]);
    assert_eq!(report.undelivered, 3, "{report}");
    assert_eq!(report.cancelled, 0, "{report}");
}

/// A stop that takes over a restart's drain past its marker (the
/// incarnation owns a `ChildFuture` in flight, so its context was not
/// stopped there) drains in that incarnation, what it held first: every
/// request answered, in order, `Drained`, no incarnation built for it.
///
/// Seen if broken: the stop waits out its grace (the held messages are
/// never handled by the draining incarnation) and answers `TimedOut` with
/// them undelivered, or a second incarnation is built to drain them.
#[actix_rt::test]
async fn a_stop_past_a_restart_marker_drains_what_was_held_in_the_same_incarnation() {
    tokio::time::pause();
    let PastTheMarker {
        app: _app,
        handle,
        book,
        gate,
        slow,
        restart,
        after,
    } = past_the_marker().await;
    let stop = actix_rt::spawn(handle.stop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    gate.open();
    let _ = within(restart).await.unwrap();
    let report = within(stop).await.unwrap();
    assert_eq!(within(slow).await.unwrap().unwrap(), (0, 1));
    let mut answers = Vec::new();
    for send in after {
        answers.push(within(send).await.unwrap().unwrap());
    }
    assert_eq!(answers, vec![(11, 1), (12, 1), (13, 1)]);
    assert_eq!(
        (report.outcome.clone(), report.undelivered),
        (StopOutcome::Drained, 0),
        "{report} after {:?}",
        book.handled()
    );
    assert_eq!(book.built(), 1, "no incarnation built for the stop");
}

/// Panics in its handler.
#[derive(Message)]
#[rtype(result = "()")]
struct Crash;

impl Handler<Crash> for Keeper {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("a held message crashes the fresh incarnation");
    }
}

/// A held message whose handler panics in the fresh incarnation ends it;
/// the messages held behind it are not lost: the incarnation after handles
/// them, in order.
///
/// Seen if broken: requests 12 and 13 answered with an error (dropped with
/// the crashed incarnation's wait futures), or out of order.
#[actix_rt::test]
async fn messages_held_behind_one_that_crashes_the_fresh_incarnation_reach_the_next() {
    crate::attacks4_support::quiet_panics();
    tokio::time::pause();
    let (app, handle, book) = one_keeper(Refuse::Always).await;
    let restart = restart(&app).await;
    let crash = actix_rt::spawn(handle.send(Crash));
    let later: Vec<_> = (12..=13)
        .map(|id| actix_rt::spawn(handle.send(Bump(id))))
        .collect();
    within(restart).await.unwrap().unwrap().unwrap();
    assert!(
        within(crash).await.unwrap().is_err(),
        "its handler panicked"
    );
    let mut answers = Vec::new();
    for send in later {
        answers.push(within(send).await.unwrap().unwrap());
    }
    assert_eq!(answers, vec![(12, 3), (13, 3)], "{:?}", book.handled());
    let report = within(handle.stop()).await;
    assert_eq!(
        (report.outcome, report.undelivered),
        (StopOutcome::Drained, 0)
    );
}
