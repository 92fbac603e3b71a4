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
//!   was not taken yet if it is at least as strong (`Kill` over `Stop` over
//!   `Restart` and `Start`).

use std::cell::{Cell, RefCell};
use std::hash::BuildHasher;
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
    /// The supervisor's cancellation token; an incarnation whose factory
    /// asks for a token gets a child of it.
    pub(crate) token: CancellationToken,
    pub(crate) strategy: Strategy,
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
    pub(crate) index: u32,
    pub(crate) kind: NodeKind,
    /// What the child shares with its siblings.
    pub(crate) scope: Rc<SupervisorScope>,
    /// The current incarnation's cancellation token, if its factory asked
    /// for one; set and cancelled by the runner, dropped when it finishes.
    pub(crate) token: TokenSlot,
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

impl std::fmt::Debug for TokenSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSlot")
    }
}

impl ChildLink {
    /// What `Inspect` shows of the child, with `children` under it.
    pub(crate) fn snapshot(&self, children: Vec<NodeSnapshot>) -> NodeSnapshot {
        self.record
            .borrow()
            .snapshot(&self.path, self.kind, children)
    }
}

impl ChildLink {
    pub(crate) fn new(
        record: NodeRecord,
        kind: NodeKind,
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
            index: u32::try_from(env.index).expect("fewer than 2^32 children"),
            kind,
            scope: env.scope.clone(),
            token: TokenSlot::default(),
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

/// A supervisor's children, in start order, with unique names.
///
/// A removed child leaves an empty slot, so every child keeps its index (its
/// position in start order) for its whole life: strategies and dependencies
/// refer to children by index.
///
/// The table is sized for supervisors with very many children: a slot is
/// one pointer, the name index holds only slot numbers (names are read from
/// the links' paths), and dependencies are kept only for the children that
/// have some.
#[derive(Debug, Default)]
pub(crate) struct Children {
    slots: Vec<Option<Rc<ChildLink>>>,
    /// Slot numbers, hashed by the child's name.
    by_name: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    /// The siblings each child depends on, as indexes in start order; only
    /// for children with dependencies.
    depends_on: std::collections::HashMap<usize, Box<[usize]>>,
}

impl Children {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Children::default()
    }

    /// Adds a child at the end of the start order, depending on the
    /// children at `depends_on`; returns its index.
    pub(crate) fn push(&mut self, link: Rc<ChildLink>, depends_on: Vec<usize>) -> usize {
        let index = self.slots.len();
        debug_assert!(self.find(link.path.name()).is_none());
        let slot = u32::try_from(index).expect("fewer than 2^32 children");
        let hash = self.hasher.hash_one(link.path.name());
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.by_name
            .insert_unique(hash, slot, |i| hasher.hash_one(Self::name_in(slots, i)));
        if !depends_on.is_empty() {
            self.depends_on.insert(index, depends_on.into_boxed_slice());
        }
        self.slots.push(Some(link));
        index
    }

    /// The name of the child in slot `i` (a removed child's slot is not in
    /// the name index, so every slot it holds is full).
    fn name_in<'a>(slots: &'a [Option<Rc<ChildLink>>], i: &u32) -> &'a str {
        slots[*i as usize]
            .as_ref()
            .map_or("", |link| link.path.name())
    }

    /// Makes room for `additional` more children.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.by_name
            .reserve(additional, |i| hasher.hash_one(Self::name_in(slots, i)));
    }

    /// The index the next child will have.
    pub(crate) fn next_index(&self) -> usize {
        self.slots.len()
    }

    /// The children, in start order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Rc<ChildLink>> {
        self.slots.iter().flatten()
    }

    /// The children with their indexes, in start order.
    pub(crate) fn indexed(&self) -> impl Iterator<Item = (usize, &Rc<ChildLink>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| slot.as_ref().map(|link| (i, link)))
    }

    pub(crate) fn get(&self, index: usize) -> Option<&Rc<ChildLink>> {
        self.slots.get(index).and_then(Option::as_ref)
    }

    /// The siblings child `index` depends on.
    pub(crate) fn depends_on(&self, index: usize) -> &[usize] {
        self.depends_on.get(&index).map_or(&[], |deps| deps)
    }

    /// The child called `name`, with its index.
    pub(crate) fn find(&self, name: &str) -> Option<(usize, &Rc<ChildLink>)> {
        let hash = self.hasher.hash_one(name);
        let slot = *self
            .by_name
            .find(hash, |i| Self::name_in(&self.slots, i) == name)?;
        let index = slot as usize;
        self.get(index).map(|link| (index, link))
    }

    /// The names of the children that depend on child `index`.
    pub(crate) fn dependents_of(&self, index: usize) -> Vec<String> {
        self.indexed()
            .filter(|&(i, _)| self.depends_on(i).contains(&index))
            .map(|(_, link)| link.path.name().to_string())
            .collect()
    }

    /// Takes child `index` out of the table, leaving its slot empty.
    pub(crate) fn remove(&mut self, index: usize) -> Option<Rc<ChildLink>> {
        let link = self.get(index)?.clone();
        let hash = self.hasher.hash_one(link.path.name());
        if let Ok(entry) = self.by_name.find_entry(hash, |&i| i as usize == index) {
            entry.remove();
        }
        self.depends_on.remove(&index);
        self.slots[index] = None;
        Some(link)
    }

    /// The children with their dependencies, renumbered over the children
    /// only (no empty slots), for a shutdown plan.
    pub(crate) fn for_shutdown(&self) -> Vec<(Rc<ChildLink>, Vec<usize>)> {
        let mut position = vec![usize::MAX; self.slots.len()];
        for (at, (index, _)) in self.indexed().enumerate() {
            position[index] = at;
        }
        self.indexed()
            .map(|(index, link)| {
                let deps = self
                    .depends_on(index)
                    .iter()
                    .map(|&d| position[d])
                    .filter(|&p| p != usize::MAX)
                    .collect();
                (link.clone(), deps)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RestartIntensity;

    fn link(index: usize, name: &str) -> Rc<ChildLink> {
        let (sender, _receiver) = actix::dev::channel::channel::<SupervisorActor>(1);
        let scope = Rc::new(SupervisorScope {
            supervisor: actix::Addr::new(sender).downgrade(),
            events: Events::new(),
            intensity: Rc::new(RefCell::new(IntensityWindow::new(
                RestartIntensity::default(),
            ))),
            token: CancellationToken::new(),
            strategy: Strategy::OneForOne,
        });
        let env = ChildEnv {
            path: NodePath::root("app").join(name),
            restart: RestartPolicy::default(),
            backoff: None,
            grace: Grace::default(),
            index,
            scope,
        };
        let shared = ChildShared::new(name.to_string());
        ChildLink::new(NodeRecord::new(), NodeKind::Actor, shared, None, &env)
    }

    #[test]
    fn names_indexes_and_dependencies_survive_removals_and_reuse() {
        let mut children = Children::new();
        for (i, name) in ["db", "cache", "api"].into_iter().enumerate() {
            let deps = if name == "api" {
                vec![0, 1]
            } else {
                Vec::new()
            };
            assert_eq!(children.push(link(i, name), deps), i);
        }
        assert_eq!(children.find("cache").map(|(i, _)| i), Some(1));
        assert_eq!(children.dependents_of(0), ["api"]);
        assert_eq!(children.depends_on(2), [0, 1]);

        let removed = children.remove(2).expect("api is there");
        assert_eq!(removed.path.as_str(), "/app/api");
        assert!(children.find("api").is_none());
        assert!(children.dependents_of(0).is_empty());
        assert!(children.remove(2).is_none());

        // The name can be used again; the new child gets a new index.
        assert_eq!(children.push(link(3, "api"), vec![1]), 3);
        assert_eq!(children.find("api").map(|(i, _)| i), Some(3));
        assert_eq!(children.dependents_of(1), ["api"]);
        let names: Vec<_> = children.iter().map(|l| l.path.name()).collect();
        assert_eq!(names, ["db", "cache", "api"]);
        let plan: Vec<_> = children
            .for_shutdown()
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        assert_eq!(plan, [vec![], vec![], vec![1]]);
    }

    #[test]
    fn many_children_are_found_by_name() {
        let mut children = Children::new();
        for i in 0..1000 {
            children.push(link(i, &format!("c{i}")), Vec::new());
        }
        for i in (0..1000).step_by(7) {
            assert_eq!(children.find(&format!("c{i}")).map(|(at, _)| at), Some(i));
        }
        assert!(children.find("c1000").is_none());
    }
}
