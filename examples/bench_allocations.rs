//! Where a child's memory and allocator work go, supervised and raw: a
//! counting global allocator tallies, per child, the allocations made while
//! children are spawned until every `started` ran (calls, bytes, and the
//! bytes still live afterwards, by size class), then while they are stopped
//! (supervised: `Stop` to the supervisor until it answers; raw: drop every
//! `Addr` until every `stopped` ran). The scenarios are those of
//! `bench_report` (`benches/common/scenarios.rs`).
//!
//! Run with `cargo run --release --example bench_allocations [raw] [children]`
//! (default: supervised, 10,000 children).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use actix_supervisor::prelude::*;

#[path = "../benches/common/counter.rs"]
mod counter;
#[path = "../benches/common/scenarios.rs"]
mod scenarios;

/// Size classes of 16 bytes (the last: 1,008 bytes and more).
const CLASSES: usize = 64;

/// What the allocator saw while counting.
struct Tally {
    /// Live bytes by size class (allocated minus freed).
    live: [AtomicI64; CLASSES],
    /// Allocation calls by size class.
    calls: [AtomicI64; CLASSES],
    frees: AtomicI64,
    reallocs: AtomicI64,
    bytes: AtomicI64,
}

static TALLY: Tally = Tally {
    live: [const { AtomicI64::new(0) }; CLASSES],
    calls: [const { AtomicI64::new(0) }; CLASSES],
    frees: AtomicI64::new(0),
    reallocs: AtomicI64::new(0),
    bytes: AtomicI64::new(0),
};
static COUNTING: AtomicBool = AtomicBool::new(false);

fn class(size: usize) -> usize {
    (size / 16).min(CLASSES - 1)
}

fn on_alloc(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        TALLY.live[class(size)].fetch_add(size as i64, Ordering::Relaxed);
        TALLY.calls[class(size)].fetch_add(1, Ordering::Relaxed);
        TALLY.bytes.fetch_add(size as i64, Ordering::Relaxed);
    }
}

fn on_free(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        TALLY.live[class(size)].fetch_sub(size as i64, Ordering::Relaxed);
        TALLY.frees.fetch_add(1, Ordering::Relaxed);
    }
}

struct CountingAllocator;

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        on_free(layout.size());
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            TALLY.reallocs.fetch_add(1, Ordering::Relaxed);
        }
        on_free(layout.size());
        on_alloc(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn reset() {
    for i in 0..CLASSES {
        TALLY.live[i].store(0, Ordering::SeqCst);
        TALLY.calls[i].store(0, Ordering::SeqCst);
    }
    TALLY.frees.store(0, Ordering::SeqCst);
    TALLY.reallocs.store(0, Ordering::SeqCst);
    TALLY.bytes.store(0, Ordering::SeqCst);
}

/// Prints the tally of one phase, per child.
fn print_phase(phase: &str, children: usize, live: bool) {
    let per = |v: i64| v as f64 / children as f64;
    let calls: i64 = TALLY.calls.iter().map(|c| c.load(Ordering::SeqCst)).sum();
    println!(
        "{phase}: per child {:.2} allocations ({:.2} of them reallocs), {:.2} frees, {:.1} bytes allocated",
        per(calls),
        per(TALLY.reallocs.load(Ordering::SeqCst)),
        per(TALLY.frees.load(Ordering::SeqCst)),
        per(TALLY.bytes.load(Ordering::SeqCst)),
    );
    println!("  size class | allocations per child | live bytes per child");
    let mut total = 0;
    for i in 0..CLASSES {
        let (c, l) = (
            TALLY.calls[i].load(Ordering::SeqCst),
            TALLY.live[i].load(Ordering::SeqCst),
        );
        total += l;
        // Only classes that reach one allocation per child, or (for a
        // phase whose live bytes are shown) one live byte per child.
        if c.unsigned_abs() as usize >= children || (live && l.unsigned_abs() as usize >= children)
        {
            let live = if live {
                format!("{:.1}", per(l))
            } else {
                "–".into()
            };
            println!(
                "  {:>5}..{:<5} | {:>6.2} | {live:>7}",
                i * 16,
                i * 16 + 15,
                per(c)
            );
        }
    }
    if live {
        println!("  live heap bytes per child, total: {:.1}", per(total));
    }
}

fn main() {
    let raw = std::env::args().any(|a| a == "raw");
    let children: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let kind = if raw { "raw actix" } else { "supervised" };
    println!("{kind}, {children} children");
    actix::System::new().block_on(async move {
        reset();
        COUNTING.store(true, Ordering::SeqCst);
        if raw {
            let (_, addrs, stopped) = scenarios::spawn_raw(children).await;
            COUNTING.store(false, Ordering::SeqCst);
            print_phase("spawn until every `started` ran", children, true);
            reset();
            COUNTING.store(true, Ordering::SeqCst);
            drop(addrs);
            stopped.wait().await;
        } else {
            let (_, app) = scenarios::spawn_ours(children).await;
            COUNTING.store(false, Ordering::SeqCst);
            print_phase("spawn until every `started` ran", children, true);
            reset();
            COUNTING.store(true, Ordering::SeqCst);
            let report = app.send(Stop).await.expect("the supervisor answers");
            assert!(report.is_drained());
            drop(report);
        }
        COUNTING.store(false, Ordering::SeqCst);
        print_phase("stop (the report dropped)", children, false);
        std::process::exit(0);
    });
}
