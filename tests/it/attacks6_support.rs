//! Shared setup for the sixth outside attack (`attacks6_*.rs`): a periodic
//! task and a worker loop held at a gate the test opens, each ending the way
//! the test asks; a note that any of the attacked actors handles and books;
//! a way to run a future on another OS thread.
//!
//! Everything here uses the public API only, as an adversary who has read
//! the README, the rustdoc and `docs/`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use actix_supervisor::periodic::{PeriodicActor, Tick, TickContext};
use actix_supervisor::worker::{Work, WorkContext, WorkerActor};
use actix_supervisor::{ChildHandle, StartContext, StopReport};

use crate::common::{within, Gate};

/// How a held tick or loop ends once its gate opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Returns `Ok`.
    Ok,
    /// Returns an error.
    Err,
    /// Panics.
    Panic,
    /// Never returns (the gate is ignored): a tick timeout or a grace ends it.
    Hang,
}

/// What the attacked tasks write down, shared by every incarnation.
#[derive(Debug, Default)]
pub struct Book {
    /// Ids of the notes handled, in order, by any incarnation.
    notes: Mutex<Vec<u32>>,
    /// Each tick or loop that began: its incarnation (or tick number) and
    /// whether a stop had been requested when it began.
    runs: Mutex<Vec<(u64, bool)>>,
    /// Each held tick that ended: its tick number and whether it saw a
    /// stop (or restart) requested when its gate opened.
    ends: Mutex<Vec<(u64, bool)>>,
    /// Each note handled by a periodic task: its id and the incarnation
    /// (the factory's build number) whose task handled it.
    noted_by: Mutex<Vec<(u32, u64)>>,
    /// Incarnations built by the factory.
    built: AtomicU64,
}

impl Book {
    pub fn new() -> Arc<Book> {
        Arc::new(Book::default())
    }

    pub fn notes(&self) -> Vec<u32> {
        self.notes.lock().unwrap().clone()
    }

    pub fn runs(&self) -> Vec<(u64, bool)> {
        self.runs.lock().unwrap().clone()
    }

    pub fn ends(&self) -> Vec<(u64, bool)> {
        self.ends.lock().unwrap().clone()
    }

    pub fn noted_by(&self) -> Vec<(u32, u64)> {
        self.noted_by.lock().unwrap().clone()
    }

    pub fn built(&self) -> u64 {
        self.built.load(Ordering::SeqCst)
    }

    /// Asserts that every note handled was handled once.
    pub fn assert_no_note_twice(&self, case: &str) {
        let mut notes = self.notes();
        let all = notes.len();
        notes.sort_unstable();
        notes.dedup();
        assert_eq!(notes.len(), all, "{case}: a note was handled twice");
    }
}

/// A note: booked by the actor that handles it.
#[derive(Message)]
#[rtype(result = "u32")]
pub struct Note(pub u32, pub Arc<Book>);

/// A periodic task: its first tick (across incarnations) waits at the gate
/// (saying when it sees its token cancelled meanwhile), then ends as
/// `first` says; every later tick succeeds at once. Each tick that begins
/// and the held one's end are booked.
pub struct HeldTick {
    book: Arc<Book>,
    incarnation: u64,
    gate: Gate,
    first: Ending,
    entered: tokio::sync::mpsc::UnboundedSender<u64>,
    token_seen: tokio::sync::mpsc::UnboundedSender<u64>,
}

impl Tick for HeldTick {
    type Error = String;

    async fn tick(&mut self, cx: &TickContext) -> Result<(), String> {
        let first = {
            let mut runs = self.book.runs.lock().unwrap();
            runs.push((cx.tick_number(), cx.is_stop_requested()));
            runs.len() == 1
        };
        let _ = self.entered.send(cx.tick_number());
        if !first {
            return Ok(());
        }
        tokio::select! {
            _ = cx.token().cancelled() => {
                let _ = self.token_seen.send(cx.tick_number());
            }
            _ = self.gate.passed() => {}
        }
        if self.first == Ending::Hang {
            std::future::pending::<()>().await;
        }
        self.gate.passed().await;
        self.book
            .ends
            .lock()
            .unwrap()
            .push((cx.tick_number(), cx.is_stop_requested()));
        match self.first {
            Ending::Ok | Ending::Hang => Ok(()),
            Ending::Err => Err("the held tick failed".into()),
            Ending::Panic => panic!("the held tick panicked"),
        }
    }
}

impl Handler<Note> for PeriodicActor<HeldTick> {
    type Result = u32;
    fn handle(&mut self, note: Note, _: &mut Context<Self>) -> u32 {
        note.1.notes.lock().unwrap().push(note.0);
        let incarnation = self.task_mut().map_or(0, |task| task.incarnation);
        note.1.noted_by.lock().unwrap().push((note.0, incarnation));
        note.0
    }
}

/// A note answered by a [`ChildFuture`](actix_supervisor::ChildFuture)
/// that waits `.2` of (paused) time, then books the note and answers its id.
#[derive(Message)]
#[rtype(result = "u32")]
pub struct SlowNote(pub u32, pub Arc<Book>, pub std::time::Duration);

impl Handler<SlowNote> for PeriodicActor<HeldTick> {
    type Result = actix_supervisor::ChildFuture<u32>;
    fn handle(&mut self, note: SlowNote, _: &mut Context<Self>) -> Self::Result {
        let SlowNote(id, book, wait) = note;
        actix_supervisor::ChildFuture::new(async move {
            tokio::time::sleep(wait).await;
            book.notes.lock().unwrap().push(id);
            id
        })
    }
}

/// A worker loop: its first run (across incarnations) waits for its token
/// or the gate, then at the gate, then ends as `first` says (opening the gate
/// before any stop ends it on its own); every later run waits for its token
/// and returns `Ok`. Each run that begins is booked.
pub struct HeldLoop {
    book: Arc<Book>,
    gate: Gate,
    first: Ending,
    entered: tokio::sync::mpsc::UnboundedSender<u64>,
    token_seen: tokio::sync::mpsc::UnboundedSender<u64>,
}

impl Work for HeldLoop {
    type Error = String;

    async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
        let first = {
            let mut runs = self.book.runs.lock().unwrap();
            runs.push((cx.incarnation(), cx.is_stop_requested()));
            runs.len() == 1
        };
        let _ = self.entered.send(cx.incarnation());
        if !first {
            cx.token().cancelled().await;
            return Ok(());
        }
        tokio::select! {
            _ = cx.token().cancelled() => {
                let _ = self.token_seen.send(cx.incarnation());
            }
            _ = self.gate.passed() => {}
        }
        if self.first == Ending::Hang {
            std::future::pending::<()>().await;
        }
        self.gate.passed().await;
        match self.first {
            Ending::Ok | Ending::Hang => Ok(()),
            Ending::Err => Err("the held loop failed".into()),
            Ending::Panic => panic!("the held loop panicked"),
        }
    }
}

impl Handler<Note> for WorkerActor<HeldLoop> {
    type Result = u32;
    fn handle(&mut self, note: Note, _: &mut Context<Self>) -> u32 {
        note.1.notes.lock().unwrap().push(note.0);
        note.0
    }
}

/// What a test holds of a held task: the book, the gate, and the receiver of
/// the tick numbers (or incarnations) as each run begins.
pub struct Held {
    pub book: Arc<Book>,
    pub gate: Gate,
    pub entered: tokio::sync::mpsc::UnboundedReceiver<u64>,
    pub token_seen: tokio::sync::mpsc::UnboundedReceiver<u64>,
}

impl Held {
    /// Waits until the next tick or loop has begun; answers its number.
    pub async fn next_entered(&mut self) -> u64 {
        within(self.entered.recv())
            .await
            .expect("the task's sender lives in its factory")
    }

    /// Waits until the held first run saw its token cancelled (a stop or a
    /// restart began) while it waited at its gate.
    pub async fn token_cancelled(&mut self) -> u64 {
        within(self.token_seen.recv())
            .await
            .expect("the task's sender lives in its factory")
    }
}

/// The factory of a [`HeldTick`] and what the test holds of it.
pub fn held_tick(first: Ending) -> (impl FnMut(&StartContext) -> HeldTick + Send + 'static, Held) {
    let book = Book::new();
    let gate = Gate::new();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (seen_tx, seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let held = Held {
        book: book.clone(),
        gate: gate.clone(),
        entered: rx,
        token_seen: seen_rx,
    };
    let factory = move |_: &StartContext| {
        let incarnation = book.built.fetch_add(1, Ordering::SeqCst) + 1;
        HeldTick {
            book: book.clone(),
            incarnation,
            gate: gate.clone(),
            first,
            entered: tx.clone(),
            token_seen: seen_tx.clone(),
        }
    };
    (factory, held)
}

/// The factory of a [`HeldLoop`] and what the test holds of it.
pub fn held_loop(first: Ending) -> (impl FnMut(&StartContext) -> HeldLoop + Send + 'static, Held) {
    let book = Book::new();
    let gate = Gate::new();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (seen_tx, seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let held = Held {
        book: book.clone(),
        gate: gate.clone(),
        entered: rx,
        token_seen: seen_rx,
    };
    let factory = move |_: &StartContext| {
        book.built.fetch_add(1, Ordering::SeqCst);
        HeldLoop {
            book: book.clone(),
            gate: gate.clone(),
            first,
            entered: tx.clone(),
            token_seen: seen_tx.clone(),
        }
    };
    (factory, held)
}

/// How the notes sent to a child fared, as their senders saw it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fared {
    /// Answered with their id.
    pub answered: u64,
    /// Accepted, then never answered (`SendError::NoReply`).
    pub no_reply: u64,
    /// Refused by the handle: never accepted.
    pub refused: u64,
    /// Accepted, then given up by their requester before any answer.
    pub abandoned: u64,
}

impl std::ops::Add for Fared {
    type Output = Fared;
    fn add(self, other: Fared) -> Fared {
        Fared {
            answered: self.answered + other.answered,
            no_reply: self.no_reply + other.no_reply,
            refused: self.refused + other.refused,
            abandoned: self.abandoned + other.abandoned,
        }
    }
}

/// Sends notes `ids` through `handle` from spawned tasks, each awaited to
/// its answer; the returned task answers how they fared.
pub fn send_notes<A>(
    handle: &ChildHandle<A>,
    book: &Arc<Book>,
    ids: std::ops::Range<u32>,
) -> actix_rt::task::JoinHandle<Fared>
where
    A: actix_supervisor::plumbing::SupervisedHandler<Note>,
{
    let sends: Vec<_> = ids
        .map(|id| {
            let send = handle.send(Note(id, book.clone()));
            actix_rt::spawn(async move { send.await.map(|answer| (id, answer)) })
        })
        .collect();
    actix_rt::spawn(async move {
        let mut fared = Fared::default();
        for send in sends {
            match send.await.expect("a note's task panicked") {
                Ok((id, answer)) => {
                    assert_eq!(id, answer, "a note answered another's id");
                    fared.answered += 1;
                }
                Err(actix_supervisor::SendError::NoReply { .. }) => fared.no_reply += 1,
                Err(_) => fared.refused += 1,
            }
        }
        fared
    })
}

/// Sends notes `ids` through `handle`, each given up right after its first
/// poll (a zero timeout): answers how they fared (a note answered within
/// that poll counts as answered, not given up).
pub async fn abandon_notes<A>(
    handle: &ChildHandle<A>,
    book: &Arc<Book>,
    ids: std::ops::Range<u32>,
) -> Fared
where
    A: actix_supervisor::plumbing::SupervisedHandler<Note>,
{
    let mut fared = Fared::default();
    for id in ids {
        match tokio::time::timeout(
            std::time::Duration::ZERO,
            handle.send(Note(id, book.clone())),
        )
        .await
        {
            Err(_elapsed) => fared.abandoned += 1,
            Ok(Ok(_)) => fared.answered += 1,
            Ok(Err(actix_supervisor::SendError::NoReply { .. })) => fared.no_reply += 1,
            Ok(Err(_)) => fared.refused += 1,
        }
    }
    fared
}

/// Checks a child's report against what its senders saw: every note the
/// handle accepted is handled, cancelled or undelivered, exactly once; a
/// note answered was handled, a note never answered was not (unless its
/// requester gave up: a note given up may have been handled before, or
/// skipped and counted cancelled, or undelivered when the child ended for
/// good).
pub fn assert_accounts(report: &StopReport, fared: Fared, book: &Book, case: &str) {
    book.assert_no_note_twice(case);
    let handled = book.notes().len() as u64;
    assert!(
        handled >= fared.answered && handled <= fared.answered + fared.abandoned,
        "{case}: {handled} notes handled, {fared:?}: {report}"
    );
    assert!(
        report.undelivered >= fared.no_reply,
        "{case}: fewer undelivered than the senders' `NoReply`s ({fared:?}): {report}"
    );
    assert_eq!(
        handled + report.cancelled + report.undelivered,
        fared.answered + fared.no_reply + fared.abandoned,
        "{case}: handled + cancelled + undelivered is not what was accepted ({fared:?}): {report}"
    );
}

/// Runs the future `make` builds on a new OS thread (with a runtime of its
/// own) and hands its output back.
pub fn on_other_thread<F, T>(
    make: impl FnOnce() -> F + Send + 'static,
) -> tokio::sync::oneshot::Receiver<T>
where
    F: Future<Output = T>,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the other thread");
        let _ = tx.send(runtime.block_on(make()));
    });
    rx
}

/// Awaits what [`on_other_thread`] hands back, within the hang guard.
pub async fn joined<T>(rx: tokio::sync::oneshot::Receiver<T>) -> T {
    within(rx)
        .await
        .expect("the other thread ended without an answer")
}
