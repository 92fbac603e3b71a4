//! A supervisor's `StopReport` gives its own outcome, apart from its
//! subtree's (`StopReport::summary`), and the exit status of
//! `system::run` judges the nodes the stop stopped, not a one-shot child
//! that ended long before, unless `ExitRule::EveryNode` asks for it.

use std::process::ExitCode;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::prelude::*;
use actix_supervisor::system::{self, ExitRule, Supervision};
use actix_supervisor::testkit;

#[derive(Default)]
struct Idle;
impl Actor for Idle {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Idle);

/// Fails in `started`, every incarnation.
#[derive(Default)]
struct Broken;
impl Actor for Broken {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        actix_supervisor::fail(ctx, "broken on purpose");
    }
}
actix_supervisor::supervised!(Broken);

/// Counts what it handles; `Hang` blocks its mailbox for good, `Panic`
/// panics.
#[derive(Default)]
struct Clerk;
impl Actor for Clerk {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Clerk);

#[derive(Message)]
#[rtype(result = "()")]
struct Note;
impl Handler<Note> for Clerk {
    type Result = ();
    fn handle(&mut self, _: Note, _: &mut Context<Self>) {}
}

#[derive(Message)]
#[rtype(result = "()")]
struct Hang;
impl Handler<Hang> for Clerk {
    type Result = ();
    fn handle(&mut self, _: Hang, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future(std::future::pending::<()>()));
    }
}

/// Blocks the mailbox until its sender is dropped or used.
#[derive(Message)]
#[rtype(result = "()")]
struct Hold(tokio::sync::oneshot::Receiver<()>);
impl Handler<Hold> for Clerk {
    type Result = ();
    fn handle(&mut self, Hold(gate): Hold, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future(async move {
            let _ = gate.await;
        }));
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Panic;
impl Handler<Panic> for Clerk {
    type Result = ();
    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("broken while draining");
    }
}

/// A `Never` child that fails at start, beside one that runs.
fn tree_with_a_one_shot_failure() -> (SupervisorBuilder, ChildHandle<Broken>) {
    let once = ChildSpec::new("once", Broken::default).restart(RestartPolicy::Never);
    let handle = once.handle();
    let tree = SupervisorActor::builder("app")
        .child(once)
        .child(ChildSpec::new("server", Idle::default));
    (tree, handle)
}

#[actix_rt::test]
async fn a_root_that_did_not_fail_reports_drained_though_a_one_shot_child_failed_long_before() {
    let (tree, once) = tree_with_a_one_shot_failure();
    let app = tree.start().unwrap();
    assert!(once.started().await.is_err());
    testkit::wait_for_node(&app, "/app/once", |n| n.state == NodeState::Failed).await;

    let report = app.send(Stop).await.unwrap();

    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert!(!report.ended_on_its_own);
    let failed = report.find("/app/once").unwrap();
    assert!(matches!(failed.outcome, StopOutcome::Failed(_)), "{report}");
    assert!(failed.ended_on_its_own, "{report}");
    assert_eq!(failed.duration, Duration::ZERO);
    // The child's own answer says the same.
    assert_eq!(&once.stop().await, failed);
    let server = report.find("/app/server").unwrap();
    assert!(!server.ended_on_its_own && server.outcome == StopOutcome::Drained);

    let summary = report.summary();
    assert_eq!(summary.nodes, 3);
    assert_eq!(summary.nodes_drained, 2);
    assert_eq!(
        (summary.nodes_ended_before, summary.nodes_failed_before),
        (1, 1)
    );
    assert_eq!((summary.nodes_timed_out, summary.nodes_failed), (0, 0));
    assert!(summary.stopped_cleanly());
    assert!(!report.is_drained(), "not every node drained");

    assert_eq!(system::exit_code(&report), ExitCode::SUCCESS);
    assert_eq!(
        system::exit_code_with(&report, ExitRule::StoppedNodes),
        ExitCode::SUCCESS
    );
    assert_eq!(
        system::exit_code_with(&report, ExitRule::EveryNode),
        ExitCode::FAILURE
    );
    let outline = report.to_string();
    assert!(
        outline.contains("/app/once failed") && outline.contains("had ended on its own"),
        "{outline}"
    );
    assert!(outline.contains("1 failed before the stop"), "{outline}");
}

#[actix_rt::test]
async fn run_until_exit_succeeds_for_a_one_shot_failure_unless_every_node_is_judged() {
    for (rule, expected) in [
        (ExitRule::StoppedNodes, ExitCode::SUCCESS),
        (ExitRule::EveryNode, ExitCode::FAILURE),
    ] {
        let (tree, once) = tree_with_a_one_shot_failure();
        let supervision = Supervision::start(tree).unwrap().exit_rule(rule);
        assert!(once.started().await.is_err());
        testkit::wait_for_node(supervision.root(), "/app/once", |n| {
            n.state == NodeState::Failed
        })
        .await;
        supervision.shutdown_handle().shutdown();
        let (report, code) = supervision.run_until_exit().await.unwrap();
        assert_eq!(code, expected, "{rule:?}: {report}");
    }
}

#[actix_rt::test]
async fn a_child_that_times_out_while_stopping_fails_the_exit_status_not_its_supervisors_outcome() {
    tokio::time::pause();
    let stuck = ChildSpec::new("stuck", Clerk::default).grace(Duration::from_millis(100).into());
    let clerk = stuck.handle();
    let app = SupervisorActor::builder("app")
        .child(stuck)
        .start()
        .unwrap();
    clerk.send(Hang).await.unwrap();
    clerk.do_send(Note).unwrap();

    let report = app.send(Stop).await.unwrap();

    assert_eq!(
        report.outcome,
        StopOutcome::Drained,
        "its own grace held: {report}"
    );
    let stuck = report.find("/app/stuck").unwrap();
    assert_eq!(stuck.outcome, StopOutcome::TimedOut);
    assert!(!stuck.ended_on_its_own);
    let summary = report.summary();
    assert_eq!(
        (summary.nodes_timed_out, summary.messages_undelivered),
        (1, 1)
    );
    assert!(!summary.stopped_cleanly());
    assert_eq!(system::exit_code(&report), ExitCode::FAILURE);
}

#[actix_rt::test]
async fn a_supervisor_whose_own_grace_runs_out_reports_timed_out() {
    tokio::time::pause();
    let stuck = ChildSpec::new("stuck", Clerk::default).grace(Duration::from_secs(60).into());
    let clerk = stuck.handle();
    let app = SupervisorActor::builder("app")
        .grace(Duration::from_secs(1).into())
        .child(stuck)
        .start()
        .unwrap();
    clerk.send(Hang).await.unwrap();

    let report = app.send(Stop).await.unwrap();

    assert_eq!(report.outcome, StopOutcome::TimedOut, "{report}");
    assert_eq!(system::exit_code(&report), ExitCode::FAILURE);
}

#[actix_rt::test]
async fn a_one_shot_child_that_fails_while_draining_fails_the_exit_status() {
    let spec = ChildSpec::new("clerk", Clerk::default).restart(RestartPolicy::Never);
    let clerk = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    clerk.started().await.unwrap();
    let (open, gate) = tokio::sync::oneshot::channel();
    clerk.send(Hold(gate)).await.unwrap();
    clerk.do_send(Panic).unwrap();
    let stopping = app.send(Stop);
    testkit::wait_for_node(&app, "/app/clerk", |n| n.state == NodeState::Stopping).await;
    open.send(()).unwrap();

    let report = stopping.await.unwrap();

    let failed = report.find("/app/clerk").unwrap();
    assert!(matches!(failed.outcome, StopOutcome::Failed(_)), "{report}");
    assert!(
        !failed.ended_on_its_own,
        "it failed while stopping: {report}"
    );
    assert_eq!(report.summary().nodes_failed, 1);
    assert_eq!(system::exit_code(&report), ExitCode::FAILURE);
}

#[actix_rt::test]
async fn a_supervisors_counts_are_its_own_and_the_summary_holds_the_subtrees_totals() {
    let a = ChildSpec::new("a", Clerk::default);
    let b = ChildSpec::new("b", Clerk::default);
    let (a_handle, b_handle) = (a.handle(), b.handle());
    let ingest = SupervisorActor::builder("ingest").child(b);
    let app = SupervisorActor::builder("app")
        .child(a)
        .child(ingest)
        .start()
        .unwrap();
    a_handle.started().await.unwrap();
    b_handle.started().await.unwrap();
    for _ in 0..3 {
        a_handle.do_send(Note).unwrap();
        b_handle.do_send(Note).unwrap();
    }

    let report = app.send(Stop).await.unwrap();

    let handled: u64 = ["/app/a", "/app/ingest/b"]
        .iter()
        .map(|path| report.find(path).unwrap().drained)
        .sum();
    for supervisor in ["/app", "/app/ingest"] {
        let own = report.find(supervisor).unwrap();
        assert_eq!((own.drained, own.undelivered, own.cancelled), (0, 0, 0));
    }
    let summary = report.summary();
    assert_eq!(summary.messages_drained, handled, "{report}");
    assert_eq!(
        report.iter().map(|r| r.drained).sum::<u64>(),
        summary.messages_drained,
        "summing over the nodes counts each message once"
    );
    assert_eq!((summary.nodes, summary.nodes_drained), (4, 4));
}

#[actix_rt::test]
async fn a_nested_supervisor_that_gave_up_long_before_is_counted_apart_with_its_subtree() {
    tokio::time::pause();
    let broken = ChildSpec::new("broken", Broken::default);
    let ingest = SupervisorActor::builder("ingest")
        .restart(RestartPolicy::Never)
        .child(broken)
        .child(ChildSpec::new("quiet", Idle::default));
    let app = SupervisorActor::builder("app")
        .child(ingest)
        .child(ChildSpec::new("server", Idle::default))
        .start()
        .unwrap();
    testkit::wait_for_node(&app, "/app/ingest", |n| n.state == NodeState::Failed).await;

    let report = app.send(Stop).await.unwrap();

    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    let ingest = report.find("/app/ingest").unwrap();
    assert!(matches!(ingest.outcome, StopOutcome::Failed(_)), "{report}");
    assert!(ingest.ended_on_its_own, "{report}");
    let summary = report.summary();
    assert_eq!(
        summary.nodes_ended_before, 3,
        "ingest and its two children: {report}"
    );
    assert_eq!(
        summary.nodes_drained, 2,
        "the root and the server: {report}"
    );
    assert_eq!(system::exit_code(&report), ExitCode::SUCCESS);
    assert_eq!(
        system::exit_code_with(&report, ExitRule::EveryNode),
        ExitCode::FAILURE
    );
}
