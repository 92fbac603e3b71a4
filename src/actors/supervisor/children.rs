//! The supervisor's ordered child table: the [`ChildLink`] of each child,
//! found by name or by position in start order.
//!
//! # Invariants
//!
//! - Names in a [`Children`] table are unique; the table keeps start order.
//! - A child keeps its index (its position in start order) for its whole
//!   life; strategies and dependencies refer to children by index.

use std::hash::BuildHasher;
use std::rc::Rc;

use crate::child::link::ChildLink;

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
    use super::super::SupervisorActor;
    use super::*;
    use crate::child::drain::ChildShared;
    use crate::child::link::{ChildEnv, NodeRecord, SupervisorScope};
    use crate::messages::events::Events;
    use crate::policy::{Grace, IntensityWindow, RestartIntensity, RestartPolicy, Strategy};
    use crate::tree::{NodeKind, NodePath};
    use std::cell::RefCell;
    use tokio_util::sync::CancellationToken;

    fn link(index: usize, name: &str) -> Rc<ChildLink> {
        let (sender, _receiver) = actix::dev::channel::channel::<SupervisorActor>(1);
        let scope = Rc::new(SupervisorScope {
            supervisor: actix::Addr::new(sender).recipient().downgrade(),
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
            start_after: Default::default(),
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
