//! One supervised child: its lifecycle, the runner that carries it out, and
//! what its supervisor and its handles share with it.
//!
//! A child is an actix actor made supervisable by
//! [`supervised!`](crate::supervised) ([`supervised`]). Its supervisor
//! starts it from the [`Parts`](start::Parts) of its spec; from then on the
//! child's [`runner`] owns its actix context for the child's whole life,
//! polling it inside `catch_unwind` and restarting it in place, and does
//! what the child's [`lifecycle`] decides. The supervisor sees the child
//! through its [`link`]: a record of its state and a slot for commands.
//! Users see it through its [`ChildHandle`](handle::ChildHandle), whose
//! sends are counted so that a stop can tell what it drained ([`drain`]).
//! What user code reports during a poll (an error exit, a marker reached, a
//! start that is over, a future the child now owns) travels through
//! [`signals`], scoped to the poll. A handler's reply that awaits I/O and
//! stays the child's work is a [`ChildFuture`](response::ChildFuture)
//! ([`response`]).
//!
//! This module depends on nothing of the supervisor: the supervisor uses it.
//!
//! # The lifecycle at a glance
//!
//! ```text
//! Pending ─▶ Starting ─▶ Running ─▶ (incarnation ends) ─▶ Deciding
//!    ▲                                                      │
//!    ├──────── Backoff ◀──── restart after a delay ─────────┤
//!    ├──────── (at once) ◀── restart now ───────────────────┤
//!    ├──────── Parked ◀───── restart with siblings ─────────┤
//!    └──────── GaveUp ◀───── one restart too many ──────────┤
//!              Done ◀─────── not restarted ─────────────────┘
//! ```
//!
//! A `Stop` in any state but `GaveUp` and `Done` drains what waits in the
//! mailbox before the child ends: the running incarnation drains to a
//! marker, and between incarnations the next one is started at once to do
//! it. The full table is in [`lifecycle`].

pub(crate) mod drain;
pub(crate) mod finished;
pub(crate) mod handle;
pub(crate) mod lifecycle;
pub(crate) mod link;
pub(crate) mod respawn;
pub(crate) mod response;
pub(crate) mod restart;
pub(crate) mod runner;
pub(crate) mod signals;
#[cfg(test)]
mod sizes;
pub(crate) mod start;
pub(crate) mod supervised;

pub use handle::ChildHandle;
pub use response::ChildFuture;
pub use signals::fail;
pub use start::StartContext;
pub use supervised::{restart_fresh, SupervisedActor, SupervisedHandler};
