//! Promise 22: a nested supervisor placed on another arbiter
//! (`SupervisorBuilder::on_arbiter`) runs its whole subtree on that thread,
//! and every promise holds across the thread boundary: stable addresses,
//! a draining stop with its report, inspection, events, escalation under
//! the parent's policy and intensity, cancellation tokens, `Kill`, a stop
//! while the other thread is busy, and a panic there.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::testkit::EventRecorder;
use actix_supervisor::{
    events::EventKind,
    snapshot::{FailureKind, NodeKind, NodeState},
    ChildSpec, Grace, Inspect, Kill, RestartIntensity, RestartPolicy, Stop, StopOutcome, Strategy,
    SupervisorActor,
};
use common::*;
use tokio_util::sync::CancellationToken;

/// An arbiter of the test's own, stopped and joined when dropped.
struct Other(Option<Arbiter>);

impl Other {
    fn new() -> Self {
        Other(Some(Arbiter::new()))
    }

    fn handle(&self) -> ArbiterHandle {
        self.0.as_ref().expect("running").handle()
    }

    /// The arbiter's thread.
    async fn thread(&self) -> ThreadId {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.handle().spawn_fn(move || {
            let _ = tx.send(std::thread::current().id());
        });
        within(rx).await.expect("the arbiter runs")
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

/// A child that counts what it handles, tells its thread, and can be kept
/// busy on the CPU.
struct Cruncher {
    count: u64,
}

impl Actor for Cruncher {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Cruncher);

fn cruncher(name: &str) -> ChildSpec<Cruncher> {
    ChildSpec::new(name, || Cruncher { count: 0 })
}

/// Answers the thread the child runs on.
#[derive(Message)]
#[rtype(result = "ThreadId")]
struct Where;

impl Handler<Where> for Cruncher {
    type Result = MessageResult<Where>;
    fn handle(&mut self, _: Where, _: &mut Context<Self>) -> Self::Result {
        MessageResult(std::thread::current().id())
    }
}

/// Counts one; answers the count.
#[derive(Message)]
#[rtype(result = "u64")]
struct Crunch;

impl Handler<Crunch> for Cruncher {
    type Result = u64;
    fn handle(&mut self, _: Crunch, _: &mut Context<Self>) -> u64 {
        self.count += 1;
        self.count
    }
}

/// Keeps the child's thread busy (no await, a CPU loop) until released.
#[derive(Message)]
#[rtype(result = "()")]
struct Spin {
    entered: Recorder<()>,
    release: Arc<AtomicBool>,
}

impl Handler<Spin> for Cruncher {
    type Result = ();
    fn handle(&mut self, spin: Spin, _: &mut Context<Self>) {
        spin.entered.record(());
        // Bounded, so a failing test cannot spin forever.
        let guard = std::time::Instant::now() + TIMEOUT;
        while !spin.release.load(Ordering::SeqCst) && std::time::Instant::now() < guard {
            std::hint::spin_loop();
        }
    }
}

impl Handler<Panic> for Cruncher {
    type Result = ();
    fn handle(&mut self, msg: Panic, _: &mut Context<Self>) {
        panic!("{}", msg.0);
    }
}

impl Handler<FailWith> for Cruncher {
    type Result = ();
    fn handle(&mut self, msg: FailWith, ctx: &mut Context<Self>) {
        actix_supervisor::fail(ctx, msg.0);
    }
}

#[actix_rt::test]
async fn a_subtree_on_another_arbiter_runs_on_that_arbiter_s_thread() {
    let other = Other::new();
    let spec = cruncher("cruncher");
    let handle = spec.handle();
    let remote = SupervisorActor::builder("remote")
        .child(spec)
        .on_arbiter(other.handle());
    let local = cruncher("local");
    let local_handle = local.handle();
    let _app = SupervisorActor::builder("app")
        .child(local)
        .child(remote)
        .start()
        .unwrap();

    assert_eq!(
        within(handle.send(Where)).await.unwrap(),
        other.thread().await
    );
    assert_eq!(
        within(local_handle.send(Where)).await.unwrap(),
        std::thread::current().id(),
        "its siblings stay on the parent's arbiter"
    );
}

#[actix_rt::test]
async fn the_subtree_s_addresses_are_valid_before_it_starts_and_across_its_restart() {
    let other = Other::new();
    let spec = cruncher("cruncher");
    let handle = spec.handle();
    let remote = SupervisorActor::builder("remote")
        .intensity(RestartIntensity::new(0, Duration::from_secs(5)))
        .child(spec)
        .on_arbiter(other.handle());
    let remote_addr = remote.address();
    // Sent before anything started: it waits in the mailbox.
    let early = handle.send(Crunch);
    let app = SupervisorActor::builder("app")
        .child(remote)
        .start()
        .unwrap();
    let lifecycle = EventRecorder::start(&app).await.unwrap();
    assert_eq!(within(early).await.unwrap(), 1);
    let before = within(remote_addr.send(Inspect)).await.unwrap();
    assert_eq!(before.root.path.as_str(), "/app/remote");

    // Past its intensity (none allowed) the subtree escalates; its parent
    // restarts it: the same supervisor, its children started afresh.
    within(handle.send(FailWith("upstream down".into())))
        .await
        .unwrap();
    lifecycle
        .wait_for(|e| e.path.as_str() == "/app/remote" && e.kind == EventKind::Started)
        .await;
    assert_eq!(
        within(handle.send(Crunch)).await.unwrap(),
        1,
        "the same handle reaches the fresh incarnation"
    );
    let after = within(remote_addr.send(Inspect)).await.unwrap();
    assert_eq!(
        (after.root.state, after.root.incarnation),
        (NodeState::Running, 2),
        "{after}"
    );
    assert_eq!(after.find("/app/remote/cruncher").unwrap().incarnation, 2);
}

#[actix_rt::test]
async fn a_draining_stop_of_the_parent_drains_the_remote_subtree_and_reports_it() {
    let other = Other::new();
    let spec = cruncher("cruncher");
    let handle = spec.handle();
    let remote = SupervisorActor::builder("remote")
        .child(spec)
        .on_arbiter(other.handle());
    let app = SupervisorActor::builder("app")
        .child(remote)
        .start()
        .unwrap();

    // A backlog behind a busy handler on the other thread.
    let (entered, mut entered_records) = recorder();
    let release = Arc::new(AtomicBool::new(false));
    handle
        .do_send(Spin {
            entered,
            release: release.clone(),
        })
        .unwrap();
    entered_records.next().await;
    let waiting: Vec<_> = (0..5).map(|_| handle.send(Crunch)).collect();
    let stop = actix_rt::spawn(app.send(Stop));
    release.store(true, Ordering::SeqCst);

    let report = within(stop).await.unwrap().unwrap();
    assert!(report.is_drained(), "{report:?}");
    let counts: Vec<u64> = futures_util::future::join_all(waiting)
        .await
        .into_iter()
        .map(|reply| reply.expect("every waiting message was handled"))
        .collect();
    assert_eq!(counts, [1, 2, 3, 4, 5]);
    let remote = report.find("/app/remote").expect("the subtree's report");
    assert_eq!(remote.outcome, StopOutcome::Drained);
    let child = report.find("/app/remote/cruncher").expect("its child's");
    assert_eq!(child.outcome, StopOutcome::Drained);
    assert_eq!(child.undelivered, 0);
}

#[actix_rt::test]
async fn inspect_of_the_parent_shows_the_remote_subtree() {
    let other = Other::new();
    let spec = cruncher("cruncher");
    let handle = spec.handle();
    let remote = SupervisorActor::builder("remote")
        .child(spec)
        .on_arbiter(other.handle());
    let app = SupervisorActor::builder("app")
        .child(remote)
        .start()
        .unwrap();
    within(handle.send(Crunch)).await.unwrap();

    let tree = within(app.send(Inspect)).await.unwrap();
    let remote = tree.find("/app/remote").unwrap();
    assert_eq!(
        (remote.kind, remote.state),
        (NodeKind::Supervisor, NodeState::Running),
        "{tree}"
    );
    let child = tree.find("/app/remote/cruncher").unwrap();
    assert_eq!(
        (child.kind, child.state),
        (NodeKind::Actor, NodeState::Running)
    );
}

#[actix_rt::test]
async fn a_panic_on_the_other_arbiter_is_restarted_there_and_seen_in_events_and_inspect() {
    let other = Other::new();
    let spec = cruncher("cruncher");
    let handle = spec.handle();
    let remote = SupervisorActor::builder("remote")
        .child(spec)
        .on_arbiter(other.handle());
    let app = SupervisorActor::builder("app")
        .child(remote)
        .start()
        .unwrap();
    let lifecycle = EventRecorder::start(&app).await.unwrap();

    assert!(within(handle.send(Panic("boom on the other thread")))
        .await
        .is_err());
    lifecycle
        .wait_for(|e| {
            e.path.as_str() == "/app/remote/cruncher"
                && e.kind == EventKind::Started
                && e.incarnation == 2
        })
        .await;
    let failed = lifecycle
        .for_path("/app/remote/cruncher")
        .into_iter()
        .find_map(|e| match e.kind {
            EventKind::Failed { failure } => Some(failure),
            _ => None,
        })
        .expect("the failure reached the parent's subscriber");
    assert_eq!(failed.kind, FailureKind::Panic);
    assert_eq!(failed.message, "boom on the other thread");
    assert_eq!(
        within(handle.send(Where)).await.unwrap(),
        other.thread().await,
        "restarted on its own arbiter"
    );
    let tree = within(app.send(Inspect)).await.unwrap();
    let child = tree.find("/app/remote/cruncher").unwrap();
    assert_eq!(child.restart_count, 1, "{tree}");
    assert_eq!(
        child.last_failure.as_ref().unwrap().message,
        "boom on the other thread"
    );
    assert_eq!(tree.root.state, NodeState::Running);
}

#[actix_rt::test]
async fn an_escalation_past_the_parent_s_intensity_fails_the_parent() {
    let other = Other::new();
    let spec = cruncher("cruncher");
    let handle = spec.handle();
    let remote = SupervisorActor::builder("remote")
        .intensity(RestartIntensity::new(0, Duration::from_secs(5)))
        .child(spec)
        .on_arbiter(other.handle());
    let app = SupervisorActor::builder("app")
        .intensity(RestartIntensity::new(0, Duration::from_secs(5)))
        .child(remote)
        .start()
        .unwrap();
    let lifecycle = EventRecorder::start(&app).await.unwrap();

    within(handle.send(FailWith("upstream down".into())))
        .await
        .unwrap();
    lifecycle
        .wait_for(|e| e.path.as_str() == "/app" && matches!(e.kind, EventKind::GaveUp { .. }))
        .await;
    assert_eq!(lifecycle.kinds("/app/remote")[..1], ["escalated"]);
    let report = within(app.send(Stop)).await.unwrap();
    assert!(
        matches!(&report.outcome, StopOutcome::Failed(f) if f.message == "upstream down"),
        "the parent gave up: {report:?}"
    );
    let remote = report.find("/app/remote").unwrap();
    assert!(
        matches!(remote.outcome, StopOutcome::Failed(_)),
        "{remote:?}"
    );
    let tree = within(app.send(Inspect)).await.unwrap();
    assert_eq!(tree.root.state, NodeState::Failed, "{tree}");
    assert_eq!(
        tree.find("/app/remote").unwrap().state,
        NodeState::Failed,
        "{tree}"
    );
}

#[actix_rt::test]
async fn under_never_an_escalating_remote_subtree_fails_alone() {
    let other = Other::new();
    let spec = cruncher("cruncher");
    let handle = spec.handle();
    let remote = SupervisorActor::builder("remote")
        .intensity(RestartIntensity::new(0, Duration::from_secs(5)))
        .restart(RestartPolicy::Never)
        .child(spec)
        .on_arbiter(other.handle());
    let sibling = cruncher("sibling");
    let sibling_handle = sibling.handle();
    let app = SupervisorActor::builder("app")
        .child(sibling)
        .child(remote)
        .start()
        .unwrap();
    let lifecycle = EventRecorder::start(&app).await.unwrap();

    within(handle.send(FailWith("upstream down".into())))
        .await
        .unwrap();
    lifecycle
        .wait_for(|e| {
            e.path.as_str() == "/app/remote" && matches!(e.kind, EventKind::GaveUp { .. })
        })
        .await;
    assert_eq!(
        lifecycle.kinds("/app/remote")[..3],
        ["escalated", "stopping", "gave_up"],
        "{:?}",
        lifecycle.events()
    );
    assert_eq!(within(sibling_handle.send(Crunch)).await.unwrap(), 1);
    let tree = within(app.send(Inspect)).await.unwrap();
    assert_eq!(tree.root.state, NodeState::Running, "{tree}");
    assert_eq!(tree.find("/app/remote").unwrap().state, NodeState::Failed);
}

#[actix_rt::test]
async fn under_one_for_all_a_failing_sibling_restarts_the_remote_subtree_too() {
    let other = Other::new();
    let spec = cruncher("cruncher");
    let handle = spec.handle();
    let remote = SupervisorActor::builder("remote")
        .child(spec)
        .on_arbiter(other.handle());
    let sibling = cruncher("sibling");
    let sibling_handle = sibling.handle();
    let app = SupervisorActor::builder("app")
        .strategy(Strategy::OneForAll)
        .child(remote)
        .child(sibling)
        .start()
        .unwrap();
    let lifecycle = EventRecorder::start(&app).await.unwrap();
    assert_eq!(within(handle.send(Crunch)).await.unwrap(), 1);

    within(sibling_handle.send(FailWith("sibling down".into())))
        .await
        .unwrap();
    lifecycle
        .wait_for(|e| e.path.as_str() == "/app/remote" && e.kind == EventKind::Started)
        .await;
    assert_eq!(
        within(handle.send(Crunch)).await.unwrap(),
        1,
        "the remote child restarted fresh behind the same handle"
    );
    let tree = within(app.send(Inspect)).await.unwrap();
    assert_eq!(tree.find("/app/remote").unwrap().incarnation, 2, "{tree}");
}

#[actix_rt::test]
async fn tokens_on_the_other_arbiter_are_cancelled_by_the_parent_s_stop() {
    let other = Other::new();
    let (tokens, mut given) = recorder::<CancellationToken>();
    let spec = ChildSpec::with_context("cruncher", move |start| {
        tokens.record(start.token().clone());
        Cruncher { count: 0 }
    });
    let remote = SupervisorActor::builder("remote")
        .child(spec)
        .on_arbiter(other.handle());
    let app = SupervisorActor::builder("app")
        .child(remote)
        .start()
        .unwrap();

    let token = given.next().await;
    assert!(!token.is_cancelled());
    within(app.send(Stop)).await.unwrap();
    within(token.cancelled()).await;
}

#[actix_rt::test]
async fn kill_of_the_parent_ends_the_remote_subtree() {
    let other = Other::new();
    let (tokens, mut given) = recorder::<CancellationToken>();
    let spec = ChildSpec::with_context("cruncher", move |start| {
        tokens.record(start.token().clone());
        Cruncher { count: 0 }
    });
    let handle = spec.handle();
    let remote = SupervisorActor::builder("remote")
        .child(spec)
        .on_arbiter(other.handle());
    let app = SupervisorActor::builder("app")
        .child(remote)
        .start()
        .unwrap();
    let lifecycle = EventRecorder::start(&app).await.unwrap();
    let token = given.next().await;

    app.do_send(Kill);
    lifecycle
        .wait_for(|e| {
            e.path.as_str() == "/app/remote" && matches!(e.kind, EventKind::Stopped { .. })
        })
        .await;
    within(token.cancelled()).await;
    // The event is published at the kill, from the parent's thread; the
    // child on the other arbiter ends on that arbiter's next turn (killed,
    // or stopped by its cancelled token if that came first), and its
    // handle answers its report then.
    within(handle.ended()).await;
    assert!(
        within(handle.send(Crunch)).await.is_err(),
        "the remote child is gone"
    );
}

#[actix_rt::test]
async fn a_stop_while_the_other_arbiter_is_busy_answers_within_the_parent_s_grace() {
    let other = Other::new();
    let spec = cruncher("cruncher");
    let handle = spec.handle();
    let remote = SupervisorActor::builder("remote")
        .child(spec)
        .on_arbiter(other.handle());
    let app = SupervisorActor::builder("app")
        .grace(Grace::Duration(Duration::from_millis(200)))
        .child(remote)
        .start()
        .unwrap();
    let lifecycle = EventRecorder::start(&app).await.unwrap();
    let (entered, mut entered_records) = recorder();
    let release = Arc::new(AtomicBool::new(false));
    handle
        .do_send(Spin {
            entered,
            release: release.clone(),
        })
        .unwrap();
    entered_records.next().await;

    // The other thread is busy until the stop has answered.
    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::TimedOut, "{report:?}");
    assert_eq!(
        report.find("/app/remote").unwrap().outcome,
        StopOutcome::TimedOut
    );
    // The subtree's end was published with the report, at the kill; its
    // child, busy on the other thread, is still there.
    let seen = lifecycle.events();
    assert!(
        seen.iter().any(|e| e.path.as_str() == "/app/remote"
            && matches!(&e.kind, EventKind::Stopped { report } if report.outcome == StopOutcome::TimedOut)),
        "{seen:#?}"
    );
    release.store(true, Ordering::SeqCst);
    // Once free, the other thread ends the subtree: its child ends.
    lifecycle
        .wait_for(|e| {
            e.path.as_str() == "/app/remote/cruncher" && matches!(e.kind, EventKind::Stopped { .. })
        })
        .await;
    assert!(within(handle.send(Crunch)).await.is_err());
}

#[actix_rt::test]
async fn a_subtree_placed_on_a_stopped_arbiter_is_reported_failed() {
    let mut other = Other::new();
    let stopped = other.handle();
    drop(other.0.take().map(|arbiter| {
        arbiter.stop();
        arbiter.join()
    }));
    let remote = SupervisorActor::builder("remote")
        .child(cruncher("cruncher"))
        .on_arbiter(stopped);
    let app = SupervisorActor::builder("app")
        .child(remote.restart(RestartPolicy::Never))
        .start()
        .unwrap();

    let report = within(app.send(Stop)).await.unwrap();
    let remote = report.find("/app/remote").unwrap();
    assert!(
        matches!(&remote.outcome, StopOutcome::Failed(f) if f.message.contains("arbiter")),
        "{remote:?}"
    );
}

#[actix_rt::test]
async fn a_root_can_start_on_another_arbiter() {
    let other = Other::new();
    let spec = cruncher("cruncher");
    let handle = spec.handle();
    let app = SupervisorActor::builder("app")
        .child(spec)
        .on_arbiter(other.handle())
        .start()
        .unwrap();

    assert_eq!(
        within(handle.send(Where)).await.unwrap(),
        other.thread().await
    );
    let report = within(app.send(Stop)).await.unwrap();
    assert!(report.is_drained(), "{report:?}");
    assert!(report.find("/app/cruncher").is_some());
}

#[actix_rt::test]
async fn a_root_placed_on_a_stopped_arbiter_is_refused() {
    let mut other = Other::new();
    let stopped = other.handle();
    drop(other.0.take().map(|arbiter| {
        arbiter.stop();
        arbiter.join()
    }));
    let refused = SupervisorActor::builder("app")
        .child(cruncher("cruncher"))
        .on_arbiter(stopped)
        .start();
    assert!(
        matches!(
            refused,
            Err(actix_supervisor::BuildError::InvalidField {
                field: "arbiter",
                ..
            })
        ),
        "{refused:?}"
    );
}

/// Records its name when its `started` runs.
struct Announce(&'static str, Recorder<&'static str>);

impl Actor for Announce {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.1.record(self.0);
    }
}
actix_supervisor::supervised!(Announce);

fn announce(name: &'static str, log: &Recorder<&'static str>) -> ChildSpec<Announce> {
    let log = log.clone();
    ChildSpec::new(name, move || Announce(name, log.clone()))
}

#[actix_rt::test]
async fn start_order_holds_across_the_thread_boundary() {
    let other = Other::new();
    let (log, mut started) = recorder();
    let remote = SupervisorActor::builder("remote")
        .child(announce("remote-child", &log))
        .depends_on("store")
        .on_arbiter(other.handle());
    let _app = SupervisorActor::builder("app")
        .child(announce("store", &log))
        .child(remote)
        .child(announce("reader", &log).depends_on("remote"))
        .start()
        .unwrap();

    let mut order = Vec::new();
    for _ in 0..3 {
        order.push(started.next().await);
    }
    assert_eq!(order, ["store", "remote-child", "reader"]);
}

#[actix_rt::test]
async fn an_arbiter_pool_places_one_subtree_on_each_of_its_arbiters() {
    let pool = actix_supervisor::ArbiterPool::new(2);
    let mut handles = Vec::new();
    let mut app = SupervisorActor::builder("app");
    for subtree in pool.subtrees("crunchers", |_, sup| {
        let spec = cruncher("cruncher");
        handles.push(spec.handle());
        sup.child(spec)
    }) {
        app = app.child(subtree);
    }
    let app = app.start().unwrap();

    let mut threads = Vec::new();
    for handle in &handles {
        threads.push(within(handle.send(Where)).await.unwrap());
    }
    assert_ne!(threads[0], threads[1], "one subtree per arbiter");
    assert!(!threads.contains(&std::thread::current().id()));
    let report = within(app.send(Stop)).await.unwrap();
    assert!(report.find("/app/crunchers-1/cruncher").is_some());
    pool.join();
}
