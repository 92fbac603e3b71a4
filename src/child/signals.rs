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

use std::cell::Cell;

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
    const NOTHING: Reported = Reported {
        failure: None,
        marker: None,
        start_over: false,
    };

    /// Whether nothing was reported.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.failure.is_none() && self.marker.is_none() && !self.start_over
    }
}

thread_local! {
    /// The scope of the poll under way on this thread.
    static SCOPE: Cell<Reported> = const { Cell::new(Reported::NOTHING) };
}

/// The scope that was open before [`enter`], to give back to [`leave`].
#[derive(Debug)]
#[must_use = "a scope entered must be left"]
pub(crate) struct Outer(Reported);

/// Opens a fresh scope for one poll of a child's context.
#[inline]
pub(crate) fn enter() -> Outer {
    Outer(SCOPE.with(|scope| scope.replace(Reported::NOTHING)))
}

/// Closes the scope opened by [`enter`]: returns what the poll reported and
/// restores the scope that was open before.
#[inline]
pub(crate) fn leave(outer: Outer) -> Reported {
    SCOPE.with(|scope| scope.replace(outer.0))
}

fn report(update: impl FnOnce(&mut Reported)) {
    SCOPE.with(|scope| {
        let mut reported = scope.take();
        update(&mut reported);
        scope.set(reported);
    });
}

/// Reports that the drain marker numbered `id` was handled.
pub(crate) fn marker_reached(id: u32) {
    report(|r| r.marker = Some(id));
}

/// Reports that the start barrier was reached.
pub(crate) fn start_over() {
    report(|r| r.start_over = true);
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
    report(|r| r.failure = Some(reason));
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
