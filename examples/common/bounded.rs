//! The bound the numbered examples put around their run: every wait inside
//! ends on an event, and this bound only turns a hang into a failure.

use std::error::Error;
use std::future::Future;
use std::time::Duration;

/// Runs `run`, failing if it has not finished within ten seconds.
pub async fn within_ten_seconds(
    run: impl Future<Output = Result<(), Box<dyn Error>>>,
) -> Result<(), Box<dyn Error>> {
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .map_err(|_| "the example did not finish within 10 s")?
}
