//! Ninth outside attack, continued: the `Phoenix` of `attacks9_held` (its
//! first incarnation answers `Running::Continue`, so it reads on past a
//! restart's marker until the grace ends it) under a second restart and
//! under its parent's stop; a `Keeper` that refused once; and `Ender`s
//! restarted again by a strategy right as their fresh incarnation replays
//! what was held, or with their nested supervisor.
//!
//! Public API only.

use std::time::Duration;

use actix_supervisor::snapshot::NodeState;
use actix_supervisor::{testkit, RestartChild, RestartPolicy, Stop, SupervisorActor};

use crate::attacks7_support::assert_ids_account;
use crate::attacks8_support::{ender, slow, Bump, EndOn, How, Senders};
use crate::attacks9_held::{answers, held_rig, End, Note, Quit, NAME};
use crate::common::{unlimited, within, Gate};

/// A second `RestartChild` while an incarnation that refused to stop holds
/// messages: every request, held or later, is answered once, in the order
/// sent, by an incarnation after the first.
///
/// Seen if broken: a request answered with an error or by incarnation 1,
/// or out of order.
#[actix_rt::test]
async fn a_second_restart_over_a_refusing_drain_keeps_the_held_messages_in_order() {
    tokio::time::pause();
    let (app, handle, log, restart) = held_rig(RestartPolicy::Always, 0, None).await;
    let mut sends: Vec<_> = (11..=12)
        .map(|id| actix_rt::spawn(handle.send(Note(id))))
        .collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let again = actix_rt::spawn(app.send(RestartChild::new(NAME)));
    tokio::time::sleep(Duration::from_millis(10)).await;
    sends.push(actix_rt::spawn(handle.send(Note(13))));
    let _ = within(restart).await.unwrap();
    let _ = within(again).await.unwrap();
    let (fared, got) = answers(sends).await;
    assert_eq!(fared.answered, 3, "{got:?}: {:?}", log.handled());
    assert_eq!(log.ids(), vec![11, 12, 13], "{:?}", log.handled());
    assert!(log.handled().iter().all(|&(_, inc)| inc >= 2));
}

/// The root's `Stop` over a refusing incarnation's restart drain: the
/// held requests are answered by it (it runs on for the grace), as a stop
/// that takes over a restart's drain promises.
#[actix_rt::test]
async fn a_root_stop_over_a_refusing_restart_drain_handles_what_was_held() {
    tokio::time::pause();
    let (app, handle, log, restart) = held_rig(RestartPolicy::Always, 0, None).await;
    let held: Vec<_> = (11..=13)
        .map(|id| actix_rt::spawn(handle.send(Note(id))))
        .collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let stop = actix_rt::spawn(app.send(Stop));
    let _ = within(restart).await.unwrap();
    let root = within(stop).await.unwrap().unwrap();
    let (fared, got) = answers(held).await;
    let report = root.find("/app/phoenix").expect("the child's report");
    assert_eq!(
        got,
        vec![Some((11, 1)), Some((12, 1)), Some((13, 1))],
        "{root}"
    );
    assert_eq!(report.undelivered, 0, "{root}");
    assert_ids_account(report, fared, log.ids(), "root stop over a refusing drain");
}

/// A `RestartChild` whose fresh incarnation is restarted again by a
/// one-for-all strategy (a sibling fails) right as the restart answers,
/// before or while it replays what was held: every held request is
/// answered once, in order, and none by incarnation 1.
///
/// Seen if broken: a held bump lost (an error), answered twice, by
/// incarnation 1, or out of order.
#[actix_rt::test]
async fn a_strategy_restart_as_the_fresh_incarnation_replays_keeps_the_held_messages() {
    tokio::time::pause();
    let (a, handle, book) = ender("a", How::Never, RestartPolicy::Always);
    let (x, x_handle, _) = ender("x", How::Never, RestartPolicy::Always);
    let app = SupervisorActor::builder("app")
        .strategy(actix_supervisor::Strategy::OneForAll)
        .intensity(unlimited())
        .child(a)
        .child(x)
        .start()
        .unwrap();
    within(handle.started()).await.unwrap();
    let gate = Gate::new();
    let mut senders = Senders::default();
    senders.send(&handle, slow(0, &gate), None);
    book.began(1).await;
    let restart = actix_rt::spawn(app.send(RestartChild::new("a")));
    testkit::wait_for_node(&app, "/app/a", |n| n.state == NodeState::Stopping)
        .describe("the restart's drain began")
        .await;
    for id in 11..=15 {
        senders.send(&handle, Bump(id), None);
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let now = Gate::new();
    now.open();
    gate.open();
    within(restart).await.unwrap().unwrap().unwrap();
    x_handle.do_send(EndOn(now, How::Fail)).unwrap();
    let fared = senders.fared().await;
    assert_eq!(fared.answered, 6, "{fared:?}: {:?}", book.handled());
    assert_eq!(
        book.ids(),
        vec![0, 11, 12, 13, 14, 15],
        "{:?}",
        book.handled()
    );
    assert!(book.handled()[1..].iter().all(|&(_, inc)| inc >= 2));
}

/// Held requests of every kind (one given up half-way, one `do_send`, one
/// `try_send`, one awaited) when the child ends for good (`Never`, its
/// fresh incarnation cannot start): the counts close with what each
/// sender saw, and none is handled.
///
/// Seen if broken: counts that do not close, or a sender never answered.
#[actix_rt::test]
async fn held_requests_of_every_kind_close_the_counts_when_the_child_ends_for_good() {
    tokio::time::pause();
    let (_app, handle, log, restart) = held_rig(RestartPolicy::Never, 2, None).await;
    let mut senders = Senders::default();
    senders.send(&handle, Note(11), Some(Duration::from_millis(10)));
    let mut fared = crate::attacks7_support::Fared::default();
    handle.do_send(Note(12)).unwrap();
    handle.try_send(Note(13)).unwrap();
    fared.fired += 2;
    senders.send(&handle, Note(14), None);
    let _ = within(restart).await.unwrap();
    let fared = fared + senders.fared().await;
    let report = within(handle.ended()).await;
    assert_eq!(log.handled(), vec![], "{report}");
    assert_eq!((fared.abandoned, fared.no_reply), (1, 1), "{fared:?}");
    assert_ids_account(&report, fared, log.ids(), "every kind, ended for good");
}

/// A stop asked for right as a restart answers whose fresh incarnation's
/// `started` panics: the stop answers, every held request is answered or
/// hears, and the counts close; no incarnation is built after the stop.
///
/// Seen if broken: a stop or a held request that never answers, counts
/// that do not close, or an incarnation built for nothing.
#[actix_rt::test]
async fn a_stop_as_a_fresh_incarnation_fails_to_start_accounts_for_what_was_held() {
    tokio::time::pause();
    let (_app, handle, log, restart) = held_rig(RestartPolicy::Always, 2, None).await;
    let held: Vec<_> = (11..=13)
        .map(|id| actix_rt::spawn(handle.send(Note(id))))
        .collect();
    let _ = within(restart).await.unwrap();
    let report = within(handle.stop()).await;
    let (fared, got) = answers(held).await;
    let built = log.built();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(log.built(), built, "built after the stop: {report}");
    assert!(
        got.iter().flatten().all(|&(_, inc)| inc == built),
        "{got:?}: {report}"
    );
    assert_ids_account(&report, fared, log.ids(), "stop as started panics");
}

/// A stop that comes while the fresh incarnation replays a held message
/// that holds its mailbox (`ctx.wait`) drains the rest of what was held in
/// that incarnation, once the wait ends: every request answered, in order,
/// `Drained`.
///
/// Seen if broken: held bumps 12 and 13 undelivered (the stop's marker
/// overtook the rest of the replay), or the stop waits out its grace.
#[actix_rt::test]
async fn a_stop_during_a_held_wait_in_the_fresh_incarnation_drains_the_rest_of_the_replay() {
    use crate::attacks7_support::{keeper, At, Bump as KBump, Hold, Refuse, What};
    tokio::time::pause();
    let (spec, book) = keeper("keeper", Refuse::Always, At::Nowhere, What::Stop);
    let handle = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(handle.started()).await.unwrap();
    let restart = actix_rt::spawn(app.send(RestartChild::new("keeper")));
    testkit::wait_for_node(&app, "/app/keeper", |n| n.state == NodeState::Stopping)
        .describe("the restart's drain began")
        .await;
    let gate = Gate::new();
    handle.do_send(Hold(11, gate.clone())).unwrap();
    let later: Vec<_> = (12..=13)
        .map(|id| actix_rt::spawn(handle.send(KBump(id))))
        .collect();
    within(restart).await.unwrap().unwrap().unwrap();
    let stop = actix_rt::spawn(handle.stop());
    tokio::time::sleep(Duration::from_millis(10)).await;
    gate.open();
    let report = within(stop).await.unwrap();
    let (_, got) = answers(later).await;
    assert_eq!(got, vec![Some((12, 2)), Some((13, 2))], "{report}");
    assert_eq!(book.handled(), vec![(11, 2), (12, 2), (13, 2)], "{report}");
    assert_eq!(
        (report.outcome.clone(), report.undelivered),
        (actix_supervisor::StopOutcome::Drained, 0),
        "{report}"
    );
}

/// While handle traffic is held, a raw-`Addr` message (not held: it
/// reaches the refusing incarnation) makes incarnation 1 `fail`: the
/// restart goes on, and the held requests reach the fresh incarnation, in
/// order, none lost to the failure.
///
/// Seen if broken: held requests answered with an error (dropped with the
/// failed incarnation), by incarnation 1, or out of order.
#[actix_rt::test]
async fn held_messages_survive_a_failure_set_off_by_raw_traffic_during_the_drain() {
    crate::attacks4_support::quiet_panics();
    tokio::time::pause();
    let (_app, handle, log, restart) = held_rig(RestartPolicy::Always, 0, None).await;
    let held: Vec<_> = (11..=13)
        .map(|id| actix_rt::spawn(handle.send(Note(id))))
        .collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    handle.address().do_send(Quit(1, End::Fail));
    let _ = within(restart).await.unwrap();
    let (_, got) = answers(held).await;
    assert_eq!(
        got,
        vec![Some((11, 2)), Some((12, 2)), Some((13, 2))],
        "{:?}",
        log.handled()
    );
    assert_eq!(
        log.handled()[0],
        (1, 1),
        "the raw message reached incarnation 1"
    );
    assert_eq!(log.built(), 2);
}

/// A keeper that refuses to stop once, at its restart's marker, is asked
/// again when its context is next polled, in the same turn: the restart
/// does not wait out the grace, and what follows reaches the fresh
/// incarnation. (Found as a defect by this attack: the refusing
/// incarnation was never asked again, and a stop taking the drain over
/// timed out with the held requests undelivered.)
#[actix_rt::test]
async fn a_keeper_refusing_once_at_its_restart_marker_is_asked_again_at_once() {
    use crate::attacks7_support::{keeper, At, Bump as KBump, Refuse, What};
    tokio::time::pause();
    let (spec, book) = keeper("keeper", Refuse::Once, At::Nowhere, What::Stop);
    let handle = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(handle.started()).await.unwrap();
    let began = tokio::time::Instant::now();
    within(app.send(RestartChild::new("keeper")))
        .await
        .unwrap()
        .unwrap();
    // Paused time: the grace (5 s) would show in full.
    assert_eq!(began.elapsed(), Duration::ZERO, "the restart waited");
    assert_eq!(book.refused(), 1);
    assert_eq!(within(handle.send(KBump(11))).await.unwrap(), (11, 2));
    let report = within(handle.stop()).await;
    assert_eq!(
        report.outcome,
        actix_supervisor::StopOutcome::Drained,
        "{report}"
    );
    assert_eq!(book.built(), 2, "{report}");
}

/// A nested supervisor restarted by its parent's `RestartChild` while its
/// child owns a `ChildFuture`: what the child's handle sends once the
/// child drains goes to its fresh incarnation, in order, none lost.
///
/// Seen if broken: the bumps answered by incarnation 1 or with an error.
#[actix_rt::test]
async fn a_nested_supervisor_restarted_by_restart_child_holds_its_childs_late_traffic() {
    tokio::time::pause();
    let (spec, handle, book) = ender("e", How::Never, RestartPolicy::Always);
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(SupervisorActor::builder("inner").child(spec))
        .start()
        .unwrap();
    within(handle.started()).await.unwrap();
    let gate = Gate::new();
    let mut senders = Senders::default();
    senders.send(&handle, slow(0, &gate), None);
    book.began(1).await;
    let restart = actix_rt::spawn(app.send(RestartChild::new("inner")));
    testkit::wait_for_node(&app, "/app/inner/e", |n| n.state == NodeState::Stopping)
        .describe("the child's drain began")
        .await;
    for id in 11..=13 {
        senders.send(&handle, Bump(id), None);
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    gate.open();
    let _ = within(restart).await.unwrap();
    let fared = senders.fared().await;
    assert_eq!(fared.answered, 4, "{fared:?}: {:?}", book.handled());
    assert_eq!(
        book.handled(),
        vec![(0, 1), (11, 2), (12, 2), (13, 2)],
        "{fared:?}"
    );
}
