//! The measured scenarios, each for plain actix (`raw`) and for supervised
//! children (`ours`), shared by `examples/bench_report.rs` (wall clock, one
//! fresh process per repetition) and `examples/bench_instructions.rs`
//! (instruction counts under callgrind). Each function runs inside an actix
//! `System` and returns what it measured; none asserts on time.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_supervisor::prelude::*;
use actix_supervisor::{RestartIntensity, SupervisorBuilder};
use tokio::sync::Notify;

use super::counter::{Boom, Bump, Counter, ErrorExit, Inc};

/// Counts its `started` and `stopped`; notifies when a target is reached.
pub struct Tracker {
    started: Arc<Countdown>,
    stopped: Arc<Countdown>,
}

impl Actor for Tracker {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.started.hit();
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.stopped.hit();
    }
}
actix_supervisor::supervised!(Tracker);

impl Handler<Bump> for Tracker {
    type Result = ();
    fn handle(&mut self, _: Bump, _: &mut Context<Self>) {}
}

/// Notifies once `target` hits were counted.
pub struct Countdown {
    hits: AtomicUsize,
    target: usize,
    done: Notify,
}

impl Countdown {
    pub fn new(target: usize) -> Arc<Self> {
        Arc::new(Countdown {
            hits: AtomicUsize::new(0),
            target,
            done: Notify::new(),
        })
    }

    fn hit(&self) {
        if self.hits.fetch_add(1, Ordering::SeqCst) + 1 == self.target {
            self.done.notify_one();
        }
    }

    pub async fn wait(&self) {
        if self.hits.load(Ordering::SeqCst) < self.target {
            self.done.notified().await;
        }
    }
}

fn tracker(started: &Arc<Countdown>, stopped: &Arc<Countdown>) -> Tracker {
    Tracker {
        started: started.clone(),
        stopped: stopped.clone(),
    }
}

/// Starts a supervisor holding one counter (restarted however often);
/// returns the counter's handle once it started.
pub async fn supervised_counter() -> ChildHandle<Counter> {
    let spec = ChildSpec::new("counter", Counter::default).restart(RestartPolicy::Always);
    let handle = spec.handle();
    SupervisorActor::builder("bench")
        .intensity(RestartIntensity::new(u32::MAX, Duration::from_secs(1)))
        .child(spec)
        .start()
        .expect("a valid tree");
    handle.started().await.expect("the counter starts");
    handle
}

/// `n` request/response round trips through an `Addr`.
pub async fn request_response(addr: &Addr<Counter>, n: usize) -> Duration {
    let began = Instant::now();
    for _ in 0..n {
        addr.send(Inc).await.unwrap();
    }
    began.elapsed()
}

/// `n` request/response round trips through a `ChildHandle`.
pub async fn request_response_handle(handle: &ChildHandle<Counter>, n: usize) -> Duration {
    let began = Instant::now();
    for _ in 0..n {
        handle.send(Inc).await.unwrap();
    }
    began.elapsed()
}

/// `n` `do_send` and one round trip after them.
pub async fn fire_and_forget(addr: &Addr<Counter>, n: usize) -> Duration {
    let began = Instant::now();
    for _ in 0..n {
        addr.do_send(Bump);
    }
    addr.send(Inc).await.unwrap();
    began.elapsed()
}

/// Spawns `n` plain actors and waits until every `started` ran; returns the
/// time, the addresses and the countdown of their `stopped`.
pub async fn spawn_raw(n: usize) -> (Duration, Vec<Addr<Tracker>>, Arc<Countdown>) {
    let (started, stopped) = (Countdown::new(n), Countdown::new(n));
    let began = Instant::now();
    let addrs: Vec<_> = (0..n)
        .map(|_| tracker(&started, &stopped).start())
        .collect();
    started.wait().await;
    (began.elapsed(), addrs, stopped)
}

/// Builds and starts a supervisor of `n` children and waits until every
/// `started` ran (the time includes building the specs).
pub async fn spawn_ours(n: usize) -> (Duration, Addr<SupervisorActor>) {
    let (started, stopped) = (Countdown::new(n), Countdown::new(n));
    let began = Instant::now();
    let mut builder = SupervisorActor::builder("many");
    for i in 0..n {
        let (started, stopped) = (started.clone(), stopped.clone());
        builder = builder.child(ChildSpec::new(format!("c{i}"), move || {
            tracker(&started, &stopped)
        }));
    }
    let app = builder.start().expect("a valid tree");
    started.wait().await;
    (began.elapsed(), app)
}

/// Spawns `n` plain actors, then drops every `Addr` and waits until every
/// `stopped` ran; returns the time of the stop only.
pub async fn stop_raw(n: usize) -> Duration {
    let (_, addrs, stopped) = spawn_raw(n).await;
    let began = Instant::now();
    drop(addrs);
    stopped.wait().await;
    began.elapsed()
}

/// Spawns a supervisor of `n` children, then sends it `Stop` and waits for
/// its answer; returns the time of the stop only.
pub async fn stop_ours(n: usize) -> Duration {
    let (_, app) = spawn_ours(n).await;
    let began = Instant::now();
    let report = app.send(Stop).await.unwrap();
    let took = began.elapsed();
    assert!(report.is_drained(), "{report}");
    took
}

/// A plain actor under `actix::Supervisor`: `ctx.stop()` in a handler makes
/// actix restart it in place (same value, `restarting` called). The nearest
/// thing raw actix has to a restart after an error exit.
#[derive(Default)]
pub struct RawRestarting(u64);

impl Actor for RawRestarting {
    type Context = Context<Self>;
}

impl actix::Supervised for RawRestarting {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.0 = 0;
    }
}

impl Handler<ErrorExit> for RawRestarting {
    type Result = ();
    fn handle(&mut self, _: ErrorExit, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Inc> for RawRestarting {
    type Result = u64;
    fn handle(&mut self, _: Inc, _: &mut Context<Self>) -> u64 {
        self.0 += 1;
        self.0
    }
}

/// `n` restarts of a supervised counter, each timed from sending the
/// failing message to the answer of the next incarnation.
pub async fn restart_ours(n: usize, panic: bool) -> Vec<Duration> {
    let handle = supervised_counter().await;
    let addr = handle.address();
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let began = Instant::now();
        if panic {
            addr.do_send(Boom);
        } else {
            addr.do_send(ErrorExit);
        }
        addr.send(Inc).await.unwrap();
        samples.push(began.elapsed());
    }
    samples
}

/// `n` restarts in place by `actix::Supervisor` after `ctx.stop()`, timed
/// as in [`restart_ours`].
pub async fn restart_raw(n: usize) -> Vec<Duration> {
    let addr = actix::Supervisor::start(|_| RawRestarting::default());
    addr.send(Inc).await.unwrap();
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let began = Instant::now();
        addr.do_send(ErrorExit);
        addr.send(Inc).await.unwrap();
        samples.push(began.elapsed());
    }
    samples
}

/// One plain actor with `n` queued messages: drop its only `Addr` and wait
/// for `stopped` (actix handles what is queued first).
pub async fn drain_raw(n: usize) -> Duration {
    let (started, stopped) = (Countdown::new(1), Countdown::new(1));
    let addr = tracker(&started, &stopped).start();
    started.wait().await;
    for _ in 0..n {
        addr.do_send(Bump);
    }
    let began = Instant::now();
    drop(addr);
    stopped.wait().await;
    began.elapsed()
}

/// One supervised child with `n` messages queued through its handle:
/// `ChildHandle::stop` until its report, which must count every message.
pub async fn drain_ours(n: usize) -> Duration {
    let (started, stopped) = (Countdown::new(1), Countdown::new(1));
    let spec = ChildSpec::new("drained", move || tracker(&started, &stopped));
    let handle = spec.handle();
    let _app = SupervisorActor::builder("drain")
        .child(spec)
        .start()
        .unwrap();
    handle.started().await.unwrap();
    for _ in 0..n {
        handle.do_send(Bump).unwrap();
    }
    let began = Instant::now();
    let report = handle.stop().await;
    let took = began.elapsed();
    assert_eq!(report.drained as usize, n, "{report}");
    took
}

/// `Inspect` of a root with `supervisors` × `children` counters, once every
/// node runs; returns the time of `Inspect`, the time of its JSON and the
/// JSON's size.
pub async fn inspect(supervisors: usize, children: usize) -> (Duration, Duration, usize) {
    let mut root = SupervisorActor::builder("root");
    for s in 0..supervisors {
        let mut sub: SupervisorBuilder = SupervisorActor::builder(format!("s{s}"));
        for c in 0..children {
            sub = sub.child(ChildSpec::new(format!("c{c}"), Counter::default));
        }
        root = root.child(sub);
    }
    let root = root.start().unwrap();
    loop {
        let tree = root.send(Inspect).await.unwrap();
        if tree
            .nodes()
            .all(|n| n.state == actix_supervisor::snapshot::NodeState::Running)
        {
            break;
        }
        tokio::task::yield_now().await;
    }
    let began = Instant::now();
    let tree = root.send(Inspect).await.unwrap();
    let inspect = began.elapsed();
    let began = Instant::now();
    let json = serde_json::to_string(&tree).unwrap();
    let serialise = began.elapsed();
    (inspect, serialise, json.len())
}

/// Resident set size of this process, from `/proc/self/statm` (0 where it
/// cannot be read).
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// What any supervised child needs at least, beside a raw actor: a name,
/// one shared allocation (a state word, counts, a report slot, a waker)
/// and a slot in a child table with a name index. Used to measure the floor
/// of a supervised spawn (`bench_instructions`, `BENCH_MODE=spawn-floor`).
#[derive(Default)]
pub struct FloorShared {
    state: std::cell::Cell<u32>,
    accepted: std::cell::Cell<u64>,
    handled: std::cell::Cell<u64>,
    report: std::cell::RefCell<Option<Box<[u64; 4]>>>,
    waker: std::cell::RefCell<Option<std::task::Waker>>,
}

/// A raw actor that marks its shared state started, as a runner would, and
/// on stop writes a report into it.
pub struct FloorActor {
    started: Arc<Countdown>,
    stopped: Arc<Countdown>,
    shared: std::rc::Rc<FloorShared>,
}

impl Actor for FloorActor {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.shared.state.set(1);
        self.started.hit();
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.shared.state.set(2);
        *self.shared.report.borrow_mut() = Some(Box::new([self.shared.handled.get(); 4]));
        self.stopped.hit();
    }
}

/// The floor model's drain marker: the actor stops when it handles it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FloorMarker;

impl Handler<FloorMarker> for FloorActor {
    type Result = ();
    fn handle(&mut self, _: FloorMarker, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// The floor model of a supervised spawn: `n` raw actors, each with a
/// `format!` name, one shared allocation and a table slot with a name
/// index; waits until every `started` ran.
pub async fn spawn_floor(n: usize) -> (Duration, Vec<Addr<FloorActor>>, Arc<Countdown>) {
    let (started, stopped) = (Countdown::new(n), Countdown::new(n));
    let began = Instant::now();
    let mut table = Vec::new();
    let mut index = std::collections::HashMap::new();
    let mut addrs = Vec::new();
    for i in 0..n {
        let name = format!("c{i}");
        let shared = std::rc::Rc::new(FloorShared::default());
        index.insert(name.clone(), table.len());
        table.push((name, shared.clone()));
        addrs.push(
            FloorActor {
                started: started.clone(),
                stopped: stopped.clone(),
                shared,
            }
            .start(),
        );
    }
    started.wait().await;
    std::mem::forget((table, index));
    (began.elapsed(), addrs, stopped)
}

/// The floor model of a supervised stop: after [`spawn_floor`], a drain
/// marker through each child's mailbox, `ctx.stop()` when it is handled, a
/// report written into the shared state, every `Addr` dropped, until every
/// `stopped` ran; returns the time of the stop only.
pub async fn stop_floor(n: usize) -> Duration {
    let (_, addrs, stopped) = spawn_floor(n).await;
    let began = Instant::now();
    for addr in &addrs {
        addr.do_send(FloorMarker);
    }
    drop(addrs);
    stopped.wait().await;
    began.elapsed()
}

/// What any supervisor of a restartable actor keeps per child and writes at
/// each restart after an error exit: the floor model's record (see
/// [`RestartFloor`]).
#[derive(Default)]
pub struct FloorRecord {
    incarnation: u64,
    attempt: u32,
    started_at: Option<Instant>,
    last_failure: Option<Box<FloorFailure>>,
    /// When each restart within the intensity window happened.
    window: std::collections::VecDeque<Instant>,
}

/// A failure as a supervisor must keep it for inspection: its kind and
/// phase, the reason, and when it happened.
pub struct FloorFailure {
    kind: u8,
    phase: u8,
    message: String,
    at: std::time::SystemTime,
}

/// The floor model of a supervised restart after an error exit: a restart
/// in place by `actix::Supervisor` (which keeps the mailbox, as the runner
/// does) plus what any supervisor with the library's promises must do at
/// each restart: keep the error's reason, read the clock once, check the
/// restart intensity over a window of restart times, count the attempt and
/// the incarnation, record the failure with its time for inspection, build
/// a fresh value from a factory, and queue a start barrier (a ready future
/// through `ctx.wait`) to see the start end. No lifecycle, events, logs or
/// handles.
pub struct RestartFloor {
    count: u64,
    reason: Option<String>,
    record: std::rc::Rc<std::cell::RefCell<FloorRecord>>,
    factory: fn() -> u64,
}

impl Default for RestartFloor {
    fn default() -> Self {
        RestartFloor {
            count: 0,
            reason: None,
            record: Default::default(),
            factory: || 0,
        }
    }
}

impl Actor for RestartFloor {
    type Context = Context<Self>;
}

impl actix::Supervised for RestartFloor {
    fn restarting(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let reason = self.reason.take().unwrap_or_default();
        let mut record = self.record.borrow_mut();
        let ran_for = record
            .started_at
            .take()
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        std::hint::black_box(ran_for);
        let within = Duration::from_secs(1);
        while record
            .window
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > within)
        {
            record.window.pop_front();
        }
        record.window.push_back(now);
        if record.window.len() > u32::MAX as usize {
            panic!("too many restarts");
        }
        record.attempt += 1;
        let failure = FloorFailure {
            kind: 1,
            phase: 2,
            message: reason,
            at: std::time::SystemTime::now(),
        };
        match &mut record.last_failure {
            Some(last) => **last = failure,
            last @ None => *last = Some(Box::new(failure)),
        }
        record.incarnation += 1;
        record.started_at = Some(now);
        drop(record);
        self.count = (self.factory)();
        ctx.wait(actix::fut::ready(()));
    }
}

impl Handler<ErrorExit> for RestartFloor {
    type Result = ();
    fn handle(&mut self, _: ErrorExit, ctx: &mut Context<Self>) {
        self.reason = Some("error exit".to_string());
        ctx.stop();
    }
}

impl Handler<Inc> for RestartFloor {
    type Result = u64;
    fn handle(&mut self, _: Inc, _: &mut Context<Self>) -> u64 {
        self.count += 1;
        self.count
    }
}
