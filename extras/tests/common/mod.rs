//! What the tests of the actix-web example share: a guard against hangs.

use std::future::Future;
use std::time::Duration;

/// Only a guard against hangs: every awaited thing in these tests has an
/// event, so this limit is never what a passing test waits for.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Awaits `fut`, failing the test if it takes longer than [`TIMEOUT`].
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .expect("timed out: something that should have happened did not")
}
