//! What code running inside one poll of a child's context reports to the
//! runner polling it: an error exit ([`fail`]), a drain marker reached, the
//! end of the start.
//!
//! User code has no handle on its runner, so these travel through one
//! thread-local slot. The slot is **scoped to the poll**: the runner opens a
//! fresh scope before it polls its child's context ([`enter`]) and takes
//! what was reported when the poll returns ([`leave`]), restoring whatever
//! scope was open before. So a report belongs to the child being polled and
//! to no other: another child's poll can neither take it nor throw it away,
//! and nothing is left over for the next poll on the thread.

use std::cell::{Cell, RefCell};

use actix::{Actor, ActorContext, Context};

/// What one poll of a child's context reported.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Reported {
    /// The reason given to [`fail`], if it was called.
    pub(crate) failure: Option<String>,
    /// The number of the drain marker handled, if one was.
    pub(crate) marker: Option<u32>,
    /// The start barrier was reached: the incarnation's start is over.
    pub(crate) start_over: bool,
}

impl Reported {
    /// Whether nothing was reported.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.failure.is_none() && self.marker.is_none() && !self.start_over
    }
}

// The scope of the poll under way, as one word, so that opening and closing
// it costs two thread-local stores on the message path: the marker's number
// (low 32 bits), whether a marker was reached, the start is over, `fail`
// was called. The reason given to `fail` waits in `REASON`.
const MARKER: u64 = 1 << 32;
const START_OVER: u64 = 1 << 33;
const FAILED: u64 = 1 << 34;

thread_local! {
    /// The scope of the poll under way on this thread.
    static SCOPE: Cell<u64> = const { Cell::new(0) };
    /// The reason of the `fail` reported in the scope under way.
    static REASON: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The scope that was open before [`enter`], to give back to [`leave`].
#[derive(Debug)]
#[must_use = "a scope entered must be left"]
pub(crate) struct Outer {
    word: u64,
    reason: Option<String>,
}

/// Opens a fresh scope for one poll of a child's context.
#[inline]
pub(crate) fn enter() -> Outer {
    let word = SCOPE.with(|scope| scope.replace(0));
    let reason = if word & FAILED != 0 {
        REASON.with(|reason| reason.borrow_mut().take())
    } else {
        None
    };
    Outer { word, reason }
}

/// Closes the scope opened by [`enter`]: returns what the poll reported and
/// restores the scope that was open before.
#[inline]
pub(crate) fn leave(outer: Outer) -> Reported {
    let word = SCOPE.with(|scope| scope.replace(outer.word));
    if word == 0 && outer.reason.is_none() {
        return Reported::default();
    }
    let failure = if word & FAILED != 0 {
        REASON.with(|reason| reason.borrow_mut().take())
    } else {
        None
    };
    if let Some(outer) = outer.reason {
        REASON.with(|reason| *reason.borrow_mut() = Some(outer));
    }
    Reported {
        failure,
        marker: (word & MARKER != 0).then_some(word as u32),
        start_over: word & START_OVER != 0,
    }
}

/// Reports that the drain marker numbered `id` was handled.
pub(crate) fn marker_reached(id: u32) {
    SCOPE.with(|scope| scope.set((scope.get() & !(MARKER - 1)) | MARKER | u64::from(id)));
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
        assert_eq!(
            inner_reported,
            Reported {
                start_over: true,
                ..Reported::default()
            }
        );
        let reported = leave(outer);
        assert_eq!(reported.marker, Some(7));
        assert!(!reported.start_over);
        // Nothing is left over for the next poll.
        assert!(leave(enter()).is_empty());
    }
}
