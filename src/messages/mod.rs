//! The control messages a supervisor answers, and their replies.
//!
//! | message     | sent to            | reply          |
//! |-------------|--------------------|----------------|
//! | [`Inspect`] | a supervisor       | [`TreeSnapshot`](crate::TreeSnapshot) of its subtree |
//! | [`Stop`]    | a supervisor       | [`StopReport`] of its subtree, once every node drained or timed out |
//! | [`Subscribe`] | a supervisor     | [`EventStream`] of its subtree's lifecycle events |
//! | [`StartChild`] | a supervisor    | `Result<(), ControlError>` once the child is added and starting |
//! | [`StopChild`] | a supervisor     | `Result<StopReport, ControlError>` once that child stopped |
//! | [`RestartChild`] | a supervisor  | `Result<(), ControlError>` once its next incarnation is starting |
//! | [`RemoveChild`] | a supervisor   | `Result<StopReport, ControlError>` once it stopped and left the table |
//!
//! [`ControlError`]: crate::ControlError
//! | [`SubscribeRecipient`] | a supervisor | `()`; the events go to the recipient |
//! | [`Shutdown`]| a supervisor       | `()`: terminates it and its children at once |

pub(crate) mod by_path;
pub(crate) mod children;
pub(crate) mod events;
pub(crate) mod inspect;
pub(crate) mod stop;

pub use by_path::{PathError, RemoveChildAt, RestartChildAt, StopChildAt, SupervisorAt};
pub use children::{RemoveChild, RestartChild, StartChild, StopChild};
pub use events::{EventKind, EventStream, LifecycleEvent, Subscribe, SubscribeRecipient};
pub use inspect::Inspect;
pub use stop::{Stop, StopOutcome, StopReport};

use actix::Message;

/// Terminates a supervisor and all its children at once, without draining:
/// every pending and later `send()` to them fails.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Shutdown;
