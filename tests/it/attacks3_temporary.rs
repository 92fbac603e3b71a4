//! Attacks from outside, with the public API only, on temporary children
//! (`ChildSpec::remove_on_exit`, `SupervisorBuilder::remove_on_exit`) and on
//! dependencies on them, in the cases `attacks_restart` left: a temporary
//! nested supervisor stopped through its own address (local and on another
//! arbiter), the parent's stop while a temporary child or subtree drains,
//! `RestartChild` and `StartChild` of the same name racing a temporary
//! child's own end, a dependent whose restart waits while its temporary
//! dependency is away and comes back, replacements that would close a
//! dependency cycle, and a temporary nested supervisor as a dependency.
//!
//! Each test asserts a promise of `docs/ended_children.md`,
//! `docs/start_order.md` or the rustdoc. A test marked
//! `#[ignore = "DEFECT: ..."]` shows a promise broken today.
//!
//! Tests run under paused time where they stay on one thread, and wait
//! only on replies, handles, reports and events; every await that could
//! hang is bounded.

use crate::attacks3_support::{
    assert_consistent, member, names, node, settled, Crash, Done, HoldOn, Live, Member, Note, Which,
};
use crate::common::{within, Gate};

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::events::EventKind;
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::testkit;
use actix_supervisor::{
    ChildSpec, ControlError, RestartChild, RestartPolicy, StartChild, Stop, StopChild, StopOutcome,
    StopReport, Subscribe, SupervisorActor, SupervisorBuilder,
};
use futures_util::StreamExt;

fn temporary(name: &str, live: &Arc<Live>) -> ChildSpec<Member> {
    member(name, live)
        .restart(RestartPolicy::Never)
        .remove_on_exit()
}

fn temporary_batch(name: &str, live: &Arc<Live>) -> SupervisorBuilder {
    SupervisorActor::builder(name)
        .child(member("worker", live))
        .remove_on_exit()
}

/// Waits for the `Stopped` event of `path` on `events`, and answers its
/// report.
async fn stopped_event(
    events: &mut (impl futures_util::Stream<Item = actix_supervisor::events::LifecycleEvent> + Unpin),
    path: &str,
) -> StopReport {
    loop {
        let event = within(events.next()).await.expect("the stream ended");
        if event.path.as_str() == path {
            if let EventKind::Stopped { report } = event.kind {
                return report;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 1. Temporary nested supervisors.

/// A temporary nested supervisor stopped with a `Stop` sent to its own
/// address (not through its parent): it leaves, its `Stopped` event
/// carries the report the `Stop` answered, and once that event is seen the
/// parent no longer lists it and takes a new subtree of the same name.
async fn stopped_through_its_own_address(remote: Option<&Arbiter>) {
    let remote_name = remote.is_some();
    let live = Live::new();
    let app = SupervisorActor::builder("app").start().unwrap();
    let mut events = within(app.send(Subscribe::all())).await.unwrap();
    let mut batch = temporary_batch("batch", &live);
    if let Some(arbiter) = remote {
        batch = batch.on_arbiter(arbiter.handle());
    }
    let batch_addr = batch.address();
    within(app.send(StartChild::new(batch)))
        .await
        .unwrap()
        .unwrap();
    settled(testkit::wait_for_node(&app, "/app/batch/worker", |n| {
        n.state == NodeState::Running
    }))
    .await;

    let report = within(batch_addr.send(Stop)).await.unwrap();
    assert_eq!(
        report.outcome,
        StopOutcome::Drained,
        "remote {remote_name}: {report}"
    );
    assert_eq!(live.now(), 0, "remote {remote_name}");
    let published = stopped_event(&mut events, "/app/batch").await;
    assert_eq!(published, report, "remote {remote_name}");
    assert!(
        node(&app, "/app/batch").await.is_none(),
        "remote {remote_name}: a stopped temporary subtree stays listed"
    );
    let again = within(app.send(StartChild::new(temporary_batch("batch", &live))))
        .await
        .unwrap();
    assert!(again.is_ok(), "remote {remote_name}: {again:?}");
    assert_eq!(names(&app).await, ["batch"], "remote {remote_name}");
    let end = within(app.send(Stop)).await.unwrap();
    assert_eq!(
        end.outcome,
        StopOutcome::Drained,
        "remote {remote_name}: {end}"
    );
    assert_eq!(live.now(), 0, "remote {remote_name}");
}

#[actix_rt::test]
async fn a_temporary_subtree_stopped_through_its_own_address_leaves_and_frees_its_name() {
    stopped_through_its_own_address(None).await;
}

/// The same on another arbiter (once a defect: the `Stop` answered and the
/// `Stopped` event was published while the parent still listed the
/// subtree).
#[actix_rt::test]
async fn a_temporary_subtree_on_another_arbiter_stopped_through_its_own_address_leaves_by_its_stopped_event(
) {
    let arbiter = Arbiter::new();
    stopped_through_its_own_address(Some(&arbiter)).await;
    arbiter.stop();
}

/// A temporary subtree whose only child fails gives up (no restart left,
/// and its own policy is `Never`): it leaves, its `Stopped` event carries
/// the failure, and its name is free once the event is seen (a subscriber
/// that starts it again on the event must be able to).
async fn gives_up(remote: Option<&Arbiter>) {
    let remote_name = remote.is_some();
    let live = Live::new();
    let app = SupervisorActor::builder("app").start().unwrap();
    let mut events = within(app.send(Subscribe::all())).await.unwrap();
    let worker = member("worker", &live).restart(RestartPolicy::OnFailure);
    let crash = worker.handle();
    let mut batch = SupervisorActor::builder("batch")
        .child(worker)
        .restart(RestartPolicy::Never)
        .intensity(actix_supervisor::RestartIntensity::new(
            0,
            Duration::from_secs(5),
        ))
        .remove_on_exit();
    if let Some(arbiter) = remote {
        batch = batch.on_arbiter(arbiter.handle());
    }
    within(app.send(StartChild::new(batch)))
        .await
        .unwrap()
        .unwrap();
    within(crash.started()).await.unwrap();
    crash.do_send(Crash).unwrap();
    let report = stopped_event(&mut events, "/app/batch").await;
    assert!(
        matches!(report.outcome, StopOutcome::Failed(_)),
        "remote {remote_name}: {report}"
    );
    let again = within(app.send(StartChild::new(temporary_batch("batch", &live))))
        .await
        .unwrap();
    assert!(again.is_ok(), "remote {remote_name}: {again:?}");
    assert_eq!(names(&app).await, ["batch"], "remote {remote_name}");
    within(app.send(Stop)).await.unwrap();
    assert_eq!(live.now(), 0, "remote {remote_name}");
}

#[actix_rt::test]
async fn a_temporary_subtree_that_gives_up_frees_its_name_by_its_stopped_event() {
    gives_up(None).await;
}

/// The same on another arbiter (once a defect: the `Stopped` event was
/// published while the parent still held the name).
#[actix_rt::test]
async fn a_temporary_subtree_on_another_arbiter_that_gives_up_frees_its_name_by_its_stopped_event()
{
    let arbiter = Arbiter::new();
    gives_up(Some(&arbiter)).await;
    arbiter.stop();
}

// ---------------------------------------------------------------------------
// 2. The parent's stop while a temporary child ends.

/// A temporary child drains for its handle's stop (held by a gate) when
/// the parent is asked to stop: both stops answer, the child's report is
/// the same wherever it is read, every note it held is handled, and
/// nothing runs after.
#[actix_rt::test]
async fn the_parent_s_stop_while_a_temporary_child_drains_answers_one_report() {
    tokio::time::pause();
    let live = Live::new();
    let keeper_live = Live::new();
    let spec = temporary("job", &live);
    let job = spec.handle();
    let app = SupervisorActor::builder("app")
        .child(member("keeper", &keeper_live))
        .child(spec)
        .start()
        .unwrap();
    within(job.started()).await.unwrap();
    let gate = Gate::new();
    job.do_send(HoldOn(gate.clone())).unwrap();
    for _ in 0..3 {
        job.do_send(Note).unwrap();
    }
    let own = tokio::spawn(job.stop());
    settled(testkit::wait_for_node(&app, "/app/job", |n| {
        n.state == NodeState::Stopping
    }))
    .await;
    let parent = tokio::spawn(app.send(Stop));
    tokio::task::yield_now().await;
    gate.open();
    let own = within(own).await.unwrap();
    let parent = within(parent).await.unwrap().unwrap();
    assert_eq!(own.outcome, StopOutcome::Drained, "{own}");
    assert_eq!(own.drained, 4, "{own}");
    assert_eq!(parent.outcome, StopOutcome::Drained, "{parent}");
    if let Some(held) = parent.find("/app/job") {
        assert_eq!(held, &own, "two reports for one end");
    }
    assert_eq!(within(job.ended()).await, own);
    assert_eq!(live.handled(), 3);
    assert_eq!(live.now() + keeper_live.now(), 0);
}

/// The same with a temporary subtree: its `StopChild` drains a worker held
/// by a gate when the root is asked to stop. Both answer, with one report
/// for the subtree, and every note is handled.
#[actix_rt::test]
async fn the_parent_s_stop_while_a_temporary_subtree_drains_answers_one_report() {
    tokio::time::pause();
    let live = Live::new();
    let worker = member("worker", &live);
    let handle = worker.handle();
    let batch = SupervisorActor::builder("batch")
        .child(worker)
        .remove_on_exit();
    let app = SupervisorActor::builder("app")
        .child(batch)
        .start()
        .unwrap();
    within(handle.started()).await.unwrap();
    let gate = Gate::new();
    handle.do_send(HoldOn(gate.clone())).unwrap();
    for _ in 0..3 {
        handle.do_send(Note).unwrap();
    }
    let child_stop = tokio::spawn(app.send(StopChild::new("batch")));
    settled(testkit::wait_for_node(&app, "/app/batch/worker", |n| {
        n.state == NodeState::Stopping
    }))
    .await;
    let parent = tokio::spawn(app.send(Stop));
    tokio::task::yield_now().await;
    gate.open();
    let child_stop = within(child_stop).await.unwrap().unwrap().unwrap();
    let parent = within(parent).await.unwrap().unwrap();
    assert_eq!(child_stop.outcome, StopOutcome::Drained, "{child_stop}");
    assert_eq!(parent.outcome, StopOutcome::Drained, "{parent}");
    if let Some(held) = parent.find("/app/batch") {
        assert_eq!(held, &child_stop, "two reports for one end");
    }
    assert_eq!(live.handled(), 3);
    assert_eq!(live.now(), 0);
    assert!(within(handle.ended()).await.drained >= 3);
}

// ---------------------------------------------------------------------------
// 3. Requests racing a temporary child's own end.

/// A temporary child is told to end on its own (`Done`), and after 0 to 20
/// turns of the scheduler a `RestartChild` of its name is sent. Whatever
/// the interleaving: the request answers; if it started the child again,
/// one incarnation runs, is listed and is reached by the handle; if not,
/// nothing of that name is listed or runs, and the handle refuses.
#[actix_rt::test]
async fn restart_child_racing_a_temporary_child_s_own_end_leaves_a_consistent_tree() {
    tokio::time::pause();
    for yields in [0u32, 1, 2, 3, 5, 10, 20] {
        let live = Live::new();
        let spec = temporary("job", &live);
        let job = spec.handle();
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();
        within(job.started()).await.unwrap();
        job.do_send(Done).unwrap();
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        let restarted = within(app.send(RestartChild::new("job"))).await.unwrap();
        assert!(
            matches!(
                restarted,
                Ok(())
                    | Err(ControlError::UnknownChild { .. })
                    | Err(ControlError::ChildStopping { .. })
                    | Err(ControlError::ChildEnded { .. })
            ),
            "{yields} yields: {restarted:?}"
        );
        assert_consistent(&app, "/app/job", &job, &live).await;
        let listed = node(&app, "/app/job").await;
        if restarted.is_ok() {
            // Started again: it runs until stopped, then leaves.
            assert!(
                listed.is_some(),
                "{yields} yields: restarted but not listed"
            );
            let report = within(job.stop()).await;
            assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
            assert!(node(&app, "/app/job").await.is_none());
        } else {
            assert!(listed.is_none(), "{yields} yields: {listed:?}");
        }
        assert_eq!(live.now(), 0, "{yields} yields");
        let end = within(app.send(Stop)).await.unwrap();
        assert_eq!(end.outcome, StopOutcome::Drained, "{yields} yields: {end}");
    }
}

/// A temporary child is told to end on its own, and a `StartChild` of a new
/// child under its name is sent 0 to 20 turns later. The start answers: a
/// duplicate while the old one has not ended, or taken. Once taken, the
/// old child's leaving must not take the new one with it: exactly one
/// child of that name is listed, and it is the new one, running.
#[actix_rt::test]
async fn start_child_racing_a_temporary_child_s_own_end_never_loses_the_new_child() {
    tokio::time::pause();
    for yields in [0u32, 1, 2, 3, 5, 10, 20] {
        let (old_live, new_live) = (Live::new(), Live::new());
        let spec = temporary("job", &old_live);
        let old = spec.handle();
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();
        within(old.started()).await.unwrap();
        old.do_send(Done).unwrap();
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        let next = temporary("job", &new_live);
        let new = next.handle();
        let taken = within(app.send(StartChild::new(next))).await.unwrap();
        match taken {
            Ok(_) => {}
            Err(ControlError::InvalidSpec(_)) => {
                // Not yet: after `ended()`, the name is free.
                within(old.ended()).await;
                let next = temporary("job", &new_live);
                let retry = next.handle();
                within(app.send(StartChild::new(next)))
                    .await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("{yields} yields: {e:?}"));
                within(retry.started()).await.unwrap();
                assert_eq!(within(retry.send(Which)).await.unwrap(), 1);
                within(app.send(Stop)).await.unwrap();
                continue;
            }
            Err(other) => panic!("{yields} yields: {other:?}"),
        }
        within(new.started()).await.unwrap();
        // Once `ended()` answered, the old child has asked to leave: the
        // next look sees its leaving done.
        within(old.ended()).await;
        let listed = names(&app).await;
        assert_eq!(listed, ["job"], "{yields} yields: the new child was lost");
        assert_consistent(&app, "/app/job", &new, &new_live).await;
        assert_eq!(new_live.now(), 1, "{yields} yields");
        assert_eq!(old_live.now(), 0);
        within(app.send(Stop)).await.unwrap();
    }
}

// ---------------------------------------------------------------------------
// 4. Dependencies on temporary children.

/// `reader` depends on the temporary `db`. `db` leaves; `reader` fails and
/// its restart waits (start timeout 60 s). Meanwhile a new `db` is started:
/// it takes the old one's place for `reader`, whose wait ends and which
/// starts, before its timeout, without failing again.
#[actix_rt::test]
async fn a_dependent_waiting_while_its_temporary_dependency_is_away_starts_when_it_comes_back() {
    tokio::time::pause();
    let (db_live, reader_live, new_db_live) = (Live::new(), Live::new(), Live::new());
    let db = temporary("db", &db_live);
    let reader = member("reader", &reader_live)
        .restart(RestartPolicy::OnFailure)
        .depends_on("db")
        .start_timeout(Duration::from_secs(60));
    let (db_h, reader_h) = (db.handle(), reader.handle());
    let app = SupervisorActor::builder("app")
        .intensity(crate::common::unlimited())
        .child(db)
        .child(reader)
        .start()
        .unwrap();
    within(reader_h.started()).await.unwrap();
    within(db_h.stop()).await;
    assert!(node(&app, "/app/db").await.is_none());

    reader_h.do_send(Crash).unwrap();
    settled(testkit::wait_for_node(&app, "/app/reader", |n| {
        n.state == NodeState::Waiting
    }))
    .await;
    reader_h.do_send(Note).unwrap();

    let new_db = temporary("db", &new_db_live);
    within(app.send(StartChild::new(new_db)))
        .await
        .unwrap()
        .unwrap();
    let reader_now = testkit::wait_for_node(&app, "/app/reader", |n| {
        n.state == NodeState::Running || n.restart_count >= 2 || n.state.is_terminal()
    })
    .timeout(Duration::from_secs(30))
    .await;
    assert_eq!(
        (reader_now.state, reader_now.restart_count),
        (NodeState::Running, 1),
        "the dependent did not start beside the new `db`: {reader_now:?}"
    );
    assert_eq!(within(reader_h.send(Which)).await.unwrap(), 2);
    assert_eq!(reader_live.handled(), 1, "the note sent while it waited");
    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(reader_live.now() + new_db_live.now(), 0);
}

/// `b` depends on the temporary `a`, `c` on `b`. `a` leaves, and a new `a`
/// that depends on `b` (then, in a second tree, on `c`) is started: taking
/// the old one's place would close a cycle, so `b` keeps its old
/// dependency (docs/ended_children.md). Whatever the start answers, the
/// tree stays usable: the new `a` starts if taken, the root's stop answers,
/// and nothing runs after.
#[actix_rt::test]
async fn a_replacement_that_would_close_a_dependency_cycle_does_not_hang_the_tree() {
    tokio::time::pause();
    for on in ["b", "c"] {
        let (a_live, b_live, c_live, new_a_live) =
            (Live::new(), Live::new(), Live::new(), Live::new());
        let a = temporary("a", &a_live);
        let b = member("b", &b_live)
            .restart(RestartPolicy::OnFailure)
            .depends_on("a")
            .start_timeout(Duration::from_secs(1));
        let c = member("c", &c_live).depends_on("b");
        let (a_h, b_h, c_h) = (a.handle(), b.handle(), c.handle());
        let app = SupervisorActor::builder("app")
            .intensity(crate::common::unlimited())
            .child(a)
            .child(b)
            .child(c)
            .start()
            .unwrap();
        within(c_h.started()).await.unwrap();
        within(a_h.stop()).await;

        let new_a = temporary("a", &new_a_live).depends_on(on);
        let new_a_h = new_a.handle();
        let taken = within(app.send(StartChild::new(new_a))).await.unwrap();
        if taken.is_ok() {
            within(new_a_h.started())
                .await
                .unwrap_or_else(|e| panic!("on {on}: {e:?}"));
            assert_eq!(new_a_live.now(), 1, "on {on}");
        }
        // `b` fails: its restart must not wait forever on anything.
        b_h.do_send(Crash).unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let report = within(app.send(Stop)).await.unwrap();
        assert!(
            !matches!(report.outcome, StopOutcome::TimedOut),
            "on {on}: {report}"
        );
        for (name, live) in [("b", &b_live), ("c", &c_live), ("new a", &new_a_live)] {
            assert_eq!(live.now(), 0, "on {on}: {name} runs after the stop");
        }
        for h in [&b_h, &c_h, &new_a_h] {
            within(h.ended()).await;
        }
    }
}

/// A temporary nested supervisor as a dependency: `reader` depends on
/// `batch`. The batch is stopped (it leaves), a new batch of that name is
/// started, `reader` fails: it restarts beside the new batch. At the
/// root's stop, `reader` stops before the new batch does.
#[actix_rt::test]
async fn a_temporary_subtree_as_a_dependency_leaves_comes_back_and_outlives_its_dependent() {
    tokio::time::pause();
    let (worker_live, reader_live, new_worker_live) = (Live::new(), Live::new(), Live::new());
    let reader = member("reader", &reader_live)
        .restart(RestartPolicy::OnFailure)
        .depends_on("batch")
        .start_timeout(Duration::from_secs(60));
    let reader_h = reader.handle();
    let app = SupervisorActor::builder("app")
        .intensity(crate::common::unlimited())
        .child(temporary_batch("batch", &worker_live))
        .child(reader)
        .start()
        .unwrap();
    within(reader_h.started()).await.unwrap();
    within(app.send(StopChild::new("batch")))
        .await
        .unwrap()
        .unwrap();
    assert!(node(&app, "/app/batch").await.is_none());
    within(app.send(StartChild::new(temporary_batch("batch", &new_worker_live))))
        .await
        .unwrap()
        .unwrap();
    settled(testkit::wait_for_node(&app, "/app/batch/worker", |n| {
        n.state == NodeState::Running
    }))
    .await;

    reader_h.do_send(Crash).unwrap();
    let reader_now = testkit::wait_for_node(&app, "/app/reader", |n| {
        n.state == NodeState::Running && n.incarnation == 2
            || n.restart_count >= 2
            || n.state.is_terminal()
    })
    .timeout(Duration::from_secs(30))
    .await;
    assert_eq!(
        (reader_now.state, reader_now.restart_count),
        (NodeState::Running, 1),
        "{reader_now:?}"
    );

    let gate = Gate::new();
    reader_h.do_send(HoldOn(gate.clone())).unwrap();
    let stop = tokio::spawn(app.send(Stop));
    settled(testkit::wait_for_node(&app, "/app/reader", |n| {
        n.state == NodeState::Stopping
    }))
    .await;
    // Long enough for a parallel stop of the batch to finish.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        new_worker_live.now(),
        1,
        "the batch stopped while its dependent drained"
    );
    gate.open();
    let report = within(stop).await.unwrap().unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(reader_live.now() + new_worker_live.now(), 0);
}

// ---------------------------------------------------------------------------
// 5. Requests queued behind a temporary child's stop.

/// `StopChild` of a running temporary child, and a `RestartChild` of it
/// queued right behind (and, in a second round, before). The stop answers
/// its report; `StopChild` says a temporary child leaves once stopped, so a
/// restart behind it finds no child, or one still stopping; a restart
/// before it is stopped by it. Once both answered, nothing of that name is
/// listed or runs, and the handle refuses.
#[actix_rt::test]
async fn restart_child_queued_around_stop_child_of_a_temporary_child_leaves_nothing_running() {
    tokio::time::pause();
    for restart_first in [false, true] {
        let live = Live::new();
        let spec = temporary("job", &live);
        let job = spec.handle();
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();
        within(job.started()).await.unwrap();
        job.do_send(Note).unwrap();
        let (stopped, restarted) = if restart_first {
            let r = app.send(RestartChild::new("job"));
            let s = app.send(StopChild::new("job"));
            let (r, s) = within(futures_util::future::join(r, s)).await;
            (s, r)
        } else {
            let s = app.send(StopChild::new("job"));
            let r = app.send(RestartChild::new("job"));
            within(futures_util::future::join(s, r)).await
        };
        let stopped = stopped.unwrap().unwrap();
        let restarted = restarted.unwrap();
        assert_eq!(stopped.outcome, StopOutcome::Drained, "{stopped}");
        let listed = node(&app, "/app/job").await;
        assert!(
            listed.is_none() && live.now() == 0,
            "restart first {restart_first}: the restart answered {restarted:?}; \
             listed {listed:?}, {} running after the temporary child's stop answered",
            live.now()
        );
        assert!(!job.is_accepting());
        assert_eq!(live.handled(), 1);
        within(app.send(Stop)).await.unwrap();
    }
}

/// `RestartChild` of a running temporary `Never` child: the restart drains
/// the incarnation and starts a fresh one; the child must not leave on the
/// way. It is listed running as incarnation 2, its handle reaches it, and
/// its `ended()` waits.
#[actix_rt::test]
async fn restart_child_of_a_running_temporary_child_keeps_it_in_the_tree() {
    tokio::time::pause();
    let live = Live::new();
    let spec = temporary("job", &live);
    let job = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(job.started()).await.unwrap();
    job.do_send(Note).unwrap();
    within(app.send(RestartChild::new("job")))
        .await
        .unwrap()
        .unwrap();
    settled(testkit::wait_for_node(&app, "/app/job", |n| {
        n.state == NodeState::Running && n.incarnation == 2
    }))
    .await;
    assert_consistent(&app, "/app/job", &job, &live).await;
    assert_eq!(live.handled(), 1);
    let mut ended = Box::pin(job.ended());
    assert!(futures_util::poll!(ended.as_mut()).is_pending());
    let report = within(job.stop()).await;
    assert_eq!(within(ended).await, report);
    assert!(node(&app, "/app/job").await.is_none());
    within(app.send(Stop)).await.unwrap();
}

/// `reader` depends on the temporary `db`. Three `db`s in turn leave, each
/// replaced by the next under the same name; then `reader` fails. Its
/// restart follows the chain of replacements to the `db` running now and
/// starts, without waiting out its timeout.
#[actix_rt::test]
async fn a_dependent_follows_a_chain_of_replaced_temporary_dependencies() {
    tokio::time::pause();
    let reader_live = Live::new();
    let db_lives: Vec<Arc<Live>> = (0..4).map(|_| Live::new()).collect();
    let db = temporary("db", &db_lives[0]);
    let mut db_h = db.handle();
    let reader = member("reader", &reader_live)
        .restart(RestartPolicy::OnFailure)
        .depends_on("db")
        .start_timeout(Duration::from_secs(60));
    let reader_h = reader.handle();
    let app = SupervisorActor::builder("app")
        .intensity(crate::common::unlimited())
        .child(db)
        .child(reader)
        .start()
        .unwrap();
    within(reader_h.started()).await.unwrap();
    for live in &db_lives[1..] {
        within(db_h.stop()).await;
        assert!(node(&app, "/app/db").await.is_none());
        let next = temporary("db", live);
        db_h = next.handle();
        within(app.send(StartChild::new(next)))
            .await
            .unwrap()
            .unwrap();
        within(db_h.started()).await.unwrap();
    }
    reader_h.do_send(Crash).unwrap();
    let reader_now = testkit::wait_for_node(&app, "/app/reader", |n| {
        n.state == NodeState::Running && n.incarnation == 2
            || n.restart_count >= 2
            || n.state.is_terminal()
    })
    .timeout(Duration::from_secs(30))
    .await;
    assert_eq!(
        (reader_now.state, reader_now.restart_count),
        (NodeState::Running, 1),
        "{reader_now:?}"
    );
    // And at the stop, the latest `db` outlives its dependent.
    let gate = Gate::new();
    reader_h.do_send(HoldOn(gate.clone())).unwrap();
    let stop = tokio::spawn(app.send(Stop));
    settled(testkit::wait_for_node(&app, "/app/reader", |n| {
        n.state == NodeState::Stopping
    }))
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        db_lives[3].now(),
        1,
        "db stopped while its dependent drained"
    );
    gate.open();
    within(stop).await.unwrap().unwrap();
    assert_eq!(reader_live.now() + db_lives[3].now(), 0);
}

// ---------------------------------------------------------------------------
// 6. Temporary subtrees restarted, on request or by a strategy.

/// `RestartChild` of a running temporary subtree: it restarts (its worker
/// drains and starts again) and stays in its parent's table, listed
/// running as incarnation 2, its worker reached by its old handle.
#[actix_rt::test]
async fn restart_child_of_a_running_temporary_subtree_keeps_it_in_the_tree() {
    tokio::time::pause();
    let live = Live::new();
    let worker = member("worker", &live);
    let worker_h = worker.handle();
    let app = SupervisorActor::builder("app")
        .child(
            SupervisorActor::builder("batch")
                .child(worker)
                .remove_on_exit(),
        )
        .start()
        .unwrap();
    within(worker_h.started()).await.unwrap();
    worker_h.do_send(Note).unwrap();
    let restarted = within(app.send(RestartChild::new("batch"))).await.unwrap();
    assert!(restarted.is_ok(), "{restarted:?}");
    let tree = settled(testkit::wait_until(&app, |t| {
        t.find("/app/batch/worker")
            .is_some_and(|n| n.state == NodeState::Running && n.incarnation == 2)
    }))
    .await;
    assert_eq!(
        tree.find("/app/batch").map(|n| n.state),
        Some(NodeState::Running),
        "{tree}"
    );
    assert_eq!(live.handled(), 1);
    assert_eq!(live.now(), 1);
    assert_eq!(within(worker_h.send(Which)).await.unwrap(), 2);
    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(live.now(), 0);
}

/// A temporary subtree under a one-for-all parent whose sibling fails, on
/// the parent's arbiter or another. With policy `OnFailure` it is drained
/// and restarted, and stays; with `Never` it is drained, ends for good and
/// leaves, its name free once its `Stopped` event is seen. Either way the
/// sibling runs again and the worker's notes are handled.
async fn temporary_subtree_as_a_bystander(remote: Option<&Arbiter>, policy: RestartPolicy) {
    let case = format!("remote {}/{policy:?}", remote.is_some());
    let (live, sibling_live) = (Live::new(), Live::new());
    let worker = member("worker", &live);
    let worker_h = worker.handle();
    let sibling = member("sibling", &sibling_live).restart(RestartPolicy::OnFailure);
    let crash = sibling.handle();
    let mut batch = SupervisorActor::builder("batch")
        .child(worker)
        .restart(policy)
        .remove_on_exit();
    if let Some(arbiter) = remote {
        batch = batch.on_arbiter(arbiter.handle());
    }
    let app = SupervisorActor::builder("app")
        .strategy(actix_supervisor::Strategy::OneForAll)
        .child(batch)
        .child(sibling)
        .start()
        .unwrap();
    let mut events = within(app.send(Subscribe::all())).await.unwrap();
    within(worker_h.started()).await.unwrap();
    within(crash.started()).await.unwrap();
    for _ in 0..3 {
        worker_h.do_send(Note).unwrap();
    }
    crash.do_send(Crash).unwrap();
    if policy == RestartPolicy::Never {
        let report = stopped_event(&mut events, "/app/batch").await;
        assert_eq!(report.outcome, StopOutcome::Drained, "{case}: {report}");
        let again = within(app.send(StartChild::new(temporary_batch("batch", &live))))
            .await
            .unwrap();
        assert!(again.is_ok(), "{case}: {again:?}");
    } else {
        settled(testkit::wait_until(&app, |t| {
            t.find("/app/batch/worker")
                .is_some_and(|n| n.state == NodeState::Running && n.incarnation == 2)
        }))
        .await;
        assert_eq!(within(worker_h.send(Which)).await.unwrap(), 2, "{case}");
    }
    settled(testkit::wait_for_node(&app, "/app/sibling", |n| {
        n.state == NodeState::Running && n.incarnation == 2
    }))
    .await;
    assert_eq!(live.handled(), 3, "{case}");
    assert_eq!(live.now(), 1, "{case}");
    let mut listed = names(&app).await;
    listed.sort();
    assert_eq!(listed, ["batch", "sibling"], "{case}");
    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{case}: {report}");
    assert_eq!(live.now() + sibling_live.now(), 0, "{case}");
}

#[actix_rt::test]
async fn a_temporary_subtree_bystander_of_a_one_for_all_restart_follows_its_policy() {
    for policy in [RestartPolicy::OnFailure, RestartPolicy::Never] {
        temporary_subtree_as_a_bystander(None, policy).await;
    }
}

#[actix_rt::test]
async fn a_restarting_temporary_subtree_on_another_arbiter_bystander_of_a_one_for_all_restart_stays(
) {
    let arbiter = Arbiter::new();
    temporary_subtree_as_a_bystander(Some(&arbiter), RestartPolicy::OnFailure).await;
    arbiter.stop();
}

/// The same with policy `Never`, on another arbiter (once a defect: the
/// subtree's `Stopped` event was published while its parent still held its
/// name).
#[actix_rt::test]
async fn a_never_temporary_subtree_on_another_arbiter_ended_by_a_one_for_all_restart_frees_its_name_by_its_stopped_event(
) {
    let arbiter = Arbiter::new();
    temporary_subtree_as_a_bystander(Some(&arbiter), RestartPolicy::Never).await;
    arbiter.stop();
}

/// A temporary subtree on another arbiter gives up (its worker fails, no
/// restart allowed, policy `Never`) at the moment its parent is asked to
/// stop: the parent's stop answers, the worker's `ended()` answers, and
/// nothing runs after.
#[actix_rt::test]
async fn a_temporary_subtree_on_another_arbiter_giving_up_as_its_parent_stops_lets_the_stop_answer()
{
    let arbiter = Arbiter::new();
    for yields in [0u32, 1, 5] {
        let live = Live::new();
        let keeper_live = Live::new();
        let worker = member("worker", &live).restart(RestartPolicy::OnFailure);
        let crash = worker.handle();
        let batch = SupervisorActor::builder("batch")
            .child(worker)
            .restart(RestartPolicy::Never)
            .intensity(actix_supervisor::RestartIntensity::new(
                0,
                Duration::from_secs(5),
            ))
            .remove_on_exit()
            .on_arbiter(arbiter.handle());
        let app = SupervisorActor::builder("app")
            .child(member("keeper", &keeper_live))
            .child(batch)
            .start()
            .unwrap();
        within(crash.started()).await.unwrap();
        crash.do_send(Crash).unwrap();
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        let report = within(app.send(Stop)).await.unwrap();
        assert!(
            !matches!(report.outcome, StopOutcome::TimedOut),
            "{yields} yields: {report}"
        );
        within(crash.ended()).await;
        assert_eq!(live.now() + keeper_live.now(), 0, "{yields} yields");
    }
    arbiter.stop();
}

// ---------------------------------------------------------------------------
// 7. One end, one event.

/// Every event up to the root's own `Stopped`.
async fn events_until_root_stopped(
    events: &mut (impl futures_util::Stream<Item = actix_supervisor::events::LifecycleEvent> + Unpin),
    root: &str,
) -> Vec<actix_supervisor::events::LifecycleEvent> {
    let mut seen = Vec::new();
    loop {
        let event = within(events.next()).await.expect("the stream ended");
        let last = event.path.as_str() == root && matches!(event.kind, EventKind::Stopped { .. });
        seen.push(event);
        if last {
            return seen;
        }
    }
}

/// The `Stopped` events of `path` in `seen`, with their reports.
fn stopped_reports(
    seen: &[actix_supervisor::events::LifecycleEvent],
    path: &str,
) -> Vec<StopReport> {
    seen.iter()
        .filter(|e| e.path.as_str() == path)
        .filter_map(|e| match &e.kind {
            EventKind::Stopped { report } => Some(report.clone()),
            _ => None,
        })
        .collect()
}

/// A temporary child (a leaf, then a subtree) ends on its own while its
/// parent is asked to stop, 0 to 20 turns of the scheduler apart: the
/// parent's stop answers; the child's end is published exactly once, with
/// the report its handle's `ended()` answers (and the parent's report
/// holds that same one, if it lists the child).
#[actix_rt::test]
async fn a_temporary_child_ending_on_its_own_as_its_parent_stops_is_published_once() {
    tokio::time::pause();
    for subtree in [false, true] {
        for yields in [0u32, 1, 2, 3, 5, 10, 20] {
            let case = format!("subtree {subtree}/{yields} yields");
            let live = Live::new();
            let spec = member("worker", &live).restart(RestartPolicy::Never);
            let handle = spec.handle();
            let (app, path) = if subtree {
                let batch = SupervisorActor::builder("batch")
                    .child(spec)
                    .restart(RestartPolicy::Never)
                    .remove_on_exit();
                let app = SupervisorActor::builder("app")
                    .child(batch)
                    .start()
                    .unwrap();
                (app, "/app/batch/worker")
            } else {
                let app = SupervisorActor::builder("app")
                    .child(spec.remove_on_exit())
                    .start()
                    .unwrap();
                (app, "/app/worker")
            };
            let mut events = within(app.send(Subscribe::all())).await.unwrap();
            within(handle.started()).await.unwrap();
            handle.do_send(Done).unwrap();
            for _ in 0..yields {
                tokio::task::yield_now().await;
            }
            let report = within(app.send(Stop)).await.unwrap();
            assert!(
                !matches!(report.outcome, StopOutcome::TimedOut),
                "{case}: {report}"
            );
            let seen = events_until_root_stopped(&mut events, "/app").await;
            let ended = within(handle.ended()).await;
            let published = stopped_reports(&seen, path);
            assert_eq!(published, std::slice::from_ref(&ended), "{case}: {seen:#?}");
            if let Some(held) = report.find(path) {
                assert_eq!(held, &ended, "{case}");
            }
            assert_eq!(live.handled(), 1, "{case}");
            assert_eq!(live.now(), 0, "{case}");
        }
    }
}

/// `RemoveChild` of a temporary child that is ending on its own, 0 to 20
/// turns apart: the remove answers (its report, or `UnknownChild` once the
/// child left); the end is published exactly once, with the report that
/// `ended()` answers and that the remove answered.
#[actix_rt::test]
async fn remove_child_racing_a_temporary_child_s_own_end_publishes_it_once() {
    tokio::time::pause();
    for yields in [0u32, 1, 2, 3, 5, 10, 20] {
        let live = Live::new();
        let spec = temporary("job", &live);
        let job = spec.handle();
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();
        let mut events = within(app.send(Subscribe::all())).await.unwrap();
        within(job.started()).await.unwrap();
        job.do_send(Done).unwrap();
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        let removed = within(app.send(actix_supervisor::RemoveChild::new("job")))
            .await
            .unwrap();
        let ended = within(job.ended()).await;
        match &removed {
            Ok(report) => assert_eq!(report, &ended, "{yields} yields"),
            Err(ControlError::UnknownChild { .. }) => {}
            Err(other) => panic!("{yields} yields: {other:?}"),
        }
        assert!(node(&app, "/app/job").await.is_none());
        within(app.send(Stop)).await.unwrap();
        let seen = events_until_root_stopped(&mut events, "/app").await;
        assert_eq!(
            stopped_reports(&seen, "/app/job"),
            [ended],
            "{yields} yields: removed {removed:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// 8. Temporary subtrees on another arbiter, as dependencies and restarted.

/// The same as the dependency test above with the temporary subtree on
/// another arbiter: it leaves when stopped, a new one takes its name, the
/// dependent's restart waits for the new one and starts; the root's stop
/// answers with nothing running.
#[actix_rt::test]
async fn a_temporary_subtree_on_another_arbiter_as_a_dependency_leaves_and_comes_back() {
    let arbiter = Arbiter::new();
    let (worker_live, reader_live, new_worker_live) = (Live::new(), Live::new(), Live::new());
    let reader = member("reader", &reader_live)
        .restart(RestartPolicy::OnFailure)
        .depends_on("batch")
        .start_timeout(Duration::from_secs(60));
    let reader_h = reader.handle();
    let app = SupervisorActor::builder("app")
        .intensity(crate::common::unlimited())
        .child(temporary_batch("batch", &worker_live).on_arbiter(arbiter.handle()))
        .child(reader)
        .start()
        .unwrap();
    within(reader_h.started()).await.unwrap();
    within(app.send(StopChild::new("batch")))
        .await
        .unwrap()
        .unwrap();
    assert!(node(&app, "/app/batch").await.is_none());
    assert_eq!(worker_live.now(), 0);
    within(app.send(StartChild::new(
        temporary_batch("batch", &new_worker_live).on_arbiter(arbiter.handle()),
    )))
    .await
    .unwrap()
    .unwrap();
    settled(testkit::wait_for_node(&app, "/app/batch/worker", |n| {
        n.state == NodeState::Running
    }))
    .await;
    reader_h.do_send(Crash).unwrap();
    let reader_now = testkit::wait_for_node(&app, "/app/reader", |n| {
        n.state == NodeState::Running && n.incarnation == 2
            || n.restart_count >= 2
            || n.state.is_terminal()
    })
    .timeout(Duration::from_secs(30))
    .await;
    assert_eq!(
        (reader_now.state, reader_now.restart_count),
        (NodeState::Running, 1),
        "{reader_now:?}"
    );
    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(reader_live.now() + new_worker_live.now(), 0);
    arbiter.stop();
}

/// `RestartChild` of a running temporary subtree on another arbiter: it
/// restarts and stays in its parent's table; its worker runs again as
/// incarnation 2, reached by its old handle.
#[actix_rt::test]
async fn restart_child_of_a_temporary_subtree_on_another_arbiter_keeps_it_in_the_tree() {
    let arbiter = Arbiter::new();
    let live = Live::new();
    let worker = member("worker", &live);
    let worker_h = worker.handle();
    let app = SupervisorActor::builder("app")
        .child(
            SupervisorActor::builder("batch")
                .child(worker)
                .remove_on_exit()
                .on_arbiter(arbiter.handle()),
        )
        .start()
        .unwrap();
    within(worker_h.started()).await.unwrap();
    worker_h.do_send(Note).unwrap();
    let restarted = within(app.send(RestartChild::new("batch"))).await.unwrap();
    assert!(restarted.is_ok(), "{restarted:?}");
    settled(testkit::wait_until(&app, |t| {
        t.find("/app/batch/worker")
            .is_some_and(|n| n.state == NodeState::Running && n.incarnation == 2)
    }))
    .await;
    assert_eq!(
        node(&app, "/app/batch").await.map(|n| n.state),
        Some(NodeState::Running)
    );
    assert_eq!(live.handled(), 1);
    assert_eq!(within(worker_h.send(Which)).await.unwrap(), 2);
    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(live.now(), 0);
    arbiter.stop();
}

/// A temporary subtree whose worker hangs in its drain (a gate never
/// opened) is stopped with `StopChild`, and its grace runs out: the stop
/// answers `TimedOut`, its name is free at once, and its end is published
/// once, with that report, before it left ("its end is still published
/// first"): so before the end of the next subtree of its name and before
/// the root's own `Stopped`.
async fn killed_at_its_grace(remote: Option<&Arbiter>) {
    let live = Live::new();
    let worker = member("worker", &live);
    let worker_h = worker.handle();
    let app = SupervisorActor::builder("app").start().unwrap();
    let mut events = within(app.send(Subscribe::all())).await.unwrap();
    let batch = SupervisorActor::builder("batch")
        .child(worker)
        .grace(actix_supervisor::Grace::Duration(Duration::from_millis(
            200,
        )))
        .remove_on_exit();
    let batch = match remote {
        Some(arbiter) => batch.on_arbiter(arbiter.handle()),
        None => batch,
    };
    within(app.send(StartChild::new(batch)))
        .await
        .unwrap()
        .unwrap();
    within(worker_h.started()).await.unwrap();
    let never = Gate::new();
    worker_h.do_send(HoldOn(never.clone())).unwrap();
    let report = within(app.send(StopChild::new("batch")))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(report.outcome, StopOutcome::TimedOut), "{report}");
    let again = within(app.send(StartChild::new(temporary_batch("batch", &Live::new()))))
        .await
        .unwrap();
    assert!(again.is_ok(), "{again:?}");
    within(app.send(Stop)).await.unwrap();
    let seen = events_until_root_stopped(&mut events, "/app").await;
    let published = stopped_reports(&seen, "/app/batch");
    // Two subtrees named batch ran: the killed one, then the new one.
    assert_eq!(published.len(), 2, "{published:#?}");
    assert_eq!(published[0], report, "{published:#?}");
    within(worker_h.ended()).await;
}

#[actix_rt::test]
async fn a_temporary_subtree_killed_at_its_grace_is_published_once() {
    killed_at_its_grace(None).await;
}

/// The same on another arbiter.
#[actix_rt::test]
async fn a_temporary_subtree_on_another_arbiter_killed_at_its_grace_is_published_once() {
    let arbiter = Arbiter::new();
    killed_at_its_grace(Some(&arbiter)).await;
    arbiter.stop();
}
