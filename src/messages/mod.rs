//! The control messages a supervisor answers, and their replies.
//!
//! | message     | sent to            | reply          |
//! |-------------|--------------------|----------------|
//! | [`Inspect`] | a supervisor       | [`TreeSnapshot`](crate::TreeSnapshot) of its subtree |
//! | [`Shutdown`]| a supervisor       | `()`: terminates it and its children at once |

pub(crate) mod inspect;

pub use inspect::Inspect;

use actix::Message;

/// Terminates a supervisor and all its children at once, without draining:
/// every pending and later `send()` to them fails.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Shutdown;
