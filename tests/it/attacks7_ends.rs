//! Seventh outside attack, on children that end on their own during their
//! stop's drain (a worker whose loop returns when its token is cancelled, a
//! periodic task, a plain actor that calls `ctx.stop()` as its token is
//! cancelled), now ended for good whatever their policy, while other OS
//! threads send to them exactly as the stop begins, so that their messages
//! may land behind the stop's marker; and nested supervisors stopped under
//! that load.
//!
//! The promises attacked: `StopReport` ("every message its handles accepted
//! is counted exactly once: handled, cancelled here, or undelivered");
//! `StopOutcome::Drained` ("Everything accepted before the stop was
//! handled"); `ChildHandle::stop` ("after the stop the child is not
//! restarted, whatever its policy"); `docs/lifecycle.md` ("an end with a
//! message still queued behind the marker (accepted as the stop began)
//! goes to the restart rules as before"); the README's policy table (`Stop`:
//! "drains its mailbox, then stopped", under every policy); `ChildFuture`
//! ("A stop waits for it: a stop's drain is over only when every message
//! queued before it was handled *and* every `ChildFuture` of the
//! incarnation has answered").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::periodic::{Periodic, PeriodicActor, Tick, TickContext};
use actix_supervisor::worker::{Work, WorkContext, WorkerActor};
use actix_supervisor::{
    snapshot::NodeState, ChildFuture, ChildHandle, ChildSpec, Grace, Inspect, RestartPolicy,
    StartContext, Stop, StopOutcome, StopReport, SupervisorActor,
};

use crate::attacks6_support::{joined, on_other_thread};
use crate::attacks7_support::{assert_ids_account, Fared};
use crate::common::{within, Gate};

/// What every incarnation of the attacked children books.
#[derive(Default)]
struct Tags {
    handled: Mutex<Vec<u32>>,
    built: AtomicU64,
    /// How many were handled (read without the lock by the floods).
    count: AtomicU64,
    /// Told once `FIRST` messages were handled.
    warm: tokio::sync::Notify,
}

/// At most this many messages per requester or flood: a guard, so that a
/// flood the child's thread keeps up with (its mailbox never empty, so
/// its stop is never read) ends.
const FLOOD: u32 = 100_000;

/// How many of its messages a flood lets wait at most.
const BACKLOG: u64 = 300;

/// Handled messages after which the stop is sent.
const FIRST: usize = 20;

impl Tags {
    fn book(&self, id: u32) {
        let mut handled = self.handled.lock().unwrap();
        handled.push(id);
        self.count.fetch_add(1, Ordering::SeqCst);
        if handled.len() == FIRST {
            self.warm.notify_one();
        }
    }

    fn handled(&self) -> Vec<u32> {
        self.handled.lock().unwrap().clone()
    }

    fn built(&self) -> u64 {
        self.built.load(Ordering::SeqCst)
    }
}

/// Booked (in the `Tags` it carries) by whichever actor handles it.
#[derive(Message)]
#[rtype(result = "u32")]
struct Tag(u32, Arc<Tags>);

/// Answered by a `ChildFuture` that waits for the gate, then books its id.
#[derive(Message)]
#[rtype(result = "u32")]
struct SlowTag(u32, Arc<Tags>, Gate);

/// A worker loop that returns `Ok` as soon as its token is cancelled.
struct Coop;

impl Work for Coop {
    type Error = String;
    async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
        cx.token().cancelled().await;
        Ok(())
    }
}

/// A periodic task whose ticks do nothing.
struct Quick;

impl Tick for Quick {
    type Error = String;
    async fn tick(&mut self, _: &TickContext) -> Result<(), String> {
        Ok(())
    }
}

/// A plain actor that calls `ctx.stop()` as soon as its token is cancelled
/// (a stop began).
struct Quitter {
    token: tokio_util::sync::CancellationToken,
}

impl Actor for Quitter {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        let token = self.token.clone();
        ctx.spawn(
            actix::fut::wrap_future::<_, Self>(async move { token.cancelled().await })
                .map(|(), _, ctx: &mut Context<Self>| ctx.stop()),
        );
    }
}

actix_supervisor::supervised!(Quitter);

macro_rules! tag_handlers {
    ($actor:ty) => {
        impl Handler<Tag> for $actor {
            type Result = u32;
            fn handle(&mut self, msg: Tag, _: &mut Context<Self>) -> u32 {
                msg.1.book(msg.0);
                msg.0
            }
        }

        impl Handler<SlowTag> for $actor {
            type Result = ChildFuture<u32>;
            fn handle(&mut self, msg: SlowTag, _: &mut Context<Self>) -> ChildFuture<u32> {
                let SlowTag(id, tags, gate) = msg;
                ChildFuture::new(async move {
                    gate.passed().await;
                    tags.book(id);
                    id
                })
            }
        }
    };
}

tag_handlers!(WorkerActor<Coop>);
tag_handlers!(PeriodicActor<Quick>);
tag_handlers!(Quitter);

/// The kinds of child attacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Worker,
    Periodic,
    Quitter,
}

/// A spec of `kind` called `name`, whose factory counts its builds in
/// `tags`, under `policy`, with a grace no test reaches.
macro_rules! with_spec {
    ($kind:expr, $name:expr, $policy:expr, $tags:expr, |$spec:ident| $body:expr) => {{
        let tags: Arc<Tags> = $tags.clone();
        let grace = Grace::Duration(Duration::from_secs(60));
        match $kind {
            Kind::Worker => {
                let $spec = ChildSpec::worker($name, move |_: &StartContext| {
                    tags.built.fetch_add(1, Ordering::SeqCst);
                    Coop
                })
                .restart($policy)
                .grace(grace);
                $body
            }
            Kind::Periodic => {
                let every = Periodic::every(Duration::from_millis(1));
                let $spec = ChildSpec::periodic($name, every, move |_: &StartContext| {
                    tags.built.fetch_add(1, Ordering::SeqCst);
                    Quick
                })
                .restart($policy)
                .grace(grace);
                $body
            }
            Kind::Quitter => {
                let $spec = ChildSpec::with_context($name, move |start: &StartContext| {
                    tags.built.fetch_add(1, Ordering::SeqCst);
                    Quitter {
                        token: start.token().clone(),
                    }
                })
                .restart($policy)
                .grace(grace);
                $body
            }
        }
    }};
}

/// Sends `Tag`s through `handle` from a new OS thread (four requesters
/// awaiting each answer, one giving each request up after its first poll)
/// until the handle refuses; answers how they fared.
fn load<A>(
    handle: &ChildHandle<A>,
    tags: &Arc<Tags>,
    base: u32,
) -> tokio::sync::oneshot::Receiver<Fared>
where
    A: actix_supervisor::SupervisedActor + actix_supervisor::plumbing::SupervisedHandler<Tag>,
{
    let (handle, tags) = (handle.clone(), tags.clone());
    on_other_thread(move || async move {
        let requester = |lane: u32, give_up: bool| {
            let (handle, tags) = (handle.clone(), tags.clone());
            async move {
                let mut fared = Fared::default();
                for k in 0..FLOOD {
                    let send = handle.send(Tag(base + lane * FLOOD + k, tags.clone()));
                    let result = if give_up {
                        match tokio::time::timeout(Duration::ZERO, send).await {
                            Ok(result) => result,
                            Err(_) => {
                                fared.abandoned += 1;
                                continue;
                            }
                        }
                    } else {
                        send.await
                    };
                    let refused = matches!(
                        result,
                        Err(ref e) if !matches!(e, actix_supervisor::SendError::NoReply { .. })
                    );
                    fared.note(result);
                    if refused {
                        break;
                    }
                }
                fared
            }
        };
        let (a, b, c, d, e) = tokio::join!(
            requester(0, false),
            requester(1, false),
            requester(2, false),
            requester(3, false),
            requester(4, true)
        );
        a + b + c + d + e
    })
}

/// Sends `Tag`s through `handle` with `do_send` from a new OS thread, as
/// fast as it can while fewer than `BACKLOG` of its messages wait, until
/// the handle refuses; answers how many it accepted.
fn flood<A>(
    handle: &ChildHandle<A>,
    tags: &Arc<Tags>,
    base: u32,
) -> tokio::sync::oneshot::Receiver<Fared>
where
    A: actix_supervisor::SupervisedActor + actix_supervisor::plumbing::SupervisedHandler<Tag>,
{
    let (handle, tags) = (handle.clone(), tags.clone());
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut fared = Fared::default();
        for k in 0..FLOOD {
            while fared.fired > tags.count.load(Ordering::SeqCst) + BACKLOG {
                std::thread::yield_now();
            }
            if handle.do_send(Tag(base + k, tags.clone())).is_err() {
                fared.refused += 1;
                break;
            }
            fared.fired += 1;
        }
        let _ = tx.send(fared);
    });
    rx
}

/// After a child's stop answered: within a minute of paused time no
/// incarnation is built, the node stays `Stopped`, and a second stop
/// answers the same report.
async fn assert_stays_stopped(
    app: &Addr<SupervisorActor>,
    name: &str,
    tags: &Tags,
    report: &StopReport,
    case: &str,
) {
    let built = tags.built();
    tokio::time::pause();
    tokio::time::sleep(Duration::from_secs(60)).await;
    tokio::time::resume();
    assert_eq!(
        tags.built(),
        built,
        "{case}: an incarnation was built after the stop's report: {report}"
    );
    let path = format!("/app/{name}");
    let tree = within(app.send(Inspect)).await.unwrap();
    let node = tree.find(&path).unwrap();
    assert_eq!(node.state, NodeState::Stopped, "{case}: {tree}");
    let again = within(app.send(actix_supervisor::StopChild::new(name)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&again, report, "{case}: a second stop");
}

async fn stop_under_load<A>(
    app: &Addr<SupervisorActor>,
    handle: ChildHandle<A>,
    tags: Arc<Tags>,
    case: &str,
) where
    A: actix_supervisor::SupervisedActor + actix_supervisor::plumbing::SupervisedHandler<Tag>,
{
    within(handle.started()).await.unwrap();
    let loads = [
        load(&handle, &tags, 0),
        load(&handle, &tags, 1_000_000),
        flood(&handle, &tags, 100_000_000),
        flood(&handle, &tags, 200_000_000),
    ];
    within(tags.warm.notified()).await;
    let report = within(app.send(actix_supervisor::StopChild::new("child")))
        .await
        .unwrap()
        .unwrap();
    let mut fared = Fared::default();
    for load in loads {
        fared = fared + joined(load).await;
    }
    assert_ids_account(&report, fared, tags.handled(), case);
    assert_ne!(report.outcome, StopOutcome::TimedOut, "{case}: {report}");
    assert!(
        report.outcome == StopOutcome::Drained || report.undelivered > 0,
        "{case}: neither drained nor anything undelivered: {report}"
    );
    assert_stays_stopped(app, "child", &tags, &report, case).await;
}

/// Promises (module docs): a worker whose loop returns at its token's
/// cancellation, a periodic task and a plain actor that calls `ctx.stop()`
/// as its token is cancelled, each under `Always`, `OnFailure` and `Never`,
/// stopped while two other OS threads send to it (four requesters each,
/// and one giving each request up at once) and two more `do_send` as fast
/// as they can: the stop answers; every
/// message accepted is handled, cancelled or undelivered, exactly once; a
/// `Drained` report lost nothing; no incarnation is built after the report.
///
/// Seen if broken: a hang, counts that do not close with the senders'
/// view, `Drained` with `NoReply`s or undelivered messages, or a build
/// after the report. Each case runs 3 rounds to meet the race of a message
/// accepted just before the stop and queued behind its marker.
#[actix_rt::test]
async fn children_that_end_at_their_stop_under_load_from_other_threads_account_for_every_message() {
    for kind in [Kind::Worker, Kind::Periodic, Kind::Quitter] {
        for policy in [
            RestartPolicy::Always,
            RestartPolicy::OnFailure,
            RestartPolicy::Never,
        ] {
            for round in 0..3 {
                let case = format!("{kind:?} under {policy:?}, round {round}");
                let tags = Arc::new(Tags::default());
                with_spec!(kind, "child", policy, tags, |spec| {
                    let handle = spec.handle();
                    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
                    stop_under_load(&app, handle, tags.clone(), &case).await;
                    within(app.send(Stop)).await.unwrap();
                });
            }
        }
    }
}

/// Promises (`ChildFuture`: "A stop waits for it ... Past the grace the
/// future is cancelled ... and the child's StopReport counts its message as
/// undelivered"; `StopOutcome::Drained`: "Everything accepted before the
/// stop was handled"): a child that ends on its own at its stop (a worker
/// whose loop returns when its token is cancelled; a periodic task; an
/// actor calling `ctx.stop()` then) while a `ChildFuture` it took on
/// before the stop is in flight either waits for it (its requester is
/// answered once the gate opens) or does not say `Drained`.
///
/// Seen if broken: the stop answers within a second of paused time (its
/// grace is a minute) with the gate still closed, `Drained`, nothing
/// undelivered, while the future's requester got `SendError::NoReply`.
#[actix_rt::test]
async fn a_child_that_ends_at_its_stop_with_a_child_future_in_flight_never_says_drained_having_dropped_it(
) {
    tokio::time::pause();
    let mut broken = Vec::new();
    for kind in [Kind::Worker, Kind::Periodic, Kind::Quitter] {
        for policy in [
            RestartPolicy::Always,
            RestartPolicy::OnFailure,
            RestartPolicy::Never,
        ] {
            let case = format!("{kind:?} under {policy:?}");
            let tags = Arc::new(Tags::default());
            let seen = with_spec!(kind, "child", policy, tags, |spec| {
                let handle = spec.handle();
                let app = SupervisorActor::builder("app").child(spec).start().unwrap();
                let seen = slow_at_stop(&app, handle, &tags, &case).await;
                within(app.send(Stop)).await.unwrap();
                seen
            });
            broken.extend(seen);
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

async fn slow_at_stop<A>(
    app: &Addr<SupervisorActor>,
    handle: ChildHandle<A>,
    tags: &Arc<Tags>,
    case: &str,
) -> Option<String>
where
    A: actix_supervisor::SupervisedActor
        + actix_supervisor::plumbing::SupervisedHandler<Tag>
        + actix_supervisor::plumbing::SupervisedHandler<SlowTag>,
{
    within(handle.started()).await.unwrap();
    let gate = Gate::new();
    let slow = actix_rt::spawn(handle.send(SlowTag(1, tags.clone(), gate.clone())));
    // Handled after the `SlowTag`: its handler ran, its future is in flight.
    within(handle.send(Tag(2, tags.clone()))).await.unwrap();
    let mut stop = actix_rt::spawn(handle.stop());
    let early = tokio::select! {
        report = &mut stop => Some(report.unwrap()),
        () = tokio::time::sleep(Duration::from_secs(1)) => None,
    };
    gate.open();
    let report = match early.clone() {
        Some(report) => report,
        None => within(stop).await.unwrap(),
    };
    let mut fared = Fared {
        answered: 1,
        ..Fared::default()
    };
    let slow = within(slow).await.unwrap();
    let slow_text = format!("{slow:?}");
    fared.note(slow);
    let built = tags.built();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        tags.built(),
        built,
        "{case}: built after the report: {report}"
    );
    let tree = within(app.send(Inspect)).await.unwrap();
    assert_eq!(
        tree.find("/app/child").unwrap().state,
        NodeState::Stopped,
        "{case}"
    );
    let lost = report.outcome == StopOutcome::Drained && fared.no_reply > 0;
    if !lost {
        assert_ids_account(&report, fared, tags.handled(), case);
    }
    lost.then(|| {
        format!(
            "{case}: the stop answered {} with the gate closed; the ChildFuture's requester \
             got {slow_text}; report: {report:?}",
            if early.is_some() {
                "within 1 s"
            } else {
                "after"
            }
        )
    })
}

/// Promises (module docs; `Stop`: "answers when every node has stopped,
/// with the tree of their reports"): a nested supervisor whose worker
/// (`Always`) and self-stopping actor (`Never`) end at their stop, both
/// loaded from other OS threads, stopped by its parent's `Stop`, alone or
/// right after a `RestartChild` of the nested supervisor: the stop
/// answers; each child's counts close with what its senders saw; a
/// `Drained` child lost nothing; nothing is built after the report.
///
/// Seen if broken: a hang, counts that do not close, `Drained` with a
/// message lost, or a build after the report.
#[actix_rt::test]
async fn a_nested_supervisor_stopped_under_load_accounts_for_every_message() {
    for restart_first in [false, true] {
        for round in 0..3 {
            let case = format!("restart first: {restart_first}, round {round}");
            let worker_tags = Arc::new(Tags::default());
            let quitter_tags = Arc::new(Tags::default());
            let worker = {
                let tags = worker_tags.clone();
                ChildSpec::worker("worker", move |_: &StartContext| {
                    tags.built.fetch_add(1, Ordering::SeqCst);
                    Coop
                })
                .restart(RestartPolicy::Always)
                .grace(Grace::Duration(Duration::from_secs(60)))
            };
            let quitter = {
                let tags = quitter_tags.clone();
                ChildSpec::with_context("quitter", move |start: &StartContext| {
                    tags.built.fetch_add(1, Ordering::SeqCst);
                    Quitter {
                        token: start.token().clone(),
                    }
                })
                .restart(RestartPolicy::Never)
                .grace(Grace::Duration(Duration::from_secs(60)))
            };
            let (w, q) = (worker.handle(), quitter.handle());
            let mid = SupervisorActor::builder("mid")
                .intensity(crate::common::unlimited())
                .child(worker)
                .child(quitter);
            let app = SupervisorActor::builder("app")
                .intensity(crate::common::unlimited())
                .child(mid)
                .start()
                .unwrap();
            within(w.started()).await.unwrap();
            within(q.started()).await.unwrap();
            let loads = [
                (load(&w, &worker_tags, 0), true),
                (flood(&w, &worker_tags, 100_000_000), true),
                (load(&q, &quitter_tags, 0), false),
                (flood(&q, &quitter_tags, 100_000_000), false),
            ];
            within(worker_tags.warm.notified()).await;
            within(quitter_tags.warm.notified()).await;
            if restart_first {
                // Not awaited: the stop follows at once.
                let _restart =
                    actix_rt::spawn(app.send(actix_supervisor::RestartChild::new("mid")));
            }
            let report = within(app.send(Stop)).await.unwrap();
            let (mut wf, mut qf) = (Fared::default(), Fared::default());
            for (load, to_worker) in loads {
                let fared = joined(load).await;
                if to_worker {
                    wf = wf + fared;
                } else {
                    qf = qf + fared;
                }
            }
            let wr = report.find("/app/mid/worker").expect("the worker's report");
            let qr = report
                .find("/app/mid/quitter")
                .expect("the quitter's report");
            assert_ids_account(wr, wf, worker_tags.handled(), &format!("{case}, worker"));
            assert_ids_account(qr, qf, quitter_tags.handled(), &format!("{case}, quitter"));
            let built = (worker_tags.built(), quitter_tags.built());
            tokio::time::pause();
            tokio::time::sleep(Duration::from_secs(60)).await;
            tokio::time::resume();
            assert_eq!(
                (worker_tags.built(), quitter_tags.built()),
                built,
                "{case}: built after the report: {report}"
            );
            assert_eq!(within(app.send(Stop)).await.unwrap(), report, "{case}");
        }
    }
}
