//! Helpers shared by the reliability suite (`tests/reliability_*.rs`): the
//! switch between the short run of `cargo test` and the long run, quiet
//! injected panics, and running a scenario on an actix system of its own.
#![allow(dead_code)]

use std::future::Future;
use std::sync::{mpsc, Once};
use std::time::Duration;

/// Every panic a reliability test injects on purpose starts with this, so
/// [`silence_injected_panics`] can keep them out of the log.
pub const INJECTED: &str = "injected";

/// Whether the long run was asked for (`RELIABILITY_LONG=1`).
pub fn long_run() -> bool {
    std::env::var("RELIABILITY_LONG").is_ok_and(|v| v == "1")
}

/// The text of a panic payload.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else {
        "a panic with a non-string payload".into()
    }
}

/// Keeps the injected panics (whose message starts with [`INJECTED`]) out of
/// the log; every other panic, such as a failed assertion, prints as usual.
pub fn silence_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !panic_text(info.payload()).starts_with(INJECTED) {
                default(info);
            }
        }));
    });
}

/// Runs `scenario` in an actix system of its own, on a thread of its own,
/// under paused time, and returns its result, or why it failed: the text of
/// its panic, or that it did not finish within `limit` (real time).
pub fn on_own_system<T, F>(
    limit: Duration,
    scenario: impl FnOnce() -> F + Send + 'static,
) -> Result<T, String>
where
    T: Send + 'static,
    F: Future<Output = T>,
{
    let (result, outcome) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let value = actix::System::new().block_on(async move {
            tokio::time::pause();
            scenario().await
        });
        let _ = result.send(value);
    });
    match outcome.recv_timeout(limit) {
        Ok(value) => Ok(value),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("did not finish within {limit:?}")),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(match thread.join() {
            Err(payload) => panic_text(&*payload),
            Ok(()) => "ended without a result".into(),
        }),
    }
}
