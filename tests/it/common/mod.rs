//! Helpers shared by the integration tests: a hang guard, a recorder of
//! events, and `Probe`, a supervised actor whose every move is recorded.
//!
//! Nothing here sleeps: tests wait on replies, on recorded events, or on
//! paused time.
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::{ChildSpec, Inspect, NodeSnapshot, SupervisorActor};
use tokio::sync::mpsc;

/// How late tokio's timer may end a sleep under paused time, and the
/// assertion that allows for it: the testkit's.
#[allow(unused_imports)]
pub use actix_supervisor::testkit::{assert_about, TIMER_SLACK};

/// A restart intensity that never trips, for tests that restart a child
/// many times on purpose.
pub fn unlimited() -> actix_supervisor::RestartIntensity {
    actix_supervisor::RestartIntensity::new(u32::MAX, Duration::from_secs(1))
}

/// Only a guard against hangs: every awaited thing in these tests has an
/// event, so this limit is never what a passing test waits for.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Awaits `fut`, failing the test if it does not finish within [`TIMEOUT`].
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .expect("timed out: something that should have happened did not")
}

/// The sending side of a recorder; clone it into actors and factories.
#[derive(Debug)]
pub struct Recorder<T>(mpsc::UnboundedSender<T>);

impl<T> Clone for Recorder<T> {
    fn clone(&self) -> Self {
        Recorder(self.0.clone())
    }
}

impl<T> Recorder<T> {
    pub fn record(&self, event: T) {
        let _ = self.0.send(event);
    }
}

/// The reading side of a recorder.
#[derive(Debug)]
pub struct Records<T>(mpsc::UnboundedReceiver<T>);

impl<T> Records<T> {
    /// The next event, waiting for it (within [`TIMEOUT`]).
    pub async fn next(&mut self) -> T {
        within(self.0.recv())
            .await
            .expect("every recorder was dropped")
    }

    /// Every event recorded so far, without waiting.
    pub fn drain(&mut self) -> Vec<T> {
        let mut events = Vec::new();
        while let Ok(event) = self.0.try_recv() {
            events.push(event);
        }
        events
    }
}

pub fn recorder<T>() -> (Recorder<T>, Records<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Recorder(tx), Records(rx))
}

/// What a [`Probe`] records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Started(u64),
    Handled { incarnation: u64, n: u32 },
    Stopping(u64),
    Stopped(u64),
}

/// A supervised actor that counts, records what it handles, and fails on
/// request. `incarnation` comes from its factory, so each restart shows.
pub struct Probe {
    pub incarnation: u64,
    pub count: u64,
    pub log: Recorder<Event>,
}

impl Actor for Probe {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.log.record(Event::Started(self.incarnation));
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        self.log.record(Event::Stopping(self.incarnation));
        Running::Stop
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.log.record(Event::Stopped(self.incarnation));
    }
}

actix_supervisor::supervised!(Probe);

/// A spec for a [`Probe`] whose incarnations are numbered from 1.
pub fn probe_spec(name: &str, log: Recorder<Event>) -> ChildSpec<Probe> {
    let made = Arc::new(AtomicU64::new(0));
    ChildSpec::new(name, move || Probe {
        incarnation: made.fetch_add(1, Ordering::SeqCst) + 1,
        count: 0,
        log: log.clone(),
    })
}

/// Adds one; answers the new count.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct Inc;

impl Handler<Inc> for Probe {
    type Result = u64;
    fn handle(&mut self, _: Inc, _: &mut Context<Self>) -> u64 {
        self.count += 1;
        self.count
    }
}

/// Answers `(incarnation, count)`.
#[derive(Message)]
#[rtype(result = "(u64, u64)")]
pub struct Get;

impl Handler<Get> for Probe {
    type Result = MessageResult<Get>;
    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.incarnation, self.count))
    }
}

/// Records `Handled { incarnation, n }`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Record(pub u32);

impl Handler<Record> for Probe {
    type Result = ();
    fn handle(&mut self, msg: Record, _: &mut Context<Self>) {
        self.log.record(Event::Handled {
            incarnation: self.incarnation,
            n: msg.0,
        });
    }
}

/// Panics with the given message.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Panic(pub &'static str);

impl Handler<Panic> for Probe {
    type Result = ();
    fn handle(&mut self, msg: Panic, _: &mut Context<Self>) {
        panic!("{}", msg.0);
    }
}

/// Ends the incarnation as an error exit with the given reason.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FailWith(pub String);

impl Handler<FailWith> for Probe {
    type Result = ();
    fn handle(&mut self, msg: FailWith, ctx: &mut Context<Self>) {
        actix_supervisor::fail(ctx, msg.0);
    }
}

/// Stops the incarnation normally with `ctx.stop()`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopNormally;

impl Handler<StopNormally> for Probe {
    type Result = ();
    fn handle(&mut self, _: StopNormally, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// The snapshot of the node at `path`, asked of `supervisor` now.
pub async fn node(supervisor: &Addr<SupervisorActor>, path: &str) -> NodeSnapshot {
    let tree = within(supervisor.send(Inspect))
        .await
        .expect("supervisor answers");
    tree.find(path)
        .unwrap_or_else(|| panic!("no node {path} in\n{tree}"))
        .clone()
}

/// A plain actix actor, unsupervised, to show the arbiter keeps working.
pub struct Bystander;

impl Actor for Bystander {
    type Context = Context<Self>;
}

impl Handler<Get> for Bystander {
    type Result = MessageResult<Get>;
    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> Self::Result {
        MessageResult((0, 42))
    }
}

/// A gate that futures wait on until the test opens it.
#[derive(Debug, Clone)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    pub fn new() -> Self {
        Gate(Arc::new(tokio::sync::watch::Sender::new(false)))
    }

    pub fn open(&self) {
        self.0.send_replace(true);
    }

    /// Completes once the gate is open; never, if it is dropped closed.
    pub fn passed(&self) -> impl Future<Output = ()> + 'static {
        let mut open = self.0.subscribe();
        async move {
            if open.wait_for(|open| *open).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// What a [`Tally`] records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TallyEvent {
    /// A held message's future finished.
    Released(u32),
    /// `stopped` ran, with the count at that moment.
    Stopped(u64),
}

/// A supervised actor that counts `Bump`s and can be made to wait on a gate.
pub struct Tally {
    pub count: u64,
    pub log: Recorder<TallyEvent>,
}

impl Actor for Tally {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.log.record(TallyEvent::Stopped(self.count));
    }
}

actix_supervisor::supervised!(Tally);

pub fn tally_spec(name: &str, log: Recorder<TallyEvent>) -> ChildSpec<Tally> {
    ChildSpec::new(name, move || Tally {
        count: 0,
        log: log.clone(),
    })
}

#[derive(Message)]
#[rtype(result = "u64")]
pub struct Bump;

impl Handler<Bump> for Tally {
    type Result = u64;
    fn handle(&mut self, _: Bump, _: &mut Context<Self>) -> u64 {
        self.count += 1;
        self.count
    }
}

/// Makes the actor wait (with `ctx.wait`) until the gate opens, then records
/// `Released(id)`. Nothing else is handled meanwhile.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Hold(pub u32, pub Gate);

impl Handler<Hold> for Tally {
    type Result = ();
    fn handle(&mut self, msg: Hold, ctx: &mut Context<Self>) {
        let Hold(id, gate) = msg;
        ctx.wait(
            actix::fut::wrap_future::<_, Self>(gate.passed()).map(move |(), this, _| {
                this.log.record(TallyEvent::Released(id));
            }),
        );
    }
}

/// Answers after waiting on the gate, as an `AtomicResponse` (the actor waits
/// too); replies with the count at that point.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct SlowCount(pub Gate);

impl Handler<SlowCount> for Tally {
    type Result = AtomicResponse<Self, u64>;
    fn handle(&mut self, msg: SlowCount, _: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(Box::pin(
            actix::fut::wrap_future::<_, Self>(msg.0.passed()).map(|(), this, _| this.count),
        ))
    }
}
