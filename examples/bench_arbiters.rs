//! Measures what placing a subtree on another arbiter buys: a tree of
//! CPU-heavy children, all on one arbiter, against the same tree with half
//! of it (one nested supervisor) placed on a second arbiter with
//! `SupervisorBuilder::on_arbiter`.
//!
//! Each repetition runs in a fresh process (this program re-executed with
//! `--child <arbiters> <scale>`, printing one `bench_result` line); the two
//! layouts are interleaved round-robin (one, two, one, two, …); the table
//! gives medians with min–max and the speedup (the ratio of the medians).
//!
//! Run it with `cargo run --release --example bench_arbiters`.
//! `BENCH_SCALE` (default 1) scales the work (`BENCH_SCALE=0.05` runs in a
//! few seconds, the CI smoke), `BENCH_REPS` (default 5) the repetitions per
//! layout. Wall-clock figures on a shared machine move with its load.

use std::process::Command;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_supervisor::prelude::*;

/// Children per subtree, and the two subtrees.
const CHILDREN_PER_SUBTREE: usize = 4;
/// Work messages sent to each child.
const MESSAGES_PER_CHILD: usize = 8;
/// Rounds of arithmetic per message at scale 1 (some 10 ms of CPU).
const ROUNDS_PER_MESSAGE: u64 = 10_000_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A child whose handler only computes.
#[derive(Default)]
struct Cruncher;

impl Actor for Cruncher {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Cruncher);

/// Computes `0` rounds of a xorshift; answers the result.
#[derive(Message)]
#[rtype(result = "u64")]
struct Crunch(u64);

impl Handler<Crunch> for Cruncher {
    type Result = u64;
    fn handle(&mut self, Crunch(rounds): Crunch, _: &mut Context<Self>) -> u64 {
        let mut x = std::hint::black_box(0x9E37_79B9_7F4A_7C15_u64);
        for _ in 0..rounds {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        x
    }
}

/// One subtree of crunchers, and the handles of its children.
fn subtree(name: &str) -> (SupervisorBuilder, Vec<ChildHandle<Cruncher>>) {
    let mut builder = SupervisorActor::builder(name);
    let mut handles = Vec::new();
    for i in 0..CHILDREN_PER_SUBTREE {
        let spec = ChildSpec::new(format!("cruncher-{i}"), Cruncher::default);
        handles.push(spec.handle());
        builder = builder.child(spec);
    }
    (builder, handles)
}

/// In a fresh process: builds the tree on `arbiters` arbiters (1 or 2),
/// runs the work, stops the tree, and prints the seconds the work took.
fn child(arbiters: usize, scale: f64) {
    let rounds = ((ROUNDS_PER_MESSAGE as f64 * scale) as u64).max(1);
    System::new().block_on(async move {
        let other = Arbiter::new();
        let (left, mut handles) = subtree("left");
        let (right, right_handles) = subtree("right");
        handles.extend(right_handles);
        let right = if arbiters == 2 {
            right.on_arbiter(other.handle())
        } else {
            right
        };
        let app = SupervisorActor::builder("app")
            .child(left)
            .child(right)
            .start()
            .expect("a valid tree");
        // Every child answers once before the clock starts.
        for handle in &handles {
            handle.send(Crunch(1)).await.expect("started");
        }
        let began = Instant::now();
        let work = handles
            .iter()
            .flat_map(|handle| (0..MESSAGES_PER_CHILD).map(move |_| handle.send(Crunch(rounds))));
        for reply in futures_util::future::join_all(work).await {
            reply.expect("handled");
        }
        let took = began.elapsed();
        let report = app.send(Stop).await.expect("the tree answers");
        assert!(report.is_drained(), "{report:?}");
        other.stop();
        println!("bench_result {}", took.as_secs_f64());
    });
}

fn run_child(arbiters: usize, scale: f64) -> Duration {
    let exe = std::env::current_exe().expect("this program");
    let output = Command::new(exe)
        .args(["--child", &arbiters.to_string(), &scale.to_string()])
        .output()
        .expect("the child process runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let secs: f64 = stdout
        .lines()
        .find_map(|line| line.strip_prefix("bench_result "))
        .and_then(|s| s.trim().parse().ok())
        .expect("a bench_result line");
    Duration::from_secs_f64(secs)
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let arbiters = args[2].parse().expect("1 or 2");
        let scale = args[3].parse().expect("a scale");
        return child(arbiters, scale);
    }
    let scale: f64 = env_or("BENCH_SCALE", 1.0);
    let reps: usize = env_or("BENCH_REPS", 5).max(1);
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        one.push(run_child(1, scale));
        two.push(run_child(2, scale));
    }
    let (one_min, one_max) = (*one.iter().min().unwrap(), *one.iter().max().unwrap());
    let (two_min, two_max) = (*two.iter().min().unwrap(), *two.iter().max().unwrap());
    let (one_median, two_median) = (median(&mut one), median(&mut two));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{} children × {MESSAGES_PER_CHILD} CPU-bound messages, BENCH_SCALE={scale}, {reps} repetitions per layout, \
         each in a fresh process, interleaved; {cores} cores, load average {}",
        2 * CHILDREN_PER_SUBTREE,
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!();
    println!("| layout | median ms | min–max ms |");
    println!("|---|---|---|");
    println!(
        "| one arbiter | {} | {}–{} |",
        ms(one_median),
        ms(one_min),
        ms(one_max)
    );
    println!(
        "| two arbiters (`on_arbiter`) | {} | {}–{} |",
        ms(two_median),
        ms(two_min),
        ms(two_max)
    );
    println!();
    println!(
        "speedup (one / two, medians): {:.2}×",
        one_median.as_secs_f64() / two_median.as_secs_f64()
    );
}
