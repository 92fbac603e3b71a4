//! More attacks from outside, with the public API only, on restarts in the
//! same poll (commit 2d43182): a child on another arbiter failing on every
//! message while the root stops, control messages sent from another
//! thread during a burst, a normal end right after failures, and backoff
//! restarts through a burst under paused time.
//!
//! Every await that could hang is bounded by `within`.

use crate::attacks4_support::{
    flaky, quiet_panics, start_alone, supervise, Book, Flaky, How, Job, StartFails, Which,
};
use crate::common::{node, unlimited, within};

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::events::EventKind;
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::testkit::EventRecorder;
use actix_supervisor::{
    Backoff, ChildHandle, Inspect, RestartPolicy, SendError, Stop, StopChild, StopOutcome,
    StopReport, SupervisorActor,
};

/// Every report in `report`'s tree, flattened.
fn all(report: &StopReport) -> Vec<&StopReport> {
    let mut out = vec![report];
    for c in &report.children {
        out.extend(all(c));
    }
    out
}

/// A child in a subtree on another arbiter fails on every one of
/// thousands of messages sent from this thread; `Inspect` answers during
/// the burst, and the root's `Stop` in the middle of it answers with a
/// report that accounts for every message (each handled once, in order,
/// or undelivered).
#[actix_rt::test]
async fn a_child_on_another_arbiter_failing_on_every_message_loses_nothing() {
    quiet_panics();
    const N: u32 = 3_000;
    for how in [How::Fail, How::Panic] {
        let case = format!("{how:?}");
        let other = Arbiter::new();
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Never);
        let handle = spec.handle();
        let remote = SupervisorActor::builder("remote")
            .intensity(unlimited())
            .child(spec)
            .on_arbiter(other.handle());
        let app = SupervisorActor::builder("app")
            .intensity(unlimited())
            .child(remote)
            .start()
            .unwrap();
        within(handle.started()).await.unwrap();
        for seq in 0..N {
            handle.do_send(Job::new(0, seq, how)).unwrap();
        }
        let tree = within(app.send(Inspect)).await.unwrap();
        assert!(tree.find("/app/remote/job").is_some(), "{case}: {tree}");
        let report = within(app.send(Stop)).await.unwrap();
        let job = report
            .find("/app/remote/job")
            .unwrap_or_else(|| panic!("{case}: {report}"));
        let handled = book.count() as u64;
        assert_eq!(
            u64::from(N),
            handled + job.undelivered + job.cancelled,
            "{case}: handled {handled}: {report}"
        );
        let expected: Vec<(u32, u32)> = (0..handled as u32).map(|s| (0, s)).collect();
        book.assert_each_once_in_order(&expected, &case);
        // Its grace (5 s) is far above the burst: all drained.
        assert_eq!(handled, u64::from(N), "{case}: {report}");
        for r in all(&report) {
            assert_eq!(r.undelivered, 0, "{case}: {report}");
        }
        other.stop();
        other.join().unwrap();
    }
}

/// What another thread sends to stop the child.
#[derive(Debug, Clone, Copy)]
enum Remote {
    StopChild,
    ParentStop,
    HandleStop,
}

/// Another thread stops the child (its handle, `StopChild`, or the
/// parent's `Stop`) while this one keeps a burst of failing messages
/// coming: the stop answers, sends are refused from then on, and every
/// message accepted is handled once (in order) or counted.
#[actix_rt::test]
async fn control_messages_from_another_thread_during_a_burst_answer_and_account() {
    quiet_panics();
    for remote in [Remote::StopChild, Remote::ParentStop, Remote::HandleStop] {
        for how in [How::Fail, How::Panic] {
            for wait_for in [0usize, 30, 300] {
                let case = format!("{remote:?}/{how:?}/after {wait_for}");
                let book = Book::new();
                let spec = flaky("job", &book, StartFails::Never);
                let (app, handle) = start_alone(spec).await;
                let (app2, handle2, book2) = (app.clone(), handle.clone(), book.clone());
                let stopper = std::thread::spawn(move || {
                    while book2.count() < wait_for {
                        std::thread::yield_now();
                    }
                    match remote {
                        Remote::StopChild => {
                            block_on(app2.send(StopChild::new("job"))).unwrap().unwrap()
                        }
                        Remote::ParentStop => {
                            let report = block_on(app2.send(Stop)).unwrap();
                            report.find("/app/job").unwrap().clone()
                        }
                        Remote::HandleStop => block_on(handle2.stop()),
                    }
                });
                let mut accepted = Vec::new();
                let mut seq = 0u32;
                loop {
                    match handle.do_send(Job::new(0, seq, how)) {
                        Ok(()) => accepted.push((0, seq)),
                        Err(SendError::Stopping { .. } | SendError::Gone { .. }) => break,
                        Err(e) => panic!("{case}: {e}"),
                    }
                    seq += 1;
                    if seq.is_multiple_of(8) {
                        tokio::task::yield_now().await;
                    }
                    assert!(seq < 2_000_000, "{case}: the stop never took effect");
                }
                let report = within(handle.ended()).await;
                let theirs = stopper.join().unwrap();
                assert_eq!(report, theirs, "{case}");
                let handled = book.count() as u64;
                assert_eq!(
                    accepted.len() as u64,
                    handled + report.undelivered + report.cancelled,
                    "{case}: handled {handled}: {report}"
                );
                book.assert_each_once_in_order(&accepted, &case);
                let _ = within(app.send(Stop)).await;
            }
        }
    }
}

/// Runs `fut` to its end on this thread (one that runs no actix system),
/// on a runtime of its own; fails after [`crate::common::TIMEOUT`] (a
/// guard against hangs only).
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime for this thread")
        .block_on(async { tokio::time::timeout(crate::common::TIMEOUT, fut).await })
        .expect("a request never answered")
}

/// Failures, then a normal stop, then messages that run, all queued at
/// once: under `OnFailure` (and `Never` after no failure) the child ends at
/// the normal stop, not restarted; the messages behind it are reported
/// undelivered, their requesters hear an error, and a temporary child
/// leaves the tree.
#[actix_rt::test]
async fn a_normal_end_right_after_failures_reports_what_waits() {
    quiet_panics();
    for temporary in [false, true] {
        for how in [How::Panic, How::Fail] {
            let case = format!("{how:?}/temporary {temporary}");
            let book = Book::new();
            let mut spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::OnFailure);
            if temporary {
                spec = spec.remove_on_exit();
            }
            let handle: ChildHandle<Flaky> = spec.handle();
            let app = SupervisorActor::builder("app")
                .intensity(unlimited())
                .child(spec)
                .start()
                .unwrap();
            within(handle.started()).await.unwrap();
            for seq in 0..5 {
                handle.do_send(Job::new(0, seq, how)).unwrap();
            }
            handle.do_send(Job::new(0, 5, How::StopNormally)).unwrap();
            let behind: Vec<_> = (6..10)
                .map(|seq| handle.send(Job::new(0, seq, How::Run)))
                .collect();
            let report = within(handle.ended()).await;
            let expected: Vec<(u32, u32)> = (0..=5).map(|s| (0, s)).collect();
            book.assert_each_once_in_order(&expected, &case);
            assert_eq!(report.undelivered, 4, "{case}: {report}");
            assert_eq!(report.outcome, StopOutcome::Incomplete, "{case}: {report}");
            assert!(report.ended_on_its_own, "{case}: {report}");
            for reply in behind {
                assert!(within(reply).await.is_err(), "{case}");
            }
            let tree = within(app.send(Inspect)).await.unwrap();
            match tree.find("/app/job") {
                Some(job) => {
                    assert!(!temporary, "{case}: a temporary child stayed: {tree}");
                    assert_eq!(job.state, NodeState::Stopped, "{case}: {tree}");
                    assert_eq!(job.incarnation, 6, "{case}: {tree}");
                }
                None => assert!(temporary, "{case}: the child left: {tree}"),
            }
            within(app.send(Stop)).await.unwrap();
        }
    }
}

/// Under paused time, a child with a jitter-free backoff fails on every
/// one of a queue of messages: each restart waits its delay (doubling up
/// to the maximum), shown in `Restarting` with attempts 1, 2, 3...; every
/// message is handled once, in order, one incarnation each.
#[actix_rt::test]
async fn backoff_restarts_through_a_burst_wait_their_delays() {
    quiet_panics();
    tokio::time::pause();
    const N: u32 = 8;
    for how in [How::Panic, How::Fail] {
        let case = format!("{how:?}");
        let book = Book::new();
        let backoff =
            Backoff::new(Duration::from_millis(100), Duration::from_millis(1_000)).jitter(0.0);
        let spec = flaky("job", &book, StartFails::Never).backoff(backoff);
        let (app, handle) = supervise(spec);
        let events = EventRecorder::start(&app).await.unwrap();
        within(handle.started()).await.unwrap();
        for seq in 0..N {
            handle.do_send(Job::new(0, seq, how)).unwrap();
        }
        assert_eq!(
            within(handle.send(Which)).await.unwrap(),
            1 + u64::from(N),
            "{case}"
        );
        let expected: Vec<(u32, u32)> = (0..N).map(|s| (0, s)).collect();
        book.assert_each_once_in_order(&expected, &case);
        for (k, seen) in book.handled().iter().enumerate() {
            assert_eq!(seen.incarnation, 1 + k as u64, "{case}");
        }
        let restarts: Vec<(u32, Duration)> = events
            .for_path("/app/job")
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Restarting { attempt, delay } => Some((attempt, delay)),
                _ => None,
            })
            .collect();
        let wanted: Vec<(u32, Duration)> = (1..=N)
            .map(|a| (a, Duration::from_millis((100u64 << (a - 1)).min(1_000))))
            .collect();
        assert_eq!(restarts, wanted, "{case}");
        let job = node(&app, "/app/job").await;
        assert_eq!(
            (job.incarnation, job.restart_count),
            (1 + u64::from(N), u64::from(N)),
            "{case}"
        );
        within(app.send(Stop)).await.unwrap();
    }
}

/// A stop through the handle right behind a burst of failing messages:
/// the child's events show one `Stopping`, then the drain (each
/// incarnation's events with its number one more than the last), then one
/// `Stopped`, last, carrying the same report as the stop's answer.
#[actix_rt::test]
async fn a_stop_during_a_burst_shows_stopping_then_stopped_last() {
    quiet_panics();
    const N: u32 = 50;
    for how in [How::Panic, How::Fail] {
        let case = format!("{how:?}");
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Never);
        let (app, handle) = supervise(spec);
        let events = EventRecorder::start(&app).await.unwrap();
        within(handle.started()).await.unwrap();
        for seq in 0..N {
            handle.do_send(Job::new(0, seq, how)).unwrap();
        }
        let report = within(handle.stop()).await;
        let last = events
            .wait_for(|e| {
                e.path.as_str() == "/app/job" && matches!(e.kind, EventKind::Stopped { .. })
            })
            .await;
        assert!(
            matches!(&last.kind, EventKind::Stopped { report: r } if *r == report),
            "{case}: {last:?} vs {report}"
        );
        let seen = events.for_path("/app/job");
        let kinds = events.kinds("/app/job");
        let stopping: Vec<usize> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| **k == "stopping")
            .map(|(i, _)| i)
            .collect();
        let stopped: Vec<usize> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| **k == "stopped")
            .map(|(i, _)| i)
            .collect();
        assert_eq!(stopping.len(), 1, "{case}: {kinds:?}");
        assert_eq!(stopped, [kinds.len() - 1], "{case}: {kinds:?}");
        let mut incarnation = seen[0].incarnation;
        for e in &seen {
            assert!(
                e.incarnation == incarnation || e.incarnation == incarnation + 1,
                "{case}: {e:?} after incarnation {incarnation}"
            );
            incarnation = e.incarnation;
        }
        assert_eq!(incarnation, 1 + u64::from(N), "{case}: {kinds:?}");
        assert_eq!(report.drained, u64::from(N), "{case}: {report}");
        within(app.send(Stop)).await.unwrap();
    }
}
