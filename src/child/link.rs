//! What a supervisor and one child's runner share: the child's [`ChildLink`].
//!
//! A supervisor and the runners of its children all live on one arbiter
//! thread, so they share each child's link through an `Rc` instead of
//! exchanging messages: the runner writes the child's [`NodeRecord`] as the
//! child moves through its lifecycle, and the supervisor reads it for
//! [`Inspect`](crate::Inspect) and writes [`Command`]s for the runner. What
//! the runner must tell the supervisor (a strategy restart to run, one
//! restart too many) goes as a [`ChildNotice`] message.
//!
//! # Invariants
//!
//! - A `ChildLink`'s `RefCell`s are borrowed only for the length of one
//!   synchronous call and never across a poll of user code, so no borrow can
//!   be held while another task runs.
//! - A command written with [`ChildLink::command`] wakes the runner, which
//!   takes it on its next poll; a later command replaces an earlier one that
//!   was not taken yet if it is at least as strong (`Kill` over `Stop` over
//!   `Restart` and `Start`).
//! - The record's state and the link's activity are written by the runner
//!   from its lifecycle, in one place (`Runner::sync`), never beside it.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use actix::{Message, WeakRecipient};
use tokio::time::Instant;

use super::drain::ChildShared;
use super::lifecycle::Notice;
use super::restart::RestartRules;
use crate::messages::events::Events;
use crate::policy::{Backoff, Grace, GraceUnit, IntensityWindow, RestartPolicy, Strategy};
use crate::tree::{Failure, NodeKind, NodePath, NodePolicy, NodeSnapshot, NodeState, TaskStats};
use tokio_util::sync::CancellationToken;

/// From a child's runner to its supervisor: the child at `index` (in start
/// order) needs the supervisor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildNotice {
    pub(crate) index: usize,
    pub(crate) notice: Notice,
}

impl Message for ChildNotice {
    type Result = ();
}

/// A child's typed address, for the supervisor module (the child module
/// knows nothing of supervisors): a nested supervisor's
/// `Addr<SupervisorActor>`, or, for a child run by a runner, a
/// `WeakAddr<A>` (weak, so the link, which outlives the runner, does not
/// keep the mailbox open), from which a handle asked for by path is made.
pub(crate) struct Nested(pub(crate) Box<dyn Any>);

impl std::fmt::Debug for Nested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nested")
    }
}

/// What a runner needs to know of its place in the tree.
#[derive(Debug, Clone)]
pub(crate) struct ChildEnv {
    pub(crate) path: NodePath,
    pub(crate) restart: RestartPolicy,
    pub(crate) backoff: Option<Box<Backoff>>,
    pub(crate) grace: Grace,
    /// This child's key in its supervisor's table (see `ChildLink::index`).
    pub(crate) index: usize,
    /// What all the children of one supervisor share.
    pub(crate) scope: Rc<SupervisorScope>,
    /// The child leaves its supervisor's table once it will not run again.
    pub(crate) remove_on_exit: bool,
    /// Incarnations the child ran before this link's first: a child started
    /// again after it ended continues its count.
    pub(crate) incarnations: u64,
    /// The siblings whose start this child waits for, and for how long.
    pub(crate) start_after: StartAfter,
}

/// The siblings a child waits for before each of its incarnations is built,
/// and how long it waits (see [`crate::ChildSpec::start_timeout`]). Empty
/// for a child without dependencies: nothing is allocated then.
#[derive(Debug, Clone, Default)]
pub(crate) struct StartAfter {
    pub(crate) links: Vec<Rc<ChildLink>>,
    pub(crate) timeout: std::time::Duration,
}

impl StartAfter {
    /// The first sibling that has not finished its start, if any (the link
    /// of its latest start).
    pub(crate) fn first_not_ready(&self) -> Option<&Rc<ChildLink>> {
        self.links
            .iter()
            .map(ChildLink::latest)
            .find(|link| !link.is_ready())
    }

    /// The first sibling a stop still waits for, if any: one not ready and
    /// not at rest. A sibling parked (for a strategy restart), given up or
    /// done is not started again while the stop lasts (a supervisor that
    /// shuts down starts nothing, and stops its dependents first), so
    /// waiting for it would only hold the stop until its grace ran out.
    /// While the supervisor shuts down, a sibling in a backoff is at rest
    /// too: it starts again only when its own stop comes, after this
    /// child's (dependents stop first).
    pub(crate) fn first_awaited_by_stop(&self, shutting_down: bool) -> Option<&Rc<ChildLink>> {
        self.links.iter().map(ChildLink::latest).find(|link| {
            link.activity() == Activity::Active && !(shutting_down && link.in_backoff())
        })
    }
}

/// The settings all the children of one supervisor share, kept once per
/// supervisor rather than once per child.
#[derive(Debug)]
pub(crate) struct SupervisorScope {
    /// The supervisor, for the ends it has to react to (strategies,
    /// intensity).
    pub(crate) supervisor: WeakRecipient<ChildNotice>,
    pub(crate) events: Events,
    /// The supervisor's restart intensity, shared by all its children.
    pub(crate) intensity: Rc<RefCell<IntensityWindow>>,
    /// The supervisor's cancellation token; an incarnation whose factory
    /// asks for a token gets a child of it. In an `Arc`, so that each
    /// incarnation's [`StartContext`](crate::StartContext) holds it for the
    /// price of a reference count, not of a token's clone (which locks the
    /// token tree's mutex).
    pub(crate) token: Arc<CancellationToken>,
    pub(crate) strategy: Strategy,
    /// The children's ends, watched by the supervisor's shutdown.
    pub(crate) finished: super::finished::Finished,
    /// The supervisor has begun to stop its children.
    pub(crate) shutting_down: Cell<bool>,
}

/// The live facts about one node, from which its snapshot is made (with
/// its path, kept in its link).
#[derive(Debug)]
pub(crate) struct NodeRecord {
    pub(crate) state: NodeState,
    /// Start attempts so far; the first start is incarnation 1.
    pub(crate) incarnation: u64,
    pub(crate) last_failure: Option<Box<Failure>>,
    /// When the current incarnation began, while it runs.
    pub(crate) started_at: Option<Instant>,
    /// Tick or loop statistics, for periodic and worker children.
    pub(crate) stats: Option<Arc<std::sync::Mutex<TaskStats>>>,
}

impl NodeRecord {
    pub(crate) fn new() -> Self {
        NodeRecord {
            state: NodeState::Starting,
            incarnation: 0,
            last_failure: None,
            started_at: None,
            stats: None,
        }
    }

    pub(crate) fn snapshot(
        &self,
        path: &NodePath,
        kind: NodeKind,
        children: Vec<NodeSnapshot>,
    ) -> NodeSnapshot {
        let uptime = match self.state {
            NodeState::Running | NodeState::Stopping => self.started_at.map(|t| t.elapsed()),
            _ => None,
        };
        NodeSnapshot {
            name: path.name().to_string(),
            path: path.clone(),
            kind,
            state: self.state,
            incarnation: self.incarnation,
            restart_count: self.incarnation.saturating_sub(1),
            last_failure: self.last_failure.as_deref().cloned(),
            uptime,
            task: self
                .stats
                .as_ref()
                .map(|stats| stats.lock().unwrap_or_else(|e| e.into_inner()).clone()),
            children,
            policy: NodePolicy::default(),
        }
    }
}

/// An order from a supervisor to a child's runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// Stop gracefully: drain, then end; report through the shared state.
    Stop,
    /// End now, whatever the child is doing (its supervisor's grace ran out,
    /// or its supervisor is gone); reported `TimedOut`.
    Kill,
    /// End the current incarnation for a strategy restart: drain to the
    /// marker (handles keep accepting), stop, and park until `Start`.
    Restart,
    /// Start the next incarnation of a parked child.
    Start,
}

/// Whether a child's runner is running an incarnation (and whether its
/// start is over), parked between two (waiting for its supervisor), or done
/// for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    /// Starting an incarnation, or between two of its own.
    Active,
    Parked,
    Done,
    /// The incarnation finished its start (for a nested supervisor: each of
    /// its children did): the siblings that depend on it may start.
    Ready,
}

/// What a supervisor and one child's runner share.
#[derive(Debug)]
pub(crate) struct ChildLink {
    pub(crate) record: RefCell<NodeRecord>,
    /// The state the child's handles share, with its report, its name and
    /// its path (read through [`ChildLink::path`], not kept twice).
    pub(crate) shared: Arc<ChildShared>,
    command: Cell<Option<Command>>,
    /// Changes are rung on the shared state's bell.
    activity: Cell<Activity>,
    /// Someone waits for the child to be ready: changes to and from
    /// `Ready` are rung on the bell too (otherwise they need not be).
    watched: Cell<bool>,
    /// The child's typed address (see [`Nested`]; boxed, as only the
    /// supervisor reads it, to type it).
    pub(crate) nested: Option<Nested>,
    /// How long a stop may drain the child, and what follows the end of an
    /// incarnation: read by the runner only when a stop begins or an
    /// incarnation ends, so kept here, out of the runner's task.
    grace: u64,
    /// What `grace` counts (see [`GraceUnit`]): one byte, in the link's
    /// padding.
    grace_unit: GraceUnit,
    pub(crate) rules: RefCell<RestartRules>,
    /// The child's key in its supervisor's table: its place in start order,
    /// never given to another child of that supervisor.
    pub(crate) index: u64,
    pub(crate) kind: NodeKind,
    /// What the child shares with its siblings.
    pub(crate) scope: Rc<SupervisorScope>,
    /// The current incarnation's cancellation token, if its factory asked
    /// for one; set and cancelled by the runner, dropped when it finishes.
    pub(crate) token: TokenSlot,
    /// The child leaves its supervisor's table once it will not run again.
    pub(crate) remove_on_exit: bool,
    /// What the runner left to start the child again, once it finished (a
    /// `Cell`: 8 bytes less than a `RefCell` in every link).
    kept: KeptSlot,
    /// The link of the child's next start, once it was started again after
    /// it ended: siblings that depend on it follow it there.
    successor: std::cell::OnceCell<Rc<ChildLink>>,
}

/// A cell holding an incarnation's cancellation token.
#[derive(Default)]
pub(crate) struct TokenSlot(Cell<Option<CancellationToken>>);

impl TokenSlot {
    /// Puts `token` in, dropping the previous one.
    pub(crate) fn replace(&self, token: Option<CancellationToken>) {
        self.0.set(token);
    }

    /// Cancels the token, if there is one.
    pub(crate) fn cancel(&self) {
        let token = self.0.take();
        if let Some(token) = &token {
            token.cancel();
        }
        self.0.set(token);
    }
}

/// A cell holding what starts a finished child again.
#[derive(Default)]
struct KeptSlot(Cell<Option<Box<dyn Respawn>>>);

impl std::fmt::Debug for KeptSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeptSlot")
    }
}

impl std::fmt::Debug for TokenSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSlot")
    }
}

impl ChildLink {
    /// The child's path, kept in its shared state (set when the link is
    /// made, if its supervisor had not placed it yet).
    #[inline]
    pub(crate) fn path(&self) -> &NodePath {
        self.shared.placed_path()
    }

    /// How long a stop may drain the child.
    #[inline]
    pub(crate) fn grace(&self) -> Grace {
        self.grace_unit.unpack(self.grace)
    }

    /// What `Inspect` shows of the child, with `children` under it.
    pub(crate) fn snapshot(&self, children: Vec<NodeSnapshot>) -> NodeSnapshot {
        let mut snapshot = self
            .record
            .borrow()
            .snapshot(self.path(), self.kind, children);
        let rules = self.rules.borrow();
        snapshot.policy.restart = Some(rules.policy());
        snapshot.policy.backoff = rules.backoff().cloned();
        snapshot.policy.grace = Some(self.grace());
        snapshot.policy.schedule = snapshot
            .task
            .as_mut()
            .and_then(|task| task.schedule.take())
            .map(|schedule| *schedule);
        snapshot
    }
}

impl ChildLink {
    pub(crate) fn new(
        record: NodeRecord,
        kind: NodeKind,
        shared: Arc<ChildShared>,
        nested: Option<Nested>,
        env: &ChildEnv,
    ) -> Rc<Self> {
        let mut record = record;
        record.incarnation = env.incarnations;
        shared.set_path(env.path.clone());
        let (grace, grace_unit) = GraceUnit::pack(env.grace);
        Rc::new(ChildLink {
            record: RefCell::new(record),
            shared,
            command: Cell::new(None),
            activity: Cell::new(Activity::Active),
            watched: Cell::new(false),
            nested,
            grace,
            grace_unit,
            rules: RefCell::new(RestartRules::new(
                env.restart,
                env.backoff.as_deref().cloned(),
            )),
            index: env.index as u64,
            kind,
            scope: env.scope.clone(),
            token: TokenSlot::default(),
            remove_on_exit: env.remove_on_exit,
            kept: KeptSlot::default(),
            successor: std::cell::OnceCell::new(),
        })
    }

    pub(crate) fn activity(&self) -> Activity {
        self.activity.get()
    }

    /// Sets the activity and rings the bell for those who wait on it: a
    /// change to or from `Ready` only when someone waits for readiness, so
    /// that a child nobody depends on starts without ringing it.
    pub(crate) fn set_activity(&self, activity: Activity) {
        let was = self.activity.replace(activity);
        let readiness_only = matches!(
            (was, activity),
            (Activity::Active, Activity::Ready) | (Activity::Ready, Activity::Active)
        );
        if !readiness_only || self.watched.get() {
            self.shared.bell().notify_waiters();
        }
    }

    /// Marks the child done without ringing the bell: for its runner, whose
    /// report's publication (`ChildShared::finish`), in the same step,
    /// rings the same bell once the report is there.
    pub(crate) fn set_done_quietly(&self) {
        self.activity.set(Activity::Done);
    }

    /// Whether the child finished its start and runs: its runner's
    /// incarnation is `Running` (draining or not), or, for a nested
    /// supervisor, each of its children is.
    pub(crate) fn is_ready(&self) -> bool {
        self.activity.get() == Activity::Ready
    }

    /// Completes once the runner is parked or done.
    pub(crate) fn at_rest(self: &Rc<Self>) -> impl std::future::Future<Output = ()> + 'static {
        let link = self.clone();
        async move {
            loop {
                let changed = link.shared.bell().notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if matches!(link.activity.get(), Activity::Parked | Activity::Done) {
                    return;
                }
                changed.await;
            }
        }
    }

    /// Completes once the child is ready (see [`ChildLink::is_ready`]) or
    /// started again on a new link (see [`ChildLink::latest`]). A child
    /// done for good and never started again is never ready: only the
    /// waiter's timeout ends its wait.
    pub(crate) fn ready_or_replaced(
        self: &Rc<Self>,
    ) -> impl std::future::Future<Output = ()> + 'static {
        let link = self.clone();
        link.watched.set(true);
        async move {
            loop {
                let changed = link.shared.bell().notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if link.activity.get() == Activity::Ready || link.successor.get().is_some() {
                    return;
                }
                changed.await;
            }
        }
    }

    /// Whether the child waits out a backoff between two incarnations.
    pub(crate) fn in_backoff(&self) -> bool {
        matches!(self.record.borrow().state, NodeState::Restarting { .. })
    }

    /// Completes once the child is ready, at rest (parked or done), or
    /// started again on a new link: what a stop that waits for its
    /// dependencies waits for (see [`StartAfter::first_awaited_by_stop`]).
    pub(crate) fn settled_or_replaced(
        self: &Rc<Self>,
    ) -> impl std::future::Future<Output = ()> + 'static {
        let link = self.clone();
        link.watched.set(true);
        async move {
            loop {
                let changed = link.shared.bell().notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if link.activity.get() != Activity::Active || link.successor.get().is_some() {
                    return;
                }
                changed.await;
            }
        }
    }

    /// Completes once the child is ready (see [`ChildLink::is_ready`]) or
    /// done for good (`done` then: it will never be ready).
    pub(crate) fn ready_or_done(
        self: &Rc<Self>,
    ) -> impl std::future::Future<Output = ()> + 'static {
        let link = self.clone();
        link.watched.set(true);
        async move {
            loop {
                let changed = link.shared.bell().notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if matches!(link.activity.get(), Activity::Ready | Activity::Done) {
                    return;
                }
                changed.await;
            }
        }
    }

    /// Gives the runner a command and wakes it. A command waiting to be
    /// taken is replaced only by one at least as strong: `Kill` over `Stop`
    /// over `Restart` and `Start`.
    pub(crate) fn command(&self, command: Command) {
        // Handles refuse new work from the moment the stop is decided, not
        // from the runner's next poll.
        if matches!(command, Command::Stop | Command::Kill) {
            self.shared.begin_stopping();
        }
        let strength = |c: Command| match c {
            Command::Kill => 2,
            Command::Stop => 1,
            Command::Restart | Command::Start => 0,
        };
        if self
            .command
            .get()
            .is_none_or(|pending| strength(command) >= strength(pending))
        {
            self.command.set(Some(command));
        }
        self.shared.wake_runner();
    }

    /// Whether a command waits for the runner.
    #[inline]
    pub(crate) fn has_command(&self) -> bool {
        self.command.get().is_some()
    }

    /// The command waiting for the runner, if any.
    #[inline]
    pub(crate) fn take_command(&self) -> Option<Command> {
        // Read first: the common case, no command, writes nothing.
        self.command.get()?;
        self.command.take()
    }
}

impl ChildLink {
    /// Tells the supervisor `notice` about this child, if the supervisor
    /// is still there.
    pub(crate) fn tell(&self, notice: Notice) {
        if let Some(supervisor) = self.scope.supervisor.upgrade() {
            supervisor.do_send(ChildNotice {
                index: self.index as usize,
                notice,
            });
        }
    }

    /// The runner is done with the child, about to publish its report: a
    /// temporary child asks its supervisor to take it out of the table. The
    /// notice is queued before the report is out, so whoever waited for the
    /// report and then asks the supervisor finds the child gone.
    pub(crate) fn finished(&self) {
        if self.remove_on_exit {
            self.tell(Notice::Done);
        }
    }
}

/// What a child needs to be started again after it ended, without its actor
/// type: made by its runner when it finishes (`super::respawn::Kept`).
pub(crate) trait Respawn: std::fmt::Debug {
    /// Starts the child again under `env` as the start after `old`: a new
    /// mailbox, fresh shared state chained from `old`'s, the incarnation
    /// count and last failure carried on. Returns the new link.
    fn respawn(self: Box<Self>, env: ChildEnv, old: &ChildLink) -> Rc<ChildLink>;

    /// The siblings each incarnation waits for, as when it first started.
    fn start_after(&self) -> StartAfter;
}

impl ChildLink {
    /// Keeps what starts the finished child again (not for a temporary
    /// child: it leaves the table).
    pub(crate) fn keep(&self, kept: Box<dyn Respawn>) {
        if !self.remove_on_exit {
            self.kept.0.set(Some(kept));
        }
    }

    /// Drops what would start the child again: its supervisor is ending,
    /// and a factory may hold the supervisor's own address.
    pub(crate) fn drop_kept(&self) {
        drop(self.kept.0.take());
    }

    /// Starts the finished child again as its next incarnation, from what
    /// its runner kept; the new link takes this one's place. `None` when
    /// nothing was kept (the child is not done, or cannot start again).
    pub(crate) fn start_again(&self) -> Option<Rc<ChildLink>> {
        if self.activity() != Activity::Done {
            return None;
        }
        let kept = self.kept.0.take()?;
        let (restart, backoff) = {
            let rules = self.rules.borrow();
            (rules.policy(), rules.backoff().cloned().map(Box::new))
        };
        let env = ChildEnv {
            path: self.path().clone(),
            restart,
            backoff,
            grace: self.grace(),
            index: self.index as usize,
            scope: self.scope.clone(),
            remove_on_exit: self.remove_on_exit,
            incarnations: self.record.borrow().incarnation,
            start_after: kept.start_after(),
        };
        let next = kept.respawn(env, self);
        // Siblings waiting for this child's start follow it to its new link.
        let _ = self.successor.set(next.clone());
        self.shared.bell().notify_waiters();
        Some(next)
    }

    /// A child that left its supervisor's table (temporary, at its end) is
    /// replaced by a new child of its name: the siblings that depend on it
    /// by name follow it to `next`, as to a start again.
    pub(crate) fn replaced_by(&self, next: Rc<ChildLink>) {
        let _ = self.successor.set(next);
        self.shared.bell().notify_waiters();
    }

    /// The link of the child's latest start: this one, or the one that
    /// took its place when it was started again after it ended (or, once
    /// it left the table, a new child of its name: `replaced_by`).
    pub(crate) fn latest(self: &Rc<Self>) -> &Rc<Self> {
        let mut link = self;
        while let Some(next) = link.successor.get() {
            link = next;
        }
        link
    }
}

impl ChildLink {
    /// Publishes the child's final report (once; a later call changes
    /// nothing) and notes its end for a shutdown of its supervisor.
    pub(crate) fn finish(&self, report: Box<crate::messages::stop::StopReport>) {
        self.shared.finish(report);
        self.scope
            .finished
            .note(self.index, self.shared.final_report());
    }
}
