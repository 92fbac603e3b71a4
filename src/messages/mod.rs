//! The control messages a supervisor answers, and their replies.
//!
//! The table of messages, what each answers and when, is in the crate's
//! documentation (section "Control messages"), where rustdoc shows it; this
//! module is private and its items are re-exported at the crate root.
//!
//! | message | file |
//! |---------|------|
//! | `Inspect` | `inspect.rs` |
//! | `Stop`, `StopReport`, `StopOutcome`, `SubtreeSummary` | `stop.rs` |
//! | `Subscribe`, `SubscribeRecipient`, `LifecycleEvent` | `events.rs` |
//! | `StartChild`, `StopChild`, `RestartChild`, `RemoveChild` | `children.rs` |
//! | `Kill` | here |

pub(crate) mod by_path;
pub(crate) mod children;
pub(crate) mod events;
pub(crate) mod inspect;
pub(crate) mod stop;

pub use by_path::{ChildAt, PathError, RemoveChildAt, RestartChildAt, StopChildAt, SupervisorAt};
pub use children::{RemoveChild, RestartChild, StartChild, StopChild};
pub use events::{EventKind, EventStream, LifecycleEvent, Subscribe, SubscribeRecipient};
pub use inspect::Inspect;
pub use stop::{Stop, StopOutcome, StopReport, SubtreeSummary};

use actix::Message;

/// Kills a supervisor and all its children at once, without draining: every
/// pending and later `send()` to them fails.
///
/// This is the emergency brake, not the way to stop: [`Stop`] drains every
/// mailbox first and answers with a [`StopReport`]. `Kill` answers `()` once
/// the supervisor has terminated its children; nothing they had queued is
/// handled.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Idle;
/// impl Actor for Idle { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Idle);
///
/// # actix::System::new().block_on(async {
/// let app = SupervisorActor::builder("app")
///     .child(ChildSpec::new("idle", Idle::default))
///     .start()?;
/// app.send(Kill).await?;
/// assert!(app.send(Inspect).await.is_err(), "the supervisor is gone");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Kill;
