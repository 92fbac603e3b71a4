//! Allocations per spawned child, counted by a global allocator of this test
//! binary alone (the integration suite in `tests/it/` is one crate and must
//! not count its own allocations).
//!
//! What a supervised child costs at spawn is decided by its structures, not
//! by the machine: each block allocated per child costs a `malloc` and its
//! memory. These tests hold the counts measured when the spawn path was
//! trimmed (issue 17, `docs/profiles/spawn.md`), so that an allocation added
//! per child fails here rather than showing up later as a slower benchmark.
//! The counts are exact for the library (they do not depend on timing): a
//! tree of `2n` children minus a tree of `n`, divided by `n`, so that what
//! one supervisor allocates once cancels out.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use actix_supervisor::prelude::*;
use tokio::sync::Notify;

/// Counts the allocations (and reallocations) and frees made on the thread
/// that turned counting on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static FREES: Cell<usize> = const { Cell::new(0) };
}

fn count(counter: &'static std::thread::LocalKey<Cell<usize>>) {
    // `try_with`: the thread-locals may be gone while a thread exits.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = counter.try_with(|n| n.set(n.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(&ALLOCATIONS);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(&ALLOCATIONS);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(&ALLOCATIONS);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(&FREES);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Counts its `started`; notifies once every child started.
struct Tracker {
    started: Arc<Countdown>,
}

impl Actor for Tracker {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.started.hit();
    }
}
actix_supervisor::supervised!(Tracker);

struct Countdown {
    hits: AtomicUsize,
    target: usize,
    done: Notify,
}

impl Countdown {
    fn hit(&self) {
        if self.hits.fetch_add(1, Ordering::SeqCst) + 1 == self.target {
            self.done.notify_one();
        }
    }
}

/// Allocations and frees made on this thread while a supervisor of `n`
/// children is built and started, until every child's `started` ran. The
/// names are made before counting starts (a caller's names are its own
/// cost), and the supervisor is kept alive until the count is read.
fn spawn_counts(n: usize) -> (usize, usize) {
    actix::System::new().block_on(async move {
        let started = Arc::new(Countdown {
            hits: AtomicUsize::new(0),
            target: n,
            done: Notify::new(),
        });
        let names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        // Grown before counting: the run queue keeps its capacity.
        warm_up(n).await;
        ALLOCATIONS.with(|a| a.set(0));
        FREES.with(|f| f.set(0));
        COUNTING.with(|on| on.set(true));
        let mut builder = SupervisorActor::builder("many");
        for name in names {
            let started = started.clone();
            builder = builder.child(ChildSpec::new(name, move || Tracker {
                started: started.clone(),
            }));
        }
        let app = builder.start().expect("a valid tree");
        started.done.notified().await;
        COUNTING.with(|on| on.set(false));
        let counts = (ALLOCATIONS.with(Cell::get), FREES.with(Cell::get));
        std::mem::forget(app);
        counts
    })
}

/// Spawns and drops `n` plain tasks, so that the runtime's queues have grown
/// to hold `n` before anything is counted.
async fn warm_up(n: usize) {
    let tasks: Vec<_> = (0..n).map(|_| actix_rt::spawn(async {})).collect();
    for task in tasks {
        task.await.expect("an empty task ends");
    }
}

/// Per child: the difference between a tree of `2n` children and one of
/// `n`, divided by `n`. Vectors grown by doubling add a fraction (one more
/// growth per doubling of `n`), so the figures are rounded down.
fn per_child() -> (f64, f64) {
    let n = 512;
    let (allocations_n, frees_n) = spawn_counts(n);
    let (allocations_2n, frees_2n) = spawn_counts(2 * n);
    (
        (allocations_2n - allocations_n) as f64 / n as f64,
        (frees_2n.saturating_sub(frees_n)) as f64 / n as f64,
    )
}

/// A supervised child is spawned with at most 12 allocations, against 8 for
/// a plain actix actor: actix's mailbox (5), the tokio task (1), the spec's
/// shared state (1) and the factory's box (1) as for any actor with
/// handles, and the library's own: the spec's block (1), which its runner
/// keeps as its core, the child's path (1), its link (1) and the weak typed
/// address kept for handles asked for by path (1). One block is freed: the
/// caller's `String` of the name, whose text the shared state keeps inline
/// (names up to 24 bytes), so that the block is given back at once and the
/// next name reuses it, instead of staying allocated for the child's life.
/// Before issue 17's spawn work it took 15 allocations and 3 frees: moving
/// the spec's `Addr` into the runner instead of cloning it saved two (actix
/// allocates twice per clone of an address), and keeping the spec's block
/// as the runner's core instead of freeing it and allocating a core saved
/// one and a free.
#[test]
fn a_spawned_child_costs_at_most_twelve_allocations_and_one_free() {
    let (allocations, frees) = per_child();
    assert!(
        allocations < 12.5,
        "{allocations:.2} allocations per spawned child, more than 12"
    );
    assert!(
        frees < 1.5,
        "{frees:.2} frees per spawned child, more than one"
    );
}
