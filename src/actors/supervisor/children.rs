//! The supervisor's ordered child table and the link it shares with each
//! child's runner.
//!
//! A supervisor and the runners of its children all live on one arbiter
//! thread, so they share each child's [`ChildLink`] through an `Rc` instead of
//! exchanging messages: the runner writes the child's [`NodeRecord`] as the
//! child moves through its states, and the supervisor reads it for
//! [`Inspect`](crate::Inspect) and writes commands for the runner.
//!
//! # Invariants
//!
//! - Names in a [`Children`] table are unique; the table keeps start order.
//! - A `ChildLink`'s `RefCell`s are borrowed only for the length of one
//!   synchronous call and never across a poll of user code, so no borrow can
//!   be held while another task runs.
//! - A command written with [`ChildLink::command`] wakes the runner, which
//!   takes it on its next poll; a later command replaces an earlier one that
//!   was not taken yet.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use actix::WeakAddr;
use tokio::time::Instant;

use super::restart::RestartRules;
use super::SupervisorActor;
use crate::handle::ChildShared;
use crate::messages::events::Events;
use crate::policy::{Backoff, Grace, IntensityWindow, RestartPolicy, Strategy};
use crate::tree::{Failure, NodeKind, NodePath, NodeSnapshot, NodeState, TaskStats};
use tokio_util::sync::CancellationToken;

/// What a runner needs to know of its place in the tree.
#[derive(Debug, Clone)]
pub(crate) struct ChildEnv {
    pub(crate) path: NodePath,
    pub(crate) restart: RestartPolicy,
    pub(crate) backoff: Option<Box<Backoff>>,
    pub(crate) grace: Grace,
    /// This child's position in start order.
    pub(crate) index: usize,
    /// What all the children of one supervisor share.
    pub(crate) scope: Rc<SupervisorScope>,
}

/// The settings all the children of one supervisor share, kept once per
/// supervisor rather than once per child.
#[derive(Debug)]
pub(crate) struct SupervisorScope {
    /// The supervisor, for the ends it has to react to (strategies,
    /// intensity).
    pub(crate) supervisor: WeakAddr<SupervisorActor>,
    pub(crate) events: Events,
    /// The supervisor's restart intensity, shared by all its children.
    pub(crate) intensity: Rc<RefCell<IntensityWindow>>,
    /// The supervisor's cancellation token; each incarnation gets a child.
    pub(crate) token: CancellationToken,
    pub(crate) strategy: Strategy,
}

/// The live facts about one node, from which its snapshot is made (with
/// its path, kept in its link).
#[derive(Debug)]
pub(crate) struct NodeRecord {
    pub(crate) kind: NodeKind,
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
    pub(crate) fn new(kind: NodeKind) -> Self {
        NodeRecord {
            kind,
            state: NodeState::Starting,
            incarnation: 0,
            last_failure: None,
            started_at: None,
            stats: None,
        }
    }

    pub(crate) fn snapshot(&self, path: &NodePath, children: Vec<NodeSnapshot>) -> NodeSnapshot {
        let uptime = match self.state {
            NodeState::Running | NodeState::Stopping => self.started_at.map(|t| t.elapsed()),
            _ => None,
        };
        NodeSnapshot {
            name: path.name().to_string(),
            path: path.clone(),
            kind: self.kind,
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

/// Whether a child's runner is running an incarnation, parked between two
/// (waiting for its supervisor), or done for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    Active,
    Parked,
    Done,
}

/// What a supervisor and one child's runner share.
#[derive(Debug)]
pub(crate) struct ChildLink {
    /// The child's path.
    pub(crate) path: NodePath,
    pub(crate) record: RefCell<NodeRecord>,
    /// The state the child's handles share, with its report.
    pub(crate) shared: Arc<ChildShared>,
    command: Cell<Option<Command>>,
    /// Changes are rung on the shared state's bell.
    activity: Cell<Activity>,
    /// The address of a child that is itself a supervisor (boxed: most
    /// children are not).
    pub(crate) nested: Option<Box<actix::Addr<SupervisorActor>>>,
    /// How long a stop may drain the child, and what follows the end of an
    /// incarnation: read by the runner only when a stop begins or an
    /// incarnation ends, so kept here, out of the runner's task.
    pub(crate) grace: Grace,
    pub(crate) rules: RefCell<RestartRules>,
    /// The child's position in start order.
    pub(crate) index: usize,
}

impl ChildLink {
    pub(crate) fn new(
        record: NodeRecord,
        shared: Arc<ChildShared>,
        nested: Option<actix::Addr<SupervisorActor>>,
        env: &ChildEnv,
    ) -> Rc<Self> {
        Rc::new(ChildLink {
            path: env.path.clone(),
            record: RefCell::new(record),
            shared,
            command: Cell::new(None),
            activity: Cell::new(Activity::Active),
            nested: nested.map(Box::new),
            grace: env.grace,
            rules: RefCell::new(RestartRules::new(
                env.restart,
                env.backoff.as_deref().cloned(),
            )),
            index: env.index,
        })
    }

    pub(crate) fn set_activity(&self, activity: Activity) {
        self.activity.set(activity);
        self.shared.bell().notify_waiters();
    }

    /// Completes once the runner is parked or done.
    pub(crate) fn at_rest(self: &Rc<Self>) -> impl std::future::Future<Output = ()> + 'static {
        let link = self.clone();
        async move {
            loop {
                let changed = link.shared.bell().notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if link.activity.get() != Activity::Active {
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

/// One row of the child table.
#[derive(Debug)]
pub(crate) struct ChildEntry {
    pub(crate) link: Rc<ChildLink>,
    /// The siblings this child depends on, as indexes in start order.
    pub(crate) depends_on: Vec<usize>,
}

impl ChildEntry {
    /// The child's name: the last part of its path.
    pub(crate) fn name(&self) -> &str {
        self.link.path.name()
    }
}

/// A supervisor's children, in start order, with unique names.
///
/// A removed child leaves an empty slot, so every child keeps its index (its
/// position in start order) for its whole life: strategies and dependencies
/// refer to children by index.
#[derive(Debug, Default)]
pub(crate) struct Children {
    /// The supervisor's path, to turn names into paths.
    parent: Option<NodePath>,
    slots: Vec<Option<ChildEntry>>,
    /// The index of each child, by path (the path's allocation is shared
    /// with the child's link: no copy of the name per child).
    by_path: std::collections::HashMap<NodePath, usize>,
}

impl Children {
    /// An empty table for the supervisor at `parent`.
    pub(crate) fn new(parent: NodePath) -> Self {
        Children {
            parent: Some(parent),
            ..Children::default()
        }
    }

    /// Adds a child at the end of the start order; returns its index.
    pub(crate) fn push(&mut self, entry: ChildEntry) -> usize {
        let index = self.slots.len();
        debug_assert!(self.find(entry.name()).is_none());
        self.by_path.insert(entry.link.path.clone(), index);
        self.slots.push(Some(entry));
        index
    }

    /// The index the next child will have.
    pub(crate) fn next_index(&self) -> usize {
        self.slots.len()
    }

    /// The children, in start order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &ChildEntry> {
        self.slots.iter().flatten()
    }

    /// The children with their indexes, in start order.
    pub(crate) fn indexed(&self) -> impl Iterator<Item = (usize, &ChildEntry)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| slot.as_ref().map(|entry| (i, entry)))
    }

    pub(crate) fn get(&self, index: usize) -> Option<&ChildEntry> {
        self.slots.get(index).and_then(Option::as_ref)
    }

    /// The child called `name`, with its index.
    pub(crate) fn find(&self, name: &str) -> Option<(usize, &ChildEntry)> {
        let parent = self.parent.as_ref()?;
        let index = *self.by_path.get(&parent.join(name))?;
        self.get(index).map(|entry| (index, entry))
    }

    /// The names of the children that depend on child `index`.
    pub(crate) fn dependents_of(&self, index: usize) -> Vec<String> {
        self.iter()
            .filter(|entry| entry.depends_on.contains(&index))
            .map(|entry| entry.name().to_string())
            .collect()
    }

    /// Takes child `index` out of the table, leaving its slot empty.
    pub(crate) fn remove(&mut self, index: usize) -> Option<ChildEntry> {
        let entry = self.slots.get_mut(index).and_then(Option::take)?;
        self.by_path.remove(&entry.link.path);
        Some(entry)
    }

    /// The children with their dependencies, renumbered over the children
    /// only (no empty slots), for a shutdown plan.
    pub(crate) fn for_shutdown(&self) -> Vec<(Rc<ChildLink>, Vec<usize>)> {
        let mut position = vec![usize::MAX; self.slots.len()];
        for (at, (index, _)) in self.indexed().enumerate() {
            position[index] = at;
        }
        self.iter()
            .map(|entry| {
                let deps = entry
                    .depends_on
                    .iter()
                    .map(|&d| position[d])
                    .filter(|&p| p != usize::MAX)
                    .collect();
                (entry.link.clone(), deps)
            })
            .collect()
    }
}
