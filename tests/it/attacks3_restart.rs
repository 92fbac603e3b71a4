//! Attacks from outside, with the public API only, on `RestartChild` of a
//! stopped child raced with `StopChild`, `RemoveChild` and the parent's
//! `Stop`, under each strategy with `Never`, `OnFailure` and `Always`
//! bystanders on both sides of the child; then the child started again
//! fails, and the strategy must treat its bystanders by their policies.
//!
//! Each test asserts a promise of `docs/ended_children.md` or the rustdoc
//! of `RestartChild`, `RemoveChild` and `ChildHandle`. A test marked
//! `#[ignore = "DEFECT: ..."]` shows a promise broken today.
//!
//! Every test runs on one thread under paused time and waits only on
//! replies, handles, reports and events; every await that could hang is
//! bounded.

use crate::attacks3_support::{
    assert_consistent, member, names, node, settled, Crash, Live, Member, Note, Which,
};
use crate::common::within;

use std::sync::Arc;

use actix::prelude::*;
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::testkit;
use actix_supervisor::{
    ChildHandle, ControlError, RemoveChild, RestartChild, RestartPolicy, Stop, StopChild,
    StopOutcome, StopReport, Strategy, SupervisorActor,
};

/// What is sent in the same breath as the `RestartChild`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Racer {
    StopChild,
    RemoveChild,
    ParentStop,
}

/// What the racer answered.
#[derive(Debug)]
enum Answer {
    Child(Result<StopReport, ControlError>),
    Parent(StopReport),
}

/// A tree `before, job, after` under `strategy`: `job` is `OnFailure`, the
/// two bystanders have `policy`.
struct Tree {
    app: Addr<SupervisorActor>,
    job: ChildHandle<Member>,
    lives: [Arc<Live>; 3],
}

fn tree(strategy: Strategy, policy: RestartPolicy) -> Tree {
    let lives = [Live::new(), Live::new(), Live::new()];
    let before = member("before", &lives[0]).restart(policy);
    let job = member("job", &lives[1]).restart(RestartPolicy::OnFailure);
    let after = member("after", &lives[2]).restart(policy);
    let handle = job.handle();
    let app = SupervisorActor::builder("app")
        .strategy(strategy)
        .intensity(crate::common::unlimited())
        .child(before)
        .child(job)
        .child(after)
        .start()
        .unwrap();
    Tree {
        app,
        job: handle,
        lives,
    }
}

/// `RestartChild` of a stopped child sent together with `StopChild`,
/// `RemoveChild` or the parent's `Stop`, in both orders, under every
/// strategy and bystander policy. Every request answers; what is listed
/// matches what runs; a start on request restarts no sibling; `ended()`
/// and `stop()` asked afterwards answer the run that the racer ended. Then
/// the child, started again, fails: the strategy restarts the `OnFailure`
/// and `Always` bystanders it covers and ends the `Never` ones for good.
#[actix_rt::test]
async fn restart_child_of_a_stopped_child_racing_every_ender_under_every_strategy() {
    tokio::time::pause();
    for strategy in [
        Strategy::OneForOne,
        Strategy::OneForAll,
        Strategy::RestForOne,
    ] {
        for policy in [
            RestartPolicy::Never,
            RestartPolicy::OnFailure,
            RestartPolicy::Always,
        ] {
            for racer in [Racer::StopChild, Racer::RemoveChild, Racer::ParentStop] {
                for restart_first in [true, false] {
                    let case =
                        format!("{strategy:?}/{policy:?}/{racer:?}/restart first {restart_first}");
                    race_once(strategy, policy, racer, restart_first, &case).await;
                }
            }
        }
    }
}

async fn race_once(
    strategy: Strategy,
    policy: RestartPolicy,
    racer: Racer,
    restart_first: bool,
    case: &str,
) {
    let Tree { app, job, lives } = tree(strategy, policy);
    within(job.started()).await.unwrap();
    settled(testkit::wait_until(&app, |t| {
        t.root
            .children
            .iter()
            .all(|c| c.state == NodeState::Running)
    }))
    .await;
    let stopped = within(app.send(StopChild::new("job")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stopped.outcome, StopOutcome::Drained, "{case}: {stopped}");
    assert!(
        job.do_send(Note).is_err(),
        "{case}: a stopped child takes work"
    );

    let send_racer = || -> std::pin::Pin<Box<dyn std::future::Future<Output = Answer>>> {
        match racer {
            Racer::StopChild => {
                let f = app.send(StopChild::new("job"));
                Box::pin(async move { Answer::Child(f.await.unwrap()) })
            }
            Racer::RemoveChild => {
                let f = app.send(RemoveChild::new("job"));
                Box::pin(async move { Answer::Child(f.await.unwrap()) })
            }
            Racer::ParentStop => {
                let f = app.send(Stop);
                Box::pin(async move { Answer::Parent(f.await.unwrap()) })
            }
        }
    };
    let (restarted, raced) = if restart_first {
        let r = app.send(RestartChild::new("job"));
        let s = send_racer();
        within(futures_util::future::join(r, s)).await
    } else {
        let s = send_racer();
        let r = app.send(RestartChild::new("job"));
        let (s, r) = within(futures_util::future::join(s, r)).await;
        (r, s)
    };
    let restarted = restarted.unwrap();

    // What each answered.
    match (&raced, restart_first) {
        (Answer::Child(Ok(report)), true) => {
            assert!(restarted.is_ok(), "{case}: {restarted:?}");
            assert_eq!(report.outcome, StopOutcome::Drained, "{case}: {report}");
            // The run the racer ended is the one `ended()` and `stop()` answer.
            assert_eq!(&within(job.ended()).await, report, "{case}");
            assert_eq!(&within(job.stop()).await, report, "{case}");
        }
        (Answer::Child(Ok(_)), false) if racer == Racer::StopChild => {
            assert!(restarted.is_ok(), "{case}: {restarted:?}");
        }
        (Answer::Child(Ok(_)), false) => {
            assert!(
                matches!(
                    restarted,
                    Err(ControlError::UnknownChild { .. } | ControlError::ChildStopping { .. })
                ),
                "{case}: a restart behind a remove: {restarted:?}"
            );
        }
        (Answer::Child(Err(err)), _) => panic!("{case}: the racer was refused: {err:?}"),
        (Answer::Parent(report), _) => {
            assert_eq!(report.outcome, StopOutcome::Drained, "{case}: {report}");
            assert!(
                matches!(
                    restarted,
                    Ok(()) | Err(ControlError::SupervisorStopping { .. })
                ),
                "{case}: {restarted:?}"
            );
            for (i, live) in lives.iter().enumerate() {
                assert_eq!(live.now(), 0, "{case}: child {i} runs after the stop");
            }
            let ended = within(job.ended()).await;
            assert!(!job.is_accepting(), "{case}: {ended}");
            return;
        }
    }

    // A start on request restarts no sibling.
    assert_eq!(lives[0].started(), 1, "{case}: `before` restarted");
    assert_eq!(lives[2].started(), 1, "{case}: `after` restarted");
    assert_consistent(&app, "/app/job", &job, &lives[1]).await;

    let listed = node(&app, "/app/job").await;
    match listed {
        None => {
            assert_eq!(racer, Racer::RemoveChild, "{case}");
            assert!(!names(&app).await.contains(&"job".to_string()));
            within(job.ended()).await;
        }
        Some(n) => {
            if n.state != NodeState::Running {
                within(app.send(RestartChild::new("job")))
                    .await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("{case}: {e:?}"));
            }
            strategy_after_a_start_again(&app, &job, &lives, strategy, policy, case).await;
        }
    }
    let report = within(app.send(Stop)).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained, "{case}: {report}");
    for (i, live) in lives.iter().enumerate() {
        assert_eq!(live.now(), 0, "{case}: child {i} runs after the stop");
        assert!(live.most() <= 1, "{case}: child {i} ran twice at once");
    }
}

/// The job, started again on request, fails: its strategy treats each
/// bystander by its policy.
async fn strategy_after_a_start_again(
    app: &Addr<SupervisorActor>,
    job: &ChildHandle<Member>,
    lives: &[Arc<Live>; 3],
    strategy: Strategy,
    policy: RestartPolicy,
    case: &str,
) {
    let before = within(job.send(Which)).await.unwrap();
    let _ = within(job.send(Crash)).await;
    let covered = match strategy {
        Strategy::OneForOne => [false, false],
        Strategy::OneForAll => [true, true],
        Strategy::RestForOne => [false, true],
        other => panic!("{other:?}"),
    };
    let tree = settled(testkit::wait_until(app, |t| {
        let job_back = t
            .find("/app/job")
            .is_some_and(|n| n.state == NodeState::Running && n.incarnation > before);
        let settled = ["/app/before", "/app/after"].iter().all(|p| {
            t.find(p)
                .is_some_and(|n| n.state == NodeState::Running || n.state.is_terminal())
        });
        job_back && settled
    }))
    .await;
    assert_eq!(
        within(job.send(Which)).await.unwrap(),
        tree.find("/app/job").unwrap().incarnation,
        "{case}"
    );
    for (i, (path, hit)) in [("/app/before", covered[0]), ("/app/after", covered[1])]
        .into_iter()
        .enumerate()
    {
        let live = &lives[if i == 0 { 0 } else { 2 }];
        let n = tree.find(path).unwrap();
        match (hit, policy) {
            (false, _) => {
                assert_eq!(live.started(), 1, "{case}: {path} restarted\n{tree}");
                assert_eq!(n.state, NodeState::Running, "{case}: {path}\n{tree}");
            }
            (true, RestartPolicy::Never) => {
                assert_eq!(live.started(), 1, "{case}: {path} restarted\n{tree}");
                assert_eq!(n.state, NodeState::Stopped, "{case}: {path}\n{tree}");
                assert_eq!(live.now(), 0, "{case}: {path} runs on");
            }
            (true, _) => {
                assert_eq!(live.started(), 2, "{case}: {path} not restarted\n{tree}");
                assert_eq!(n.state, NodeState::Running, "{case}: {path}\n{tree}");
                assert_eq!(live.now(), 1, "{case}: {path}");
            }
        }
    }
}

/// A stopped child that another depends on: `RemoveChild` is refused
/// (`HasDependents`) whichever order it meets a `RestartChild` in, and the
/// `RestartChild` starts it again, with the dependent untouched.
#[actix_rt::test]
async fn remove_child_of_a_depended_on_child_racing_its_restart_is_refused_and_the_restart_holds() {
    tokio::time::pause();
    for restart_first in [true, false] {
        let (db_live, reader_live) = (Live::new(), Live::new());
        let db = member("db", &db_live);
        let reader = member("reader", &reader_live).depends_on("db");
        let (db_h, reader_h) = (db.handle(), reader.handle());
        let app = SupervisorActor::builder("app")
            .child(db)
            .child(reader)
            .start()
            .unwrap();
        within(reader_h.started()).await.unwrap();
        within(db_h.stop()).await;
        let (restarted, removed) = if restart_first {
            let r = app.send(RestartChild::new("db"));
            let m = app.send(RemoveChild::new("db"));
            within(futures_util::future::join(r, m)).await
        } else {
            let m = app.send(RemoveChild::new("db"));
            let r = app.send(RestartChild::new("db"));
            let (m, r) = within(futures_util::future::join(m, r)).await;
            (r, m)
        };
        assert!(restarted.unwrap().is_ok(), "restart first {restart_first}");
        let removed = removed.unwrap();
        assert!(
            matches!(removed, Err(ControlError::HasDependents { .. })),
            "restart first {restart_first}: {removed:?}"
        );
        assert_consistent(&app, "/app/db", &db_h, &db_live).await;
        assert_eq!(db_live.now(), 1);
        assert_eq!(reader_live.started(), 1, "the dependent restarted");
        assert_eq!(within(reader_h.send(Which)).await.unwrap(), 1);
        let report = within(app.send(Stop)).await.unwrap();
        assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
        assert_eq!(db_live.now() + reader_live.now(), 0);
    }
}

/// Notes sent through the handle around a `RestartChild` that races a
/// `RemoveChild`: each accepted note is handled, or counted in the report
/// that ended its run, exactly once; a refused note is refused at once.
#[actix_rt::test]
async fn notes_around_a_restart_raced_by_a_remove_are_each_accounted_once() {
    tokio::time::pause();
    for restart_first in [true, false] {
        let live = Live::new();
        let spec = member("job", &live);
        let job = spec.handle();
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();
        within(job.started()).await.unwrap();
        within(app.send(StopChild::new("job")))
            .await
            .unwrap()
            .unwrap();
        let mut accepted = 0u64;
        let (restarted, removed) = if restart_first {
            let r = app.send(RestartChild::new("job"));
            let m = app.send(RemoveChild::new("job"));
            let r = within(r).await.unwrap();
            for _ in 0..5 {
                accepted += u64::from(job.do_send(Note).is_ok());
            }
            (r, within(m).await.unwrap())
        } else {
            let m = app.send(RemoveChild::new("job"));
            let r = app.send(RestartChild::new("job"));
            let m = within(m).await.unwrap();
            for _ in 0..5 {
                accepted += u64::from(job.do_send(Note).is_ok());
            }
            (within(r).await.unwrap(), m)
        };
        let removed = removed.unwrap();
        if restart_first {
            assert!(restarted.is_ok(), "{restarted:?}");
        } else {
            assert!(
                matches!(
                    restarted,
                    Err(ControlError::UnknownChild { .. } | ControlError::ChildStopping { .. })
                ),
                "{restarted:?}"
            );
        }
        let ended = within(job.ended()).await;
        assert_eq!(
            live.handled() + ended.undelivered + ended.cancelled,
            accepted,
            "restart first {restart_first}: removed {removed}, ended {ended}"
        );
        assert_eq!(live.now(), 0);
        assert!(node(&app, "/app/job").await.is_none());
        within(app.send(Stop)).await.unwrap();
    }
}

/// `RemoveChild` then `RestartChild` of the same child, sent in that order
/// (the remove first in the supervisor's mailbox), on a stopped and on a
/// running child, under each strategy. `RemoveChild` answers that it
/// removed the child ("removes it from the table; its name can then be
/// used again"), so the `RestartChild` behind it must find no child
/// (`UnknownChild`), or one still stopping (`ChildStopping`): nothing of
/// that name may be listed or run once both answered.
#[actix_rt::test]
async fn restart_child_after_remove_child_answered_finds_no_child() {
    tokio::time::pause();
    let mut broken = Vec::new();
    for strategy in [
        Strategy::OneForOne,
        Strategy::OneForAll,
        Strategy::RestForOne,
    ] {
        for stopped_first in [true, false] {
            let case = format!("{strategy:?}/stopped first {stopped_first}");
            let live = Live::new();
            let spec = member("job", &live);
            let job = spec.handle();
            let app = SupervisorActor::builder("app")
                .strategy(strategy)
                .child(spec)
                .start()
                .unwrap();
            within(job.started()).await.unwrap();
            if stopped_first {
                within(app.send(StopChild::new("job")))
                    .await
                    .unwrap()
                    .unwrap();
            }
            let removed = app.send(RemoveChild::new("job"));
            let restarted = app.send(RestartChild::new("job"));
            let (removed, restarted) = within(futures_util::future::join(removed, restarted)).await;
            let removed = removed.unwrap().unwrap();
            assert_eq!(removed.outcome, StopOutcome::Drained, "{case}: {removed}");
            let restarted = restarted.unwrap();
            let listed = node(&app, "/app/job").await;
            if !matches!(
                restarted,
                Err(ControlError::UnknownChild { .. } | ControlError::ChildStopping { .. })
            ) || listed.is_some()
                || live.now() != 0
            {
                broken.push(format!(
                    "{case}: restart answered {restarted:?}, listed {:?}, {} running",
                    listed.map(|n| n.state),
                    live.now()
                ));
            }
            within(app.send(Stop)).await.unwrap();
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

/// Under one-for-all and rest-for-one, `job` was stopped with `StopChild`;
/// then `crasher` fails (a strategy restart that covers `job`) while a
/// `RestartChild` of `job` is sent, before or after the crash, a few turns
/// of the scheduler apart. Whatever the strategy does with a stopped
/// bystander, `job` never runs twice at once, what is listed matches what
/// runs and what its handle reaches, and the tree's stop drains all.
#[actix_rt::test]
async fn restart_child_of_a_stopped_child_racing_a_strategy_restart_that_covers_it() {
    tokio::time::pause();
    for strategy in [Strategy::OneForAll, Strategy::RestForOne] {
        for crash_first in [true, false] {
            for yields in [0u32, 1, 3, 10] {
                let case = format!("{strategy:?}/crash first {crash_first}/{yields} yields");
                let (first_live, job_live, crasher_live) = (Live::new(), Live::new(), Live::new());
                let first = member("first", &first_live).restart(RestartPolicy::Always);
                let crasher = member("crasher", &crasher_live).restart(RestartPolicy::OnFailure);
                let job = member("job", &job_live).restart(RestartPolicy::OnFailure);
                let (crash, job_h) = (crasher.handle(), job.handle());
                let app = SupervisorActor::builder("app")
                    .strategy(strategy)
                    .intensity(crate::common::unlimited())
                    .child(first)
                    .child(crasher)
                    .child(job)
                    .start()
                    .unwrap();
                within(job_h.started()).await.unwrap();
                within(crash.started()).await.unwrap();
                within(app.send(StopChild::new("job")))
                    .await
                    .unwrap()
                    .unwrap();

                let restarted = if crash_first {
                    crash.do_send(Crash).unwrap();
                    for _ in 0..yields {
                        tokio::task::yield_now().await;
                    }
                    within(app.send(RestartChild::new("job"))).await.unwrap()
                } else {
                    let r = app.send(RestartChild::new("job"));
                    for _ in 0..yields {
                        tokio::task::yield_now().await;
                    }
                    crash.do_send(Crash).unwrap();
                    within(r).await.unwrap()
                };
                assert!(
                    matches!(restarted, Ok(()) | Err(ControlError::ChildStopping { .. })),
                    "{case}: {restarted:?}"
                );
                let tree = settled(testkit::wait_until(&app, |t| {
                    ["/app/first", "/app/crasher", "/app/job"].iter().all(|p| {
                        t.find(p)
                            .is_some_and(|n| n.state == NodeState::Running || n.state.is_terminal())
                    }) && t.find("/app/crasher").unwrap().incarnation >= 2
                }))
                .await;
                assert_consistent(&app, "/app/job", &job_h, &job_live).await;
                assert!(
                    job_live.most() <= 1,
                    "{case}: job ran twice at once\n{tree}"
                );
                for (name, live) in [("first", &first_live), ("crasher", &crasher_live)] {
                    assert_eq!(live.now(), 1, "{case}: {name}\n{tree}");
                    assert!(live.most() <= 1, "{case}: {name}");
                }
                let report = within(app.send(Stop)).await.unwrap();
                assert_eq!(report.outcome, StopOutcome::Drained, "{case}: {report}");
                for live in [&first_live, &crasher_live, &job_live] {
                    assert_eq!(live.now(), 0, "{case}");
                }
            }
        }
    }
}

/// `RemoveChild` of a running child that drains (held by a gate), and the
/// parent's `Stop` while it drains: both answer, with one report for the
/// child; every note it held is handled; nothing runs after; its handle's
/// `ended()` answers that report.
#[actix_rt::test]
async fn remove_child_and_the_parent_s_stop_while_the_child_drains_answer_one_report() {
    tokio::time::pause();
    for strategy in [
        Strategy::OneForOne,
        Strategy::OneForAll,
        Strategy::RestForOne,
    ] {
        let Tree { app, job, lives } = tree(strategy, RestartPolicy::Always);
        within(job.started()).await.unwrap();
        let gate = crate::common::Gate::new();
        job.do_send(crate::attacks3_support::HoldOn(gate.clone()))
            .unwrap();
        for _ in 0..3 {
            job.do_send(Note).unwrap();
        }
        let removed = tokio::spawn(app.send(RemoveChild::new("job")));
        settled(testkit::wait_for_node(&app, "/app/job", |n| {
            n.state == NodeState::Stopping
        }))
        .await;
        let stopped = tokio::spawn(app.send(Stop));
        tokio::task::yield_now().await;
        gate.open();
        let removed = within(removed).await.unwrap().unwrap().unwrap();
        let stopped = within(stopped).await.unwrap().unwrap();
        assert_eq!(
            removed.outcome,
            StopOutcome::Drained,
            "{strategy:?}: {removed}"
        );
        assert_eq!(
            stopped.outcome,
            StopOutcome::Drained,
            "{strategy:?}: {stopped}"
        );
        if let Some(held) = stopped.find("/app/job") {
            assert_eq!(held, &removed, "{strategy:?}: two reports for one end");
        }
        assert_eq!(within(job.ended()).await, removed, "{strategy:?}");
        assert_eq!(lives[1].handled(), 3, "{strategy:?}");
        for live in &lives {
            assert_eq!(live.now(), 0, "{strategy:?}");
            assert_eq!(live.started(), 1, "{strategy:?}: a sibling restarted");
        }
    }
}

/// One request of a seeded sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StopChild,
    RestartChild,
    RemoveChild,
    HandleStop,
    Crash,
    Note,
}

/// Seeded sequences of requests on `job` (and crashes of it), sent in
/// batches of two to four without waiting between them, under every
/// strategy and bystander policy. After each batch settles, every child's
/// listed state matches what runs and what its handle reaches, no child
/// ever ran twice at once, and the final stop answers with nothing left
/// running; a batch with a `RemoveChild` (whatever else it holds, a
/// `RestartChild` behind it too) leaves no child.
#[actix_rt::test]
async fn seeded_batches_of_requests_keep_every_child_consistent() {
    tokio::time::pause();
    let mut state: u64 = 0x005e_eda7_7ac3;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let ops = [
        Op::StopChild,
        Op::RestartChild,
        Op::RemoveChild,
        Op::HandleStop,
        Op::Crash,
        Op::Note,
    ];
    for seed in 0..300 {
        let strategy = [
            Strategy::OneForOne,
            Strategy::OneForAll,
            Strategy::RestForOne,
        ][next(3) as usize];
        let policy = [
            RestartPolicy::Never,
            RestartPolicy::OnFailure,
            RestartPolicy::Always,
        ][next(3) as usize];
        let Tree { app, job, lives } = tree(strategy, policy);
        within(job.started()).await.unwrap();
        let mut history = Vec::new();
        for _batch in 0..6 {
            let len = 2 + next(3) as usize;
            let mut batch: Vec<Op> = Vec::new();
            while batch.len() < len {
                batch.push(ops[next(ops.len() as u64) as usize]);
            }
            history.push(batch.clone());
            let case = format!("seed {seed}: {strategy:?}/{policy:?}: {history:?}");
            let mut pending: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = String>>>> =
                Vec::new();
            for op in batch {
                match op {
                    Op::StopChild => {
                        let f = app.send(StopChild::new("job"));
                        pending.push(Box::pin(async move {
                            format!("{:?}", f.await.unwrap().map(|r| r.outcome))
                        }));
                    }
                    Op::RestartChild => {
                        let f = app.send(RestartChild::new("job"));
                        pending.push(Box::pin(async move { format!("{:?}", f.await.unwrap()) }));
                    }
                    Op::RemoveChild => {
                        let f = app.send(RemoveChild::new("job"));
                        pending.push(Box::pin(async move {
                            format!("{:?}", f.await.unwrap().map(|r| r.outcome))
                        }));
                    }
                    Op::HandleStop => {
                        let f = job.stop();
                        pending.push(Box::pin(async move { format!("{:?}", f.await.outcome) }));
                    }
                    Op::Crash => {
                        let _ = job.do_send(Crash);
                    }
                    Op::Note => {
                        let _ = job.do_send(Note);
                    }
                }
            }
            let answers = within(futures_util::future::join_all(pending)).await;
            let tree_now = settled(testkit::wait_until(&app, |t| {
                t.root
                    .children
                    .iter()
                    .all(|c| c.state == NodeState::Running || c.state.is_terminal())
            }))
            .await;
            let job_now = tree_now.find("/app/job").cloned();
            if history.last().unwrap().contains(&Op::RemoveChild) {
                assert!(
                    job_now.is_none(),
                    "{case}: removed, yet listed: {job_now:?}; answers {answers:?}"
                );
            }
            assert_consistent(&app, "/app/job", &job, &lives[1]).await;
            for (i, path) in [(0, "/app/before"), (2, "/app/after")] {
                let n = tree_now.find(path).unwrap();
                let running = n.state == NodeState::Running;
                assert_eq!(
                    lives[i].now(),
                    u64::from(running),
                    "{case}: {path} listed {:?}; answers {answers:?}\n{tree_now}",
                    n.state
                );
                assert!(lives[i].most() <= 1, "{case}: {path} ran twice at once");
            }
            if job_now.is_none() {
                break;
            }
        }
        let case = format!("seed {seed}: {strategy:?}/{policy:?}: {history:?}");
        let report = within(app.send(Stop)).await.unwrap();
        assert!(
            !matches!(report.outcome, StopOutcome::TimedOut),
            "{case}: {report}"
        );
        for live in &lives {
            assert_eq!(live.now(), 0, "{case}");
            assert!(live.most() <= 1, "{case}");
        }
        within(job.ended()).await;
    }
}

/// One-for-all: `job` (`Always`) is being removed and drains behind a gate
/// when its sibling `crasher` fails. The strategy restart must not start
/// the child being removed again: once the remove answered, nothing of
/// that name is listed or runs, every note it held is handled, and the
/// sibling runs again.
#[actix_rt::test]
async fn a_strategy_restart_while_a_child_is_being_removed_does_not_start_it_again() {
    tokio::time::pause();
    for strategy in [Strategy::OneForAll, Strategy::RestForOne] {
        let (job_live, crasher_live) = (Live::new(), Live::new());
        let crasher = member("crasher", &crasher_live).restart(RestartPolicy::OnFailure);
        let job = member("job", &job_live).restart(RestartPolicy::Always);
        let (crash, job_h) = (crasher.handle(), job.handle());
        let app = SupervisorActor::builder("app")
            .strategy(strategy)
            .intensity(crate::common::unlimited())
            .child(crasher)
            .child(job)
            .start()
            .unwrap();
        within(job_h.started()).await.unwrap();
        within(crash.started()).await.unwrap();
        let gate = crate::common::Gate::new();
        job_h
            .do_send(crate::attacks3_support::HoldOn(gate.clone()))
            .unwrap();
        for _ in 0..3 {
            job_h.do_send(Note).unwrap();
        }
        let removed = tokio::spawn(app.send(RemoveChild::new("job")));
        settled(testkit::wait_for_node(&app, "/app/job", |n| {
            n.state == NodeState::Stopping
        }))
        .await;
        crash.do_send(Crash).unwrap();
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        gate.open();
        let removed = within(removed).await.unwrap().unwrap().unwrap();
        assert_eq!(
            removed.outcome,
            StopOutcome::Drained,
            "{strategy:?}: {removed}"
        );
        settled(testkit::wait_for_node(&app, "/app/crasher", |n| {
            n.state == NodeState::Running && n.incarnation == 2
        }))
        .await;
        let listed = node(&app, "/app/job").await;
        assert!(
            listed.is_none() && job_live.now() == 0,
            "{strategy:?}: removed, yet listed {listed:?}, {} running",
            job_live.now()
        );
        assert_eq!(job_live.handled(), 3, "{strategy:?}");
        assert!(!job_h.is_accepting(), "{strategy:?}");
        within(app.send(Stop)).await.unwrap();
        assert_eq!(job_live.now() + crasher_live.now(), 0);
    }
}
