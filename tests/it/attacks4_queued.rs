//! Attacks from outside, with the public API only, on the restart at once
//! after an incarnation built in an earlier poll (commit 2d43182): a child
//! failing on each message now restarts and handles its next queued
//! message in the same poll. Messages queued behind failing ones, stops
//! sent among failures (from the same task and from another thread), and
//! the accounting of every stop report.
//!
//! Promises checked: every message accepted is handled exactly once by
//! some incarnation or reported in the stop report (`accepted = handled +
//! cancelled + undelivered`, README "Reliability", `StopReport::cancelled`);
//! one sender's messages are handled in order; every stop answers; messages
//! sent while a child restarts wait for the next incarnation (README).
//!
//! Every await that could hang is bounded by `within`.

use crate::attacks4_support::{
    flaky, quiet_panics, stop_by, Book, How, Job, StartFails, Stopper, Which, STOPPERS,
};
use crate::common::{node, unlimited, within};

use std::sync::Arc;

use actix::prelude::*;
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::{ChildHandle, RestartPolicy, SendError, Stop, StopOutcome, SupervisorActor};
use futures_util::future::join_all;

/// How messages reach the child.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    HandleDoSend,
    HandleSend,
    AddrDoSend,
    AddrSend,
}

const WAYS: [Way; 4] = [
    Way::HandleDoSend,
    Way::HandleSend,
    Way::AddrDoSend,
    Way::AddrSend,
];

/// Which queued messages end their incarnation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    Every,
    EveryOther,
}

fn how_of(pattern: Pattern, seq: u32, how: How) -> How {
    match pattern {
        Pattern::Every => how,
        Pattern::EveryOther if seq.is_multiple_of(2) => how,
        Pattern::EveryOther => How::Run,
    }
}

type Reply = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, String>>>>;

/// Queues `job` the way asked; a `send` gives back its reply future (the
/// message is queued when `send` is called).
fn queue(
    way: Way,
    handle: &ChildHandle<crate::attacks4_support::Flaky>,
    job: Job,
) -> Option<Reply> {
    match way {
        Way::HandleDoSend => {
            handle.do_send(job).expect("a running child takes work");
            None
        }
        Way::HandleSend => {
            let reply = handle.send(job);
            Some(Box::pin(
                async move { reply.await.map_err(|e| format!("{e}")) },
            ))
        }
        Way::AddrDoSend => {
            handle.address().do_send(job);
            None
        }
        Way::AddrSend => {
            let reply = handle.address().send(job);
            Some(Box::pin(
                async move { reply.await.map_err(|e| format!("{e}")) },
            ))
        }
    }
}

fn app_with(
    spec: actix_supervisor::ChildSpec<crate::attacks4_support::Flaky>,
) -> Addr<SupervisorActor> {
    SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap()
}

/// Messages queued behind failing ones, sent every way, failing by a panic
/// or an error exit, every one or every other: each is handled exactly
/// once, in the order sent, each failing one by its own incarnation, and
/// the one after a failure by the next incarnation; every reply of a
/// message that ran carries the incarnation that handled it, every reply
/// of one that failed is an error.
#[actix_rt::test]
async fn messages_queued_behind_failures_are_each_handled_once_in_order() {
    quiet_panics();
    const N: u32 = 120;
    for way in WAYS {
        for how in [How::Panic, How::Fail] {
            for pattern in [Pattern::Every, Pattern::EveryOther] {
                for policy in [RestartPolicy::OnFailure, RestartPolicy::Always] {
                    let case = format!("{way:?}/{how:?}/{pattern:?}/{policy:?}");
                    let book = Book::new();
                    let spec = flaky("job", &book, StartFails::Never).restart(policy);
                    let handle = spec.handle();
                    let app = app_with(spec);
                    within(handle.started()).await.unwrap();

                    let mut replies = Vec::new();
                    for seq in 0..N {
                        replies.push((
                            seq,
                            queue(way, &handle, Job::new(0, seq, how_of(pattern, seq, how))),
                        ));
                    }
                    // A `send` beyond the mailbox's capacity (16) queues its
                    // message when first polled: the replies are awaited
                    // together, in order, before the last message.
                    let (seqs, replies): (Vec<u32>, Vec<Option<Reply>>) =
                        replies.into_iter().unzip();
                    let answers = within(join_all(replies.into_iter().map(|r| async move {
                        match r {
                            Some(r) => Some(r.await),
                            None => None,
                        }
                    })))
                    .await;
                    // A last message that runs: once answered, all before it
                    // were handled (one sender, in order).
                    let last = within(handle.send(Which)).await.unwrap();
                    let failures = (0..N)
                        .filter(|&s| how_of(pattern, s, how) != How::Run)
                        .count() as u64;
                    assert_eq!(
                        last,
                        1 + failures,
                        "{case}: the incarnation after every failure"
                    );

                    let expected: Vec<(u32, u32)> = (0..N).map(|s| (0, s)).collect();
                    book.assert_each_once_in_order(&expected, &case);
                    // Incarnation of each: one more after each failure.
                    let mut incarnation = 1;
                    for seen in book.handled() {
                        assert_eq!(seen.incarnation, incarnation, "{case}: {seen:?}");
                        if how_of(pattern, seen.seq, how) != How::Run {
                            incarnation += 1;
                        }
                    }
                    // A handler that calls `fail` still returns its reply; a
                    // panic leaves none.
                    for (seq, answer) in seqs.into_iter().zip(answers) {
                        let Some(answer) = answer else { continue };
                        let seen = book.handled()[seq as usize];
                        match how_of(pattern, seq, how) {
                            How::Panic => assert!(
                                answer.is_err(),
                                "{case}: {seq} panicked yet answered {answer:?}"
                            ),
                            _ => assert_eq!(answer, Ok(seen.incarnation), "{case}: {seq}"),
                        }
                    }
                    let job = node(&app, "/app/job").await;
                    assert_eq!(job.incarnation, 1 + failures, "{case}: {job:?}");
                    assert_eq!(job.restart_count, failures, "{case}: {job:?}");
                    assert_eq!(job.state, NodeState::Running, "{case}");
                    assert_eq!(book.built(), 1 + failures, "{case}: a build too many");

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
        }
    }
}

/// A stop asked in the same breath as many failing messages, before any is
/// handled: it answers; every message queued before it is handled exactly
/// once, in order, during its drain (counted `drained`); none is
/// undelivered, and the handle refuses new work afterwards.
#[actix_rt::test]
async fn a_stop_right_behind_failing_messages_drains_every_one() {
    quiet_panics();
    const N: u32 = 80;
    // The three stops that leave the child in the table.
    for stopper in STOPPERS.into_iter().take(3) {
        for how in [How::Panic, How::Fail, How::StopNormally] {
            for pattern in [Pattern::Every, Pattern::EveryOther] {
                let case = format!("{stopper:?}/{how:?}/{pattern:?}");
                let book = Book::new();
                let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::Always);
                let handle = spec.handle();
                let app = app_with(spec);
                within(handle.started()).await.unwrap();
                for seq in 0..N {
                    handle
                        .do_send(Job::new(0, seq, how_of(pattern, seq, how)))
                        .unwrap();
                }
                let report = stop_by(stopper, &app, &handle).await;
                let expected: Vec<(u32, u32)> = (0..N).map(|s| (0, s)).collect();
                book.assert_each_once_in_order(&expected, &case);
                assert_eq!(report.undelivered, 0, "{case}: {report}");
                assert_eq!(report.cancelled, 0, "{case}: {report}");
                // A stop through the handle is asked before any message is
                // handled; one through the supervisor, a little later.
                if stopper == Stopper::Handle {
                    assert_eq!(report.drained, u64::from(N), "{case}: {report}");
                } else {
                    assert!(report.drained <= u64::from(N), "{case}: {report}");
                }
                assert!(
                    matches!(
                        handle.do_send(Job::new(1, 0, How::Run)),
                        Err(SendError::Gone { .. } | SendError::Stopping { .. })
                    ),
                    "{case}: a stopped child takes work"
                );
                within(app.send(Stop)).await.unwrap();
            }
        }
    }
}

/// A stop asked right after a failure was seen (the failing `send`
/// answered its error), with messages queued just before and after the
/// failure: the stop answers, every message is handled once, in order.
#[actix_rt::test]
async fn a_stop_right_after_a_failure_drains_what_waits() {
    quiet_panics();
    // The three stops that leave the child in the table.
    for stopper in STOPPERS.into_iter().take(3) {
        for how in [How::Panic, How::Fail] {
            for behind in [0u32, 1, 5] {
                let case = format!("{stopper:?}/{how:?}/{behind} behind");
                let book = Book::new();
                let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::OnFailure);
                let handle = spec.handle();
                let app = app_with(spec);
                within(handle.started()).await.unwrap();
                let failing = handle.send(Job::new(0, 0, how));
                for seq in 1..=behind {
                    handle.do_send(Job::new(0, seq, How::Run)).unwrap();
                }
                // A panic leaves no reply; a `fail` still answers.
                let answer = within(failing).await;
                assert_eq!(answer.is_err(), how == How::Panic, "{case}: {answer:?}");
                for seq in behind + 1..=behind + 3 {
                    handle.do_send(Job::new(0, seq, how)).unwrap();
                }
                let report = stop_by(stopper, &app, &handle).await;
                let expected: Vec<(u32, u32)> = (0..=behind + 3).map(|s| (0, s)).collect();
                book.assert_each_once_in_order(&expected, &case);
                assert_eq!(
                    (report.undelivered, report.cancelled),
                    (0, 0),
                    "{case}: {report}"
                );
                within(app.send(Stop)).await.unwrap();
            }
        }
    }
}

/// Another thread sends failing messages through a clone of the handle
/// and then stops the child, while this thread sends its own: the stop
/// answers (on both threads, the same report), and every message either
/// side had accepted is handled exactly once (in order per sender) or
/// counted in the report.
#[actix_rt::test]
async fn a_stop_from_another_thread_among_failures_accounts_for_every_message() {
    quiet_panics();
    for how in [How::Panic, How::Fail] {
        for round in 0..4u32 {
            let case = format!("{how:?}/round {round}");
            let book = Book::new();
            let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::Always);
            let handle = spec.handle();
            let app = app_with(spec);
            within(handle.started()).await.unwrap();

            let remote = handle.clone();
            let other = std::thread::spawn(move || {
                let mut accepted = Vec::new();
                for seq in 0..200u32 {
                    if remote.do_send(Job::new(1, seq, how)).is_ok() {
                        accepted.push((1, seq));
                    }
                    if seq == 50 + round * 40 {
                        let stop = remote.stop();
                        let report = futures_executor_block_on(stop);
                        return (accepted, report);
                    }
                }
                unreachable!()
            });
            let mut accepted = Vec::new();
            let mut seq = 0u32;
            // Send until the other thread's stop is seen refusing.
            loop {
                match handle.do_send(Job::new(0, seq, how)) {
                    Ok(()) => accepted.push((0, seq)),
                    Err(SendError::Stopping { .. } | SendError::Gone { .. }) => break,
                    Err(e) => panic!("{case}: {e}"),
                }
                seq += 1;
                if seq.is_multiple_of(16) {
                    tokio::task::yield_now().await;
                }
                assert!(seq < 1_000_000, "{case}: the stop never took effect");
            }
            let mine = within(handle.stop()).await;
            let (theirs, their_report) = other.join().unwrap();
            assert_eq!(mine, their_report, "{case}: two reports of one stop");
            accepted.extend(theirs);
            let handled = book.count() as u64;
            assert_eq!(
                accepted.len() as u64,
                handled + mine.undelivered + mine.cancelled,
                "{case}: accepted {} handled {handled}: {mine}",
                accepted.len()
            );
            book.assert_each_once_in_order(&accepted, &case);
            within(app.send(Stop)).await.unwrap();
        }
    }
}

/// `futures::executor::block_on` without the dependency: a thread parker.
fn futures_executor_block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    let deadline = std::time::Instant::now() + crate::common::TIMEOUT;
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a stop never answered"
        );
        std::thread::park_timeout(std::time::Duration::from_millis(100));
    }
}

/// `started` fails every other incarnation (by a panic, an error exit or a
/// normal stop with `Always`) and every message ends its incarnation too:
/// each message is handled exactly once, in order, and only by
/// incarnations that started (odd ones), one incarnation per message.
#[actix_rt::test]
async fn failing_starts_mixed_with_failing_messages_lose_nothing() {
    quiet_panics();
    const N: u32 = 60;
    for start_how in [How::Panic, How::Fail, How::StopNormally] {
        for how in [How::Panic, How::Fail, How::StopNormally] {
            let case = format!("start {start_how:?}/message {how:?}");
            let book = Book::new();
            let spec = flaky("job", &book, StartFails::EveryOther(start_how))
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
            assert_eq!(
                book.started(),
                (1..=1 + 2 * u64::from(N)).collect::<Vec<_>>(),
                "{case}"
            );
            let report = within(handle.stop()).await;
            assert_eq!(
                (report.undelivered, report.cancelled),
                (0, 0),
                "{case}: {report}"
            );
            within(app.send(Stop)).await.unwrap();
        }
    }
}

/// Messages sent from several tasks, each its own sender, interleaved with
/// failures: each sender's messages are handled in its order, each exactly
/// once, and the report after a stop from yet another task accounts for
/// every one.
#[actix_rt::test]
async fn several_senders_among_failures_keep_their_order() {
    quiet_panics();
    let book = Book::new();
    let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::OnFailure);
    let handle = spec.handle();
    let app = app_with(spec);
    within(handle.started()).await.unwrap();
    let mut tasks = Vec::new();
    for sender in 0..4u32 {
        let handle = handle.clone();
        tasks.push(actix_rt::spawn(async move {
            let mut sent = Vec::new();
            for seq in 0..100u32 {
                let how = if (seq + sender).is_multiple_of(3) {
                    How::Fail
                } else {
                    How::Panic
                };
                let how = if seq.is_multiple_of(5) { How::Run } else { how };
                handle.do_send(Job::new(sender, seq, how)).unwrap();
                sent.push((sender, seq));
                if seq % 7 == sender {
                    tokio::task::yield_now().await;
                }
            }
            sent
        }));
    }
    let mut sent = Vec::new();
    for task in tasks {
        sent.extend(within(task).await.unwrap());
    }
    let stopper = {
        let handle = handle.clone();
        actix_rt::spawn(async move { handle.stop().await })
    };
    let report = within(stopper).await.unwrap();
    assert_eq!((report.undelivered, report.cancelled), (0, 0), "{report}");
    book.assert_each_once_in_order(&sent, "four senders");
    within(app.send(Stop)).await.unwrap();
}
