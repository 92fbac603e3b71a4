//! Restart policies, backoff and shutdown grace: the per-child rules a
//! supervisor applies, as plain data with their validation and pure maths.
//!
//! Nothing here touches actix. The supervisor asks [`RestartPolicy::restarts`]
//! whether an ended incarnation gets another one and [`Backoff::delay`] how
//! long to wait, so every rule can be tested without a running system.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// Whether a child is started again after an incarnation ends.
///
/// | policy      | panic   | error exit ([`fail`](crate::fail)) | normal stop (`ctx.stop()`) |
/// |-------------|---------|------------------------------------|----------------------------|
/// | `Never`     | gone    | gone                               | gone                       |
/// | `OnFailure` | restart | restart                            | gone                       |
/// | `Always`    | restart | restart                            | restart                    |
///
/// "Gone" means the node becomes `Failed` (after a failure) or `Stopped`
/// (after a normal stop), and every pending and later `send()` to it fails
/// with [`MailboxError::Closed`](actix::MailboxError::Closed).
///
/// A gone child stays in its supervisor's table until
/// [`RemoveChild`](crate::RemoveChild), and [`RestartChild`](crate::RestartChild)
/// can start it again; a child made with
/// [`remove_on_exit`](crate::ChildSpec::remove_on_exit) leaves the table
/// instead (with `Never`, OTP's `temporary`).
///
/// Under a strategy that takes siblings along, each sibling follows its own
/// policy (see [`Strategy`]): a `Never` sibling is drained and ends for good.
///
/// # Use cases
///
/// - `Never`: one-shot jobs (a migration, a backfill) whose failure must be
///   looked at, not retried.
/// - `OnFailure` (the default): services that may finish on their own, such as
///   a replication receiver that ends when its source is dropped.
/// - `Always`: loops that must run as long as the application does, such as a
///   metrics sampler.
///
/// # Examples
///
/// A one-shot job under `Never` fails once and is not started again:
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Migration;
/// impl Actor for Migration {
///     type Context = Context<Self>;
///     fn started(&mut self, ctx: &mut Context<Self>) {
///         actix_supervisor::fail(ctx, "the schema is locked");
///     }
/// }
/// actix_supervisor::supervised!(Migration);
///
/// # actix::System::new().block_on(async {
/// let spec = ChildSpec::new("migration", Migration::default).restart(RestartPolicy::Never);
/// let migration = spec.handle();
/// let app = SupervisorActor::builder("app").child(spec).start()?;
///
/// assert!(migration.started().await.is_err()); // its start failed
/// let node = app.send(Inspect).await?.find("/app/migration").unwrap().clone();
/// assert_eq!((node.state, node.restart_count), (NodeState::Failed, 0));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RestartPolicy {
    /// Run once; never restart.
    Never,
    /// Restart after a panic or an error exit, not after a normal stop.
    #[default]
    OnFailure,
    /// Restart after every end, normal or not.
    Always,
}

/// How an incarnation ended, as far as a restart policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndKind {
    /// The actor stopped itself without reporting an error.
    Normal,
    /// A panic or an error exit.
    Failure,
}

impl RestartPolicy {
    /// Whether an incarnation that ended this way is followed by another.
    pub(crate) fn restarts(self, end: EndKind) -> bool {
        match (self, end) {
            (RestartPolicy::Never, _) => false,
            (RestartPolicy::OnFailure, EndKind::Failure) => true,
            (RestartPolicy::OnFailure, EndKind::Normal) => false,
            (RestartPolicy::Always, _) => true,
        }
    }
}

/// Exponential backoff between restarts, with jitter and a reset after a
/// stable run.
///
/// The delay before restart attempt `n` (1 for the first restart after a
/// stable run) is `initial × multiplierⁿ⁻¹`, capped at `max`, then scaled by a
/// random factor in `[1 − jitter, 1 + jitter]` and clamped to
/// `[initial, max]`. So a delay is never below `initial` nor above `max`.
/// When an incarnation ran for at least `stable_after` before failing, the
/// next restart counts as attempt 1 again.
///
/// The jitter comes from a random generator seeded with [`Backoff::seed`] when
/// one is given, so tests see the same delays on every run.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix_supervisor::Backoff;
///
/// let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10))
///     .multiplier(2.0)
///     .jitter(0.0);
/// assert_eq!(backoff.delay(1, 0.5), Duration::from_millis(100));
/// assert_eq!(backoff.delay(3, 0.5), Duration::from_millis(400));
/// assert_eq!(backoff.delay(30, 0.5), Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Backoff {
    /// Delay before the first restart. Must be above zero.
    #[serde(with = "humantime_serde")]
    pub initial: Duration,
    /// Largest delay. Must be at least `initial`.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
    /// Growth factor from one attempt to the next; at least 1. Default 2.
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Random spread as a fraction of the delay, in `0..=1`. Default 0.1.
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// A run at least this long resets the attempt count. Above zero.
    /// Default 30 s.
    #[serde(with = "humantime_serde", default = "default_stable_after")]
    pub stable_after: Duration,
    /// Seed for the jitter; `None` seeds from the operating system.
    ///
    /// Written as an integer, or, above `i64::MAX` (the largest integer TOML
    /// can hold), as a string of digits, so every seed reads back from both
    /// TOML and JSON.
    #[serde(default, with = "seed_serde")]
    pub seed: Option<u64>,
}

/// A seed in text: an integer up to `i64::MAX`, a string of digits above it
/// (TOML's integers are 64-bit signed). Either form is read back.
mod seed_serde {
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub(super) fn serialize<S: Serializer>(seed: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match seed {
            None => s.serialize_none(),
            Some(seed) if *seed <= i64::MAX as u64 => s.serialize_some(seed),
            Some(seed) => s.serialize_some(&seed.to_string()),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        d.deserialize_option(SeedVisitor)
    }

    struct SeedVisitor;

    const EXPECTED: &str = "a seed: a whole number from 0 to 18446744073709551615 (above \
                            9223372036854775807, written as a string for TOML)";

    impl<'de> Visitor<'de> for SeedVisitor {
        type Value = Option<u64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(EXPECTED)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(SeedVisitor)
        }

        fn visit_u64<E: de::Error>(self, seed: u64) -> Result<Self::Value, E> {
            Ok(Some(seed))
        }

        fn visit_i64<E: de::Error>(self, seed: i64) -> Result<Self::Value, E> {
            u64::try_from(seed)
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Signed(seed), &EXPECTED))
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            text.parse::<u64>()
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Str(text), &EXPECTED))
        }
    }
}

fn default_multiplier() -> f64 {
    2.0
}
fn default_jitter() -> f64 {
    0.1
}
fn default_stable_after() -> Duration {
    Duration::from_secs(30)
}

/// A field of a policy that cannot be used, found by validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub(crate) field: &'static str,
    pub(crate) reason: String,
}

impl Backoff {
    /// A backoff from `initial` to `max`, with multiplier 2, jitter 0.1 and a
    /// stable period of 30 s. The values are checked when the tree is built.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            multiplier: default_multiplier(),
            jitter: default_jitter(),
            stable_after: default_stable_after(),
            seed: None,
        }
    }

    /// Sets the growth factor (default 2; must be at least 1).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets the jitter fraction (default 0.1; must be in `0..=1`).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets how long a run must last to reset the attempt count (default
    /// 30 s; must be above zero).
    pub fn stable_after(mut self, stable_after: Duration) -> Self {
        self.stable_after = stable_after;
        self
    }

    /// Seeds the jitter, so the delays are the same on every run.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Checks every field; the first one that cannot be used is returned.
    pub(crate) fn validate(&self) -> Result<(), FieldError> {
        let err = |field, reason: String| Err(FieldError { field, reason });
        if self.initial.is_zero() {
            return err("backoff.initial", "must be above zero".into());
        }
        if self.max < self.initial {
            return err(
                "backoff.max",
                format!(
                    "{} is below backoff.initial ({})",
                    humantime::format_duration(self.max),
                    humantime::format_duration(self.initial)
                ),
            );
        }
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            return err(
                "backoff.multiplier",
                format!("{} must be a finite number of at least 1", self.multiplier),
            );
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return err(
                "backoff.jitter",
                format!("{} must be within 0..=1", self.jitter),
            );
        }
        if self.stable_after.is_zero() {
            return err("backoff.stable_after", "must be above zero".into());
        }
        Ok(())
    }

    /// The delay before restart `attempt` (counted from 1), given `unit`, a
    /// random sample in `[0, 1)` that picks the point within the jitter range
    /// (0.5 is the middle: no jitter).
    ///
    /// The result is always within `[initial, max]`, whatever `attempt` and
    /// `unit` are (out-of-range samples are clamped). It never panics; for a
    /// backoff that would fail validation (`max` below `initial`), it is
    /// `max`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(i32::MAX as u32) as i32;
        let base = self.initial.as_secs_f64() * self.multiplier.powi(exponent);
        let base = base.min(self.max.as_secs_f64());
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let factor = 1.0 + self.jitter * (2.0 * unit - 1.0);
        let seconds = base * factor;
        let delay = Duration::try_from_secs_f64(seconds).unwrap_or(self.max);
        // Not `clamp`: it panics on a backoff that was never validated
        // (`max < initial`); this gives `max` then.
        delay.max(self.initial).min(self.max)
    }
}

impl Backoff {
    /// The delays this backoff gives to restarts that follow each other
    /// without a stable run in between: attempt 1, 2, 3, ...
    ///
    /// With a [`seed`](Backoff::seed), the sequence is the one a supervised
    /// child sees, so a test can predict its restarts exactly.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use actix_supervisor::Backoff;
    ///
    /// let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).seed(7);
    /// let first: Vec<Duration> = backoff.delays().take(5).collect();
    /// assert_eq!(first, backoff.delays().take(5).collect::<Vec<_>>());
    /// assert!(first.iter().all(|d| *d >= backoff.initial && *d <= backoff.max));
    /// ```
    pub fn delays(&self) -> impl Iterator<Item = Duration> + '_ {
        let mut state = BackoffState::new(self.clone());
        let mut attempt = 0;
        std::iter::from_fn(move || {
            let (next, delay) = state.next(attempt, Duration::ZERO);
            attempt = next;
            Some(delay)
        })
    }
}

/// The restart attempt that follows an incarnation that ran for `ran_for`,
/// when the previous restart was attempt `previous` (0 if none yet).
pub(crate) fn next_attempt(previous: u32, ran_for: Duration, stable_after: Duration) -> u32 {
    if ran_for >= stable_after {
        1
    } else {
        previous.saturating_add(1)
    }
}

/// A child's backoff with its jitter source: what a child with a backoff
/// keeps (boxed, so that a child without one pays a pointer, not the
/// backoff's 56 bytes and the generator's 8).
#[derive(Debug)]
pub(crate) struct BackoffState {
    backoff: Backoff,
    rng: SplitMix64,
}

impl BackoffState {
    pub(crate) fn new(backoff: Backoff) -> Self {
        let rng = match backoff.seed {
            Some(seed) => SplitMix64::seeded(seed),
            None => SplitMix64::from_entropy(),
        };
        BackoffState { backoff, rng }
    }

    /// The backoff.
    pub(crate) fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// The attempt number and delay of the restart that follows attempt
    /// `previous` (0 if none yet) after a run of `ran_for`.
    pub(crate) fn next(&mut self, previous: u32, ran_for: Duration) -> (u32, Duration) {
        let attempt = next_attempt(previous, ran_for, self.backoff.stable_after);
        let unit = self.rng.unit_f64();
        (attempt, self.backoff.delay(attempt, unit))
    }
}

/// Which children a supervisor restarts when one of them is restarted.
///
/// Siblings restarted by a strategy are drained as by a stop (without
/// refusing new messages: those wait for the next incarnation), in reverse
/// start order; then the failed child (after its backoff) and the siblings
/// start again, in start order. Two strategy restarts drain their siblings
/// one after the other, but a backoff holds only its own restart: a later
/// restart of a child without one goes on, and leaves the children still
/// waiting out the earlier backoff to start when it is over.
///
/// Each sibling taken along follows its own [`RestartPolicy`]: a `Never`
/// sibling runs once, so it is stopped instead (drained, its handles
/// refusing, its report published) and ends for good, as OTP ends a
/// `temporary` bystander. An `OnFailure` sibling is restarted like an
/// `Always` one: the strategy ended it, it did not end on its own, and its
/// policy is about how it ends on its own (OTP restarts a `transient`
/// bystander too).
///
/// | strategy     | restarted with the child that ended                  | for |
/// |--------------|------------------------------------------------------|-----|
/// | `OneForOne`  | nobody                                               | independent children |
/// | `OneForAll`  | every sibling                                        | children that share state and cannot run apart |
/// | `RestForOne` | the siblings started after it                        | pipelines: a receiver, then what consumes it |
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Stage;
/// impl Actor for Stage { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Stage);
///
/// // When `source` restarts, `parser` and `sink` (started after it) restart
/// // too, in order; when `sink` restarts, it restarts alone.
/// let pipeline = SupervisorActor::builder("pipeline")
///     .strategy(Strategy::RestForOne)
///     .child(ChildSpec::new("source", Stage::default))
///     .child(ChildSpec::new("parser", Stage::default))
///     .child(ChildSpec::new("sink", Stage::default));
/// # drop(pipeline);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Strategy {
    /// Only the child that ended (the default).
    #[default]
    OneForOne,
    /// Every child: for siblings that cannot run without each other.
    OneForAll,
    /// The child that ended and the siblings started after it: for
    /// pipelines where later children depend on earlier ones.
    RestForOne,
}

impl Strategy {
    /// The siblings restarted along with child `failed`, of `count`, in
    /// start order.
    pub(crate) fn siblings(self, failed: usize, count: usize) -> Vec<usize> {
        match self {
            Strategy::OneForOne => Vec::new(),
            Strategy::OneForAll => (0..count).filter(|&i| i != failed).collect(),
            Strategy::RestForOne => (failed + 1..count).collect(),
        }
    }
}

/// How many restarts a supervisor allows within a period, across all its
/// children, before it gives up: it stops its remaining children in shutdown
/// order and fails (its parent then applies its own policy to it; a root
/// reports it and stays inspectable).
///
/// The default, 3 restarts within 5 s, stops a crash loop within seconds
/// while tolerating a burst. `max_restarts` of 0 means the first failure
/// that asks for a restart gives up; `within` must be above zero.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix_supervisor::RestartIntensity;
///
/// let intensity = RestartIntensity::new(10, Duration::from_secs(60));
/// assert_eq!(intensity.max_restarts, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RestartIntensity {
    /// Restarts allowed within the period.
    pub max_restarts: u32,
    /// The sliding period.
    #[serde(with = "humantime_serde")]
    pub within: Duration,
}

impl RestartIntensity {
    /// At most `max_restarts` restarts within `within`.
    pub fn new(max_restarts: u32, within: Duration) -> Self {
        RestartIntensity {
            max_restarts,
            within,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), FieldError> {
        if self.within.is_zero() {
            return Err(FieldError {
                field: "intensity.within",
                reason: "must be above zero".into(),
            });
        }
        Ok(())
    }
}

impl Default for RestartIntensity {
    fn default() -> Self {
        RestartIntensity::new(3, Duration::from_secs(5))
    }
}

/// The restarts a supervisor made recently, to hold it to its intensity.
#[derive(Debug)]
pub(crate) struct IntensityWindow {
    intensity: RestartIntensity,
    /// When each restart in the window leaves it (its time plus the
    /// window's length; `None`: never, for a window too long for the
    /// clock), oldest first: a comparison per check, not a subtraction.
    restarts: std::collections::VecDeque<Option<tokio::time::Instant>>,
}

impl IntensityWindow {
    pub(crate) fn new(intensity: RestartIntensity) -> Self {
        IntensityWindow {
            intensity,
            restarts: std::collections::VecDeque::new(),
        }
    }

    /// The configured intensity.
    pub(crate) fn intensity(&self) -> RestartIntensity {
        self.intensity
    }

    /// Forgets every restart: a restarted subtree starts with a clean slate.
    pub(crate) fn reset(&mut self) {
        self.restarts.clear();
    }

    /// Records a restart at `now` if the intensity allows one more; false if
    /// it does not (and nothing is recorded).
    pub(crate) fn allow(&mut self, now: tokio::time::Instant) -> bool {
        while let Some(&Some(leaves)) = self.restarts.front() {
            if leaves <= now {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        if self.restarts.len() >= self.intensity.max_restarts as usize {
            return false;
        }
        self.restarts
            .push_back(now.checked_add(self.intensity.within));
        true
    }
}

/// How long a node may take to stop before it is terminated.
///
/// Written in configuration as a duration (`"5s"`) or as `"infinity"`. The
/// default is 5 s. A `Duration` converts into a grace.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Flusher;
/// impl Actor for Flusher { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Flusher);
///
/// let tree = SupervisorActor::builder("app")
///     .grace(Grace::Infinity) // the children's graces bound it
///     .child(ChildSpec::new("flusher", Flusher::default).grace(Duration::from_secs(2).into()));
/// # drop(tree);
/// assert_eq!(Grace::default(), Grace::from(Duration::from_secs(5)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Grace {
    /// At most this long.
    Duration(Duration),
    /// As long as it takes (for supervisors, whose children have their own
    /// graces).
    Infinity,
}

impl Default for Grace {
    fn default() -> Self {
        Grace::Duration(Duration::from_secs(5))
    }
}

/// A [`Grace`] as every child's link keeps it: nanoseconds in a `u64`
/// beside a one-byte [`GraceUnit`], which sits in the link's padding (a
/// `Grace` takes 16 bytes). Exact for every grace of up to `u64::MAX`
/// nanoseconds (584 years), for `Duration::MAX` and for
/// [`Grace::Infinity`]; a longer grace is kept as `Duration::MAX`, which
/// bounds nothing either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GraceUnit {
    /// The `u64` is the grace in nanoseconds.
    Nanos,
    /// `Duration::MAX` (or longer than `u64::MAX` nanoseconds).
    Longest,
    Infinity,
}

impl GraceUnit {
    /// `grace` as nanoseconds and their unit.
    pub(crate) fn pack(grace: Grace) -> (u64, GraceUnit) {
        match grace {
            Grace::Infinity => (0, GraceUnit::Infinity),
            Grace::Duration(d) => match u64::try_from(d.as_nanos()) {
                Ok(nanos) => (nanos, GraceUnit::Nanos),
                Err(_) => (0, GraceUnit::Longest),
            },
        }
    }

    /// The grace that [`pack`](GraceUnit::pack) gave `nanos` and this unit for.
    pub(crate) fn unpack(self, nanos: u64) -> Grace {
        match self {
            GraceUnit::Nanos => Grace::Duration(Duration::from_nanos(nanos)),
            GraceUnit::Longest => Grace::Duration(Duration::MAX),
            GraceUnit::Infinity => Grace::Infinity,
        }
    }
}

impl From<Duration> for Grace {
    /// A grace of at most `duration`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use actix_supervisor::Grace;
    ///
    /// assert_eq!(Grace::from(Duration::from_secs(2)), Grace::Duration(Duration::from_secs(2)));
    /// let grace: Grace = Duration::from_millis(100).into();
    /// assert_eq!(grace, Grace::Duration(Duration::from_millis(100)));
    /// ```
    fn from(duration: Duration) -> Self {
        Grace::Duration(duration)
    }
}

impl Serialize for Grace {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Grace::Duration(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            Grace::Infinity => s.serialize_str("infinity"),
        }
    }
}

impl<'de> Deserialize<'de> for Grace {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "infinity" {
            return Ok(Grace::Infinity);
        }
        humantime::parse_duration(&text)
            .map(Grace::Duration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "expected a duration like \"5s\" or \"infinity\", got {text:?}: {e}"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_grace_gives_back_the_grace_it_was_made_of() {
        let pack = |grace| {
            let (nanos, unit) = GraceUnit::pack(grace);
            unit.unpack(nanos)
        };
        for grace in [
            Grace::Infinity,
            Grace::Duration(Duration::ZERO),
            Grace::Duration(Duration::from_nanos(1)),
            Grace::Duration(Duration::from_secs(5)),
            Grace::Duration(Duration::from_nanos(u64::MAX - 2)),
            Grace::Duration(Duration::from_nanos(u64::MAX - 1)),
            Grace::Duration(Duration::from_nanos(u64::MAX)),
            Grace::Duration(Duration::MAX),
        ] {
            assert_eq!(pack(grace), grace);
        }
        // Longer than `u64::MAX` nanoseconds: kept as the longest duration.
        let long = Grace::Duration(Duration::from_secs(u64::MAX / 1_000_000_000 + 1));
        assert_eq!(pack(long), Grace::Duration(Duration::MAX));
    }
    use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest};
    use proptest::strategy::Strategy as PropStrategy;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn never_restarts_after_anything() {
        assert!(!RestartPolicy::Never.restarts(EndKind::Normal));
        assert!(!RestartPolicy::Never.restarts(EndKind::Failure));
    }

    #[test]
    fn on_failure_restarts_only_after_a_failure() {
        assert!(RestartPolicy::OnFailure.restarts(EndKind::Failure));
        assert!(!RestartPolicy::OnFailure.restarts(EndKind::Normal));
    }

    #[test]
    fn always_restarts_after_everything() {
        assert!(RestartPolicy::Always.restarts(EndKind::Failure));
        assert!(RestartPolicy::Always.restarts(EndKind::Normal));
    }

    #[test]
    fn delays_grow_geometrically_without_jitter() {
        let b = Backoff::new(ms(10), ms(1000)).multiplier(3.0).jitter(0.0);
        let delays: Vec<_> = (1..=6).map(|n| b.delay(n, 0.9)).collect();
        assert_eq!(delays, [ms(10), ms(30), ms(90), ms(270), ms(810), ms(1000)]);
    }

    #[test]
    fn jitter_spreads_around_the_base() {
        let b = Backoff::new(ms(100), ms(10_000)).jitter(0.5);
        assert_eq!(b.delay(2, 0.0), ms(100)); // 200 × 0.5
        assert_eq!(b.delay(2, 0.5), ms(200));
        assert_eq!(b.delay(2, 1.0), ms(300)); // 200 × 1.5
    }

    #[test]
    fn the_intensity_window_allows_n_restarts_per_period_and_slides() {
        let start = tokio::time::Instant::now();
        let at = |millis| start + ms(millis);
        let mut window = IntensityWindow::new(RestartIntensity::new(3, ms(1000)));
        assert!(window.allow(at(0)) && window.allow(at(100)) && window.allow(at(200)));
        assert!(!window.allow(at(300)), "a fourth within the second");
        assert!(!window.allow(at(999)));
        assert!(window.allow(at(1000)), "the first one slid out");
        assert!(!window.allow(at(1050)));
        assert!(window.allow(at(1100)), "the second one slid out too");
    }

    #[test]
    fn each_strategy_names_the_siblings_it_restarts() {
        assert_eq!(Strategy::OneForOne.siblings(1, 3), Vec::<usize>::new());
        assert_eq!(Strategy::OneForAll.siblings(1, 3), [0, 2]);
        assert_eq!(Strategy::RestForOne.siblings(1, 3), [2]);
        assert_eq!(Strategy::RestForOne.siblings(2, 3), Vec::<usize>::new());
    }

    #[test]
    fn an_intensity_of_zero_gives_up_at_the_first_restart() {
        let mut window = IntensityWindow::new(RestartIntensity::new(0, ms(1000)));
        assert!(!window.allow(tokio::time::Instant::now()));
    }

    #[test]
    fn an_intensity_needs_a_period() {
        let err = RestartIntensity::new(0, ms(0)).validate().unwrap_err();
        assert_eq!(err.field, "intensity.within");
    }

    #[test]
    fn an_unvalidated_backoff_never_panics() {
        let inverted = Backoff::new(ms(100), ms(10));
        assert_eq!(inverted.delay(1, 0.5), ms(10));
        assert_eq!(inverted.delays().nth(5), Some(ms(10)));
        let nan = Backoff::new(ms(1), ms(10))
            .multiplier(f64::NAN)
            .jitter(f64::NAN);
        let d = nan.delay(3, 0.5);
        assert!(d >= ms(1) && d <= ms(10), "{d:?}");
    }

    #[test]
    fn a_stable_run_resets_the_attempt_count() {
        assert_eq!(next_attempt(5, ms(30_000), ms(30_000)), 1);
        assert_eq!(next_attempt(5, ms(29_999), ms(30_000)), 6);
        assert_eq!(next_attempt(0, ms(0), ms(30_000)), 1);
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let b = Backoff::new(ms(10), ms(10_000)).jitter(1.0).seed(42);
        let run = || {
            let mut state = BackoffState::new(b.clone());
            (0..8u32)
                .map(|attempt| state.next(attempt, ms(0)).1)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            (Backoff::new(ms(0), ms(10)), "backoff.initial"),
            (Backoff::new(ms(20), ms(10)), "backoff.max"),
            (
                Backoff::new(ms(1), ms(10)).multiplier(0.5),
                "backoff.multiplier",
            ),
            (
                Backoff::new(ms(1), ms(10)).multiplier(f64::NAN),
                "backoff.multiplier",
            ),
            (Backoff::new(ms(1), ms(10)).jitter(1.5), "backoff.jitter"),
            (Backoff::new(ms(1), ms(10)).jitter(-0.1), "backoff.jitter"),
            (
                Backoff::new(ms(1), ms(10)).jitter(f64::NAN),
                "backoff.jitter",
            ),
            (
                Backoff::new(ms(1), ms(10)).stable_after(ms(0)),
                "backoff.stable_after",
            ),
        ];
        for (backoff, field) in cases {
            assert_eq!(backoff.validate().unwrap_err().field, field, "{backoff:?}");
        }
        assert!(Backoff::new(ms(1), ms(1)).validate().is_ok());
    }

    #[test]
    fn grace_reads_durations_and_infinity() {
        let g: Grace = serde_json::from_str("\"250ms\"").unwrap();
        assert_eq!(g, Grace::Duration(ms(250)));
        let g: Grace = serde_json::from_str("\"infinity\"").unwrap();
        assert_eq!(g, Grace::Infinity);
        let err = serde_json::from_str::<Grace>("\"soon\"").unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
        assert_eq!(
            serde_json::to_string(&Grace::Duration(ms(1500))).unwrap(),
            "\"1s 500ms\""
        );
    }

    #[test]
    fn every_seed_reads_back_from_json() {
        for seed in [0, 7, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            let backoff = Backoff::new(ms(1), ms(10)).seed(seed);
            let text = serde_json::to_string(&backoff).unwrap();
            let back: Backoff = serde_json::from_str(&text).unwrap();
            assert_eq!(back.seed, Some(seed), "{text}");
        }
        let none: Backoff = serde_json::from_str(r#"{"initial": "1ms", "max": "1s"}"#).unwrap();
        assert_eq!(none.seed, None);
        let null: Backoff =
            serde_json::from_str(r#"{"initial": "1ms", "max": "1s", "seed": null}"#).unwrap();
        assert_eq!(null.seed, None);
    }

    #[test]
    fn a_negative_or_non_numeric_seed_is_refused_with_what_a_seed_is() {
        for seed in ["-1", "\"soon\"", "1.5"] {
            let text = format!(r#"{{"initial": "1ms", "max": "1s", "seed": {seed}}}"#);
            let err = serde_json::from_str::<Backoff>(&text).unwrap_err();
            assert!(
                err.to_string().contains("a seed: a whole number"),
                "{seed}: {err}"
            );
        }
    }

    fn valid_backoff() -> impl PropStrategy<Value = Backoff> {
        (1u64..10_000, 0u64..100_000, 1.0f64..10.0, 0.0f64..=1.0).prop_map(
            |(initial, extra, multiplier, jitter)| {
                Backoff::new(ms(initial), ms(initial + extra))
                    .multiplier(multiplier)
                    .jitter(jitter)
            },
        )
    }

    #[test]
    fn the_intensity_window_allows_max_restarts_within_it_and_forgets_them_at_its_end() {
        let mut window = IntensityWindow::new(RestartIntensity::new(2, ms(1_000)));
        let t0 = tokio::time::Instant::now();
        assert!(window.allow(t0));
        assert!(window.allow(t0 + ms(400)));
        // A third within 1 s of the first: one too many.
        assert!(!window.allow(t0 + ms(999)));
        // The first leaves the window exactly 1 s after it.
        assert!(window.allow(t0 + ms(1_000)));
        assert!(!window.allow(t0 + ms(1_399)));
        assert!(window.allow(t0 + ms(1_400)));
        window.reset();
        assert!(window.allow(t0 + ms(1_401)));
        assert!(window.allow(t0 + ms(1_402)));
    }

    #[test]
    fn a_window_too_long_for_the_clock_never_forgets_a_restart() {
        let mut window = IntensityWindow::new(RestartIntensity::new(1, Duration::MAX));
        let t0 = tokio::time::Instant::now();
        assert!(window.allow(t0));
        assert!(!window.allow(t0 + Duration::from_secs(10 * 365 * 24 * 3600)));
    }

    proptest! {
        #[test]
        fn delay_stays_within_initial_and_max(
            b in valid_backoff(), attempt in 0u32..=u32::MAX, unit in any::<f64>()
        ) {
            let d = b.delay(attempt, unit);
            prop_assert!(d >= b.initial && d <= b.max, "{d:?} outside {:?}..={:?}", b.initial, b.max);
        }

        #[test]
        fn delay_without_jitter_never_shrinks_as_attempts_grow(
            b in valid_backoff(), attempt in 1u32..200
        ) {
            let b = b.jitter(0.0);
            prop_assert!(b.delay(attempt, 0.5) <= b.delay(attempt + 1, 0.5));
        }

        #[test]
        fn a_run_of_at_least_the_stable_period_always_resets(
            previous in 0u32..=u32::MAX, extra in 0u64..1_000_000, stable in 1u64..1_000_000
        ) {
            prop_assert_eq!(next_attempt(previous, ms(stable + extra), ms(stable)), 1);
        }

        #[test]
        fn backoff_state_delays_follow_the_pure_function_for_a_seed(
            b in valid_backoff(), seed in any::<u64>()
        ) {
            let b = b.seed(seed);
            let mut state = BackoffState::new(b.clone());
            let mut rng = SplitMix64::seeded(seed);
            for attempt in 1..=5u32 {
                let expected = b.delay(attempt, rng.unit_f64());
                prop_assert_eq!(state.next(attempt - 1, ms(0)), (attempt, expected));
            }
        }
    }
}
