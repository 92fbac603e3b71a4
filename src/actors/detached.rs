//! What the context builders of the ready kinds share
//! ([`TickContextBuilder`](crate::periodic::TickContextBuilder),
//! [`WorkContextBuilder`](crate::worker::WorkContextBuilder)): the node's
//! path, its token and whether a stop was requested, for a context made in
//! a unit test, outside any tree.

use tokio_util::sync::CancellationToken;

use crate::tree::NodePath;

/// A detached context's path, token and stop request, before `build`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Detached {
    pub(crate) path: Option<NodePath>,
    pub(crate) token: Option<CancellationToken>,
    pub(crate) stop_requested: bool,
}

impl Detached {
    /// The path (default `/detached`) and the token (default a fresh one),
    /// cancelled if a stop was requested.
    pub(crate) fn build(self) -> (NodePath, CancellationToken) {
        let token = self.token.unwrap_or_default();
        if self.stop_requested {
            token.cancel();
        }
        (
            self.path.unwrap_or_else(|| NodePath::root("detached")),
            token,
        )
    }
}
