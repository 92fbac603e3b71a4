//! Attacks, from the public API, on today's memory-layout changes that
//! carry semantics: the stop report kept once (`ChildHandle::stop` and
//! `ended` from many threads), a child's name kept inline up to 24 bytes,
//! the grace packed into 8 bytes, the backoff's jitter source moved, and
//! lifecycle events built only while a stream is open.
//!
//! Nothing here sleeps: the tests wait on reports, answers and events, or
//! run under paused time.

use std::time::Duration;

use actix_supervisor::events::{EventKind, LifecycleEvent};
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::testkit::{assert_about, EventRecorder};
use actix_supervisor::{
    Backoff, BuildError, ControlError, Grace, Inspect, RestartChild, RestartPolicy, StartChild,
    Stop, StopOutcome, Subscribe, SupervisorActor,
};
use futures_util::StreamExt;

use crate::attacks4_support::{
    flaky, quiet_panics, supervise, Await, Book, How, Job, StartFails, Which,
};
use crate::common::{node, within, Gate};

/// Sixteen threads, each on its own runtime, ask `stop()` or `ended()` of
/// one child at the same time as the test does: every one gets the same
/// report (the report is set once and read by all).
#[actix_rt::test]
async fn stop_and_ended_from_many_threads_all_get_the_same_report() {
    for round in 0..5 {
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Never);
        let handle = spec.handle();
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();
        within(handle.started()).await.unwrap();
        for seq in 0..20 {
            handle.do_send(Job::new(0, seq, How::Run)).unwrap();
        }
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(17));
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let handle = handle.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    barrier.wait();
                    runtime.block_on(async move {
                        let wait = tokio::time::timeout(crate::common::TIMEOUT, async {
                            if i % 2 == 0 {
                                handle.stop().await
                            } else {
                                handle.ended().await
                            }
                        });
                        wait.await.expect("every stop answers")
                    })
                })
            })
            .collect();
        let blocking = {
            let barrier = barrier.clone();
            tokio::task::spawn_blocking(move || barrier.wait())
        };
        within(blocking).await.unwrap();
        let mine = within(handle.stop()).await;
        assert_eq!(mine.outcome, StopOutcome::Drained, "round {round}");
        assert_eq!((book.count(), mine.undelivered), (20, 0), "round {round}");
        for thread in threads {
            let theirs = within(tokio::task::spawn_blocking(move || thread.join()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(theirs, mine, "round {round}");
        }
        assert_eq!(within(handle.ended()).await, mine, "round {round}");
        within(app.send(Stop)).await.unwrap();
    }
}

/// Names around the 24 bytes kept inline (23, 24, 25; multi-byte
/// characters that straddle the 24th byte), a long one and non-ASCII ones:
/// the handle's path, `Inspect`, the events, a duplicate's error, and the
/// control messages by name all show the name exactly.
#[actix_rt::test]
async fn names_inline_or_not_show_exactly_everywhere() {
    let names = [
        "j".to_string(),
        "a".repeat(23),
        "b".repeat(24),
        "c".repeat(25),
        "d".repeat(300),
        format!("{}é", "e".repeat(22)),  // 24 bytes
        format!("{}é", "e".repeat(23)),  // 25: é straddles byte 24
        format!("{}名", "f".repeat(22)), // 25: 名 straddles byte 24
        format!("{}🦀", "g".repeat(21)), // 25: 🦀 straddles byte 24
        "ünïcödé 名前 🦀 with spaces".to_string(),
    ];
    for name in names {
        let case = format!("{} bytes: {name:?}", name.len());
        let book = Book::new();
        let spec = flaky(&name, &book, StartFails::Never);
        let handle = spec.handle();
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();
        let events = EventRecorder::start(&app).await.unwrap();
        within(handle.started()).await.unwrap();
        let path = format!("/app/{name}");
        assert_eq!(handle.path().as_str(), path, "{case}");
        let tree = within(app.send(Inspect)).await.unwrap();
        let snapshot = &tree.root.children[0];
        assert_eq!(snapshot.name, name, "{case}");
        assert_eq!(snapshot.path.as_str(), path, "{case}");
        assert_eq!(
            tree.find(&path).map(|n| n.name.clone()),
            Some(name.clone()),
            "{case}"
        );
        // A duplicate: the error names it exactly.
        let duplicate = within(app.send(StartChild::new(flaky(&name, &book, StartFails::Never))))
            .await
            .unwrap();
        match duplicate {
            Err(ControlError::InvalidSpec(BuildError::DuplicateName { name: n, .. })) => {
                assert_eq!(n, name, "{case}")
            }
            other => panic!("{case}: a duplicate answered {other:?}"),
        }
        assert_eq!(
            within(app.send(RestartChild::new(name.clone())))
                .await
                .unwrap(),
            Ok(()),
            "{case}"
        );
        let p = path.clone();
        let restarted = events
            .wait_for(move |e| {
                e.path.as_str() == p && e.kind == EventKind::Started && e.incarnation == 2
            })
            .await;
        assert_eq!(restarted.path.as_str(), path, "{case}");
        let report = within(app.send(Stop)).await.unwrap();
        assert_eq!(report.children[0].path.as_str(), path, "{case}");
    }
}

/// Names that must be refused are refused with the name as given, and
/// never start: empty, with a `/`, with a control character.
#[actix_rt::test]
async fn refused_names_are_named_exactly_in_the_error() {
    for name in ["", "a/b", &format!("{}\n", "x".repeat(30))] {
        let book = Book::new();
        let result = SupervisorActor::builder("app")
            .child(flaky(name, &book, StartFails::Never))
            .start();
        match result {
            Err(BuildError::InvalidName { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name:?}: {:?}", other.map(|_| "started")),
        }
        assert_eq!(book.built(), 0, "{name:?}: never built");
    }
}

/// The graces `Inspect` shows are the ones configured, at the edges the
/// 8-byte packing has to keep (zero is refused, the field named): 1 ns, a second and a nanosecond,
/// `Duration::MAX`, `Grace::Infinity`.
#[actix_rt::test]
async fn inspect_shows_the_grace_configured_at_the_edges() {
    let refused = SupervisorActor::builder("app")
        .child(flaky("job", &Book::new(), StartFails::Never).grace(Grace::Duration(Duration::ZERO)))
        .start();
    assert!(
        matches!(
            refused,
            Err(BuildError::InvalidField { field: "grace", .. })
        ),
        "a zero grace is refused with the field named: {:?}",
        refused.map(|_| "started")
    );
    let graces = [
        Grace::Duration(Duration::from_nanos(1)),
        Grace::Duration(Duration::new(1, 1)),
        Grace::Duration(Duration::from_secs(u64::MAX / 1_000_000_000 / 2)),
        Grace::Duration(Duration::MAX),
        Grace::Infinity,
    ];
    for grace in graces {
        let book = Book::new();
        let app = SupervisorActor::builder("app")
            .child(flaky("job", &book, StartFails::Never).grace(grace))
            .start()
            .unwrap();
        let job = node(&app, "/app/job").await;
        assert_eq!(job.policy.grace, Some(grace));
        within(app.send(Stop)).await.unwrap();
    }
}

/// A grace of `u64::MAX - 1` or `u64::MAX` nanoseconds (about 584 years,
/// each a `Duration` that fits in 8 bytes of nanoseconds) is shown by
/// `Inspect` as configured. (Found by this attack: the 8-byte packing used
/// these two values as its own marks for "longer" and "infinity" and showed
/// them as `Duration::MAX`; the unit is now a byte of its own.)
/// `NodePolicy::grace` promises "the policy it was configured with".
#[actix_rt::test]
async fn inspect_shows_a_grace_of_the_largest_nanosecond_counts_as_configured() {
    for nanos in [u64::MAX - 1, u64::MAX] {
        let grace = Grace::Duration(Duration::from_nanos(nanos));
        let book = Book::new();
        let app = SupervisorActor::builder("app")
            .child(flaky("job", &book, StartFails::Never).grace(grace))
            .start()
            .unwrap();
        let job = node(&app, "/app/job").await;
        assert_eq!(job.policy.grace, Some(grace), "{nanos} ns");
        within(app.send(Stop)).await.unwrap();
    }
}

/// A stop of a child with queued messages, for each edge grace: it
/// answers; with an unbounded or huge grace every message is drained; with
/// a 1 ns grace, what was not handled is counted undelivered
/// (under paused time, so that no real time passes).
#[test]
fn a_stop_at_each_edge_grace_answers_and_accounts() {
    actix_supervisor::testkit::run_paused(async {
        for grace in [
            Grace::Duration(Duration::from_nanos(1)),
            Grace::Duration(Duration::MAX),
            Grace::Infinity,
        ] {
            let book = Book::new();
            let spec = flaky("job", &book, StartFails::Never).grace(grace);
            let handle = spec.handle();
            let app = SupervisorActor::builder("app").child(spec).start().unwrap();
            within(handle.started()).await.unwrap();
            for seq in 0..10 {
                handle.do_send(Job::new(0, seq, How::Run)).unwrap();
            }
            let report = within(handle.stop()).await;
            assert_eq!(
                book.count() as u64 + report.undelivered + report.cancelled,
                10,
                "{grace:?}: {report}"
            );
            if matches!(grace, Grace::Infinity) || grace == Grace::Duration(Duration::MAX) {
                assert_eq!(report.outcome, StopOutcome::Drained, "{grace:?}");
                assert_eq!(report.drained, 10, "{grace:?}");
            }
            within(app.send(Stop)).await.unwrap();
        }
    });
}

/// A stop with a 1 ns grace of a child busy in a request that never ends:
/// the stop answers `TimedOut` (the grace bounds it); the request whose
/// `ChildFuture` was cut off is counted undelivered, once.
#[test]
fn a_stop_with_a_one_nanosecond_grace_is_bounded_by_it() {
    actix_supervisor::testkit::run_paused(async {
        for grace in [Duration::from_nanos(1), Duration::from_micros(1)] {
            let book = Book::new();
            let spec = flaky("job", &book, StartFails::Never).grace(Grace::Duration(grace));
            let handle = spec.handle();
            let app = SupervisorActor::builder("app").child(spec).start().unwrap();
            within(handle.started()).await.unwrap();
            let gate = Gate::new();
            let stuck = handle.send(Await {
                sender: 0,
                seq: 0,
                gate: gate.clone(),
            });
            let stuck = actix::spawn(stuck);
            handle.do_send(Job::new(0, 1, How::Run)).unwrap();
            let report = within(handle.stop()).await;
            assert_eq!(report.outcome, StopOutcome::TimedOut, "{grace:?}: {report}");
            // The job behind it was handled; the request whose future the
            // grace cut off is undelivered (`ChildFuture`: settled when its
            // future ends), not also counted handled.
            assert_eq!(book.count(), 2, "{grace:?}: both handlers were called");
            assert_eq!(
                (report.undelivered, report.cancelled),
                (1, 0),
                "{grace:?}: {report}"
            );
            let _ = within(stuck).await;
            within(app.send(Stop)).await.unwrap();
        }
    });
}

/// A seeded backoff gives a child exactly the delays `Backoff::delays`
/// predicts (the `Restarting` events' delays), and under paused time the
/// next incarnation starts that long after the failure.
#[test]
fn a_seeded_backoff_gives_the_delays_it_predicts() {
    quiet_panics();
    actix_supervisor::testkit::run_paused(async {
        for seed in [0u64, 7, u64::MAX] {
            let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(3))
                .jitter(0.5)
                .seed(seed);
            let predicted: Vec<Duration> = backoff.delays().take(6).collect();
            let book = Book::new();
            let spec = flaky("job", &book, StartFails::Never)
                .restart(RestartPolicy::Always)
                .backoff(backoff.clone());
            let (app, handle) = supervise(spec);
            let events = EventRecorder::start(&app).await.unwrap();
            within(handle.started()).await.unwrap();
            let mut seen = Vec::new();
            for n in 1..=6u64 {
                let failed_at = tokio::time::Instant::now();
                handle.do_send(Job::new(0, n as u32, How::Panic)).unwrap();
                let restarting = events
                    .wait_for(move |e| {
                        e.incarnation == n && matches!(e.kind, EventKind::Restarting { .. })
                    })
                    .await;
                let EventKind::Restarting { delay, attempt } = restarting.kind else {
                    unreachable!()
                };
                assert_eq!(attempt as u64, n, "seed {seed}");
                seen.push(delay);
                events
                    .wait_for(move |e| e.incarnation == n + 1 && e.kind == EventKind::Started)
                    .await;
                assert_about(failed_at.elapsed(), delay);
            }
            assert_eq!(seen, predicted, "seed {seed}");
            within(app.send(Stop)).await.unwrap();
        }
    });
}

/// The next `(incarnation, kind)` of `/app/job` on `stream`.
async fn next_of_job(stream: &mut actix_supervisor::events::EventStream) -> (u64, &'static str) {
    loop {
        let event: LifecycleEvent = within(stream.next()).await.expect("the stream is open");
        if event.path.as_str() == "/app/job" {
            let kind = match event.kind {
                EventKind::Started => "started",
                EventKind::Failed { .. } => "failed",
                EventKind::Restarting { .. } => "restarting",
                EventKind::Stopping => "stopping",
                EventKind::Stopped { .. } => "stopped",
                EventKind::Lagged { .. } => "lagged",
                _ => "other",
            };
            return (event.incarnation, kind);
        }
    }
}

/// Streams opened, dropped and opened again across restarts: a stream
/// open through a restart sees its `Failed`, `Restarting`, `Started`; a
/// stream opened later sees nothing of the restarts before it (its first
/// event is of the restart after it opened); a stream dropped while
/// another stays open takes nothing from it.
#[actix_rt::test]
async fn streams_opened_and_dropped_across_restarts_see_exactly_their_events() {
    quiet_panics();
    let book = Book::new();
    let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::Always);
    let (app, handle) = supervise(spec);
    within(handle.started()).await.unwrap();
    let restart = |n: u32| {
        handle.do_send(Job::new(0, n, How::Panic)).unwrap();
    };
    let expected = |n: u64| vec![(n, "failed"), (n, "restarting"), (n + 1, "started")];

    let mut first = within(app.send(Subscribe::all())).await.unwrap();
    restart(1);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_of_job(&mut first).await);
    }
    assert_eq!(got, expected(1), "the first stream");
    drop(first);

    // No stream open: this restart's events are never built.
    restart(2);
    assert_eq!(within(handle.send(Which)).await.unwrap(), 3);

    let mut second = within(app.send(Subscribe::all())).await.unwrap();
    let mut third = within(app.send(Subscribe::all())).await.unwrap();
    restart(3);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_of_job(&mut second).await);
    }
    assert_eq!(got, expected(3), "a stream opened later sees only its own");
    drop(second);
    for n in 4..=10u32 {
        restart(n);
    }
    assert_eq!(within(handle.send(Which)).await.unwrap(), 11);
    let mut got = Vec::new();
    for _ in 0..(3 * 8) {
        got.push(next_of_job(&mut third).await);
    }
    let want: Vec<_> = (3..=10).flat_map(expected).collect();
    assert_eq!(got, want, "the stream that stayed open");
    within(app.send(Stop)).await.unwrap();
    assert_eq!(next_of_job(&mut third).await, (11, "stopping"));
    assert_eq!(next_of_job(&mut third).await, (11, "stopped"));
}

/// Streams opened and dropped from other threads while the child restarts
/// over and over: a stream that stays open the whole time (opened before)
/// sees every incarnation's `Started` once, in order.
#[actix_rt::test]
async fn streams_churning_never_take_events_from_one_that_stays_open() {
    quiet_panics();
    let book = Book::new();
    let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::Always);
    let (app, handle) = supervise(spec);
    within(handle.started()).await.unwrap();
    let mut steady = within(app.send(Subscribe::all())).await.unwrap();
    let churn = {
        let app = app.clone();
        actix::spawn(async move {
            for _ in 0..200 {
                let stream = app.send(Subscribe::all()).await.unwrap();
                drop(stream);
            }
        })
    };
    for n in 1..=30u32 {
        handle.do_send(Job::new(0, n, How::Panic)).unwrap();
    }
    within(churn).await.unwrap();
    assert_eq!(within(handle.send(Which)).await.unwrap(), 31);
    let mut started = Vec::new();
    while started.len() < 30 {
        let (inc, kind) = next_of_job(&mut steady).await;
        assert_ne!(kind, "lagged");
        if kind == "started" {
            started.push(inc);
        }
    }
    assert_eq!(started, (2..=31).collect::<Vec<_>>());
    let snapshot = node(&app, "/app/job").await;
    assert_eq!(snapshot.state, NodeState::Running);
    within(app.send(Stop)).await.unwrap();
}
