//! Promise 21: async work a handler answers with belongs to the child.
//!
//! A handler that awaits I/O answers with a `ChildFuture`: a panic in that
//! future is the child's failure (restarted by its policy, recorded with the
//! child's path); a stop waits for it within the grace, and past the grace
//! cancels it, counts its message undelivered and gives its requester an
//! error; the requester gets its answer whichever way it sent the message;
//! nothing accepted is lost. The last tests show which of actix's own reply
//! types a child owns in the same sense, and which it does not.
//!
//! Every test runs under paused time: a sleep in a future is I/O that takes
//! that long, and no test waits on the wall clock.

use crate::common;

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::{
    events::EventKind,
    snapshot::{FailureKind, NodeState},
    Backoff, ChildFuture, ChildSpec, Grace, RestartChild, RestartPolicy, SendError, Stop,
    StopChild, StopOutcome, Subscribe, SupervisorActor,
};
use common::*;
use futures_util::StreamExt;

/// How long a fetch's I/O takes.
const IO: Duration = Duration::from_millis(100);
/// The child's grace: longer than the I/O.
const GRACE: Duration = Duration::from_secs(1);

/// A child whose handlers await I/O.
struct Fetcher {
    incarnation: u64,
    /// Fetches whose future completed, across incarnations.
    done: Arc<AtomicU64>,
}

impl Actor for Fetcher {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Fetcher);

/// Fetches after `delay` (forever if `None`); answers the incarnation that
/// handled it.
#[derive(Message, Clone, Copy)]
#[rtype(result = "u64")]
struct Fetch {
    delay: Option<Duration>,
    panic: bool,
}

impl Fetch {
    fn after(delay: Duration) -> Self {
        Fetch {
            delay: Some(delay),
            panic: false,
        }
    }

    fn forever() -> Self {
        Fetch {
            delay: None,
            panic: false,
        }
    }

    fn panicking() -> Self {
        Fetch {
            delay: Some(IO),
            panic: true,
        }
    }
}

impl Handler<Fetch> for Fetcher {
    type Result = ChildFuture<u64>;
    fn handle(&mut self, fetch: Fetch, _: &mut Context<Self>) -> Self::Result {
        let incarnation = self.incarnation;
        let done = self.done.clone();
        ChildFuture::new(async move {
            match fetch.delay {
                Some(delay) => tokio::time::sleep(delay).await,
                None => std::future::pending().await,
            }
            if fetch.panic {
                panic!("the fetch broke");
            }
            done.fetch_add(1, Ordering::SeqCst);
            incarnation
        })
    }
}

/// A synchronous handler: answers the incarnation at once.
#[derive(Message)]
#[rtype(result = "u64")]
struct Ping;

impl Handler<Ping> for Fetcher {
    type Result = u64;
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) -> u64 {
        self.incarnation
    }
}

/// A fetcher spec: each incarnation numbered, completed fetches counted in
/// `done`.
fn fetcher(done: &Arc<AtomicU64>) -> ChildSpec<Fetcher> {
    let done = done.clone();
    let incarnations = AtomicU64::new(0);
    ChildSpec::new("fetcher", move || Fetcher {
        incarnation: incarnations.fetch_add(1, Ordering::SeqCst) + 1,
        done: done.clone(),
    })
    .grace(Grace::Duration(GRACE))
}

#[actix_rt::test]
async fn a_panic_in_a_child_future_is_the_child_failure_restarted_by_its_policy() {
    tokio::time::pause();
    let done = Arc::new(AtomicU64::new(0));
    let spec = fetcher(&done).restart(RestartPolicy::OnFailure);
    let fetcher = spec.handle();
    let app = SupervisorActor::builder("app").start().unwrap();
    let mut events = within(app.send(Subscribe::all())).await.unwrap();
    within(app.send(actix_supervisor::StartChild::new(spec)))
        .await
        .unwrap()
        .unwrap();

    let reply = within(fetcher.send(Fetch::panicking())).await;
    assert!(
        matches!(&reply, Err(SendError::NoReply { path }) if path.as_str() == "/app/fetcher"),
        "{reply:?}"
    );
    let failure = loop {
        let event = within(events.next()).await.unwrap();
        if let EventKind::Failed { failure } = event.kind {
            assert_eq!(event.path.as_str(), "/app/fetcher");
            break failure;
        }
    };
    assert_eq!(failure.kind, FailureKind::Panic);
    assert!(failure.message.contains("the fetch broke"), "{failure}");
    // Restarted by its policy: the next incarnation answers.
    assert_eq!(within(fetcher.send(Ping)).await.unwrap(), 2);
    let child = node(&app, "/app/fetcher").await;
    assert_eq!(child.restart_count, 1, "{child:?}");
    assert!(child
        .last_failure
        .unwrap()
        .message
        .contains("the fetch broke"));
}

#[actix_rt::test]
async fn a_panic_in_a_child_future_ends_a_child_whose_policy_does_not_restart() {
    tokio::time::pause();
    let done = Arc::new(AtomicU64::new(0));
    let spec = fetcher(&done).restart(RestartPolicy::Never);
    let fetcher = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    assert!(within(fetcher.send(Fetch::panicking())).await.is_err());
    let report = within(fetcher.stop()).await;
    assert!(
        matches!(&report.outcome, StopOutcome::Failed(f) if f.message.contains("the fetch broke")),
        "{report}"
    );
    assert_eq!(node(&app, "/app/fetcher").await.state, NodeState::Failed);
}

#[actix_rt::test]
async fn a_stop_waits_for_child_futures_within_the_grace() {
    tokio::time::pause();
    let done = Arc::new(AtomicU64::new(0));
    let spec = fetcher(&done);
    let fetcher = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    let first = fetcher.send(Fetch::after(IO));
    let second = fetcher.send(Fetch::after(IO * 3));
    let report = within(app.send(Stop)).await.unwrap();

    // The stop answered only once both futures had completed.
    assert_eq!(done.load(Ordering::SeqCst), 2);
    assert!(report.is_drained(), "{report}");
    let child = report.find("/app/fetcher").unwrap();
    assert_eq!((child.drained, child.undelivered), (2, 0), "{report}");
    assert_eq!(within(first).await.unwrap(), 1);
    assert_eq!(within(second).await.unwrap(), 1);
}

#[actix_rt::test]
async fn a_stop_past_the_grace_cancels_child_futures_and_counts_them_undelivered() {
    tokio::time::pause();
    let done = Arc::new(AtomicU64::new(0));
    let spec = fetcher(&done);
    let fetcher = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    let finishes = fetcher.send(Fetch::after(IO));
    let hangs = fetcher.send(Fetch::forever());
    let through_addr = fetcher.address().send(Fetch::forever());
    let began = tokio::time::Instant::now();
    let report = within(app.send(StopChild::new("fetcher")))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(report.outcome, StopOutcome::TimedOut, "{report}");
    assert_about(began.elapsed(), GRACE);
    // Counted: the two messages sent through the handle; the one that
    // finished is drained, the hung one undelivered.
    assert_eq!((report.drained, report.undelivered), (1, 1), "{report}");
    assert_eq!(within(finishes).await.unwrap(), 1);
    let error = within(hangs).await.unwrap_err();
    assert!(
        matches!(&error, SendError::NoReply { path } if path.as_str() == "/app/fetcher"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "/app/fetcher: the child ended before answering"
    );
    assert_eq!(within(through_addr).await, Err(MailboxError::Closed));
}

#[actix_rt::test]
async fn a_requester_gets_its_answer_whichever_way_it_sent() {
    tokio::time::pause();
    let done = Arc::new(AtomicU64::new(0));
    let spec = fetcher(&done);
    let fetcher = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();

    assert_eq!(within(fetcher.send(Fetch::after(IO))).await.unwrap(), 1);
    assert_eq!(
        within(fetcher.address().send(Fetch::after(IO)))
            .await
            .unwrap(),
        1
    );
    fetcher.do_send(Fetch::after(IO)).unwrap();
    fetcher.try_send(Fetch::after(IO)).unwrap();
    fetcher.address().do_send(Fetch::after(IO));
    // The mailbox is FIFO and each fetch takes the same time: once this
    // answers, the three before it have completed.
    assert_eq!(within(fetcher.send(Fetch::after(IO))).await.unwrap(), 1);
    assert_eq!(done.load(Ordering::SeqCst), 6);
}

#[actix_rt::test]
async fn child_futures_run_concurrently_and_answer_in_the_order_they_finish() {
    tokio::time::pause();
    let done = Arc::new(AtomicU64::new(0));
    let spec = fetcher(&done);
    let fetcher = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    let slow = fetcher.send(Fetch::after(IO * 5));
    // The mailbox does not wait for the slow fetch: later messages are
    // handled, and a quicker fetch answers first.
    assert_eq!(within(fetcher.send(Ping)).await.unwrap(), 1);
    assert_eq!(within(fetcher.send(Fetch::after(IO))).await.unwrap(), 1);
    assert_eq!(done.load(Ordering::SeqCst), 1);
    assert_eq!(within(slow).await.unwrap(), 1);
    assert_eq!(done.load(Ordering::SeqCst), 2);
}

#[actix_rt::test]
async fn nothing_accepted_is_lost_when_a_stop_meets_child_futures_in_flight() {
    tokio::time::pause();
    let done = Arc::new(AtomicU64::new(0));
    let spec = fetcher(&done);
    let fetcher = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    let mut replies = Vec::new();
    // Fewer than the mailbox's capacity (16): no `send` waits for room.
    for i in 0..12u32 {
        let fetch = Fetch::after(IO * (i % 4 + 1));
        if i % 2 == 0 {
            replies.push(fetcher.send(fetch));
        } else {
            fetcher.do_send(fetch).unwrap();
        }
    }
    // Every fetch was handled (the mailbox is FIFO); its future runs on.
    assert_eq!(within(fetcher.send(Ping)).await.unwrap(), 1);
    // A requester that stops waiting once its message was handled does not
    // cancel the work.
    drop(replies.pop());
    let stopping = fetcher.stop();
    assert!(matches!(
        fetcher.do_send(Fetch::after(IO)),
        Err(SendError::Stopping { .. })
    ));
    let report = within(stopping).await;

    assert!(report.is_drained(), "{report}");
    assert_eq!(
        (report.drained, report.undelivered, report.cancelled),
        (12, 0, 0),
        "{report}"
    );
    assert_eq!(done.load(Ordering::SeqCst), 12);
    for reply in replies {
        assert_eq!(within(reply).await.unwrap(), 1);
    }
    assert_eq!(node(&app, "/app/fetcher").await.state, NodeState::Stopped);
}

#[actix_rt::test]
async fn a_stop_waits_for_a_child_future_sent_through_a_raw_addr() {
    tokio::time::pause();
    let done = Arc::new(AtomicU64::new(0));
    let spec = fetcher(&done);
    let addr = spec.address();
    let fetcher = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    let reply = addr.send(Fetch::after(IO));
    let report = within(fetcher.stop()).await;
    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(done.load(Ordering::SeqCst), 1);
    assert_eq!(within(reply).await.unwrap(), 1);
}

#[actix_rt::test]
async fn a_strategy_restart_waits_for_child_futures_within_the_grace() {
    tokio::time::pause();
    let done = Arc::new(AtomicU64::new(0));
    let spec = fetcher(&done);
    let fetcher = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    let reply = fetcher.send(Fetch::after(IO));
    within(app.send(RestartChild::new("fetcher")))
        .await
        .unwrap()
        .unwrap();
    // The first incarnation answered before it made way for the second.
    assert_eq!(within(reply).await.unwrap(), 1);
    assert_eq!(within(fetcher.send(Ping)).await.unwrap(), 2);

    // Past the grace, the drain ends and the future is dropped.
    let hung = fetcher.send(Fetch::forever());
    within(app.send(RestartChild::new("fetcher")))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(within(hung).await, Err(SendError::NoReply { .. })));
    assert_eq!(within(fetcher.send(Ping)).await.unwrap(), 3);
}

/// Ends its incarnation with a panic when asked.
#[derive(Message)]
#[rtype(result = "()")]
struct Crash;

impl Handler<Crash> for Fetcher {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("crashed on purpose");
    }
}

#[actix_rt::test]
async fn an_incarnation_that_ends_drops_its_child_futures_at_once() {
    tokio::time::pause();
    let done = Arc::new(AtomicU64::new(0));
    let spec = fetcher(&done)
        .restart(RestartPolicy::OnFailure)
        .backoff(Backoff::new(
            Duration::from_secs(60),
            Duration::from_secs(60),
        ));
    let fetcher = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fetcher.started()).await.unwrap();

    let hung = fetcher.send(Fetch::forever());
    fetcher.do_send(Crash).unwrap();
    // The requester hears at once, not after the minute of backoff.
    assert!(matches!(within(hung).await, Err(SendError::NoReply { .. })));
    assert!(matches!(
        node(&app, "/app/fetcher").await.state,
        NodeState::Restarting { .. }
    ));
    // The child lives on: the dropped future's message counts as handled,
    // so the stop that follows finds nothing undelivered.
    let report = within(app.send(StopChild::new("fetcher")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.undelivered, 0, "{report}");
}

/// Outside a supervisor, a `ChildFuture` answers like actix's own replies.
#[actix_rt::test]
async fn a_child_future_answers_in_a_plain_actix_actor_too() {
    let done = Arc::new(AtomicU64::new(0));
    let plain = Fetcher {
        incarnation: 7,
        done: done.clone(),
    }
    .start();
    assert_eq!(
        within(plain.send(Fetch::after(Duration::from_millis(1))))
            .await
            .unwrap(),
        7
    );
    assert_eq!(done.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------
// actix's own reply types: which a child owns.

/// A child answering with actix's reply types, after some I/O.
struct Actixy {
    done: Rc<std::cell::Cell<u64>>,
}

impl Actor for Actixy {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Actixy);

#[derive(Message)]
#[rtype(result = "u64")]
struct ViaActFuture;

impl Handler<ViaActFuture> for Actixy {
    type Result = ResponseActFuture<Self, u64>;
    fn handle(&mut self, _: ViaActFuture, _: &mut Context<Self>) -> Self::Result {
        Box::pin(
            actix::fut::wrap_future::<_, Self>(tokio::time::sleep(IO * 3)).map(|(), this, _| {
                this.done.set(this.done.get() + 1);
                1
            }),
        )
    }
}

#[derive(Message)]
#[rtype(result = "u64")]
struct ViaAtomic;

impl Handler<ViaAtomic> for Actixy {
    type Result = AtomicResponse<Self, u64>;
    fn handle(&mut self, _: ViaAtomic, _: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(Box::pin(
            actix::fut::wrap_future::<_, Self>(tokio::time::sleep(IO)).map(|(), this, _| {
                this.done.set(this.done.get() + 1);
                1
            }),
        ))
    }
}

#[derive(Message)]
#[rtype(result = "u64")]
struct ViaFuture;

impl Handler<ViaFuture> for Actixy {
    type Result = ResponseFuture<u64>;
    fn handle(&mut self, _: ViaFuture, _: &mut Context<Self>) -> Self::Result {
        Box::pin(async {
            tokio::time::sleep(IO).await;
            panic!("the detached future broke");
        })
    }
}

fn actixy() -> ChildSpec<Actixy> {
    ChildSpec::new("actixy", || Actixy {
        done: Rc::new(std::cell::Cell::new(0)),
    })
    .grace(Grace::Duration(GRACE))
}

#[actix_rt::test]
async fn a_stop_waits_for_an_atomic_response_but_not_for_a_response_act_future() {
    tokio::time::pause();
    let spec = actixy();
    let child = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(child.started()).await.unwrap();

    // `ResponseActFuture` runs in the child (`ctx.spawn`), but the stop
    // does not wait for it: it is dropped when the drain is over (here,
    // when the atomic reply is done, before this one's I/O is).
    let act = child.send(ViaActFuture);
    // `AtomicResponse` makes the mailbox wait (`ctx.wait`): the drain waits
    // behind it.
    let atomic = child.send(ViaAtomic);
    let report = within(child.stop()).await;

    assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
    assert_eq!(within(atomic).await.unwrap(), 1);
    assert!(matches!(within(act).await, Err(SendError::NoReply { .. })));
}

#[actix_rt::test]
async fn a_panic_in_a_response_future_is_not_the_child_failure() {
    tokio::time::pause();
    let spec = actixy().restart(RestartPolicy::OnFailure);
    let child = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(child.started()).await.unwrap();

    // actix runs a `ResponseFuture` in a task of its own: its panic kills
    // that task alone, and the child never hears of it.
    assert!(matches!(
        within(child.send(ViaFuture)).await,
        Err(SendError::NoReply { .. })
    ));
    let node = node(&app, "/app/actixy").await;
    assert_eq!((node.restart_count, node.incarnation), (0, 1), "{node:?}");
    assert!(node.last_failure.is_none(), "{node:?}");
}
