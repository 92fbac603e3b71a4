//! `RestartChild` sent right behind messages that fail (restarted in the
//! same poll since commit 2d43182) and, in some tests, a normal stop that
//! ends an `OnFailure` child for good; found by `attacks4_random`.
//!
//! The promises (rustdoc of `RestartChild`, `ControlError::ChildStopping`,
//! `EventKind`): it drains the current incarnation to the end of its
//! mailbox as it is now, then starts a fresh one, and answers once that
//! one is starting; a child that ended is started again; `ChildStopping`
//! means a stop is under way; a restarted incarnation shows `Failed`,
//! `Restarting`, `Started`. The attack found three of these broken (also
//! at 87ac7aa, before 2d43182, for other prefixes): the `ChildStopping`
//! answer to a child's own normal end, the second `Restarting`, and the
//! restart between two incarnations (or a drain cut short by a failure)
//! whose fresh incarnation handled what was queued before the request are
//! fixed; their tests run.

use crate::attacks4_support::{
    flaky, quiet_panics, start_alone, supervise, Book, How, Job, StartFails, Which,
};
use crate::common::{node, within};

use actix_supervisor::snapshot::NodeState;
use actix_supervisor::{RestartChild, RestartPolicy, Stop};

/// Queues `prefix`, then a normal stop (which ends an `OnFailure` child
/// for good), then asks `RestartChild` without waiting in between.
/// Answers what `RestartChild` answered, the node's state after, and
/// whether the handle takes work.
async fn restart_behind(prefix: &[How]) -> (String, NodeState, bool, u64) {
    let book = Book::new();
    let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::OnFailure);
    let (app, handle) = supervise(spec);
    let events = actix_supervisor::testkit::EventRecorder::start(&app)
        .await
        .unwrap();
    within(handle.started()).await.unwrap();
    for (seq, how) in prefix.iter().enumerate() {
        handle.do_send(Job::new(0, seq as u32, *how)).unwrap();
    }
    handle
        .do_send(Job::new(0, prefix.len() as u32, How::StopNormally))
        .unwrap();
    let answer = within(app.send(RestartChild::new("job"))).await.unwrap();
    let job = node(&app, "/app/job").await;
    let accepting = handle.is_accepting();
    let which = if accepting {
        within(handle.send(Which)).await.unwrap_or(0)
    } else {
        0
    };
    if std::env::var("ATTACK4_SHOW").is_ok() {
        eprintln!("{prefix:?}: handled {:?}", book.handled());
        let seen: Vec<_> = events
            .for_path("/app/job")
            .iter()
            .map(|e| {
                format!("{}:{:?}", e.incarnation, e.kind)
                    .chars()
                    .take(40)
                    .collect::<String>()
            })
            .collect();
        eprintln!("{prefix:?}: events {seen:?}");
    }
    within(app.send(Stop)).await.unwrap();
    (format!("{answer:?}"), job.state, accepting, which)
}

/// With no failure before the normal stop, or one, `RestartChild` either
/// starts the child again (`Ok`, and it takes work) or answers an error.
#[actix_rt::test]
async fn restart_child_behind_a_normal_end_starts_the_child_or_says_why_not() {
    quiet_panics();
    let mut broken = Vec::new();
    for prefix in [
        vec![],
        vec![How::Run],
        vec![How::Panic],
        vec![How::Fail],
        vec![How::Panic, How::Run],
    ] {
        let (answer, state, accepting, which) = restart_behind(&prefix).await;
        let case = format!("{prefix:?}: {answer}, then {state:?}, accepting {accepting}");
        if std::env::var("ATTACK4_SHOW").is_ok() {
            eprintln!("{case}");
        }
        if answer == "Ok(())" && !(accepting && which > 0) {
            broken.push(case);
        }
    }
    assert!(broken.is_empty(), "Ok, yet not started again: {broken:#?}");
}

/// The same with several failures ahead of the normal stop. It was broken
/// with `[Panic, Fail, Panic]`: incarnations 1, 2, 3 each failed on their
/// message; `RestartChild` reached the child between incarnations 3 and 4,
/// parked it at once; it answered `Ok`, and incarnation 4, the "fresh"
/// one, handled the normal stop queued *before* the request and ended for
/// good: the node showed `Stopped` and the handle refused work. (Also
/// broken before commit 2d43182, for `[Panic, Panic]` and `[Fail, Fail]`
/// too, through a restart drain cut short by a failure.) The promise: the
/// current incarnation drains the mailbox as it was, then a fresh one
/// starts, and `Ok` answers once it is starting. Fixed: between two
/// incarnations the restart queues its marker and the next incarnation
/// drains to it, then is parked; one that ends before the marker is
/// followed by another that drains the rest (`Lifecycle`, `drain_to`).
#[actix_rt::test]
async fn restart_child_behind_failures_and_a_normal_end_starts_the_child_or_says_why_not() {
    quiet_panics();
    let mut broken = Vec::new();
    for prefix in [
        vec![How::Panic, How::Fail, How::Panic],
        vec![How::Panic, How::Panic],
        vec![How::Fail, How::Fail],
        vec![How::Panic, How::Fail, How::Panic],
        vec![How::Run, How::Panic, How::Run, How::Panic, How::Run],
    ] {
        let (answer, state, accepting, which) = restart_behind(&prefix).await;
        let case = format!("{prefix:?}: {answer}, then {state:?}, accepting {accepting}");
        if std::env::var("ATTACK4_SHOW").is_ok() {
            eprintln!("{case}");
        }
        if answer == "Ok(())" && !(accepting && which > 0) {
            broken.push(case);
        }
    }
    assert!(broken.is_empty(), "Ok, yet not started again: {broken:#?}");
}

/// `RestartChild` asked right behind `[Panic, Panic]` and a normal stop,
/// while no stop of any kind was asked: it answered
/// `ControlError::ChildStopping` ("a stop of the child is under way: it
/// will end, not restart"), and the child, which ended on its own
/// normally, stayed `Stopped` (fixed: the supervisor now starts a child
/// that ended on its own while the request waited). The promise (rustdoc of `RestartChild`): a
/// child that ended normally is started again; `ChildStopping` is for a
/// child that a stop or a `RemoveChild` is ending. The same request asked
/// once `ended()` answered starts it again (the control case below).
#[actix_rt::test]
async fn restart_child_racing_a_normal_end_never_answers_child_stopping() {
    quiet_panics();
    let mut broken = Vec::new();
    for prefix in [
        vec![How::Panic, How::Panic],
        vec![How::Fail, How::Fail],
        vec![How::Run, How::Panic, How::Run, How::Panic, How::Run],
    ] {
        let (answer, state, accepting, _) = restart_behind(&prefix).await;
        if answer.starts_with("Err(ChildStopping") {
            broken.push(format!(
                "{prefix:?}: {answer}, then {state:?}, accepting {accepting}"
            ));
        }
    }
    assert!(broken.is_empty(), "no stop was asked: {broken:#?}");
}

/// The control case: once `ended()` answered, `RestartChild` of the child
/// that ended normally (after failures) starts it again.
#[actix_rt::test]
async fn restart_child_after_a_normal_end_that_followed_failures_starts_it_again() {
    quiet_panics();
    for prefix in [
        vec![How::Panic, How::Panic],
        vec![How::Fail, How::Panic, How::Fail],
    ] {
        let case = format!("{prefix:?}");
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::OnFailure);
        let (app, handle) = start_alone(spec).await;
        for (seq, how) in prefix.iter().enumerate() {
            handle.do_send(Job::new(0, seq as u32, *how)).unwrap();
        }
        handle
            .do_send(Job::new(0, prefix.len() as u32, How::StopNormally))
            .unwrap();
        let report = within(handle.ended()).await;
        assert!(report.ended_on_its_own, "{case}: {report}");
        assert_eq!(
            within(app.send(RestartChild::new("job"))).await.unwrap(),
            Ok(()),
            "{case}"
        );
        assert!(handle.is_accepting(), "{case}");
        let which = within(handle.send(Which)).await.unwrap();
        assert_eq!(which, 2 + prefix.len() as u64, "{case}");
        assert_eq!(
            node(&app, "/app/job").await.state,
            NodeState::Running,
            "{case}"
        );
        within(app.send(Stop)).await.unwrap();
    }
}

/// `RestartChild` asked right behind failing messages (no normal stop):
/// it answers `Ok`, the child runs, every message is handled once, and
/// the snapshot and the events agree: `incarnation` is one more than
/// `restart_count` ("1 for the first, one more after each restart"), and
/// the child's events show one `Restarting` per incarnation that ended
/// (`EventKind`: "Failed, then Restarting, then Started"; the `metrics`
/// feature counts restarts from these events).
///
/// When the request reached the child between two incarnations
/// (`[Panic, Fail, Panic]`, `[Fail, Fail, Fail, Fail]`), incarnation 3
/// showed `failed, restarting {attempt 3}, restarting {attempt 1}` before
/// `4:started`: 4 `Restarting` events for 3 restarts (`restart_count` 3).
/// Fixed: a strategy restart between two incarnations publishes no second
/// `Restarting`.
#[actix_rt::test]
async fn restart_child_behind_failures_counts_each_restart_once() {
    quiet_panics();
    let mut broken = Vec::new();
    for prefix in [
        vec![How::Panic],
        vec![How::Panic, How::Panic],
        vec![How::Panic, How::Fail, How::Panic],
        vec![How::Fail, How::Fail, How::Fail, How::Fail],
    ] {
        let case = format!("{prefix:?}");
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::OnFailure);
        let (app, handle) = supervise(spec);
        let events = actix_supervisor::testkit::EventRecorder::start(&app)
            .await
            .unwrap();
        within(handle.started()).await.unwrap();
        for (seq, how) in prefix.iter().enumerate() {
            handle.do_send(Job::new(0, seq as u32, *how)).unwrap();
        }
        let answer = within(app.send(RestartChild::new("job"))).await.unwrap();
        assert_eq!(answer, Ok(()), "{case}");
        let which = within(handle.send(Which)).await.unwrap();
        let expected: Vec<(u32, u32)> = (0..prefix.len() as u32).map(|s| (0, s)).collect();
        book.assert_each_once_in_order(&expected, &case);
        let job = node(&app, "/app/job").await;
        assert_eq!(job.incarnation, which, "{case}");
        let restarting = events
            .for_path("/app/job")
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    actix_supervisor::events::EventKind::Restarting { .. }
                )
            })
            .count() as u64;
        if job.restart_count + 1 != job.incarnation || restarting + 1 != job.incarnation {
            broken.push(format!(
                "{case}: incarnation {}, restart_count {}, {restarting} Restarting events: {:?}",
                job.incarnation,
                job.restart_count,
                events.kinds("/app/job")
            ));
        }
        within(app.send(Stop)).await.unwrap();
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

/// A child that can be held on a gate, panic, and note which incarnation
/// handled a message.
struct Gated {
    incarnation: u64,
    notes: std::sync::Arc<std::sync::Mutex<Vec<(u64, u32)>>>,
}

impl actix::Actor for Gated {
    type Context = actix::Context<Self>;
}

actix_supervisor::supervised!(Gated);

/// Holds the incarnation (`ctx.wait`) until the gate opens.
#[derive(actix::Message)]
#[rtype(result = "()")]
struct HoldOn(crate::common::Gate);

impl actix::Handler<HoldOn> for Gated {
    type Result = ();
    fn handle(&mut self, HoldOn(gate): HoldOn, ctx: &mut actix::Context<Self>) {
        use actix::AsyncContext;
        ctx.wait(actix::fut::wrap_future(gate.passed()));
    }
}

#[derive(actix::Message)]
#[rtype(result = "()")]
struct Boom;

impl actix::Handler<Boom> for Gated {
    type Result = ();
    fn handle(&mut self, _: Boom, _: &mut actix::Context<Self>) {
        panic!("boom");
    }
}

#[derive(actix::Message)]
#[rtype(result = "()")]
struct Note(u32);

impl actix::Handler<Note> for Gated {
    type Result = ();
    fn handle(&mut self, Note(n): Note, _: &mut actix::Context<Self>) {
        self.notes.lock().unwrap().push((self.incarnation, n));
    }
}

impl actix::Handler<Which> for Gated {
    type Result = u64;
    fn handle(&mut self, _: Which, _: &mut actix::Context<Self>) -> u64 {
        self.incarnation
    }
}

/// `RestartChild` reaches a running child held on a gate, with `[Boom,
/// Note 1, Note 2]` queued behind: its drain's marker follows them. The
/// draining incarnation (1) fails on `Boom`, before the marker; the next
/// one (2) drains the notes to the marker and is ended; only then does the
/// fresh incarnation (3) start, and `Ok` answers. Before the fix the
/// failure parked the child at once and the fresh incarnation handled the
/// notes queued before the request.
#[actix_rt::test]
async fn a_restart_drain_cut_short_by_a_failure_is_finished_before_the_fresh_incarnation() {
    quiet_panics();
    let notes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let made = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let spec = {
        let notes = notes.clone();
        actix_supervisor::ChildSpec::new("job", move || Gated {
            incarnation: made.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
            notes: notes.clone(),
        })
        .restart(RestartPolicy::OnFailure)
    };
    let (app, handle) = start_alone(spec).await;
    let gate = crate::common::Gate::new();
    // Handled: the incarnation now waits on the gate.
    within(handle.send(HoldOn(gate.clone()))).await.unwrap();
    handle.do_send(Boom).unwrap();
    handle.do_send(Note(1)).unwrap();
    handle.do_send(Note(2)).unwrap();
    let restart = app.send(RestartChild::new("job"));
    // The request reached the running incarnation: its drain began.
    actix_supervisor::testkit::wait_for_node(&app, "/app/job", |n| n.state == NodeState::Stopping)
        .await;
    gate.open();
    assert_eq!(within(restart).await.unwrap(), Ok(()));
    let fresh = within(handle.send(Which)).await.unwrap();
    assert_eq!(fresh, 3);
    assert_eq!(*notes.lock().unwrap(), [(2, 1), (2, 2)]);
    let job = node(&app, "/app/job").await;
    assert_eq!((job.state, job.incarnation), (NodeState::Running, 3));
    within(app.send(Stop)).await.unwrap();
}
