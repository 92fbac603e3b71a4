//! Where a supervised child's memory goes: live heap bytes per child, by
//! allocation size, for 10,000 idle children, supervised and raw. A counting
//! global allocator tallies every allocation made while the children are
//! spawned and started (and not freed since).
//!
//! Run with `cargo run --release --example bench_allocations [raw]`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use actix::prelude::*;
use actix_supervisor::prelude::*;

#[path = "../benches/common/counter.rs"]
mod counter;
use counter::{Counter, Inc};

/// Live bytes in allocations of 16-byte size classes (the last: 1,008+).
static LIVE: [AtomicI64; 64] = [const { AtomicI64::new(0) }; 64];
static COUNTING: AtomicBool = AtomicBool::new(false);

struct CountingAllocator;

fn tally(layout: Layout, sign: i64) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE[(layout.size() / 16).min(63)]
            .fetch_add(sign * layout.size() as i64, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        tally(layout, 1);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        tally(layout, -1);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const CHILDREN: usize = 10_000;

fn main() {
    let raw = std::env::args().nth(1).as_deref() == Some("raw");
    actix::System::new().block_on(async move {
        COUNTING.store(true, Ordering::SeqCst);
        let addrs: Vec<Addr<Counter>> = if raw {
            (0..CHILDREN).map(|_| Counter::default().start()).collect()
        } else {
            let mut builder = SupervisorActor::builder("many");
            let mut addrs = Vec::with_capacity(CHILDREN);
            for i in 0..CHILDREN {
                let spec = ChildSpec::new(format!("c{i}"), Counter::default);
                addrs.push(spec.address());
                builder = builder.child(spec);
            }
            std::mem::forget(builder.start().expect("a valid tree"));
            addrs
        };
        for addr in &addrs {
            addr.send(Inc).await.expect("every child answers");
        }
        COUNTING.store(false, Ordering::SeqCst);
        let kind = if raw { "raw actix" } else { "supervised" };
        println!("live heap bytes per child ({kind}, {CHILDREN} children), by allocation size:");
        let mut total = 0;
        for (class, bytes) in LIVE.iter().enumerate() {
            let bytes = bytes.load(Ordering::SeqCst);
            if bytes.unsigned_abs() as usize >= CHILDREN {
                let per_child = bytes as f64 / CHILDREN as f64;
                println!(
                    "  {:>5}..{:<5} B: {per_child:>7.1}",
                    class * 16,
                    class * 16 + 15
                );
            }
            total += bytes;
        }
        println!("  total:         {:>7.1}", total as f64 / CHILDREN as f64);
    });
}
