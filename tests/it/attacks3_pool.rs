//! Attacks from outside, with the public API only, on the dynamic pool
//! (`actix_supervisor::pool`), in the cases `attacks_pool` left: names of
//! one's own that are numbers, bursts of one-shot jobs that end on their
//! own while starts race from local tasks and foreign threads, start
//! futures given up with `tokio::time::timeout` (no slot may leak), starts
//! in flight when the pool's `Stop` arrives, a `Never` pool ended by its
//! parent's strategy, a pool under a supervisor on another arbiter,
//! `ended()`/`stop()` racing a child's own end, and `Inspect` read at each
//! child's `Stopped` event.
//!
//! Each test asserts a promise of `docs/pool.md`, `docs/ended_children.md`
//! or the rustdoc. A test marked `#[ignore = "DEFECT: ..."]` shows a promise
//! broken today.
//!
//! Tests on one thread run under paused time; tests that involve other OS
//! threads run on the real clock and wait only on replies, handles, reports
//! and events. Every await that could hang is bounded.

use crate::attacks3_support::{
    names, node, settled, Crash, Done, FailNow, HoldOn, Live, Member, Note, Start,
};
use crate::common::{within, Gate};

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::events::EventKind;
use actix_supervisor::pool::{Pool, PoolBuilder};
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::testkit;
use actix_supervisor::{
    ControlError, Inspect, RestartChild, RestartPolicy, Stop, StopChild, StopOutcome, StopReport,
    Strategy, Subscribe, SupervisorActor,
};
use futures_util::{FutureExt, StreamExt};

/// A pool called `name` of [`Member`]s counted in `live`.
fn jobs(name: &str, live: &Arc<Live>) -> PoolBuilder<Member, Start> {
    let live = live.clone();
    let made = Arc::new(AtomicU64::new(0));
    Pool::builder(name, move |start: &Start| {
        let n = made.fetch_add(1, Ordering::SeqCst) + 1;
        Member::new("job", n, *start, &live)
    })
}

/// Runs the future `make` builds on a new OS thread with an actix `System`
/// of its own, and hands its output back.
fn on_actix_thread<F, T>(
    make: impl FnOnce() -> F + Send + 'static,
) -> tokio::sync::oneshot::Receiver<T>
where
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let out = actix::System::new().block_on(make());
        let _ = tx.send(out);
    });
    rx
}

async fn joined<T>(rx: tokio::sync::oneshot::Receiver<T>) -> T {
    within(rx)
        .await
        .expect("the other thread ended without an answer")
}

// ---------------------------------------------------------------------------
// 1. Names of one's own.

/// `start_named` with a number the pool gives later: refused as an invalid
/// name, or taken without ever making one of the pool's own starts fail.
/// The pool's handle must not be able to break its own numbering.
#[actix_rt::test]
async fn start_named_with_a_number_the_pool_gives_later_does_not_break_its_starts() {
    tokio::time::pause();
    let live = Live::new();
    let pool = jobs("jobs", &live).start().unwrap();
    let named = within(pool.start_named("2", Start::Runs)).await;
    match named {
        Err(ControlError::InvalidSpec(_)) => {}
        Ok(_) => {
            for i in 0..3 {
                let start = within(pool.start(Start::Runs)).await;
                assert!(
                    start.is_ok(),
                    "start {i} of a pool with room, after start_named(\"2\"): {start:?}"
                );
            }
            let mut listed = names(pool.supervisor()).await;
            assert_eq!(listed.len(), 4, "{listed:?}");
            listed.sort();
            listed.dedup();
            assert_eq!(listed.len(), 4, "two children share a name");
        }
        Err(other) => panic!("unexpected {other:?}"),
    }
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
}

/// A number the pool already gave and whose child still runs is taken:
/// `start_named` of it is refused, the child keeps its name and runs on.
#[actix_rt::test]
async fn start_named_with_a_number_the_pool_gave_to_a_live_child_is_refused() {
    tokio::time::pause();
    let live = Live::new();
    let pool = jobs("jobs", &live).start().unwrap();
    let first = within(pool.start(Start::Runs)).await.unwrap();
    within(first.started()).await.unwrap();
    let name = first
        .path()
        .as_str()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let again = within(pool.start_named(name.clone(), Start::Runs)).await;
    assert!(
        matches!(again, Err(ControlError::InvalidSpec(_))),
        "{again:?}"
    );
    assert_eq!(names(pool.supervisor()).await, [name]);
    assert_eq!(live.built(), 1, "a refused start was built");
    within(first.send(Note)).await.unwrap();
    within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(live.now(), 0);
}

// ---------------------------------------------------------------------------
// 2. Bursts.

/// What one starter did.
#[derive(Debug, Default)]
struct Tally {
    taken: u64,
    full: u64,
    done_sent: u64,
}

/// Starts `rounds` jobs one after the other; each taken job is ended by a
/// `Done` it handles itself (every other one) or by its handle's `stop`,
/// and its end is awaited.
async fn burst(pool: Pool<Member, Start>, rounds: u64) -> Tally {
    let mut tally = Tally::default();
    for i in 0..rounds {
        match pool.start(Start::Runs).await {
            Ok(job) => {
                tally.taken += 1;
                if i % 2 == 0 {
                    job.do_send(Done).unwrap();
                    tally.done_sent += 1;
                    let report = job.ended().await;
                    assert!(report.ended_on_its_own, "{report}");
                } else {
                    let report = job.stop().await;
                    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
                }
                assert!(job.do_send(Note).is_err(), "an ended job takes work");
            }
            Err(ControlError::Full { .. }) => {
                tally.full += 1;
                tokio::task::yield_now().await;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    tally
}

/// Starts race from six tasks of the test's own system and two threads
/// with a `System` each, on a pool of three; half the jobs end on their own
/// (a child that ended counts no longer, even before it left the table).
/// At most three run at once, each taken job ran once, each `Done` was
/// handled once, and the pool lists nobody at the end.
#[actix_rt::test]
async fn bursts_of_jobs_ending_on_their_own_from_tasks_and_threads_never_pass_max_children() {
    const MAX: usize = 3;
    const ROUNDS: u64 = 40;
    let live = Live::new();
    let pool = jobs("jobs", &live).max_children(MAX).start().unwrap();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            on_actix_thread(move || burst(pool, ROUNDS))
        })
        .collect();
    let tasks: Vec<_> = (0..6)
        .map(|_| actix::spawn(burst(pool.clone(), ROUNDS)))
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        let t = within(task).await.unwrap();
        total.taken += t.taken;
        total.full += t.full;
        total.done_sent += t.done_sent;
    }
    for thread in threads {
        let t = joined(thread).await;
        total.taken += t.taken;
        total.full += t.full;
        total.done_sent += t.done_sent;
    }
    assert_eq!(total.taken + total.full, 8 * ROUNDS);
    assert!(total.taken > 0, "{total:?}");
    assert!(
        live.most() <= MAX as u64,
        "{} ran at once past {MAX}: {total:?}",
        live.most()
    );
    assert_eq!(live.built(), total.taken, "{total:?}");
    assert_eq!(live.started(), total.taken, "{total:?}");
    assert_eq!(live.handled(), total.done_sent, "{total:?}");
    assert_eq!(live.now(), 0);
    assert!(names(pool.supervisor()).await.is_empty());
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
}

/// Start futures given up by `tokio::time::timeout` (zero, or one turn of
/// the clock) and by dropping after one poll, from the test's thread and
/// from two other threads: whatever the pool took runs and is listed, and
/// no slot is lost. Once every listed child is stopped, exactly
/// `max_children` starts are taken again.
#[actix_rt::test]
async fn start_futures_given_up_by_timeouts_on_several_threads_lose_no_slot() {
    const MAX: usize = 3;
    let live = Live::new();
    let pool = jobs("jobs", &live).max_children(MAX).start().unwrap();

    async fn give_up(pool: Pool<Member, Start>, n: u32) {
        for i in 0..n {
            match i % 3 {
                0 => {
                    let _ = tokio::time::timeout(Duration::ZERO, pool.start(Start::Runs)).await;
                }
                1 => {
                    let _ = tokio::time::timeout(Duration::from_micros(1), pool.start(Start::Runs))
                        .await;
                }
                _ => {
                    let mut start = Box::pin(pool.start(Start::Runs));
                    let _ = futures_util::poll!(start.as_mut());
                    drop(start);
                }
            }
        }
    }

    for round in 0..6 {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                on_actix_thread(move || give_up(pool, 7))
            })
            .collect();
        give_up(pool.clone(), 7).await;
        for thread in threads {
            joined(thread).await;
        }
        // Every start sent was sent before this `Inspect`.
        let tree = settled(testkit::wait_until(pool.supervisor(), |tree| {
            tree.root
                .children
                .iter()
                .all(|c| c.state == NodeState::Running)
        }))
        .await;
        let listed: Vec<String> = tree.root.children.iter().map(|c| c.name.clone()).collect();
        assert!(listed.len() <= MAX, "round {round}: {listed:?}");
        assert_eq!(live.now(), listed.len() as u64, "round {round}: {listed:?}");
        assert_eq!(live.built(), live.started(), "round {round}");
        for name in listed {
            let report = within(pool.supervisor().send(StopChild::new(name)))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
        }
        // Every slot is free: exactly MAX fit.
        let mut held = Vec::new();
        for i in 0..MAX {
            let start = within(pool.start(Start::Runs)).await;
            assert!(
                start.is_ok(),
                "round {round}: start {i} of an empty pool of {MAX}: {start:?}"
            );
            held.push(start.unwrap());
        }
        let past = within(pool.start(Start::Runs)).await;
        assert!(
            matches!(past, Err(ControlError::Full { .. })),
            "round {round}: {past:?}"
        );
        for job in held {
            within(job.stop()).await;
        }
    }
    assert!(live.most() <= MAX as u64, "{} at once", live.most());
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(live.now(), 0);
}

// ---------------------------------------------------------------------------
// 3. Starts in flight when the pool stops.

/// What one start in flight ended with.
enum Flight {
    Start(
        Result<actix_supervisor::ChildHandle<Member>, ControlError>,
        u64,
    ),
    Stop(StopReport),
}

/// Ten starts, the pool's `Stop`, ten more starts, all in flight at once;
/// each start that answers a handle sends three notes through it at once.
/// Every start answers (a handle or `SupervisorStopping`); every child
/// taken is in the stop's report and its `ended()` answers that same
/// report; every note accepted is handled or counted in it; nothing runs.
#[actix_rt::test]
async fn starts_in_flight_around_the_pool_s_stop_each_answer_and_every_note_is_accounted() {
    tokio::time::pause();
    for stop_at in [0usize, 3, 10, 20] {
        let live = Live::new();
        let pool = jobs("jobs", &live).max_children(100).start().unwrap();
        let mut flights: Vec<std::pin::Pin<Box<dyn Future<Output = Flight>>>> = Vec::new();
        for i in 0..=20 {
            if i == stop_at {
                let stop = pool.supervisor().send(Stop);
                flights.push(Box::pin(async move { Flight::Stop(stop.await.unwrap()) }));
            }
            if i < 20 {
                let start = pool.start(Start::Runs);
                flights.push(Box::pin(async move {
                    let answer = start.await;
                    let mut accepted = 0;
                    if let Ok(job) = &answer {
                        for _ in 0..3 {
                            accepted += u64::from(job.do_send(Note).is_ok());
                        }
                    }
                    Flight::Start(answer, accepted)
                }));
            }
        }
        let answers = within(futures_util::future::join_all(flights)).await;
        let report = answers
            .iter()
            .find_map(|a| match a {
                Flight::Stop(r) => Some(r.clone()),
                Flight::Start(..) => None,
            })
            .unwrap();
        assert_eq!(
            report.outcome,
            StopOutcome::Drained,
            "stop at {stop_at}: {report}"
        );
        let (mut taken, mut accepted, mut lost) = (0u64, 0u64, 0u64);
        for answer in &answers {
            match answer {
                Flight::Start(Ok(job), a) => {
                    taken += 1;
                    accepted += a;
                    let ended = within(job.ended()).await;
                    let held = report.find(ended.path.as_str());
                    assert_eq!(
                        held,
                        Some(&ended),
                        "stop at {stop_at}: a child taken is not in the stop's report\n{report}"
                    );
                    lost += ended.undelivered + ended.cancelled;
                }
                Flight::Start(Err(ControlError::SupervisorStopping { .. }), _) => {}
                Flight::Start(Err(other), _) => panic!("stop at {stop_at}: {other:?}"),
                Flight::Stop(_) => {}
            }
        }
        assert_eq!(live.built(), taken, "stop at {stop_at}");
        assert_eq!(
            live.handled() + lost,
            accepted,
            "stop at {stop_at}: {taken} taken"
        );
        assert_eq!(live.now(), 0, "stop at {stop_at}");
    }
}

// ---------------------------------------------------------------------------
// 4. Pools in a tree.

/// A pool with policy `Never` is a bystander of its parent's one-for-all
/// or rest-for-one restart: it is drained and ends for good. Its children
/// answer `ended()` with what they held handled; every later start answers
/// at once (`SupervisorStopping`); the parent's stop answers.
#[actix_rt::test]
async fn a_never_pool_ended_by_its_parent_s_strategy_drains_and_answers_every_later_start() {
    tokio::time::pause();
    for strategy in [Strategy::OneForAll, Strategy::RestForOne] {
        let live = Live::new();
        let sibling_live = Live::new();
        let builder = jobs("jobs", &live)
            .max_children(2)
            .restart(RestartPolicy::Never);
        let pool = builder.pool();
        let sibling = crate::attacks3_support::member("sibling", &sibling_live)
            .restart(RestartPolicy::OnFailure);
        let crash = sibling.handle();
        let app = SupervisorActor::builder("app")
            .strategy(strategy)
            .child(sibling)
            .child(builder)
            .start()
            .unwrap();
        let mut held = Vec::new();
        for _ in 0..2 {
            let job = within(pool.start(Start::Runs)).await.unwrap();
            within(job.started()).await.unwrap();
            let gate = Gate::new();
            job.do_send(HoldOn(gate.clone())).unwrap();
            job.do_send(Note).unwrap();
            job.do_send(Note).unwrap();
            gate.open();
            held.push(job);
        }
        let _ = within(crash.send(Crash)).await;
        let tree = settled(testkit::wait_until(&app, |t| {
            t.find("/app/jobs").is_some_and(|n| n.state.is_terminal())
                && t.find("/app/sibling")
                    .is_some_and(|n| n.state == NodeState::Running && n.incarnation == 2)
        }))
        .await;
        assert_eq!(
            tree.find("/app/jobs").unwrap().state,
            NodeState::Stopped,
            "{strategy:?}\n{tree}"
        );
        for job in &held {
            let ended = within(job.ended()).await;
            assert_eq!(ended.outcome, StopOutcome::Drained, "{strategy:?}: {ended}");
        }
        assert_eq!(live.handled(), 4, "{strategy:?}");
        assert_eq!(live.now(), 0, "{strategy:?}");
        for _ in 0..2 {
            let later = within(pool.start(Start::Runs)).await;
            assert!(
                matches!(later, Err(ControlError::SupervisorStopping { .. })),
                "{strategy:?}: {later:?}"
            );
        }
        assert_eq!(live.built(), 2, "{strategy:?}");
        let report = within(app.send(Stop)).await.unwrap();
        assert_eq!(
            report.outcome,
            StopOutcome::Drained,
            "{strategy:?}: {report}"
        );
    }
}

/// A pool under a supervisor that runs on another arbiter: starts from the
/// test's thread and from a thread with its own `System` share its
/// `max_children`; handles reach the children across threads; `stop` and
/// `ended()` answer; `Inspect` of the root lists only the live ones; the
/// root's stop drains them and each `ended()` answers the root's report;
/// starts after it answer at once.
#[actix_rt::test]
async fn a_pool_under_a_supervisor_on_another_arbiter_keeps_every_promise() {
    let arbiter = Arbiter::new();
    let live = Live::new();
    let builder = jobs("jobs", &live).max_children(3);
    let pool = builder.pool();
    let remote = SupervisorActor::builder("remote")
        .child(builder)
        .on_arbiter(arbiter.handle());
    let app = SupervisorActor::builder("app")
        .child(remote)
        .start()
        .unwrap();

    let first = within(pool.start(Start::Runs)).await.unwrap();
    within(first.started()).await.unwrap();
    assert_eq!(first.path().as_str(), "/app/remote/jobs/1");
    let other = pool.clone();
    let from_thread = joined(on_actix_thread(move || async move {
        let job = other.start(Start::Runs).await.unwrap();
        job.started().await.unwrap();
        for _ in 0..5 {
            job.do_send(Note).unwrap();
        }
        job
    }))
    .await;
    let third = within(pool.start_named("named", Start::Runs))
        .await
        .unwrap();
    let full = within(pool.start(Start::Runs)).await;
    assert!(matches!(full, Err(ControlError::Full { .. })), "{full:?}");

    // One ends on its own, one is stopped: both leave, the slots are free.
    third.do_send(Done).unwrap();
    let third_end = within(third.ended()).await;
    assert!(third_end.ended_on_its_own, "{third_end}");
    let first_end = within(first.stop()).await;
    assert_eq!(first_end.outcome, StopOutcome::Drained, "{first_end}");
    let tree = within(app.send(Inspect)).await.unwrap();
    let listed: Vec<&str> = tree
        .find("/app/remote/jobs")
        .unwrap()
        .children
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(listed, ["2"], "{tree}");
    let again = within(pool.start_named("named", Start::Runs))
        .await
        .unwrap();
    within(again.started()).await.unwrap();
    again.do_send(Note).unwrap();

    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    for job in [&from_thread, &again] {
        let ended = within(job.ended()).await;
        assert_eq!(report.find(ended.path.as_str()), Some(&ended), "{report}");
    }
    assert_eq!(live.handled(), 1 + 5 + 1, "every note and the Done handled");
    assert_eq!(live.now(), 0);
    let late = within(pool.start(Start::Runs)).await;
    assert!(late.is_err(), "{late:?}");
    arbiter.stop();
}

// ---------------------------------------------------------------------------
// 5. Handles racing a child's own end.

/// How a pool child is made to end on its own.
#[derive(Debug, Clone, Copy)]
enum Own {
    Done,
    Fails,
    Panics,
}

/// A child is told to end on its own, and in the same breath (or a few
/// turns of the scheduler later) its handle's `stop()` and `ended()` are
/// asked, then a note is offered: whatever the policy (`Never`,
/// `OnFailure`), both answer one and the same report, later calls answer it
/// again, the note is refused or accounted for, the child leaves and its
/// name is free.
#[actix_rt::test]
async fn stop_and_ended_racing_a_pool_child_s_own_end_answer_one_report() {
    tokio::time::pause();
    for policy in [RestartPolicy::Never, RestartPolicy::OnFailure] {
        for own in [Own::Done, Own::Fails, Own::Panics] {
            for yields in [0u32, 1, 2, 5, 20] {
                let case = format!("{policy:?}/{own:?}/{yields} yields");
                let live = Live::new();
                let pool = jobs("jobs", &live)
                    .child_restart(policy)
                    .intensity(crate::common::unlimited())
                    .start()
                    .unwrap();
                let job = within(pool.start_named("job", Start::Runs)).await.unwrap();
                within(job.started()).await.unwrap();
                match own {
                    Own::Done => job.do_send(Done).unwrap(),
                    Own::Fails => job.do_send(FailNow).unwrap(),
                    Own::Panics => job.do_send(Crash).unwrap(),
                }
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                let (stop, ended) = (job.stop(), job.ended());
                let accepted = u64::from(job.do_send(Note).is_ok());
                let (stopped, ended) = within(futures_util::future::join(stop, ended)).await;
                assert_eq!(stopped, ended, "{case}");
                assert_eq!(within(job.stop()).await, stopped, "{case}");
                assert_eq!(within(job.ended()).await, stopped, "{case}");
                let done_handled = u64::from(matches!(own, Own::Done));
                assert_eq!(
                    live.handled() + stopped.undelivered + stopped.cancelled,
                    accepted + done_handled,
                    "{case}: {stopped}"
                );
                assert_eq!(live.now(), 0, "{case}");
                assert!(
                    node(pool.supervisor(), "/jobs/job").await.is_none(),
                    "{case}"
                );
                let next = within(pool.start_named("job", Start::Runs)).await;
                assert!(next.is_ok(), "{case}: {next:?}");
                let report = within(pool.supervisor().send(Stop)).await.unwrap();
                assert_eq!(report.outcome, StopOutcome::Drained, "{case}: {report}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 6. `Inspect` at each `Stopped` event.

/// Thirty jobs through a pool of four, ending every way (done, failed,
/// panicked, stopped by handle, stopped with `StopChild`): whenever a
/// subscriber sees a child's `Stopped` event, `Inspect` sent at once no
/// longer lists it, and the event's report is the one its `ended()`
/// answers.
#[actix_rt::test]
async fn inspect_at_each_stopped_event_no_longer_lists_that_child() {
    tokio::time::pause();
    const MAX: usize = 4;
    let live = Live::new();
    let pool = jobs("jobs", &live).max_children(MAX).start().unwrap();
    let mut events = within(pool.supervisor().send(Subscribe::all()))
        .await
        .unwrap();
    let mut reports: HashMap<String, StopReport> = HashMap::new();
    let mut handles = Vec::new();
    let mut lagged = false;

    async fn next_stopped(
        pool: &Pool<Member, Start>,
        events: &mut (impl futures_util::Stream<Item = actix_supervisor::events::LifecycleEvent>
                  + Unpin),
        reports: &mut HashMap<String, StopReport>,
        lagged: &mut bool,
    ) {
        loop {
            let event = within(events.next()).await.expect("the stream ended");
            match event.kind {
                EventKind::Stopped { report } if event.path.as_str() != "/jobs" => {
                    let path = event.path.as_str().to_string();
                    let tree = within(pool.supervisor().send(Inspect)).await.unwrap();
                    assert!(
                        tree.find(&path).is_none(),
                        "{path} listed after its Stopped event:\n{tree}"
                    );
                    reports.insert(path, report);
                    return;
                }
                EventKind::Lagged { .. } => *lagged = true,
                _ => {}
            }
        }
    }

    for i in 0..30u32 {
        let job = loop {
            match within(pool.start(Start::Runs)).await {
                Ok(job) => break job,
                Err(ControlError::Full { .. }) => {
                    next_stopped(&pool, &mut events, &mut reports, &mut lagged).await
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        };
        within(job.started()).await.unwrap();
        match i % 5 {
            0 => job.do_send(Done).unwrap(),
            1 => job.do_send(FailNow).unwrap(),
            2 => job.do_send(Crash).unwrap(),
            3 => {
                actix::spawn(job.stop());
            }
            _ => {
                let name = job.path().as_str().rsplit('/').next().unwrap().to_string();
                pool.supervisor().do_send(StopChild::new(name));
            }
        }
        handles.push(job);
    }
    while reports.len() < handles.len() && !lagged {
        next_stopped(&pool, &mut events, &mut reports, &mut lagged).await;
    }
    for job in &handles {
        let ended = within(job.ended()).await;
        if let Some(seen) = reports.get(ended.path.as_str()) {
            assert_eq!(seen, &ended, "the event's report is not the handle's");
        } else {
            assert!(lagged, "no Stopped event for {}", ended.path);
        }
    }
    assert!(names(pool.supervisor()).await.is_empty());
    assert_eq!(live.now(), 0);
    assert!(live.most() <= MAX as u64);
    within(pool.supervisor().send(Stop)).await.unwrap();
}

// ---------------------------------------------------------------------------
// 7. Templates that panic, handles before the pool starts.

/// A template that panics for some arguments: the start is taken, the
/// child's `started()` answers an error and its `ended()` a failure; it
/// leaves, its slot is free at once, and the pool runs on (a one-shot
/// child's failure restarts nothing, so the pool's intensity is not
/// spent, however many there are).
#[actix_rt::test]
async fn a_template_that_panics_fails_that_child_only_and_frees_its_slot() {
    tokio::time::pause();
    let live = Live::new();
    let made = live.clone();
    let pool = Pool::builder("jobs", move |bad: &bool| {
        if *bad {
            panic!("the template cannot build this job");
        }
        Member::new("job", 1, Start::Runs, &made)
    })
    .max_children(1)
    .start()
    .unwrap();
    for round in 0..8 {
        let job = within(pool.start(true)).await;
        let job = match job {
            Ok(job) => job,
            Err(other) => panic!("round {round}: {other:?}"),
        };
        assert!(within(job.started()).await.is_err(), "round {round}");
        let ended = within(job.ended()).await;
        assert!(
            matches!(ended.outcome, StopOutcome::Failed(_)),
            "round {round}: {ended}"
        );
        assert!(names(pool.supervisor()).await.is_empty(), "round {round}");
    }
    let good = within(pool.start(false)).await.unwrap();
    within(good.started()).await.unwrap();
    within(good.send(Note)).await.unwrap();
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(live.handled(), 1);
    assert_eq!(live.now(), 0);
}

/// A `Pool` handle taken from a builder that is dropped without starting,
/// or given to a tree that fails to build: every start answers at once
/// with an error (the pool is gone), nothing is built.
#[actix_rt::test]
async fn starts_on_a_pool_that_never_started_answer_at_once() {
    tokio::time::pause();
    let live = Live::new();
    let dropped = jobs("jobs", &live);
    let pool = dropped.pool();
    drop(dropped);
    for _ in 0..3 {
        let start = within(pool.start(Start::Runs)).await;
        assert!(
            matches!(start, Err(ControlError::SupervisorStopping { .. })),
            "{start:?}"
        );
        let named = within(pool.start_named("x", Start::Runs)).await;
        assert!(named.is_err(), "{named:?}");
    }

    let builder = jobs("jobs", &live);
    let pool = builder.pool();
    let refused = SupervisorActor::builder("app")
        .child(builder)
        .child(crate::attacks3_support::member("jobs", &live))
        .start();
    assert!(refused.is_err(), "two children named jobs");
    let start = within(pool.start(Start::Runs)).await;
    assert!(start.is_err(), "{start:?}");
    assert_eq!(live.built(), 0);
}

/// Starts sent through a `Pool` handle before its tree starts wait in the
/// supervisor's mailbox: once it starts, they are taken up to
/// `max_children`, the rest refused `Full`.
#[actix_rt::test]
async fn starts_sent_before_the_pool_starts_are_taken_up_to_max_children() {
    tokio::time::pause();
    let live = Live::new();
    let builder = jobs("jobs", &live).max_children(2);
    let pool = builder.pool();
    let early: Vec<_> = (0..4)
        .map(|_| actix::spawn(pool.start(Start::Runs)))
        .collect();
    // Let every start reach the mailbox before the tree starts.
    for _ in 0..5 {
        tokio::task::yield_now().await;
    }
    let app = SupervisorActor::builder("app")
        .child(builder)
        .start()
        .unwrap();
    let (mut taken, mut full) = (Vec::new(), 0);
    for start in early {
        match within(start).await.unwrap() {
            Ok(job) => taken.push(job),
            Err(ControlError::Full { .. }) => full += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((taken.len(), full), (2, 2));
    for job in &taken {
        within(job.send(Note)).await.unwrap();
    }
    assert_eq!(live.now(), 2);
    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(live.now(), 0);
}

// ---------------------------------------------------------------------------
// 8. A child's stop and its pool's stop; kept children of a restarted pool.

/// A pool child drains for its handle's `stop()` (held by a gate) when
/// the pool is asked to stop: both answer, the child's report is one, and
/// every note it held is handled.
#[actix_rt::test]
async fn a_child_s_stop_and_its_pool_s_stop_at_once_answer_one_report() {
    tokio::time::pause();
    let live = Live::new();
    let pool = jobs("jobs", &live).start().unwrap();
    let job = within(pool.start(Start::Runs)).await.unwrap();
    let other = within(pool.start(Start::Runs)).await.unwrap();
    within(job.started()).await.unwrap();
    within(other.started()).await.unwrap();
    let gate = Gate::new();
    job.do_send(HoldOn(gate.clone())).unwrap();
    for _ in 0..3 {
        job.do_send(Note).unwrap();
        other.do_send(Note).unwrap();
    }
    let own = tokio::spawn(job.stop());
    let pool_stop = tokio::spawn(pool.supervisor().send(Stop));
    settled(testkit::wait_for_node(pool.supervisor(), "/jobs", |n| {
        n.state == NodeState::Stopping
    }))
    .await;
    gate.open();
    let own = within(own).await.unwrap();
    let pool_report = within(pool_stop).await.unwrap().unwrap();
    assert_eq!(own.outcome, StopOutcome::Drained, "{own}");
    assert_eq!(pool_report.outcome, StopOutcome::Drained, "{pool_report}");
    if let Some(held) = pool_report.find(own.path.as_str()) {
        assert_eq!(held, &own, "two reports for one end");
    }
    assert_eq!(within(job.ended()).await, own);
    assert_eq!(live.handled(), 6);
    assert_eq!(live.now(), 0);
}

/// A pool of `Always` children restarted by its parent's one-for-all (a
/// sibling fails): its children are kept and restart with it, each once,
/// each reached by its old handle; the notes they held are handled; the
/// cap still counts them.
#[actix_rt::test]
async fn always_children_of_a_pool_restarted_by_its_parent_s_strategy_are_kept_and_run_once() {
    tokio::time::pause();
    let live = Live::new();
    let sibling_live = Live::new();
    let builder = jobs("jobs", &live)
        .child_restart(RestartPolicy::Always)
        .max_children(2);
    let pool = builder.pool();
    let sibling =
        crate::attacks3_support::member("sibling", &sibling_live).restart(RestartPolicy::OnFailure);
    let crash = sibling.handle();
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .child(builder)
        .child(sibling)
        .start()
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..2 {
        let job = within(pool.start(Start::Runs)).await.unwrap();
        within(job.started()).await.unwrap();
        job.do_send(Note).unwrap();
        held.push(job);
    }
    let _ = within(crash.send(Crash)).await;
    let tree = settled(testkit::wait_until(&app, |t| {
        t.find("/app/jobs").is_some_and(|n| {
            n.incarnation == 2
                && n.state == NodeState::Running
                && n.children.len() == 2
                && n.children.iter().all(|c| c.state == NodeState::Running)
        })
    }))
    .await;
    assert_eq!(live.now(), 2, "{tree}");
    assert!(live.most() <= 2, "{} ran at once", live.most());
    assert_eq!(live.handled(), 2);
    for job in &held {
        assert!(job.is_accepting(), "{tree}");
        within(job.send(Note)).await.unwrap();
    }
    assert!(matches!(
        within(pool.start(Start::Runs)).await,
        Err(ControlError::Full { .. })
    ));
    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(live.handled(), 4);
    assert_eq!(live.now(), 0);
}

// ---------------------------------------------------------------------------
// 9. Restarts of pool children on request, and stops in a backoff.

/// `RestartChild` of a running one-shot pool child (it is temporary): the
/// restart drains the current incarnation and starts a fresh one, so the
/// child must not leave the pool on the way: it is listed running as
/// incarnation 2, its handle reaches it, its `ended()` has not answered,
/// and it still holds its slot.
#[actix_rt::test]
async fn restart_child_of_a_running_one_shot_pool_child_keeps_it_in_the_pool() {
    tokio::time::pause();
    let live = Live::new();
    let pool = jobs("jobs", &live).max_children(1).start().unwrap();
    let job = within(pool.start_named("job", Start::Runs)).await.unwrap();
    within(job.started()).await.unwrap();
    job.do_send(Note).unwrap();
    let restarted = within(pool.supervisor().send(RestartChild::new("job")))
        .await
        .unwrap();
    assert!(restarted.is_ok(), "{restarted:?}");
    let listed = settled(testkit::wait_for_node(
        pool.supervisor(),
        "/jobs/job",
        |n| n.state == NodeState::Running && n.incarnation == 2,
    ))
    .await;
    assert_eq!(live.handled(), 1, "{listed:?}");
    assert_eq!(live.now(), 1);
    assert_eq!(live.started(), 2);
    assert!(job.is_accepting());
    within(job.send(Note)).await.unwrap();
    assert!(matches!(
        within(pool.start(Start::Runs)).await,
        Err(ControlError::Full { .. })
    ));
    let mut ended = Box::pin(job.ended());
    assert!(
        futures_util::poll!(ended.as_mut()).is_pending(),
        "ended() answered while the child runs"
    );
    let report = within(job.stop()).await;
    assert_eq!(within(ended).await, report);
    assert!(names(pool.supervisor()).await.is_empty());
    within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(live.now(), 0);
}

/// An `OnFailure` pool child that failed waits out a 10 s backoff; notes
/// sent meanwhile wait for its next incarnation. Its handle's `stop()`
/// then starts that incarnation at once only to drain them: each is
/// handled, the child leaves, its slot and name are free, and the backoff's
/// timer starts nothing later.
#[actix_rt::test]
async fn a_pool_child_stopped_in_its_backoff_drains_what_waited_and_leaves() {
    tokio::time::pause();
    let live = Live::new();
    let pool = jobs("jobs", &live)
        .child_restart(RestartPolicy::OnFailure)
        .child_backoff(
            actix_supervisor::Backoff::new(Duration::from_secs(10), Duration::from_secs(10))
                .jitter(0.0),
        )
        .max_children(1)
        .start()
        .unwrap();
    let job = within(pool.start_named("job", Start::Runs)).await.unwrap();
    within(job.started()).await.unwrap();
    job.do_send(Crash).unwrap();
    settled(testkit::wait_for_node(
        pool.supervisor(),
        "/jobs/job",
        |n| matches!(n.state, NodeState::Restarting { .. }),
    ))
    .await;
    let mut accepted = 0;
    for _ in 0..3 {
        accepted += u64::from(job.do_send(Note).is_ok());
    }
    let report = within(job.stop()).await;
    assert_eq!(
        live.handled() + report.undelivered + report.cancelled,
        accepted,
        "{report}"
    );
    assert!(names(pool.supervisor()).await.is_empty());
    let started = live.started();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(live.started(), started, "the backoff's timer started it");
    let again = within(pool.start_named("job", Start::Runs)).await;
    assert!(again.is_ok(), "{again:?}");
    within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(live.now(), 0);
}

// ---------------------------------------------------------------------------
// 10. Handles on other threads racing children's own ends.

/// Two threads, each with its own `System`, start one-shot jobs that stop
/// themselves in `started`, and at once ask each one's `stop()` and
/// `ended()` (and a second `stop()` after): every call answers, all with
/// one report, which says the job ended on its own or was stopped, never
/// a job that did not start; the slots all come back.
#[actix_rt::test]
async fn stop_and_ended_from_other_threads_racing_jobs_that_end_at_once_answer_one_report() {
    const MAX: usize = 4;
    const EACH: u64 = 150;
    let live = Live::new();
    let pool = jobs("jobs", &live).max_children(MAX).start().unwrap();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            on_actix_thread(move || async move {
                let mut taken = 0u64;
                for i in 0..EACH {
                    let start = if i % 3 == 0 {
                        Start::Runs
                    } else {
                        Start::StopsAtOnce
                    };
                    let job = match pool.start(start).await {
                        Ok(job) => job,
                        Err(ControlError::Full { .. }) => continue,
                        Err(other) => panic!("unexpected {other:?}"),
                    };
                    taken += 1;
                    let (stop, ended) = (job.stop(), job.ended());
                    let (stopped, ended) = futures_util::future::join(stop, ended).await;
                    assert_eq!(stopped, ended, "{i}");
                    assert_eq!(job.stop().await, stopped, "{i}");
                    assert!(
                        !matches!(stopped.outcome, StopOutcome::NotStarted),
                        "{i}: {stopped}"
                    );
                }
                taken
            })
        })
        .collect();
    let mut taken = 0;
    for thread in threads {
        taken += joined(thread).await;
    }
    assert!(taken > 0);
    assert_eq!(live.built(), taken);
    assert_eq!(live.now(), 0);
    assert!(names(pool.supervisor()).await.is_empty());
    let mut full = Vec::new();
    for _ in 0..MAX {
        full.push(within(pool.start(Start::Runs)).await.unwrap());
    }
    assert!(matches!(
        within(pool.start(Start::Runs)).await,
        Err(ControlError::Full { .. })
    ));
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
}

// ---------------------------------------------------------------------------
// 11. Seeded batches of requests on a pool.

/// One request of a seeded sequence on a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PoolOp {
    Start,
    StartNamed,
    HandleStop,
    Done,
    Crash,
    Note,
    StopChild,
    RestartChild,
    RemoveChild,
}

/// Seeded batches of two to five requests on a pool of three (starts,
/// named starts, stops by handle and by `StopChild`, `RestartChild`,
/// `RemoveChild`, jobs that end or crash on their own), sent without
/// waiting between them, with each child policy. After each batch settles:
/// `Inspect` lists only running children, at most three; what runs is what
/// is listed; each handle reaches its listed child or refuses and its
/// `ended()` answers. The final stop answers with nothing running.
#[actix_rt::test]
async fn seeded_batches_of_requests_on_a_pool_keep_it_consistent() {
    tokio::time::pause();
    const MAX: usize = 3;
    let mut state: u64 = 0x9001_5eed;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let ops = [
        PoolOp::Start,
        PoolOp::StartNamed,
        PoolOp::HandleStop,
        PoolOp::Done,
        PoolOp::Crash,
        PoolOp::Note,
        PoolOp::StopChild,
        PoolOp::RestartChild,
        PoolOp::RemoveChild,
    ];
    for seed in 0..120 {
        let policy = [
            RestartPolicy::Never,
            RestartPolicy::OnFailure,
            RestartPolicy::Always,
        ][next(3) as usize];
        let live = Live::new();
        let pool = jobs("jobs", &live)
            .child_restart(policy)
            .intensity(crate::common::unlimited())
            .max_children(MAX)
            .start()
            .unwrap();
        let mut handles: Vec<(String, actix_supervisor::ChildHandle<Member>)> = Vec::new();
        let mut history = Vec::new();
        for _batch in 0..6 {
            let len = 2 + next(4) as usize;
            let mut batch = Vec::new();
            while batch.len() < len {
                batch.push(ops[next(ops.len() as u64) as usize]);
            }
            history.push(batch.clone());
            let case = format!("seed {seed}: {policy:?}: {history:?}");
            let target = if handles.is_empty() {
                None
            } else {
                Some(handles[next(handles.len() as u64) as usize].clone())
            };
            let mut starts = Vec::new();
            let mut pending: Vec<std::pin::Pin<Box<dyn Future<Output = ()>>>> = Vec::new();
            for op in batch {
                match (op, &target) {
                    (PoolOp::Start, _) => starts.push(pool.start(Start::Runs).boxed_local()),
                    (PoolOp::StartNamed, _) => {
                        let name = format!("n{}", next(3));
                        starts.push(pool.start_named(name, Start::Runs).boxed_local());
                    }
                    (_, None) => {}
                    (PoolOp::HandleStop, Some((_, h))) => {
                        let f = h.stop();
                        pending.push(Box::pin(async move {
                            f.await;
                        }));
                    }
                    (PoolOp::Done, Some((_, h))) => {
                        let _ = h.do_send(Done);
                    }
                    (PoolOp::Crash, Some((_, h))) => {
                        let _ = h.do_send(Crash);
                    }
                    (PoolOp::Note, Some((_, h))) => {
                        let _ = h.do_send(Note);
                    }
                    (PoolOp::StopChild, Some((name, _))) => {
                        let f = pool.supervisor().send(StopChild::new(name.clone()));
                        pending.push(Box::pin(async move {
                            let _ = f.await.unwrap();
                        }));
                    }
                    (PoolOp::RestartChild, Some((name, _))) => {
                        let f = pool.supervisor().send(RestartChild::new(name.clone()));
                        pending.push(Box::pin(async move {
                            let _ = f.await.unwrap();
                        }));
                    }
                    (PoolOp::RemoveChild, Some((name, _))) => {
                        let f = pool
                            .supervisor()
                            .send(actix_supervisor::RemoveChild::new(name.clone()));
                        pending.push(Box::pin(async move {
                            let _ = f.await.unwrap();
                        }));
                    }
                }
            }
            let (started, _) = within(futures_util::future::join(
                futures_util::future::join_all(starts),
                futures_util::future::join_all(pending),
            ))
            .await;
            for answer in started {
                match answer {
                    Ok(h) => {
                        let name = h.path().as_str().rsplit('/').next().unwrap().to_string();
                        handles.push((name, h));
                    }
                    Err(ControlError::Full { .. })
                    | Err(ControlError::InvalidSpec(
                        actix_supervisor::BuildError::DuplicateName { .. },
                    )) => {}
                    Err(other) => panic!("{case}: {other:?}"),
                }
            }
            let tree = settled(
                testkit::wait_until(pool.supervisor(), |t| {
                    t.root
                        .children
                        .iter()
                        .all(|c| c.state == NodeState::Running)
                })
                .describe(case.clone()),
            )
            .await;
            let listed: Vec<&str> = tree.root.children.iter().map(|c| c.name.as_str()).collect();
            assert!(listed.len() <= MAX, "{case}: {listed:?}");
            assert_eq!(live.now(), listed.len() as u64, "{case}: {listed:?}");
            assert!(live.most() <= MAX as u64, "{case}");
            // Handles of children that left answer; the latest handle of
            // each listed name reaches it.
            let mut latest: HashMap<&str, &actix_supervisor::ChildHandle<Member>> = HashMap::new();
            for (name, h) in &handles {
                latest.insert(name.as_str(), h);
            }
            for (name, h) in &handles {
                let is_latest = std::ptr::eq(latest[name.as_str()], h);
                if is_latest && listed.contains(&name.as_str()) {
                    assert!(h.is_accepting(), "{case}: {name}");
                    let reached = within(h.send(Note)).await;
                    assert!(reached.is_ok(), "{case}: {name}: {reached:?}");
                } else if !listed.contains(&name.as_str()) {
                    assert!(!h.is_accepting(), "{case}: {name} left but accepts");
                    within(h.ended()).await;
                }
            }
        }
        let case = format!("seed {seed}: {policy:?}: {history:?}");
        let report = within(pool.supervisor().send(Stop)).await.unwrap();
        assert!(
            !matches!(report.outcome, StopOutcome::TimedOut),
            "{case}: {report}"
        );
        assert_eq!(live.now(), 0, "{case}");
        for (_, h) in &handles {
            within(h.ended()).await;
        }
    }
}

/// The same check on a pool under a supervisor on another arbiter,
/// subscribed at the root: at each child's `Stopped` event, `Inspect` of
/// the pool sent at once no longer lists it, and the event's report is the
/// one its `ended()` answers.
#[actix_rt::test]
async fn inspect_at_each_stopped_event_of_a_pool_on_another_arbiter_no_longer_lists_that_child() {
    const MAX: usize = 4;
    let arbiter = Arbiter::new();
    let live = Live::new();
    let builder = jobs("jobs", &live).max_children(MAX);
    let pool = builder.pool();
    let app = SupervisorActor::builder("app")
        .child(
            SupervisorActor::builder("remote")
                .child(builder)
                .on_arbiter(arbiter.handle()),
        )
        .start()
        .unwrap();
    let mut events = within(app.send(Subscribe::all())).await.unwrap();
    let mut reports: HashMap<String, StopReport> = HashMap::new();
    let mut handles = Vec::new();
    let mut lagged = false;
    let prefix = "/app/remote/jobs/";

    async fn next_stopped(
        pool: &Pool<Member, Start>,
        events: &mut (impl futures_util::Stream<Item = actix_supervisor::events::LifecycleEvent>
                  + Unpin),
        reports: &mut HashMap<String, StopReport>,
        lagged: &mut bool,
        prefix: &str,
    ) {
        loop {
            let event = within(events.next()).await.expect("the stream ended");
            match event.kind {
                EventKind::Stopped { report } if event.path.as_str().starts_with(prefix) => {
                    let path = event.path.as_str().to_string();
                    let tree = within(pool.supervisor().send(Inspect)).await.unwrap();
                    let name = path.rsplit('/').next().unwrap();
                    assert!(
                        tree.root.children.iter().all(|c| c.name != name),
                        "{path} listed after its Stopped event:\n{tree}"
                    );
                    reports.insert(path, report);
                    return;
                }
                EventKind::Lagged { .. } => *lagged = true,
                _ => {}
            }
        }
    }

    for i in 0..30u32 {
        let job = loop {
            match within(pool.start(Start::Runs)).await {
                Ok(job) => break job,
                Err(ControlError::Full { .. }) => {
                    next_stopped(&pool, &mut events, &mut reports, &mut lagged, prefix).await
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        };
        within(job.started()).await.unwrap();
        match i % 4 {
            0 => job.do_send(Done).unwrap(),
            1 => job.do_send(FailNow).unwrap(),
            2 => job.do_send(Crash).unwrap(),
            _ => {
                actix::spawn(job.stop());
            }
        }
        handles.push(job);
    }
    while reports.len() < handles.len() && !lagged {
        next_stopped(&pool, &mut events, &mut reports, &mut lagged, prefix).await;
    }
    for job in &handles {
        let ended = within(job.ended()).await;
        if let Some(seen) = reports.get(ended.path.as_str()) {
            assert_eq!(seen, &ended, "the event's report is not the handle's");
        } else {
            assert!(lagged, "no Stopped event for {}", ended.path);
        }
    }
    assert!(names(pool.supervisor()).await.is_empty());
    assert_eq!(live.now(), 0);
    within(app.send(Stop)).await.unwrap();
    arbiter.stop();
}

/// A pool whose children hang in their drain (a gate never opened), with
/// a child grace of 1 s and a pool grace of 2 s, is stopped while starts
/// are still in flight: the stop answers (`TimedOut` for the hung ones,
/// their held note reported), every start answers, every taken child's `ended()` answers the report
/// the stop holds for it, later starts answer at once, nothing runs.
#[actix_rt::test]
async fn a_pool_with_hung_children_stopped_past_its_grace_answers_every_start_and_every_end() {
    tokio::time::pause();
    let live = Live::new();
    let pool = jobs("jobs", &live)
        .child_grace(actix_supervisor::Grace::Duration(Duration::from_secs(1)))
        .grace(actix_supervisor::Grace::Duration(Duration::from_secs(2)))
        .max_children(10)
        .start()
        .unwrap();
    let never = Gate::new();
    let mut held = Vec::new();
    for _ in 0..4 {
        let job = within(pool.start(Start::Runs)).await.unwrap();
        within(job.started()).await.unwrap();
        job.do_send(HoldOn(never.clone())).unwrap();
        job.do_send(Note).unwrap();
        held.push(job);
    }
    let late: Vec<_> = (0..4).map(|_| pool.start(Start::Runs)).collect();
    let stop = pool.supervisor().send(Stop);
    let after: Vec<_> = (0..4).map(|_| pool.start(Start::Runs)).collect();
    let report = within(stop).await.unwrap();
    let hung = held.len();
    for start in late.into_iter().chain(after) {
        match within(start).await {
            Ok(job) => held.push(job),
            Err(ControlError::SupervisorStopping { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    for (i, job) in held.iter().enumerate() {
        let ended = within(job.ended()).await;
        assert_eq!(report.find(ended.path.as_str()), Some(&ended), "{report}");
        if i < hung {
            // Terminated at its grace; the note behind the gate reported.
            assert_eq!(ended.outcome, StopOutcome::TimedOut, "{ended}");
            assert_eq!(ended.undelivered + ended.cancelled, 1, "{ended}");
        } else {
            assert_eq!(ended.outcome, StopOutcome::Drained, "{ended}");
        }
        assert!(!job.is_accepting());
    }
    assert_eq!(live.handled(), 0);
    assert!(matches!(
        within(pool.start(Start::Runs)).await,
        Err(ControlError::SupervisorStopping { .. })
    ));
    assert_eq!(live.now(), 0, "a hung job runs on after the pool's stop");
}
