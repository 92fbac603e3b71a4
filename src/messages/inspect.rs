//! [`Inspect`]: ask a supervisor for a [`TreeSnapshot`] of its subtree.

use actix::Message;

use crate::tree::TreeSnapshot;

/// Asks a supervisor for a snapshot of its subtree.
///
/// The snapshot is taken when the supervisor handles the message; it is
/// consistent at that moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inspect;

impl Message for Inspect {
    type Result = TreeSnapshot;
}
