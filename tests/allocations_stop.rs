//! What stopping children costs in allocations, held without timing: a
//! counting global allocator (this test binary's own) tallies the
//! allocations made on the test's thread while a supervisor stops its
//! children, from `Stop` until it answers.
//!
//! A stop waits for its children with one waker (no future, task or waker
//! registration per child), and the first `Stop` answered takes the
//! supervisor's report without a copy; a later `Stop` gets the same report,
//! made again from the children. See `docs/profiles/stop.md`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use actix::prelude::*;
use actix_supervisor::prelude::*;

/// Counts the allocations of the thread that turned counting on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static CALLS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            CALLS.with(|calls| calls.set(calls.get() + 1));
            BYTES.with(|total| total.set(total.get() + bytes as u64));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The allocations made on this thread while `work` runs: calls and bytes.
async fn allocations<T>(work: impl std::future::Future<Output = T>) -> (T, u64, u64) {
    let (calls, bytes) = (CALLS.with(Cell::get), BYTES.with(Cell::get));
    COUNTING.with(|counting| counting.set(true));
    let out = work.await;
    COUNTING.with(|counting| counting.set(false));
    (
        out,
        CALLS.with(Cell::get) - calls,
        BYTES.with(Cell::get) - bytes,
    )
}

#[derive(Default)]
struct Idle;
impl Actor for Idle {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Idle);

/// Starts `n` idle children under one supervisor, waits until each started,
/// then stops the supervisor: its report and the allocations of the stop.
async fn stop_idle(n: usize) -> (StopReport, u64, u64) {
    let specs: Vec<_> = (0..n)
        .map(|i| ChildSpec::new(format!("idle-{i}"), Idle::default))
        .collect();
    let handles: Vec<_> = specs.iter().map(ChildSpec::handle).collect();
    let app = specs
        .into_iter()
        .fold(SupervisorActor::builder("app"), SupervisorBuilder::child)
        .start()
        .unwrap();
    for handle in &handles {
        handle.started().await.unwrap();
    }
    let (report, calls, bytes) = allocations(app.send(Stop)).await;
    (report.unwrap(), calls, bytes)
}

/// Per child stopped: the drain marker (actix's envelope and queue node),
/// the runner's stop clock and the child's report, kept in its shared
/// state. The supervisor adds no future, task or waker per child, and
/// does not copy the report it answers with.
#[actix::test]
async fn stopping_a_child_costs_its_supervisor_no_allocation_of_its_own() {
    let (small, small_calls, small_bytes) = stop_idle(1_000).await;
    let (large, large_calls, large_bytes) = stop_idle(2_000).await;
    assert!(small.is_drained() && large.is_drained());
    assert_eq!(large.children.len(), 2_000);
    // The difference between the two stops is what 1,000 more children
    // cost: the supervisor's own allocations cancel out, those that grow
    // with the number of children (the report's list) are counted.
    let calls = (large_calls - small_calls) as f64 / 1_000.0;
    let bytes = (large_bytes - small_bytes) as f64 / 1_000.0;
    assert!(
        calls <= 4.05,
        "{calls} allocations per child stopped, more than the marker's two, \
         the stop clock and the report"
    );
    // 667 bytes per child on 2026-11-30 (a debug build; the marker, the
    // stop clock, the report, and the supervisor's lists of its children).
    // A copy of the supervisor's report would add a `StopReport` (120
    // bytes) per child; a boxed future and a task per child, 376.
    let report = std::mem::size_of::<StopReport>() as f64;
    assert!(
        bytes < 670.0 + 0.75 * report,
        "{bytes} bytes allocated per child stopped: is a report copied?"
    );
}

/// A nested supervisor, a child that failed and gave up, a child that
/// drained: what each child reported, rebuilt for a later `Stop`.
#[actix::test]
async fn a_later_stop_answers_the_same_report_as_the_first() {
    #[derive(Default)]
    struct Fails;
    impl Actor for Fails {
        type Context = Context<Self>;
        fn started(&mut self, ctx: &mut Context<Self>) {
            actix_supervisor::fail(ctx, "it cannot work");
        }
    }
    actix_supervisor::supervised!(Fails);

    let failing = ChildSpec::new("fails", Fails::default).restart(RestartPolicy::Never);
    let fails = failing.handle();
    let inner = SupervisorActor::builder("inner")
        .child(ChildSpec::new("deep", Idle::default))
        .child(failing);
    let idle = ChildSpec::new("idle", Idle::default);
    let idle_handle = idle.handle();
    let app = SupervisorActor::builder("app")
        .child(idle)
        .child(inner)
        .start()
        .unwrap();
    idle_handle.started().await.unwrap();
    fails.ended().await;

    let first = app.send(Stop).await.unwrap();
    let second = app.send(Stop).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first.children.len(), 2);
    let nested = first
        .find("/app/inner")
        .expect("the nested supervisor's report");
    assert_eq!(nested.children.len(), 2);
    assert!(matches!(
        first.find("/app/inner/fails").map(|r| &r.outcome),
        Some(StopOutcome::Failed(_))
    ));
}

/// Fails when asked to; counts what it handled.
#[derive(Default)]
struct Flaky(u64);
impl Actor for Flaky {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Flaky);

#[derive(Message)]
#[rtype(result = "()")]
struct Fail;
impl Handler<Fail> for Flaky {
    type Result = ();
    fn handle(&mut self, _: Fail, ctx: &mut Context<Self>) {
        actix_supervisor::fail(ctx, "asked to fail");
    }
}

#[derive(Message)]
#[rtype(result = "u64")]
struct Count;
impl Handler<Count> for Flaky {
    type Result = u64;
    fn handle(&mut self, _: Count, _: &mut Context<Self>) -> u64 {
        self.0 += 1;
        self.0
    }
}

/// `restarts` restarts after an error exit, each followed by a request that
/// the fresh incarnation answers: the allocations they made.
async fn restart(restarts: u64) -> (u64, u64) {
    let spec = ChildSpec::new("flaky", Flaky::default).restart(RestartPolicy::Always);
    let addr = spec.address();
    let _app = SupervisorActor::builder("app")
        .intensity(RestartIntensity::new(
            u32::MAX,
            std::time::Duration::from_secs(1),
        ))
        .child(spec)
        .start()
        .unwrap();
    addr.send(Count).await.unwrap();
    let ((), calls, bytes) = allocations(async {
        for _ in 0..restarts {
            addr.do_send(Fail);
            assert_eq!(addr.send(Count).await.unwrap(), 1, "a fresh value");
        }
    })
    .await;
    (calls, bytes)
}

/// Per restart after an error exit, with the request after it: actix's
/// two messages (an envelope and a queue node each, and the request's
/// reply channel: five), the failure's reason, and nothing for carrying the
/// fresh value to `restart_fresh` (its box is kept from one restart to the
/// next).
#[actix::test]
async fn a_restart_allocates_only_what_its_messages_and_its_failure_need() {
    let (few, _) = restart(100).await;
    let (many, _) = restart(200).await;
    let calls = (many - few) as f64 / 100.0;
    assert!(
        calls <= 6.05,
        "{calls} allocations per restart with its request"
    );
}

/// A child's report, awaited later.
type Ended = std::pin::Pin<Box<dyn std::future::Future<Output = StopReport>>>;

/// A supervisor's report lists its children in start order, each with the
/// report the child published, whether its end was noted during the
/// shutdown (its copy made then) or before it (the child had ended on its
/// own, and its report is read at the end), also once a child left the
/// middle of the table (the children's keys are no longer their places).
#[actix::test]
async fn a_stop_report_lists_each_childs_own_report_in_start_order() {
    #[derive(Default)]
    struct Fails;
    impl Actor for Fails {
        type Context = Context<Self>;
        fn started(&mut self, ctx: &mut Context<Self>) {
            actix_supervisor::fail(ctx, "it cannot work");
        }
    }
    actix_supervisor::supervised!(Fails);

    let mut builder = SupervisorActor::builder("app");
    let mut idle = Vec::new();
    // Each child's own report, and whether it stays in the table.
    let mut ended: Vec<(Ended, bool)> = Vec::new();
    for i in 0..6 {
        let name = format!("child-{i}");
        if i == 1 || i == 3 {
            // Both end on their own; the first leaves the table.
            let mut spec = ChildSpec::new(name, Fails::default).restart(RestartPolicy::Never);
            if i == 1 {
                spec = spec.remove_on_exit();
            }
            ended.push((Box::pin(spec.handle().ended()), i == 3));
            builder = builder.child(spec);
        } else {
            let spec = ChildSpec::new(name, Idle::default);
            let handle = spec.handle();
            ended.push((Box::pin(handle.ended()), true));
            idle.push(handle);
            builder = builder.child(spec);
        }
    }
    let app = builder.start().unwrap();
    for handle in &idle {
        handle.started().await.unwrap();
    }
    let mut listed = Vec::new();
    for (i, (end, kept)) in ended.into_iter().enumerate() {
        if i == 1 || i == 3 {
            // Ended before the stop: nothing notes it during it.
            let report = end.await;
            assert!(matches!(report.outcome, StopOutcome::Failed(_)));
            listed.push((None, Some(report), kept));
        } else {
            listed.push((Some(end), None, kept));
        }
    }
    // The first one's removal was queued to the supervisor before its
    // report was out: `Stop`, sent after it, finds it gone.
    let report = app.send(Stop).await.unwrap();
    let mut expected = Vec::new();
    for (end, report, kept) in listed {
        let report = match (end, report) {
            (Some(end), _) => end.await,
            (None, Some(report)) => report,
            (None, None) => unreachable!("each child has its report"),
        };
        if kept {
            expected.push(report);
        }
    }
    assert_eq!(report.children, expected);
    let names: Vec<String> = report
        .children
        .iter()
        .map(|child| child.path.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "/app/child-0",
            "/app/child-2",
            "/app/child-3",
            "/app/child-4",
            "/app/child-5"
        ]
    );
}
