//! Attacks from outside, with the public API only, on children that end
//! and start again: `RestartChild` of a stopped, failed or backing-off child
//! raced with `StopChild` and the parent's `Stop`; old `ChildHandle`s and raw
//! `Addr`s across several stop-and-start cycles; temporary children
//! (`remove_on_exit`) that fail, are stopped, killed past their grace,
//! restarted by a strategy or depended on, and whose names are reused at
//! once; strategies that honour each bystander's policy while a dependent
//! waits on a sibling in a backoff, or while the parent is asked to stop.
//!
//! Each test asserts a promise of `docs/ended_children.md`,
//! `docs/start_order.md` or the rustdoc. A test marked
//! `#[ignore = "DEFECT: ..."]` shows a promise broken today.
//!
//! Every test runs on one thread under paused time and waits only on
//! replies, handles, reports and events; every await that could hang is
//! bounded.

use crate::common::{recorder, within, Gate, Recorder};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::events::EventKind;
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::testkit;
use actix_supervisor::{
    Backoff, ChildHandle, ChildSpec, ControlError, Grace, Inspect, RestartChild, RestartIntensity,
    RestartPolicy, SendError, StartChild, Stop, StopChild, StopOutcome, Strategy, Subscribe,
    SupervisorActor,
};
use futures_util::StreamExt;

// ---------------------------------------------------------------------------
// A member that counts what runs.

/// One child's incarnations: how many run now, the most at once, how many
/// started, how many notes were handled.
#[derive(Default)]
struct Live {
    now: AtomicU64,
    most: AtomicU64,
    started: AtomicU64,
    handled: AtomicU64,
}

impl Live {
    fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
    fn most(&self) -> u64 {
        self.most.load(Ordering::SeqCst)
    }
    fn started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }
    fn handled(&self) -> u64 {
        self.handled.load(Ordering::SeqCst)
    }
}

/// Counts one running incarnation while it lives, however it ends.
struct Alive(Arc<Live>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Member {
    name: &'static str,
    incarnation: u64,
    live: Arc<Live>,
    log: Recorder<String>,
    alive: Option<Alive>,
}

impl Actor for Member {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.live.started.fetch_add(1, Ordering::SeqCst);
        let now = self.live.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.live.most.fetch_max(now, Ordering::SeqCst);
        self.alive = Some(Alive(self.live.clone()));
        self.log
            .record(format!("{} started {}", self.name, self.incarnation));
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.log
            .record(format!("{} stopped {}", self.name, self.incarnation));
    }
}
actix_supervisor::supervised!(Member);

/// A member called `name`, its incarnations numbered from 1 by its factory.
fn member(name: &'static str, live: &Arc<Live>, log: &Recorder<String>) -> ChildSpec<Member> {
    let made = Arc::new(AtomicU64::new(0));
    let (live, log) = (live.clone(), log.clone());
    ChildSpec::new(name, move || Member {
        name,
        incarnation: made.fetch_add(1, Ordering::SeqCst) + 1,
        live: live.clone(),
        log: log.clone(),
        alive: None,
    })
}

/// Answers the incarnation that handled it.
#[derive(Message)]
#[rtype(result = "u64")]
struct Which;

impl Handler<Which> for Member {
    type Result = u64;
    fn handle(&mut self, _: Which, _: &mut Context<Self>) -> u64 {
        self.incarnation
    }
}

/// Counted in `Live::handled`.
#[derive(Message)]
#[rtype(result = "()")]
struct Note;

impl Handler<Note> for Member {
    type Result = ();
    fn handle(&mut self, _: Note, _: &mut Context<Self>) {
        self.live.handled.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Crash;

impl Handler<Crash> for Member {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("{} crashed", self.name);
    }
}

/// Ends the incarnation with `fail`.
#[derive(Message)]
#[rtype(result = "()")]
struct FailNow;

impl Handler<FailNow> for Member {
    type Result = ();
    fn handle(&mut self, _: FailNow, ctx: &mut Context<Self>) {
        actix_supervisor::fail(ctx, "failed on purpose");
    }
}

/// Ends the incarnation normally.
#[derive(Message)]
#[rtype(result = "()")]
struct StopSelf;

impl Handler<StopSelf> for Member {
    type Result = ();
    fn handle(&mut self, _: StopSelf, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// Makes the member wait (with `ctx.wait`) until the gate opens.
#[derive(Message)]
#[rtype(result = "()")]
struct HoldOn(Gate);

impl Handler<HoldOn> for Member {
    type Result = ();
    fn handle(&mut self, HoldOn(gate): HoldOn, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future::<_, Self>(gate.passed()));
    }
}

async fn node(app: &Addr<SupervisorActor>, path: &str) -> Option<actix_supervisor::NodeSnapshot> {
    let tree = within(app.send(Inspect)).await.unwrap();
    tree.find(path).cloned()
}

async fn restart(app: &Addr<SupervisorActor>, name: &str) -> Result<(), ControlError> {
    within(app.send(RestartChild::new(name))).await.unwrap()
}

/// Asserts that what the tree lists for `path` matches what runs: one
/// incarnation running, the one the handle reaches, when `Running`; none
/// when it ended.
async fn assert_consistent(
    app: &Addr<SupervisorActor>,
    path: &str,
    handle: &ChildHandle<Member>,
    live: &Live,
) {
    let node = settled(testkit::wait_for_node(app, path, |n| {
        n.state == NodeState::Running || n.state.is_terminal()
    }))
    .await;
    assert!(
        live.most() <= 1,
        "{path}: {} incarnations at once",
        live.most()
    );
    if node.state == NodeState::Running {
        assert_eq!(live.now(), 1, "{path} listed running:\n{node:?}");
        assert!(handle.is_accepting());
        assert_eq!(
            within(handle.send(Which)).await.unwrap(),
            node.incarnation,
            "the handle reaches another incarnation than the one listed"
        );
        assert_eq!(live.started(), node.incarnation);
    } else {
        assert_eq!(live.now(), 0, "{path} listed {:?} but runs", node.state);
        assert!(!handle.is_accepting());
        assert!(matches!(
            handle.do_send(Note),
            Err(SendError::Gone { .. } | SendError::Stopping { .. })
        ));
    }
}

// ---------------------------------------------------------------------------
// 1. Stop and start again, raced.

/// Two `RestartChild`s of a stopped child sent at once: both answer, and
/// one incarnation runs at a time; the handle reaches the one listed.
#[actix_rt::test]
async fn two_restart_childs_at_once_on_a_stopped_child_run_one_incarnation_at_a_time() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let live = Arc::new(Live::default());
    let spec = member("job", &live, &log);
    let job = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(job.started()).await.unwrap();

    for round in 0..4 {
        within(app.send(StopChild::new("job")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(live.now(), 0);
        let (first, second) = within(futures_util::future::join(
            app.send(RestartChild::new("job")),
            app.send(RestartChild::new("job")),
        ))
        .await;
        assert!(first.unwrap().is_ok(), "round {round}");
        let second = second.unwrap();
        assert!(
            matches!(second, Ok(()) | Err(ControlError::ChildStopping { .. })),
            "round {round}: {second:?}"
        );
        assert_consistent(&app, "/app/job", &job, &live).await;
        assert_eq!(live.now(), 1, "round {round}");
    }
    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(live.now(), 0);
}

/// `RestartChild` and `StopChild` of the same child sent together, in both
/// orders, on a running and on a stopped child: both answer, and the state
/// listed matches what runs and what its handle does.
#[actix_rt::test]
async fn restart_child_racing_stop_child_leaves_a_state_that_matches_what_runs() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    for stopped_first in [false, true] {
        for restart_first in [false, true] {
            let live = Arc::new(Live::default());
            let spec = member("job", &live, &log);
            let job = spec.handle();
            let app = SupervisorActor::builder("app").child(spec).start().unwrap();
            within(job.started()).await.unwrap();
            if stopped_first {
                within(app.send(StopChild::new("job")))
                    .await
                    .unwrap()
                    .unwrap();
            }
            for _ in 0..3 {
                job.do_send(Note).ok();
            }
            let (restarted, stopped) = if restart_first {
                let restart = app.send(RestartChild::new("job"));
                let stop = app.send(StopChild::new("job"));
                within(futures_util::future::join(restart, stop)).await
            } else {
                let stop = app.send(StopChild::new("job"));
                let restart = app.send(RestartChild::new("job"));
                let (s, r) = within(futures_util::future::join(stop, restart)).await;
                (r, s)
            };
            let restarted = restarted.unwrap();
            assert!(
                matches!(restarted, Ok(()) | Err(ControlError::ChildStopping { .. })),
                "{restarted:?}"
            );
            let report = stopped.unwrap().unwrap();
            assert!(matches!(report.outcome, StopOutcome::Drained), "{report}");
            assert_consistent(&app, "/app/job", &job, &live).await;
            let end = within(app.send(Stop)).await.unwrap();
            assert_eq!(end.outcome, StopOutcome::Drained, "{end}");
            assert_eq!(live.now(), 0);
            if !stopped_first {
                assert_eq!(live.handled(), 3, "an accepted note was lost");
            }
        }
    }
}

/// A `RestartChild` of a stopped child and the parent's `Stop` sent
/// together, in both orders: both answer, nothing runs after the stop, and
/// every note the handle accepted after the start again is handled.
#[actix_rt::test]
async fn restart_child_racing_the_parent_s_stop_leaves_nothing_running() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    for restart_first in [true, false] {
        let live = Arc::new(Live::default());
        let spec = member("job", &live, &log);
        let job = spec.handle();
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();
        within(job.started()).await.unwrap();
        within(app.send(StopChild::new("job")))
            .await
            .unwrap()
            .unwrap();

        // `Addr::send` queues at once: the order of the calls is the order
        // the supervisor handles them.
        let (restarted, report) = if restart_first {
            let restart = app.send(RestartChild::new("job"));
            let stop = app.send(Stop);
            within(futures_util::future::join(restart, stop)).await
        } else {
            let stop = app.send(Stop);
            let restart = app.send(RestartChild::new("job"));
            let (s, r) = within(futures_util::future::join(stop, restart)).await;
            (r, s)
        };
        let report = report.unwrap();
        assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
        match restarted.unwrap() {
            Ok(()) => assert!(restart_first, "a restart taken after the stop"),
            Err(ControlError::SupervisorStopping { .. }) => {}
            Err(other) => panic!("{other:?}"),
        }
        assert_eq!(live.now(), 0, "the child runs after its parent stopped");
        assert!(!job.is_accepting());
        let ended = within(job.ended()).await;
        assert!(matches!(ended.outcome, StopOutcome::Drained), "{ended}");
    }

    // Notes accepted between the start again and the stop are drained.
    let live = Arc::new(Live::default());
    let spec = member("job", &live, &log);
    let job = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(job.started()).await.unwrap();
    within(app.send(StopChild::new("job")))
        .await
        .unwrap()
        .unwrap();
    restart(&app, "job").await.unwrap();
    for _ in 0..5 {
        job.do_send(Note).unwrap();
    }
    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(live.handled(), 5, "{report}");
    assert_eq!(live.now(), 0);
}

/// `RestartChild` twice during a long backoff: the next incarnation starts
/// at once and handles what waited; the backoff's own timer starts no other
/// one when it runs out.
#[actix_rt::test]
async fn restart_child_during_a_backoff_starts_one_incarnation_and_the_timer_none() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let live = Arc::new(Live::default());
    let spec = member("job", &live, &log)
        .restart(RestartPolicy::OnFailure)
        .backoff(Backoff::new(Duration::from_secs(30), Duration::from_secs(60)).jitter(0.0));
    let job = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(crate::common::unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(job.started()).await.unwrap();

    let _ = within(job.send(Crash)).await;
    settled(testkit::wait_for_node(&app, "/app/job", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    }))
    .await;
    for _ in 0..3 {
        job.do_send(Note).unwrap();
    }
    restart(&app, "job").await.unwrap();
    let again = restart(&app, "job").await;
    assert!(
        matches!(again, Ok(()) | Err(ControlError::ChildStopping { .. })),
        "{again:?}"
    );
    assert_consistent(&app, "/app/job", &job, &live).await;
    assert_eq!(live.handled(), 3, "what waited in the backoff was lost");
    let incarnation = node(&app, "/app/job").await.unwrap().incarnation;

    // Past the backoff: no other incarnation.
    tokio::time::sleep(Duration::from_secs(120)).await;
    let after = node(&app, "/app/job").await.unwrap();
    assert_eq!(after.state, NodeState::Running);
    assert_eq!(
        after.incarnation, incarnation,
        "the backoff timer started one more"
    );
    assert_eq!(live.started(), incarnation);
    assert_eq!(live.now(), 1);
    within(app.send(Stop)).await.unwrap();
    assert_eq!(live.now(), 0);
}

/// An old handle across two stop-and-start cycles reaches the latest
/// incarnation; raw `Addr`s taken before each end stay closed.
#[actix_rt::test]
async fn an_old_handle_follows_two_cycles_and_old_addrs_stay_closed() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let live = Arc::new(Live::default());
    let spec = member("job", &live, &log).restart(RestartPolicy::Never);
    let job = spec.handle();
    let first_addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(job.started()).await.unwrap();

    // Cycle 1: failed, started again.
    within(job.send(FailNow)).await.unwrap();
    let failed = within(job.ended()).await;
    assert!(matches!(failed.outcome, StopOutcome::Failed(_)), "{failed}");
    restart(&app, "job").await.unwrap();
    let second_addr = within(job.started()).await.unwrap();
    assert!(
        first_addr.send(Which).await.is_err(),
        "the first Addr reopened"
    );
    assert_eq!(within(second_addr.send(Which)).await.unwrap(), 2);

    // Cycle 2: stopped, started again.
    let stopped = within(job.stop()).await;
    assert_eq!(stopped.outcome, StopOutcome::Drained, "{stopped}");
    restart(&app, "job").await.unwrap();
    let third_addr = within(job.started()).await.unwrap();
    assert!(
        second_addr.send(Which).await.is_err(),
        "the second Addr reopened"
    );
    assert!(first_addr.send(Which).await.is_err());
    assert_eq!(within(third_addr.send(Which)).await.unwrap(), 3);
    assert_eq!(within(job.send(Which)).await.unwrap(), 3);
    assert_eq!(within(job.address().send(Which)).await.unwrap(), 3);
    assert_eq!(live.most(), 1);

    let last = within(job.stop()).await;
    assert_eq!(last.outcome, StopOutcome::Drained, "{last}");
    within(app.send(Stop)).await.unwrap();
    assert_eq!(live.now(), 0);
}

/// `ended()` "waits until the child ended for good". Asked through an old
/// handle after `RestartChild` started the child again, it must wait for
/// the run now under way, not answer the previous run's report while the
/// child works: a job's owner would take the job for over.
#[actix_rt::test]
async fn ended_asked_after_a_start_again_waits_for_that_run_s_end() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    for stop_first in [false, true] {
        let live = Arc::new(Live::default());
        let spec = member("job", &live, &log).restart(RestartPolicy::Never);
        let job = spec.handle();
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();
        within(job.started()).await.unwrap();
        if stop_first {
            within(job.stop()).await;
        } else {
            within(job.send(FailNow)).await.unwrap();
            within(job.ended()).await;
        }
        restart(&app, "job").await.unwrap();
        within(job.started()).await.unwrap();
        assert_eq!(live.now(), 1);

        let early = tokio::time::timeout(Duration::from_secs(60), job.ended()).await;
        assert!(
            early.is_err(),
            "stop first {stop_first}: ended() answered while the child runs again: {}",
            early.map(|r| r.to_string()).unwrap_or_default()
        );
        let pending = job.ended();
        job.do_send(Note).unwrap();
        let last = within(job.stop()).await;
        assert_eq!(within(pending).await, last);
        // The note is handled once, before the stop or in its drain.
        assert!(last.is_drained(), "{last}");
        assert_eq!(live.handled(), 1, "{last}");
        within(app.send(Stop)).await.unwrap();
    }
}

/// `RestartChild` of a child that drains for a stop is refused
/// `ChildStopping` (it will end, not restart); once the stop answered, it
/// starts it again, and nothing the drain held is lost.
#[actix_rt::test]
async fn restart_child_of_a_child_draining_for_its_stop_waits_its_turn() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let live = Arc::new(Live::default());
    let spec = member("job", &live, &log);
    let job = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(job.started()).await.unwrap();
    let gate = Gate::new();
    job.do_send(HoldOn(gate.clone())).unwrap();
    job.do_send(Note).unwrap();
    let stop = tokio::spawn(app.send(StopChild::new("job")));
    settled(testkit::wait_for_node(&app, "/app/job", |n| {
        n.state == NodeState::Stopping
    }))
    .await;
    let refused = restart(&app, "job").await;
    assert!(
        matches!(refused, Err(ControlError::ChildStopping { .. })),
        "{refused:?}"
    );
    gate.open();
    let report = within(stop).await.unwrap().unwrap().unwrap();
    assert!(report.drained >= 1, "{report}");
    assert_eq!(report.undelivered, 0, "{report}");
    assert_eq!(live.now(), 0);
    restart(&app, "job").await.unwrap();
    assert_consistent(&app, "/app/job", &job, &live).await;
    assert_eq!(live.handled(), 1);
    within(app.send(Stop)).await.unwrap();
}

/// An OS thread sends notes through a handle as fast as it can while the
/// test's thread stops the child and starts it again, twenty times, then
/// stops the tree. Every note a handle accepted is handled, or counted
/// undelivered or cancelled in one report, exactly once; no incarnation
/// runs beside another.
#[actix_rt::test]
async fn notes_sent_from_another_thread_across_stop_and_start_cycles_are_each_accounted_once() {
    let (log, _logged) = recorder();
    let live = Arc::new(Live::default());
    let spec = member("job", &live, &log);
    let job = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(job.started()).await.unwrap();

    let (finished, sender_done) = tokio::sync::oneshot::channel::<()>();
    let sender = {
        let job = job.clone();
        std::thread::spawn(move || {
            let (mut accepted, mut refused) = (0u64, 0u64);
            for _ in 0..20_000 {
                match job.do_send(Note) {
                    Ok(()) => accepted += 1,
                    Err(_) => {
                        refused += 1;
                        std::thread::yield_now();
                    }
                }
            }
            let _ = finished.send(());
            (accepted, refused)
        })
    };
    let mut reports = Vec::new();
    for _ in 0..20 {
        reports.push(
            within(app.send(StopChild::new("job")))
                .await
                .unwrap()
                .unwrap(),
        );
        restart(&app, "job").await.unwrap();
    }
    // The sender ends against the running child (however far it got while
    // the twenty cycles ran: on a loaded machine it may not have started).
    within(sender_done).await.unwrap();
    let (accepted, _refused) = sender.join().unwrap();
    let end = within(app.send(Stop)).await.unwrap();
    reports.push(end.find("/app/job").unwrap().clone());
    for report in &reports {
        assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    }
    let lost: u64 = reports.iter().map(|r| r.undelivered + r.cancelled).sum();
    assert_eq!(lost, 0, "a graceful stop left accepted notes behind");
    assert_eq!(live.handled(), accepted, "accepted notes not handled");
    assert!(live.most() <= 1, "{} incarnations at once", live.most());
    assert_eq!(live.now(), 0);
}

// ---------------------------------------------------------------------------
// 2. Temporary children.

fn temporary(name: &'static str, live: &Arc<Live>, log: &Recorder<String>) -> ChildSpec<Member> {
    member(name, live, log)
        .restart(RestartPolicy::Never)
        .remove_on_exit()
}

/// How a temporary child is made to end.
#[derive(Debug, Clone, Copy)]
enum Ending {
    StopsItself,
    Fails,
    Panics,
    StopChild,
    HandleStop,
}

/// A subscriber that sees a temporary child's `Stopped` event and at once
/// starts a new child under its name: the start is taken (its end was
/// published, it will not run again: the supervisor was told to remove it
/// before the event went out), and exactly one child of that name is
/// listed after.
#[actix_rt::test]
async fn a_temporary_child_s_name_is_free_once_its_stopped_event_is_seen() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let app = SupervisorActor::builder("app").start().unwrap();
    let mut events = within(app.send(Subscribe::all())).await.unwrap();
    for ending in [
        Ending::StopsItself,
        Ending::Fails,
        Ending::Panics,
        Ending::StopChild,
        Ending::HandleStop,
    ] {
        let live = Arc::new(Live::default());
        let spec = temporary("job", &live, &log);
        let job = spec.handle();
        within(app.send(StartChild::new(spec)))
            .await
            .unwrap()
            .unwrap();
        within(job.started()).await.unwrap();
        let asked = async {
            match ending {
                Ending::StopsItself => job.do_send(StopSelf).unwrap(),
                Ending::Fails => job.do_send(FailNow).unwrap(),
                Ending::Panics => job.do_send(Crash).unwrap(),
                Ending::StopChild => {
                    app.do_send(StopChild::new("job"));
                }
                Ending::HandleStop => {
                    actix::spawn(job.stop());
                }
            }
        };
        asked.await;
        // On the `Stopped` event, at once, the same name again.
        loop {
            let event = within(events.next()).await.expect("the stream ended");
            if event.path.as_str() == "/app/job" && matches!(event.kind, EventKind::Stopped { .. })
            {
                break;
            }
        }
        let next = temporary("job", &Arc::new(Live::default()), &log);
        let next_handle = next.handle();
        let taken = within(app.send(StartChild::new(next))).await.unwrap();
        assert!(taken.is_ok(), "{ending:?}: {taken:?}");
        within(next_handle.started()).await.unwrap();
        let tree = within(app.send(Inspect)).await.unwrap();
        assert_eq!(
            tree.root
                .children
                .iter()
                .filter(|c| c.name == "job")
                .count(),
            1,
            "{ending:?}:\n{tree}"
        );
        assert_eq!(live.now(), 0, "{ending:?}: the old child runs on");
        within(next_handle.stop()).await;
        // Skip to the new child's `Stopped` too.
        loop {
            let event = within(events.next()).await.expect("the stream ended");
            if event.path.as_str() == "/app/job" && matches!(event.kind, EventKind::Stopped { .. })
            {
                break;
            }
        }
    }
    within(app.send(Stop)).await.unwrap();
}

/// The same, from `ended()`: the documented way. Whatever way the child
/// ended, a `StartChild` sent right after `ended()` answered is taken, and
/// `Inspect` right after lists exactly the new one.
#[actix_rt::test]
async fn a_temporary_child_s_name_is_free_right_after_ended_however_it_ended() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let app = SupervisorActor::builder("app").start().unwrap();
    for ending in [
        Ending::StopsItself,
        Ending::Fails,
        Ending::Panics,
        Ending::StopChild,
        Ending::HandleStop,
    ] {
        let live = Arc::new(Live::default());
        let spec = temporary("job", &live, &log);
        let job = spec.handle();
        within(app.send(StartChild::new(spec)))
            .await
            .unwrap()
            .unwrap();
        within(job.started()).await.unwrap();
        match ending {
            Ending::StopsItself => job.do_send(StopSelf).unwrap(),
            Ending::Fails => job.do_send(FailNow).unwrap(),
            Ending::Panics => job.do_send(Crash).unwrap(),
            Ending::StopChild => app.do_send(StopChild::new("job")),
            Ending::HandleStop => {
                actix::spawn(job.stop());
            }
        }
        let ended = within(job.ended()).await;
        let next = temporary("job", &Arc::new(Live::default()), &log);
        let next_handle = next.handle();
        let taken = within(app.send(StartChild::new(next))).await.unwrap();
        assert!(taken.is_ok(), "{ending:?} ({ended}): {taken:?}");
        let tree = within(app.send(Inspect)).await.unwrap();
        assert_eq!(
            tree.root
                .children
                .iter()
                .filter(|c| c.name == "job")
                .count(),
            1,
            "{ending:?}:\n{tree}"
        );
        assert_eq!(live.now(), 0);
        // The old handle does not reach the new child.
        assert!(job.do_send(Note).is_err(), "{ending:?}");
        let report = within(next_handle.stop()).await;
        assert!(report.is_drained(), "{report}");
    }
    within(app.send(Stop)).await.unwrap();
}

/// A temporary child that hangs in its drain is terminated at its grace:
/// its stop answers `TimedOut`, it leaves, its name is free, and its
/// handles answer that report.
#[actix_rt::test]
async fn a_temporary_child_killed_at_its_grace_leaves_and_frees_its_name() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let live = Arc::new(Live::default());
    let spec = temporary("job", &live, &log).grace(Grace::Duration(Duration::from_millis(200)));
    let job = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(job.started()).await.unwrap();
    let gate = Gate::new(); // never opened
    job.do_send(HoldOn(gate.clone())).unwrap();
    job.do_send(Note).unwrap();
    let report = within(app.send(StopChild::new("job")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.outcome, StopOutcome::TimedOut, "{report}");
    assert_eq!(report.undelivered, 1, "{report}");
    assert_eq!(within(job.ended()).await, report);
    assert_eq!(within(job.stop()).await, report);
    assert!(node(&app, "/app/job").await.is_none());
    assert_eq!(live.now(), 0, "the killed child runs on");
    let next = temporary("job", &Arc::new(Live::default()), &log);
    within(app.send(StartChild::new(next)))
        .await
        .unwrap()
        .unwrap();
    drop(gate);
    within(app.send(Stop)).await.unwrap();
}

/// Under one-for-all, temporary `Always` and `OnFailure` bystanders are
/// drained and started again (they will run again: they stay, same handle);
/// a temporary `Never` bystander leaves. When a temporary `OnFailure`
/// child later stops itself, it leaves, and no sibling restarts.
#[actix_rt::test]
async fn temporary_bystanders_of_a_one_for_all_restart_follow_their_policies() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let lives: Vec<Arc<Live>> = (0..4).map(|_| Arc::new(Live::default())).collect();
    let crasher = member("crasher", &lives[0], &log).restart(RestartPolicy::OnFailure);
    let always = member("always", &lives[1], &log)
        .restart(RestartPolicy::Always)
        .remove_on_exit();
    let transient = member("transient", &lives[2], &log)
        .restart(RestartPolicy::OnFailure)
        .remove_on_exit();
    let once = temporary("once", &lives[3], &log);
    let handles = [
        crasher.handle(),
        always.handle(),
        transient.handle(),
        once.handle(),
    ];
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .intensity(crate::common::unlimited())
        .child(crasher)
        .child(always)
        .child(transient)
        .child(once)
        .start()
        .unwrap();
    for handle in &handles {
        within(handle.started()).await.unwrap();
        handle.do_send(Note).unwrap();
    }
    let _ = within(handles[0].send(Crash)).await;
    settled(testkit::wait_until(&app, |tree| {
        ["/app/crasher", "/app/always", "/app/transient"]
            .iter()
            .all(|p| {
                tree.find(p)
                    .is_some_and(|n| n.incarnation == 2 && n.state == NodeState::Running)
            })
    }))
    .await;
    assert!(
        node(&app, "/app/once").await.is_none(),
        "the Never bystander stayed"
    );
    let once_end = within(handles[3].ended()).await;
    assert_eq!(once_end.outcome, StopOutcome::Drained, "{once_end}");
    for (i, name) in ["crasher", "always", "transient"].iter().enumerate() {
        assert_consistent(&app, &format!("/app/{name}"), &handles[i], &lives[i]).await;
        assert_eq!(lives[i].handled(), 1, "{name}: a note was lost");
    }
    assert_eq!(lives[3].now(), 0);
    assert_eq!(lives[3].started(), 1, "the Never bystander ran again");

    // The transient one stops itself: it leaves; nobody restarts.
    within(handles[2].send(StopSelf)).await.unwrap();
    within(handles[2].ended()).await;
    assert!(node(&app, "/app/transient").await.is_none());
    for (i, name) in ["crasher", "always"].iter().enumerate() {
        let n = node(&app, &format!("/app/{name}")).await.unwrap();
        assert_eq!(n.incarnation, 2, "{name} restarted for a normal stop");
        assert_eq!(lives[i].started(), 2);
    }
    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert!(lives.iter().all(|l| l.now() == 0));
}

/// A `Never` child (temporary or not) that fails under one-for-all or
/// rest-for-one is not restarted, so no sibling restarts with it: a
/// strategy restarts siblings along with a child that is restarted.
#[actix_rt::test]
async fn a_never_child_that_fails_under_a_strategy_restarts_no_sibling() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    for strategy in [Strategy::OneForAll, Strategy::RestForOne] {
        for temporary_child in [false, true] {
            let job_live = Arc::new(Live::default());
            let svc_live = Arc::new(Live::default());
            let mut job = member("job", &job_live, &log).restart(RestartPolicy::Never);
            if temporary_child {
                job = job.remove_on_exit();
            }
            let svc = member("svc", &svc_live, &log).restart(RestartPolicy::Always);
            let (job_h, svc_h) = (job.handle(), svc.handle());
            let app = SupervisorActor::builder("app")
                .strategy(strategy)
                .child(job)
                .child(svc)
                .start()
                .unwrap();
            within(svc_h.started()).await.unwrap();
            within(job_h.started()).await.unwrap();
            let _ = within(job_h.send(Crash)).await;
            let ended = within(job_h.ended()).await;
            assert!(matches!(ended.outcome, StopOutcome::Failed(_)), "{ended}");
            let svc_node = node(&app, "/app/svc").await.unwrap();
            assert_eq!(
                (svc_node.incarnation, svc_live.started()),
                (1, 1),
                "{strategy:?}, temporary {temporary_child}: a sibling restarted for a child that will not"
            );
            assert_eq!(node(&app, "/app/job").await.is_none(), temporary_child);
            within(app.send(Stop)).await.unwrap();
        }
    }
}

/// A temporary dependency that left, replaced by a new child under its
/// name: the dependent's next restart waits for the sibling of that name
/// (running, started) and starts, rather than timing out on the one that
/// left.
#[actix_rt::test]
async fn a_dependent_restarted_after_its_temporary_dependency_was_replaced_starts() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let db_live = Arc::new(Live::default());
    let reader_live = Arc::new(Live::default());
    let db = temporary("db", &db_live, &log);
    let reader = member("reader", &reader_live, &log)
        .restart(RestartPolicy::OnFailure)
        .depends_on("db")
        .start_timeout(Duration::from_secs(5));
    let (db_h, reader_h) = (db.handle(), reader.handle());
    let app = SupervisorActor::builder("app")
        .intensity(crate::common::unlimited())
        .child(db)
        .child(reader)
        .start()
        .unwrap();
    within(reader_h.started()).await.unwrap();
    within(db_h.stop()).await;
    assert!(node(&app, "/app/db").await.is_none());

    let new_db_live = Arc::new(Live::default());
    let new_db = temporary("db", &new_db_live, &log);
    let new_db_h = new_db.handle();
    within(app.send(StartChild::new(new_db)))
        .await
        .unwrap()
        .unwrap();
    within(new_db_h.started()).await.unwrap();

    let _ = within(reader_h.send(Crash)).await;
    // The wait fails on its own timeout (paused time: 5 s start timeouts
    // pass at once).
    testkit::wait_for_node(&app, "/app/reader", |n| {
        n.state == NodeState::Running && n.incarnation == 2
            || n.state.is_terminal()
            || n.restart_count >= 2
    })
    .timeout(Duration::from_secs(60))
    .await;
    let now = node(&app, "/app/reader").await.unwrap();
    assert_eq!(
        (now.state, now.restart_count),
        (NodeState::Running, 1),
        "the dependent did not start beside a running `db`:\n{now:?}"
    );
    within(app.send(Stop)).await.unwrap();
}

/// A temporary dependency replaced by a new child under its name: the
/// root's stop stops the dependent before it (a child stops only after
/// every sibling that depends on it has stopped), so the dependent's drain
/// can still reach it.
#[actix_rt::test]
async fn a_replaced_temporary_dependency_still_outlives_its_dependent_at_the_stop() {
    tokio::time::pause();
    let (log, mut logged) = recorder();
    let db = temporary("db", &Arc::new(Live::default()), &log);
    let reader_live = Arc::new(Live::default());
    let reader = member("reader", &reader_live, &log).depends_on("db");
    let (db_h, reader_h) = (db.handle(), reader.handle());
    let app = SupervisorActor::builder("app")
        .child(db)
        .child(reader)
        .start()
        .unwrap();
    within(reader_h.started()).await.unwrap();
    within(db_h.stop()).await;
    let new_db = temporary("db", &Arc::new(Live::default()), &log);
    let new_db_h = new_db.handle();
    within(app.send(StartChild::new(new_db)))
        .await
        .unwrap()
        .unwrap();
    within(new_db_h.started()).await.unwrap();
    let _ = logged.drain();

    let gate = Gate::new();
    reader_h.do_send(HoldOn(gate.clone())).unwrap();
    let stop = tokio::spawn(app.send(Stop));
    settled(testkit::wait_for_node(&app, "/app/reader", |n| {
        n.state == NodeState::Stopping
    }))
    .await;
    // Long enough for a parallel stop of `db` to finish (paused time).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let db_now = node(&app, "/app/db").await;
    gate.open();
    within(stop).await.unwrap().unwrap();
    let order: Vec<String> = logged
        .drain()
        .into_iter()
        .filter(|l| l.contains("stopped"))
        .collect();
    assert_eq!(
        order,
        ["reader stopped 1", "db stopped 1"],
        "db in the tree while reader drained: {:?}",
        db_now.map(|n| n.state)
    );
}

/// In a TOML file, `remove_on_exit = true` makes a child temporary: once
/// it failed it leaves, and its name is free for a `StartChild` at once.
#[cfg(feature = "config")]
#[actix_rt::test]
async fn a_temporary_child_from_a_file_that_fails_leaves_and_frees_its_name() {
    use actix_supervisor::config::{Registry, TreeConfig};
    tokio::time::pause();
    let (log, _logged) = recorder();
    let live = Arc::new(Live::default());
    let config = TreeConfig::from_toml_str(
        r#"
        name = "app"
        [[children]]
        name = "job"
        factory = "member"
        restart = "never"
        remove_on_exit = true
        "#,
    )
    .unwrap();
    let (registry_live, registry_log) = (live.clone(), log.clone());
    let kept = Arc::new(std::sync::Mutex::new(None));
    let keep = kept.clone();
    let mut registry = Registry::new().actor("member", move |name| {
        let name: &'static str = Box::leak(name.to_string().into_boxed_str());
        let spec = member(name, &registry_live, &registry_log);
        *keep.lock().unwrap() = Some(spec.handle());
        spec
    });
    let app = config.build(&mut registry).unwrap().start().unwrap();
    let job: ChildHandle<Member> = kept.lock().unwrap().take().expect("the factory ran");
    within(job.started()).await.unwrap();
    within(job.send(FailNow)).await.unwrap();
    let ended = within(job.ended()).await;
    assert!(matches!(ended.outcome, StopOutcome::Failed(_)), "{ended}");
    assert!(
        node(&app, "/app/job").await.is_none(),
        "a temporary child from a file stayed"
    );
    let next = temporary("job", &Arc::new(Live::default()), &log);
    within(app.send(StartChild::new(next)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.now(), 0);
    within(app.send(Stop)).await.unwrap();
}

// ---------------------------------------------------------------------------
// 3. Strategies honouring policies, in the middle of other things.

/// Rest-for-one `svc, db, reader` (reader depends on db, db backs off 10 s):
/// db fails, so reader waits for db's backoff; meanwhile svc fails, a
/// strategy restart of all three. Each ends running exactly once, reader
/// after db, and no note sent to reader is lost.
#[actix_rt::test]
async fn a_strategy_restart_while_a_dependent_waits_on_a_sibling_in_a_backoff() {
    tokio::time::pause();
    let (log, mut logged) = recorder();
    let lives: Vec<Arc<Live>> = (0..3).map(|_| Arc::new(Live::default())).collect();
    let svc = member("svc", &lives[0], &log).restart(RestartPolicy::OnFailure);
    let db = member("db", &lives[1], &log)
        .restart(RestartPolicy::OnFailure)
        .backoff(Backoff::new(Duration::from_secs(10), Duration::from_secs(10)).jitter(0.0));
    let reader = member("reader", &lives[2], &log)
        .restart(RestartPolicy::OnFailure)
        .depends_on("db")
        .start_timeout(Duration::from_secs(60));
    let handles = [svc.handle(), db.handle(), reader.handle()];
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::RestForOne)
        .intensity(crate::common::unlimited())
        .child(svc)
        .child(db)
        .child(reader)
        .start()
        .unwrap();
    for h in &handles {
        within(h.started()).await.unwrap();
    }
    let _ = within(handles[1].send(Crash)).await;
    settled(testkit::wait_for_node(&app, "/app/db", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    }))
    .await;
    for _ in 0..3 {
        handles[2].do_send(Note).unwrap();
    }
    let _ = logged.drain();
    let _ = within(handles[0].send(Crash)).await;
    for _ in 0..3 {
        handles[2].do_send(Note).unwrap();
    }

    let tree = testkit::wait_until(&app, |tree| {
        ["/app/svc", "/app/db", "/app/reader"]
            .iter()
            .all(|p| tree.find(p).is_some_and(|n| n.state == NodeState::Running))
    })
    .timeout(Duration::from_secs(60))
    .await;
    // (svc's restart waits for db's backoff: see
    // `a_failed_child_s_strategy_restart_is_not_held_by_a_later_sibling_s_backoff`.)
    for (i, name) in ["svc", "db", "reader"].iter().enumerate() {
        assert_consistent(&app, &format!("/app/{name}"), &handles[i], &lives[i]).await;
    }
    assert_eq!(
        lives[2].handled(),
        6,
        "notes to the waiting reader were lost\n{tree}"
    );
    let started: Vec<String> = logged
        .drain()
        .into_iter()
        .filter(|l| l.contains("started") && !l.starts_with("svc"))
        .collect();
    let db_at = started.iter().position(|l| l.starts_with("db"));
    let reader_at = started.iter().position(|l| l.starts_with("reader"));
    assert!(
        db_at.is_some() && reader_at.is_some() && db_at < reader_at,
        "reader started before db: {started:?}"
    );
    within(app.send(Stop)).await.unwrap();
    assert!(lives.iter().all(|l| l.now() == 0));
}

/// One-for-all: `crasher` (backoff 10 s) fails while `always` (Always) and
/// `once` (Never) hold notes behind a gated drain. While the strategy drains
/// them, the parent is asked to `Stop`. The stop answers; every note the
/// bystanders accepted is handled; nothing runs after.
#[actix_rt::test]
async fn a_parent_stop_during_a_strategy_restart_drains_every_bystander() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let lives: Vec<Arc<Live>> = (0..3).map(|_| Arc::new(Live::default())).collect();
    let crasher = member("crasher", &lives[0], &log)
        .restart(RestartPolicy::OnFailure)
        .backoff(Backoff::new(Duration::from_secs(10), Duration::from_secs(10)).jitter(0.0));
    let always = member("always", &lives[1], &log).restart(RestartPolicy::Always);
    let once = member("once", &lives[2], &log).restart(RestartPolicy::Never);
    let handles = [crasher.handle(), always.handle(), once.handle()];
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .intensity(crate::common::unlimited())
        .child(crasher)
        .child(always)
        .child(once)
        .start()
        .unwrap();
    for h in &handles {
        within(h.started()).await.unwrap();
    }
    let gate = Gate::new();
    for h in &handles[1..] {
        h.do_send(HoldOn(gate.clone())).unwrap();
        for _ in 0..3 {
            h.do_send(Note).unwrap();
        }
    }
    handles[0].do_send(Crash).unwrap();
    // Siblings are drained in reverse start order: `once` first.
    settled(testkit::wait_for_node(&app, "/app/once", |n| {
        n.state == NodeState::Stopping
    }))
    .await;
    let stop = tokio::spawn(app.send(Stop));
    settled(testkit::wait_for_node(&app, "/app", |n| {
        n.state == NodeState::Stopping
    }))
    .await;
    gate.open();
    let report = within(stop).await.unwrap().unwrap();
    assert_eq!(lives[1].handled(), 3, "always lost notes\n{report}");
    assert_eq!(lives[2].handled(), 3, "once lost notes\n{report}");
    for l in &lives {
        assert_eq!(
            l.now(),
            0,
            "a child runs after its parent stopped\n{report}"
        );
        assert!(l.most() <= 1);
    }
    for h in &handles {
        let ended = within(h.ended()).await;
        assert_eq!(ended.undelivered, 0, "{ended}");
    }
    assert!(
        !report
            .iter()
            .any(|r| matches!(r.outcome, StopOutcome::TimedOut)),
        "{report}"
    );
}

/// Rest-for-one `first, never, last`: `first` fails, so the `Never`
/// bystander ends for good and `last` restarts. `RestartChild` then starts
/// the bystander again through its old handle; the next failure of `first`
/// ends it again. It never runs twice at once, and its handle always
/// reaches the incarnation listed.
#[actix_rt::test]
async fn a_never_bystander_ended_by_a_strategy_starts_again_on_request_and_ends_again() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let lives: Vec<Arc<Live>> = (0..3).map(|_| Arc::new(Live::default())).collect();
    let first = member("first", &lives[0], &log).restart(RestartPolicy::OnFailure);
    let never = member("never", &lives[1], &log).restart(RestartPolicy::Never);
    let last = member("last", &lives[2], &log).restart(RestartPolicy::OnFailure);
    let handles = [first.handle(), never.handle(), last.handle()];
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::RestForOne)
        .intensity(crate::common::unlimited())
        .child(first)
        .child(never)
        .child(last)
        .start()
        .unwrap();
    for h in &handles {
        within(h.started()).await.unwrap();
    }
    for cycle in 1..=3u64 {
        handles[1].do_send(Note).unwrap();
        let _ = within(handles[0].send(Crash)).await;
        let ended = within(handles[1].ended()).await;
        assert_eq!(
            ended.outcome,
            StopOutcome::Drained,
            "cycle {cycle}: {ended}"
        );
        assert_eq!(lives[1].handled(), cycle, "cycle {cycle}: a note was lost");
        let n = settled(testkit::wait_for_node(&app, "/app/never", |n| {
            n.state.is_terminal()
        }))
        .await;
        assert_eq!(n.state, NodeState::Stopped);
        assert_eq!(lives[1].now(), 0);
        restart(&app, "never").await.unwrap();
        assert_consistent(&app, "/app/never", &handles[1], &lives[1]).await;
        assert_consistent(&app, "/app/last", &handles[2], &lives[2]).await;
    }
    assert_eq!(lives[1].started(), 4);
    within(app.send(Stop)).await.unwrap();
    assert!(lives.iter().all(|l| l.now() == 0));
}

/// A strategy restart and a `RestartChild` of a bystander sent in the same
/// breath: both settle, each child runs once, handles reach what is listed.
#[actix_rt::test]
async fn a_restart_child_racing_a_strategy_restart_runs_each_child_once() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    for strategy in [Strategy::OneForAll, Strategy::RestForOne] {
        for policy in [
            RestartPolicy::OnFailure,
            RestartPolicy::Always,
            RestartPolicy::Never,
        ] {
            let lives: Vec<Arc<Live>> = (0..2).map(|_| Arc::new(Live::default())).collect();
            let crasher = member("crasher", &lives[0], &log).restart(RestartPolicy::OnFailure);
            let other = member("other", &lives[1], &log).restart(policy);
            let handles = [crasher.handle(), other.handle()];
            let app = SupervisorActor::builder("app")
                .strategy(strategy)
                .intensity(RestartIntensity::new(100, Duration::from_secs(1)))
                .child(crasher)
                .child(other)
                .start()
                .unwrap();
            for h in &handles {
                within(h.started()).await.unwrap();
            }
            handles[0].do_send(Crash).unwrap();
            let restarted = restart(&app, "other").await;
            assert!(
                matches!(restarted, Ok(()) | Err(ControlError::ChildStopping { .. })),
                "{strategy:?} {policy:?}: {restarted:?}"
            );
            for (i, name) in ["crasher", "other"].iter().enumerate() {
                assert_consistent(&app, &format!("/app/{name}"), &handles[i], &lives[i]).await;
            }
            within(app.send(Stop)).await.unwrap();
            assert!(lives.iter().all(|l| l.now() == 0));
        }
    }
}

// ---------------------------------------------------------------------------
// 4. Temporary children of a subtree that restarts or is killed, and a
//    strategy restart held by a sibling's backoff.

/// A nested supervisor holding a temporary one-shot child (added with
/// `StartChild`) is restarted by its parent's one-for-all. The one-shot
/// child runs once: it is drained and leaves, as a temporary `Never`
/// bystander of a strategy restart does; it is not started again with the
/// subtree.
#[actix_rt::test]
async fn a_temporary_one_shot_child_of_a_restarted_subtree_does_not_run_again() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let sub = SupervisorActor::builder("sub");
    let sub_addr = sub.address();
    let crasher_live = Arc::new(Live::default());
    let crasher = member("crasher", &crasher_live, &log);
    let crash = crasher.handle();
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .child(sub)
        .child(crasher)
        .start()
        .unwrap();
    within(crash.started()).await.unwrap();
    let live = Arc::new(Live::default());
    let job = temporary("job", &live, &log);
    let job_h = job.handle();
    within(sub_addr.send(StartChild::new(job)))
        .await
        .unwrap()
        .unwrap();
    within(job_h.started()).await.unwrap();
    job_h.do_send(Note).unwrap();

    let _ = within(crash.send(Crash)).await;
    settled(testkit::wait_for_node(&app, "/app/sub", |n| {
        n.incarnation == 2 && n.state == NodeState::Running
    }))
    .await;
    assert!(
        node(&app, "/app/sub/job").await.is_none(),
        "the one-shot child is back in the restarted subtree"
    );
    assert_eq!(live.started(), 1, "the one-shot child ran twice");
    let ended = within(job_h.ended()).await;
    assert_eq!(ended.outcome, StopOutcome::Drained, "{ended}");
    assert_eq!(live.handled(), 1);
    within(app.send(Stop)).await.unwrap();
}

/// A nested supervisor holding a temporary child is killed: the child's
/// handles answer, its accepted note is accounted for, and whatever the
/// parent does with the subtree, the child does not run again.
#[actix_rt::test]
async fn a_temporary_child_of_a_killed_subtree_answers_and_does_not_run_again() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let sub = SupervisorActor::builder("sub").restart(RestartPolicy::Never);
    let sub_addr = sub.address();
    let app = SupervisorActor::builder("app").child(sub).start().unwrap();
    let live = Arc::new(Live::default());
    let job = temporary("job", &live, &log);
    let job_h = job.handle();
    within(sub_addr.send(StartChild::new(job)))
        .await
        .unwrap()
        .unwrap();
    within(job_h.started()).await.unwrap();
    let gate = Gate::new();
    job_h.do_send(HoldOn(gate.clone())).unwrap();
    job_h.do_send(Note).unwrap();

    within(sub_addr.send(actix_supervisor::Kill)).await.unwrap();
    let ended = within(job_h.ended()).await;
    // Killed without a drain: what waited is undelivered (the `HoldOn`
    // too, if the kill came before the child took it).
    assert_eq!(ended.drained, 0, "{ended}");
    assert!((1..=2).contains(&ended.undelivered), "{ended}");
    assert_eq!(
        live.handled(),
        0,
        "a killed child handled its queue: {ended}"
    );
    assert_eq!(within(job_h.stop()).await, ended);
    assert!(!job_h.is_accepting());
    assert_eq!(live.now(), 0);
    assert_eq!(live.started(), 1);
    within(app.send(Stop)).await.unwrap();
    assert_eq!(live.started(), 1);
}

/// Rest-for-one `svc, db`: db fails and waits out a 10 s backoff; then svc
/// fails (no backoff). `Inspect` shows svc `Restarting` with its next start
/// in 0 s; once that delay passed, svc runs. A later sibling's backoff does
/// not hold the failed child's own restart.
#[actix_rt::test]
async fn a_failed_child_s_strategy_restart_is_not_held_by_a_later_sibling_s_backoff() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let lives: Vec<Arc<Live>> = (0..2).map(|_| Arc::new(Live::default())).collect();
    let svc = member("svc", &lives[0], &log).restart(RestartPolicy::OnFailure);
    let db = member("db", &lives[1], &log)
        .restart(RestartPolicy::OnFailure)
        .backoff(Backoff::new(Duration::from_secs(10), Duration::from_secs(10)).jitter(0.0));
    let handles = [svc.handle(), db.handle()];
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::RestForOne)
        .intensity(crate::common::unlimited())
        .child(svc)
        .child(db)
        .start()
        .unwrap();
    for h in &handles {
        within(h.started()).await.unwrap();
    }
    let _ = within(handles[1].send(Crash)).await;
    settled(testkit::wait_for_node(&app, "/app/db", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    }))
    .await;
    let _ = within(handles[0].send(Crash)).await;
    let shown = settled(testkit::wait_for_node(&app, "/app/svc", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    }))
    .await;
    let NodeState::Restarting { next_start_in, .. } = shown.state else {
        unreachable!()
    };
    assert!(next_start_in < Duration::from_secs(1), "{shown:?}");
    // Paused time: past the delay shown, and well short of db's backoff.
    tokio::time::sleep(next_start_in + Duration::from_secs(1)).await;
    let svc_now = node(&app, "/app/svc").await.unwrap();
    assert_eq!(
        svc_now.state,
        NodeState::Running,
        "svc shown restarting in {next_start_in:?}, still not running 1 s after"
    );
    // db is still waiting out its own backoff, and starts once it is over.
    assert!(matches!(
        node(&app, "/app/db").await.unwrap().state,
        NodeState::Restarting { .. }
    ));
    // (Paused time: its 10 s pass at once.)
    testkit::wait_for_node(&app, "/app/db", |n| n.state == NodeState::Running)
        .timeout(Duration::from_secs(60))
        .await;
    assert_eq!(lives[1].started(), 2);
    within(app.send(Stop)).await.unwrap();
}

/// A temporary `Always` child in a backoff stays in the table (it will run
/// again); `RestartChild` starts it at once through the same handle, and
/// a `StopChild` then makes it leave and frees its name.
#[actix_rt::test]
async fn a_temporary_always_child_in_a_backoff_restarts_on_request_and_leaves_when_stopped() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let live = Arc::new(Live::default());
    let spec = member("job", &live, &log)
        .restart(RestartPolicy::Always)
        .backoff(Backoff::new(Duration::from_secs(30), Duration::from_secs(30)).jitter(0.0))
        .remove_on_exit();
    let job = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(crate::common::unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(job.started()).await.unwrap();
    within(job.send(StopSelf)).await.unwrap();
    settled(testkit::wait_for_node(&app, "/app/job", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    }))
    .await;
    job.do_send(Note).unwrap();
    restart(&app, "job").await.unwrap();
    assert_consistent(&app, "/app/job", &job, &live).await;
    assert_eq!(live.handled(), 1);
    let report = within(app.send(StopChild::new("job")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert!(node(&app, "/app/job").await.is_none());
    assert_eq!(live.now(), 0);
    // Past the old backoff: nothing comes back.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(live.now(), 0);
    // The incarnation that drained the `Note` for the restart, then the
    // fresh one.
    assert_eq!(live.started(), 3);
    let next = temporary("job", &Arc::new(Live::default()), &log);
    within(app.send(StartChild::new(next)))
        .await
        .unwrap()
        .unwrap();
    within(app.send(Stop)).await.unwrap();
}

/// Awaits a testkit wait (which fails on its own timeout), within the hang
/// guard too.
async fn settled<T: std::future::IntoFuture>(wait: T) -> T::Output {
    within(wait.into_future()).await
}
