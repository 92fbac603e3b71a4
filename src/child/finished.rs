//! [`Finished`]: the children of one supervisor that published their final
//! report, noted for the supervisor's shutdown, so that it waits for all of
//! them with one waker instead of one future, task and waker registration per
//! child.
//!
//! # Invariants
//!
//! - Every final report of a child under a supervisor is published through
//!   `ChildLink::finish` (in `link.rs`), which notes the child's key here
//!   after the report is out. The runner, a nested supervisor's shutdown and a remote
//!   subtree's relay all finish their link that way, on the supervisor's
//!   thread (links are `Rc`s), so a shutdown that starts watching before it
//!   looks at its children's reports misses no end.
//! - While no shutdown watches, noting an end costs a borrow check.
//! - While one does, the keys noted since its last poll wait for it, and its
//!   task is woken once per batch: whenever a key is noted while none
//!   waits, after the last poll took them.

use std::cell::{Cell, RefCell};
use std::task::Waker;

/// The ends of a supervisor's children, noted for its shutdown (kept in the
/// children's `SupervisorScope`).
#[derive(Debug, Default)]
pub(crate) struct Finished {
    watch: RefCell<Option<Watch>>,
    /// The supervisor shuts down: none of its children starts again.
    ending: Cell<bool>,
}

/// A shutdown's watch over the ends.
#[derive(Debug, Default)]
struct Watch {
    /// Keys noted since the shutdown last took them.
    keys: Vec<u64>,
    /// The shutdown's task, woken when the first key of a batch is noted.
    waker: Option<Waker>,
}

impl Finished {
    /// Begins watching, for the supervisor's shutdown: from now on every
    /// end is kept until taken, and no child starts again.
    /// `children` is the number of ends expected: room for them is made
    /// once, not grown while they come.
    pub(crate) fn watch(&self, children: usize) {
        self.ending.set(true);
        *self.watch.borrow_mut() = Some(Watch {
            keys: Vec::with_capacity(children),
            waker: None,
        });
    }

    /// Whether the supervisor shuts down (or did): a child that finishes
    /// now will not be started again, so nothing need be kept for it.
    pub(crate) fn is_ending(&self) -> bool {
        self.ending.get()
    }

    /// Ends the watch (the supervisor stays ending).
    pub(crate) fn unwatch(&self) {
        *self.watch.borrow_mut() = None;
    }

    /// Notes that the child with this key published its final report.
    pub(crate) fn note(&self, key: u64) {
        let mut watch = self.watch.borrow_mut();
        let Some(watch) = watch.as_mut() else {
            return;
        };
        watch.keys.push(key);
        if watch.keys.len() == 1 {
            if let Some(waker) = &watch.waker {
                // Only schedules the task: nothing runs while this borrow
                // is held.
                waker.wake_by_ref();
            }
        }
    }

    /// Moves the keys noted since the last call into `keys` (emptied
    /// first; the two vectors are swapped, so pass the same one each time),
    /// and keeps `waker` to wake for the next one.
    pub(crate) fn take(&self, keys: &mut Vec<u64>, waker: &Waker) {
        keys.clear();
        let mut watch = self.watch.borrow_mut();
        let Some(watch) = watch.as_mut() else {
            return;
        };
        std::mem::swap(keys, &mut watch.keys);
        if !watch.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            watch.waker = Some(waker.clone());
        }
    }
}
