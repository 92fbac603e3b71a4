//! Attacks from outside, with the public API only, on promises that had not
//! been attacked before: requesters of `ChildFuture` replies that give up
//! half-way; control messages sent from other OS threads to a child that
//! waits for its dependencies or sits in a backoff; slow event readers of
//! subtrees on other arbiters during restart storms; pools with
//! `max_children` raced from several threads.
//!
//! Each test asserts a promise of the README, `docs/` or the rustdoc. A test
//! marked `#[ignore = "defect: ..."]` shows a promise broken today; it is
//! kept so that the fix can be proved by removing the mark.
//!
//! Tests on one thread run under paused time. Tests that involve other OS
//! threads run on the real clock (the paused clock would jump over timers
//! while a message is in flight from another thread) and wait only on
//! replies, handles, reports and events; every await is bounded.

use crate::common;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::{
    snapshot::NodeState, testkit, Backoff, ChildFuture, ChildSpec, Grace, Kill, RestartChild,
    RestartPolicy, SendError, Stop, StopChild, StopOutcome, StopReport, SupervisorActor,
};
use common::*;

// ---------------------------------------------------------------------------
// Helpers.

/// Runs the future `make` builds on a new OS thread (with a runtime of its
/// own) and hands its output back.
fn on_other_thread<F, T>(
    make: impl FnOnce() -> F + Send + 'static,
) -> tokio::sync::oneshot::Receiver<T>
where
    F: Future<Output = T>,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the other thread");
        let _ = tx.send(runtime.block_on(make()));
    });
    rx
}

/// Awaits what [`on_other_thread`] hands back, within the hang guard.
async fn joined<T>(rx: tokio::sync::oneshot::Receiver<T>) -> T {
    within(rx)
        .await
        .expect("the other thread ended without an answer")
}

/// Every message a handle accepted is counted exactly once.
fn accounted(report: &StopReport) -> u64 {
    report.drained + report.undelivered + report.cancelled
}

// ---------------------------------------------------------------------------
// 1. `ChildFuture` replies whose requester gives up.

/// How long a fetch's I/O takes.
const IO: Duration = Duration::from_millis(100);
/// The fetcher's grace: longer than the I/O.
const GRACE: Duration = Duration::from_secs(1);

/// What the fetchers did, across incarnations.
#[derive(Default, Clone)]
struct Counts {
    /// Fetch handlers called.
    begun: Arc<AtomicU64>,
    /// Fetch futures that ran to their end.
    done: Arc<AtomicU64>,
    /// `Apply` messages handled.
    applied: Arc<AtomicU64>,
}

impl Counts {
    fn begun(&self) -> u64 {
        self.begun.load(Ordering::SeqCst)
    }
    fn done(&self) -> u64 {
        self.done.load(Ordering::SeqCst)
    }
    fn applied(&self) -> u64 {
        self.applied.load(Ordering::SeqCst)
    }
}

struct Fetcher {
    counts: Counts,
}

impl Actor for Fetcher {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Fetcher);

/// Fetches after `delay` (forever if `None`), then panics if asked to.
#[derive(Message, Clone, Copy)]
#[rtype(result = "u64")]
struct Fetch {
    delay: Option<Duration>,
    panic: bool,
}

impl Fetch {
    fn after(delay: Duration) -> Self {
        Fetch {
            delay: Some(delay),
            panic: false,
        }
    }
    fn forever() -> Self {
        Fetch {
            delay: None,
            panic: false,
        }
    }
    fn panicking(delay: Duration) -> Self {
        Fetch {
            delay: Some(delay),
            panic: true,
        }
    }
}

impl Handler<Fetch> for Fetcher {
    type Result = ChildFuture<u64>;
    fn handle(&mut self, fetch: Fetch, _: &mut Context<Self>) -> Self::Result {
        self.counts.begun.fetch_add(1, Ordering::SeqCst);
        let done = self.counts.done.clone();
        ChildFuture::new(async move {
            match fetch.delay {
                Some(delay) => tokio::time::sleep(delay).await,
                None => std::future::pending().await,
            }
            if fetch.panic {
                panic!("the orphaned fetch broke");
            }
            done.fetch_add(1, Ordering::SeqCst)
        })
    }
}

/// Makes the mailbox wait (`ctx.wait`) until the gate opens.
#[derive(Message)]
#[rtype(result = "()")]
struct Block(Gate);

impl Handler<Block> for Fetcher {
    type Result = ();
    fn handle(&mut self, Block(gate): Block, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future::<_, Self>(gate.passed()));
    }
}

/// The pattern `docs/async_handlers.md` gives for work that must update the
/// actor after the await: the future sends the actor a message.
#[derive(Message)]
#[rtype(result = "u64")]
struct FetchThenApply;

#[derive(Message)]
#[rtype(result = "()")]
struct Apply;

impl Handler<FetchThenApply> for Fetcher {
    type Result = ChildFuture<u64>;
    fn handle(&mut self, _: FetchThenApply, ctx: &mut Context<Self>) -> Self::Result {
        self.counts.begun.fetch_add(1, Ordering::SeqCst);
        let me = ctx.address();
        let done = self.counts.done.clone();
        ChildFuture::new(async move {
            tokio::time::sleep(IO).await;
            let applied = me.send(Apply).await.is_ok();
            done.fetch_add(1, Ordering::SeqCst);
            u64::from(applied)
        })
    }
}

impl Handler<Apply> for Fetcher {
    type Result = ();
    fn handle(&mut self, _: Apply, _: &mut Context<Self>) {
        self.counts.applied.fetch_add(1, Ordering::SeqCst);
    }
}

fn fetcher(counts: &Counts) -> ChildSpec<Fetcher> {
    let counts = counts.clone();
    ChildSpec::new("fetcher", move || Fetcher {
        counts: counts.clone(),
    })
    .grace(Grace::Duration(GRACE))
}

#[actix_rt::test]
async fn a_child_future_whose_requester_gave_up_half_way_runs_to_its_end_before_the_stop_answers() {
    tokio::time::pause();
    let counts = Counts::default();
    let spec = fetcher(&counts);
    let fetcher = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    // The requester gives up while the future is half-way through its I/O.
    let gave_up = tokio::time::timeout(IO / 2, fetcher.send(Fetch::after(IO))).await;
    assert!(gave_up.is_err(), "the timeout gave up first");
    assert_eq!((counts.begun(), counts.done()), (1, 0));

    let report = within(app.send(Stop)).await.unwrap();
    // "The requester giving up does not cancel the work": the future ran to
    // its end, and the stop waited for it.
    assert_eq!(counts.done(), 1);
    let child = report.find("/app/fetcher").unwrap();
    assert_eq!(child.outcome, StopOutcome::Drained, "{report}");
    // Settled when its future ended (after the stop request): handled, not
    // cancelled, not undelivered.
    assert_eq!(
        (child.drained, child.undelivered, child.cancelled),
        (1, 0, 0),
        "{report}"
    );
}

#[actix_rt::test]
async fn a_child_future_request_given_up_before_its_handler_ran_is_skipped_and_counted_cancelled() {
    tokio::time::pause();
    let counts = Counts::default();
    let spec = fetcher(&counts);
    let fetcher = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    let gate = Gate::new();
    fetcher.do_send(Block(gate.clone())).unwrap();
    // The mailbox waits behind the gate: the fetch is still queued when its
    // requester gives up.
    let gave_up = tokio::time::timeout(IO, fetcher.send(Fetch::after(IO))).await;
    assert!(gave_up.is_err());
    let stopping = app.send(Stop);
    gate.open();
    let report = within(stopping).await.unwrap();

    assert_eq!(
        (counts.begun(), counts.done()),
        (0, 0),
        "skipped, never run"
    );
    let child = report.find("/app/fetcher").unwrap();
    assert_eq!(child.outcome, StopOutcome::Drained, "{report}");
    assert_eq!((child.undelivered, child.cancelled), (0, 1), "{report}");
}

#[actix_rt::test]
async fn a_hung_child_future_whose_requester_gave_up_is_cancelled_at_the_grace_and_counted_undelivered(
) {
    tokio::time::pause();
    let counts = Counts::default();
    let spec = fetcher(&counts);
    let fetcher = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    let gave_up = tokio::time::timeout(IO, fetcher.send(Fetch::forever())).await;
    assert!(gave_up.is_err());
    assert_eq!(counts.begun(), 1);

    let began = tokio::time::Instant::now();
    let report = within(fetcher.stop()).await;
    assert_about(began.elapsed(), GRACE);
    assert_eq!(report.outcome, StopOutcome::TimedOut, "{report}");
    assert_eq!(
        (report.drained, report.undelivered, report.cancelled),
        (0, 1, 0),
        "{report}"
    );
}

#[actix_rt::test]
async fn requesters_giving_up_at_every_point_leave_an_accounting_that_closes() {
    tokio::time::pause();
    let counts = Counts::default();
    let spec = fetcher(&counts);
    let fetcher = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    // Half-way: 4 finite fetches and 2 hung ones whose requesters give up
    // once every handler ran.
    let mut half_way = Vec::new();
    for i in 0..4u32 {
        half_way.push(fetcher.send(Fetch::after(IO * (i + 2))));
    }
    half_way.push(fetcher.send(Fetch::forever()));
    half_way.push(fetcher.send(Fetch::forever()));
    // Kept: 3 requesters that wait for their answer.
    let kept: Vec<_> = (0..3).map(|_| fetcher.send(Fetch::after(IO))).collect();
    let given_up = futures_util::future::join_all(
        half_way
            .into_iter()
            .map(|reply| tokio::time::timeout(IO / 2, reply)),
    )
    .await;
    assert!(given_up.iter().all(Result::is_err));
    assert_eq!(counts.begun(), 9);

    // Before the handler: 5 requests behind a blocked mailbox, given up.
    let gate = Gate::new();
    fetcher.do_send(Block(gate.clone())).unwrap();
    let queued = futures_util::future::join_all(
        (0..5).map(|_| tokio::time::timeout(IO, fetcher.send(Fetch::after(IO)))),
    )
    .await;
    assert!(queued.iter().all(Result::is_err));
    // And 2 fire-and-forget fetches queued behind them.
    fetcher.do_send(Fetch::after(IO)).unwrap();
    fetcher.do_send(Fetch::after(IO)).unwrap();

    let stopping = fetcher.stop();
    gate.open();
    let report = within(stopping).await;
    for reply in kept {
        within(reply).await.unwrap();
    }

    // 4 half-way + 3 kept + 2 fire-and-forget ran to their end; the 2 hung
    // ones were cancelled at the grace; the 5 given up before their handler
    // never ran.
    assert_eq!(counts.begun(), 11);
    assert_eq!(counts.done(), 9);
    assert_eq!(report.outcome, StopOutcome::TimedOut, "{report}");
    assert_eq!(report.cancelled, 5, "{report}");
    assert_eq!(report.undelivered, 2, "{report}");
    // Settled after the stop began: the 7 finite fetches whose handlers ran
    // first (the Block's `ctx.wait` holds every future of the context, so
    // none of them ended before the gate opened) and the 2 fire-and-forget
    // ones handled, the 2 hung ones undelivered, the 5 given up before
    // their handler cancelled. Only the Block was settled before.
    assert_eq!(
        (report.drained, report.undelivered, report.cancelled),
        (9, 2, 5),
        "{report}"
    );
    let _ = app;
}

#[actix_rt::test]
async fn a_child_future_sent_through_a_raw_addr_and_given_up_half_way_is_still_waited_for() {
    tokio::time::pause();
    let counts = Counts::default();
    let spec = fetcher(&counts);
    let addr = spec.address();
    let fetcher = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    let gave_up = tokio::time::timeout(IO / 2, addr.send(Fetch::after(IO))).await;
    assert!(gave_up.is_err());
    let report = within(fetcher.stop()).await;
    assert_eq!(counts.done(), 1, "the stop waited for the future");
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
}

#[actix_rt::test]
async fn a_panic_in_a_child_future_whose_requester_gave_up_is_still_the_child_failure() {
    tokio::time::pause();
    let counts = Counts::default();
    let spec = fetcher(&counts).restart(RestartPolicy::OnFailure);
    let fetcher = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    let gave_up = tokio::time::timeout(IO / 2, fetcher.send(Fetch::panicking(IO))).await;
    assert!(gave_up.is_err());
    let node = testkit::wait_for_node(&app, "/app/fetcher", |n| n.restart_count == 1).await;
    assert!(
        node.last_failure
            .as_ref()
            .is_some_and(|f| f.message.contains("the orphaned fetch broke")),
        "{node:?}"
    );
    let report = within(fetcher.stop()).await;
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!((report.undelivered, report.cancelled), (0, 0), "{report}");
}

#[actix_rt::test]
async fn a_restart_child_waits_for_a_child_future_whose_requester_gave_up() {
    tokio::time::pause();
    let counts = Counts::default();
    let spec = fetcher(&counts);
    let fetcher = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    let gave_up = tokio::time::timeout(IO / 2, fetcher.send(Fetch::after(IO))).await;
    assert!(gave_up.is_err());
    within(app.send(RestartChild::new("fetcher")))
        .await
        .unwrap()
        .unwrap();
    // The drain of the incarnation that accepted the work waited for it.
    assert_eq!(counts.done(), 1);
    let report = within(fetcher.stop()).await;
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!((report.undelivered, report.cancelled), (0, 0), "{report}");
}

#[actix_rt::test]
async fn child_future_sends_given_up_while_parked_on_a_full_mailbox_are_counted_cancelled() {
    tokio::time::pause();
    let counts = Counts::default();
    let spec = fetcher(&counts);
    let fetcher = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    let gate = Gate::new();
    fetcher.do_send(Block(gate.clone())).unwrap();
    // Twice the mailbox's capacity (16): the later sends park, then every
    // requester gives up.
    let given_up = futures_util::future::join_all(
        (0..32).map(|_| tokio::time::timeout(IO, fetcher.send(Fetch::after(IO)))),
    )
    .await;
    assert!(given_up.iter().all(Result::is_err));
    let stopping = app.send(Stop);
    gate.open();
    let report = within(stopping).await.unwrap();

    assert_eq!(counts.begun(), 0, "no fetch was handled");
    let child = report.find("/app/fetcher").unwrap();
    assert_eq!(child.outcome, StopOutcome::Drained, "{report}");
    assert_eq!((child.undelivered, child.cancelled), (0, 32), "{report}");
}

#[actix_rt::test]
async fn a_child_future_that_updates_its_actor_by_message_lets_a_stop_drain() {
    tokio::time::pause();
    let counts = Counts::default();
    let spec = fetcher(&counts);
    let fetcher = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    let reply = fetcher.send(FetchThenApply);
    // The handler ran; its future is in its I/O when the stop comes.
    within(fetcher.send(Fetch::after(Duration::ZERO)))
        .await
        .unwrap();
    let report = within(fetcher.stop()).await;

    assert_eq!(counts.done(), 2, "{report}");
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(within(reply).await.unwrap(), 1, "its Apply was handled");
    assert_eq!(counts.applied(), 1);
}

// ---------------------------------------------------------------------------
// 2. Control messages from other OS threads while a child waits for its
//    dependencies or sits in a backoff (real clock: see the module doc).

/// A dependency whose start (`started` waiting on `ctx.wait`) finishes only
/// once the gate opens.
struct Store {
    gate: Gate,
}

impl Actor for Store {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future::<_, Self>(self.gate.passed()));
    }
}
actix_supervisor::supervised!(Store);

fn store(gate: &Gate) -> ChildSpec<Store> {
    let gate = gate.clone();
    ChildSpec::new("store", move || Store { gate: gate.clone() })
        .grace(Grace::Duration(Duration::from_millis(200)))
}

/// Messages queued for the waiting child before the control message.
const QUEUED: u64 = 5;

/// A tree whose `reader` depends on `store`, whose start is held by a gate;
/// returns once the reader shows `Waiting`, with `QUEUED` messages accepted
/// through its handle.
async fn waiting_reader(
    gate: &Gate,
    reader_grace: Duration,
) -> (
    actix::Addr<SupervisorActor>,
    actix_supervisor::ChildHandle<Probe>,
) {
    let (log, _records) = recorder();
    let reader = probe_spec("reader", log)
        .depends_on("store")
        .grace(Grace::Duration(reader_grace));
    let handle = reader.handle();
    let app = SupervisorActor::builder("app")
        .child(store(gate))
        .child(reader)
        .start()
        .unwrap();
    testkit::wait_for_node(&app, "/app/reader", |n| n.state == NodeState::Waiting).await;
    for _ in 0..QUEUED {
        handle.do_send(Inc).unwrap();
    }
    (app, handle)
}

#[actix_rt::test]
async fn a_stop_child_from_another_thread_while_waiting_drains_once_the_dependency_is_ready() {
    let gate = Gate::new();
    let (app, reader) = waiting_reader(&gate, Duration::from_secs(10)).await;

    let to = app.clone();
    let answer = on_other_thread(move || to.send(StopChild::new("reader")));
    testkit::wait_for_node(&app, "/app/reader", |n| n.state == NodeState::Stopping).await;
    gate.open();
    let report = joined(answer).await.unwrap().unwrap();

    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(
        (report.drained, report.undelivered, report.cancelled),
        (QUEUED, 0, 0),
        "{report}"
    );
    assert_eq!(within(reader.stop()).await, report, "the same report again");
    within(app.send(Stop)).await.unwrap();
}

#[actix_rt::test]
async fn a_root_stop_from_another_thread_while_a_child_waits_drains_it_once_ready() {
    let gate = Gate::new();
    let (app, _reader) = waiting_reader(&gate, Duration::from_secs(10)).await;

    let to = app.clone();
    let answer = on_other_thread(move || to.send(Stop));
    testkit::wait_for_node(&app, "/app/reader", |n| n.state == NodeState::Stopping).await;
    gate.open();
    let report = joined(answer).await.unwrap();

    assert!(report.is_drained(), "{report}");
    let reader = report.find("/app/reader").unwrap();
    assert_eq!(
        (reader.drained, reader.undelivered, reader.cancelled),
        (QUEUED, 0, 0),
        "{report}"
    );
}

#[actix_rt::test]
async fn a_root_stop_from_another_thread_while_the_dependency_never_starts_answers_at_the_grace() {
    let gate = Gate::new();
    let (app, reader) = waiting_reader(&gate, Duration::from_millis(200)).await;

    let to = app.clone();
    let report = joined(on_other_thread(move || to.send(Stop)))
        .await
        .unwrap();

    let child = report.find("/app/reader").unwrap();
    assert_eq!(child.outcome, StopOutcome::TimedOut, "{report}");
    assert_eq!(
        (child.drained, child.undelivered, child.cancelled),
        (0, QUEUED, 0),
        "{report}"
    );
    assert_eq!(within(reader.stop()).await, *child);
    drop(gate);
}

#[actix_rt::test]
async fn a_kill_from_another_thread_while_a_child_waits_answers_and_accounts_for_what_waits() {
    let gate = Gate::new();
    let (app, reader) = waiting_reader(&gate, Duration::from_secs(10)).await;

    let to = app.clone();
    joined(on_other_thread(move || to.send(Kill)))
        .await
        .unwrap();
    let report = within(reader.stop()).await;
    assert_eq!(report.outcome, StopOutcome::TimedOut, "{report}");
    assert_eq!(accounted(&report), QUEUED, "{report}");
    assert_eq!(report.undelivered, QUEUED, "{report}");
    assert!(matches!(reader.do_send(Inc), Err(SendError::Gone { .. })));
}

#[actix_rt::test]
async fn a_restart_child_from_another_thread_while_waiting_keeps_what_waits_for_the_next_start() {
    let gate = Gate::new();
    let (app, reader) = waiting_reader(&gate, Duration::from_secs(10)).await;

    let to = app.clone();
    joined(on_other_thread(move || {
        to.send(RestartChild::new("reader"))
    }))
    .await
    .unwrap()
    .unwrap();
    gate.open();
    // One incarnation handles every message queued while it waited.
    let (_, count) = within(reader.send(Get)).await.unwrap();
    assert_eq!(count, QUEUED);
    let report = within(app.send(Stop)).await.unwrap();
    assert!(report.is_drained(), "{report}");
}

#[actix_rt::test]
async fn stops_and_restarts_racing_from_three_threads_on_a_waiting_child_all_answer() {
    let gate = Gate::new();
    let (app, reader) = waiting_reader(&gate, Duration::from_secs(10)).await;

    let to = app.clone();
    let stop_child = on_other_thread(move || to.send(StopChild::new("reader")));
    let to = app.clone();
    let restart = on_other_thread(move || to.send(RestartChild::new("reader")));
    let handle = reader.clone();
    let handle_stop = on_other_thread(move || handle.stop());
    testkit::wait_for_node(&app, "/app/reader", |n| n.state == NodeState::Stopping).await;
    gate.open();

    let by_handle = joined(handle_stop).await;
    let by_parent = joined(stop_child).await.unwrap().unwrap();
    let restarted = joined(restart).await.unwrap();
    assert!(
        restarted.is_ok()
            || matches!(
                restarted,
                Err(actix_supervisor::ControlError::ChildStopping { .. })
            ),
        "{restarted:?}"
    );
    // A `RestartChild` taken between the two stops starts a second life,
    // which the later stop ends: then the two reports are of two lives.
    // Either way each stop answers `Drained`, and what waited is drained
    // once, by the first life.
    for report in [&by_handle, &by_parent] {
        assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
        assert_eq!((report.undelivered, report.cancelled), (0, 0), "{report}");
    }
    let drained = if by_handle == by_parent {
        by_parent.drained
    } else {
        assert!(
            restarted.is_ok(),
            "two lives without a restart: {by_handle}\n{by_parent}"
        );
        by_handle.drained + by_parent.drained
    };
    assert_eq!(drained, QUEUED, "{by_handle}\n{by_parent}");
    within(app.send(Stop)).await.unwrap();
}

/// A backoff far longer than any test: a stop must not wait it out.
const HOUR: Duration = Duration::from_secs(3600);

/// A tree whose `job` failed and sits in an hour's backoff, with `QUEUED`
/// messages accepted through its handle.
async fn job_in_backoff() -> (
    actix::Addr<SupervisorActor>,
    actix_supervisor::ChildHandle<Probe>,
) {
    let (log, _records) = recorder();
    let job = probe_spec("job", log)
        .restart(RestartPolicy::OnFailure)
        .backoff(Backoff::new(HOUR, HOUR));
    let handle = job.handle();
    let app = SupervisorActor::builder("app").child(job).start().unwrap();
    within(handle.started()).await.unwrap();
    handle.do_send(FailWith("down".into())).unwrap();
    testkit::wait_for_node(&app, "/app/job", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    })
    .await;
    for _ in 0..QUEUED {
        handle.do_send(Inc).unwrap();
    }
    (app, handle)
}

#[actix_rt::test]
async fn a_stop_child_from_another_thread_during_a_backoff_drains_at_once() {
    let (app, _job) = job_in_backoff().await;
    let to = app.clone();
    let report = joined(on_other_thread(move || to.send(StopChild::new("job"))))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(
        (report.drained, report.undelivered, report.cancelled),
        (QUEUED, 0, 0),
        "{report}"
    );
    within(app.send(Stop)).await.unwrap();
}

#[actix_rt::test]
async fn a_root_stop_from_another_thread_during_a_backoff_drains_at_once() {
    let (app, _job) = job_in_backoff().await;
    let to = app.clone();
    let report = joined(on_other_thread(move || to.send(Stop)))
        .await
        .unwrap();
    assert!(report.is_drained(), "{report}");
    let job = report.find("/app/job").unwrap();
    assert_eq!((job.drained, job.undelivered), (QUEUED, 0), "{report}");
}

#[actix_rt::test]
async fn a_kill_from_another_thread_during_a_backoff_accounts_for_what_waits() {
    let (app, job) = job_in_backoff().await;
    let to = app.clone();
    joined(on_other_thread(move || to.send(Kill)))
        .await
        .unwrap();
    let report = within(job.stop()).await;
    assert_eq!(accounted(&report), QUEUED, "{report}");
    assert_eq!(report.undelivered, QUEUED, "{report}");
}

#[actix_rt::test]
async fn a_restart_child_from_another_thread_during_a_backoff_starts_the_next_incarnation_now() {
    let (app, job) = job_in_backoff().await;
    let to = app.clone();
    joined(on_other_thread(move || to.send(RestartChild::new("job"))))
        .await
        .unwrap()
        .unwrap();
    // "Answers once the new incarnation is starting": not in an hour. What
    // was accepted before the request is drained by the incarnation built
    // at once for it (2), not by the fresh one (3).
    let (incarnation, count) = within(job.send(Get)).await.unwrap();
    assert_eq!((incarnation, count), (3, 0));
    within(app.send(Stop)).await.unwrap();
}

// ---------------------------------------------------------------------------
// 3. Slow event readers of subtrees on other arbiters, during restart storms
//    (real clock: the subtrees run on other threads).

use actix_supervisor::events::{EventKind, LifecycleEvent, SubscribeRecipient};
use actix_supervisor::{ArbiterPool, Subscribe};
use futures_util::StreamExt;

/// An arbiter of the test's own, stopped and joined when dropped.
struct Other(Option<Arbiter>);

impl Other {
    fn new() -> Self {
        Other(Some(Arbiter::new()))
    }

    fn handle(&self) -> ArbiterHandle {
        self.0.as_ref().expect("running").handle()
    }
}

impl Drop for Other {
    fn drop(&mut self) {
        if let Some(arbiter) = self.0.take() {
            arbiter.stop();
            let _ = arbiter.join();
        }
    }
}

/// Failures in the storm: three events each (`Failed`, `Restarting`,
/// `Started`), far more than a reader's 1024 events of slack.
const STORM: u64 = 600;

/// Fails `STORM` times in a row through `handle` (each incarnation handles
/// one failure, the next restarts at once) and waits until the incarnation
/// after the storm answers.
async fn storm(handle: &actix_supervisor::ChildHandle<Probe>) {
    within(handle.started()).await.unwrap();
    for _ in 0..STORM {
        handle.do_send(FailWith("storm".into())).unwrap();
    }
    let (incarnation, _) = within(handle.send(Get)).await.unwrap();
    assert_eq!(incarnation, STORM + 1);
}

/// Reads `stream` until it ends; fails the test if it does not end.
async fn read_to_the_end(mut stream: actix_supervisor::events::EventStream) -> Vec<LifecycleEvent> {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(TIMEOUT, stream.next()).await {
            Ok(Some(event)) => seen.push(event),
            Ok(None) => return seen,
            Err(_) => panic!(
                "the stream never ended after its tree was gone; {} events read, the last {:?}",
                seen.len(),
                seen.last()
            ),
        }
    }
}

fn missed(events: &[LifecycleEvent]) -> u64 {
    events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Lagged { missed } => Some(missed),
            _ => None,
        })
        .sum()
}

/// A root `app` with a subtree `remote` on `other`, whose child `crash`
/// restarts at once, as often as it fails.
fn remote_tree(other: &Other) -> (RemoteTree, actix_supervisor::ChildHandle<Probe>) {
    let (log, _records) = recorder();
    let crash = probe_spec("crash", log).restart(RestartPolicy::OnFailure);
    let handle = crash.handle();
    let remote = SupervisorActor::builder("remote")
        .intensity(unlimited())
        .child(crash)
        .on_arbiter(other.handle());
    let remote_addr = remote.address();
    let app = SupervisorActor::builder("app").child(remote);
    (RemoteTree { app, remote_addr }, handle)
}

struct RemoteTree {
    app: actix_supervisor::SupervisorBuilder,
    remote_addr: actix::Addr<SupervisorActor>,
}

#[actix_rt::test]
async fn a_slow_reader_of_a_storm_on_another_arbiter_is_told_it_lagged_and_the_root_stop_answers() {
    let other = Other::new();
    let (parts, crash) = remote_tree(&other);
    let app = parts.app.start().unwrap();
    let stream = within(app.send(Subscribe::all())).await.unwrap();

    storm(&crash).await;
    let report = within(app.send(Stop)).await.unwrap();
    assert!(report.find("/app/remote/crash").is_some(), "{report}");
    assert_eq!(report.summary().nodes, 3, "{report}");

    drop((app, parts.remote_addr, crash));
    let events = read_to_the_end(stream).await;
    assert!(
        missed(&events) > 0,
        "no Lagged among {} events",
        events.len()
    );
    let last = events.last().unwrap();
    assert!(
        last.path.as_str() == "/app" && matches!(last.kind, EventKind::Stopped { .. }),
        "{last:?}"
    );
}

#[actix_rt::test]
async fn a_slow_reader_subscribed_to_the_remote_supervisor_itself_lags_and_its_stream_ends() {
    let other = Other::new();
    let (parts, crash) = remote_tree(&other);
    let remote_addr = parts.remote_addr.clone();
    let app = parts.app.start().unwrap();
    within(crash.started()).await.unwrap();
    let stream = within(remote_addr.send(Subscribe::all())).await.unwrap();

    storm(&crash).await;
    within(app.send(Stop)).await.unwrap();

    drop((app, parts.remote_addr, remote_addr, crash));
    let events = read_to_the_end(stream).await;
    assert!(
        missed(&events) > 0,
        "no Lagged among {} events",
        events.len()
    );
    assert!(
        events
            .iter()
            .all(|e| e.path.as_str().starts_with("/app/remote")),
        "only the remote subtree's events"
    );
}

/// A recipient that blocks its whole thread at its first event until the
/// test lets it go, then records every event.
struct Blocking {
    release: Option<std::sync::mpsc::Receiver<()>>,
    seen: Recorder<LifecycleEvent>,
}

impl Actor for Blocking {
    type Context = Context<Self>;
}

impl Handler<LifecycleEvent> for Blocking {
    type Result = ();
    fn handle(&mut self, event: LifecycleEvent, _: &mut Context<Self>) {
        self.seen.record(event);
        if let Some(release) = self.release.take() {
            // A reader busy on the CPU or blocked in a call: its thread does
            // nothing else meanwhile.
            let _ = release.recv();
        }
    }
}

#[actix_rt::test]
async fn a_recipient_whose_thread_is_blocked_slows_no_subtree_and_is_told_it_lagged() {
    let other = Other::new();
    let reader_thread = Other::new();
    let (parts, crash) = remote_tree(&other);
    let remote_addr = parts.remote_addr.clone();
    let app = parts.app.start().unwrap();
    within(crash.started()).await.unwrap();

    let (release, released) = std::sync::mpsc::channel();
    let (seen, mut received) = recorder();
    let reader = Blocking::start_in_arbiter(&reader_thread.handle(), move |_| Blocking {
        release: Some(released),
        seen,
    });
    // One subscription on the root, one on the remote supervisor (its
    // forwarding task runs on the subtree's thread).
    within(app.send(SubscribeRecipient::all(reader.clone().recipient())))
        .await
        .unwrap();
    within(remote_addr.send(SubscribeRecipient::all(reader.recipient())))
        .await
        .unwrap();

    storm(&crash).await;
    let report = within(app.send(Stop)).await.unwrap();
    assert!(report.is_drained(), "{report}");

    release.send(()).unwrap();
    let mut lagged = 0;
    let mut stopped_roots = 0;
    while stopped_roots < 1 || lagged < 2 {
        let event = received.next().await;
        match event.kind {
            EventKind::Lagged { .. } => lagged += 1,
            EventKind::Stopped { .. } if event.path.as_str() == "/app" => stopped_roots += 1,
            _ => {}
        }
    }
}

#[actix_rt::test]
async fn storms_on_every_arbiter_of_an_arbiter_pool_with_a_slow_reader_end_with_a_full_report() {
    let arbiters = ArbiterPool::new(2);
    let mut handles = Vec::new();
    let subtrees = arbiters.subtrees("workers", |i, sup| {
        let (log, _records) = recorder();
        let crash = probe_spec(&format!("crash{i}"), log).restart(RestartPolicy::OnFailure);
        handles.push(crash.handle());
        sup.intensity(unlimited()).child(crash)
    });
    let mut app = SupervisorActor::builder("app");
    for subtree in subtrees {
        app = app.child(subtree);
    }
    let app = app.start().unwrap();
    let stream = within(app.send(Subscribe::all())).await.unwrap();

    futures_util::future::join_all(handles.iter().map(storm)).await;
    let report = within(app.send(Stop)).await.unwrap();
    let summary = report.summary();
    assert_eq!((summary.nodes, summary.nodes_drained), (5, 5), "{report}");
    assert!(report.find("/app/workers-1/crash1").is_some(), "{report}");

    drop((app, handles));
    let events = read_to_the_end(stream).await;
    assert!(
        missed(&events) > 0,
        "no Lagged among {} events",
        events.len()
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        arbiters.join();
        let _ = tx.send(());
    });
    within(rx).await.expect("the arbiters were joined");
}

// ---------------------------------------------------------------------------
// 4. Pools with `max_children`.

use actix_supervisor::pool::Pool;
use actix_supervisor::ControlError;

/// How a pool's job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// It runs until stopped.
    Runs,
    /// `ctx.stop()` in `started`.
    StopsAtOnce,
    /// `fail` in `started`.
    FailsAtOnce,
    /// A panic in `started`.
    PanicsInStarted,
    /// A panic in the template (the factory).
    PanicsInFactory,
}

/// How many `Runs` jobs run now, and the most that ran at once.
#[derive(Default)]
struct Live {
    now: AtomicU64,
    most: AtomicU64,
}

struct PoolJob {
    ending: Ending,
    live: Arc<Live>,
    handled: u64,
}

impl Actor for PoolJob {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        match self.ending {
            Ending::Runs => {
                let now = self.live.now.fetch_add(1, Ordering::SeqCst) + 1;
                self.live.most.fetch_max(now, Ordering::SeqCst);
            }
            Ending::PanicsInFactory => unreachable!("the template panicked"),
            Ending::StopsAtOnce => ctx.stop(),
            Ending::FailsAtOnce => actix_supervisor::fail(ctx, "the job failed"),
            Ending::PanicsInStarted => panic!("the job broke"),
        }
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        if self.ending == Ending::Runs {
            self.live.now.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
actix_supervisor::supervised!(PoolJob);

/// One unit of work; answers how many the job handled.
#[derive(Message)]
#[rtype(result = "u64")]
struct Work;

impl Handler<Work> for PoolJob {
    type Result = u64;
    fn handle(&mut self, _: Work, _: &mut Context<Self>) -> u64 {
        self.handled += 1;
        self.handled
    }
}

fn job_pool(live: &Arc<Live>, max_children: usize) -> Pool<PoolJob, Ending> {
    let live = live.clone();
    Pool::builder("jobs", move |ending: &Ending| {
        if *ending == Ending::PanicsInFactory {
            panic!("the template broke");
        }
        PoolJob {
            ending: *ending,
            live: live.clone(),
            handled: 0,
        }
    })
    .max_children(max_children)
    .start()
    .unwrap()
}

#[actix_rt::test]
async fn a_full_pool_takes_new_children_once_its_children_ended_however_they_ended() {
    tokio::time::pause();
    let live = Arc::new(Live::default());
    let pool = job_pool(&live, 2);

    for ending in [
        Ending::StopsAtOnce,
        Ending::FailsAtOnce,
        Ending::PanicsInStarted,
        Ending::PanicsInFactory,
    ] {
        let first = within(pool.start(ending)).await.unwrap();
        let second = within(pool.start(ending)).await.unwrap();
        within(first.ended()).await;
        within(second.ended()).await;
    }
    // Stopped through their handles.
    let first = within(pool.start(Ending::Runs)).await.unwrap();
    let second = within(pool.start(Ending::Runs)).await.unwrap();
    assert!(matches!(
        within(pool.start(Ending::Runs)).await,
        Err(ControlError::Full {
            max_children: 2,
            ..
        })
    ));
    within(first.stop()).await;
    within(second.stop()).await;

    // Full again only with live children.
    let first = within(pool.start(Ending::Runs)).await.unwrap();
    let _second = within(pool.start(Ending::Runs)).await.unwrap();
    assert!(matches!(
        within(pool.start(Ending::Runs)).await,
        Err(ControlError::Full { .. })
    ));
    assert_eq!(within(first.send(Work)).await.unwrap(), 1);
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(live.now.load(Ordering::SeqCst), 0);
}

#[actix_rt::test]
async fn a_name_is_free_again_once_its_child_ended() {
    tokio::time::pause();
    let live = Arc::new(Live::default());
    let pool = job_pool(&live, 1);
    for ending in [Ending::StopsAtOnce, Ending::PanicsInStarted, Ending::Runs] {
        let job = within(pool.start_named("nightly", ending)).await.unwrap();
        if ending == Ending::Runs {
            within(job.stop()).await;
        } else {
            within(job.ended()).await;
        }
    }
    let job = within(pool.start_named("nightly", Ending::Runs))
        .await
        .unwrap();
    assert_eq!(within(job.send(Work)).await.unwrap(), 1);
    within(pool.supervisor().send(Stop)).await.unwrap();
}

#[actix_rt::test]
async fn a_stop_while_starts_are_in_flight_stops_every_child_it_took() {
    tokio::time::pause();
    let live = Arc::new(Live::default());
    let pool = job_pool(&live, 8);

    // Twenty starts in flight (more than the supervisor's mailbox holds),
    // then the stop, polled together.
    let starts = futures_util::future::join_all((0..20).map(|_| pool.start(Ending::Runs)));
    let stopping = pool.supervisor().send(Stop);
    let (started, report) = within(futures_util::future::join(starts, stopping)).await;
    let report = report.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");

    let mut taken = 0;
    for start in started {
        match start {
            Ok(job) => {
                taken += 1;
                let ended = within(job.ended()).await;
                assert!(matches!(ended.outcome, StopOutcome::Drained), "{ended}");
                assert!(
                    job.do_send(Work).is_err(),
                    "a job of a stopped pool takes no work"
                );
            }
            Err(ControlError::Full { .. } | ControlError::SupervisorStopping { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(taken <= 8, "{taken} children taken past max_children 8");
    assert_eq!(live.now.load(Ordering::SeqCst), 0, "a job runs on");
    assert!(matches!(
        within(pool.start(Ending::Runs)).await,
        Err(ControlError::SupervisorStopping { .. })
    ));
}

#[actix_rt::test]
async fn starts_and_stops_racing_from_two_threads_never_exceed_max_children() {
    const MAX: usize = 3;
    let live = Arc::new(Live::default());
    let pool = job_pool(&live, MAX);

    let (to_stopper, jobs) = std::sync::mpsc::channel();
    let starter_pool = pool.clone();
    let starter = on_other_thread(move || async move {
        let (mut taken, mut full) = (0, 0);
        for _ in 0..300 {
            match starter_pool.start(Ending::Runs).await {
                Ok(job) => {
                    taken += 1;
                    job.do_send(Work).unwrap();
                    to_stopper.send(job).unwrap();
                }
                Err(ControlError::Full { .. }) => full += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        (taken, full)
    });
    let stopper = on_other_thread(move || async move {
        let mut reports = Vec::new();
        while let Ok(job) = jobs.recv() {
            reports.push(job.stop().await);
        }
        reports
    });

    let (taken, full) = joined(starter).await;
    let reports = joined(stopper).await;
    assert_eq!(taken + full, 300);
    assert_eq!(reports.len(), taken);
    for report in &reports {
        assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
        // Its one `Work` was handled, before the stop or drained by it.
        assert!(report.drained <= 1, "{report}");
        assert_eq!((report.undelivered, report.cancelled), (0, 0), "{report}");
    }
    assert!(
        live.most.load(Ordering::SeqCst) <= MAX as u64,
        "{} jobs ran at once",
        live.most.load(Ordering::SeqCst)
    );
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(live.now.load(Ordering::SeqCst), 0);
}

#[actix_rt::test]
async fn a_pool_stopped_from_one_thread_while_another_starts_children_leaves_none_running() {
    let live = Arc::new(Live::default());
    let pool = job_pool(&live, 1000);

    let (half_way, reached) = std::sync::mpsc::channel();
    let starter_pool = pool.clone();
    let starter = on_other_thread(move || async move {
        let mut results = Vec::new();
        for i in 0..200 {
            if i == 50 {
                let _ = half_way.send(());
            }
            results.push(starter_pool.start(Ending::Runs).await);
        }
        results
    });
    let supervisor = pool.supervisor().clone();
    let stopper = on_other_thread(move || async move {
        reached.recv().unwrap();
        supervisor.send(Stop).await.unwrap()
    });

    let results = joined(starter).await;
    let report = joined(stopper).await;
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    let mut refused = false;
    for result in results {
        match result {
            Ok(job) => {
                assert!(!refused, "a start taken after one was refused for the stop");
                within(job.ended()).await;
            }
            Err(ControlError::SupervisorStopping { .. }) => refused = true,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(live.now.load(Ordering::SeqCst), 0, "a job runs on");
}

// ---------------------------------------------------------------------------
// 5. Combinations the docs suggest.

/// A root `Stop` while a dependent waits for a dependency that sits in a
/// long backoff. The shutdown stops the dependent first; a stop during a
/// backoff would start the dependency at once, but it is not stopped
/// before the dependent ended.
#[actix_rt::test]
async fn a_root_stop_drains_a_dependent_waiting_for_a_dependency_in_a_backoff() {
    tokio::time::pause();
    let (log, _records) = recorder();
    let base = probe_spec("base", log.clone())
        .restart(RestartPolicy::OnFailure)
        .backoff(Backoff::new(HOUR, HOUR));
    let base_handle = base.handle();
    let user = probe_spec("user", log)
        .depends_on("base")
        .restart(RestartPolicy::OnFailure);
    let user_handle = user.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(base)
        .child(user)
        .start()
        .unwrap();
    within(user_handle.started()).await.unwrap();

    // The dependency fails into its hour of backoff; the dependent fails
    // too and, restarted at once, waits for it.
    base_handle.do_send(FailWith("base down".into())).unwrap();
    testkit::wait_for_node(&app, "/app/base", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    })
    .await;
    user_handle.do_send(FailWith("user down".into())).unwrap();
    testkit::wait_for_node(&app, "/app/user", |n| n.state == NodeState::Waiting).await;
    for _ in 0..QUEUED {
        user_handle.do_send(Inc).unwrap();
    }
    base_handle.do_send(Inc).unwrap();

    let report = within(app.send(Stop)).await.unwrap();
    // "Queued when a stop begins: handled before the child stops, within
    // its grace, in whatever phase the child is."
    let user = report.find("/app/user").unwrap();
    assert_eq!(
        (user.drained, user.undelivered),
        (QUEUED, 0),
        "the dependent's messages were not drained:\n{report}"
    );
    let base = report.find("/app/base").unwrap();
    assert_eq!((base.drained, base.undelivered), (1, 0), "{report}");
    assert!(report.summary().stopped_cleanly(), "{report}");
}

/// The same one level down: the dependent and its dependency under a
/// nested supervisor, which shuts down when the root's stop reaches it.
#[actix_rt::test]
async fn a_root_stop_drains_a_nested_dependent_waiting_for_a_dependency_in_a_backoff() {
    tokio::time::pause();
    let (log, _records) = recorder();
    let base = probe_spec("base", log.clone())
        .restart(RestartPolicy::OnFailure)
        .backoff(Backoff::new(HOUR, HOUR));
    let base_handle = base.handle();
    let user = probe_spec("user", log)
        .depends_on("base")
        .restart(RestartPolicy::OnFailure);
    let user_handle = user.handle();
    let nested = SupervisorActor::builder("nested")
        .intensity(unlimited())
        .child(base)
        .child(user);
    let app = SupervisorActor::builder("app")
        .child(nested)
        .start()
        .unwrap();
    within(user_handle.started()).await.unwrap();

    base_handle.do_send(FailWith("base down".into())).unwrap();
    testkit::wait_for_node(&app, "/app/nested/base", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    })
    .await;
    user_handle.do_send(FailWith("user down".into())).unwrap();
    testkit::wait_for_node(&app, "/app/nested/user", |n| n.state == NodeState::Waiting).await;
    for _ in 0..QUEUED {
        user_handle.do_send(Inc).unwrap();
    }

    let report = within(app.send(Stop)).await.unwrap();
    let user = report.find("/app/nested/user").unwrap();
    assert_eq!(
        (user.drained, user.undelivered),
        (QUEUED, 0),
        "the dependent's messages were not drained:\n{report}"
    );
    assert!(report.summary().stopped_cleanly(), "{report}");
}

/// The same with a `StopChild` of the dependent: its dependency may still
/// start (after its backoff), so the dependent waits within its grace.
/// Documented: at the grace it ends `TimedOut`, what waits undelivered.
#[actix_rt::test]
async fn a_stop_child_of_a_dependent_waiting_for_a_dependency_in_a_backoff_answers_at_its_grace() {
    tokio::time::pause();
    let (log, _records) = recorder();
    let base = probe_spec("base", log.clone())
        .restart(RestartPolicy::OnFailure)
        .backoff(Backoff::new(HOUR, HOUR));
    let base_handle = base.handle();
    let user = probe_spec("user", log)
        .depends_on("base")
        .restart(RestartPolicy::OnFailure)
        .grace(Grace::Duration(Duration::from_secs(2)));
    let user_handle = user.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(base)
        .child(user)
        .start()
        .unwrap();
    within(user_handle.started()).await.unwrap();
    base_handle.do_send(FailWith("base down".into())).unwrap();
    testkit::wait_for_node(&app, "/app/base", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    })
    .await;
    user_handle.do_send(FailWith("user down".into())).unwrap();
    testkit::wait_for_node(&app, "/app/user", |n| n.state == NodeState::Waiting).await;
    for _ in 0..QUEUED {
        user_handle.do_send(Inc).unwrap();
    }

    let report = within(app.send(StopChild::new("user")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.outcome, StopOutcome::TimedOut, "{report}");
    assert_eq!(accounted(&report), QUEUED, "{report}");
}

/// A dependency whose start ends in a failure (its `started` fails once the
/// gate opens), never restarted.
struct Doomed {
    gate: Gate,
}

impl Actor for Doomed {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.wait(
            actix::fut::wrap_future::<_, Self>(self.gate.passed()).map(|(), _, ctx| {
                actix_supervisor::fail(ctx, "the store could not open");
            }),
        );
    }
}
actix_supervisor::supervised!(Doomed);

/// "Once the dependencies are ready, or the rest are at rest (parked,
/// given up or done)": a dependency that fails for good under a stopping
/// dependent lets it drain.
#[actix_rt::test]
async fn a_stop_child_from_another_thread_drains_a_waiting_child_whose_dependency_failed_for_good()
{
    let gate = Gate::new();
    let doomed_gate = gate.clone();
    let (log, _records) = recorder();
    let reader = probe_spec("reader", log)
        .depends_on("store")
        .grace(Grace::Duration(Duration::from_secs(10)));
    let reader_handle = reader.handle();
    let app = SupervisorActor::builder("app")
        .child(
            ChildSpec::new("store", move || Doomed {
                gate: doomed_gate.clone(),
            })
            .restart(RestartPolicy::Never),
        )
        .child(reader)
        .start()
        .unwrap();
    testkit::wait_for_node(&app, "/app/reader", |n| n.state == NodeState::Waiting).await;
    for _ in 0..QUEUED {
        reader_handle.do_send(Inc).unwrap();
    }

    let to = app.clone();
    let answer = on_other_thread(move || to.send(StopChild::new("reader")));
    testkit::wait_for_node(&app, "/app/reader", |n| n.state == NodeState::Stopping).await;
    gate.open();
    testkit::wait_for_node(&app, "/app/store", |n| n.state == NodeState::Failed).await;
    let report = joined(answer).await.unwrap().unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(
        (report.drained, report.undelivered),
        (QUEUED, 0),
        "{report}"
    );
    within(app.send(Stop)).await.unwrap();
}

/// A nested supervisor waiting for a sibling: a stop from another thread
/// ends it at once; its children's handles answer `NotStarted` with what
/// they accepted reported undelivered.
#[actix_rt::test]
async fn a_stop_from_another_thread_of_a_waiting_nested_supervisor_answers_its_children_s_handles()
{
    let gate = Gate::new();
    let (log, _records) = recorder();
    let inner = probe_spec("inner", log);
    let inner_handle = inner.handle();
    let nested = SupervisorActor::builder("nested")
        .child(inner)
        .depends_on("store");
    let app = SupervisorActor::builder("app")
        .child(store(&gate))
        .child(nested)
        .start()
        .unwrap();
    testkit::wait_for_node(&app, "/app/nested", |n| n.state == NodeState::Waiting).await;
    for _ in 0..QUEUED {
        inner_handle.do_send(Inc).unwrap();
    }

    let to = app.clone();
    let report = joined(on_other_thread(move || to.send(Stop)))
        .await
        .unwrap();
    let inner = within(inner_handle.stop()).await;
    assert_eq!(inner.outcome, StopOutcome::NotStarted, "{inner}");
    assert_eq!(inner.undelivered, QUEUED, "{inner}");
    assert!(report.find("/app/nested").is_some(), "{report}");
    drop(gate);
}

/// A root with `store` (its start held by `gate`), an independent `first`,
/// and `remote`, a subtree on `other` that depends on `store`; returns once
/// `first` started (the remote subtree is `waiting` from its start).
async fn waiting_remote(
    other: &Other,
    gate: &Gate,
    start_timeout: Duration,
) -> (
    actix::Addr<SupervisorActor>,
    actix_supervisor::ChildHandle<Probe>,
    Records<Event>,
) {
    let (log, records) = recorder();
    let (first_log, _first_records) = recorder();
    let first = probe_spec("first", first_log);
    let first_handle = first.handle();
    let inner = probe_spec("inner", log);
    let inner_handle = inner.handle();
    let remote = SupervisorActor::builder("remote")
        .child(inner)
        .depends_on("store")
        .start_timeout(start_timeout)
        .on_arbiter(other.handle());
    let app = SupervisorActor::builder("app")
        .child(store(gate))
        .child(first)
        .child(remote)
        .start()
        .unwrap();
    within(first_handle.started()).await.unwrap();
    for _ in 0..QUEUED {
        inner_handle.do_send(Inc).unwrap();
    }
    (app, inner_handle, records)
}

/// The children of a subtree that depends on a sibling start only once that
/// sibling finished its start (`docs/arbiters.md`, "Start order"; and
/// `docs/start_order.md`: "starting it before its dependencies would break
/// the order"). Here a root stop comes while the remote subtree waits.
#[actix_rt::test]
async fn a_root_stop_while_a_remote_subtree_waits_never_starts_its_children_before_their_dependency(
) {
    let other = Other::new();
    let gate = Gate::new();
    let (app, inner, mut records) = waiting_remote(&other, &gate, Duration::from_secs(30)).await;

    let to = app.clone();
    let report = joined(on_other_thread(move || to.send(Stop)))
        .await
        .unwrap();
    within(inner.stop()).await;
    let seen = records.drain();
    assert!(
        !seen.contains(&Event::Started(1)),
        "/app/remote/inner started while /app/store never finished its start: {seen:?}\n{report}"
    );
    drop(gate);
}

/// The same when the dependency's start timeout runs out: the remote
/// subtree ends `Failed` (phase waiting); its children must not start.
#[actix_rt::test]
async fn a_remote_subtree_whose_dependency_timed_out_never_starts_its_children() {
    let other = Other::new();
    let gate = Gate::new();
    let (app, inner, mut records) = waiting_remote(&other, &gate, Duration::from_millis(300)).await;

    let failed = within(inner.ended()).await;
    let report = within(app.send(Stop)).await.unwrap();
    let remote = report.find("/app/remote").unwrap();
    assert!(matches!(remote.outcome, StopOutcome::Failed(_)), "{report}");
    let seen = records.drain();
    assert!(
        !seen.contains(&Event::Started(1)),
        "/app/remote/inner started while /app/store never finished its start: {seen:?}\n{report}"
    );
    assert_eq!(failed.undelivered, QUEUED, "{failed}");
    drop(gate);
}

/// The control: on the parent's own arbiter, a nested supervisor whose
/// dependency timed out starts none of its children.
#[actix_rt::test]
async fn a_nested_supervisor_whose_dependency_timed_out_never_starts_its_children() {
    tokio::time::pause();
    let gate = Gate::new();
    let (log, mut records) = recorder();
    let inner = probe_spec("inner", log);
    let inner_handle = inner.handle();
    let nested = SupervisorActor::builder("nested")
        .child(inner)
        .depends_on("store")
        .start_timeout(Duration::from_millis(300))
        .restart(RestartPolicy::Never);
    let app = SupervisorActor::builder("app")
        .child(store(&gate))
        .child(nested)
        .start()
        .unwrap();
    for _ in 0..QUEUED {
        inner_handle.do_send(Inc).unwrap();
    }
    testkit::wait_for_node(&app, "/app/nested", |n| n.state == NodeState::Failed).await;
    let report = within(app.send(Stop)).await.unwrap();
    let inner = within(inner_handle.stop()).await;
    assert_eq!(inner.outcome, StopOutcome::NotStarted, "{inner}");
    assert_eq!(inner.undelivered, QUEUED, "{inner}");
    assert!(records.drain().is_empty(), "{report}");
    drop(gate);
}

/// A `Kill` of the root while a remote subtree waits: every handle below it
/// still answers, and `Kill` ("terminated its children at once, without
/// draining") does not start children whose dependency never started.
#[actix_rt::test]
async fn a_kill_while_a_remote_subtree_waits_answers_every_handle_and_starts_nothing() {
    let other = Other::new();
    let gate = Gate::new();
    let (app, inner, mut records) = waiting_remote(&other, &gate, Duration::from_secs(30)).await;

    let to = app.clone();
    joined(on_other_thread(move || to.send(Kill)))
        .await
        .unwrap();
    let report = within(inner.stop()).await;
    assert!(within(inner.started()).await.is_err(), "{report}");
    let seen = records.drain();
    assert!(
        !seen.contains(&Event::Started(1)),
        "/app/remote/inner started after a Kill, its dependency never ready: {seen:?}\n{report}"
    );
    assert_eq!(report.undelivered, QUEUED, "{report}");
    drop(gate);
}

/// `ChildFuture`s on another arbiter: a stop of the root waits for them
/// there, also for one whose requester gave up half-way.
#[actix_rt::test]
async fn a_root_stop_waits_for_child_futures_on_another_arbiter_whose_requesters_gave_up() {
    let other = Other::new();
    let counts = Counts::default();
    let spec = fetcher(&counts);
    let fetcher = spec.handle();
    let remote = SupervisorActor::builder("remote")
        .child(spec)
        .on_arbiter(other.handle());
    let app = SupervisorActor::builder("app")
        .child(remote)
        .start()
        .unwrap();
    within(fetcher.started()).await.unwrap();

    let long = Duration::from_millis(300);
    // One requester gives up once its handler ran (a `Fetch` answered
    // after it shows it was handled); one waits.
    let given_up = fetcher.send(Fetch::after(long));
    within(fetcher.send(Fetch::after(Duration::ZERO)))
        .await
        .unwrap();
    drop(given_up);
    let kept = fetcher.send(Fetch::after(long));
    within(fetcher.send(Fetch::after(Duration::ZERO)))
        .await
        .unwrap();

    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(counts.done(), 4, "the stop waited for both long fetches");
    within(kept).await.unwrap();
    let child = report.find("/app/remote/fetcher").unwrap();
    assert_eq!(child.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(
        (child.drained, child.undelivered, child.cancelled),
        (2, 0, 0),
        "{report}"
    );
}

/// "Every control message ... answers, whatever state the supervisor is
/// in"; `Inspect` answers at once. Here a subtree on another arbiter waits
/// for a sibling before it is spawned.
#[actix_rt::test]
async fn inspect_answers_while_a_remote_subtree_waits_for_its_dependency() {
    let other = Other::new();
    let gate = Gate::new();
    let (log, _records) = recorder();
    let remote = SupervisorActor::builder("remote")
        .child(probe_spec("inner", log))
        .depends_on("store")
        .on_arbiter(other.handle());
    let app = SupervisorActor::builder("app")
        .child(store(&gate))
        .child(remote)
        .start()
        .unwrap();
    let tree = within(app.send(actix_supervisor::Inspect)).await.unwrap();
    let remote = tree
        .find("/app/remote")
        .expect("the remote subtree is listed");
    assert_eq!(remote.state, NodeState::Waiting, "{tree}");
    gate.open();
    within(app.send(Stop)).await.unwrap();
}

/// A pool child restarted in place sits in a backoff: it still counts
/// against `max_children`, and the pool's stop drains what waits for it at
/// once, not after the backoff.
#[actix_rt::test]
async fn a_pool_child_in_a_backoff_counts_against_max_children_and_is_drained_by_the_pool_s_stop() {
    tokio::time::pause();
    let live = Arc::new(Live::default());
    let template_live = live.clone();
    let pool = Pool::builder("jobs", move |ending: &Ending| PoolJob {
        ending: *ending,
        live: template_live.clone(),
        handled: 0,
    })
    .max_children(1)
    .child_restart(RestartPolicy::Always)
    .child_backoff(Backoff::new(HOUR, HOUR))
    .start()
    .unwrap();

    let job = within(pool.start(Ending::Runs)).await.unwrap();
    within(job.started()).await.unwrap();
    let path = job.path().to_string();
    // Crash it into its backoff through a raw address.
    job.address().do_send(PoolCrash);
    testkit::wait_for_node(pool.supervisor(), &path, |n| {
        matches!(n.state, NodeState::Restarting { .. })
    })
    .await;
    for _ in 0..QUEUED {
        job.do_send(Work).unwrap();
    }
    assert!(matches!(
        within(pool.start(Ending::Runs)).await,
        Err(ControlError::Full { .. })
    ));

    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    let ended = within(job.ended()).await;
    assert_eq!(ended.outcome, StopOutcome::Drained, "{ended}\n{report}");
    assert_eq!((ended.drained, ended.undelivered), (QUEUED, 0), "{ended}");
}

/// Ends a pool job's incarnation with a panic.
#[derive(Message)]
#[rtype(result = "()")]
struct PoolCrash;

impl Handler<PoolCrash> for PoolJob {
    type Result = ();
    fn handle(&mut self, _: PoolCrash, _: &mut Context<Self>) {
        panic!("the job crashed");
    }
}

#[actix_rt::test]
async fn a_remove_child_from_another_thread_while_waiting_answers_and_accounts_for_what_waits() {
    let gate = Gate::new();
    let (app, reader) = waiting_reader(&gate, Duration::from_secs(10)).await;

    let to = app.clone();
    let answer = on_other_thread(move || to.send(actix_supervisor::RemoveChild::new("reader")));
    testkit::wait_for_node(&app, "/app/reader", |n| n.state == NodeState::Stopping).await;
    gate.open();
    let report = joined(answer).await.unwrap().unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(
        (report.drained, report.undelivered),
        (QUEUED, 0),
        "{report}"
    );
    assert_eq!(within(reader.stop()).await, report);
    let tree = within(app.send(actix_supervisor::Inspect)).await.unwrap();
    assert!(tree.find("/app/reader").is_none(), "{tree}");
    within(app.send(Stop)).await.unwrap();
}

/// A subscriber to one node of a remote subtree, reading slowly during a
/// storm there: told it lagged, and its stream ends with the tree.
#[actix_rt::test]
async fn a_slow_subtree_subscriber_below_a_remote_supervisor_lags_and_its_stream_ends() {
    let other = Other::new();
    let (parts, crash) = remote_tree(&other);
    let app = parts.app.start().unwrap();
    let node = actix_supervisor::path::NodePath::parse("/app/remote/crash").unwrap();
    let stream = within(app.send(Subscribe::subtree(node))).await.unwrap();

    storm(&crash).await;
    within(app.send(Stop)).await.unwrap();
    drop((app, parts.remote_addr, crash));
    let events = read_to_the_end(stream).await;
    assert!(
        missed(&events) > 0,
        "no Lagged among {} events",
        events.len()
    );
    assert!(events
        .iter()
        .all(|e| e.path.as_str() == "/app/remote/crash"));
    assert!(matches!(
        events.last().map(|e| &e.kind),
        Some(EventKind::Stopped { .. })
    ));
}
