//! What code running inside one poll of a child's context reports to the
//! runner polling it: an error exit ([`fail`]), a drain marker reached, the
//! end of the start, a future the child now owns ([`own`]), a message held
//! back for the next incarnation ([`defer`]).
//!
//! User code has no handle on its runner, so these travel through one
//! thread-local slot. The slot is **scoped to the poll**: the runner opens a
//! fresh scope before it polls its child's context ([`enter`]) and takes
//! what was reported when the poll returns ([`leave`]), restoring whatever
//! scope was open before. So a report belongs to the child being polled and
//! to no other: another child's poll can neither take it nor throw it away,
//! and nothing is left over for the next poll on the thread.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use actix::{Actor, ActorContext, Context};

use std::fmt;

/// What one poll of a child's context reported: the reason given to
/// [`fail`], if it was called, and the rest as the scope's word.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Reported {
    /// The reason given to [`fail`], if it was called.
    pub(crate) failure: Option<String>,
    /// The scope's word, less `fail`'s bit and an outer scope's base.
    word: u64,
}

impl Reported {
    /// Whether nothing was reported.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.failure.is_none() && self.word == 0
    }

    /// The number of the drain marker handled, if one was.
    pub(crate) fn marker(&self) -> Option<u32> {
        (self.word & MARKER != 0).then_some(self.word as u32)
    }

    /// Whether the context was stopped right after the marker handled (it
    /// ended a restart's drain).
    pub(crate) fn stopped_at_marker(&self) -> bool {
        self.word & STOPPED_AT_MARKER != 0
    }

    /// Whether the start barrier was reached: the incarnation's start is
    /// over.
    pub(crate) fn start_over(&self) -> bool {
        self.word & START_OVER != 0
    }

    /// Whether the child took on futures during the poll
    /// ([`ChildFuture`](super::response::ChildFuture)s): [`take_owned`]
    /// hands them over.
    pub(crate) fn owned(&self) -> bool {
        self.word & OWNED_SOME != 0
    }

    /// Whether messages were held back for the next incarnation during the
    /// poll: [`take_deferred`] hands them over.
    pub(crate) fn deferred(&self) -> bool {
        self.word & DEFERRED_SOME != 0
    }
}

// The scope of the poll under way, as one word, so that opening and closing
// it costs two thread-local stores on the message path: the marker's number
// (low 32 bits), whether a marker was reached, the start is over, `fail`
// was called, a future was owned, messages are held back past a restart's
// marker, some were. The reason given to `fail` waits in `REASON`, the
// futures owned in `OWNED`, the messages held back in `DEFERRED`. Outside
// every scope the word is `CLOSED`.
const MARKER: u64 = 1 << 32;
const START_OVER: u64 = 1 << 33;
const FAILED: u64 = 1 << 34;
const OWNED_SOME: u64 = 1 << 35;
/// The context was stopped right after the marker (see [`marker_reached`]).
const STOPPED_AT_MARKER: u64 = 1 << 36;
const CLOSED: u64 = 1 << 37;
/// The incarnation is past the marker that ends its restart's drain: a
/// message sent through a handle is held back for the next incarnation
/// (see [`defers`]).
const DEFER: u64 = 1 << 38;
/// Messages were held back in this scope.
const DEFERRED_SOME: u64 = 1 << 39;
/// In a scope opened inside one that owned futures: how many of `OWNED`'s
/// are the outer scope's (bits 40 and up).
const BASE_SHIFT: u32 = 40;
/// In `STOP_AT`: the incarnation owns futures in flight, so the restart's
/// marker does not stop its context.
const BUSY: u64 = 1 << 33;

thread_local! {
    /// The scope of the poll under way on this thread.
    static SCOPE: Cell<u64> = const { Cell::new(CLOSED) };
    /// The reason of the `fail` reported in the scope under way.
    static REASON: RefCell<Option<String>> = const { RefCell::new(None) };
    /// The futures owned in the scope under way.
    static OWNED: RefCell<Vec<Rc<dyn OwnedSlot>>> = const { RefCell::new(Vec::new()) };
    /// The futures owned in the scope last closed, for its runner.
    static ADOPTED: RefCell<Vec<Rc<dyn OwnedSlot>>> = const { RefCell::new(Vec::new()) };
    /// The marker that ends a restart's drain in the poll under way, as
    /// `MARKER | id`, with `BUSY` (0 for none): see [`stop_at_marker`].
    static STOP_AT: Cell<u64> = const { Cell::new(0) };
    /// The messages held back in the scope under way ([`defer`]).
    static DEFERRED: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
    /// The messages held back in the scope last closed, for its runner.
    static DEFERRED_TAKEN: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// The scope that was open before [`enter`], to give back to [`leave`].
#[derive(Debug)]
#[must_use = "a scope entered must be left"]
pub(crate) struct Outer {
    word: u64,
    aside: Option<Box<Aside>>,
}

/// What an outer scope reported that its inner scope must not take.
#[derive(Debug, Default)]
struct Aside {
    reason: Option<String>,
    deferred: Vec<Box<dyn Any>>,
}

/// Opens a fresh scope for one poll of a child's context.
#[inline(always)]
pub(crate) fn enter() -> Outer {
    let word = SCOPE.with(|scope| scope.replace(0));
    let aside = if word & (FAILED | OWNED_SOME | DEFERRED_SOME) != 0 {
        set_aside(word)
    } else {
        None
    };
    Outer { word, aside }
}

/// Sets aside what the outer scope reported that its inner scope must not
/// take: `fail`'s reason and the messages held back are returned (and given
/// back by [`leave`]); the futures it owned stay at the head of `OWNED`,
/// and the inner scope takes only those past them. (A scope opens inside
/// another only if a runner is polled inside another's poll, which tokio
/// never does; the report stays right even then.)
#[cold]
fn set_aside(word: u64) -> Option<Box<Aside>> {
    if word & OWNED_SOME != 0 {
        let base = OWNED.with(|owned| owned.borrow().len()) as u64;
        SCOPE.with(|scope| scope.set(base << BASE_SHIFT));
    }
    let mut aside = Box::<Aside>::default();
    if word & FAILED != 0 {
        aside.reason = REASON.with(|reason| reason.borrow_mut().take());
    }
    if word & DEFERRED_SOME != 0 {
        aside.deferred = DEFERRED.with(RefCell::take);
    }
    Some(aside)
}

/// Closes the scope opened by [`enter`]: returns what the poll reported and
/// restores the scope that was open before.
#[inline(always)]
pub(crate) fn leave(outer: Outer) -> Reported {
    let word = SCOPE.with(|scope| scope.replace(outer.word));
    if word == 0 && outer.aside.is_none() {
        return Reported::default();
    }
    reported(word, outer.aside)
}

/// What a scope that reported something (or inside one that did) reported.
#[cold]
#[inline(never)]
fn reported(word: u64, aside: Option<Box<Aside>>) -> Reported {
    let failure = if word & FAILED != 0 {
        REASON.with(|reason| reason.borrow_mut().take())
    } else {
        None
    };
    if word & OWNED_SOME != 0 {
        let base = (word >> BASE_SHIFT) as usize;
        let taken = OWNED.with(|owned| owned.borrow_mut().split_off(base));
        ADOPTED.with(|adopted| adopted.borrow_mut().extend(taken));
    }
    if word & DEFERRED_SOME != 0 {
        let taken = DEFERRED.with(RefCell::take);
        DEFERRED_TAKEN.with(|deferred| deferred.borrow_mut().extend(taken));
    }
    if let Some(aside) = aside {
        let Aside { reason, deferred } = *aside;
        if let Some(outer) = reason {
            REASON.with(|slot| *slot.borrow_mut() = Some(outer));
        }
        if !deferred.is_empty() {
            DEFERRED.with(|slot| *slot.borrow_mut() = deferred);
        }
    }
    Reported {
        failure,
        word: word
            & (MARKER | (MARKER - 1) | START_OVER | OWNED_SOME | STOPPED_AT_MARKER | DEFERRED_SOME),
    }
}

/// The futures owned in the scope [`leave`] just closed, when it reported
/// [`Reported::owned`]; the runner takes them right after.
pub(crate) fn take_owned() -> Adopted {
    Adopted(ADOPTED.with(RefCell::take))
}

/// Reports a future the child polled in this scope now owns; outside a
/// runner's poll (an actor started with plain actix) it does nothing.
pub(crate) fn own(slot: Rc<dyn OwnedSlot>) {
    let word = SCOPE.with(Cell::get);
    if word & CLOSED != 0 {
        return;
    }
    OWNED.with(|owned| owned.borrow_mut().push(slot));
    SCOPE.with(|scope| scope.set(word | OWNED_SOME));
}

/// Reports that the drain marker numbered `id` was handled. Returns whether
/// the child's context must stop right after it: the marker ends a
/// restart's drain ([`stop_at_marker`]) and the incarnation owns no future
/// (none before this poll, none taken on in it), so nothing is left for it
/// to wait for, and the messages queued behind the marker stay in the
/// mailbox for the fresh incarnation.
///
/// Past a restart's marker the scope also holds back every message sent
/// through a handle ([`defers`]): actix's mailbox hands the incarnation
/// what follows the marker when its context is not stopped (it owns
/// futures) or its `stopping` answers `Running::Continue`.
pub(crate) fn marker_reached(id: u32) -> bool {
    let stop_at = STOP_AT.with(Cell::get);
    let restart = stop_at & !BUSY == MARKER | u64::from(id);
    SCOPE.with(|scope| {
        let word = scope.get();
        if word & CLOSED != 0 {
            return false;
        }
        let stop = restart && stop_at & BUSY == 0 && word & OWNED_SOME == 0;
        let stopped = if stop { STOPPED_AT_MARKER } else { 0 };
        let defer = if restart { DEFER } else { 0 };
        scope.set(
            (word & !(MARKER - 1) & !STOPPED_AT_MARKER) | MARKER | stopped | defer | u64::from(id),
        );
        stop
    })
}

/// Says which marker, if any, ends a restart's drain in the poll about to
/// run, and whether the incarnation owns futures in flight (`busy`: then
/// the marker does not stop the context); returns the value to give back
/// to [`restore_stop_at`] after the poll.
pub(crate) fn stop_at_marker(id: u32, busy: bool) -> u64 {
    let busy = if busy { BUSY } else { 0 };
    STOP_AT.with(|stop_at| stop_at.replace(MARKER | busy | u64::from(id)))
}

/// Holds back, for the rest of the poll under way, every message sent
/// through a handle: the incarnation is past its restart's marker (the
/// runner calls it right after [`enter`]).
#[cold]
pub(crate) fn defer_past_marker() {
    SCOPE.with(|scope| scope.set(scope.get() | DEFER));
}

/// Whether a message sent through a handle is to be held back for the next
/// incarnation ([`defer`]) instead of handled: the incarnation polled is
/// past its restart's marker. False outside every scope.
#[inline(always)]
pub(crate) fn defers() -> bool {
    SCOPE.with(Cell::get) & DEFER != 0
}

/// Holds back a message (with its reply's sender) for the next
/// incarnation; the runner takes it after the poll ([`take_deferred`]).
/// The item is the runner's to downcast: a
/// `Box<dyn FnOnce(&mut A, &mut Context<A>)>`.
#[cold]
pub(crate) fn defer(item: Box<dyn Any>) {
    DEFERRED.with(|deferred| deferred.borrow_mut().push(item));
    SCOPE.with(|scope| scope.set(scope.get() | DEFERRED_SOME));
}

/// The messages held back in the scope [`leave`] just closed, when it
/// reported [`Reported::deferred`]; the runner takes them right after.
pub(crate) fn take_deferred() -> Vec<Box<dyn Any>> {
    DEFERRED_TAKEN.with(RefCell::take)
}

/// Restores what [`stop_at_marker`] replaced.
pub(crate) fn restore_stop_at(previous: u64) {
    STOP_AT.with(|stop_at| stop_at.set(previous));
}

/// Reports that the start barrier was reached.
pub(crate) fn start_over() {
    SCOPE.with(|scope| scope.set(scope.get() | START_OVER));
}

/// Ends the current incarnation as a failure (an "error exit"): the restart
/// policy treats it like a panic, and `reason` is recorded as the node's last
/// failure. It stops the context with `ctx.stop()`, so `stopping` and
/// `stopped` run as usual; if `stopping` keeps the actor running for a
/// while, the incarnation still ends as a failure when it does end.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
///
/// struct Poller;
/// impl Actor for Poller { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Poller);
///
/// #[derive(Message)]
/// #[rtype(result = "()")]
/// struct ConnectionLost(String);
///
/// impl Handler<ConnectionLost> for Poller {
///     type Result = ();
///     fn handle(&mut self, msg: ConnectionLost, ctx: &mut Context<Self>) {
///         actix_supervisor::fail(ctx, format!("connection lost: {}", msg.0));
///     }
/// }
/// ```
pub fn fail<A>(ctx: &mut Context<A>, reason: impl std::fmt::Display)
where
    A: Actor<Context = Context<A>>,
{
    let reason = reason.to_string();
    REASON.with(|slot| *slot.borrow_mut() = Some(reason));
    SCOPE.with(|scope| scope.set(scope.get() | FAILED));
    ctx.stop();
}

/// The slot of a future a child owns, as its runner sees it, whatever the
/// reply's type (see [`super::response`]).
pub(crate) trait OwnedSlot {
    /// Whether the slot still holds its future.
    fn is_live(&self) -> bool;
    /// Drops the future (and the reply's sender, so the requester gets an
    /// error); `lost` when a drain that promised to wait for it was under
    /// way (its message then counts undelivered).
    fn cancel(&self, lost: bool);
}

/// The slots registered during one poll of a child's context, for its
/// runner.
#[derive(Default)]
pub(crate) struct Adopted(pub(crate) Vec<Rc<dyn OwnedSlot>>);

impl fmt::Debug for Adopted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Adopted({} owned futures)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_belongs_to_the_scope_it_was_made_in() {
        let outer = enter();
        marker_reached(7);
        // A nested scope (another child polled meanwhile) sees nothing of
        // the outer one and leaves it untouched.
        let inner = enter();
        start_over();
        let inner_reported = leave(inner);
        assert!(inner_reported.start_over());
        assert_eq!(inner_reported.marker(), None);
        assert!(inner_reported.failure.is_none());
        let reported = leave(outer);
        assert_eq!(reported.marker(), Some(7));
        assert!(!reported.start_over());
        // Nothing is left over for the next poll.
        assert!(leave(enter()).is_empty());
    }

    /// A slot that is always live, for counting.
    struct Live;
    impl OwnedSlot for Live {
        fn is_live(&self) -> bool {
            true
        }
        fn cancel(&self, _: bool) {}
    }

    #[test]
    fn an_owned_future_belongs_to_the_scope_it_was_owned_in() {
        let outer = enter();
        own(Rc::new(Live));
        let inner = enter();
        own(Rc::new(Live));
        own(Rc::new(Live));
        assert!(leave(inner).owned());
        assert_eq!(take_owned().0.len(), 2);
        assert!(leave(outer).owned());
        assert_eq!(take_owned().0.len(), 1);
        assert!(leave(enter()).is_empty());
    }

    /// The context stops at a marker only if it is the one that ends a
    /// restart's drain and the incarnation took on no future in the poll.
    #[test]
    fn only_a_restart_drains_marker_with_nothing_owned_stops_the_context() {
        let previous = stop_at_marker(3, false);
        let outer = enter();
        assert!(!marker_reached(2), "another drain's marker");
        assert!(!defers());
        assert!(marker_reached(3));
        assert!(
            defers(),
            "what follows the marker is the next incarnation's"
        );
        let reported = leave(outer);
        assert_eq!(reported.marker(), Some(3));
        assert!(reported.stopped_at_marker());
        assert!(!defers());

        let outer = enter();
        own(Rc::new(Live));
        assert!(!marker_reached(3), "a future owned in this poll");
        assert!(defers());
        let reported = leave(outer);
        assert!(reported.owned() && !reported.stopped_at_marker());
        assert_eq!(take_owned().0.len(), 1);
        restore_stop_at(previous);

        let previous = stop_at_marker(3, true);
        let outer = enter();
        assert!(!marker_reached(3), "a future owned before this poll");
        assert!(defers());
        let _ = leave(outer);
        restore_stop_at(previous);

        let outer = enter();
        assert!(!marker_reached(3), "no restart's drain under way");
        let _ = leave(outer);
        // Outside every scope (a plain actix actor) a marker stops nothing.
        let previous = stop_at_marker(3, false);
        assert!(!marker_reached(3));
        assert!(!defers());
        restore_stop_at(previous);
    }

    #[test]
    fn a_message_held_back_belongs_to_the_scope_it_was_held_in() {
        let outer = enter();
        defer_past_marker();
        defer(Box::new(1_u8));
        let inner = enter();
        assert!(!defers(), "the inner scope holds nothing back by itself");
        defer_past_marker();
        defer(Box::new(2_u8));
        assert!(leave(inner).deferred());
        let inner_items = take_deferred();
        assert_eq!(inner_items.len(), 1);
        assert_eq!(inner_items[0].downcast_ref::<u8>(), Some(&2));
        assert!(defers(), "the outer scope is restored");
        let reported = leave(outer);
        assert!(reported.deferred());
        let outer_items = take_deferred();
        assert_eq!(outer_items.len(), 1);
        assert_eq!(outer_items[0].downcast_ref::<u8>(), Some(&1));
        assert!(leave(enter()).is_empty());
        assert!(!defers());
    }

    #[test]
    fn a_future_owned_outside_every_scope_is_reported_nowhere() {
        own(Rc::new(Live));
        assert!(OWNED.with(|owned| owned.borrow().is_empty()));
        assert!(leave(enter()).is_empty());
    }
}
