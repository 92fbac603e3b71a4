//! Attacks from outside, with the public API only, on how a burst of
//! restarts in the same poll (commit 2d43182) ends: `ChildFuture`s owned
//! by incarnations that fail one after another, a `Kill` of the supervisor
//! in the middle of a burst, a stop whose grace runs out during a burst, a
//! child that fails in every `started`, a nested subtree, and the restart
//! intensity's window under paused time.
//!
//! Promises checked: every message accepted through a handle is handled,
//! cancelled or reported undelivered, exactly once (README "Reliability");
//! every stop answers; an incarnation that ends drops its owned futures at
//! once (docs/async_handlers.md); the intensity counts restarts within its
//! window (README "Restart policies").

use crate::attacks4_support::{
    flaky, quiet_panics, stop_by, Await, Book, Flaky, How, Job, StartFails, Which, STOPPERS,
};
use crate::common::{node, unlimited, within, Gate};

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::{
    Grace, Kill, RestartIntensity, RestartPolicy, SendError, Stop, StopOutcome, StopReport,
    Strategy, SupervisorActor,
};
use futures_util::future::join_all;

fn app_with(spec: actix_supervisor::ChildSpec<Flaky>) -> Addr<SupervisorActor> {
    SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap()
}

/// Pairs of a `ChildFuture` waiting on a closed gate and a message that
/// ends the incarnation, queued in batches: each future's requester hears
/// `NoReply` (its incarnation ended), each message is handled once, in
/// order, by the incarnation expected; a last future, its gate open,
/// answers; the stop's report leaves nothing undelivered.
#[actix_rt::test]
async fn child_futures_of_incarnations_failing_one_after_another_answer_at_once() {
    quiet_panics();
    const BATCHES: u32 = 6;
    const PAIRS: u32 = 7; // 14 messages: within the mailbox's capacity
    for how in [How::Panic, How::Fail, How::StopNormally] {
        let case = format!("{how:?}");
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::Always);
        let handle = spec.handle();
        let app = app_with(spec);
        within(handle.started()).await.unwrap();
        let closed = Gate::new();
        let mut seq = 0;
        for _ in 0..BATCHES {
            let mut replies = Vec::new();
            for _ in 0..PAIRS {
                replies.push(handle.send(Await {
                    sender: 0,
                    seq,
                    gate: closed.clone(),
                }));
                handle.do_send(Job::new(0, seq + 1, how)).unwrap();
                seq += 2;
            }
            for reply in within(join_all(replies)).await {
                assert!(
                    matches!(reply, Err(SendError::NoReply { .. })),
                    "{case}: {reply:?}"
                );
            }
        }
        let open = Gate::new();
        open.open();
        let last = handle.send(Await {
            sender: 0,
            seq,
            gate: open,
        });
        let pairs = u64::from(BATCHES * PAIRS);
        assert_eq!(within(last).await.unwrap(), 1 + pairs, "{case}");
        let expected: Vec<(u32, u32)> = (0..=seq).map(|s| (0, s)).collect();
        book.assert_each_once_in_order(&expected, &case);
        for seen in book.handled() {
            assert_eq!(
                seen.incarnation,
                1 + u64::from(seen.seq / 2),
                "{case}: {seen:?}"
            );
        }
        let report = within(handle.stop()).await;
        assert_eq!(report.outcome, StopOutcome::Drained, "{case}: {report}");
        assert_eq!(
            (report.undelivered, report.cancelled),
            (0, 0),
            "{case}: {report}"
        );
        within(app.send(Stop)).await.unwrap();
    }
}

/// The same with the gates open (a future may finish, or be dropped with
/// its incarnation): every request answers, and the stop's report leaves
/// nothing undelivered.
#[actix_rt::test]
async fn child_futures_ready_at_once_among_failures_all_answer() {
    quiet_panics();
    for how in [How::Panic, How::Fail] {
        let case = format!("{how:?}");
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Never);
        let handle = spec.handle();
        let app = app_with(spec);
        within(handle.started()).await.unwrap();
        let open = Gate::new();
        open.open();
        let mut seq = 0;
        for _ in 0..10 {
            let mut replies = Vec::new();
            for _ in 0..7 {
                replies.push(handle.send(Await {
                    sender: 0,
                    seq,
                    gate: open.clone(),
                }));
                handle.do_send(Job::new(0, seq + 1, how)).unwrap();
                seq += 2;
            }
            for reply in within(join_all(replies)).await {
                assert!(
                    matches!(reply, Ok(_) | Err(SendError::NoReply { .. })),
                    "{case}: {reply:?}"
                );
            }
        }
        let expected: Vec<(u32, u32)> = (0..seq).map(|s| (0, s)).collect();
        within(handle.send(Which)).await.unwrap();
        book.assert_each_once_in_order(&expected, &case);
        let report = within(handle.stop()).await;
        assert_eq!(
            (report.undelivered, report.cancelled),
            (0, 0),
            "{case}: {report}"
        );
        within(app.send(Stop)).await.unwrap();
    }
}

/// `Kill` to the supervisor while its child is in the middle of a burst of
/// failing messages: the child's report answers, and every message
/// accepted is handled once (in order) or counted in it.
#[actix_rt::test]
async fn a_kill_in_the_middle_of_a_burst_accounts_for_every_message() {
    quiet_panics();
    const N: u32 = 3_000;
    for how in [How::Panic, How::Fail] {
        for after in [0usize, 1, 40, 500] {
            let case = format!("{how:?}/kill after {after}");
            let book = Book::new();
            let spec = flaky("job", &book, StartFails::Never);
            let handle = spec.handle();
            let app = app_with(spec);
            within(handle.started()).await.unwrap();
            for seq in 0..N {
                handle.do_send(Job::new(0, seq, how)).unwrap();
            }
            let mut turns = 0;
            while book.count() < after {
                tokio::task::yield_now().await;
                turns += 1;
                assert!(turns < 1_000_000, "{case}: the burst stalled");
            }
            let _ = within(app.send(Kill)).await;
            let report = within(handle.ended()).await;
            let handled = book.count() as u64;
            assert_eq!(
                u64::from(N),
                handled + report.undelivered + report.cancelled,
                "{case}: handled {handled}: {report}"
            );
            let expected: Vec<(u32, u32)> = (0..handled as u32).map(|s| (0, s)).collect();
            book.assert_each_once_in_order(&expected, &case);
            assert!(!handle.is_accepting(), "{case}");
        }
    }
}

/// A stop with a grace far shorter than the burst of failing messages it
/// finds (real time: the grace may run out, or the drain may end first):
/// it answers, and its report accounts for every message accepted.
#[actix_rt::test]
async fn a_stop_whose_grace_runs_out_during_a_burst_accounts_for_every_message() {
    quiet_panics();
    const N: u32 = 5_000;
    for stopper in STOPPERS {
        for how in [How::Fail, How::Panic] {
            for grace in [Duration::from_micros(1), Duration::from_millis(1)] {
                let case = format!("{stopper:?}/{how:?}/grace {grace:?}");
                let book = Book::new();
                let spec = flaky("job", &book, StartFails::Never).grace(Grace::Duration(grace));
                let handle = spec.handle();
                let app = app_with(spec);
                within(handle.started()).await.unwrap();
                for seq in 0..N {
                    handle.do_send(Job::new(0, seq, how)).unwrap();
                }
                let report = stop_by(stopper, &app, &handle).await;
                let handled = book.count() as u64;
                assert_eq!(
                    u64::from(N),
                    handled + report.undelivered + report.cancelled,
                    "{case}: handled {handled}: {report}"
                );
                if report.undelivered > 0 {
                    assert_eq!(report.outcome, StopOutcome::TimedOut, "{case}: {report}");
                }
                let expected: Vec<(u32, u32)> = (0..handled as u32).map(|s| (0, s)).collect();
                book.assert_each_once_in_order(&expected, &case);
                assert!(handle.do_send(Job::new(0, 0, How::Run)).is_err(), "{case}");
                within(app.send(Stop)).await.unwrap();
            }
        }
    }
}

/// A child whose every `started` fails, without a backoff, under no
/// intensity limit, with messages queued: every stop (through its handle,
/// `StopChild`, the parent's `Stop`, `RemoveChild`) answers within the
/// child's grace, and reports every queued message undelivered (none was
/// handled).
#[actix_rt::test]
async fn a_child_failing_in_every_start_still_answers_every_stop() {
    quiet_panics();
    for stopper in STOPPERS {
        for how in [How::Fail, How::Panic] {
            let case = format!("{stopper:?}/{how:?}");
            let book = Book::new();
            let spec = flaky("job", &book, StartFails::Always(how))
                .restart(RestartPolicy::Always)
                .grace(Grace::Duration(Duration::from_millis(50)));
            let handle = spec.handle();
            let app = app_with(spec);
            // Its first start failed; it keeps restarting.
            assert!(within(handle.started()).await.is_err(), "{case}");
            for seq in 0..10 {
                handle.do_send(Job::new(0, seq, How::Run)).unwrap();
            }
            let report = stop_by(stopper, &app, &handle).await;
            assert_eq!(
                book.count(),
                0,
                "{case}: handled by an incarnation that failed to start"
            );
            assert_eq!(report.undelivered, 10, "{case}: {report}");
            assert!(book.built() > 1, "{case}: never restarted");
            within(app.send(Stop)).await.unwrap();
        }
    }
}

/// A nested `OneForAll` subtree whose child fails on every message while
/// its sibling takes work that runs; the root's `Stop` in the middle of the
/// burst answers, and every message is handled once, in order.
#[actix_rt::test]
async fn a_nested_subtree_stopped_in_a_burst_loses_nothing() {
    quiet_panics();
    const N: u32 = 300;
    for how in [How::Panic, How::Fail] {
        let case = format!("{how:?}");
        let (book, calm) = (Book::new(), Book::new());
        let a = flaky("a", &book, StartFails::Never);
        let b = flaky("b", &calm, StartFails::Never);
        let (ha, hb) = (a.handle(), b.handle());
        let mid = SupervisorActor::builder("mid")
            .strategy(Strategy::OneForAll)
            .intensity(unlimited())
            .child(a)
            .child(b);
        let app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(mid)
            .start()
            .unwrap();
        within(ha.started()).await.unwrap();
        within(hb.started()).await.unwrap();
        for seq in 0..N {
            ha.do_send(Job::new(0, seq, how)).unwrap();
            hb.do_send(Job::new(1, seq, How::Run)).unwrap();
        }
        let report = within(app.send(Stop)).await.unwrap();
        let summary = report.summary();
        assert!(summary.stopped_cleanly(), "{case}: {report}");
        fn walk(r: &StopReport, case: &str) {
            assert_eq!((r.undelivered, r.cancelled), (0, 0), "{case}: {r}");
            for c in &r.children {
                walk(c, case);
            }
        }
        walk(&report, &case);
        book.assert_each_once_in_order(&(0..N).map(|s| (0, s)).collect::<Vec<_>>(), &case);
        calm.assert_each_once_in_order(&(0..N).map(|s| (1, s)).collect::<Vec<_>>(), &case);
    }
}

/// The intensity's window under paused time: 3 restarts within a second.
/// A burst of 3 failures, then the window passes, then 3 more: the child
/// still runs (6 restarts, never 4 in one window); one more burst of 4
/// within the window: it gives up after exactly the 3rd of them.
#[actix_rt::test]
async fn the_intensity_window_slides_between_bursts() {
    quiet_panics();
    tokio::time::pause();
    for how in [How::Panic, How::Fail] {
        let case = format!("{how:?}");
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Never);
        let handle = spec.handle();
        let app = SupervisorActor::builder("app")
            .intensity(RestartIntensity::new(3, Duration::from_secs(1)))
            .child(spec)
            .start()
            .unwrap();
        within(handle.started()).await.unwrap();
        let mut seq = 0;
        for round in 0..2 {
            for _ in 0..3 {
                handle.do_send(Job::new(0, seq, how)).unwrap();
                seq += 1;
            }
            assert_eq!(
                within(handle.send(Which)).await.unwrap(),
                1 + u64::from(seq),
                "{case}: round {round}"
            );
            tokio::time::advance(Duration::from_millis(1_100)).await;
        }
        let job = node(&app, "/app/job").await;
        assert_eq!(
            (job.state, job.restart_count),
            (NodeState::Running, 6),
            "{case}"
        );
        for _ in 0..10 {
            handle.do_send(Job::new(0, seq, how)).unwrap();
            seq += 1;
        }
        let report = within(handle.ended()).await;
        // 3 restarts allowed in the new window: 4 messages handled, the
        // 4th failure one too many.
        assert_eq!(book.count(), 6 + 4, "{case}: {report}");
        assert_eq!(report.undelivered, 10 - 4, "{case}: {report}");
        let job = node(&app, "/app/job").await;
        assert_eq!(
            (job.state, job.restart_count),
            (NodeState::Failed, 9),
            "{case}"
        );
    }
}

/// A factory that panics on every other build (the 2nd, 4th...), for a
/// child failing on every message: each failed build is a failure its
/// policy restarts; every message is handled once, in order, each by an
/// incarnation that was built, and the stop leaves nothing undelivered.
#[actix_rt::test]
async fn a_factory_failing_every_other_build_among_failing_messages_loses_nothing() {
    quiet_panics();
    const N: u32 = 40;
    for how in [How::Panic, How::Fail] {
        let case = format!("{how:?}");
        let book = Book::new();
        let made = book.clone();
        let spec = actix_supervisor::ChildSpec::new("job", move || {
            let n = made.built.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if n.is_multiple_of(2) {
                panic!("fails to build");
            }
            Flaky {
                incarnation: n,
                book: made.clone(),
                start_fails: StartFails::Never,
            }
        })
        .restart(RestartPolicy::Always);
        let handle = spec.handle();
        let app = app_with(spec);
        within(handle.started()).await.unwrap();
        for seq in 0..N {
            handle.do_send(Job::new(0, seq, how)).unwrap();
        }
        let last = within(handle.send(Which)).await.unwrap();
        assert_eq!(last, 1 + 2 * u64::from(N), "{case}");
        let expected: Vec<(u32, u32)> = (0..N).map(|s| (0, s)).collect();
        book.assert_each_once_in_order(&expected, &case);
        for (k, seen) in book.handled().iter().enumerate() {
            assert_eq!(seen.incarnation, 1 + 2 * k as u64, "{case}: {seen:?}");
        }
        let job = node(&app, "/app/job").await;
        assert_eq!(job.state, NodeState::Running, "{case}");
        let report = within(handle.stop()).await;
        assert_eq!(report.outcome, StopOutcome::Drained, "{case}: {report}");
        assert_eq!(
            (report.undelivered, report.cancelled),
            (0, 0),
            "{case}: {report}"
        );
        within(app.send(Stop)).await.unwrap();
    }
}
