//! Measures supervision against plain actix, in the same process, on one
//! arbiter, and prints a Markdown table of medians, ranges and ratios.
//!
//! Each scenario runs for plain actix and for a supervised child back to
//! back, `ROUNDS` times, interleaved; memory is measured in fresh child
//! processes so that one measurement's freed memory cannot hide the next
//! one's growth.
//!
//! Run it with `cargo run --release --example bench_report`. Set
//! `BENCH_SCALE` (default 1) to scale every size, e.g. `BENCH_SCALE=0.01`
//! for a quick smoke run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_supervisor::prelude::*;
use actix_supervisor::{RestartIntensity, Shutdown, SupervisorBuilder};
use tokio::sync::Notify;

const ROUNDS: usize = 5;

fn scale(n: usize) -> usize {
    let factor: f64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((n as f64 * factor) as usize).max(10)
}

// ---------------------------------------------------------------- actors

#[path = "../benches/common/counter.rs"]
mod counter;
use counter::{Boom, Bump, Counter, ErrorExit, Inc};

/// Counts its `started` and `stopped`; notifies when a target is reached.
struct Tracker {
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
struct Countdown {
    hits: AtomicUsize,
    target: usize,
    done: Notify,
}

impl Countdown {
    fn new(target: usize) -> Arc<Self> {
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

    async fn wait(&self) {
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

// ---------------------------------------------------------------- scenarios

/// Starts a supervisor holding one counter; returns the counter's handle.
fn supervised_counter() -> ChildHandle<Counter> {
    let spec = ChildSpec::new("counter", Counter::default).restart(RestartPolicy::Always);
    let handle = spec.handle();
    SupervisorActor::builder("bench")
        .intensity(RestartIntensity::new(u32::MAX, Duration::from_secs(1)))
        .child(spec)
        .start()
        .expect("a valid tree");
    handle
}

async fn request_response(addr: &Addr<Counter>, n: usize) -> Duration {
    let began = Instant::now();
    for _ in 0..n {
        addr.send(Inc).await.unwrap();
    }
    began.elapsed()
}

async fn request_response_handle(handle: &ChildHandle<Counter>, n: usize) -> Duration {
    let began = Instant::now();
    for _ in 0..n {
        handle.send(Inc).await.unwrap();
    }
    began.elapsed()
}

async fn fire_and_forget(addr: &Addr<Counter>, n: usize) -> Duration {
    let began = Instant::now();
    for _ in 0..n {
        addr.do_send(Bump);
    }
    addr.send(Inc).await.unwrap();
    began.elapsed()
}

async fn spawn_raw(n: usize) -> (Duration, Vec<Addr<Tracker>>, Arc<Countdown>) {
    let (started, stopped) = (Countdown::new(n), Countdown::new(n));
    let began = Instant::now();
    let addrs: Vec<_> = (0..n)
        .map(|_| tracker(&started, &stopped).start())
        .collect();
    started.wait().await;
    (began.elapsed(), addrs, stopped)
}

async fn spawn_supervised(n: usize) -> (Duration, Addr<SupervisorActor>) {
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

async fn restart_latency(handle: &ChildHandle<Counter>, n: usize, panic: bool) -> Vec<Duration> {
    let addr = handle.addr();
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

async fn drain_raw(n: usize) -> Duration {
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

async fn drain_supervised(n: usize) -> Duration {
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

async fn stop_many_raw(n: usize) -> Duration {
    let (_, addrs, stopped) = spawn_raw(n).await;
    let began = Instant::now();
    drop(addrs);
    stopped.wait().await;
    began.elapsed()
}

async fn stop_many_supervised(n: usize) -> Duration {
    let (_, app) = spawn_supervised(n).await;
    let began = Instant::now();
    let report = app.send(Stop).await.unwrap();
    let took = began.elapsed();
    assert!(report.is_drained());
    took
}

async fn inspect_tree(supervisors: usize, children: usize) -> (Duration, Duration, usize) {
    let mut root = SupervisorActor::builder("root");
    for s in 0..supervisors {
        let mut sub: SupervisorBuilder = SupervisorActor::builder(format!("s{s}"));
        for c in 0..children {
            sub = sub.child(ChildSpec::new(format!("c{c}"), Counter::default));
        }
        root = root.child(sub);
    }
    let root = root.start().unwrap();
    // Wait until every child started.
    loop {
        let tree = root.send(Inspect).await.unwrap();
        if tree
            .nodes()
            .all(|n| n.state == actix_supervisor::NodeState::Running)
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
    root.send(Stop).await.unwrap();
    (inspect, serialise, json.len())
}

// ---------------------------------------------------------------- memory

/// In a child process: RSS growth per actor for `n` actors of `kind`.
fn memory_child(kind: &str, n: usize) {
    actix::System::new().block_on(async move {
        let before = resident_bytes();
        let keep: Box<dyn std::any::Any> = match kind {
            "raw" => Box::new(spawn_raw(n).await.1),
            _ => Box::new(spawn_supervised(n).await.1),
        };
        let after = resident_bytes();
        println!("{}", (after.saturating_sub(before)) / n as u64);
        drop(keep);
    });
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn memory_per_actor(kind: &str, n: usize) -> Option<u64> {
    let output = std::process::Command::new(std::env::current_exe().ok()?)
        .env("BENCH_MEMORY_CHILD", format!("{kind}:{n}"))
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

// ---------------------------------------------------------------- report

fn median(mut samples: Vec<f64>) -> (f64, f64, f64) {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (
        samples[samples.len() / 2],
        samples[0],
        samples[samples.len() - 1],
    )
}

struct Table(Vec<String>);

impl Table {
    /// A row: medians with their ranges, and the ratio of the medians.
    fn row(
        &mut self,
        scenario: &str,
        raw: Option<(f64, f64, f64)>,
        sup: (f64, f64, f64),
        unit: &str,
        target: &str,
    ) {
        let fmt = |(m, lo, hi): (f64, f64, f64)| format!("{m:.3} ({lo:.3}–{hi:.3}) {unit}");
        let (raw_text, ratio) = match raw {
            Some(raw) => (fmt(raw), format!("{:.3}", sup.0 / raw.0)),
            None => ("–".into(), "–".into()),
        };
        self.0.push(format!(
            "| {scenario} | {raw_text} | {} | {ratio} | {target} |",
            fmt(sup)
        ));
    }
}

fn main() {
    if let Ok(spec) = std::env::var("BENCH_MEMORY_CHILD") {
        let (kind, n) = spec.split_once(':').unwrap();
        return memory_child(kind, n.parse().unwrap());
    }
    std::panic::set_hook(Box::new(|_| {}));
    let (requests, messages, children, queued) = (
        scale(1_000_000),
        scale(1_000_000),
        scale(100_000),
        scale(100_000),
    );
    let restarts = scale(10_000);
    let (supervisors, per_supervisor) = (scale(100).min(100), scale(100).min(100));
    let mut table = Table(vec![
        "| scenario | raw actix: median (min–max) | supervised: median (min–max) | ratio supervised/raw | target |".into(),
        "|---|---|---|---|---|".into(),
    ]);

    let mut table = actix::System::new().block_on(async move {
        let raw = Counter::default().start();
        let handle = supervised_counter();
        let supervised = handle.addr().clone();
        handle.started().await.unwrap();

        let mut rr = (Vec::new(), Vec::new(), Vec::new());
        let mut ff = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            rr.0.push(requests as f64 / request_response(&raw, requests).await.as_secs_f64() / 1e6);
            rr.1.push(requests as f64 / request_response(&supervised, requests).await.as_secs_f64() / 1e6);
            rr.2.push(requests as f64 / request_response_handle(&handle, requests).await.as_secs_f64() / 1e6);
            ff.0.push(messages as f64 / fire_and_forget(&raw, messages).await.as_secs_f64() / 1e6);
            ff.1.push(messages as f64 / fire_and_forget(&supervised, messages).await.as_secs_f64() / 1e6);
        }
        let rr_raw = median(rr.0);
        table.row(&format!("1. request/response, {requests} `send().await` (`Addr`)"), Some(rr_raw), median(rr.1), "M msg/s", "≥ 0.97");
        table.row("1b. the same through `ChildHandle::send`", Some(rr_raw), median(rr.2), "M msg/s", "–");
        table.row(&format!("2. fire-and-forget, {messages} `do_send` + 1 round trip"), Some(median(ff.0)), median(ff.1), "M msg/s", "≥ 0.90");

        let mut spawn = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let (took, addrs, _) = spawn_raw(children).await;
            spawn.0.push(children as f64 / took.as_secs_f64() / 1e6);
            drop(addrs);
            let (took, app) = spawn_supervised(children).await;
            spawn.1.push(children as f64 / took.as_secs_f64() / 1e6);
            app.send(Shutdown).await.unwrap();
        }
        table.row(&format!("3. spawn {children} children until every `started` ran"), Some(median(spawn.0)), median(spawn.1), "M actors/s", "≥ 0.60");

        let error: Vec<f64> = restart_latency(&handle, restarts, false).await.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        let panic: Vec<f64> = restart_latency(&handle, restarts, true).await.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        let pct = |mut v: Vec<f64>, p: f64| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v[((v.len() as f64 - 1.0) * p) as usize]
        };
        table.0.push(format!(
            "| 5. restart after an error exit, {restarts} restarts (failing message to the next answer) | n/a | p50 {:.2} µs, p99 {:.2} µs | – | p50 ≤ 2 µs |",
            pct(error.clone(), 0.5), pct(error, 0.99)
        ));
        table.0.push(format!(
            "| 5b. restart after a panic (hook silenced) | n/a | p50 {:.2} µs, p99 {:.2} µs | – | p50 ≤ 8 µs, p99 ≤ 20 µs |",
            pct(panic.clone(), 0.5), pct(panic, 0.99)
        ));

        let mut drain = (Vec::new(), Vec::new());
        let mut stop = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            drain.0.push(drain_raw(queued).await.as_secs_f64() * 1e3);
            drain.1.push(drain_supervised(queued).await.as_secs_f64() * 1e3);
            stop.0.push(stop_many_raw(children).await.as_secs_f64() * 1e3);
            stop.1.push(stop_many_supervised(children).await.as_secs_f64() * 1e3);
        }
        table.row(&format!("6. graceful stop of 1 child with {queued} queued messages (raw: drop every `Addr`)"), Some(median(drain.0)), median(drain.1), "ms", "≤ 1.5");
        table.row(&format!("7. stop {children} idle children (raw: drop every `Addr`)"), Some(median(stop.0)), median(stop.1), "ms", "≤ 2");

        let mut inspect = (Vec::new(), Vec::new());
        let mut size = 0;
        for _ in 0..ROUNDS {
            let (took, serialise, bytes) = inspect_tree(supervisors, per_supervisor).await;
            inspect.0.push(took.as_secs_f64() * 1e3);
            inspect.1.push(serialise.as_secs_f64() * 1e3);
            size = bytes;
        }
        let nodes = supervisors * per_supervisor + supervisors + 1;
        table.row(&format!("8. `Inspect` of {nodes} nodes ({supervisors} supervisors × {per_supervisor} children)"), None, median(inspect.0), "ms", "≤ 10 ms");
        table.row(&format!("8b. that snapshot to JSON ({size} bytes)"), None, median(inspect.1), "ms", "–");
        table
    });
    table.0.extend(memory_rows(children));
    println!("{}", table.0.join("\n"));
}

/// The memory row, measured in child processes.
fn memory_rows(children: usize) -> Vec<String> {
    let raw = memory_per_actor("raw", children);
    let sup = memory_per_actor("supervised", children);
    let text = |v: Option<u64>| v.map_or("not measured".to_string(), |b| format!("{b} B"));
    let ratio = match (raw, sup) {
        (Some(r), Some(s)) if r > 0 => format!("{:.2}", s as f64 / r as f64),
        _ => "–".into(),
    };
    vec![format!(
        "| 4. memory per child, RSS growth / {children} | {} | {} | {ratio} | ≤ 1,500 B |",
        text(raw),
        text(sup)
    )]
}
