//! Shared setup for the seventh outside attack (`attacks7_*.rs`): `Keeper`,
//! a plain supervised actor that books which incarnation handled each
//! message, can hold its mailbox (`ctx.wait`, `AtomicResponse`) or own a
//! `ChildFuture` until a gate opens, can refuse to stop (its `stopping`
//! answers `Running::Continue`) once or always, and can stop its own
//! child (or kill its tree) from inside, at a chosen point of a restart's
//! drain.
//!
//! Everything here uses the public API only, as an adversary who has read
//! the README, the rustdoc and `docs/`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use actix::prelude::*;
use actix_supervisor::{ChildFuture, ChildHandle, ChildSpec, Kill, SupervisorActor};

use crate::common::Gate;

/// How a `Keeper`'s `stopping` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refuse {
    /// `Running::Stop` at once.
    No,
    /// `Running::Continue` the first time (across incarnations), then `Stop`.
    Once,
    /// `Running::Continue` every time in incarnation 1; later ones stop.
    Always,
}

/// Where, inside the actor, the stop (or kill) is set off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Nowhere: the test stops the child itself.
    Nowhere,
    /// While any incarnation handles the `Bump` with this id.
    Bump(u32),
    /// In incarnation 1's `stopped` (right after a restart's marker stopped
    /// its context).
    Stopped,
    /// In incarnation 2's `started` (the fresh incarnation starting).
    Started2,
}

/// What is set off at [`At`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// `ChildHandle::stop` of the keeper itself.
    Stop,
    /// `Kill` to its supervisor.
    Kill,
}

/// What every incarnation of a `Keeper` writes down.
#[derive(Default)]
pub struct Book {
    /// `(message id, incarnation)` for each message handled.
    handled: Mutex<Vec<(u32, u64)>>,
    /// Incarnations built by the factory.
    built: AtomicU64,
    /// `stopping` calls answered `Continue`.
    refused: AtomicU64,
    /// Whether the trigger went off.
    fired: AtomicU64,
    /// The keeper's own handle, for a stop set off from inside.
    pub handle: OnceLock<ChildHandle<Keeper>>,
    /// Its supervisor, for a kill set off from inside.
    pub app: OnceLock<Addr<SupervisorActor>>,
}

impl Book {
    pub fn handled(&self) -> Vec<(u32, u64)> {
        self.handled.lock().unwrap().clone()
    }

    pub fn built(&self) -> u64 {
        self.built.load(Ordering::SeqCst)
    }

    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst) > 0
    }

    /// The incarnation that handled message `id`, if any; panics if two did.
    pub fn handled_by(&self, id: u32) -> Option<u64> {
        let by: Vec<u64> = self
            .handled()
            .into_iter()
            .filter(|&(m, _)| m == id)
            .map(|(_, i)| i)
            .collect();
        assert!(by.len() <= 1, "message {id} handled twice: {by:?}");
        by.first().copied()
    }

    fn book(&self, id: u32, incarnation: u64) {
        self.handled.lock().unwrap().push((id, incarnation));
    }
}

pub struct Keeper {
    pub incarnation: u64,
    pub book: Arc<Book>,
    refuse: Refuse,
    at: At,
    what: What,
}

impl Keeper {
    fn fire(&self, here: At) {
        if self.at != here || self.book.fired.fetch_add(1, Ordering::SeqCst) > 0 {
            return;
        }
        match self.what {
            What::Stop => {
                // Begins the stop now; the test awaits the same report later.
                drop(
                    self.book
                        .handle
                        .get()
                        .expect("the test set the handle")
                        .stop(),
                );
            }
            What::Kill => {
                self.book
                    .app
                    .get()
                    .expect("the test set the supervisor")
                    .do_send(Kill);
            }
        }
    }
}

impl Actor for Keeper {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        if self.incarnation == 2 {
            self.fire(At::Started2);
        }
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        let refuse = match self.refuse {
            Refuse::No => false,
            Refuse::Once => self.book.refused() == 0,
            Refuse::Always => self.incarnation == 1,
        };
        if refuse {
            self.book.refused.fetch_add(1, Ordering::SeqCst);
            Running::Continue
        } else {
            Running::Stop
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if self.incarnation == 1 {
            self.fire(At::Stopped);
        }
    }
}

actix_supervisor::supervised!(Keeper);

/// A spec for a `Keeper` named `name` whose incarnations are numbered
/// from 1, and its book.
pub fn keeper(name: &str, refuse: Refuse, at: At, what: What) -> (ChildSpec<Keeper>, Arc<Book>) {
    let book = Arc::new(Book::default());
    let shared = book.clone();
    let spec = ChildSpec::new(name, move || Keeper {
        incarnation: shared.built.fetch_add(1, Ordering::SeqCst) + 1,
        book: shared.clone(),
        refuse,
        at,
        what,
    });
    book.handle
        .set(spec.handle())
        .unwrap_or_else(|_| unreachable!("set once"));
    (spec, book)
}

/// Books its id; answers `(id, incarnation)`.
#[derive(Message)]
#[rtype(result = "(u32, u64)")]
pub struct Bump(pub u32);

impl Handler<Bump> for Keeper {
    type Result = MessageResult<Bump>;
    fn handle(&mut self, msg: Bump, _: &mut Context<Self>) -> Self::Result {
        self.book.book(msg.0, self.incarnation);
        self.fire(At::Bump(msg.0));
        MessageResult((msg.0, self.incarnation))
    }
}

/// Holds the mailbox with `ctx.wait` until the gate opens; books its id.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Hold(pub u32, pub Gate);

impl Handler<Hold> for Keeper {
    type Result = ();
    fn handle(&mut self, msg: Hold, ctx: &mut Context<Self>) {
        let Hold(id, gate) = msg;
        ctx.wait(
            actix::fut::wrap_future::<_, Self>(gate.passed()).map(move |(), this, _| {
                this.book.book(id, this.incarnation);
            }),
        );
    }
}

/// Holds the mailbox as an `AtomicResponse` until the gate opens; books
/// its id; answers `(id, incarnation)`.
#[derive(Message)]
#[rtype(result = "(u32, u64)")]
pub struct Atomic(pub u32, pub Gate);

impl Handler<Atomic> for Keeper {
    type Result = AtomicResponse<Self, (u32, u64)>;
    fn handle(&mut self, msg: Atomic, _: &mut Context<Self>) -> Self::Result {
        let Atomic(id, gate) = msg;
        AtomicResponse::new(Box::pin(
            actix::fut::wrap_future::<_, Self>(gate.passed()).map(move |(), this, _| {
                this.book.book(id, this.incarnation);
                (id, this.incarnation)
            }),
        ))
    }
}

/// Answered by a `ChildFuture` that waits for the gate, then books its id
/// (with the incarnation that handled the message); answers
/// `(id, incarnation)`.
#[derive(Message)]
#[rtype(result = "(u32, u64)")]
pub struct Slow(pub u32, pub Gate);

impl Handler<Slow> for Keeper {
    type Result = ChildFuture<(u32, u64)>;
    fn handle(&mut self, msg: Slow, _: &mut Context<Self>) -> Self::Result {
        let Slow(id, gate) = msg;
        let (book, incarnation) = (self.book.clone(), self.incarnation);
        ChildFuture::new(async move {
            gate.passed().await;
            book.book(id, incarnation);
            (id, incarnation)
        })
    }
}

/// How the messages sent to a child fared, as their senders saw it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fared {
    /// Answered.
    pub answered: u64,
    /// Accepted, then never answered (`SendError::NoReply`).
    pub no_reply: u64,
    /// Refused by the handle: never accepted.
    pub refused: u64,
    /// Given up by their requester (a timeout) before any answer.
    pub abandoned: u64,
    /// Accepted by `do_send`: no answer to wait for.
    pub fired: u64,
}

impl std::ops::Add for Fared {
    type Output = Fared;
    fn add(self, o: Fared) -> Fared {
        Fared {
            answered: self.answered + o.answered,
            no_reply: self.no_reply + o.no_reply,
            refused: self.refused + o.refused,
            abandoned: self.abandoned + o.abandoned,
            fired: self.fired + o.fired,
        }
    }
}

impl Fared {
    /// Adds what one send's result says.
    pub fn note<T, M>(&mut self, result: Result<T, actix_supervisor::SendError<M>>) {
        match result {
            Ok(_) => self.answered += 1,
            Err(actix_supervisor::SendError::NoReply { .. }) => self.no_reply += 1,
            Err(_) => self.refused += 1,
        }
    }

    /// The messages the handle accepted.
    pub fn accepted(&self) -> u64 {
        self.answered + self.no_reply + self.abandoned + self.fired
    }
}

/// Checks a child's report against its senders and its book: every message
/// accepted is handled, cancelled or undelivered exactly once
/// (`accepted = handled + cancelled + undelivered`); a message answered was
/// handled; a report that says `Drained` lost nothing (no sender was left
/// with `NoReply`, nothing undelivered).
pub fn assert_accounts(
    report: &actix_supervisor::StopReport,
    fared: Fared,
    book: &Book,
    case: &str,
) {
    let ids = book.handled().into_iter().map(|(id, _)| id).collect();
    assert_ids_account(report, fared, ids, case);
}

/// [`assert_accounts`] for the ids handled, as booked by any actor.
pub fn assert_ids_account(
    report: &actix_supervisor::StopReport,
    fared: Fared,
    mut ids: Vec<u32>,
    case: &str,
) {
    let handled = ids.len() as u64;
    ids.sort_unstable();
    let all = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), all, "{case}: a message was handled twice");
    assert!(
        handled >= fared.answered && handled <= fared.accepted(),
        "{case}: {handled} handled, {fared:?}: {report}"
    );
    assert_eq!(
        handled + report.cancelled + report.undelivered,
        fared.accepted(),
        "{case}: handled ({handled}) + cancelled + undelivered is not what was accepted \
         ({fared:?}): {report}"
    );
    if report.outcome == actix_supervisor::StopOutcome::Drained {
        assert_eq!(
            (report.undelivered, fared.no_reply),
            (0, 0),
            "{case}: the report says Drained, yet messages were lost ({fared:?}): {report}"
        );
    }
}
