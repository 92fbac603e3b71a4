//! Ninth outside attack: messages held past a restart's marker (sent
//! through a `ChildHandle` while the draining incarnation runs on past it)
//! must reach the fresh incarnation first and in order, or be undelivered
//! with an error if the child ends for good first, and the report's counts
//! must close with what the senders saw.
//!
//! `Phoenix` is an actor whose first incarnation refuses to stop
//! (`Running::Continue`), so it reads on past the marker until the
//! restart's grace ends it; a chosen incarnation's `started` can panic, and
//! a held message can end the incarnation that replays it.
//!
//! Public API only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::{
    testkit, Backoff, ChildHandle, ChildSpec, Grace, Kill, RemoveChild, RestartChild,
    RestartPolicy, StopOutcome, SupervisorActor,
};

use crate::attacks7_support::{assert_ids_account, Fared};
use crate::attacks8_support::Senders;
use crate::common::{unlimited, within};

#[derive(Default)]
pub(crate) struct Log {
    handled: Mutex<Vec<(u32, u64)>>,
    built: AtomicU64,
}

impl Log {
    pub fn handled(&self) -> Vec<(u32, u64)> {
        self.handled.lock().unwrap().clone()
    }

    pub fn ids(&self) -> Vec<u32> {
        self.handled().into_iter().map(|(id, _)| id).collect()
    }

    pub fn built(&self) -> u64 {
        self.built.load(Ordering::SeqCst)
    }
}

pub(crate) struct Phoenix {
    incarnation: u64,
    log: Arc<Log>,
    /// The incarnation whose `started` panics (0: none).
    panics_at_start: u64,
}

impl Actor for Phoenix {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        if self.incarnation == self.panics_at_start {
            panic!("a fresh incarnation's started panics on purpose");
        }
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        if self.incarnation == 1 {
            Running::Continue
        } else {
            Running::Stop
        }
    }
}

actix_supervisor::supervised!(Phoenix);

/// Books its id; answers `(id, incarnation)`.
#[derive(Message)]
#[rtype(result = "(u32, u64)")]
pub(crate) struct Note(pub u32);

impl Handler<Note> for Phoenix {
    type Result = MessageResult<Note>;
    fn handle(&mut self, Note(id): Note, _: &mut Context<Self>) -> Self::Result {
        self.log
            .handled
            .lock()
            .unwrap()
            .push((id, self.incarnation));
        MessageResult((id, self.incarnation))
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum End {
    Stop,
    Fail,
}

/// Books its id, then ends the incarnation that handles it.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Quit(pub u32, pub End);

impl Handler<Quit> for Phoenix {
    type Result = ();
    fn handle(&mut self, Quit(id, end): Quit, ctx: &mut Context<Self>) {
        self.log
            .handled
            .lock()
            .unwrap()
            .push((id, self.incarnation));
        match end {
            End::Stop => ctx.stop(),
            End::Fail => actix_supervisor::fail(ctx, "a held message fails on purpose"),
        }
    }
}

pub(crate) const NAME: &str = "phoenix";

/// A supervisor with one `Phoenix` (restart grace 1 s) whose restart by
/// `RestartChild` has begun its drain: what the handle sends now is held.
/// Answers the supervisor, the handle, the log and the pending restart.
pub(crate) async fn held_rig(
    policy: RestartPolicy,
    panics_at_start: u64,
    backoff: Option<Duration>,
) -> (
    Addr<SupervisorActor>,
    ChildHandle<Phoenix>,
    Arc<Log>,
    actix_rt::task::JoinHandle<Result<Result<(), actix_supervisor::ControlError>, MailboxError>>,
) {
    crate::attacks4_support::quiet_panics();
    let log = Arc::new(Log::default());
    let shared = log.clone();
    let spec = ChildSpec::new(NAME, move || Phoenix {
        incarnation: shared.built.fetch_add(1, Ordering::SeqCst) + 1,
        log: shared.clone(),
        panics_at_start,
    })
    .restart(policy)
    .grace(Grace::Duration(Duration::from_secs(1)));
    let spec = match backoff {
        Some(d) => spec.backoff(Backoff::new(d, d).jitter(0.0)),
        None => spec,
    };
    let handle = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(handle.started()).await.unwrap();
    let restart = actix_rt::spawn(app.send(RestartChild::new(NAME)));
    testkit::wait_for_node(&app, "/app/phoenix", |n| n.state == NodeState::Stopping)
        .describe("the restart's drain began")
        .await;
    (app, handle, log, restart)
}

/// Awaits each request; answers how each fared and the answers.
pub(crate) async fn answers<T>(
    sends: Vec<actix_rt::task::JoinHandle<Result<T, impl Sized>>>,
) -> (Fared, Vec<Option<T>>) {
    let mut fared = Fared::default();
    let mut out = Vec::new();
    for send in sends {
        let result = within(send).await.expect("a sender task panicked");
        match result {
            Ok(value) => {
                fared.answered += 1;
                out.push(Some(value));
            }
            Err(_) => {
                fared.no_reply += 1;
                out.push(None);
            }
        }
    }
    (fared, out)
}

/// Held messages are not lost with a fresh incarnation whose `started`
/// panics: the incarnation after it handles them, first and in order.
///
/// Seen if broken: requests 11 to 13 answered with an error, or by no
/// incarnation, or out of order.
#[actix_rt::test]
async fn messages_held_when_the_fresh_incarnations_started_panics_reach_the_one_after() {
    tokio::time::pause();
    let (_app, handle, log, restart) = held_rig(RestartPolicy::Always, 2, None).await;
    let held: Vec<_> = (11..=13)
        .map(|id| actix_rt::spawn(handle.send(Note(id))))
        .collect();
    let _ = within(restart).await.unwrap();
    let (_, got) = answers(held).await;
    assert_eq!(
        got,
        vec![Some((11, 3)), Some((12, 3)), Some((13, 3))],
        "{:?}",
        log.handled()
    );
    assert_eq!(within(handle.send(Note(20))).await.unwrap(), (20, 3));
    assert_eq!(log.ids(), vec![11, 12, 13, 20]);
}

/// A held message whose handler calls `ctx.stop()` in the fresh
/// incarnation of a `OnFailure` child ends the child for good: the
/// messages held behind it are undelivered, their requesters hear, and the
/// report's counts close.
///
/// Seen if broken: requests 12 and 13 never answered (held forever), or
/// answered by a third incarnation, or counts that do not close.
#[actix_rt::test]
async fn messages_held_behind_a_normal_end_of_a_transient_child_are_undelivered() {
    tokio::time::pause();
    let (_app, handle, log, restart) = held_rig(RestartPolicy::OnFailure, 0, None).await;
    let quit = actix_rt::spawn(handle.send(Quit(11, End::Stop)));
    let later: Vec<_> = (12..=13)
        .map(|id| actix_rt::spawn(handle.send(Note(id))))
        .collect();
    let _ = within(restart).await.unwrap();
    let (mut fared, _) = answers(vec![quit]).await;
    let (rest, got) = answers(later).await;
    fared = fared + rest;
    let report = within(handle.ended()).await;
    assert_eq!(log.handled(), vec![(11, 2)]);
    assert_eq!(got, vec![None, None], "a held request hears: {report}");
    assert_eq!(log.built(), 2, "no incarnation after a normal end");
    assert_ids_account(&report, fared, log.ids(), "ctx.stop() while replaying");
    assert_eq!(report.undelivered, 2, "{report}");
}

/// A held message that calls `fail` in the fresh incarnation restarts the
/// child; the messages held behind it reach the next incarnation, in order.
///
/// Seen if broken: requests 12 and 13 answered with an error, or by the
/// failing incarnation, or out of order.
#[actix_rt::test]
async fn messages_held_behind_a_fail_reach_the_incarnation_after_in_order() {
    tokio::time::pause();
    let (_app, handle, log, restart) = held_rig(RestartPolicy::Always, 0, None).await;
    handle.do_send(Quit(11, End::Fail)).unwrap();
    let later: Vec<_> = (12..=14)
        .map(|id| actix_rt::spawn(handle.send(Note(id))))
        .collect();
    let _ = within(restart).await.unwrap();
    let (_, got) = answers(later).await;
    assert_eq!(
        got,
        vec![Some((12, 3)), Some((13, 3)), Some((14, 3))],
        "{:?}",
        log.handled()
    );
    assert_eq!(log.handled()[0], (11, 2));
}

/// A `RemoveChild` while messages are held takes over the drain: every
/// held request is answered (by the incarnation draining) or hears an
/// error; none reaches a new incarnation, and the counts close.
///
/// Seen if broken: a held request never answered, an incarnation built
/// after the removal, or counts that do not close.
#[actix_rt::test]
async fn a_remove_child_while_messages_are_held_answers_every_one() {
    tokio::time::pause();
    let (app, handle, log, restart) = held_rig(RestartPolicy::Always, 0, None).await;
    let held: Vec<_> = (11..=13)
        .map(|id| actix_rt::spawn(handle.send(Note(id))))
        .collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let removed = actix_rt::spawn(app.send(RemoveChild::new(NAME)));
    let _ = within(restart).await.unwrap();
    let _ = within(removed).await.unwrap();
    let (fared, got) = answers(held).await;
    let report = within(handle.ended()).await;
    assert_eq!(
        log.built(),
        1,
        "no incarnation for a removed child: {got:?}"
    );
    assert_ids_account(&report, fared, log.ids(), "RemoveChild while held");
}

/// A held request whose requester gave up before the fresh incarnation
/// replays it is skipped (cancelled) or handled, never both, never lost:
/// the counts close, and the later held messages keep their order.
///
/// Seen if broken: counts that do not close, or 12 and 13 out of order.
#[actix_rt::test]
async fn a_held_request_given_up_half_way_keeps_the_counts_closing() {
    tokio::time::pause();
    let (_app, handle, log, restart) = held_rig(RestartPolicy::Always, 0, None).await;
    let mut senders = Senders::default();
    senders.send(&handle, Note(11), Some(Duration::from_millis(10)));
    senders.send(&handle, Note(12), None);
    let mut fared = Fared::default();
    match handle.try_send(Note(13)) {
        Ok(()) => fared.fired += 1,
        Err(_) => fared.refused += 1,
    }
    senders.send(&handle, Note(14), Some(Duration::from_secs(30)));
    let _ = within(restart).await.unwrap();
    let fared = fared + senders.fared().await;
    assert_eq!(fared.abandoned, 1, "{fared:?}");
    let report = within(handle.stop()).await;
    let ids = log.ids();
    let tail: Vec<u32> = ids.iter().copied().filter(|&id| id != 11).collect();
    assert_eq!(tail, vec![12, 13, 14], "{:?}", log.handled());
    assert!(log.handled().iter().all(|&(_, inc)| inc == 2));
    assert_ids_account(&report, fared, ids, "a held request given up");
}

/// A stop asked for right as the restart answers (the fresh incarnation
/// has not replayed what was held yet) drains the held messages in the
/// fresh incarnation: every request answered, in order, `Drained`.
///
/// Seen if broken: held requests answered with an error or undelivered in
/// the report, or the stop waits out a grace.
#[actix_rt::test]
async fn a_stop_as_the_restart_answers_drains_the_held_messages_in_the_fresh_one() {
    tokio::time::pause();
    let (_app, handle, log, restart) = held_rig(RestartPolicy::Always, 0, None).await;
    let held: Vec<_> = (11..=13)
        .map(|id| actix_rt::spawn(handle.send(Note(id))))
        .collect();
    within(restart).await.unwrap().unwrap().unwrap();
    let stop = handle.stop();
    let report = within(stop).await;
    let (fared, got) = answers(held).await;
    assert_eq!(
        got,
        vec![Some((11, 2)), Some((12, 2)), Some((13, 2))],
        "{report}"
    );
    assert_eq!(
        (report.outcome.clone(), report.undelivered),
        (StopOutcome::Drained, 0),
        "{report}"
    );
    assert_ids_account(&report, fared, log.ids(), "stop as the restart answers");
}

/// A `Kill` right as the restart answers: every held request is answered
/// or hears an error, and the counts close.
///
/// Seen if broken: a held request never answered, or counts that do not
/// close.
#[actix_rt::test]
async fn a_kill_as_the_restart_answers_leaves_no_held_request_unanswered() {
    tokio::time::pause();
    let (app, handle, log, restart) = held_rig(RestartPolicy::Always, 0, None).await;
    let held: Vec<_> = (11..=13)
        .map(|id| actix_rt::spawn(handle.send(Note(id))))
        .collect();
    within(restart).await.unwrap().unwrap().unwrap();
    app.do_send(Kill);
    let (fared, _) = answers(held).await;
    let report = within(handle.ended()).await;
    assert_ids_account(&report, fared, log.ids(), "kill as the restart answers");
}

/// Held messages, then a fresh incarnation whose `started` panics, a
/// backoff, and messages sent during it: the incarnation after handles the
/// held ones first, then the later ones, all in the order sent.
///
/// Seen if broken: a later message handled before a held one, or any
/// request answered with an error.
#[actix_rt::test]
async fn held_messages_keep_their_place_ahead_of_those_sent_during_a_backoff() {
    tokio::time::pause();
    let (_app, handle, log, restart) =
        held_rig(RestartPolicy::Always, 2, Some(Duration::from_secs(1))).await;
    let mut sends: Vec<_> = (11..=13)
        .map(|id| actix_rt::spawn(handle.send(Note(id))))
        .collect();
    let _ = within(restart).await.unwrap();
    for id in 14..=15 {
        sends.push(actix_rt::spawn(handle.send(Note(id))));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (_, got) = answers(sends).await;
    let expected: Vec<_> = (11..=15).map(|id| Some((id, 3))).collect();
    assert_eq!(got, expected, "{:?}", log.handled());
    assert_eq!(log.ids(), vec![11, 12, 13, 14, 15]);
}

/// A `Never` child whose fresh incarnation cannot start (its `started`
/// panics) ends for good: every held request hears an error, none is
/// handled, and the counts close.
///
/// Seen if broken: a held request never answered (held forever), handled
/// by a third incarnation, or counts that do not close.
#[actix_rt::test]
async fn messages_held_when_a_never_childs_fresh_incarnation_cannot_start_are_undelivered() {
    tokio::time::pause();
    let (_app, handle, log, restart) = held_rig(RestartPolicy::Never, 2, None).await;
    let held: Vec<_> = (11..=13)
        .map(|id| actix_rt::spawn(handle.send(Note(id))))
        .collect();
    let _ = within(restart).await.unwrap();
    let (fared, got) = answers(held).await;
    let report = within(handle.ended()).await;
    assert_eq!(got, vec![None, None, None], "{report}");
    assert_eq!(log.built(), 2, "{report}");
    assert_eq!(report.undelivered, 3, "{report}");
    assert_ids_account(&report, fared, log.ids(), "never, started panics");
}

/// A held message that calls `fail` in the fresh incarnation of a `Never`
/// child ends it for good: the held messages behind it are undelivered.
///
/// Seen if broken: requests 12 and 13 never answered, or handled.
#[actix_rt::test]
async fn messages_held_behind_a_fail_of_a_never_child_are_undelivered() {
    tokio::time::pause();
    let (_app, handle, log, restart) = held_rig(RestartPolicy::Never, 0, None).await;
    let mut fared = Fared::default();
    handle.do_send(Quit(11, End::Fail)).unwrap();
    fared.fired += 1;
    let later: Vec<_> = (12..=13)
        .map(|id| actix_rt::spawn(handle.send(Note(id))))
        .collect();
    let _ = within(restart).await.unwrap();
    let (rest, got) = answers(later).await;
    let report = within(handle.ended()).await;
    assert_eq!(got, vec![None, None], "{report}");
    assert_eq!(log.handled(), vec![(11, 2)]);
    assert_ids_account(&report, fared + rest, log.ids(), "never, fail");
}

/// A stop that takes over a restart's drain past its marker drains what
/// was held in the same incarnation (`docs/lifecycle.md`), also when the
/// incarnation ran on past the marker because its `stopping` answered
/// `Running::Continue` (not only when it owns a `ChildFuture`): it is
/// alive and reading for the whole grace, so the held requests are
/// answered by it.
#[actix_rt::test]
async fn a_stop_over_a_refusing_incarnations_restart_drain_handles_what_was_held() {
    tokio::time::pause();
    let (_app, handle, log, restart) = held_rig(RestartPolicy::Always, 0, None).await;
    let held: Vec<_> = (11..=13)
        .map(|id| actix_rt::spawn(handle.send(Note(id))))
        .collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let stop = actix_rt::spawn(handle.stop());
    let _ = within(restart).await.unwrap();
    let report = within(stop).await.unwrap();
    let (fared, got) = answers(held).await;
    assert_eq!(log.built(), 1, "{report}");
    assert_eq!(
        got,
        vec![Some((11, 1)), Some((12, 1)), Some((13, 1))],
        "{report}"
    );
    assert_eq!(report.undelivered, 0, "{report}");
    assert_ids_account(&report, fared, log.ids(), "stop over a refusing drain");
}
