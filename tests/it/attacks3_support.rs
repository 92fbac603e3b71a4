//! Helpers of the `attacks3_*` modules: `Member`, a supervised actor that
//! counts its running incarnations (from `started` to `stopped`, or to its
//! drop when it panicked), the notes it handled, and can be made to stop,
//! fail, crash or hold its mailbox on request.
//!
//! Nothing here sleeps: the tests wait on replies, handles, reports and
//! events, under paused time where they run on one thread.
#![allow(dead_code)]

use crate::common::{within, Gate};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use actix_supervisor::snapshot::NodeState;
use actix_supervisor::{ChildHandle, ChildSpec, Inspect, NodeSnapshot, SupervisorActor};

/// One child's (or one pool's) incarnations: how many run now, the most
/// at once, how many were built and started, how many notes were handled.
#[derive(Default, Debug)]
pub struct Live {
    pub built: AtomicU64,
    pub started: AtomicU64,
    pub now: AtomicU64,
    pub most: AtomicU64,
    pub handled: AtomicU64,
}

impl Live {
    pub fn new() -> Arc<Live> {
        Arc::new(Live::default())
    }
    pub fn built(&self) -> u64 {
        self.built.load(Ordering::SeqCst)
    }
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }
    pub fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
    pub fn most(&self) -> u64 {
        self.most.load(Ordering::SeqCst)
    }
    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::SeqCst)
    }
}

/// Counts one running incarnation from `started` until `stopped` ran, or,
/// for an incarnation that panicked, until it is dropped.
struct Alive(Arc<Live>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a member does in `started`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Runs until told otherwise.
    Runs,
    /// `ctx.stop()` in `started`: a one-shot job done at once.
    StopsAtOnce,
    /// Panics in `started`, before it counts as running.
    Panics,
}

pub struct Member {
    pub name: String,
    pub incarnation: u64,
    pub start: Start,
    pub live: Arc<Live>,
    alive: Option<Alive>,
}

impl Member {
    /// A member built for `live`, counted in `live.built`.
    pub fn new(name: &str, incarnation: u64, start: Start, live: &Arc<Live>) -> Member {
        live.built.fetch_add(1, Ordering::SeqCst);
        Member {
            name: name.to_string(),
            incarnation,
            start,
            live: live.clone(),
            alive: None,
        }
    }
}

impl Actor for Member {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        self.live.started.fetch_add(1, Ordering::SeqCst);
        match self.start {
            Start::Runs => {
                let now = self.live.now.fetch_add(1, Ordering::SeqCst) + 1;
                self.live.most.fetch_max(now, Ordering::SeqCst);
                self.alive = Some(Alive(self.live.clone()));
            }
            Start::StopsAtOnce => ctx.stop(),
            Start::Panics => panic!("{} broke in started", self.name),
        }
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.alive = None;
    }
}
actix_supervisor::supervised!(Member);

/// A member called `name` that runs until told otherwise, its incarnations
/// numbered from 1 by its factory.
pub fn member(name: &str, live: &Arc<Live>) -> ChildSpec<Member> {
    let made = Arc::new(AtomicU64::new(0));
    let (owned, live) = (name.to_string(), live.clone());
    ChildSpec::new(name, move || {
        let incarnation = made.fetch_add(1, Ordering::SeqCst) + 1;
        Member::new(&owned, incarnation, Start::Runs, &live)
    })
}

/// Answers the incarnation that handled it.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct Which;

impl Handler<Which> for Member {
    type Result = u64;
    fn handle(&mut self, _: Which, _: &mut Context<Self>) -> u64 {
        self.incarnation
    }
}

/// Counted in `Live::handled`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Note;

impl Handler<Note> for Member {
    type Result = ();
    fn handle(&mut self, _: Note, _: &mut Context<Self>) {
        self.live.handled.fetch_add(1, Ordering::SeqCst);
    }
}

/// Panics in its handler.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

impl Handler<Crash> for Member {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("{} crashed", self.name);
    }
}

/// Ends the incarnation with `fail`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FailNow;

impl Handler<FailNow> for Member {
    type Result = ();
    fn handle(&mut self, _: FailNow, ctx: &mut Context<Self>) {
        actix_supervisor::fail(ctx, "failed on purpose");
    }
}

/// Ends the incarnation normally (`ctx.stop()`), after counting itself as
/// a handled note.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Done;

impl Handler<Done> for Member {
    type Result = ();
    fn handle(&mut self, _: Done, ctx: &mut Context<Self>) {
        self.live.handled.fetch_add(1, Ordering::SeqCst);
        ctx.stop();
    }
}

/// Makes the member wait (with `ctx.wait`) until the gate opens.
#[derive(Message)]
#[rtype(result = "()")]
pub struct HoldOn(pub Gate);

impl Handler<HoldOn> for Member {
    type Result = ();
    fn handle(&mut self, HoldOn(gate): HoldOn, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future::<_, Self>(gate.passed()));
    }
}

/// The node at `path`, if the tree lists it.
pub async fn node(app: &Addr<SupervisorActor>, path: &str) -> Option<NodeSnapshot> {
    let tree = within(app.send(Inspect)).await.unwrap();
    tree.find(path).cloned()
}

/// The names of `app`'s children, in the order listed.
pub async fn names(app: &Addr<SupervisorActor>) -> Vec<String> {
    let tree = within(app.send(Inspect)).await.unwrap();
    tree.root.children.iter().map(|c| c.name.clone()).collect()
}

/// Asserts that what the tree lists for `path` matches what runs: when
/// listed `Running`, one incarnation runs and the handle reaches the one
/// listed; when listed ended or not listed, nothing runs and the handle
/// refuses.
pub async fn assert_consistent(
    app: &Addr<SupervisorActor>,
    path: &str,
    handle: &ChildHandle<Member>,
    live: &Live,
) {
    let listed = settled(actix_supervisor::testkit::wait_until(app, |tree| {
        tree.find(path)
            .is_none_or(|n| n.state == NodeState::Running || n.state.is_terminal())
    }))
    .await;
    let listed = listed.find(path).cloned();
    assert!(
        live.most() <= 1,
        "{path}: {} incarnations at once",
        live.most()
    );
    match listed {
        Some(n) if n.state == NodeState::Running => {
            assert_eq!(live.now(), 1, "{path} listed running: {n:?}");
            assert!(handle.is_accepting(), "{path}");
            assert_eq!(
                within(handle.send(Which)).await.unwrap(),
                n.incarnation,
                "{path}: the handle reaches another incarnation than the one listed"
            );
        }
        other => {
            assert_eq!(live.now(), 0, "{path} listed {other:?} but runs");
            assert!(!handle.is_accepting(), "{path} listed {other:?}");
            assert!(handle.do_send(Note).is_err(), "{path} listed {other:?}");
        }
    }
}

/// Awaits a testkit wait (which fails on its own timeout), within the hang
/// guard too.
pub async fn settled<T: std::future::IntoFuture>(wait: T) -> T::Output {
    within(wait.into_future()).await
}
