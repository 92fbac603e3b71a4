//! One-shot jobs through a dynamic pool, as a service that runs a job per
//! request for a week would: 1,000,000 jobs through a [`Pool`] of at most
//! 100 concurrent children, each child built from the template with its
//! job's arguments, doing its work in `started` and ending itself.
//!
//! Beside resident memory it counts the heap bytes in use (a counting
//! global allocator): resident memory also holds what the allocator keeps
//! for reuse, the heap count only what the program holds.
//!
//! It checks what issue 18 asks of such a service: resident memory after
//! the run within 10% of what it was after the first 10,000 jobs (the
//! table, the snapshot and the memory follow the live children, not the
//! history), and `Inspect` of the pool listing only the live children
//! (polled every 1,000 jobs from the first, as an operator's view would:
//! never more than are in flight, none after the run). It prints the
//! figures and exits with status 1 when a check fails.
//!
//! It also prints what the resident memory is made of: file-backed pages
//! (the program's code) and anonymous ones, and glibc's own account of its
//! heap (`mallinfo2`: the arena it took from the system, the bytes in use
//! and the free bytes it keeps). The polling matters to glibc's arena: each
//! snapshot is one block of about 45 KB among the jobs' small blocks, and
//! the heap grows a few times until it has room for it. Polled from the
//! first job, it has room by the checkpoint; sampled only after it
//! (`BENCH_POLL_EVERY=100000`), that growth shows as +20%. See
//! `docs/pool.md`.
//!
//! Beside it, in a fresh process of its own (this program run again with
//! `--raw`), the same jobs run as plain actix actors, each started with
//! `Actor::start` and awaited through a oneshot sent from its `stopped`:
//! raw actix's resident memory over the same million jobs, the baseline.
//!
//! Run it with `cargo run --release --example bench_pool`. `BENCH_SCALE`
//! (default 1) scales the number of jobs: `BENCH_SCALE=0.02` (20,000 jobs,
//! a few seconds) is the CI smoke.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_supervisor::pool::Pool;
use actix_supervisor::prelude::*;
use futures_util::stream::{FuturesUnordered, StreamExt};

/// The most children the pool runs at once.
const MAX_CHILDREN: usize = 100;
/// The jobs after which the first memory figure is taken.
const CHECKPOINT: u64 = 10_000;
/// An operator's view of the pool: `Inspect` every this many jobs, from
/// the first job to the last (at this benchmark's rate, about every 30 ms).
/// `BENCH_POLL_EVERY` sets another interval; 0 turns the polling off.
const POLL_EVERY: u64 = 1_000;

/// What the jobs share: the total they add to, and how many run.
#[derive(Default)]
struct Tally {
    total: AtomicU64,
    live: AtomicU64,
    most_live: AtomicU64,
}

/// A one-shot job: starts, waits 1 ms (its "I/O", during which the other
/// jobs run), adds its argument to the total, and ends.
struct Job {
    n: u64,
    tally: Arc<Tally>,
}

impl Actor for Job {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        let live = self.tally.live.fetch_add(1, Ordering::Relaxed) + 1;
        self.tally.most_live.fetch_max(live, Ordering::Relaxed);
        ctx.spawn(
            actix::fut::wrap_future::<_, Self>(tokio::time::sleep(Duration::from_millis(1))).map(
                |(), job, ctx| {
                    job.tally.total.fetch_add(job.n, Ordering::Relaxed);
                    ctx.stop(); // done: the child leaves the pool
                },
            ),
        );
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.tally.live.fetch_sub(1, Ordering::Relaxed);
    }
}
actix_supervisor::supervised!(Job);

/// Heap bytes allocated and not freed.
static HEAP_IN_USE: AtomicI64 = AtomicI64::new(0);
/// The most heap bytes in use at any moment so far.
static HEAP_PEAK: AtomicI64 = AtomicI64::new(0);

fn count(delta: i64) {
    let now = HEAP_IN_USE.fetch_add(delta, Ordering::Relaxed) + delta;
    HEAP_PEAK.fetch_max(now, Ordering::Relaxed);
}

/// The system allocator, counting the bytes in use.
struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as i64));
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as i64 - layout.size() as i64);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn heap_in_use() -> u64 {
    HEAP_IN_USE.load(Ordering::Relaxed).max(0) as u64
}

fn heap_peak() -> u64 {
    HEAP_PEAK.load(Ordering::Relaxed).max(0) as u64
}

/// Resident set size of this process, from `/proc/self/statm` (0 where it
/// cannot be read).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// `RssAnon`, `RssFile` and `RssShmem` of `/proc/self/status`, in bytes.
fn resident_split() -> [u64; 3] {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    [field("RssAnon:"), field("RssFile:"), field("RssShmem:")]
}

/// glibc's `struct mallinfo2`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

extern "C" {
    fn mallinfo2() -> MallInfo2;
}

fn mallinfo() -> MallInfo2 {
    // SAFETY: mallinfo2 takes no argument and returns a plain struct.
    unsafe { mallinfo2() }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    let scale: f64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let jobs = ((1_000_000.0 * scale) as u64).max(2 * CHECKPOINT);
    if std::env::args().nth(1).as_deref() == Some("--raw") {
        actix::System::new().block_on(run_raw(jobs));
        return;
    }
    let ok = actix::System::new().block_on(run(jobs));
    let raw = std::process::Command::new(std::env::current_exe().expect("this program's path"))
        .arg("--raw")
        .output()
        .expect("this program runs again as the raw baseline");
    print!("{}", String::from_utf8_lossy(&raw.stdout));
    if !ok || !raw.status.success() {
        std::process::exit(1);
    }
}

/// A job as a plain actix actor: the same work as [`Job`], its end told
/// through `done`.
struct RawJob {
    n: u64,
    total: Arc<AtomicU64>,
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Actor for RawJob {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.spawn(
            actix::fut::wrap_future::<_, Self>(tokio::time::sleep(Duration::from_millis(1))).map(
                |(), job, ctx| {
                    job.total.fetch_add(job.n, Ordering::Relaxed);
                    ctx.stop();
                },
            ),
        );
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

/// The same jobs as [`run`], at most [`MAX_CHILDREN`] at once, as plain
/// actix actors: prints raw actix's resident memory after the checkpoint
/// and after the run.
async fn run_raw(jobs: u64) {
    let total = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    let mut running = FuturesUnordered::new();
    let (mut started, mut ended) = (0u64, 0u64);
    let (mut rss_at_checkpoint, mut rss_samples) = (0u64, Vec::new());
    while ended < jobs {
        while started < jobs && running.len() < MAX_CHILDREN {
            started += 1;
            let (done, finished) = tokio::sync::oneshot::channel();
            RawJob {
                n: started,
                total: total.clone(),
                done: Some(done),
            }
            .start();
            running.push(finished);
        }
        running
            .next()
            .await
            .expect("a job runs")
            .expect("every job tells its end");
        ended += 1;
        if ended == CHECKPOINT {
            rss_at_checkpoint = resident_bytes();
        }
        if ended % (jobs / 10) == 0 {
            rss_samples.push(mb(resident_bytes()));
        }
    }
    let elapsed = began.elapsed();
    let rss_after = resident_bytes();
    assert_eq!(total.load(Ordering::Relaxed), jobs * (jobs + 1) / 2);
    println!(
        "raw actix, the same jobs in a fresh process: {:.0} jobs/s; resident memory {:.1} MB after {CHECKPOINT} jobs, {:.1} MB after {jobs} ({:+.1}%); every {} jobs, MB: {rss_samples:.1?}",
        jobs as f64 / elapsed.as_secs_f64(),
        mb(rss_at_checkpoint),
        mb(rss_after),
        (rss_after as f64 / rss_at_checkpoint.max(1) as f64 - 1.0) * 100.0,
        jobs / 10
    );
}

async fn run(jobs: u64) -> bool {
    let tally = Arc::new(Tally::default());
    let shared = tally.clone();
    let pool = Pool::builder("jobs", move |n: &u64| Job {
        n: *n,
        tally: shared.clone(),
    })
    .max_children(MAX_CHILDREN)
    .start()
    .expect("a valid pool");

    let began = Instant::now();
    let mut running = FuturesUnordered::new();
    let (mut started, mut ended, mut refused) = (0u64, 0u64, 0u64);
    let mut retry = Vec::new();
    let (mut rss_at_checkpoint, mut most_listed) = (0u64, 0usize);
    let poll_every: u64 = std::env::var("BENCH_POLL_EVERY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(POLL_EVERY);
    // Polls of the pool, and those that listed more children than were in
    // flight (jobs started and not yet ended).
    let (mut polls, mut over) = (0u64, Vec::new());
    // Resident memory at each sample, MB.
    let mut rss_samples = Vec::new();
    let mut heap_at_checkpoint = 0u64;
    let mut peak_at_checkpoint = 0u64;
    let mut split_at_checkpoint = [0u64; 3];
    let mut mall_at_checkpoint = None;
    // The most heap in use so far, at each sample.
    let mut peak_samples = Vec::new();
    // Heap bytes in use at each sample (about 100 jobs in flight).
    let mut heap_samples = Vec::new();
    while ended < jobs {
        // Up to `MAX_CHILDREN` jobs in flight, their starts sent at once.
        while (started < jobs || !retry.is_empty()) && running.len() < MAX_CHILDREN {
            let n = retry.pop().unwrap_or_else(|| {
                started += 1;
                started
            });
            let start = pool.start(n);
            running.push(async move {
                match start.await {
                    Ok(job) => (n, Ok(job.ended().await)),
                    Err(err) => (n, Err(err)),
                }
            });
        }
        let report = match running.next().await.expect("a job runs") {
            (_, Ok(report)) => report,
            (n, Err(ControlError::Full { .. })) => {
                // Refused: it runs later.
                refused += 1;
                retry.push(n);
                continue;
            }
            (_, Err(other)) => panic!("the pool refused a job: {other}"),
        };
        assert!(report.is_drained(), "{report:?}");
        ended += 1;
        if ended == CHECKPOINT {
            rss_at_checkpoint = resident_bytes();
            heap_at_checkpoint = heap_in_use();
            peak_at_checkpoint = heap_peak();
            split_at_checkpoint = resident_split();
            mall_at_checkpoint = Some(mallinfo());
        }
        if poll_every > 0 && ended % poll_every == 0 {
            let listed = pool
                .supervisor()
                .send(Inspect)
                .await
                .expect("the pool answers")
                .root
                .children
                .len();
            polls += 1;
            most_listed = most_listed.max(listed);
            if listed > running.len() {
                over.push((listed, running.len()));
            }
        }
        if ended % (jobs / 10) == 0 {
            rss_samples.push(mb(resident_bytes()));
            heap_samples.push(heap_in_use());
            peak_samples.push(heap_peak());
        }
    }
    let elapsed = began.elapsed();
    let rss_after = resident_bytes();
    let heap_after = heap_in_use();
    let listed_after = pool
        .supervisor()
        .send(Inspect)
        .await
        .expect("the pool answers")
        .root
        .children
        .len();
    let report = pool
        .supervisor()
        .send(Stop)
        .await
        .expect("the pool answers");

    let expected_total = jobs * (jobs + 1) / 2;
    let growth = rss_after as f64 / rss_at_checkpoint.max(1) as f64 - 1.0;
    println!("jobs: {jobs} through a pool of at most {MAX_CHILDREN} children");
    println!(
        "time: {:.2} s, {:.0} jobs/s",
        elapsed.as_secs_f64(),
        jobs as f64 / elapsed.as_secs_f64()
    );
    println!(
        "resident memory: {:.1} MB after {CHECKPOINT} jobs, {:.1} MB after {jobs} ({:+.1}%)",
        mb(rss_at_checkpoint),
        mb(rss_after),
        growth * 100.0
    );
    println!(
        "resident memory every {} jobs, MB: {rss_samples:.1?}",
        jobs / 10
    );
    println!(
        "heap in use: {heap_at_checkpoint} bytes after {CHECKPOINT} jobs; every {} jobs: {heap_samples:?}; {heap_after} after the run",
        jobs / 10
    );
    println!(
        "resident split (anon, file, shmem): {split_at_checkpoint:?} after {CHECKPOINT} jobs, {:?} after the run",
        resident_split()
    );
    println!(
        "mallinfo2: {mall_at_checkpoint:?} after {CHECKPOINT} jobs, {:?} after the run",
        mallinfo()
    );
    println!(
        "heap peak: {peak_at_checkpoint} bytes by {CHECKPOINT} jobs; by every {} jobs: {peak_samples:?}",
        jobs / 10
    );
    println!(
        "concurrent children: at most {} live at once",
        tally.most_live.load(Ordering::Relaxed)
    );
    println!(
        "Inspect: {polls} polls (every {poll_every} jobs), at most {most_listed} children listed, {} listing more than were in flight {over:?}; {listed_after} after the run",
        over.len()
    );
    println!(
        "starts refused as full: {refused}; stop: {:?}",
        report.outcome
    );

    let mut ok = true;
    let mut check = |what: &str, holds: bool| {
        println!("check: {what}: {}", if holds { "ok" } else { "FAILED" });
        ok &= holds;
    };
    check(
        "every job ran once",
        tally.total.load(Ordering::Relaxed) == expected_total,
    );
    check("memory within 10% of the checkpoint", growth <= 0.10);
    check(
        "at most max_children jobs ran at once",
        tally.most_live.load(Ordering::Relaxed) <= MAX_CHILDREN as u64,
    );
    check(
        "Inspect lists only live children",
        over.is_empty() && listed_after == 0,
    );
    check("the pool stopped drained", report.is_drained());
    ok
}
