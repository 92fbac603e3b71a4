//! The supervisor's child table: the [`ChildLink`] of each child, found by
//! name, by key, or in start order.
//!
//! # Invariants
//!
//! - Names in a [`Children`] table are unique.
//! - Every child has a **key**, given when it is added: keys only grow and
//!   are never given twice in one table, so a key names one child for its
//!   whole life, even after it was removed. Start order is key order;
//!   strategies, dependencies and notices from runners refer to children by
//!   key (the link's `index`).
//! - A child sits in a **slot**; the slot of a removed child is reused by
//!   the next child added, so the number of slots is the largest number of
//!   children the table held at once, not the number it ever held.
//! - Until a child is first removed, a child's key is its slot and start
//!   order is slot order: `order` is empty then (`ordered` false), so a
//!   table that only grows, as most do, keeps nothing but its slots and
//!   its name index.
//! - From the first removal on (`ordered` true), `order` lists
//!   `(key, slot)` in key order; an entry whose child was removed keeps its
//!   key with an empty slot until the list is compacted, which happens once
//!   such entries are more than half of it, so it too stays within twice
//!   the live children (plus a few).

use std::hash::BuildHasher;
use std::rc::Rc;

use crate::child::link::ChildLink;

/// In `order`: the child of this entry was removed.
const REMOVED: u32 = u32::MAX;

/// A supervisor's children, in start order, with unique names.
///
/// The table is sized for supervisors with very many children, and for
/// supervisors that add and remove children all day (one short-lived child
/// per job): a slot is one pointer and slots are reused, the name index holds
/// only slot numbers (names are read from the links' shared state, where
/// each child's name is kept apart from its path), the start order
/// is a sorted list of keys, and dependencies are kept only for the children
/// that have some.
#[derive(Debug, Default)]
pub(crate) struct Children {
    slots: Vec<Option<Rc<ChildLink>>>,
    /// Empty slots, reused before the table grows.
    free: Vec<u32>,
    /// `(key, slot)` in start order; `REMOVED` for a removed child's entry
    /// not compacted yet. Kept only once `ordered`.
    order: Vec<(u64, u32)>,
    /// Whether a child was ever removed: until then `order` is empty, and
    /// key, slot and place in start order are one number.
    ordered: bool,
    /// Entries of `order` that are `REMOVED`.
    removed: usize,
    /// The key the next child gets.
    next_key: u64,
    /// Slot numbers, hashed by the child's name.
    by_name: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    /// The keys of the siblings each child depends on, by its key; only for
    /// children with dependencies. A key whose child was removed names
    /// nobody (keys are never given twice), so it is simply skipped.
    depends_on: std::collections::HashMap<usize, Box<[usize]>>,
    /// Children that left the table (temporary ones, at their end) while
    /// siblings depended on them, by name: the next child of that name
    /// takes their place as those siblings' dependency.
    departed: std::collections::HashMap<String, Rc<ChildLink>>,
}

impl Children {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Children::default()
    }

    /// Adds a child at the end of the start order, depending on the
    /// children with the keys `depends_on`; returns its key, which must be
    /// [`Children::next_index`] (the link was made with it).
    pub(crate) fn push(&mut self, link: Rc<ChildLink>, depends_on: Vec<usize>) -> usize {
        let key = self.next_key;
        debug_assert_eq!(link.index, key, "a link is made with the next key");
        debug_assert!(self.find(link.shared.name()).is_none());
        self.next_key += 1;
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let slot = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&s| s != REMOVED)
                    .expect("fewer than 2^32 - 1 live children");
                self.slots.push(None);
                slot
            }
        };
        self.slots[slot as usize] = Some(link);
        let name = Self::name_in(&self.slots, &slot);
        let hash = self.hasher.hash_one(name);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.by_name
            .insert_unique(hash, slot, |i| hasher.hash_one(Self::name_in(slots, i)));
        if self.ordered {
            self.order.push((key, slot));
        } else {
            debug_assert_eq!(key, u64::from(slot), "unordered: a key is its slot");
        }
        let key = key as usize;
        if !depends_on.is_empty() {
            self.depends_on.insert(key, depends_on.into_boxed_slice());
        }
        self.take_place_of_departed(key);
        key
    }

    /// Child `key`, just added, takes the place of a departed child of its
    /// name as the dependency of the siblings that depend on that name:
    /// their keys here (for the shutdown order) and, through the departed
    /// link's successor, the siblings waiting for its start. Not when the
    /// new child itself depends, directly or not, on one of those
    /// siblings: that would be a cycle, and they keep waiting for the one
    /// that left.
    fn take_place_of_departed(&mut self, key: usize) {
        if self.departed.is_empty() {
            return;
        }
        let Some(link) = self.get(key).cloned() else {
            return;
        };
        let Some(old) = self.departed.remove(link.shared.name()) else {
            return;
        };
        let old_key = old.index as usize;
        let dependents: Vec<usize> = self
            .depends_on
            .iter()
            .filter(|(_, deps)| deps.contains(&old_key))
            .map(|(&dependent, _)| dependent)
            .collect();
        if self.reaches(key, &dependents) {
            return;
        }
        for dependent in dependents {
            if let Some(deps) = self.depends_on.get_mut(&dependent) {
                for dep in deps.iter_mut().filter(|dep| **dep == old_key) {
                    *dep = key;
                }
            }
        }
        old.replaced_by(link);
    }

    /// Whether child `from` depends, directly or through others, on one of
    /// `targets`.
    fn reaches(&self, from: usize, targets: &[usize]) -> bool {
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![from];
        while let Some(key) = stack.pop() {
            for &dep in self.depends_on(key) {
                if targets.contains(&dep) {
                    return true;
                }
                if seen.insert(dep) {
                    stack.push(dep);
                }
            }
        }
        false
    }

    /// The name of the child in slot `i` (a removed child's slot is not in
    /// the name index, so every slot it holds is full).
    fn name_in<'a>(slots: &'a [Option<Rc<ChildLink>>], i: &u32) -> &'a str {
        slots[*i as usize]
            .as_ref()
            .map_or("", |link| link.shared.name())
    }

    /// Makes room for `additional` more children.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let new = additional.saturating_sub(self.free.len());
        self.slots.reserve(new);
        if self.ordered {
            self.order.reserve(additional);
        }
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.by_name
            .reserve(additional, |i| hasher.hash_one(Self::name_in(slots, i)));
    }

    /// The key the next child will have (its `index`).
    pub(crate) fn next_index(&self) -> usize {
        self.next_key as usize
    }

    /// How many children the table holds.
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// How many slots the table has: the most children it held at once.
    #[cfg(test)]
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The children, in start order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Rc<ChildLink>> {
        self.indexed().map(|(_, link)| link)
    }

    /// The children with their keys, in start order.
    pub(crate) fn indexed(&self) -> impl Iterator<Item = (usize, &Rc<ChildLink>)> {
        let entries = if self.ordered {
            self.order.len()
        } else {
            self.slots.len()
        };
        (0..entries).filter_map(move |at| {
            let (key, slot) = if self.ordered {
                self.order[at]
            } else {
                (at as u64, at as u32)
            };
            let link = self.slots.get(slot as usize)?.as_ref()?;
            Some((key as usize, link))
        })
    }

    /// Where the child with `key` is in start order, with its slot, if it
    /// is in the table.
    fn position(&self, key: usize) -> Option<(usize, u32)> {
        if !self.ordered {
            let slot = u32::try_from(key).ok()?;
            let full = self.slots.get(key).is_some_and(Option::is_some);
            return full.then_some((key, slot));
        }
        let at = self
            .order
            .binary_search_by_key(&(key as u64), |&(k, _)| k)
            .ok()?;
        let slot = self.order[at].1;
        (slot != REMOVED).then_some((at, slot))
    }

    /// The child with `key`, if it is still in the table.
    pub(crate) fn get(&self, key: usize) -> Option<&Rc<ChildLink>> {
        let (_, slot) = self.position(key)?;
        self.slots[slot as usize].as_ref()
    }

    /// The keys of the siblings child `key` depends on (some may name
    /// children removed since).
    pub(crate) fn depends_on(&self, key: usize) -> &[usize] {
        self.depends_on.get(&key).map_or(&[], |deps| deps)
    }

    /// The child called `name`, with its key.
    pub(crate) fn find(&self, name: &str) -> Option<(usize, &Rc<ChildLink>)> {
        let hash = self.hasher.hash_one(name);
        let slot = *self
            .by_name
            .find(hash, |i| Self::name_in(&self.slots, i) == name)?;
        let link = self.slots[slot as usize].as_ref()?;
        Some((link.index as usize, link))
    }

    /// The names of the children that depend on child `key`.
    pub(crate) fn dependents_of(&self, key: usize) -> Vec<String> {
        self.indexed()
            .filter(|&(i, _)| self.depends_on(i).contains(&key))
            .map(|(_, link)| link.path().name().to_string())
            .collect()
    }

    /// Takes child `key` out of the table; its name and its slot are free
    /// for the next child.
    pub(crate) fn remove(&mut self, key: usize) -> Option<Rc<ChildLink>> {
        self.position(key)?;
        if !self.ordered {
            // From now on slots are reused: start order is kept apart.
            self.order = (0..self.slots.len())
                .map(|slot| (slot as u64, slot as u32))
                .collect();
            self.ordered = true;
        }
        let (at, slot) = self.position(key)?;
        let link = self.slots[slot as usize].take()?;
        let hash = self.hasher.hash_one(link.shared.name());
        if let Ok(entry) = self.by_name.find_entry(hash, |&i| i == slot) {
            entry.remove();
        }
        self.depends_on.remove(&key);
        if self.depends_on.values().any(|deps| deps.contains(&key)) {
            self.departed
                .insert(link.shared.name().to_string(), link.clone());
        }
        self.free.push(slot);
        self.order[at].1 = REMOVED;
        self.removed += 1;
        if self.removed > 8 && self.removed * 2 > self.order.len() {
            self.order.retain(|&(_, slot)| slot != REMOVED);
            self.removed = 0;
        }
        Some(link)
    }

    /// Puts `link` in the place of child `key` (the same name, key, slot and
    /// dependencies: a child started again); returns the link it replaced.
    pub(crate) fn replace(&mut self, key: usize, link: Rc<ChildLink>) -> Option<Rc<ChildLink>> {
        let (_, slot) = self.position(key)?;
        let old = self.slots[slot as usize].as_ref()?;
        debug_assert_eq!(old.path().name(), link.path().name());
        debug_assert_eq!(link.index as usize, key);
        self.slots[slot as usize].replace(link)
    }

    /// The children with their dependencies, as positions in start order
    /// over the children only, for a shutdown plan.
    pub(crate) fn for_shutdown(&self) -> Vec<(Rc<ChildLink>, Vec<usize>)> {
        let live: Vec<(usize, &Rc<ChildLink>)> = self.indexed().collect();
        let position = |key: usize| live.binary_search_by_key(&key, |&(k, _)| k).ok();
        live.iter()
            .map(|&(key, link)| {
                let deps = self
                    .depends_on(key)
                    .iter()
                    .filter_map(|&d| position(d))
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
            token: std::sync::Arc::new(CancellationToken::new()),
            strategy: Strategy::OneForOne,
            finished: Default::default(),
            shutting_down: Default::default(),
        });
        let env = ChildEnv {
            path: NodePath::root("app").join(name),
            restart: RestartPolicy::default(),
            backoff: None,
            grace: Grace::default(),
            index,
            scope,
            remove_on_exit: false,
            incarnations: 0,
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
        assert_eq!(removed.path().as_str(), "/app/api");
        assert!(children.find("api").is_none());
        assert!(children.dependents_of(0).is_empty());
        assert!(children.remove(2).is_none());

        // The name can be used again; the new child gets a new index.
        assert_eq!(children.push(link(3, "api"), vec![1]), 3);
        assert_eq!(children.find("api").map(|(i, _)| i), Some(3));
        assert_eq!(children.dependents_of(1), ["api"]);
        let names: Vec<_> = children.iter().map(|l| l.path().name()).collect();
        assert_eq!(names, ["db", "cache", "api"]);
        let plan: Vec<_> = children
            .for_shutdown()
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        assert_eq!(plan, [vec![], vec![], vec![1]]);
    }

    #[test]
    fn a_new_child_of_a_departed_dependencys_name_takes_its_place() {
        let mut children = Children::new();
        children.push(link(0, "db"), Vec::new());
        children.push(link(1, "api"), vec![0]);
        let departed = children.remove(0).expect("db is there");
        assert_eq!(children.depends_on(1), [0]);

        let key = children.push(link(children.next_index(), "db"), Vec::new());
        assert_eq!(children.depends_on(1), [key]);
        assert_eq!(children.dependents_of(key), ["api"]);
        let latest = ChildLink::latest(&departed);
        assert_eq!(latest.index as usize, key);
        // The shutdown plan stops api (now before db in start order) first.
        let plan: Vec<_> = children
            .for_shutdown()
            .into_iter()
            .map(|(link, d)| (link.path().name().to_string(), d))
            .collect();
        assert_eq!(
            plan,
            [("api".to_string(), vec![1]), ("db".to_string(), vec![])]
        );
        // Taken once: a later child of that name is nobody's dependency.
        let again = children.remove(key).expect("the new db is there");
        assert!(ChildLink::latest(&again).index as usize == key);
    }

    #[test]
    fn a_new_child_that_depends_on_the_dependents_does_not_take_the_place() {
        let mut children = Children::new();
        children.push(link(0, "db"), Vec::new());
        children.push(link(1, "api"), vec![0]);
        let departed = children.remove(0).expect("db is there");
        // The new db depends on api: taking the old one's place would make
        // a cycle.
        children.push(link(children.next_index(), "db"), vec![1]);
        assert_eq!(children.depends_on(1), [0]);
        assert_eq!(ChildLink::latest(&departed).index, departed.index);
    }

    #[test]
    fn a_reused_slot_keeps_start_order_and_dependencies_right() {
        let mut children = Children::new();
        for name in ["db", "cache", "api"] {
            let deps = if name == "api" { vec![0] } else { Vec::new() };
            children.push(link(children.next_index(), name), deps);
        }
        // "db" leaves; "queue" takes its slot, but starts last.
        children.remove(0).expect("db is there");
        let key = children.push(link(children.next_index(), "queue"), vec![1]);
        assert_eq!(key, 3);
        assert_eq!(children.slot_count(), 3);
        let names: Vec<_> = children.iter().map(|l| l.path().name()).collect();
        assert_eq!(names, ["cache", "api", "queue"]);
        // "api" depended on the removed "db": that key names nobody now.
        assert!(children.get(0).is_none());
        assert_eq!(children.find("queue").map(|(k, _)| k), Some(3));
        assert_eq!(children.dependents_of(1), ["queue"]);
        let plan: Vec<_> = children
            .for_shutdown()
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        assert_eq!(plan, [vec![], vec![], vec![0]]);
    }

    #[test]
    fn the_table_follows_the_live_children_over_many_adds_and_removes() {
        let mut children = Children::new();
        for i in 0..10 {
            children.push(link(children.next_index(), &format!("keep{i}")), Vec::new());
        }
        let mut live = std::collections::VecDeque::new();
        for job in 0..10_000 {
            let key = children.push(link(children.next_index(), &format!("job{job}")), vec![0]);
            live.push_back(key);
            if live.len() > 5 {
                let oldest = live.pop_front().expect("more than five");
                assert!(children.remove(oldest).is_some());
            }
        }
        assert_eq!(children.len(), 15);
        // At most 16 children were ever there at once.
        assert!(
            children.slot_count() <= 16,
            "{} slots",
            children.slot_count()
        );
        assert!(children.free.len() <= 1);
        assert!(children.order.len() <= 2 * children.len() + 9);
        assert!(children.by_name.len() == children.len());
        assert!(children.depends_on.len() <= 5);
        let names: Vec<_> = children
            .iter()
            .map(|l| l.path().name().to_string())
            .collect();
        let mut expected: Vec<_> = (0..10).map(|i| format!("keep{i}")).collect();
        expected.extend((9995..10_000).map(|j| format!("job{j}")));
        assert_eq!(names, expected);
        for (key, link) in children.indexed() {
            assert_eq!(
                children.get(key).map(|l| l.path().name()),
                Some(link.path().name())
            );
        }
    }

    #[test]
    fn a_child_started_again_keeps_its_key_place_and_dependencies() {
        let mut children = Children::new();
        for name in ["db", "api", "web"] {
            let deps = if name == "web" { vec![1] } else { Vec::new() };
            children.push(link(children.next_index(), name), deps);
        }
        let old = children.get(1).expect("api is there").clone();
        let replaced = children.replace(1, link(1, "api")).expect("api is there");
        assert!(Rc::ptr_eq(&replaced, &old));
        assert!(!Rc::ptr_eq(children.get(1).expect("api"), &old));
        assert_eq!(children.find("api").map(|(k, _)| k), Some(1));
        assert_eq!(children.dependents_of(1), ["web"]);
        let names: Vec<_> = children.iter().map(|l| l.path().name()).collect();
        assert_eq!(names, ["db", "api", "web"]);
        assert_eq!(children.slot_count(), 3);
        assert!(children.replace(7, link(7, "nobody")).is_none());
    }

    #[test]
    fn a_table_that_only_grows_keeps_no_start_order_list() {
        let mut children = Children::new();
        children.reserve(100);
        for i in 0..100 {
            children.push(link(i, &format!("c{i}")), Vec::new());
        }
        // 16 bytes per child less: keys are slots, start order slot order.
        assert!(!children.ordered);
        assert_eq!(children.order.capacity(), 0);
        assert_eq!(children.get(42).map(|l| l.path().name()), Some("c42"));
        let keys: Vec<_> = children.indexed().map(|(k, _)| k).collect();
        assert_eq!(keys, (0..100).collect::<Vec<_>>());
        // The first removal starts the list, and start order holds on.
        children.remove(3).expect("c3 is there");
        assert!(children.ordered);
        let key = children.push(link(children.next_index(), "late"), Vec::new());
        assert_eq!(key, 100);
        assert_eq!(children.slot_count(), 100, "the freed slot is reused");
        let names: Vec<_> = children
            .iter()
            .map(|l| l.path().name().to_string())
            .collect();
        assert_eq!(names.len(), 100);
        assert_eq!(names[2], "c2");
        assert_eq!(names[3], "c4");
        assert_eq!(names[99], "late");
        assert!(children.get(3).is_none());
        assert_eq!(children.find("late").map(|(k, _)| k), Some(100));
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
