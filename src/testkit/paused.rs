//! Running a test under tokio's paused time inside an actix system, and
//! asserting on durations measured there.
//!
//! Under paused time the clock stands still while anything can run, and
//! jumps to the next timer when nothing can: a backoff of a minute, a
//! grace, a tick interval all pass at once and exactly, so tests of timed
//! behaviour are fast and deterministic. actix-rt runs a current-thread
//! tokio runtime, so actix timers (`run_interval`, `run_later`) follow the
//! paused clock too.
//!
//! Its limit with real I/O is documented in the `testkit` module ("Paused
//! time and real I/O").

use std::future::Future;
use std::time::Duration;

/// How late tokio's timer may end a sleep under paused time.
///
/// A sleep ends on the first millisecond tick of the runtime's timer at or
/// after its deadline, and the paused clock moves by whole ticks, keeping
/// the sub-millisecond offset it had when it was paused. A gap measured
/// between two such instants is therefore at least the requested delay and
/// less than two milliseconds more.
pub const TIMER_SLACK: Duration = Duration::from_millis(2);

/// Runs `test` to completion in a new actix system whose tokio clock is
/// paused from the start, and returns its output.
///
/// Use it from a plain `#[test]`; inside an `#[actix_rt::test]`, call
/// `tokio::time::pause()` first thing instead. Not for tests that wait on
/// real I/O: the paused clock jumps ahead while they wait, so their timeouts
/// expire at once (see the [`testkit`](crate::testkit) module, "Paused time and real
/// I/O").
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix_supervisor::testkit;
///
/// let waited = testkit::run_paused(async {
///     let start = tokio::time::Instant::now();
///     tokio::time::sleep(Duration::from_secs(3600)).await; // no real hour passes
///     start.elapsed()
/// });
/// testkit::assert_about(waited, Duration::from_secs(3600));
/// ```
///
/// # Panics
///
/// When called inside a running actix system or tokio runtime (a runtime
/// cannot be started within another), and with whatever `test` panics with.
pub fn run_paused<F: Future>(test: F) -> F::Output {
    actix_rt::System::new().block_on(async move {
        tokio::time::pause();
        test.await
    })
}

/// Asserts that the duration `actual`, measured on tokio's paused clock,
/// is `expected` to the timer's slack: at least `expected` and less than
/// `expected +` [`TIMER_SLACK`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix_supervisor::testkit;
///
/// testkit::assert_about(Duration::from_micros(1_000_900), Duration::from_secs(1));
/// ```
///
/// # Panics
///
/// On purpose, when the duration is outside that range, with both values
/// in the message.
#[track_caller]
pub fn assert_about(actual: Duration, expected: Duration) {
    assert!(
        actual >= expected && actual < expected + TIMER_SLACK,
        "{actual:?} is not {expected:?} (to the timer's slack)"
    );
}
