//! Attacks from outside, with the public API only, on the arbiter's
//! fairness after commit 2d43182 (a child failing on each message restarts
//! and handles its next queued message in the same poll): while a child
//! fails on every one of thousands of queued messages, the other tasks and
//! actors of its arbiter keep making progress.
//!
//! The assertions bound progress (how many messages the failing child
//! handled between two turns of another task, or before another actor
//! answered), never time.

use crate::attacks4_support::{
    flaky, quiet_panics, start_alone, Book, How, Job, StartFails, Which,
};
use crate::common::{unlimited, within, Bystander, Get};

use actix::prelude::*;
use actix_supervisor::{RestartPolicy, Stop, StopOutcome, SupervisorActor};

/// Messages queued, each failing.
const BURST: u32 = 4_000;

/// At most this many failing messages between two turns of another task
/// (tokio's local scheduler polls a few dozen tasks between two turns of
/// one; a restart per message without any yield would handle the whole
/// burst in one poll).
const BOUND: usize = 64;

/// A task on the same arbiter that only yields gets a turn at least every
/// `BOUND` failing messages, whether they fail by a panic, an error exit or
/// a normal stop under `Always`; the burst ends, each message handled once.
#[actix_rt::test]
async fn another_task_gets_turns_through_a_burst_of_failures() {
    quiet_panics();
    for how in [How::Fail, How::Panic, How::StopNormally] {
        let case = format!("{how:?}");
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Never).restart(RestartPolicy::Always);
        let (app, handle) = start_alone(spec).await;
        for seq in 0..BURST {
            handle.do_send(Job::new(0, seq, how)).unwrap();
        }
        let (mut last, mut most, mut turns) = (book.count(), 0, 0u64);
        while last < BURST as usize {
            tokio::task::yield_now().await;
            let now = book.count();
            most = most.max(now - last);
            last = now;
            turns += 1;
            assert!(
                turns < 100 * u64::from(BURST),
                "{case}: the burst stalled at {now}"
            );
        }
        assert!(
            most <= BOUND,
            "{case}: {most} failing messages between two turns of another task"
        );
        let expected: Vec<(u32, u32)> = (0..BURST).map(|s| (0, s)).collect();
        book.assert_each_once_in_order(&expected, &case);
        assert_eq!(
            within(handle.send(Which)).await.unwrap(),
            1 + u64::from(BURST),
            "{case}"
        );
        within(app.send(Stop)).await.unwrap();
    }
}

/// While a child fails on every one of thousands of queued messages, a
/// plain actor on the same arbiter answers a hundred requests in turn, and
/// the child's supervisor answers `Inspect`, long before the burst is
/// over; then the burst ends, nothing lost.
#[actix_rt::test]
async fn an_actor_and_the_supervisor_answer_during_a_burst_of_failures() {
    quiet_panics();
    for how in [How::Fail, How::Panic] {
        let case = format!("{how:?}");
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Never);
        let (app, handle) = start_alone(spec).await;
        let bystander = Bystander.start();
        for seq in 0..BURST {
            handle.do_send(Job::new(0, seq, how)).unwrap();
        }
        // The asking is done by a task of the arbiter (the test's own
        // future is polled only between batches of the arbiter's tasks).
        let pinger = actix_rt::spawn(async move {
            for _ in 0..100 {
                assert_eq!(bystander.send(Get).await.unwrap(), (0, 42));
            }
        });
        let pings = pinger_count(&book, pinger).await;
        assert!(
            pings < BURST as usize / 2,
            "{case}: {pings} of {BURST} failing messages handled before a bystander answered 100 requests"
        );
        let inspect = app.send(actix_supervisor::Inspect);
        let asker = actix_rt::spawn(async move { inspect.await.unwrap() });
        let (tree, after_inspect) = {
            let book = book.clone();
            let watched = actix_rt::spawn(async move {
                let tree = asker.await.unwrap();
                (tree, book.count())
            });
            within(watched).await.unwrap()
        };
        assert!(
            after_inspect < BURST as usize / 2,
            "{case}: {after_inspect} of {BURST} handled before the supervisor answered"
        );
        let after_pings = pings;
        let job = tree.find("/app/job").unwrap();
        assert!(
            job.incarnation as usize >= after_pings
                && job.incarnation as usize <= after_inspect + 1,
            "{case}: incarnation {} between {after_pings} and {after_inspect} handled",
            job.incarnation
        );
        assert_eq!(
            within(handle.send(Which)).await.unwrap(),
            1 + u64::from(BURST),
            "{case}"
        );
        let expected: Vec<(u32, u32)> = (0..BURST).map(|s| (0, s)).collect();
        book.assert_each_once_in_order(&expected, &case);
        within(app.send(Stop)).await.unwrap();
    }
}

/// A sibling under the same supervisor with a thousand messages that run
/// handles all of them while its sibling is still early in a burst of
/// failures.
#[actix_rt::test]
async fn a_sibling_finishes_its_work_during_a_burst_of_failures() {
    quiet_panics();
    let (book, calm) = (Book::new(), Book::new());
    let spec = flaky("job", &book, StartFails::Never);
    let sibling = flaky("calm", &calm, StartFails::Never);
    let (handle, calm_handle) = (spec.handle(), sibling.handle());
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .child(sibling)
        .start()
        .unwrap();
    within(handle.started()).await.unwrap();
    within(calm_handle.started()).await.unwrap();
    for seq in 0..BURST {
        handle.do_send(Job::new(0, seq, How::Fail)).unwrap();
    }
    for seq in 0..1_000 {
        calm_handle.do_send(Job::new(1, seq, How::Run)).unwrap();
    }
    assert_eq!(within(calm_handle.send(Which)).await.unwrap(), 1);
    let during = book.count();
    assert!(
        during < BURST as usize / 2,
        "{during} of {BURST} failing messages handled before the sibling's 1000"
    );
    let expected: Vec<(u32, u32)> = (0..1_000).map(|s| (1, s)).collect();
    calm.assert_each_once_in_order(&expected, "calm");
    // A stop in the middle of the burst drains the rest: each once.
    let report = within(app.send(Stop)).await.unwrap();
    let job = &report.children[0];
    assert_eq!((job.undelivered, job.cancelled), (0, 0), "{report}");
    assert_eq!(job.outcome, StopOutcome::Drained, "{report}");
    let expected: Vec<(u32, u32)> = (0..BURST).map(|s| (0, s)).collect();
    book.assert_each_once_in_order(&expected, "job");
}

/// Waits for `task`, and answers how many messages `book` showed handled
/// the moment it ended (read by a task of the arbiter, not by the test's
/// own future, which is polled only between batches of the arbiter's
/// tasks).
async fn pinger_count(book: &std::sync::Arc<Book>, task: actix_rt::task::JoinHandle<()>) -> usize {
    let book = book.clone();
    let watched = actix_rt::spawn(async move {
        task.await.unwrap();
        book.count()
    });
    within(watched).await.unwrap()
}
