//! The control messages a supervisor answers, and their replies.
//!
//! | message     | sent to            | reply          |
//! |-------------|--------------------|----------------|
//! | [`Inspect`] | a supervisor       | [`TreeSnapshot`](crate::TreeSnapshot) of its subtree |
//! | [`Stop`]    | a supervisor       | [`StopReport`] of its subtree, once every node drained or timed out |
//! | [`Shutdown`]| a supervisor       | `()`: terminates it and its children at once |

pub(crate) mod inspect;
pub(crate) mod stop;

pub use inspect::Inspect;
pub use stop::{Stop, StopOutcome, StopReport};

use actix::Message;

/// Terminates a supervisor and all its children at once, without draining:
/// every pending and later `send()` to them fails.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Shutdown;
