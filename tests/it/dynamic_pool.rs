//! Promise 24 (a dynamic pool): children of one kind started at run time
//! from a template with per-child arguments; a start past `max_children`
//! is refused with a typed error; the pool keeps every promise of a
//! supervisor (a draining stop, startup handles, events, inspection), and
//! its children leave it when they end, so `Inspect` lists only the live
//! ones.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::testkit::{self, EventRecorder};
use actix_supervisor::{
    events::EventKind, pool::Pool, snapshot::NodeState, BuildError, ControlError, Grace, Inspect,
    RestartPolicy, StartError, Stop, StopOutcome, SupervisorActor,
};
use common::{recorder, within, Gate, Recorder};

/// A one-shot job: logs what it handles, holds on a gate on request, and
/// ends itself when told its work is done.
struct Job {
    id: u32,
    log: Recorder<String>,
}

impl Actor for Job {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.log.record(format!("job {} started", self.id));
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.log.record(format!("job {} stopped", self.id));
    }
}
actix_supervisor::supervised!(Job);

/// Waits on the gate; handles nothing else meanwhile.
#[derive(Message)]
#[rtype(result = "()")]
struct Hold(Gate);

impl Handler<Hold> for Job {
    type Result = ();
    fn handle(&mut self, Hold(gate): Hold, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future::<_, Self>(gate.passed()));
    }
}

/// A unit of the job's work, logged.
#[derive(Message)]
#[rtype(result = "()")]
struct Step(u32);

impl Handler<Step> for Job {
    type Result = ();
    fn handle(&mut self, Step(n): Step, _: &mut Context<Self>) {
        self.log.record(format!("job {} step {n}", self.id));
    }
}

/// The job is done: it ends (normally).
#[derive(Message)]
#[rtype(result = "()")]
struct Done;

impl Handler<Done> for Job {
    type Result = ();
    fn handle(&mut self, _: Done, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// Per-child arguments: the job's id, and whether its start fails.
#[derive(Clone)]
struct Args {
    id: u32,
    broken: bool,
}

fn args(id: u32) -> Args {
    Args { id, broken: false }
}

/// A pool called `jobs` whose children are [`Job`]s logging to `log`.
fn jobs(log: &Recorder<String>) -> actix_supervisor::pool::PoolBuilder<Job, Args> {
    let log = log.clone();
    Pool::builder("jobs", move |args: &Args| {
        if args.broken {
            panic!("job {} cannot start", args.id);
        }
        Job {
            id: args.id,
            log: log.clone(),
        }
    })
}

/// The names of the children the pool lists.
async fn listed(pool: &Pool<Job, Args>) -> Vec<String> {
    let tree = within(pool.supervisor().send(Inspect)).await.unwrap();
    tree.root.children.iter().map(|c| c.name.clone()).collect()
}

#[actix_rt::test]
async fn a_start_past_max_children_is_refused_until_a_child_ended() {
    let (log, _logged) = recorder();
    let pool = jobs(&log).max_children(2).start().unwrap();
    let first = within(pool.start(args(1))).await.unwrap();
    let _second = within(pool.start(args(2))).await.unwrap();

    match within(pool.start(args(3))).await {
        Err(ControlError::Full {
            parent,
            max_children,
        }) => {
            assert_eq!((parent.as_str(), max_children), ("/jobs", 2));
        }
        other => panic!("expected a full pool, got {other:?}"),
    }
    assert_eq!(listed(&pool).await, ["1", "2"]);

    // Once a child ended, its place is free at once; the refused start
    // took no number.
    first.do_send(Done).unwrap();
    within(first.ended()).await;
    let fourth = within(pool.start(args(4))).await.unwrap();
    assert_eq!(fourth.path().as_str(), "/jobs/3");
    assert_eq!(listed(&pool).await, ["2", "3"]);
}

#[actix_rt::test]
async fn concurrent_starts_never_exceed_max_children() {
    let (log, _logged) = recorder();
    let pool = jobs(&log).max_children(3).start().unwrap();
    let starts: Vec<_> = (0..10).map(|id| pool.start(args(id))).collect();
    let results = within(futures_util::future::join_all(starts)).await;
    let started = results.iter().filter(|r| r.is_ok()).count();
    let full = results
        .iter()
        .filter(|r| matches!(r, Err(ControlError::Full { .. })))
        .count();
    assert_eq!((started, full), (3, 7));
    assert_eq!(listed(&pool).await.len(), 3);
}

#[actix_rt::test]
async fn a_zero_max_children_refuses_every_start() {
    let (log, _logged) = recorder();
    let pool = jobs(&log).max_children(0).start().unwrap();
    assert!(matches!(
        within(pool.start(args(1))).await,
        Err(ControlError::Full {
            max_children: 0,
            ..
        })
    ));
}

#[actix_rt::test]
async fn stopping_a_busy_pool_drains_every_child() {
    let (log, mut logged) = recorder();
    let pool = jobs(&log).start().unwrap();
    let gate = Gate::new();
    let mut children = Vec::new();
    for id in 1..=3 {
        let job = within(pool.start(args(id))).await.unwrap();
        job.do_send(Hold(gate.clone())).unwrap();
        for n in 1..=5 {
            job.do_send(Step(n)).unwrap();
        }
        children.push(job);
    }
    let stop = pool.supervisor().send(Stop);
    // The stop waits for the held work; then every queued step is handled.
    let tree = within(pool.supervisor().send(Inspect)).await.unwrap();
    assert_eq!(tree.root.state, NodeState::Stopping, "{tree}");
    gate.open();
    let report = within(stop).await.unwrap();
    assert!(report.is_drained(), "{report:?}");
    assert_eq!(report.children.len(), 3);
    assert_eq!(
        report.summary().messages_drained,
        3 * 5,
        "the steps queued behind each hold"
    );
    let lines = logged.drain();
    for id in 1..=3 {
        let steps: Vec<_> = lines
            .iter()
            .filter(|l| l.starts_with(&format!("job {id} step")))
            .collect();
        assert_eq!(steps.len(), 5, "{lines:?}");
        assert!(lines.contains(&format!("job {id} stopped")), "{lines:?}");
    }
    // A stopped pool takes no more children.
    assert!(matches!(
        within(pool.start(args(9))).await,
        Err(ControlError::SupervisorStopping { .. })
    ));
    for job in &children {
        assert!(!job.is_accepting());
    }
}

#[actix_rt::test]
async fn each_child_has_a_startup_handle() {
    let (log, _logged) = recorder();
    let pool = jobs(&log).start().unwrap();
    let good = within(pool.start(args(1))).await.unwrap();
    assert!(within(good.started()).await.is_ok());

    let broken = within(pool.start(Args {
        id: 2,
        broken: true,
    }))
    .await
    .unwrap();
    match within(broken.started()).await {
        Err(StartError::StartFailed { path, reason }) => {
            assert_eq!(path.as_str(), "/jobs/2");
            assert!(reason.message.contains("job 2 cannot start"), "{reason:?}");
        }
        other => panic!("expected a failed start, got {other:?}"),
    }
    // A child that will not run again leaves, its failure in its report.
    let report = within(broken.ended()).await;
    assert!(
        matches!(report.outcome, StopOutcome::Failed(_)),
        "{report:?}"
    );
    assert_eq!(listed(&pool).await, ["1"]);
}

#[actix_rt::test]
async fn children_publish_their_lifecycle_events() {
    let (log, _logged) = recorder();
    let pool = jobs(&log).start().unwrap();
    let events = EventRecorder::start(pool.supervisor()).await.unwrap();
    let job = within(pool.start(args(1))).await.unwrap();
    within(job.started()).await.unwrap();
    job.do_send(Done).unwrap();
    let report = within(job.ended()).await;
    events
        .wait_for(|e| e.path.as_str() == "/jobs/1" && matches!(e.kind, EventKind::Stopped { .. }))
        .await;
    assert_eq!(events.kinds("/jobs/1"), ["started", "stopped"]);
    let stopped = events.for_path("/jobs/1").pop().unwrap();
    assert_eq!(stopped.kind, EventKind::Stopped { report });

    let broken = within(pool.start(Args {
        id: 2,
        broken: true,
    }))
    .await
    .unwrap();
    within(broken.ended()).await;
    events
        .wait_for(|e| e.path.as_str() == "/jobs/2" && matches!(e.kind, EventKind::Stopped { .. }))
        .await;
    assert_eq!(events.kinds("/jobs/2"), ["failed", "stopped"]);
}

#[actix_rt::test]
async fn inspect_lists_only_the_live_children() {
    let (log, _logged) = recorder();
    let pool = jobs(&log).start().unwrap();
    let mut children = Vec::new();
    for id in 1..=5 {
        children.push(within(pool.start(args(id))).await.unwrap());
    }
    for job in children.iter().step_by(2) {
        job.do_send(Done).unwrap();
        within(job.ended()).await;
    }
    // Each ended child left before its end was published.
    assert_eq!(listed(&pool).await, ["2", "4"]);
    let tree = within(pool.supervisor().send(Inspect)).await.unwrap();
    assert!(tree
        .root
        .children
        .iter()
        .all(|child| child.state == NodeState::Running));
}

#[actix_rt::test]
async fn a_pool_nested_in_a_tree_is_stopped_with_it() {
    let (log, _logged) = recorder();
    let builder = jobs(&log);
    let pool = builder.pool();
    let app = SupervisorActor::builder("app")
        .child(builder)
        .start()
        .unwrap();
    let job = within(pool.start(args(1))).await.unwrap();
    assert_eq!(job.path().as_str(), "/app/jobs/1");
    let gate = Gate::new();
    job.do_send(Hold(gate.clone())).unwrap();
    job.do_send(Step(1)).unwrap();
    let stop = app.send(Stop);
    within(async {
        testkit::wait_for_node(&app, "/app/jobs", |n| n.state == NodeState::Stopping).await
    })
    .await;
    gate.open();
    let report = within(stop).await.unwrap();
    assert!(report.is_drained());
    assert_eq!(report.find("/app/jobs/1").unwrap().drained, 1);
}

#[actix_rt::test]
async fn named_children_keep_their_names() {
    let (log, _logged) = recorder();
    let pool = jobs(&log).start().unwrap();
    let job = within(pool.start_named("nightly", args(1))).await.unwrap();
    assert_eq!(job.path().as_str(), "/jobs/nightly");
    let taken = within(pool.start_named("nightly", args(2))).await;
    assert!(
        matches!(
            taken,
            Err(ControlError::InvalidSpec(BuildError::DuplicateName { .. }))
        ),
        "{taken:?}"
    );
}

#[actix_rt::test]
async fn child_settings_that_cannot_be_used_are_refused_when_the_pool_starts() {
    let (log, _logged) = recorder();
    let err = jobs(&log)
        .child_grace(Grace::Duration(Duration::ZERO))
        .start()
        .unwrap_err();
    match err {
        BuildError::InvalidField { path, field, .. } => {
            assert_eq!((path.as_str(), field), ("/jobs", "child_grace"));
        }
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[actix_rt::test]
async fn restarted_children_leave_only_when_they_will_not_run_again() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let made = Arc::new(AtomicUsize::new(0));
    let counted = made.clone();
    let pool = Pool::builder("jobs", move |id: &u32| {
        counted.fetch_add(1, Ordering::SeqCst);
        Job {
            id: *id,
            log: log.clone(),
        }
    })
    .child_restart(RestartPolicy::Always)
    .start()
    .unwrap();
    let job = within(pool.start(7)).await.unwrap();
    within(job.started()).await.unwrap();
    job.do_send(Done).unwrap();
    let node = testkit::wait_for_node(pool.supervisor(), "/jobs/1", |n| n.incarnation == 2).await;
    assert_eq!(node.state, NodeState::Running);
    assert_eq!(
        made.load(Ordering::SeqCst),
        2,
        "the template is called per incarnation"
    );
    assert!(within(job.stop()).await.is_drained());
    assert!(listed_any(&pool).await.is_empty());
}

async fn listed_any<A: actix_supervisor::SupervisedActor, T: Send + 'static>(
    pool: &Pool<A, T>,
) -> Vec<String> {
    let tree = within(pool.supervisor().send(Inspect)).await.unwrap();
    tree.root.children.iter().map(|c| c.name.clone()).collect()
}
