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
//! - While one does, the child's report is copied into the shutdown's list
//!   of reports as it is noted, at the child's place: the report was just
//!   written and is still in the cache, where a pass over every child's
//!   report once all are done would read each from memory again (issue 17,
//!   `docs/profiles/stop.md`).

use std::cell::{Cell, RefCell};
use std::task::Waker;

use crate::messages::stop::StopReport;

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
    /// The keys of the children watched, in order: a child's place in
    /// `reports` is its key's place here.
    watched: Vec<u64>,
    /// The reports of the children noted, at their places.
    reports: Vec<Option<StopReport>>,
}

impl Watch {
    /// The place of the child with this key: the key itself while no child
    /// before it left the table, else found by its order.
    fn position(&self, key: u64) -> Option<usize> {
        let at = usize::try_from(key).ok()?;
        if self.watched.get(at) == Some(&key) {
            return Some(at);
        }
        self.watched.binary_search(&key).ok()
    }
}

impl Finished {
    /// Begins watching, for the supervisor's shutdown: from now on every
    /// end is kept until taken, with a copy of the child's report, and no
    /// child starts again. `watched` are the keys of the children whose
    /// reports are kept, in order: room for their ends is made once, not
    /// grown while they come.
    pub(crate) fn watch(&self, watched: Vec<u64>) {
        self.ending.set(true);
        let n = watched.len();
        *self.watch.borrow_mut() = Some(Watch {
            keys: Vec::with_capacity(n),
            waker: None,
            watched,
            reports: std::iter::repeat_with(|| None).take(n).collect(),
        });
    }

    /// Whether the supervisor shuts down (or did): a child that finishes
    /// now will not be started again, so nothing need be kept for it.
    pub(crate) fn is_ending(&self) -> bool {
        self.ending.get()
    }

    /// Ends the watch (the supervisor stays ending) and returns the reports
    /// of the children noted during it, at their places among those
    /// watched (`None` for one not noted, or none watched).
    pub(crate) fn unwatch(&self) -> Vec<Option<StopReport>> {
        self.watch
            .borrow_mut()
            .take()
            .map(|watch| watch.reports)
            .unwrap_or_default()
    }

    /// Notes that the child with this key published its final `report`.
    pub(crate) fn note(&self, key: u64, report: Option<&StopReport>) {
        let mut watch = self.watch.borrow_mut();
        let Some(watch) = watch.as_mut() else {
            return;
        };
        if let (Some(at), Some(report)) = (watch.position(key), report) {
            watch.reports[at].get_or_insert_with(|| report.clone());
        }
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
