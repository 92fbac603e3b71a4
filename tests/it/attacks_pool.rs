//! Attacks from outside, with the public API only, on the dynamic pool
//! (`actix_supervisor::pool`): start futures dropped half-way, starts and
//! duplicate names from other threads (actix `Arbiter`s and threads with
//! their own `System`), starts while the pool stops, a pool restarted or
//! stopped by its parent, children that panic under `OnFailure` and
//! `Always`, and `ended()` awaited once the pool is gone.
//!
//! Each test asserts a promise of `docs/pool.md`, `docs/ended_children.md`
//! or the rustdoc. A test marked `#[ignore = "DEFECT: ..."]` shows a promise
//! broken today; it is kept so that the fix can be proved by removing the
//! mark.
//!
//! Tests on one thread run under paused time; tests that involve other OS
//! threads run on the real clock and wait only on replies, handles, reports
//! and events. Every await that could hang is bounded.

use crate::common::{within, Gate};

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::pool::{Pool, PoolBuilder};
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::testkit;
use actix_supervisor::{
    BuildError, ChildSpec, ControlError, Inspect, RestartChild, RestartIntensity, RestartPolicy,
    StartChild, Stop, StopChild, StopOutcome, Strategy, SupervisorActor,
};

// ---------------------------------------------------------------------------
// A job that counts what runs.

/// What the jobs did, across every child and incarnation.
#[derive(Default)]
struct Counts {
    /// Template calls (one per incarnation built).
    built: AtomicU64,
    /// `started` calls.
    started: AtomicU64,
    /// Incarnations that run now (started, not yet dropped).
    now: AtomicU64,
    /// The most that ran at once.
    most: AtomicU64,
    /// `Task`s handled.
    handled: AtomicU64,
}

impl Counts {
    fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
    fn most(&self) -> u64 {
        self.most.load(Ordering::SeqCst)
    }
    fn built(&self) -> u64 {
        self.built.load(Ordering::SeqCst)
    }
    fn started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }
}

/// Counts one running incarnation while it lives, whatever way it ends.
struct Alive(Arc<Counts>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a job's incarnation goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Runs until stopped.
    Runs,
    /// `ctx.stop()` in `started`.
    StopsAtOnce,
    /// Panics in `started`.
    PanicsInStarted,
}

struct Job {
    kind: Kind,
    counts: Arc<Counts>,
    alive: Option<Alive>,
}

impl Actor for Job {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        self.counts.started.fetch_add(1, Ordering::SeqCst);
        match self.kind {
            Kind::Runs => {
                let now = self.counts.now.fetch_add(1, Ordering::SeqCst) + 1;
                self.counts.most.fetch_max(now, Ordering::SeqCst);
                self.alive = Some(Alive(self.counts.clone()));
            }
            Kind::StopsAtOnce => ctx.stop(),
            Kind::PanicsInStarted => panic!("the job broke"),
        }
    }
}
actix_supervisor::supervised!(Job);

/// One unit of work; answers how many this incarnation handled.
#[derive(Message)]
#[rtype(result = "u64")]
struct Task;

impl Handler<Task> for Job {
    type Result = u64;
    fn handle(&mut self, _: Task, _: &mut Context<Self>) -> u64 {
        self.counts.handled.fetch_add(1, Ordering::SeqCst);
        1
    }
}

/// Panics in its handler.
#[derive(Message)]
#[rtype(result = "()")]
struct Crash;

impl Handler<Crash> for Job {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("the job crashed");
    }
}

/// Makes the job wait (with `ctx.wait`) until the gate opens.
#[derive(Message)]
#[rtype(result = "()")]
struct HoldOn(Gate);

impl Handler<HoldOn> for Job {
    type Result = ();
    fn handle(&mut self, HoldOn(gate): HoldOn, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future::<_, Self>(gate.passed()));
    }
}

/// A pool called `name` of [`Job`]s counted in `counts`.
fn jobs(name: &str, counts: &Arc<Counts>) -> PoolBuilder<Job, Kind> {
    let counts = counts.clone();
    Pool::builder(name, move |kind: &Kind| {
        counts.built.fetch_add(1, Ordering::SeqCst);
        Job {
            kind: *kind,
            counts: counts.clone(),
            alive: None,
        }
    })
}

/// The children the pool's supervisor lists, with their states.
async fn listed(pool: &Pool<Job, Kind>) -> Vec<(String, NodeState)> {
    let tree = within(pool.supervisor().send(Inspect)).await.unwrap();
    tree.root
        .children
        .iter()
        .map(|c| (c.name.clone(), c.state))
        .collect()
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

/// Runs the future `make` builds on `arbiter`'s thread, and hands its
/// output back.
fn on_arbiter<F, T>(
    arbiter: &Arbiter,
    make: impl FnOnce() -> F + Send + 'static,
) -> tokio::sync::oneshot::Receiver<T>
where
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    assert!(arbiter.spawn_fn(move || {
        actix::spawn(async move {
            let _ = tx.send(make().await);
        });
    }));
    rx
}

async fn joined<T>(rx: tokio::sync::oneshot::Receiver<T>) -> T {
    within(rx)
        .await
        .expect("the other thread ended without an answer")
}

// ---------------------------------------------------------------------------
// 1. Start futures dropped half-way.

/// A start future polled 0, 1, 2 or 3 times and dropped: the child is taken
/// or it is not, but never half. Whatever the supervisor took runs and is
/// listed, nothing is built that does not run, and the cap holds.
#[actix_rt::test]
async fn start_futures_dropped_at_every_point_leave_no_child_half_taken() {
    tokio::time::pause();
    const MAX: usize = 3;
    let counts = Arc::new(Counts::default());
    let pool = jobs("jobs", &counts).max_children(MAX).start().unwrap();

    for round in 0..24u32 {
        // Fill the pool part-way with starts given up at once, so that some
        // rounds meet a full pool.
        for i in 0..(round % 5) {
            let mut start = Box::pin(pool.start(Kind::Runs));
            for _ in 0..((round + i) % 4) {
                if futures_util::poll!(start.as_mut()).is_ready() {
                    break;
                }
                tokio::task::yield_now().await;
            }
            drop(start);
        }
        // Give up one inside `tokio::time::timeout` and one inside
        // `select!` against a ready future, too.
        let _ = tokio::time::timeout(Duration::ZERO, pool.start(Kind::Runs)).await;
        tokio::select! {
            biased;
            _ = std::future::ready(()) => {}
            _ = pool.start(Kind::Runs) => {}
        }

        // Whatever was taken is listed and runs, once each.
        let tree = settled(testkit::wait_until(pool.supervisor(), |tree| {
            tree.root
                .children
                .iter()
                .all(|c| c.state == NodeState::Running)
        }))
        .await;
        let names: Vec<String> = tree.root.children.iter().map(|c| c.name.clone()).collect();
        assert!(names.len() <= MAX, "round {round}: {names:?} past {MAX}");
        assert_eq!(
            counts.now(),
            names.len() as u64,
            "round {round}: listed {names:?}\n{tree}"
        );
        assert_eq!(counts.built(), counts.started(), "round {round}");
        for name in names {
            let report = within(pool.supervisor().send(StopChild::new(name.clone())))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
        }
        assert_eq!(counts.now(), 0, "round {round}: a job runs on");
        assert!(listed(&pool).await.is_empty(), "round {round}");
    }
    assert!(counts.most() <= MAX as u64, "{} ran at once", counts.most());
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
}

// ---------------------------------------------------------------------------
// 2. Starts from other threads.

/// Starts from two `Arbiter`s and two threads with their own `System`,
/// each sending work through its children's handles and stopping them from
/// its own thread: the cap holds across all of them, every accepted task is
/// handled, every stop answers `Drained`.
#[actix_rt::test]
async fn starts_from_arbiters_and_foreign_systems_share_one_max_children() {
    const MAX: usize = 4;
    const EACH: u64 = 60;
    let counts = Arc::new(Counts::default());
    let pool = jobs("jobs", &counts).max_children(MAX).start().unwrap();

    fn worker(
        pool: Pool<Job, Kind>,
    ) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = (u64, u64, u64)>>> + Send {
        move || {
            Box::pin(async move {
                let (mut taken, mut full, mut drained) = (0, 0, 0);
                for _ in 0..EACH {
                    match pool.start(Kind::Runs).await {
                        Ok(job) => {
                            taken += 1;
                            job.do_send(Task).unwrap();
                            let report = job.stop().await;
                            assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
                            assert_eq!((report.undelivered, report.cancelled), (0, 0));
                            drained += report.drained;
                            assert!(job.do_send(Task).is_err(), "a stopped job takes work");
                        }
                        Err(ControlError::Full { max_children, .. }) => {
                            assert_eq!(max_children, MAX);
                            full += 1;
                        }
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
                (taken, full, drained)
            })
        }
    }

    let arbiters = [Arbiter::new(), Arbiter::new()];
    let answers = vec![
        on_arbiter(&arbiters[0], worker(pool.clone())),
        on_arbiter(&arbiters[1], worker(pool.clone())),
        on_actix_thread(worker(pool.clone())),
        on_actix_thread(worker(pool.clone())),
    ];
    let mut taken = 0;
    for answer in answers {
        let (t, f, _) = joined(answer).await;
        assert_eq!(t + f, EACH);
        taken += t;
    }
    assert!(taken > 0, "no start was taken");
    assert!(
        counts.most() <= MAX as u64,
        "{} ran at once past {MAX}",
        counts.most()
    );
    assert_eq!(counts.started(), taken, "a child ran twice or not at all");
    assert_eq!(counts.handled.load(Ordering::SeqCst), taken);
    assert_eq!(counts.now(), 0);
    assert!(listed(&pool).await.is_empty());
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    for arbiter in arbiters {
        arbiter.stop();
    }
}

/// The same name asked for at once from eight threads: exactly one start
/// takes it, the others are refused `DuplicateName` and build nothing. Once
/// it ended, the name is taken exactly once again.
#[actix_rt::test]
async fn a_name_asked_for_from_eight_threads_at_once_is_taken_exactly_once() {
    let counts = Arc::new(Counts::default());
    let pool = jobs("jobs", &counts).start().unwrap();

    for round in 1..=3u64 {
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let answers: Vec<_> = (0..8)
            .map(|_| {
                let pool = pool.clone();
                let barrier = barrier.clone();
                on_actix_thread(move || async move {
                    barrier.wait();
                    pool.start_named("singleton", Kind::Runs).await
                })
            })
            .collect();
        let mut winners = Vec::new();
        for answer in answers {
            match joined(answer).await {
                Ok(job) => winners.push(job),
                Err(ControlError::InvalidSpec(BuildError::DuplicateName { .. })) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: one name, one child");
        let job = winners.pop().unwrap();
        within(job.started()).await.unwrap();
        assert_eq!(listed(&pool).await.len(), 1);
        assert_eq!(counts.built(), round, "a refused duplicate was built");
        assert_eq!(counts.now(), 1);
        within(job.stop()).await;
        assert_eq!(counts.now(), 0);
        assert!(listed(&pool).await.is_empty());
    }
    within(pool.supervisor().send(Stop)).await.unwrap();
}

// ---------------------------------------------------------------------------
// 3. Duplicates and names of children that are ending.

/// A refused duplicate neither takes a slot, nor frees the name, nor
/// touches the child that holds it.
#[actix_rt::test]
async fn a_refused_duplicate_start_named_leaves_the_name_and_the_slots_alone() {
    tokio::time::pause();
    let counts = Arc::new(Counts::default());
    let pool = jobs("jobs", &counts).max_children(2).start().unwrap();

    let first = within(pool.start_named("a", Kind::Runs)).await.unwrap();
    for _ in 0..3 {
        let again = within(pool.start_named("a", Kind::Runs)).await;
        assert!(
            matches!(
                again,
                Err(ControlError::InvalidSpec(BuildError::DuplicateName { .. }))
            ),
            "{again:?}"
        );
    }
    // The holder runs on, reached by its handle.
    assert_eq!(within(first.send(Task)).await.unwrap(), 1);
    // The refusals took no slot: one more fits, then the pool is full.
    let second = within(pool.start(Kind::Runs)).await.unwrap();
    assert!(matches!(
        within(pool.start(Kind::Runs)).await,
        Err(ControlError::Full { .. })
    ));
    assert_eq!(listed(&pool).await.len(), 2);
    assert_eq!(counts.built(), 2);

    // Freed once, when its holder ended.
    within(first.stop()).await;
    let third = within(pool.start_named("a", Kind::Runs)).await.unwrap();
    assert_eq!(within(third.send(Task)).await.unwrap(), 1);
    assert!(
        first.do_send(Task).is_err(),
        "the old handle reaches the new child"
    );
    let names: Vec<String> = listed(&pool).await.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.iter().filter(|n| *n == "a").count(), 1, "{names:?}");
    drop(second);
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(counts.now(), 0);
}

/// A child that is draining for its stop has not ended: its name stays
/// taken and it still counts against `max_children`, so no second child
/// runs beside it. Once it ended, both are free.
#[actix_rt::test]
async fn a_child_still_draining_keeps_its_name_and_its_slot() {
    tokio::time::pause();
    let counts = Arc::new(Counts::default());
    let pool = jobs("jobs", &counts).max_children(1).start().unwrap();

    let job = within(pool.start_named("a", Kind::Runs)).await.unwrap();
    within(job.started()).await.unwrap();
    let gate = Gate::new();
    job.do_send(HoldOn(gate.clone())).unwrap();
    job.do_send(Task).unwrap();
    let stopping = job.stop();
    settled(testkit::wait_for_node(pool.supervisor(), "/jobs/a", |n| {
        n.state == NodeState::Stopping
    }))
    .await;

    let named = within(pool.start_named("a", Kind::Runs)).await;
    assert!(
        matches!(
            named,
            Err(ControlError::InvalidSpec(BuildError::DuplicateName { .. }))
                | Err(ControlError::Full { .. })
        ),
        "a second `a` while the first drains: {named:?}"
    );
    let other = within(pool.start(Kind::Runs)).await;
    assert!(
        matches!(other, Err(ControlError::Full { .. })),
        "a start beside a draining child: {other:?}"
    );
    assert_eq!(counts.most(), 1);

    gate.open();
    let report = within(stopping).await;
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert!(report.drained >= 1, "{report}");
    assert_eq!((report.undelivered, report.cancelled), (0, 0), "{report}");
    let again = within(pool.start_named("a", Kind::Runs)).await.unwrap();
    assert_eq!(within(again.send(Task)).await.unwrap(), 1);
    assert_eq!(counts.most(), 1);
    within(pool.supervisor().send(Stop)).await.unwrap();
}

// ---------------------------------------------------------------------------
// 4. Starting while the pool stops.

/// Starts, named or not, sent while the pool drains for its stop are
/// refused `SupervisorStopping` and build nothing; the stop still drains
/// what its children accepted.
#[actix_rt::test]
async fn starts_while_the_pool_drains_are_refused_and_build_nothing() {
    tokio::time::pause();
    let counts = Arc::new(Counts::default());
    let pool = jobs("jobs", &counts).max_children(4).start().unwrap();

    let job = within(pool.start(Kind::Runs)).await.unwrap();
    within(job.started()).await.unwrap();
    let gate = Gate::new();
    job.do_send(HoldOn(gate.clone())).unwrap();
    job.do_send(Task).unwrap();
    job.do_send(Task).unwrap();
    let stop = pool.supervisor().send(Stop);
    let stop = tokio::spawn(stop);
    settled(testkit::wait_for_node(pool.supervisor(), "/jobs", |n| {
        n.state == NodeState::Stopping
    }))
    .await;

    for _ in 0..3 {
        let start = within(pool.start(Kind::Runs)).await;
        assert!(
            matches!(start, Err(ControlError::SupervisorStopping { .. })),
            "{start:?}"
        );
        let named = within(pool.start_named("late", Kind::Runs)).await;
        assert!(
            matches!(named, Err(ControlError::SupervisorStopping { .. })),
            "{named:?}"
        );
    }
    assert_eq!(counts.built(), 1, "a refused start was built");
    gate.open();
    let report = within(stop).await.unwrap().unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(report.find("/jobs/1").unwrap().drained, 2, "{report}");
    assert_eq!(counts.handled.load(Ordering::SeqCst), 2);
    assert_eq!(counts.now(), 0);
    // And after it stopped: still answered, still nothing built.
    assert!(matches!(
        within(pool.start(Kind::Runs)).await,
        Err(ControlError::SupervisorStopping { .. })
    ));
    assert_eq!(counts.built(), 1);
}

// ---------------------------------------------------------------------------
// 5. A pool in a tree whose parent stops or restarts it.

/// A sibling that crashes.
#[derive(Default)]
struct Sibling;
impl Actor for Sibling {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Sibling);

impl Handler<Crash> for Sibling {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("the sibling crashed");
    }
}

/// The parent restarts the pool with a one-for-all restart: the pool's
/// one-shot children are drained and end for good (they are temporary:
/// never started again with the subtree), and the same `Pool` handle starts
/// new ones, counted afresh against `max_children`.
#[actix_rt::test]
async fn a_pool_restarted_by_its_parent_s_strategy_ends_its_children_and_takes_new_ones() {
    tokio::time::pause();
    let counts = Arc::new(Counts::default());
    let builder = jobs("jobs", &counts).max_children(2);
    let pool = builder.pool();
    let sibling = ChildSpec::new("sibling", Sibling::default);
    let crash = sibling.handle();
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .child(builder)
        .child(sibling)
        .start()
        .unwrap();

    let old: Vec<_> = vec![
        within(pool.start(Kind::Runs)).await.unwrap(),
        within(pool.start(Kind::Runs)).await.unwrap(),
    ];
    for job in &old {
        within(job.started()).await.unwrap();
        job.do_send(Task).unwrap();
    }
    let _ = within(crash.send(Crash)).await;
    settled(testkit::wait_for_node(&app, "/app/jobs", |n| {
        n.incarnation == 2 && n.state == NodeState::Running
    }))
    .await;

    for job in &old {
        let report = within(job.ended()).await;
        assert!(matches!(report.outcome, StopOutcome::Drained), "{report}");
        assert!(job.do_send(Task).is_err(), "an old job takes work again");
    }
    assert_eq!(
        counts.started(),
        2,
        "a one-shot job ran again with the pool"
    );
    assert_eq!(counts.now(), 0);
    assert_eq!(counts.handled.load(Ordering::SeqCst), 2);
    assert!(listed(&pool).await.is_empty(), "{:?}", listed(&pool).await);

    // The same handle starts new children; the old ones count no longer.
    let new: Vec<_> = vec![
        within(pool.start(Kind::Runs)).await.unwrap(),
        within(pool.start(Kind::Runs)).await.unwrap(),
    ];
    assert!(matches!(
        within(pool.start(Kind::Runs)).await,
        Err(ControlError::Full { .. })
    ));
    for job in &new {
        assert_eq!(within(job.send(Task)).await.unwrap(), 1);
    }
    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(counts.now(), 0);
}

/// The parent stops the pool with `StopChild`: every later start answers
/// at once (`SupervisorStopping`), named or not, and builds nothing; a
/// `RestartChild` of the pool is refused as documented; the children's
/// `ended()` answer even when awaited after the pool is gone.
#[actix_rt::test]
async fn a_pool_stopped_by_its_parent_answers_every_later_start_and_every_ended() {
    tokio::time::pause();
    let counts = Arc::new(Counts::default());
    let builder = jobs("jobs", &counts);
    let pool = builder.pool();
    let app = SupervisorActor::builder("app")
        .child(builder)
        .start()
        .unwrap();

    let early = within(pool.start(Kind::StopsAtOnce)).await.unwrap();
    let running = within(pool.start(Kind::Runs)).await.unwrap();
    within(running.started()).await.unwrap();
    running.do_send(Task).unwrap();
    let report = within(app.send(StopChild::new("jobs")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(counts.now(), 0);

    for _ in 0..3 {
        assert!(matches!(
            within(pool.start(Kind::Runs)).await,
            Err(ControlError::SupervisorStopping { .. })
        ));
        assert!(matches!(
            within(pool.start_named("x", Kind::Runs)).await,
            Err(ControlError::SupervisorStopping { .. })
        ));
    }
    assert_eq!(counts.built(), 2);
    let restarted = within(app.send(RestartChild::new("jobs"))).await.unwrap();
    assert!(
        matches!(restarted, Err(ControlError::ChildEnded { .. })),
        "{restarted:?}"
    );

    // `ended()` after the pool is gone: each job's own end.
    let early_end = within(early.ended()).await;
    assert!(early_end.ended_on_its_own, "{early_end}");
    let running_end = within(running.ended()).await;
    assert_eq!(running_end.outcome, StopOutcome::Drained, "{running_end}");
    assert_eq!(running_end.path.as_str(), "/app/jobs/2");
    assert_eq!(within(running.stop()).await, running_end);
    within(app.send(Stop)).await.unwrap();
}

/// `ended()` asked for the first time only after the pool's `Stop`
/// answered: each handle answers the report the pool's stop holds for that
/// child, and a job that held work when the stop came reports it drained.
#[actix_rt::test]
async fn ended_awaited_after_the_pool_stopped_answers_the_stop_s_own_reports() {
    tokio::time::pause();
    let counts = Arc::new(Counts::default());
    let pool = jobs("jobs", &counts).start().unwrap();

    let gate = Gate::new();
    let mut handles = Vec::new();
    for _ in 0..3 {
        let job = within(pool.start(Kind::Runs)).await.unwrap();
        within(job.started()).await.unwrap();
        job.do_send(HoldOn(gate.clone())).unwrap();
        job.do_send(Task).unwrap();
        job.do_send(Task).unwrap();
        handles.push(job);
    }
    let stop = tokio::spawn(pool.supervisor().send(Stop));
    settled(testkit::wait_for_node(pool.supervisor(), "/jobs", |n| {
        n.state == NodeState::Stopping
    }))
    .await;
    gate.open();
    let report = within(stop).await.unwrap().unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");

    for job in &handles {
        let ended = within(job.ended()).await;
        let held = report
            .find(ended.path.as_str())
            .unwrap_or_else(|| panic!("{} not in\n{report}", ended.path));
        assert_eq!(&ended, held);
        assert_eq!(ended.drained, 2, "{ended}");
        assert!(job.started().await.is_ok());
    }
    assert_eq!(counts.handled.load(Ordering::SeqCst), 6);
    assert_eq!(counts.now(), 0);
}

// ---------------------------------------------------------------------------
// 6. Children with `OnFailure` / `Always` that panic.

/// `Always` children that keep panicking drive the pool past its
/// intensity: the pool gives up, every child ends, every handle's
/// `ended()` answers, later starts are refused at once, nothing runs on.
#[actix_rt::test]
async fn always_children_that_panic_past_the_pool_s_intensity_end_and_every_handle_answers() {
    tokio::time::pause();
    let counts = Arc::new(Counts::default());
    let pool = jobs("jobs", &counts)
        .child_restart(RestartPolicy::Always)
        .intensity(RestartIntensity::new(3, Duration::from_secs(5)))
        .max_children(4)
        .start()
        .unwrap();
    let handles: Vec<_> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(within(pool.start(Kind::Runs)).await.unwrap());
        }
        v
    };
    for job in &handles {
        within(job.started()).await.unwrap();
    }
    // Crash them in turn until the pool gives up.
    'crash: for _ in 0..10 {
        for job in &handles {
            if within(job.send(Crash)).await.is_err() && !job.is_accepting() {
                break 'crash;
            }
        }
    }
    for job in &handles {
        let report = within(job.ended()).await;
        assert_eq!(report.undelivered, 0, "{report}");
        assert!(!job.is_accepting(), "{report}");
    }
    assert_eq!(counts.now(), 0, "a job runs on in a pool that gave up");
    let later = within(pool.start(Kind::Runs)).await;
    assert!(
        matches!(later, Err(ControlError::SupervisorStopping { .. })),
        "{later:?}"
    );
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    assert!(report.ended_on_its_own, "{report}");
}

/// A nested pool of `OnFailure` children escalates when one keeps
/// panicking; its parent restarts it, and the restarted pool keeps its
/// children (they restart with the subtree, as `docs/otp_conformance.md`'s
/// `tree` case says). Each runs once, each old handle reaches it, and the
/// cap still counts them.
#[actix_rt::test]
async fn a_pool_restarted_after_escalating_runs_each_kept_child_once() {
    tokio::time::pause();
    let counts = Arc::new(Counts::default());
    let builder = jobs("jobs", &counts)
        .child_restart(RestartPolicy::OnFailure)
        .intensity(RestartIntensity::new(1, Duration::from_secs(5)))
        .max_children(2)
        .restart(RestartPolicy::Always);
    let pool = builder.pool();
    let app = SupervisorActor::builder("app")
        .child(builder)
        .start()
        .unwrap();

    let bystander = within(pool.start(Kind::Runs)).await.unwrap();
    let crasher = within(pool.start(Kind::Runs)).await.unwrap();
    within(bystander.started()).await.unwrap();
    within(crasher.started()).await.unwrap();
    // Two panics within the period: past an intensity of 1.
    let _ = within(crasher.send(Crash)).await;
    let _ = within(crasher.send(Crash)).await;
    let tree = settled(testkit::wait_until(&app, |tree| {
        tree.find("/app/jobs")
            .is_some_and(|n| n.incarnation == 2 && n.state == NodeState::Running)
            && tree.find("/app/jobs").unwrap().children.len() == 2
            && tree
                .find("/app/jobs")
                .unwrap()
                .children
                .iter()
                .all(|c| c.state == NodeState::Running)
    }))
    .await;

    assert_eq!(counts.now(), 2, "listed two children:\n{tree}");
    assert!(counts.most() <= 2, "{} ran at once", counts.most());
    assert_eq!(within(bystander.send(Task)).await.unwrap(), 1);
    assert_eq!(within(crasher.send(Task)).await.unwrap(), 1);
    assert!(matches!(
        within(pool.start(Kind::Runs)).await,
        Err(ControlError::Full { .. })
    ));
    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(counts.now(), 0);
    assert_eq!(
        within(bystander.ended()).await.outcome,
        StopOutcome::Drained
    );
}

/// `OnFailure` children whose every start panics sit in their backoff
/// between attempts: they still count against `max_children` and are
/// listed; the pool's stop ends them, and their `ended()` answers.
#[actix_rt::test]
async fn children_failing_every_start_hold_their_slots_and_end_with_the_pool() {
    tokio::time::pause();
    let counts = Arc::new(Counts::default());
    let pool = jobs("jobs", &counts)
        .child_restart(RestartPolicy::OnFailure)
        .child_backoff(
            actix_supervisor::Backoff::new(Duration::from_secs(1), Duration::from_secs(1))
                .jitter(0.0),
        )
        .intensity(crate::common::unlimited())
        .max_children(2)
        .start()
        .unwrap();
    let failing = [
        within(pool.start(Kind::PanicsInStarted)).await.unwrap(),
        within(pool.start(Kind::PanicsInStarted)).await.unwrap(),
    ];
    for job in &failing {
        assert!(within(job.started()).await.is_err());
    }
    // A few rounds of failed starts.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(counts.started() >= 4, "{} starts", counts.started());
    assert!(matches!(
        within(pool.start(Kind::Runs)).await,
        Err(ControlError::Full { .. })
    ));
    assert_eq!(listed(&pool).await.len(), 2, "{:?}", listed(&pool).await);
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    for job in &failing {
        let ended = within(job.ended()).await;
        assert!(report.find(ended.path.as_str()).is_some(), "{report}");
        assert!(!job.is_accepting());
    }
    let started = counts.started();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        counts.started(),
        started,
        "a child started after the pool stopped"
    );
    assert_eq!(counts.now(), 0);
}

/// An `Always` child that stops itself is restarted in place (same name,
/// same handle, one slot); stopped during its backoff, it leaves, and its
/// name and slot are free at once.
#[actix_rt::test]
async fn an_always_child_stopping_itself_is_restarted_in_place_until_stopped() {
    tokio::time::pause();
    let counts = Arc::new(Counts::default());
    let pool = jobs("jobs", &counts)
        .child_restart(RestartPolicy::Always)
        .child_backoff(
            actix_supervisor::Backoff::new(Duration::from_secs(1), Duration::from_secs(1))
                .jitter(0.0),
        )
        .intensity(crate::common::unlimited())
        .max_children(1)
        .start()
        .unwrap();
    let job = within(pool.start_named("loop", Kind::StopsAtOnce))
        .await
        .unwrap();
    settled(testkit::wait_for_node(
        pool.supervisor(),
        "/jobs/loop",
        |n| n.incarnation >= 3,
    ))
    .await;
    assert_eq!(listed(&pool).await.len(), 1);
    assert!(matches!(
        within(pool.start(Kind::Runs)).await,
        Err(ControlError::Full { .. })
    ));
    assert!(job.is_accepting());
    let report = within(pool.supervisor().send(StopChild::new("loop")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(within(job.ended()).await, report);
    assert!(listed(&pool).await.is_empty());
    let started = counts.started();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(counts.started(), started, "the stopped child came back");
    let next = within(pool.start_named("loop", Kind::Runs)).await.unwrap();
    assert_eq!(within(next.send(Task)).await.unwrap(), 1);
    within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(counts.now(), 0);
}

/// One thread (with its own `System`) starts jobs and sends each ten tasks
/// through its handle; the test's thread stops the pool half-way. Every
/// task a handle accepted is handled, or counted undelivered or cancelled
/// in that job's report, exactly once; the stop is `Drained`.
#[actix_rt::test]
async fn tasks_sent_from_another_thread_while_the_pool_stops_are_each_accounted_once() {
    let counts = Arc::new(Counts::default());
    let pool = jobs("jobs", &counts).max_children(1000).start().unwrap();
    let (half_way, reached) = tokio::sync::oneshot::channel();
    let starter = pool.clone();
    let sender = on_actix_thread(move || async move {
        let mut half_way = Some(half_way);
        let (mut accepted, mut handles) = (0u64, Vec::new());
        for i in 0..300 {
            if i == 60 {
                let _ = half_way.take().unwrap().send(());
            }
            match starter.start(Kind::Runs).await {
                Ok(job) => {
                    for _ in 0..10 {
                        if job.do_send(Task).is_ok() {
                            accepted += 1;
                        }
                    }
                    handles.push(job);
                }
                Err(ControlError::SupervisorStopping { .. }) => break,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        (accepted, handles)
    });
    within(reached).await.unwrap();
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    let (accepted, handles) = joined(sender).await;
    let mut lost = 0;
    for job in &handles {
        let ended = within(job.ended()).await;
        assert_eq!(ended.outcome, StopOutcome::Drained, "{ended}");
        lost += ended.undelivered + ended.cancelled;
    }
    assert_eq!(
        counts.handled.load(Ordering::SeqCst) + lost,
        accepted,
        "accepted tasks not accounted for ({} jobs)",
        handles.len()
    );
    assert_eq!(counts.now(), 0);
}

// ---------------------------------------------------------------------------
// 7. Children the pool did not place.

/// A child added to the pool's supervisor with a plain `StartChild` under
/// a name the pool would give later: the pool's own start that reaches that
/// number still starts a child (its errors are `Full`, `SupervisorStopping`
/// and unusable settings, none of which holds), and the two never share a
/// name.
#[actix_rt::test]
async fn a_child_placed_under_a_pool_number_does_not_break_the_pool_s_starts() {
    tokio::time::pause();
    let counts = Arc::new(Counts::default());
    let pool = jobs("jobs", &counts).start().unwrap();
    let counts2 = counts.clone();
    let squatter = ChildSpec::new("2", move || Job {
        kind: Kind::Runs,
        counts: counts2.clone(),
        alive: None,
    })
    .restart(RestartPolicy::Never)
    .remove_on_exit();
    let placed = within(pool.supervisor().send(StartChild::new(squatter)))
        .await
        .unwrap();
    if placed.is_err() {
        // Refused outright: the pool keeps its numbers; nothing more to see.
        return;
    }
    for i in 0..3 {
        let start = within(pool.start(Kind::Runs)).await;
        assert!(start.is_ok(), "start {i} of a pool with room: {start:?}");
    }
    let names: Vec<String> = listed(&pool).await.into_iter().map(|(n, _)| n).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert_eq!(names.len(), 4, "{names:?}");
    within(pool.supervisor().send(Stop)).await.unwrap();
}

/// Awaits a testkit wait (which fails on its own timeout), within the hang
/// guard too.
async fn settled<T: std::future::IntoFuture>(wait: T) -> T::Output {
    within(wait.into_future()).await
}
