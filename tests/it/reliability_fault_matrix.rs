//! Promises 5, 2, 3 and 8 as one table: every hook a user writes (factory,
//! `started`, each kind of handler, `stopping`, `stopped`, `restarting`, a
//! periodic tick, a worker's loop) × {panic, error return, hang past the
//! grace}.
//!
//! Each cell runs in an actix system of its own, under paused time. The
//! faulty child is added to a running tree beside a sibling, with the
//! default policy (on-failure). A panic or an error is contained to that
//! child: it shows as a `Failed` event and as the last failure in the
//! snapshot, with the child's path and the message; the policy restarts the
//! child (or gives it up, when another incarnation cannot help); its sender
//! gets an answer or an error, never a hang; the sibling keeps answering and
//! the tree still stops drained. A hang is ended by the child's grace: the
//! child is reported `TimedOut` with its undone work, and the rest of the
//! tree carries on. A cell that cannot happen is listed as n/a with the
//! reason; a cell where the library does not keep the promise is listed as
//! a GAP, with what it does keep asserted. The GAPs are actix's
//! `ResponseFuture`, which runs outside its child; the library's
//! `ChildFuture` keeps the promises (its row, and the tests at the end of
//! the file).
//!
//! `cargo test --test it reliability_fault_matrix:: -- --nocapture` prints the
//! table.

use crate::common;
use crate::reliability_support;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::{
    events::{EventKind, EventStream, LifecycleEvent},
    fail,
    periodic::{Periodic, Tick, TickContext, TickNow},
    plumbing::AnyChildSpec,
    restart_fresh,
    snapshot::{FailureKind, FailurePhase, NodeState},
    worker::{Work, WorkContext},
    ChildFuture, ChildHandle, ChildSpec, Grace, RestartPolicy, SendError, StartChild, StartError,
    Stop, StopChild, StopOutcome, Subscribe, SupervisorActor,
};
use common::*;
use futures_util::StreamExt;
use reliability_support::{on_own_system, silence_injected_panics, INJECTED};
use tokio::time::Instant;

/// Where the faulty child sits in every cell.
const FAULTY: &str = "/matrix/faulty";
/// The faulty child's grace, for the hang column.
const GRACE: Duration = Duration::from_millis(200);
/// Messages queued behind a hang, which the grace leaves undone.
const BEHIND_A_HANG: u64 = 2;

/// A hook a user writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hook {
    Factory,
    Started,
    Handler,
    HandlerWait,
    HandlerAtomic,
    HandlerActFuture,
    HandlerFuture,
    HandlerChildFuture,
    Stopping,
    Stopped,
    Restarting,
    Tick,
    WorkerLoop,
}

impl Hook {
    const ALL: [Hook; 13] = [
        Hook::Factory,
        Hook::Started,
        Hook::Handler,
        Hook::HandlerWait,
        Hook::HandlerAtomic,
        Hook::HandlerActFuture,
        Hook::HandlerFuture,
        Hook::HandlerChildFuture,
        Hook::Stopping,
        Hook::Stopped,
        Hook::Restarting,
        Hook::Tick,
        Hook::WorkerLoop,
    ];

    /// Whether the reply to the message that triggers the fault is produced
    /// by the failing code, so a panic there leaves the sender without one.
    fn reply_comes_from_the_fault(self) -> bool {
        matches!(
            self,
            Hook::Handler
                | Hook::HandlerAtomic
                | Hook::HandlerActFuture
                | Hook::HandlerFuture
                | Hook::HandlerChildFuture
        )
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hook::Factory => "factory",
            Hook::Started => "started",
            Hook::Handler => "handler",
            Hook::HandlerWait => "handler + ctx.wait",
            Hook::HandlerAtomic => "handler -> AtomicResponse",
            Hook::HandlerActFuture => "handler -> ResponseActFuture",
            Hook::HandlerFuture => "handler -> ResponseFuture",
            Hook::HandlerChildFuture => "handler -> ChildFuture",
            Hook::Stopping => "stopping",
            Hook::Stopped => "stopped",
            Hook::Restarting => "restarting",
            Hook::Tick => "periodic tick",
            Hook::WorkerLoop => "worker loop",
        })
    }
}

/// What goes wrong in the hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Panic,
    Error,
    Hang,
}

impl Fault {
    const ALL: [Fault; 3] = [Fault::Panic, Fault::Error, Fault::Hang];
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::Panic => "panic",
            Fault::Error => "error",
            Fault::Hang => "hang",
        })
    }
}

/// The message a fault carries (a panic's payload, an error's reason).
fn injected(hook: Hook, fault: Fault) -> String {
    format!("{INJECTED} {fault} in {hook}")
}

/// The failure a cell expects in the snapshot and the events.
#[derive(Debug, Clone)]
struct ExpectedFailure {
    kind: FailureKind,
    phase: FailurePhase,
    /// Contained in the failure's message.
    message: String,
}

/// What a cell expects.
#[derive(Debug, Clone)]
enum Outcome {
    /// The child fails `failures` times in all (each restarted by its
    /// policy, on-failure); the last failure is `failure`.
    Restarted {
        failure: ExpectedFailure,
        failures: u64,
    },
    /// The child's last failure (of `failures`) is one another incarnation
    /// cannot fix: it is given up whatever its policy.
    GivenUp {
        failure: ExpectedFailure,
        failures: u64,
    },
    /// The child's grace ends the stop: it is terminated, reported
    /// `TimedOut` with the messages left in its mailbox.
    TimedOut { undelivered: u64 },
    /// The stop does not wait for the hung work: it is cancelled with the
    /// incarnation, and its sender gets an error at once.
    Cancelled,
    /// The library does not keep the promise here; what it does keep is
    /// asserted.
    Gap(&'static str),
    /// The cell cannot happen.
    NotApplicable(&'static str),
}

/// The table: what each hook × fault must do.
fn expected(hook: Hook, fault: Fault) -> Outcome {
    use FailurePhase::{Factory, Restarting, Running, Starting};
    let failure = |phase| ExpectedFailure {
        kind: match fault {
            Fault::Panic => FailureKind::Panic,
            Fault::Error | Fault::Hang => FailureKind::Error,
        },
        phase,
        message: injected(hook, fault),
    };
    let restarted = |phase| Outcome::Restarted {
        failure: failure(phase),
        failures: 1,
    };
    let hang = Outcome::TimedOut {
        undelivered: BEHIND_A_HANG,
    };
    match (hook, fault) {
        (Hook::Factory, Fault::Hang) => Outcome::NotApplicable(
            "a factory is a plain function call: it can only hang by blocking the \
             arbiter's thread, which nothing on that thread can interrupt",
        ),
        (Hook::Factory, _) => restarted(Factory),
        (Hook::Started, Fault::Hang) => hang,
        (Hook::Started, _) => restarted(Starting),
        (Hook::Handler, Fault::Hang) => Outcome::NotApplicable(
            "a synchronous handler can only hang by blocking the thread; handlers \
             that wait do it with ctx.wait or a future (rows below)",
        ),
        (Hook::HandlerWait | Hook::HandlerAtomic, Fault::Hang) => hang,
        (Hook::HandlerActFuture, Fault::Hang) => Outcome::Cancelled,
        (Hook::HandlerFuture, Fault::Panic) => Outcome::Gap(
            "actix runs a ResponseFuture in a task of its own, outside the child: the \
             sender gets NoReply and the process lives on, but the child is not \
             failed, counted or restarted (answer with a ChildFuture instead)",
        ),
        (Hook::HandlerFuture, Fault::Error) => Outcome::NotApplicable(
            "a ResponseFuture runs detached from the actor, with no context to fail; \
             its error is its reply",
        ),
        (Hook::HandlerFuture, Fault::Hang) => Outcome::Gap(
            "the stop neither waits for nor cancels a ResponseFuture: the child \
             drains at once, but the sender of that message waits forever (answer \
             with a ChildFuture instead)",
        ),
        (Hook::HandlerChildFuture, Fault::Error) => Outcome::NotApplicable(
            "a ChildFuture is a plain future, with no context to fail: its error is its reply",
        ),
        // The messages behind it are handled meanwhile: only its own is left.
        (Hook::HandlerChildFuture, Fault::Hang) => Outcome::TimedOut { undelivered: 1 },
        (
            Hook::Handler
            | Hook::HandlerWait
            | Hook::HandlerAtomic
            | Hook::HandlerActFuture
            | Hook::HandlerChildFuture,
            _,
        ) => restarted(Running),
        (Hook::Stopping, Fault::Hang) => Outcome::TimedOut { undelivered: 0 },
        (Hook::Stopped, Fault::Hang) => Outcome::NotApplicable(
            "`stopped` is synchronous and runs after the context stopped polling \
             futures: it cannot wait",
        ),
        (Hook::Stopping | Hook::Stopped, _) => restarted(Running),
        // The trigger's failure ends incarnation 1, then the restart fails.
        (Hook::Restarting, Fault::Panic) => Outcome::Restarted {
            failure: failure(Restarting),
            failures: 2,
        },
        (Hook::Restarting, Fault::Error) => Outcome::GivenUp {
            failure: ExpectedFailure {
                kind: FailureKind::Error,
                phase: Restarting,
                message: "did not install the fresh state".into(),
            },
            failures: 2,
        },
        (Hook::Restarting, Fault::Hang) => Outcome::NotApplicable(
            "`restarting` is synchronous (it installs the fresh value): it can only \
             hang by blocking the thread",
        ),
        (Hook::Tick, Fault::Hang) => hang,
        (Hook::Tick, _) => restarted(Running),
        (Hook::WorkerLoop, Fault::Hang) => Outcome::TimedOut { undelivered: 0 },
        (Hook::WorkerLoop, _) => restarted(Running),
    }
}

// ---------------------------------------------------------------------------
// The faulty children.

/// What a faulty child reports when it has entered its hang.
type HangLog = Recorder<Hook>;

/// An actor whose first incarnation fails in one hook, as told.
struct Faulty {
    incarnation: u64,
    /// The hook that fails in this incarnation, and how.
    fault: Option<(Hook, Fault)>,
    hung: HangLog,
}

impl Faulty {
    fn fault_in(&self, hook: Hook) -> Option<Fault> {
        self.fault.filter(|(h, _)| *h == hook).map(|(_, f)| f)
    }
}

impl Actor for Faulty {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        match self.fault_in(Hook::Started) {
            Some(Fault::Panic) => panic!("{}", injected(Hook::Started, Fault::Panic)),
            Some(Fault::Error) => fail(ctx, injected(Hook::Started, Fault::Error)),
            Some(Fault::Hang) => {
                self.hung.record(Hook::Started);
                ctx.wait(actix::fut::wrap_future(std::future::pending::<()>()));
            }
            None => {}
        }
    }

    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        match self.fault_in(Hook::Stopping) {
            Some(Fault::Panic) => panic!("{}", injected(Hook::Stopping, Fault::Panic)),
            Some(Fault::Error) => {
                fail(ctx, injected(Hook::Stopping, Fault::Error));
                Running::Stop
            }
            Some(Fault::Hang) => {
                self.hung.record(Hook::Stopping);
                Running::Continue
            }
            None => Running::Stop,
        }
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        match self.fault_in(Hook::Stopped) {
            Some(Fault::Panic) => panic!("{}", injected(Hook::Stopped, Fault::Panic)),
            Some(Fault::Error) => fail(ctx, injected(Hook::Stopped, Fault::Error)),
            Some(Fault::Hang) | None => {}
        }
    }
}

impl Supervised for Faulty {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // `self` is the ending incarnation's value; the fault is taken so
        // that a retry on the same value goes through.
        match self.fault.take() {
            Some((Hook::Restarting, Fault::Panic)) => {
                panic!("{}", injected(Hook::Restarting, Fault::Panic))
            }
            // The error a `restarting` can make: forgetting the fresh state.
            Some((Hook::Restarting, Fault::Error)) => {}
            _ => restart_fresh(self),
        }
    }
}

actix_supervisor::supervised!(Faulty, custom_restarting);

/// The work a handler waits on: fails or hangs as told, in `hook`.
fn faulty_work(
    hook: Hook,
    fault: Option<Fault>,
    hung: HangLog,
) -> impl ActorFuture<Faulty, Output = ()> {
    let work = async move {
        match fault {
            Some(Fault::Panic) => panic!("{}", injected(hook, Fault::Panic)),
            Some(Fault::Hang) => {
                hung.record(hook);
                std::future::pending::<()>().await;
            }
            Some(Fault::Error) | None => {}
        }
    };
    actix::fut::wrap_future::<_, Faulty>(work).map(move |(), _, ctx| {
        if fault == Some(Fault::Error) {
            fail(ctx, injected(hook, Fault::Error));
        }
    })
}

/// A synchronous handler; answers the incarnation.
#[derive(Message)]
#[rtype(result = "u64")]
struct Plain(Option<Fault>);

impl Handler<Plain> for Faulty {
    type Result = u64;
    fn handle(&mut self, Plain(fault): Plain, ctx: &mut Context<Self>) -> u64 {
        match fault {
            Some(Fault::Panic) => panic!("{}", injected(Hook::Handler, Fault::Panic)),
            Some(Fault::Error) => fail(ctx, injected(Hook::Handler, Fault::Error)),
            Some(Fault::Hang) | None => {}
        }
        self.incarnation
    }
}

/// A handler that makes the actor wait (`ctx.wait`) on its work.
#[derive(Message)]
#[rtype(result = "()")]
struct Waits(Fault);

impl Handler<Waits> for Faulty {
    type Result = ();
    fn handle(&mut self, Waits(fault): Waits, ctx: &mut Context<Self>) {
        ctx.wait(faulty_work(
            Hook::HandlerWait,
            Some(fault),
            self.hung.clone(),
        ));
    }
}

/// A handler answering through an `AtomicResponse`.
#[derive(Message)]
#[rtype(result = "u64")]
struct Atomic(Fault);

impl Handler<Atomic> for Faulty {
    type Result = AtomicResponse<Self, u64>;
    fn handle(&mut self, Atomic(fault): Atomic, _: &mut Context<Self>) -> Self::Result {
        let work = faulty_work(Hook::HandlerAtomic, Some(fault), self.hung.clone());
        AtomicResponse::new(Box::pin(work.map(|(), this, _| this.incarnation)))
    }
}

/// A handler answering through a `ResponseActFuture`.
#[derive(Message)]
#[rtype(result = "u64")]
struct ActFuture(Fault);

impl Handler<ActFuture> for Faulty {
    type Result = ResponseActFuture<Self, u64>;
    fn handle(&mut self, ActFuture(fault): ActFuture, _: &mut Context<Self>) -> Self::Result {
        let work = faulty_work(Hook::HandlerActFuture, Some(fault), self.hung.clone());
        Box::pin(work.map(|(), this, _| this.incarnation))
    }
}

/// A handler answering through a (detached) `ResponseFuture`.
#[derive(Message)]
#[rtype(result = "u64")]
struct Detached(Fault);

impl Handler<Detached> for Faulty {
    type Result = ResponseFuture<u64>;
    fn handle(&mut self, Detached(fault): Detached, _: &mut Context<Self>) -> Self::Result {
        let hung = self.hung.clone();
        Box::pin(async move {
            match fault {
                Fault::Panic => panic!("{}", injected(Hook::HandlerFuture, Fault::Panic)),
                Fault::Hang => {
                    hung.record(Hook::HandlerFuture);
                    std::future::pending::<()>().await;
                }
                Fault::Error => {}
            }
            0
        })
    }
}

/// A handler answering through a `ChildFuture`, which its child owns.
#[derive(Message)]
#[rtype(result = "u64")]
struct Owned(Fault);

impl Handler<Owned> for Faulty {
    type Result = ChildFuture<u64>;
    fn handle(&mut self, Owned(fault): Owned, _: &mut Context<Self>) -> Self::Result {
        let hung = self.hung.clone();
        let incarnation = self.incarnation;
        ChildFuture::new(async move {
            match fault {
                Fault::Panic => panic!("{}", injected(Hook::HandlerChildFuture, Fault::Panic)),
                Fault::Hang => {
                    hung.record(Hook::HandlerChildFuture);
                    std::future::pending::<()>().await;
                }
                Fault::Error => {}
            }
            incarnation
        })
    }
}

/// Ends the incarnation normally (`ctx.stop()`), which runs `stopping` and
/// `stopped`.
#[derive(Message)]
#[rtype(result = "()")]
struct Quit;

impl Handler<Quit> for Faulty {
    type Result = ();
    fn handle(&mut self, _: Quit, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// A tick that fails or hangs as told.
struct FaultyTick {
    fault: Option<Fault>,
    hung: HangLog,
}

impl Tick for FaultyTick {
    type Error = String;

    async fn tick(&mut self, _: &TickContext) -> Result<(), String> {
        match self.fault {
            Some(Fault::Panic) => panic!("{}", injected(Hook::Tick, Fault::Panic)),
            Some(Fault::Error) => Err(injected(Hook::Tick, Fault::Error)),
            Some(Fault::Hang) => {
                self.hung.record(Hook::Tick);
                std::future::pending().await
            }
            None => Ok(()),
        }
    }
}

/// A worker loop that fails or hangs (ignoring its token) as told.
struct FaultyWork {
    fault: Option<Fault>,
    hung: HangLog,
}

impl Work for FaultyWork {
    type Error = String;

    async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
        match self.fault {
            Some(Fault::Panic) => panic!("{}", injected(Hook::WorkerLoop, Fault::Panic)),
            Some(Fault::Error) => Err(injected(Hook::WorkerLoop, Fault::Error)),
            Some(Fault::Hang) => {
                self.hung.record(Hook::WorkerLoop);
                std::future::pending().await
            }
            None => {
                cx.token().cancelled().await;
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------
// One cell.

/// What the sender of the triggering message got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SenderGot {
    Answered,
    NoReply,
    Refused,
}

impl<T, M> From<Result<T, SendError<M>>> for SenderGot {
    fn from(result: Result<T, SendError<M>>) -> Self {
        match result {
            Ok(_) => SenderGot::Answered,
            Err(SendError::NoReply { .. }) => SenderGot::NoReply,
            Err(_) => SenderGot::Refused,
        }
    }
}

type Pending<T> = Pin<Box<dyn Future<Output = T>>>;

/// The faulty child of one cell, ready to be started, with its messages
/// already queued.
struct Subject {
    /// Taken when the child is added to the tree.
    spec: Option<AnyChildSpec>,
    /// The child's first start attempt.
    started: Pending<Result<(), StartError>>,
    /// The reply to the message that triggers the fault, if one does.
    trigger: Option<Pending<SenderGot>>,
}

fn started_of<A: Actor>(handle: &ChildHandle<A>) -> Pending<Result<(), StartError>> {
    let started = handle.started();
    Box::pin(async move { started.await.map(drop) })
}

fn reply_of<T, M: 'static>(
    reply: impl Future<Output = Result<T, SendError<M>>> + 'static,
) -> Option<Pending<SenderGot>> {
    Some(Box::pin(async move { SenderGot::from(reply.await) }))
}

/// Builds the faulty child of a cell and queues what triggers its fault.
fn subject(hook: Hook, fault: Fault, hung: HangLog) -> Subject {
    let behind = if fault == Fault::Hang {
        BEHIND_A_HANG
    } else {
        0
    };
    match hook {
        Hook::Tick => {
            // Ticks on demand (`TickNow`), so the faulty tick is the first.
            let schedule = Periodic::every(Duration::from_secs(1))
                .first_tick_after_interval()
                .failure_limit(1);
            let spec = ChildSpec::periodic("faulty", schedule, move |start| FaultyTick {
                fault: (start.incarnation() == 1).then_some(fault),
                hung: hung.clone(),
            })
            .grace(Grace::Duration(GRACE));
            let handle = spec.handle();
            let trigger = reply_of(handle.send(TickNow));
            for _ in 0..behind {
                handle.do_send(TickNow).expect("the child accepts work");
            }
            Subject {
                started: started_of(&handle),
                spec: Some(spec.into()),
                trigger,
            }
        }
        Hook::WorkerLoop => {
            let spec = ChildSpec::worker("faulty", move |start| FaultyWork {
                fault: (start.incarnation() == 1).then_some(fault),
                hung: hung.clone(),
            })
            .grace(Grace::Duration(GRACE));
            Subject {
                started: started_of(&spec.handle()),
                spec: Some(spec.into()),
                trigger: None,
            }
        }
        _ => faulty_actor(hook, fault, hung, behind),
    }
}

/// A [`Faulty`] whose first incarnation (or first factory call) fails in
/// `hook`, with the message that triggers it queued.
fn faulty_actor(hook: Hook, fault: Fault, hung: HangLog, behind: u64) -> Subject {
    let calls = AtomicU64::new(0);
    let factory_hung = hung.clone();
    let spec = ChildSpec::try_new("faulty", move || {
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        let first = call == 1;
        match (hook, fault) {
            (Hook::Factory, Fault::Panic) if first => panic!("{}", injected(hook, fault)),
            (Hook::Factory, Fault::Error) if first => return Err(injected(hook, fault)),
            _ => {}
        }
        Ok(Faulty {
            incarnation: call,
            fault: first.then_some((hook, fault)),
            hung: factory_hung.clone(),
        })
    })
    .grace(Grace::Duration(GRACE));
    let handle = spec.handle();
    let trigger = match hook {
        Hook::Handler => reply_of(handle.send(Plain(Some(fault)))),
        Hook::HandlerWait => reply_of(handle.send(Waits(fault))),
        Hook::HandlerAtomic => reply_of(handle.send(Atomic(fault))),
        Hook::HandlerActFuture => reply_of(handle.send(ActFuture(fault))),
        Hook::HandlerFuture => reply_of(handle.send(Detached(fault))),
        Hook::HandlerChildFuture => reply_of(handle.send(Owned(fault))),
        Hook::Stopping | Hook::Stopped if fault != Fault::Hang => reply_of(handle.send(Quit)),
        // Ends incarnation 1 with an error, so `restarting` runs.
        Hook::Restarting => reply_of(handle.send(Plain(Some(Fault::Error)))),
        _ => None,
    };
    for _ in 0..behind {
        handle.do_send(Plain(None)).expect("the child accepts work");
    }
    Subject {
        started: started_of(&handle),
        spec: Some(spec.into()),
        trigger,
    }
}

/// The tree a cell runs in, with the faulty child just added.
struct Tree {
    root: Addr<SupervisorActor>,
    events: EventStream,
    sibling: ChildHandle<Probe>,
    hung: Records<Hook>,
    subject: Subject,
}

impl Tree {
    async fn start(hook: Hook, fault: Fault) -> Tree {
        let (log, _) = recorder();
        let sibling_spec = probe_spec("sibling", log);
        let sibling = sibling_spec.handle();
        let root = SupervisorActor::builder("matrix")
            .child(sibling_spec)
            .start()
            .unwrap();
        // Subscribed before the faulty child starts: its factory runs as
        // it is added.
        let events = within(root.send(Subscribe::all())).await.unwrap();
        let (hang_log, hung) = recorder();
        let mut subject = subject(hook, fault, hang_log);
        let spec = subject.spec.take().expect("not added yet");
        within(root.send(StartChild::new(spec)))
            .await
            .unwrap()
            .unwrap();
        Tree {
            root,
            events,
            sibling,
            hung,
            subject,
        }
    }

    /// The faulty child's events up to (and with) the first that matches.
    async fn faulty_events_until(
        &mut self,
        last: impl Fn(&LifecycleEvent) -> bool,
    ) -> Vec<LifecycleEvent> {
        let mut seen = Vec::new();
        loop {
            let event = within(self.events.next()).await.expect("the tree is alive");
            if event.path.as_str() != FAULTY {
                continue;
            }
            let done = last(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    /// The sibling still answers, from its first incarnation.
    async fn assert_sibling_answers(&self) {
        within(self.sibling.send(Inc))
            .await
            .expect("the sibling keeps answering");
        assert_eq!(
            within(self.sibling.send(Get)).await.unwrap().0,
            1,
            "the sibling was never restarted"
        );
        assert_eq!(within(Bystander.start().send(Get)).await.unwrap(), (0, 42));
    }
}

#[track_caller]
fn assert_failure(failure: &actix_supervisor::snapshot::Failure, expected: &ExpectedFailure) {
    assert_eq!(
        (failure.kind, failure.phase),
        (expected.kind, expected.phase),
        "{failure}"
    );
    assert!(
        failure.message.contains(&expected.message),
        "{failure:?} does not say {:?}",
        expected.message
    );
}

/// Runs a cell whose child fails; returns the table's line.
async fn fails(hook: Hook, fault: Fault, expected: &Outcome) -> String {
    let (failure, failures, given_up) = match expected {
        Outcome::Restarted { failure, failures } => (failure, *failures, false),
        Outcome::GivenUp { failure, failures } => (failure, *failures, true),
        _ => unreachable!("not a failing cell"),
    };
    // Each failure started another incarnation (the last one, given up,
    // never ran).
    let restarts = if given_up { failures - 1 } else { failures };
    let mut tree = Tree::start(hook, fault).await;
    let ended = assert_failure_events(&mut tree, failure, failures, restarts, given_up).await;
    let recorded = assert_failure_recorded(&tree.root, failure, restarts, given_up).await;
    if let EventKind::Stopped { report } = &ended.kind {
        assert_eq!(
            report.outcome,
            StopOutcome::Failed(recorded.clone()),
            "{report}"
        );
    }
    assert_startup_handle(&mut tree.subject, failure).await;

    // The sender of the triggering message is never left hanging.
    let reply = match tree.subject.trigger.take() {
        Some(reply) => Some(within(reply).await),
        None => None,
    };
    if fault == Fault::Panic && hook.reply_comes_from_the_fault() {
        assert_eq!(
            reply,
            Some(SenderGot::NoReply),
            "the panicking message's sender"
        );
    }

    tree.assert_sibling_answers().await;
    let report = within(tree.root.send(Stop)).await.unwrap();
    let faulty_drained = report.find(FAULTY).unwrap().outcome == StopOutcome::Drained;
    assert_eq!(faulty_drained, !given_up, "{report}");
    assert!(report.find("/matrix/sibling").unwrap().is_drained());
    let state = if given_up { "given up" } else { "restarted" };
    let reply = reply.map_or(String::new(), |r| format!("; sender: {r:?}"));
    format!(
        "{state} after {failures} failure(s), {restarts} restart(s): `{recorded}` at \
         {FAULTY}{reply}; sibling answered; tree stopped"
    )
}

/// Reads the faulty child's events: a `Failed` for each failure (the last
/// one `failure`), then the next incarnation's `Started`, or, given up, the
/// child's `Stopped`, which it returns.
async fn assert_failure_events(
    tree: &mut Tree,
    failure: &ExpectedFailure,
    failures: u64,
    restarts: u64,
    given_up: bool,
) -> LifecycleEvent {
    let mut seen = tree
        .faulty_events_until(|e| match &e.kind {
            EventKind::Started => !given_up && e.incarnation == 1 + restarts,
            EventKind::Stopped { .. } => given_up,
            _ => false,
        })
        .await;
    let failed: Vec<_> = seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Failed { failure } => Some(failure.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len() as u64, failures, "{seen:#?}");
    assert_failure(failed.last().unwrap(), failure);
    seen.pop().expect("read up to it")
}

/// The snapshot counts the failure, with the path and the message; returns
/// the failure it recorded.
async fn assert_failure_recorded(
    root: &Addr<SupervisorActor>,
    failure: &ExpectedFailure,
    restarts: u64,
    given_up: bool,
) -> actix_supervisor::snapshot::Failure {
    let child = node(root, FAULTY).await;
    assert_eq!(child.path.as_str(), FAULTY);
    assert_eq!(child.restart_count, restarts, "{child:?}");
    let state = if given_up {
        NodeState::Failed
    } else {
        NodeState::Running
    };
    assert_eq!(child.state, state, "{child:?}");
    let recorded = child.last_failure.expect("the failure is recorded");
    assert_failure(&recorded, failure);
    recorded
}

/// The first start's handle tells a failed start from a later failure.
async fn assert_startup_handle(subject: &mut Subject, failure: &ExpectedFailure) {
    let started = within(subject.started.as_mut()).await;
    let failed_start = matches!(
        failure.phase,
        FailurePhase::Factory | FailurePhase::Starting
    );
    match &started {
        Err(StartError::StartFailed { path, reason }) if failed_start => {
            assert_eq!(path.as_str(), FAULTY);
            assert_failure(reason, failure);
        }
        Ok(()) if !failed_start => {}
        other => panic!("the startup handle answered {other:?}"),
    }
}

/// Runs a cell whose child hangs until its grace ends it (or the stop
/// cancels the hung work); returns the table's line.
async fn hangs(hook: Hook, expected: &Outcome) -> String {
    let mut tree = Tree::start(hook, Fault::Hang).await;
    if hook != Hook::Stopping {
        assert_eq!(tree.hung.next().await, hook, "the hang began");
        tree.assert_sibling_answers().await;
    }
    let began = Instant::now();
    let stopping = tree.root.send(StopChild::new("faulty"));
    if hook == Hook::Stopping {
        assert_eq!(tree.hung.next().await, hook, "the hang began");
        tree.assert_sibling_answers().await;
    }
    let report = within(stopping).await.unwrap().unwrap();
    let took = began.elapsed();
    assert_eq!(report.path.as_str(), FAULTY);
    let line = match expected {
        Outcome::TimedOut { undelivered } => {
            assert_eq!(report.outcome, StopOutcome::TimedOut, "{report}");
            assert_eq!(report.undelivered, *undelivered, "{report}");
            assert_about(took, GRACE);
            format!(
                "terminated at its grace ({}ms): TimedOut, {} undelivered",
                took.as_millis(),
                report.undelivered
            )
        }
        Outcome::Cancelled | Outcome::Gap(_) => {
            assert_eq!(report.outcome, StopOutcome::Drained, "{report}");
            assert!(took < GRACE, "the stop waited {took:?}");
            format!("drained at once ({}ms)", took.as_millis())
        }
        _ => unreachable!("not a hanging cell"),
    };
    // Its end shows as an event with the same report.
    let seen = tree
        .faulty_events_until(|e| matches!(e.kind, EventKind::Stopped { .. }))
        .await;
    assert!(matches!(&seen.last().unwrap().kind, EventKind::Stopped { report: r } if *r == report));
    let sender = match (expected, tree.subject.trigger.take()) {
        (Outcome::Gap(_), _) | (_, None) => String::new(),
        (_, Some(reply)) => {
            let reply = within(reply).await;
            if hook.reply_comes_from_the_fault() {
                assert_eq!(reply, SenderGot::NoReply, "the hung message's sender");
            }
            format!("; sender: {reply:?}")
        }
    };
    assert_eq!(node(&tree.root, FAULTY).await.state, NodeState::Stopped);
    tree.assert_sibling_answers().await;
    let whole = within(tree.root.send(Stop)).await.unwrap();
    assert_eq!(whole.find(FAULTY), Some(&report), "the same report");
    assert_eq!(
        whole.find("/matrix/sibling").unwrap().outcome,
        StopOutcome::Drained
    );
    format!("{line}{sender}; sibling answered; tree stopped")
}

/// Runs a cell whose promise the library does not keep; asserts what it
/// keeps and returns the table's line.
async fn gap(hook: Hook, fault: Fault, reason: &'static str) -> String {
    if fault == Fault::Hang {
        let line = hangs(hook, &Outcome::Gap(reason)).await;
        return format!("GAP: {reason} [{line}]");
    }
    let mut tree = Tree::start(hook, fault).await;
    let reply = within(tree.subject.trigger.take().unwrap()).await;
    assert_eq!(reply, SenderGot::NoReply, "the panicking message's sender");
    tree.assert_sibling_answers().await;
    let report = within(tree.root.send(Stop)).await.unwrap();
    assert!(report.is_drained(), "{report}");
    format!("GAP: {reason} [sender: {reply:?}; sibling answered; tree stopped]")
}

/// Runs one cell on an actix system of its own, under paused time, and
/// returns the table's line, or why the cell failed.
fn run_cell(hook: Hook, fault: Fault) -> Result<String, String> {
    let expected = expected(hook, fault);
    if let Outcome::NotApplicable(reason) = expected {
        return Ok(format!("n/a: {reason}"));
    }
    on_own_system(TIMEOUT, move || async move {
        match &expected {
            Outcome::Restarted { .. } | Outcome::GivenUp { .. } => {
                fails(hook, fault, &expected).await
            }
            Outcome::TimedOut { .. } | Outcome::Cancelled => hangs(hook, &expected).await,
            Outcome::Gap(reason) => gap(hook, fault, reason).await,
            Outcome::NotApplicable(_) => unreachable!("returned above"),
        }
    })
}

#[test]
fn every_fault_in_every_hook_is_contained_to_its_child() {
    silence_injected_panics();
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for hook in Hook::ALL {
        for fault in Fault::ALL {
            let line = run_cell(hook, fault).unwrap_or_else(|why| {
                failed.push(format!("{hook} x {fault}: {why}"));
                format!("FAILED: {why}")
            });
            rows.push((hook, fault, line));
        }
    }
    let applicable = rows
        .iter()
        .filter(|(_, _, line)| !line.starts_with("n/a"))
        .count();
    let gaps = rows
        .iter()
        .filter(|(_, _, line)| line.starts_with("GAP"))
        .count();
    println!(
        "\nFault matrix: {} cells, {applicable} checked ({gaps} gaps), {} n/a",
        rows.len(),
        rows.len() - applicable
    );
    println!("{:<28} {:<6} outcome", "hook", "fault");
    for (hook, fault, line) in &rows {
        println!("{:<28} {:<6} {line}", hook.to_string(), fault.to_string());
    }
    assert!(failed.is_empty(), "cells failed:\n{}", failed.join("\n"));
}

// ---------------------------------------------------------------------------
// What the matrix found.

/// A [`Faulty`] with no fault, under `policy`.
fn healthy(policy: RestartPolicy) -> ChildSpec<Faulty> {
    let (hung, _) = recorder();
    ChildSpec::new("faulty", move || Faulty {
        incarnation: 1,
        fault: None,
        hung: hung.clone(),
    })
    .restart(policy)
}

/// Regression: a child whose first incarnation ended in the very poll that
/// started it (its first message was already queued and failed it) was
/// never reported started: no `Started` event came before its `Failed`, and
/// its startup handle answered with a later failure, or "gone".
#[actix_rt::test]
async fn a_child_failed_by_its_first_message_is_reported_started_first() {
    let spec = healthy(RestartPolicy::Never);
    let handle = spec.handle();
    handle.do_send(Plain(Some(Fault::Error))).unwrap();
    let root = SupervisorActor::builder("matrix").start().unwrap();
    let mut events = within(root.send(Subscribe::all())).await.unwrap();
    within(root.send(StartChild::new(spec)))
        .await
        .unwrap()
        .unwrap();

    assert!(
        within(handle.started()).await.is_ok(),
        "`started` returned before the message failed the child"
    );
    let mut kinds = Vec::new();
    for _ in 0..3 {
        kinds.push(within(events.next()).await.unwrap().kind);
    }
    assert!(
        matches!(
            kinds.as_slice(),
            [
                EventKind::Started,
                EventKind::Failed { .. },
                EventKind::Stopped { .. }
            ]
        ),
        "{kinds:#?}"
    );
}

/// Regression: the startup handle's error named the child `/faulty` (its
/// name alone) when the handle was taken before the supervisor placed it.
#[actix_rt::test]
async fn a_failed_start_is_reported_with_the_full_path() {
    let spec = ChildSpec::try_new("faulty", || -> Result<Faulty, String> {
        Err(injected(Hook::Factory, Fault::Error))
    })
    .restart(RestartPolicy::Never);
    let started = spec.handle().started();
    let _root = SupervisorActor::builder("matrix")
        .child(spec)
        .start()
        .unwrap();
    match within(started).await {
        Err(StartError::StartFailed { path, .. }) => assert_eq!(path.as_str(), FAULTY),
        other => panic!("expected StartFailed, got {other:?}"),
    }
}

/// Promise 5 for a handler that awaits I/O (the GAP row of actix's
/// `ResponseFuture`): answered with a `ChildFuture`, the future runs in the
/// child, so its panic is the child's failure, restarted by its policy and
/// recorded with its path.
#[actix_rt::test]
async fn a_panic_in_a_child_future_is_a_failure_of_its_child() {
    silence_injected_panics();
    let spec = healthy(RestartPolicy::OnFailure);
    let handle = spec.handle();
    let root = SupervisorActor::builder("matrix")
        .child(spec)
        .start()
        .unwrap();
    let reply = within(handle.send(Owned(Fault::Panic))).await;
    assert!(matches!(reply, Err(SendError::NoReply { .. })));
    let child = node(&root, FAULTY).await;
    assert_eq!(child.restart_count, 1, "{child:?}");
    let failure = child.last_failure.expect("the failure is recorded");
    assert_eq!(failure.kind, FailureKind::Panic);
    assert!(failure
        .message
        .contains(&injected(Hook::HandlerChildFuture, Fault::Panic)));
}

/// Promise 6 for the same future when it never ends: once the child has
/// stopped (at the end of its grace), the message's sender gets an error,
/// not a wait forever, and the report counts the message undelivered.
#[actix_rt::test]
async fn the_sender_of_a_hung_child_future_gets_an_error_once_the_child_stopped() {
    tokio::time::pause();
    let spec = healthy(RestartPolicy::OnFailure);
    let handle = spec.handle();
    let _root = SupervisorActor::builder("matrix")
        .child(spec)
        .start()
        .unwrap();
    let reply = handle.send(Owned(Fault::Hang));
    let report = within(handle.stop()).await;
    assert_eq!(report.outcome, StopOutcome::TimedOut, "{report}");
    assert_eq!(report.undelivered, 1, "{report}");
    assert!(matches!(
        within(reply).await,
        Err(SendError::NoReply { .. })
    ));
}
