//! Shared setup for the eighth outside attack (`attacks8_*.rs`): `Ender`, a
//! supervised actor that owns `ChildFuture`s held by gates and can end
//! itself (`ctx.stop()`, `fail`, a panic) when its token is cancelled or
//! when a gate opens, so that its own end lands in a chosen phase of a stop
//! or of a restart's drain.
//!
//! Public API only, as an adversary who has read the README, the rustdoc
//! and `docs/`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::plumbing::SupervisedHandler;
use actix_supervisor::{
    ChildFuture, ChildHandle, ChildSpec, Grace, RestartPolicy, SendError, StartContext,
};

use crate::attacks7_support::Fared;
use crate::common::{within, Gate};

/// How an `Ender` ends itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Never on its own.
    Never,
    /// `ctx.stop()`: a normal end.
    Stop,
    /// `actix_supervisor::fail`: an error exit.
    Fail,
}

/// What every incarnation of an `Ender` writes down.
#[derive(Default)]
pub struct Book {
    /// `(message id, incarnation)` for each message handled to its end
    /// (a `ChildFuture` that completed).
    handled: Mutex<Vec<(u32, u64)>>,
    /// Ids whose handler ran (their `ChildFuture` began).
    began: Mutex<Vec<u32>>,
    changed: tokio::sync::Notify,
    built: AtomicU64,
}

impl Book {
    pub fn handled(&self) -> Vec<(u32, u64)> {
        self.handled.lock().unwrap().clone()
    }

    pub fn ids(&self) -> Vec<u32> {
        self.handled().into_iter().map(|(id, _)| id).collect()
    }

    pub fn built(&self) -> u64 {
        self.built.load(Ordering::SeqCst)
    }

    fn book(&self, id: u32, incarnation: u64) {
        self.handled.lock().unwrap().push((id, incarnation));
        self.changed.notify_waiters();
    }

    fn begin(&self, id: u32) {
        self.began.lock().unwrap().push(id);
        self.changed.notify_waiters();
    }

    /// Waits (bounded) until the handlers of `n` `ChildFuture` messages ran.
    pub async fn began(&self, n: usize) {
        within(async {
            loop {
                let changed = self.changed.notified();
                if self.began.lock().unwrap().len() >= n {
                    return;
                }
                changed.await;
            }
        })
        .await;
    }
}

pub struct Ender {
    pub incarnation: u64,
    book: Arc<Book>,
    token: tokio_util::sync::CancellationToken,
    on_token: How,
}

fn end(how: How, ctx: &mut Context<Ender>) {
    match how {
        How::Never => {}
        How::Stop => ctx.stop(),
        How::Fail => actix_supervisor::fail(ctx, "ended on purpose"),
    }
}

impl Actor for Ender {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (token, how) = (self.token.clone(), self.on_token);
        if how != How::Never {
            ctx.spawn(
                actix::fut::wrap_future::<_, Self>(async move { token.cancelled().await })
                    .map(move |(), _, ctx: &mut Context<Self>| end(how, ctx)),
            );
        }
    }
}

actix_supervisor::supervised!(Ender);

/// A spec for an `Ender` called `name` (incarnations numbered from 1, a
/// grace no test reaches unless it says so), its handle and its book.
pub fn ender(
    name: &str,
    on_token: How,
    policy: RestartPolicy,
) -> (ChildSpec<Ender>, ChildHandle<Ender>, Arc<Book>) {
    let book = Arc::new(Book::default());
    let shared = book.clone();
    let spec = ChildSpec::with_context(name, move |start: &StartContext| Ender {
        incarnation: shared.built.fetch_add(1, Ordering::SeqCst) + 1,
        book: shared.clone(),
        token: start.token().clone(),
        on_token,
    })
    .restart(policy)
    .grace(Grace::Duration(Duration::from_secs(60)));
    let handle = spec.handle();
    (spec, handle, book)
}

/// Books its id at once; answers `(id, incarnation)`.
#[derive(Message)]
#[rtype(result = "(u32, u64)")]
pub struct Bump(pub u32);

impl Handler<Bump> for Ender {
    type Result = MessageResult<Bump>;
    fn handle(&mut self, msg: Bump, _: &mut Context<Self>) -> Self::Result {
        self.book.book(msg.0, self.incarnation);
        MessageResult((msg.0, self.incarnation))
    }
}

/// A `ChildFuture` that waits for the gate, then books its id and answers
/// `(id, incarnation)`; with `panics`, it panics instead.
#[derive(Message)]
#[rtype(result = "(u32, u64)")]
pub struct Slow {
    pub id: u32,
    pub gate: Gate,
    pub panics: bool,
}

pub fn slow(id: u32, gate: &Gate) -> Slow {
    Slow {
        id,
        gate: gate.clone(),
        panics: false,
    }
}

impl Handler<Slow> for Ender {
    type Result = ChildFuture<(u32, u64)>;
    fn handle(&mut self, msg: Slow, _: &mut Context<Self>) -> Self::Result {
        self.book.begin(msg.id);
        let (book, incarnation) = (self.book.clone(), self.incarnation);
        ChildFuture::new(async move {
            msg.gate.passed().await;
            if msg.panics {
                panic!("a ChildFuture panics on purpose");
            }
            book.book(msg.id, incarnation);
            (msg.id, incarnation)
        })
    }
}

/// Ends the incarnation (`how`) once the gate opens.
#[derive(Message)]
#[rtype(result = "()")]
pub struct EndOn(pub Gate, pub How);

impl Handler<EndOn> for Ender {
    type Result = ();
    fn handle(&mut self, EndOn(gate, how): EndOn, ctx: &mut Context<Self>) {
        ctx.spawn(
            actix::fut::wrap_future::<_, Self>(gate.passed())
                .map(move |(), _, ctx: &mut Context<Self>| end(how, ctx)),
        );
    }
}

/// Ends the incarnation (`how`) in its handler and answers with a
/// `ChildFuture` that is ready at its first poll (it books its id).
#[derive(Message)]
#[rtype(result = "(u32, u64)")]
pub struct ReadyAndEnd(pub u32, pub How);

impl Handler<ReadyAndEnd> for Ender {
    type Result = ChildFuture<(u32, u64)>;
    fn handle(
        &mut self,
        ReadyAndEnd(id, how): ReadyAndEnd,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        self.book.begin(id);
        end(how, ctx);
        let (book, incarnation) = (self.book.clone(), self.incarnation);
        ChildFuture::new(async move {
            book.book(id, incarnation);
            (id, incarnation)
        })
    }
}

/// The sends of a test, each in a task of its own, noted as their senders
/// saw them.
#[derive(Default)]
pub struct Senders(Vec<tokio::task::JoinHandle<Fared>>);

impl Senders {
    /// Sends `message` through `handle` in a task; `patience`, when given,
    /// is how long its requester waits before giving up (the `send` future
    /// dropped half-way).
    pub fn send<A, M>(&mut self, handle: &ChildHandle<A>, message: M, patience: Option<Duration>)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: SupervisedHandler<M>,
    {
        let sent = handle.send(message);
        self.0.push(tokio::task::spawn_local(async move {
            let mut fared = Fared::default();
            match patience {
                None => fared.note(sent.await),
                Some(patience) => match tokio::time::timeout(patience, sent).await {
                    Ok(result) => fared.note(result),
                    Err(_) => fared.abandoned += 1,
                },
            }
            fared
        }));
    }

    /// How every send fared, once each has its answer (bounded).
    pub async fn fared(self) -> Fared {
        let mut all = Fared::default();
        for task in self.0 {
            all = all + within(task).await.expect("a sender task panicked");
        }
        all
    }
}

/// `do_send` through `handle`, noted in `fared`.
pub fn fire<M>(handle: &ChildHandle<Ender>, message: M, fared: &mut Fared)
where
    M: Message + Send + 'static,
    M::Result: Send,
    Ender: SupervisedHandler<M>,
{
    match handle.do_send(message) {
        Ok(()) => fared.fired += 1,
        Err(SendError::NoReply { .. }) => unreachable!("do_send waits for no reply"),
        Err(_) => fared.refused += 1,
    }
}

/// Panics when dropped (unless the thread is already panicking).
pub struct PanicOnDrop;

/// How many `PanicOnDrop` were dropped.
pub static DOOMED_DROPS: AtomicU64 = AtomicU64::new(0);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        DOOMED_DROPS.fetch_add(1, Ordering::SeqCst);
        if !std::thread::panicking() {
            panic!("a ChildFuture's state panics as it is dropped");
        }
    }
}

/// A `ChildFuture` that never completes and whose state panics when it is
/// dropped (a guard of user code that panics in `Drop`).
#[derive(Message)]
#[rtype(result = "(u32, u64)")]
pub struct Doomed(pub u32);

impl Handler<Doomed> for Ender {
    type Result = ChildFuture<(u32, u64)>;
    fn handle(&mut self, Doomed(id): Doomed, _: &mut Context<Self>) -> Self::Result {
        self.book.begin(id);
        ChildFuture::new(async move {
            let _guard = PanicOnDrop;
            std::future::pending::<(u32, u64)>().await
        })
    }
}
