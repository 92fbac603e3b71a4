//! Attacks from outside, with the public API only, on the restart at once
//! after an incarnation built in an earlier poll (commit 2d43182), where
//! the tree is involved: strategy restarts while siblings fail on every
//! message, `RestartChild` and `RemoveChild` during a burst of failures,
//! children with dependencies restarting on every message, the restart
//! intensity counted exactly, lifecycle events and `Inspect`.
//!
//! Every await that could hang is bounded by `within`; tests that count
//! restarts against a window run under paused time.

use crate::attacks4_support::{
    flaky, quiet_panics, start_alone, supervise, Book, Flaky, How, Job, StartFails, Which,
};
use crate::common::{node, unlimited, within};

use std::time::Duration;

use actix_supervisor::events::EventKind;
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::testkit::EventRecorder;
use actix_supervisor::{
    ChildHandle, ChildSpec, RemoveChild, RestartChild, RestartIntensity, RestartPolicy, SendError,
    Stop, StopOutcome, Strategy, SupervisorActor,
};

const STRATEGIES: [Strategy; 3] = [
    Strategy::OneForOne,
    Strategy::OneForAll,
    Strategy::RestForOne,
];

fn how_for(child: u32, seq: u32) -> How {
    if (child + seq).is_multiple_of(2) {
        How::Panic
    } else {
        How::Fail
    }
}

/// Three siblings, each failing on every message queued to it, under each
/// strategy: every message is handled exactly once, in order, whatever
/// restarted whom; the children end up running, and the stop's reports
/// leave nothing undelivered.
#[actix_rt::test]
async fn siblings_failing_on_every_message_under_every_strategy_lose_nothing() {
    quiet_panics();
    const N: u32 = 40;
    for strategy in STRATEGIES {
        let case = format!("{strategy:?}");
        let books = [Book::new(), Book::new(), Book::new()];
        let specs: Vec<ChildSpec<Flaky>> = ["a", "b", "c"]
            .iter()
            .zip(&books)
            .map(|(name, book)| {
                flaky(name, book, StartFails::Never).restart(RestartPolicy::OnFailure)
            })
            .collect();
        let handles: Vec<ChildHandle<Flaky>> = specs.iter().map(|s| s.handle()).collect();
        let mut builder = SupervisorActor::builder("app")
            .strategy(strategy)
            .intensity(unlimited());
        for spec in specs {
            builder = builder.child(spec);
        }
        let app = builder.start().unwrap();
        for h in &handles {
            within(h.started()).await.unwrap();
        }
        for seq in 0..N {
            for (child, h) in handles.iter().enumerate() {
                h.do_send(Job::new(child as u32, seq, how_for(child as u32, seq)))
                    .unwrap();
            }
        }
        for h in &handles {
            within(h.send(Which)).await.unwrap();
        }
        for (child, book) in books.iter().enumerate() {
            let expected: Vec<(u32, u32)> = (0..N).map(|s| (child as u32, s)).collect();
            book.assert_each_once_in_order(&expected, &format!("{case}/{child}"));
            // Each failure of its own took an incarnation.
            let handled = book.handled();
            for pair in handled.windows(2) {
                assert!(
                    pair[0].incarnation < pair[1].incarnation,
                    "{case}/{child}: {pair:?}"
                );
            }
        }
        if strategy == Strategy::OneForOne {
            for book in &books {
                assert_eq!(
                    book.built(),
                    1 + u64::from(N),
                    "{case}: restarted by a sibling"
                );
            }
        }
        if strategy == Strategy::RestForOne {
            // `a` restarts only for its own failures.
            assert_eq!(
                books[0].built(),
                1 + u64::from(N),
                "{case}: a restarted by a later sibling"
            );
        }
        let report = within(app.send(Stop)).await.unwrap();
        for child in &report.children {
            assert_eq!(
                (child.undelivered, child.cancelled),
                (0, 0),
                "{case}: {report}"
            );
            assert_eq!(child.outcome, StopOutcome::Drained, "{case}: {report}");
        }
    }
}

/// `RestForOne`: `b` fails on every message while `a` and `c` take work
/// that runs. `a` never restarts; `c` restarts with each failure of `b`;
/// every message of all three is handled exactly once, in order.
#[actix_rt::test]
async fn rest_for_one_restarts_only_later_siblings_through_a_burst() {
    quiet_panics();
    const N: u32 = 50;
    let books = [Book::new(), Book::new(), Book::new()];
    let specs: Vec<ChildSpec<Flaky>> = ["a", "b", "c"]
        .iter()
        .zip(&books)
        .map(|(name, book)| flaky(name, book, StartFails::Never))
        .collect();
    let handles: Vec<ChildHandle<Flaky>> = specs.iter().map(|s| s.handle()).collect();
    let mut builder = SupervisorActor::builder("app")
        .strategy(Strategy::RestForOne)
        .intensity(unlimited());
    for spec in specs {
        builder = builder.child(spec);
    }
    let app = builder.start().unwrap();
    for h in &handles {
        within(h.started()).await.unwrap();
    }
    for seq in 0..N {
        handles[0].do_send(Job::new(0, seq, How::Run)).unwrap();
        handles[1]
            .do_send(Job::new(1, seq, how_for(1, seq)))
            .unwrap();
        handles[2].do_send(Job::new(2, seq, How::Run)).unwrap();
    }
    for h in &handles {
        within(h.send(Which)).await.unwrap();
    }
    for (child, book) in books.iter().enumerate() {
        let expected: Vec<(u32, u32)> = (0..N).map(|s| (child as u32, s)).collect();
        book.assert_each_once_in_order(&expected, &format!("child {child}"));
    }
    assert_eq!(books[0].built(), 1, "a was restarted");
    assert_eq!(books[1].built(), 1 + u64::from(N));
    assert_eq!(
        books[2].built(),
        1 + u64::from(N),
        "c restarts with each failure of b"
    );
    let a = node(&app, "/app/a").await;
    assert_eq!((a.incarnation, a.restart_count), (1, 0), "{a:?}");
    within(app.send(Stop)).await.unwrap();
}

/// `RestartChild` sent in the middle of a burst of failing messages, then
/// more messages: it answers `Ok`, and every message, before and after
/// it, is handled exactly once, in order.
#[actix_rt::test]
async fn restart_child_in_a_burst_of_failures_loses_nothing() {
    quiet_panics();
    const N: u32 = 40;
    for how in [How::Panic, How::Fail] {
        for strategy in STRATEGIES {
            let case = format!("{how:?}/{strategy:?}");
            let book = Book::new();
            let other = Book::new();
            let spec = flaky("job", &book, StartFails::Never);
            let handle = spec.handle();
            let app = SupervisorActor::builder("app")
                .strategy(strategy)
                .intensity(unlimited())
                .child(flaky("other", &other, StartFails::Never))
                .child(spec)
                .start()
                .unwrap();
            within(handle.started()).await.unwrap();
            for seq in 0..N {
                handle.do_send(Job::new(0, seq, how)).unwrap();
            }
            let restarted = app.send(RestartChild::new("job"));
            for seq in N..2 * N {
                handle.do_send(Job::new(0, seq, how)).unwrap();
            }
            assert_eq!(within(restarted).await.unwrap(), Ok(()), "{case}");
            within(handle.send(Which)).await.unwrap();
            let expected: Vec<(u32, u32)> = (0..2 * N).map(|s| (0, s)).collect();
            book.assert_each_once_in_order(&expected, &case);
            let report = within(app.send(Stop)).await.unwrap();
            for child in &report.children {
                assert_eq!(
                    (child.undelivered, child.cancelled),
                    (0, 0),
                    "{case}: {report}"
                );
            }
        }
    }
}

/// `RemoveChild` sent in the middle of a burst of failing messages: it
/// answers a report; every message accepted was handled exactly once (in
/// order) or counted undelivered; the handle refuses afterwards and the
/// node is gone.
#[actix_rt::test]
async fn remove_child_in_a_burst_of_failures_accounts_for_every_message() {
    quiet_panics();
    const N: u32 = 60;
    for how in [How::Panic, How::Fail, How::StopNormally] {
        for policy in [RestartPolicy::OnFailure, RestartPolicy::Always] {
            let case = format!("{how:?}/{policy:?}");
            let book = Book::new();
            let spec = flaky("job", &book, StartFails::Never).restart(policy);
            let (app, handle) = start_alone(spec).await;
            let mut accepted = 0u32;
            for seq in 0..N {
                if handle.do_send(Job::new(0, seq, how)).is_ok() {
                    accepted += 1;
                }
            }
            let report = within(app.send(RemoveChild::new("job")))
                .await
                .unwrap()
                .unwrap();
            let handled = book.count() as u64;
            assert_eq!(
                u64::from(accepted),
                handled + report.undelivered + report.cancelled,
                "{case}: {report}"
            );
            // `Always` restarts after a normal stop, `OnFailure` does not:
            // then what waits is undelivered. Either way, those handled
            // came first, in order.
            let expected: Vec<(u32, u32)> = (0..handled as u32).map(|s| (0, s)).collect();
            book.assert_each_once_in_order(&expected, &case);
            if how != How::StopNormally || policy == RestartPolicy::Always {
                assert_eq!(
                    handled,
                    u64::from(N),
                    "{case}: a restarting child drains all: {report}"
                );
            }
            assert!(
                matches!(
                    handle.do_send(Job::new(0, 0, How::Run)),
                    Err(SendError::Gone { .. } | SendError::Stopping { .. })
                ),
                "{case}"
            );
            let tree = within(app.send(actix_supervisor::Inspect)).await.unwrap();
            assert!(tree.find("/app/job").is_none(), "{case}: {tree}");
            within(app.send(Stop)).await.unwrap();
        }
    }
}

/// Children with dependencies (`b` on `a`, `c` on `b`), `a` and `b`
/// failing on every message, under each strategy: every message is
/// handled once, in order, and the three end up running.
#[actix_rt::test]
async fn children_with_dependencies_failing_on_every_message_lose_nothing() {
    quiet_panics();
    const N: u32 = 30;
    for strategy in STRATEGIES {
        let case = format!("{strategy:?}");
        let books = [Book::new(), Book::new(), Book::new()];
        let a = flaky("a", &books[0], StartFails::Never);
        let b = flaky("b", &books[1], StartFails::Never).depends_on("a");
        let c = flaky("c", &books[2], StartFails::Never).depends_on("b");
        let handles = [a.handle(), b.handle(), c.handle()];
        let app = SupervisorActor::builder("app")
            .strategy(strategy)
            .intensity(unlimited())
            .child(a)
            .child(b)
            .child(c)
            .start()
            .unwrap();
        for h in &handles {
            within(h.started()).await.unwrap();
        }
        for seq in 0..N {
            handles[0]
                .do_send(Job::new(0, seq, how_for(0, seq)))
                .unwrap();
            handles[1]
                .do_send(Job::new(1, seq, how_for(1, seq)))
                .unwrap();
            handles[2].do_send(Job::new(2, seq, How::Run)).unwrap();
        }
        for h in &handles {
            within(h.send(Which)).await.unwrap();
        }
        for (child, book) in books.iter().enumerate() {
            let expected: Vec<(u32, u32)> = (0..N).map(|s| (child as u32, s)).collect();
            book.assert_each_once_in_order(&expected, &format!("{case}/{child}"));
        }
        let tree = within(app.send(actix_supervisor::Inspect)).await.unwrap();
        for name in ["a", "b", "c"] {
            let n = tree.find(&format!("/app/{name}")).unwrap();
            assert_eq!(n.state, NodeState::Running, "{case}: {tree}");
        }
        let report = within(app.send(Stop)).await.unwrap();
        for child in &report.children {
            assert_eq!(
                (child.undelivered, child.cancelled),
                (0, 0),
                "{case}: {report}"
            );
        }
    }
}

/// A root allowing `MAX` restarts in a minute, under paused time, and a
/// child failing on every one of many queued messages: exactly `MAX + 1`
/// messages are handled (one per incarnation), the node shows `MAX`
/// restarts and `Failed`, the root gives up, and the child's report counts
/// every other accepted message undelivered.
#[actix_rt::test]
async fn the_intensity_is_counted_exactly_through_a_burst() {
    quiet_panics();
    tokio::time::pause();
    const N: u32 = 30;
    for max in [0u32, 1, 3, 7] {
        for how in [How::Panic, How::Fail] {
            for start_fails in [StartFails::Never, StartFails::EveryOther(How::Fail)] {
                let case = format!("max {max}/{how:?}/{start_fails:?}");
                let book = Book::new();
                let spec = flaky("job", &book, start_fails);
                let handle = spec.handle();
                let app = SupervisorActor::builder("app")
                    .intensity(RestartIntensity::new(max, Duration::from_secs(60)))
                    .child(spec)
                    .start()
                    .unwrap();
                let events = EventRecorder::start(&app).await.unwrap();
                within(handle.started()).await.unwrap();
                for seq in 0..N {
                    handle.do_send(Job::new(0, seq, how)).unwrap();
                }
                let report = within(handle.ended()).await;
                // Incarnations built: one, then one per restart allowed.
                assert_eq!(book.built(), 1 + u64::from(max), "{case}: {report}");
                let handled = book.count() as u64;
                let expected_handled = match start_fails {
                    StartFails::Never => 1 + u64::from(max),
                    // Odd incarnations handle one message each.
                    StartFails::EveryOther(_) => (u64::from(max) + 2) / 2,
                    StartFails::Always(_) => unreachable!(),
                };
                assert_eq!(handled, expected_handled, "{case}: {report}");
                assert_eq!(
                    report.undelivered,
                    u64::from(N) - handled,
                    "{case}: {report}"
                );
                assert!(
                    matches!(report.outcome, StopOutcome::Failed(_)),
                    "{case}: {report}"
                );
                let job = node(&app, "/app/job").await;
                assert_eq!(job.state, NodeState::Failed, "{case}");
                assert_eq!(job.restart_count, u64::from(max), "{case}: {job:?}");
                events
                    .wait_for(|e| {
                        e.path.as_str() == "/app" && matches!(e.kind, EventKind::GaveUp { .. })
                    })
                    .await;
                let restarts = events
                    .for_path("/app/job")
                    .iter()
                    .filter(|e| matches!(e.kind, EventKind::Restarting { .. }))
                    .count();
                assert_eq!(
                    restarts as u32,
                    max,
                    "{case}: {:?}",
                    events.kinds("/app/job")
                );
            }
        }
    }
}

/// A child failing on every one of many queued messages: its events come
/// in order, `Failed`, `Restarting`, `Started` for each incarnation, the
/// incarnation one more at each `Started`, none missed; `Inspect` shows
/// the last incarnation and as many restarts.
#[actix_rt::test]
async fn lifecycle_events_follow_each_incarnation_in_order() {
    quiet_panics();
    const N: u64 = 150;
    for how in [How::Panic, How::Fail] {
        for start_fails in [StartFails::Never, StartFails::EveryOther(How::Panic)] {
            let case = format!("{how:?}/{start_fails:?}");
            let book = Book::new();
            let spec = flaky("job", &book, start_fails);
            let (app, handle) = supervise(spec);
            let events = EventRecorder::start(&app).await.unwrap();
            within(handle.started()).await.unwrap();
            for seq in 0..N as u32 {
                handle.do_send(Job::new(0, seq, how)).unwrap();
            }
            let last = within(handle.send(Which)).await.unwrap();
            let ends = match start_fails {
                StartFails::Never => N,
                StartFails::EveryOther(_) => 2 * N,
                StartFails::Always(_) => unreachable!(),
            };
            assert_eq!(last, 1 + ends, "{case}");
            events
                .wait_for(|e| e.incarnation == 1 + ends && e.kind == EventKind::Started)
                .await;
            assert_eq!(events.missed(), 0, "{case}");
            let seen = events.for_path("/app/job");
            // What each incarnation shows: `Started` unless its `started`
            // failed; then, but for the last, `Failed` and `Restarting`.
            let mut expected: Vec<(u64, &str)> = Vec::new();
            for incarnation in 1..=1 + ends {
                let start_failed = matches!(start_fails, StartFails::EveryOther(_))
                    && incarnation.is_multiple_of(2);
                if !start_failed {
                    expected.push((incarnation, "started"));
                }
                if incarnation <= ends {
                    expected.push((incarnation, "failed"));
                    expected.push((incarnation, "restarting"));
                }
            }
            // The recording began after the first `Started`, or before.
            let skip = usize::from(seen.first().map(|e| &e.kind) != Some(&EventKind::Started));
            let got: Vec<(u64, &str)> = seen
                .iter()
                .map(|e| {
                    let kind = match &e.kind {
                        EventKind::Started => "started",
                        EventKind::Failed { .. } => "failed",
                        EventKind::Restarting { delay, attempt } => {
                            assert_eq!(*delay, Duration::ZERO, "{case}: {e:?}");
                            // No run was stable (30 s): attempts count up.
                            assert_eq!(u64::from(*attempt), e.incarnation, "{case}: {e:?}");
                            "restarting"
                        }
                        other => panic!("{case}: unexpected {other:?}"),
                    };
                    (e.incarnation, kind)
                })
                .collect();
            let expected = &expected[skip..];
            if got != expected {
                let at = got
                    .iter()
                    .zip(expected)
                    .position(|(g, e)| g != e)
                    .unwrap_or(got.len().min(expected.len()));
                let from = at.saturating_sub(3);
                panic!(
                    "{case}: events differ at {at}: got {:?}, expected {:?} ({} vs {})",
                    &got[from..(at + 3).min(got.len())],
                    &expected[from..(at + 3).min(expected.len())],
                    got.len(),
                    expected.len()
                );
            }
            let job = node(&app, "/app/job").await;
            assert_eq!(
                (job.incarnation, job.restart_count),
                (1 + ends, ends),
                "{case}: {job:?}"
            );
            assert_eq!(job.state, NodeState::Running, "{case}");
            within(app.send(Stop)).await.unwrap();
        }
    }
}
