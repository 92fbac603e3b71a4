//! [`SupervisorActor`]: the actor that starts an ordered set of children from
//! their specs, supervises them, and answers control messages about them.
//!
//! The per-child work (containing panics, restarting in place, waiting out a
//! backoff, draining on stop) is done by each child's runner
//! ([`crate::child`]); the supervisor owns the child table
//! ([`children`]), the view of the tree, and the order of shutdown
//! ([`shutdown`]).

mod arbiter_pool;
mod builder;
mod by_path;
pub(crate) mod children;
mod nested;
mod park;
mod remote;
pub(crate) mod shutdown;
mod start_order;

pub use arbiter_pool::ArbiterPool;
pub use builder::SupervisorBuilder;

use std::cell::Cell;
use std::rc::Rc;

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, MessageResult,
    ResponseFuture,
};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use self::children::Children;
use crate::child::lifecycle::Notice;
use crate::child::link::{self, ChildEnv, ChildNotice, Command, StartAfter, SupervisorScope};
use crate::error::ControlError;
use crate::error::{check_name, BuildError};
use crate::messages::children::{RemoveChild, RestartChild, StartChild, StopChild};
use crate::messages::events::{EventKind, EventStream, Events, Subscribe, SubscribeRecipient};
use crate::messages::inspect::Inspect;
use crate::messages::stop::{Stop, StopOutcome, StopReport};
use crate::policy::{Grace, IntensityWindow, RestartPolicy, Strategy};
use crate::spec::AnyChildSpec;
use crate::tree::{Failure, NodeKind, NodePath, NodeSnapshot, NodeState, TreeSnapshot};
use std::cell::RefCell;

/// An actix actor that supervises an ordered set of children.
///
/// Build one with [`SupervisorActor::builder`]. Children start in the order
/// given, except that a child starts after the siblings it
/// [depends on](crate::ChildSpec::depends_on). When a child's incarnation
/// ends, its restart policy decides whether a fresh one starts, now or after a
/// backoff. Ask for the tree with [`Inspect`]; stop the subtree gracefully
/// with [`Stop`].
///
/// A supervisor runs until it is stopped, even when nobody holds its
/// address. After a `Stop`, it stays inspectable (its state `Stopped`) and
/// answers later `Stop`s with the same report, until every address to it is
/// dropped. If it ends otherwise ([`Kill`], or its system stopping), its
/// children are terminated at once.
///
/// [`Kill`]: crate::Kill
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::{ChildSpec, Inspect, Stop, SupervisorActor};
///
/// #[derive(Default)]
/// struct Counter(u64);
/// impl Actor for Counter { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Counter);
///
/// #[derive(Message)]
/// #[rtype(result = "u64")]
/// struct Increment;
/// impl Handler<Increment> for Counter {
///     type Result = u64;
///     fn handle(&mut self, _: Increment, _: &mut Context<Self>) -> u64 {
///         self.0 += 1;
///         self.0
///     }
/// }
///
/// # actix::System::new().block_on(async {
/// let counter = ChildSpec::new("counter", Counter::default);
/// let handle = counter.handle();
/// let app = SupervisorActor::builder("app").child(counter).start()?;
///
/// assert_eq!(handle.send(Increment).await?, 1);
/// let tree = app.send(Inspect).await?;
/// assert_eq!(tree.find("/app/counter").unwrap().incarnation, 1);
///
/// let report = app.send(Stop).await?;
/// assert!(report.is_drained());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct SupervisorActor {
    path: NodePath,
    grace: Grace,
    children: Children,
    /// Specs in start order, with the start-order indexes they depend on;
    /// started in `started`.
    pending: Vec<(AnyChildSpec, Vec<usize>)>,
    started_at: Instant,
    state: Rc<OwnState>,
    report: Rc<watch::Sender<Option<Rc<shutdown::Published>>>>,
    /// The supervisor's own address, held until it has stopped: a supervisor
    /// does not end because its users dropped their addresses.
    keep_alive: Option<Addr<SupervisorActor>>,
    events: Events,
    intensity: Rc<RefCell<IntensityWindow>>,
    last_failure: Option<Failure>,
    /// Cancelled once the supervisor has stopped or given up, or when it ends.
    token: CancellationToken,
    strategy: Strategy,
    /// Children that ended and wait for a strategy restart, oldest first;
    /// the first one's restart is under way.
    restarts: std::collections::VecDeque<ChildEnded>,
    /// The keys of children whose start waits out an earlier strategy
    /// restart's backoff (with how many restarts wait for it): a later
    /// restart, which does not wait for that backoff, leaves them to it.
    awaiting_start: Rc<RefCell<std::collections::HashMap<usize, u32>>>,
    /// The keys of children a `RemoveChild` is removing: it waits for their
    /// stop, and nothing starts them again meanwhile.
    removing: Vec<usize>,
    /// 1 for the first run; one more each time its subtree is restarted.
    incarnation: u64,
    /// Its place among its parent's children, when it is a child.
    as_child: Option<builder::AsChild>,
    /// What its children share, made when the first one starts.
    child_scope: Option<Rc<SupervisorScope>>,
    /// How many live children it takes at most (a pool's `max_children`).
    max_children: Option<usize>,
    #[cfg(feature = "testkit")]
    _live: crate::testkit::LiveActor,
}

/// A supervisor's own state, mirrored into its link in its parent when it is
/// a child, so the parent sees it without asking.
///
/// The link is weak: the link holds the supervisor's address, and a strong
/// link here would keep a nested supervisor alive forever once its tree is
/// dropped.
#[derive(Debug)]
pub(crate) struct OwnState {
    state: Cell<NodeState>,
    link: Option<std::rc::Weak<link::ChildLink>>,
    /// The number of the latest wait for the siblings it depends on.
    wait: Cell<u32>,
    /// On another arbiter: where its parent's relay waits for its end (see
    /// [`remote::AwaitEnd`]); the relay publishes it.
    relay: RefCell<Option<remote::EndSender>>,
}

impl OwnState {
    fn new(link: Option<Rc<link::ChildLink>>) -> Self {
        OwnState {
            state: Cell::new(NodeState::Starting),
            link: link.as_ref().map(Rc::downgrade),
            wait: Cell::new(0),
            relay: RefCell::new(None),
        }
    }

    /// Begins a new wait for the siblings it depends on; its number.
    fn next_wait(&self) -> u32 {
        self.wait.set(self.wait.get().wrapping_add(1));
        self.wait.get()
    }

    /// Whether `wait` is the latest wait.
    fn is_wait(&self, wait: u32) -> bool {
        self.wait.get() == wait
    }

    /// Its link in its parent, while the parent keeps it.
    pub(crate) fn link(&self) -> Option<Rc<link::ChildLink>> {
        self.link.as_ref().and_then(std::rc::Weak::upgrade)
    }

    fn get(&self) -> NodeState {
        self.state.get()
    }

    fn set(&self, state: NodeState) {
        self.state.set(state);
        if let Some(link) = self.link() {
            let mut record = link.record.borrow_mut();
            record.state = state;
            if state == NodeState::Running && record.started_at.is_none() {
                record.started_at = Some(Instant::now());
            }
            drop(record);
            // A subtree parked for a restart, or waiting for its own
            // dependencies, is no longer ready for its dependents.
            if matches!(state, NodeState::Restarting { .. } | NodeState::Waiting)
                && link.activity() == link::Activity::Ready
            {
                link.set_activity(link::Activity::Active);
            }
        }
    }

    /// Records the failure that made the supervisor give up.
    fn set_failure(&self, failure: &Failure) {
        if let Some(link) = self.link() {
            link.record.borrow_mut().last_failure = Some(Box::new(failure.clone()));
        }
    }
}

/// A child whose incarnation ended under a strategy other than one-for-one:
/// it waits, parked, for its siblings' restart.
#[derive(Debug)]
pub(crate) struct ChildEnded {
    pub(crate) index: usize,
    pub(crate) delay: std::time::Duration,
}

impl SupervisorActor {
    /// Starts describing a supervisor called `name`.
    pub fn builder(name: impl Into<String>) -> SupervisorBuilder {
        SupervisorBuilder::new(name.into())
    }

    /// This supervisor's path.
    pub fn path(&self) -> &NodePath {
        &self.path
    }

    fn snapshot(&self) -> NodeSnapshot {
        // Made at its size at once: grown by doubling, the vector of a
        // large table takes a chain of ever larger blocks, each of which
        // can need fresh heap (see `docs/pool.md`).
        let mut children = Vec::with_capacity(self.children.len());
        children.extend(self.children.iter().map(|link| link.snapshot(Vec::new())));
        let state = self.state.get();
        NodeSnapshot {
            name: self.path.name().to_string(),
            path: self.path.clone(),
            kind: NodeKind::Supervisor,
            state,
            incarnation: self.incarnation,
            restart_count: self.incarnation - 1,
            last_failure: self.last_failure.clone(),
            uptime: matches!(state, NodeState::Running | NodeState::Stopping)
                .then(|| self.started_at.elapsed()),
            task: None,
            children,
            policy: self.policy(),
        }
    }

    /// The policy it was configured with.
    fn policy(&self) -> crate::tree::NodePolicy {
        let mut policy = crate::tree::NodePolicy::default();
        if let Some(builder::AsChild::Local { rules, .. }) = &self.as_child {
            policy.restart = Some(rules.policy());
            policy.backoff = rules.backoff().cloned();
        }
        policy.grace = Some(self.grace);
        policy.strategy = Some(self.strategy);
        policy.intensity = Some(self.intensity.borrow().intensity());
        policy
    }
}

impl SupervisorActor {
    /// Starts `spec` as the next child, depending on the children at the
    /// indexes `depends_on`.
    fn start_child(&mut self, spec: AnyChildSpec, depends_on: Vec<usize>, ctx: &mut Context<Self>) {
        let common = spec.0.common();
        // The siblings it waits for (`Vec::new` allocates nothing for a
        // child without dependencies).
        let start_after = StartAfter {
            links: depends_on
                .iter()
                .filter_map(|&i| self.children.get(i).cloned())
                .collect(),
            timeout: common
                .start_timeout
                .unwrap_or(crate::spec::DEFAULT_START_TIMEOUT),
        };
        let env = ChildEnv {
            path: spec.0.assigned_path(),
            restart: common.restart,
            backoff: common.backoff.cloned().map(Box::new),
            grace: common.grace,
            index: self.children.next_index(),
            scope: self.child_scope(ctx),
            remove_on_exit: spec.0.removes_on_exit(),
            incarnations: 0,
            start_after,
        };
        let link = spec.0.start(env);
        self.children.push(link, depends_on);
    }

    /// What every child of this supervisor shares.
    fn child_scope(&mut self, ctx: &mut Context<Self>) -> Rc<SupervisorScope> {
        self.child_scope
            .get_or_insert_with(|| {
                Rc::new(SupervisorScope {
                    supervisor: ctx.address().recipient().downgrade(),
                    events: self.events.clone(),
                    intensity: self.intensity.clone(),
                    token: std::sync::Arc::new(self.token.clone()),
                    strategy: self.strategy,
                    finished: Default::default(),
                    shutting_down: Cell::new(false),
                })
            })
            .clone()
    }

    /// Whether the supervisor has begun stopping (or has stopped, or failed).
    fn is_ending(&self) -> bool {
        matches!(
            self.state.get(),
            NodeState::Stopping | NodeState::Stopped | NodeState::Failed
        )
    }
}

impl Actor for SupervisorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::info!(path = %self.path, children = self.pending.len(), "supervisor started");
        self.started_at = Instant::now();
        self.keep_alive = Some(ctx.address());
        self.start_when_ready(start_order::Then::StartPending, ctx);
    }

    /// Whatever ended the supervisor (a `Stop` that finished, [`Kill`], its
    /// system stopping), its children are killed, and, unless a stop
    /// already publishes one, its end is published: the report (once every
    /// child reported) reaches its parent's link and the `Stop`s waiting on
    /// it, so nothing waits for a supervisor that is gone.
    ///
    /// [`Kill`]: crate::Kill
    fn stopped(&mut self, _: &mut Context<Self>) {
        for child in self.children.iter() {
            child.command(Command::Kill);
        }
        self.token.cancel();
        if !self.is_ending() {
            tracing::warn!(path = %self.path, "supervisor terminated; its children are killed");
            self.state.set(NodeState::Stopped);
            let links: Vec<Rc<link::ChildLink>> = self.children.iter().cloned().collect();
            let children: Vec<_> = links.iter().map(|link| link.shared.report()).collect();
            let (path, state, report, events) = (
                self.path.clone(),
                self.state.clone(),
                self.report.clone(),
                self.events.clone(),
            );
            actix_rt::spawn(async move {
                let children = futures_util::future::join_all(children).await;
                let stopped = StopReport {
                    path: path.clone(),
                    outcome: StopOutcome::TimedOut,
                    drained: 0,
                    undelivered: 0,
                    cancelled: 0,
                    duration: std::time::Duration::ZERO,
                    children,
                    ended_on_its_own: false,
                };
                publish(stopped, links, &state, &events, report);
            });
        }
        tracing::info!(path = %self.path, "supervisor stopped");
    }
}

impl Handler<Inspect> for SupervisorActor {
    type Result = ResponseFuture<TreeSnapshot>;

    /// Each supervisor's part of the snapshot is taken when it handles the
    /// message; nested supervisors are asked in turn, in start order.
    fn handle(&mut self, _: Inspect, _: &mut Context<Self>) -> Self::Result {
        let mut root = self.snapshot();
        // A nested supervisor that waits for its siblings has not run yet
        // (on another arbiter, it is not even spawned): its record says all
        // there is, and asking it would wait for it to start.
        let nested: Vec<_> = self
            .children
            .iter()
            .map(|link| {
                let waiting = link.record.borrow().state == NodeState::Waiting;
                nested::address_of(link).filter(|_| !waiting)
            })
            .collect();
        Box::pin(async move {
            for (child, nested) in root.children.iter_mut().zip(nested) {
                if let Some(addr) = nested {
                    if let Ok(subtree) = addr.send(Inspect).await {
                        *child = subtree.root;
                    }
                }
            }
            TreeSnapshot::new(root)
        })
    }
}

/// Why a supervisor stops its children.
enum ShutdownCause {
    /// A `Stop`: it ends `Stopped`.
    Stop,
    /// Its restart intensity was exceeded: it ends `Failed`.
    GiveUp(Failure),
}

impl SupervisorActor {
    /// Stops every child in shutdown order, then publishes the report and
    /// releases the supervisor's hold on itself. Does nothing if a shutdown
    /// already began.
    fn begin_shutdown(&mut self, cause: ShutdownCause) {
        if self.is_ending() {
            return;
        }
        self.state.set(NodeState::Stopping);
        if let Some(scope) = &self.child_scope {
            scope.shutting_down.set(true);
        }
        self.events
            .emit(&self.path, self.incarnation, || EventKind::Stopping);
        // Children never started (it waited for its dependencies): their
        // handles answer at once, what they accepted reported undelivered.
        self.pending.clear();
        let children = self.children.for_shutdown();
        let (path, grace) = (self.path.clone(), self.grace);
        let (state, report, events) =
            (self.state.clone(), self.report.clone(), self.events.clone());
        // Released once the report is out: from then on the supervisor
        // lives as long as someone holds its address, to be inspected.
        let keep_alive = self.keep_alive.take();
        let token = self.token.clone();
        let links: Vec<_> = children.iter().map(|(link, _)| link.clone()).collect();
        actix_rt::spawn(
            async move {
                let mut stopped = shutdown::shut_down(path.clone(), children, grace).await;
                // Nothing starts again under a supervisor that stopped, and a
                // kept factory may hold the supervisor's own address.
                for link in &links {
                    link.drop_kept();
                }
                match cause {
                    ShutdownCause::Stop => {
                        tracing::info!(path = %path, outcome = ?stopped.outcome, "supervisor stopped its children");
                        state.set(NodeState::Stopped);
                    }
                    ShutdownCause::GiveUp(failure) => {
                        tracing::error!(path = %path, reason = %failure.message, "supervisor gave up");
                        state.set_failure(&failure);
                        state.set(NodeState::Failed);
                        events.emit(&path, 1, || EventKind::GaveUp { failure: failure.clone() });
                        stopped.outcome = StopOutcome::Failed(failure);
                        stopped.ended_on_its_own = true;
                    }
                }
                token.cancel();
                publish(stopped, links, &state, &events, report);
                drop(keep_alive);
            }
            .in_current_span(),
        );
    }
}

/// Publishes a supervisor's final report, whose children's reports are
/// those of `links`: into its link in its parent (a nested supervisor,
/// whose parent's relay tells its end) or as a `Stopped` event (a root,
/// which tells its own), and to the `Stop`s it answers. Copied only for a
/// listener of events and for each `Stop` after the first.
fn publish(
    stopped: StopReport,
    links: Vec<Rc<link::ChildLink>>,
    state: &OwnState,
    events: &Events,
    report: Rc<watch::Sender<Option<Rc<shutdown::Published>>>>,
) {
    // On another arbiter, its parent's relay takes its end and publishes
    // its event; its `Stop`s are answered once the relay is done: by then
    // the parent's link is done (and a temporary one asked its parent to
    // take it out of the table), as for a nested supervisor on the
    // parent's thread. A relay gone (it reported a kill, or the parent is
    // gone) published what there is to publish: its `Stop`s answer at once.
    let relay = state.relay.borrow_mut().take();
    if let Some(relay) = relay {
        let (settled, on_settled) = tokio::sync::oneshot::channel();
        if relay.send((stopped.clone(), settled)).is_ok() {
            actix_rt::spawn(async move {
                let _ = on_settled.await;
                publish_own(stopped, links, None, &report);
            });
        } else {
            publish_own(stopped, links, None, &report);
        }
        return;
    }
    let published = match state.link() {
        Some(link) => {
            let own = shutdown::without_children(&stopped);
            // Done before the report is out, and a temporary one asks its
            // parent to take it out of the table first: whoever waited for
            // the report and then asks the parent finds it gone.
            link.set_activity(link::Activity::Done);
            link.finished();
            link.finish(Box::new(stopped));
            shutdown::Published::copies_only(own, links)
        }
        None => return publish_own(stopped, links, Some(events), &report),
    };
    report.send_replace(Some(Rc::new(published)));
}

/// Publishes the final report of a supervisor that tells its own end (a
/// root, or one on another arbiter): its `Stopped` event (unless its relay
/// published it: `events` is `None`), then the `Stop`s it answers.
fn publish_own(
    stopped: StopReport,
    links: Vec<Rc<link::ChildLink>>,
    events: Option<&Events>,
    report: &watch::Sender<Option<Rc<shutdown::Published>>>,
) {
    if let Some(events) = events {
        events.emit(&stopped.path, 1, || EventKind::Stopped {
            report: stopped.clone(),
        });
    }
    report.send_replace(Some(Rc::new(shutdown::Published::new(stopped, links))));
}

impl Handler<Stop> for SupervisorActor {
    type Result = ResponseFuture<StopReport>;

    fn handle(&mut self, _: Stop, _: &mut Context<Self>) -> Self::Result {
        tracing::info!(path = %self.path, "stopping supervisor");
        self.begin_shutdown(ShutdownCause::Stop);
        let mut reports = self.report.subscribe();
        Box::pin(async move {
            let published = reports
                .wait_for(Option::is_some)
                .await
                .expect("the shutdown task keeps the sender until it publishes")
                .clone()
                .expect("waited for a report");
            published.take()
        })
    }
}

impl SupervisorActor {
    /// Runs the strategy restart at the head of the queue: stops the
    /// siblings in reverse start order (each by its policy: a `Never` one is
    /// drained and ends for good, the others are drained for the restart),
    /// then, while the next restart in the queue goes on, waits out the
    /// failed child's backoff and starts the failed child and the siblings
    /// that restart, in start order (but not those an earlier restart still
    /// has to start after its own backoff).
    fn run_next_restart(&mut self, ctx: &mut Context<Self>) {
        let Some(ended) = self.restarts.front() else {
            return;
        };
        if self.is_ending() {
            return;
        }
        let (failed, delay) = (ended.index, ended.delay);
        let Some(failed_link) = self.children.get(failed).cloned() else {
            // Removed meanwhile: nothing to restart.
            self.restarts.pop_front();
            return self.run_next_restart(ctx);
        };
        let siblings = self.strategy_siblings(failed);
        tracing::warn!(
            path = %self.path,
            child = %failed_link.path(),
            strategy = ?self.strategy,
            siblings = siblings.len(),
            "restarting siblings with a child"
        );
        // Stopping the siblings is one restart at a time; waiting out the
        // backoff is not: a later restart (of a child without one) does not
        // wait for it, and leaves the children still waiting for their own
        // start to it.
        let stop_siblings = {
            let siblings = siblings.clone();
            async move {
                for (_, sibling) in siblings.iter().rev() {
                    sibling.command(bystander_command(sibling));
                    sibling.at_rest().await;
                }
            }
        };
        let mut to_start = siblings;
        to_start.push((failed, failed_link));
        to_start.sort_by_key(|(index, _)| *index);
        let awaiting = self.awaiting_start.clone();
        let start = async move {
            // Children an earlier restart still has to start after its
            // backoff are its to start.
            to_start.retain(|(index, _)| !awaiting.borrow().contains_key(index));
            for (index, _) in &to_start {
                *awaiting.borrow_mut().entry(*index).or_default() += 1;
            }
            tokio::time::sleep(delay).await;
            for (index, link) in to_start {
                let mut waiting = awaiting.borrow_mut();
                if let Some(count) = waiting.get_mut(&index) {
                    *count -= 1;
                    if *count == 0 {
                        waiting.remove(&index);
                    }
                }
                drop(waiting);
                link.command(Command::Start);
            }
        };
        // Abandoned once the supervisor has stopped: a pending restart must
        // not keep a stopped supervisor alive through its backoff.
        let stopped = self.token.clone();
        ctx.spawn(
            actix::fut::wrap_future::<_, Self>(async move {
                tokio::select! {
                    () = stopped.cancelled() => {}
                    () = stop_siblings => {}
                }
            })
            .map(move |(), this, ctx| {
                let stopped = this.token.clone();
                ctx.spawn(actix::fut::wrap_future::<_, Self>(async move {
                    tokio::select! {
                        () = stopped.cancelled() => {}
                        () = start => {}
                    }
                }));
                this.restarts.pop_front();
                this.run_next_restart(ctx);
            }),
        );
    }
}

impl SupervisorActor {
    /// The siblings a strategy restart of child `failed` takes along, with
    /// their keys, in start order.
    fn strategy_siblings(&self, failed: usize) -> Vec<(usize, Rc<link::ChildLink>)> {
        if self.strategy == Strategy::OneForOne {
            return Vec::new();
        }
        let live: Vec<_> = self.children.indexed().collect();
        let Some(at) = live.iter().position(|&(key, _)| key == failed) else {
            return Vec::new();
        };
        self.strategy
            .siblings(at, live.len())
            .into_iter()
            .map(|position| (live[position].0, live[position].1.clone()))
            .collect()
    }
}

/// What a strategy restart tells a bystander, by its policy: a `Never`
/// child runs once, so it is stopped (drained, its report published) and
/// ends for good, as OTP ends a `temporary` bystander; an `OnFailure` or
/// `Always` child is drained for the restart and started again with the
/// others. An `OnFailure` bystander restarts because it did not end on its
/// own: the strategy ended it, and the policy is about how a child ends by
/// itself (OTP restarts a `transient` bystander too).
fn bystander_command(sibling: &link::ChildLink) -> Command {
    if sibling.rules.borrow().policy() == RestartPolicy::Never {
        Command::Stop
    } else {
        Command::Restart
    }
}

impl Handler<ChildNotice> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, notice: ChildNotice, ctx: &mut Context<Self>) {
        match notice.notice {
            Notice::Ended { delay } => {
                self.restarts.push_back(ChildEnded {
                    index: notice.index,
                    delay,
                });
                if self.restarts.len() == 1 {
                    self.run_next_restart(ctx);
                }
            }
            Notice::GaveUp => {
                let failure = self
                    .children
                    .get(notice.index)
                    .and_then(|link| link.record.borrow().last_failure.as_deref().cloned())
                    .unwrap_or_else(|| {
                        Failure::new(
                            crate::tree::FailureKind::Error,
                            crate::tree::FailurePhase::Running,
                            "a child exceeded the restart intensity".into(),
                        )
                    });
                self.give_up(failure, ctx);
            }
            Notice::Done => {
                let done = self.children.get(notice.index).is_some_and(|link| {
                    link.remove_on_exit && link.activity() == link::Activity::Done
                });
                if done {
                    self.children.remove(notice.index);
                }
            }
        }
    }
}

impl SupervisorActor {
    fn unknown(&self, name: String) -> ControlError {
        ControlError::UnknownChild {
            parent: self.path.clone(),
            name,
        }
    }

    fn stopping_error(&self) -> ControlError {
        ControlError::SupervisorStopping {
            parent: self.path.clone(),
        }
    }
}

impl Handler<StartChild> for SupervisorActor {
    type Result = Result<(), ControlError>;

    fn handle(&mut self, StartChild(spec): StartChild, ctx: &mut Context<Self>) -> Self::Result {
        self.can_take_child()?;
        self.take_child(spec, ctx)
    }
}

impl SupervisorActor {
    /// Whether a new child can be taken now: the supervisor is not ending
    /// and has room under its `max_children`.
    pub(crate) fn can_take_child(&self) -> Result<(), ControlError> {
        if self.is_ending() {
            return Err(self.stopping_error());
        }
        self.check_room()
    }

    /// Whether a child of this name is in the table.
    pub(crate) fn has_child(&self, name: &str) -> bool {
        self.children.find(name).is_some()
    }

    /// Checks `spec` against the table (its name, its dependencies) and
    /// starts it as a new child: what `StartChild` does once
    /// [`can_take_child`](Self::can_take_child) said yes.
    pub(crate) fn take_child(
        &mut self,
        spec: AnyChildSpec,
        ctx: &mut Context<Self>,
    ) -> Result<(), ControlError> {
        let common = spec.0.common();
        check_name(&self.path, common.name)?;
        if self.children.find(common.name).is_some() {
            return Err(BuildError::DuplicateName {
                parent: self.path.clone(),
                name: common.name.to_string(),
            }
            .into());
        }
        let path = self.path.join(common.name);
        spec.0.validate(&self.path)?;
        let mut depends_on = Vec::new();
        for dependency in common.depends_on {
            match self.children.find(dependency) {
                Some((index, _)) => depends_on.push(index),
                None => {
                    return Err(BuildError::InvalidField {
                        path,
                        field: "depends_on",
                        reason: format!("{dependency:?} is not a sibling"),
                    }
                    .into())
                }
            }
        }
        spec.0.assign_path(path);
        tracing::info!(path = %self.path, child = common.name, "starting a child");
        self.start_child(spec, depends_on, ctx);
        Ok(())
    }
}

impl Handler<StopChild> for SupervisorActor {
    type Result = ResponseFuture<Result<StopReport, ControlError>>;

    fn handle(&mut self, StopChild(name): StopChild, _: &mut Context<Self>) -> Self::Result {
        let link = match self.children.find(&name) {
            Some((_, link)) => link.clone(),
            None => {
                let err = self.unknown(name);
                return Box::pin(async move { Err(err) });
            }
        };
        link.command(Command::Stop);
        let report = link.shared.report();
        Box::pin(async move { Ok(report.await) })
    }
}

impl Handler<RestartChild> for SupervisorActor {
    type Result = actix::ResponseActFuture<Self, Result<(), ControlError>>;

    fn handle(&mut self, RestartChild(name): RestartChild, _: &mut Context<Self>) -> Self::Result {
        if let Some(started) = self.start_again(&name) {
            return Box::pin(actix::fut::ready(started));
        }
        let link = self.children.find(&name).map(|(_, link)| link.clone());
        let link = match link {
            _ if self.is_ending() => Err(self.stopping_error()),
            None => Err(self.unknown(name.clone())),
            Some(link) if link.record.borrow().state.is_terminal() => {
                let path = link.path().clone();
                Err(ControlError::ChildEnded { path })
            }
            Some(link) if !link.shared.is_accepting() => {
                let path = link.path().clone();
                Err(ControlError::ChildStopping { path })
            }
            Some(link) => Ok(link),
        };
        let ask = async move {
            let link = link?;
            link.command(Command::Restart);
            link.at_rest().await;
            Ok::<_, ControlError>(link)
        };
        Box::pin(
            actix::fut::wrap_future(ask).map(move |link, this: &mut Self, _| {
                let link = link?;
                if link.shared.is_accepting() {
                    link.command(Command::Start);
                    return Ok(());
                }
                // It ended meanwhile. On its own (a normal end its policy does
                // not restart, or a failure it gave up on): it is started again,
                // as an ended child is. By a stop that came meanwhile: the stop
                // wins, and it is not started again.
                let on_its_own = link
                    .shared
                    .final_report()
                    .is_some_and(|report| report.ended_on_its_own);
                if !on_its_own {
                    let path = link.path().clone();
                    return Err(ControlError::ChildStopping { path });
                }
                match this.start_again(&name) {
                    Some(started) => started,
                    None if this.is_ending() => Err(this.stopping_error()),
                    // Started again meanwhile (another `RestartChild`).
                    None if this.children.find(&name).is_some() => Ok(()),
                    None => Err(this.unknown(name)),
                }
            }),
        )
    }
}

impl SupervisorActor {
    /// Starts the child called `name` again if it ended for good (stopped,
    /// or failed): its next incarnation, from its kept factory, takes its
    /// place (the same name, position and dependencies). `None` when the
    /// child is not one that ended; the answer otherwise.
    fn start_again(&mut self, name: &str) -> Option<Result<(), ControlError>> {
        if self.is_ending() {
            return None;
        }
        let (key, link) = self.children.find(name)?;
        if self.removing.contains(&key) {
            let path = link.path().clone();
            return Some(Err(ControlError::ChildStopping { path }));
        }
        if link.activity() != link::Activity::Done {
            return None;
        }
        let Some(next) = link.start_again() else {
            let path = link.path().clone();
            return Some(Err(ControlError::ChildEnded { path }));
        };
        tracing::info!(path = %next.path(), "starting an ended child again");
        self.children.replace(key, next);
        Some(Ok(()))
    }
}

impl Handler<RemoveChild> for SupervisorActor {
    type Result = actix::ResponseActFuture<Self, Result<StopReport, ControlError>>;

    fn handle(&mut self, RemoveChild(name): RemoveChild, _: &mut Context<Self>) -> Self::Result {
        let (index, link) = match self.children.find(&name) {
            Some((index, link)) => (index, link.clone()),
            None => {
                let err = self.unknown(name);
                return Box::pin(actix::fut::ready(Err(err)));
            }
        };
        let dependents = self.children.dependents_of(index);
        if !dependents.is_empty() {
            let err = ControlError::HasDependents {
                parent: self.path.clone(),
                name,
                dependents,
            };
            return Box::pin(actix::fut::ready(Err(err)));
        }
        link.command(Command::Stop);
        let report = link.shared.report();
        self.removing.push(index);
        Box::pin(
            actix::fut::wrap_future::<_, Self>(report).map(move |report, this, _| {
                if let Some(at) = this.removing.iter().position(|&key| key == index) {
                    this.removing.swap_remove(at);
                }
                if this
                    .children
                    .get(index)
                    .is_some_and(|child| Rc::ptr_eq(child, &link))
                {
                    this.children.remove(index);
                    tracing::info!(path = %this.path, child = %name, "removed a child");
                }
                Ok(report)
            }),
        )
    }
}

impl SupervisorActor {
    /// One restart too many: a nested supervisor escalates to its parent; a
    /// root stops its children and fails.
    fn give_up(&mut self, failure: Failure, ctx: &mut Context<Self>) {
        self.last_failure = Some(failure.clone());
        if self.as_child.is_some() {
            self.escalate(failure, ctx);
        } else {
            self.begin_shutdown(ShutdownCause::GiveUp(failure));
        }
    }
}

impl Handler<Subscribe> for SupervisorActor {
    type Result = MessageResult<Subscribe>;

    fn handle(&mut self, subscribe: Subscribe, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.events.subscribe(subscribe.into_subtree(&self.path)))
    }
}

impl Handler<SubscribeRecipient> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, subscribe: SubscribeRecipient, _: &mut Context<Self>) {
        let subtree = subscribe.subtree.unwrap_or_else(|| self.path.clone());
        let mut events: EventStream = self.events.subscribe(subtree);
        let recipient = subscribe.recipient;
        // Each event waits for room in the recipient's mailbox (`send`, not
        // `do_send`): a slow recipient holds at most its mailbox's capacity,
        // and past the event channel's bound it is told it lagged.
        actix_rt::spawn(async move {
            while let Some(event) = events.next().await {
                if recipient.send(event).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// Terminates the supervisor and its children at once.
impl Handler<crate::messages::Kill> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, _: crate::messages::Kill, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl SupervisorActor {
    /// Refuses a new child when the supervisor already has its
    /// `max_children` live children (a pool's limit): the ones that ended
    /// and wait to leave the table do not count.
    fn check_room(&self) -> Result<(), ControlError> {
        let Some(max_children) = self.max_children else {
            return Ok(());
        };
        let live = self
            .children
            .iter()
            .filter(|link| !link.record.borrow().state.is_terminal())
            .take(max_children)
            .count();
        if live < max_children {
            Ok(())
        } else {
            Err(ControlError::Full {
                parent: self.path.clone(),
                max_children,
            })
        }
    }
}
