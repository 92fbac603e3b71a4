//! Shared by the `attacks4_*` and `attacks5_*` tests: `Flaky`, a supervised actor that ends
//! its incarnation on the messages told to (a panic, an error exit with
//! `fail`, a normal stop) and, if asked, in every other `started`; its
//! `Book` records every message each incarnation handled, so a test can
//! check that every accepted message was handled exactly once, in order.
//!
//! Nothing here sleeps or measures time.
#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix::prelude::*;

use crate::common::within;
use actix_supervisor::{ChildSpec, SupervisorActor};

/// How a handler (or `started`) ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum How {
    /// It returns normally.
    Run,
    /// It panics.
    Panic,
    /// It calls `actix_supervisor::fail`.
    Fail,
    /// It calls `ctx.stop()`.
    StopNormally,
}

/// One message handled: by which incarnation, from which sender, its
/// number in that sender's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seen {
    pub incarnation: u64,
    pub sender: u32,
    pub seq: u32,
}

/// What every incarnation of one `Flaky` child did.
#[derive(Debug, Default)]
pub struct Book {
    /// Every message handled, in the order handled.
    pub handled: Mutex<Vec<Seen>>,
    /// The incarnations whose `started` ran, in order.
    pub started: Mutex<Vec<u64>>,
    /// How many values the factory built.
    pub built: AtomicU64,
}

impl Book {
    pub fn new() -> Arc<Self> {
        Arc::new(Book::default())
    }

    pub fn handled(&self) -> Vec<Seen> {
        self.handled.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.handled.lock().unwrap().len()
    }

    pub fn started(&self) -> Vec<u64> {
        self.started.lock().unwrap().clone()
    }

    pub fn built(&self) -> u64 {
        self.built.load(Ordering::SeqCst)
    }

    /// Asserts that the messages handled are exactly `expected` (as
    /// `(sender, seq)`), each once, and that each sender's were handled in
    /// the order of its sequence numbers.
    #[track_caller]
    pub fn assert_each_once_in_order(&self, expected: &[(u32, u32)], case: &str) {
        let handled = self.handled();
        let mut seen = HashSet::new();
        for s in &handled {
            assert!(
                seen.insert((s.sender, s.seq)),
                "{case}: ({}, {}) handled twice: {handled:?}",
                s.sender,
                s.seq
            );
        }
        let wanted: HashSet<(u32, u32)> = expected.iter().copied().collect();
        let missing: Vec<_> = wanted.difference(&seen).collect();
        let extra: Vec<_> = seen.difference(&wanted).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{case}: missing {missing:?}, not sent {extra:?} ({} handled)",
            handled.len()
        );
        let mut last: std::collections::HashMap<u32, u32> = Default::default();
        for s in &handled {
            if let Some(prev) = last.insert(s.sender, s.seq) {
                assert!(
                    prev < s.seq,
                    "{case}: sender {} handled {} after {prev}",
                    s.sender,
                    s.seq
                );
            }
        }
    }
}

/// Which incarnations fail in `started`, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFails {
    /// None.
    Never,
    /// Every even incarnation (2, 4, 6, ...).
    EveryOther(How),
    /// Every incarnation.
    Always(How),
}

pub struct Flaky {
    pub incarnation: u64,
    pub book: Arc<Book>,
    pub start_fails: StartFails,
}

impl Actor for Flaky {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.book.started.lock().unwrap().push(self.incarnation);
        match self.start_fails {
            StartFails::EveryOther(how) if self.incarnation.is_multiple_of(2) => {
                end(how, ctx, "fails to start")
            }
            StartFails::Always(how) => end(how, ctx, "fails to start"),
            _ => {}
        }
    }
}

actix_supervisor::supervised!(Flaky);

fn end(how: How, ctx: &mut Context<Flaky>, what: &str) {
    match how {
        How::Run => {}
        How::Panic => panic!("{what}"),
        How::Fail => actix_supervisor::fail(ctx, what),
        How::StopNormally => ctx.stop(),
    }
}

/// A spec of a `Flaky` whose incarnations are numbered from 1.
pub fn flaky(name: &str, book: &Arc<Book>, start_fails: StartFails) -> ChildSpec<Flaky> {
    let book = book.clone();
    ChildSpec::new(name, move || Flaky {
        incarnation: book.built.fetch_add(1, Ordering::SeqCst) + 1,
        book: book.clone(),
        start_fails,
    })
}

/// Recorded in the book, then ends as told; answers the incarnation.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "u64")]
pub struct Job {
    pub sender: u32,
    pub seq: u32,
    pub how: How,
}

impl Job {
    pub fn new(sender: u32, seq: u32, how: How) -> Self {
        Job { sender, seq, how }
    }
}

impl Handler<Job> for Flaky {
    type Result = u64;
    fn handle(&mut self, job: Job, ctx: &mut Context<Self>) -> u64 {
        self.book.handled.lock().unwrap().push(Seen {
            incarnation: self.incarnation,
            sender: job.sender,
            seq: job.seq,
        });
        end(job.how, ctx, "fails on a message");
        self.incarnation
    }
}

/// Answers the incarnation; not recorded.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "u64")]
pub struct Which;

impl Handler<Which> for Flaky {
    type Result = u64;
    fn handle(&mut self, _: Which, _: &mut Context<Self>) -> u64 {
        self.incarnation
    }
}

/// Keeps panics quiet for the rest of the test binary's life (the tests
/// panic on purpose, by the hundred); a test's own failure still shows in
/// its result.
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !text.starts_with("fails ") {
                previous(info);
            }
        }));
    });
}

/// Recorded in the book when its handler runs; answers the incarnation
/// with a `ChildFuture` that waits for `gate` first.
#[derive(Message, Debug, Clone)]
#[rtype(result = "u64")]
pub struct Await {
    pub sender: u32,
    pub seq: u32,
    pub gate: crate::common::Gate,
}

impl Handler<Await> for Flaky {
    type Result = actix_supervisor::ChildFuture<u64>;
    fn handle(&mut self, msg: Await, _: &mut Context<Self>) -> Self::Result {
        self.book.handled.lock().unwrap().push(Seen {
            incarnation: self.incarnation,
            sender: msg.sender,
            seq: msg.seq,
        });
        let incarnation = self.incarnation;
        let passed = msg.gate.passed();
        actix_supervisor::ChildFuture::new(async move {
            passed.await;
            incarnation
        })
    }
}

/// Who stops the child (the last, `RemoveChild`, also takes it out of
/// the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopper {
    Handle,
    StopChild,
    ParentStop,
    RemoveChild,
}

pub const STOPPERS: [Stopper; 4] = [
    Stopper::Handle,
    Stopper::StopChild,
    Stopper::ParentStop,
    Stopper::RemoveChild,
];

pub async fn stop_by(
    stopper: Stopper,
    app: &Addr<actix_supervisor::SupervisorActor>,
    handle: &actix_supervisor::ChildHandle<Flaky>,
) -> actix_supervisor::StopReport {
    match stopper {
        Stopper::Handle => within(handle.stop()).await,
        Stopper::StopChild => within(app.send(actix_supervisor::StopChild::new("job")))
            .await
            .unwrap()
            .unwrap(),
        Stopper::RemoveChild => within(app.send(actix_supervisor::RemoveChild::new("job")))
            .await
            .unwrap()
            .unwrap(),
        Stopper::ParentStop => {
            let report = within(app.send(actix_supervisor::Stop)).await.unwrap();
            report
                .children
                .iter()
                .find(|c| c.path.as_str() == "/app/job")
                .cloned()
                .unwrap_or_else(|| panic!("no report of the job in {report}"))
        }
    }
}

/// Starts `spec` alone under a supervisor "app" with an unlimited restart
/// intensity (without waiting for the child's start).
pub fn supervise<A: actix_supervisor::SupervisedActor>(
    spec: ChildSpec<A>,
) -> (Addr<SupervisorActor>, actix_supervisor::ChildHandle<A>) {
    let handle = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(crate::common::unlimited())
        .child(spec)
        .start()
        .unwrap();
    (app, handle)
}

/// [`supervise`], then waits until the child's first start is over.
pub async fn start_alone<A: actix_supervisor::SupervisedActor>(
    spec: ChildSpec<A>,
) -> (Addr<SupervisorActor>, actix_supervisor::ChildHandle<A>) {
    let (app, handle) = supervise(spec);
    crate::common::within(handle.started()).await.unwrap();
    (app, handle)
}

/// A spec of a `Flaky` whose factory fails on the builds (numbered from
/// 1) for which `fails` is true; a failed build still takes its number.
pub fn flaky_try(
    name: &str,
    book: &Arc<Book>,
    start_fails: StartFails,
    fails: fn(u64) -> bool,
) -> ChildSpec<Flaky> {
    let book = book.clone();
    ChildSpec::try_new(name, move || {
        let incarnation = book.built.fetch_add(1, Ordering::SeqCst) + 1;
        if fails(incarnation) {
            return Err(format!("build {incarnation} fails"));
        }
        Ok(Flaky {
            incarnation,
            book: book.clone(),
            start_fails,
        })
    })
}
