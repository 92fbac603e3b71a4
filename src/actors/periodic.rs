//! The periodic kind: a [`Tick`] (one round of work, in a plain struct)
//! run on an interval by [`PeriodicActor`], a supervised actor like any other.
//!
//! Each tick runs under `ctx.wait`, so the actor handles no message while a
//! tick is in progress, and a stop's drain finishes the tick in progress
//! before it acknowledges. Once a stop has begun, no new tick starts: the
//! incarnation's token is cancelled, and the actor checks it before each
//! tick. A failed tick (an error, or one past its timeout) is logged at
//! `warn` with the node's path and counted; the next tick runs on schedule,
//! unless `failure_limit` failures in a row make the incarnation fail, to be
//! restarted by its policy. A panicking tick is a failure of the child, like
//! any panic.
//!
//! The task logic stays free of actor code, so a unit test calls
//! [`Tick::tick`] directly with a [`TickContext::detached`] context, or one
//! from [`TickContext::builder`] with the tick number, token and stop
//! request of its choosing.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::fut::wrap_future;
use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, StreamHandler};
use serde::{Deserialize, Serialize};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::wrappers::IntervalStream;
use tokio_util::sync::CancellationToken;

use super::detached::Detached;
use crate::policy::FieldError;
use crate::spec::{ChildSpec, StartContext};
use crate::tree::{NodeKind, NodePath, TaskStats};

/// One round of periodic work.
///
/// Implement it on a plain struct; the struct is built fresh by the spec's
/// factory for each incarnation, and `tick` is called on every tick of the
/// interval. Write it as an `async fn`.
///
/// # Examples
///
/// ```
/// use actix_supervisor::periodic::{Tick, TickContext};
///
/// /// Expires leases, one partition at a time.
/// struct LeaseScanner { partitions: u32, expired: u64 }
///
/// impl Tick for LeaseScanner {
///     type Error = std::io::Error;
///
///     async fn tick(&mut self, cx: &TickContext) -> Result<(), Self::Error> {
///         for _partition in 0..self.partitions {
///             if cx.is_stop_requested() {
///                 break; // a stop began: end this tick early
///             }
///             self.expired += 1;
///         }
///         Ok(())
///     }
/// }
///
/// // Unit-testable without actix:
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut scanner = LeaseScanner { partitions: 4, expired: 0 };
/// scanner.tick(&TickContext::detached()).await.unwrap();
/// assert_eq!(scanner.expired, 4);
/// # });
/// ```
pub trait Tick: Unpin + 'static {
    /// What a failed tick returns; logged with its `Display`.
    type Error: fmt::Display;

    /// Does one round of work.
    fn tick(&mut self, cx: &TickContext) -> impl Future<Output = Result<(), Self::Error>>;
}

/// What a tick is told: its node, its number, and whether a stop began.
///
/// In a tree, the child makes one for each tick; in a unit test, make one
/// with [`detached`](TickContext::detached) or
/// [`builder`](TickContext::builder).
///
/// # Examples
///
/// ```
/// use actix_supervisor::periodic::{Tick, TickContext};
///
/// /// Reports that it is alive, with the tick number.
/// #[derive(Default)]
/// struct Heartbeat { sent: Vec<String> }
///
/// impl Tick for Heartbeat {
///     type Error = String;
///     async fn tick(&mut self, cx: &TickContext) -> Result<(), String> {
///         if !cx.is_stop_requested() {
///             self.sent.push(format!("{} alive, tick {}", cx.path(), cx.tick_number()));
///         }
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut heartbeat = Heartbeat::default();
/// heartbeat.tick(&TickContext::detached()).await?;
/// assert_eq!(heartbeat.sent, ["/detached alive, tick 1"]);
/// # Ok::<_, String>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct TickContext {
    path: NodePath,
    tick: u64,
    token: CancellationToken,
}

impl TickContext {
    /// A context for calling a tick outside any supervision tree, in unit
    /// tests: path `/detached`, tick 1, no stop requested. To set any of
    /// these, use [`builder`](TickContext::builder).
    pub fn detached() -> Self {
        TickContext::builder().build()
    }

    /// Builds a context for calling a tick in a unit test, with the path,
    /// tick number, token and stop request of the test's choosing; unset
    /// parts are as in [`detached`](TickContext::detached).
    ///
    /// # Examples
    ///
    /// Tick logic keyed on the tick number, and a tick that ends early once
    /// a stop began:
    ///
    /// ```
    /// use actix_supervisor::path::NodePath;
    /// use actix_supervisor::periodic::{Tick, TickContext};
    ///
    /// /// Flushes every tick, compacts every tenth.
    /// #[derive(Default)]
    /// struct Store { flushes: u64, compactions: u64 }
    ///
    /// impl Tick for Store {
    ///     type Error = String;
    ///     async fn tick(&mut self, cx: &TickContext) -> Result<(), String> {
    ///         self.flushes += 1;
    ///         if cx.tick_number() % 10 == 0 && !cx.is_stop_requested() {
    ///             self.compactions += 1;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut store = Store::default();
    /// store.tick(&TickContext::builder().tick_number(9).build()).await?;
    /// assert_eq!(store.compactions, 0);
    /// store.tick(&TickContext::builder().tick_number(10).build()).await?;
    /// assert_eq!(store.compactions, 1);
    ///
    /// // The tenth tick of an incarnation being stopped does not compact.
    /// let stopping = TickContext::builder()
    ///     .path(NodePath::root("app").join("store"))
    ///     .tick_number(20)
    ///     .stop_requested(true)
    ///     .build();
    /// store.tick(&stopping).await?;
    /// assert_eq!((store.flushes, store.compactions), (3, 1));
    /// # Ok::<_, String>(())
    /// # }).unwrap();
    /// ```
    pub fn builder() -> TickContextBuilder {
        TickContextBuilder {
            detached: Detached::default(),
            tick: 1,
        }
    }

    /// The periodic child's path.
    pub fn path(&self) -> &NodePath {
        &self.path
    }

    /// Which tick this is, from 1, within the incarnation.
    pub fn tick_number(&self) -> u64 {
        self.tick
    }

    /// Whether a stop (or a restart) of the child began: a long tick should
    /// end at its next safe point.
    pub fn is_stop_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The incarnation's cancellation token, for work the tick hands on.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

/// Builds a [`TickContext`] for a unit test; made by
/// [`TickContext::builder`].
///
/// # Examples
///
/// A test that keeps the token, to request a stop in the middle of a tick:
///
/// ```
/// use actix_supervisor::periodic::{Tick, TickContext};
/// use tokio_util::sync::CancellationToken;
///
/// /// Copies rows in batches; no new batch once a stop began.
/// #[derive(Default)]
/// struct Copier { batches: u32 }
///
/// impl Tick for Copier {
///     type Error = String;
///     async fn tick(&mut self, cx: &TickContext) -> Result<(), String> {
///         while self.batches < 10 && !cx.is_stop_requested() {
///             self.batches += 1;
///             tokio::task::yield_now().await; // the batch's I/O
///         }
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let token = CancellationToken::new();
/// let cx = TickContext::builder().tick_number(7).token(token.clone()).build();
/// let mut copier = Copier::default();
/// let (copied, ()) = tokio::join!(copier.tick(&cx), async { token.cancel() });
/// copied?;
/// assert_eq!(copier.batches, 1); // the batch in progress finished; no other began
/// # Ok::<_, String>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct TickContextBuilder {
    detached: Detached,
    tick: u64,
}

impl TickContextBuilder {
    /// The periodic child's path (default `/detached`).
    pub fn path(mut self, path: NodePath) -> Self {
        self.detached.path = Some(path);
        self
    }

    /// Which tick this is (default 1). A running child counts from 1 within
    /// each incarnation.
    pub fn tick_number(mut self, tick: u64) -> Self {
        self.tick = tick;
        self
    }

    /// The token the tick sees, kept by the test to request a stop in the
    /// middle of a tick (default: a fresh token nobody cancels).
    pub fn token(mut self, token: CancellationToken) -> Self {
        self.detached.token = Some(token);
        self
    }

    /// Whether a stop was already requested when the tick begins (default
    /// `false`): `true` cancels the token at [`build`](Self::build). With
    /// `false`, a stop is still requested if the token given to
    /// [`token`](Self::token) is cancelled.
    pub fn stop_requested(mut self, requested: bool) -> Self {
        self.detached.stop_requested = requested;
        self
    }

    /// The context.
    pub fn build(self) -> TickContext {
        let (path, token) = self.detached.build();
        TickContext {
            path,
            tick: self.tick,
            token,
        }
    }
}

/// What happens to ticks missed while a tick ran late: as tokio's
/// [`MissedTickBehavior`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix_supervisor::periodic::{MissedTicks, Periodic};
/// use tokio::time::MissedTickBehavior;
///
/// // An hourly report that must run once per hour, even after a slow one.
/// let hourly = Periodic::every(Duration::from_secs(3600)).missed_ticks(MissedTicks::Burst);
/// assert_eq!(hourly.missed_ticks, MissedTicks::Burst);
/// assert_eq!(MissedTickBehavior::from(MissedTicks::Burst), MissedTickBehavior::Burst);
/// // By default, missed ticks are skipped.
/// assert_eq!(Periodic::every(Duration::from_secs(1)).missed_ticks, MissedTicks::Skip);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MissedTicks {
    /// Run the missed ticks at once, one after another, then go back to the
    /// schedule.
    Burst,
    /// Run one tick at once, then keep the interval from there.
    Delay,
    /// Drop the missed ticks; run at the next tick of the schedule.
    #[default]
    Skip,
}

impl From<MissedTicks> for MissedTickBehavior {
    fn from(missed: MissedTicks) -> Self {
        match missed {
            MissedTicks::Burst => MissedTickBehavior::Burst,
            MissedTicks::Delay => MissedTickBehavior::Delay,
            MissedTicks::Skip => MissedTickBehavior::Skip,
        }
    }
}

/// How a periodic child ticks.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix_supervisor::periodic::{MissedTicks, Periodic};
///
/// let every_minute = Periodic::every(Duration::from_secs(60))
///     .missed_ticks(MissedTicks::Delay)
///     .tick_timeout(Duration::from_secs(10))
///     .failure_limit(5);
/// assert_eq!(every_minute.interval, Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Periodic {
    /// Time between ticks; above zero.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// What happens to ticks missed while a tick ran late (default `Skip`).
    #[serde(default)]
    pub missed_ticks: MissedTicks,
    /// A tick running longer fails (default: none).
    #[serde(with = "humantime_serde", default)]
    pub tick_timeout: Option<Duration>,
    /// Whether the first tick runs as soon as the child starts (default) or
    /// one interval later.
    #[serde(default = "default_true")]
    pub tick_at_start: bool,
    /// This many failed ticks in a row within one incarnation make it fail
    /// (default: never; failed ticks are only logged and counted). The
    /// count starts again with each incarnation, while the snapshot's
    /// [`TaskStats::consecutive_failures`] spans incarnations.
    #[serde(default)]
    pub failure_limit: Option<u32>,
}

fn default_true() -> bool {
    true
}

impl Periodic {
    /// A tick every `interval`, first at once, missed ticks skipped, no
    /// timeout, failed ticks only logged and counted.
    pub fn every(interval: Duration) -> Self {
        Periodic {
            interval,
            missed_ticks: MissedTicks::default(),
            tick_timeout: None,
            tick_at_start: true,
            failure_limit: None,
        }
    }

    /// Sets what happens to missed ticks (default [`MissedTicks::Skip`]).
    pub fn missed_ticks(mut self, missed: MissedTicks) -> Self {
        self.missed_ticks = missed;
        self
    }

    /// Fails a tick that runs longer than `timeout`.
    pub fn tick_timeout(mut self, timeout: Duration) -> Self {
        self.tick_timeout = Some(timeout);
        self
    }

    /// Runs the first tick one interval after the start, not at once.
    pub fn first_tick_after_interval(mut self) -> Self {
        self.tick_at_start = false;
        self
    }

    /// Makes `limit` failed ticks in a row fail the incarnation.
    pub fn failure_limit(mut self, limit: u32) -> Self {
        self.failure_limit = Some(limit);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), FieldError> {
        let err = |field, reason: &str| {
            Err(FieldError {
                field,
                reason: reason.to_string(),
            })
        };
        if self.interval.is_zero() {
            return err("periodic.interval", "must be above zero");
        }
        if self.tick_timeout.is_some_and(|t| t.is_zero()) {
            return err("periodic.tick_timeout", "must be above zero");
        }
        if self.failure_limit == Some(0) {
            return err("periodic.failure_limit", "must be at least 1");
        }
        Ok(())
    }
}

/// The actor that runs a [`Tick`] on its [`Periodic`] schedule.
///
/// Built by [`ChildSpec::periodic`]. Send it [`TickNow`] to run a tick out
/// of schedule; to send it messages of your own, implement `Handler<M>` for
/// `PeriodicActor<YourTick>` and reach your struct with
/// [`task_mut`](PeriodicActor::task_mut).
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::periodic::{Periodic, PeriodicActor, TickNow};
/// use actix_supervisor::{ChildSpec, SupervisorActor};
/// # use actix_supervisor::periodic::{Tick, TickContext};
///
/// #[derive(Default)]
/// struct Sampler { samples: u64 } // a `Tick`: each tick takes one sample
/// # impl Tick for Sampler {
/// #     type Error = String;
/// #     async fn tick(&mut self, _: &TickContext) -> Result<(), String> {
/// #         self.samples += 1;
/// #         Ok(())
/// #     }
/// # }
///
/// /// A message of our own, handled by the actor that runs `Sampler`.
/// #[derive(Message)]
/// #[rtype(result = "u64")]
/// struct Samples;
/// impl Handler<Samples> for PeriodicActor<Sampler> {
///     type Result = u64;
///     fn handle(&mut self, _: Samples, _: &mut Context<Self>) -> u64 {
///         self.task_mut().map_or(0, |sampler| sampler.samples)
///     }
/// }
///
/// # actix::System::new().block_on(async {
/// let hourly = Periodic::every(Duration::from_secs(3600)).first_tick_after_interval();
/// let spec = ChildSpec::periodic("sampler", hourly, |_| Sampler::default());
/// let sampler = spec.handle(); // a ChildHandle<PeriodicActor<Sampler>>
/// let _app = SupervisorActor::builder("app").child(spec).start()?;
/// sampler.send(TickNow).await?;
/// assert_eq!(sampler.send(Samples).await?, 1); // handled once the tick is done
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct PeriodicActor<T: Tick> {
    task: Option<T>,
    config: Periodic,
    path: NodePath,
    token: CancellationToken,
    stats: Arc<Mutex<TaskStats>>,
    ticks: u64,
    consecutive_failures: u32,
}

impl<T: Tick> fmt::Debug for PeriodicActor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeriodicActor")
            .field("path", &self.path)
            .field("config", &self.config)
            .field("ticks", &self.ticks)
            .finish_non_exhaustive()
    }
}

impl<T: Tick> PeriodicActor<T> {
    /// The task, unless a tick is running (it is then lent to the tick).
    pub fn task_mut(&mut self) -> Option<&mut T> {
        self.task.as_mut()
    }

    /// Starts a tick now, unless one is running or a stop began.
    fn run_tick(&mut self, ctx: &mut Context<Self>) {
        if self.token.is_cancelled() {
            return;
        }
        let Some(mut task) = self.task.take() else {
            return;
        };
        self.ticks += 1;
        let cx = TickContext {
            path: self.path.clone(),
            tick: self.ticks,
            token: self.token.clone(),
        };
        let timeout = self.config.tick_timeout;
        let tick = async move {
            let began = Instant::now();
            let result = match timeout {
                None => task.tick(&cx).await.map_err(|e| e.to_string()),
                Some(limit) => match tokio::time::timeout(limit, task.tick(&cx)).await {
                    Ok(result) => result.map_err(|e| e.to_string()),
                    Err(_) => Err(format!(
                        "the tick ran past its timeout of {}",
                        humantime::format_duration(limit)
                    )),
                },
            };
            (task, result, began.elapsed())
        };
        ctx.wait(
            wrap_future::<_, Self>(tick).map(|(task, result, took), this, ctx| {
                this.task = Some(task);
                this.record(result, took, ctx);
            }),
        );
    }

    /// Counts a finished tick; fails the incarnation at the failure limit.
    fn record(&mut self, result: Result<(), String>, took: Duration, ctx: &mut Context<Self>) {
        #[cfg(feature = "metrics")]
        crate::metrics::record_tick(&self.path, took, result.is_ok());
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        stats.runs += 1;
        stats.last_duration = Some(took);
        match result {
            Ok(()) => {
                self.consecutive_failures = 0;
                stats.consecutive_failures = 0;
            }
            Err(error) => {
                // The limit counts within this incarnation; the statistics
                // span incarnations, as a worker's do.
                self.consecutive_failures += 1;
                stats.failures += 1;
                stats.consecutive_failures += 1;
                stats.last_error = Some(error.clone());
                drop(stats);
                tracing::warn!(
                    path = %self.path,
                    tick = self.ticks,
                    consecutive = self.consecutive_failures,
                    %error,
                    "tick failed"
                );
                if let Some(limit) = self.config.failure_limit {
                    if self.consecutive_failures >= limit {
                        crate::fail(
                            ctx,
                            format!("{limit} ticks in a row failed; the last: {error}"),
                        );
                    }
                }
            }
        }
    }
}

/// Thirty years: the longest interval handed to tokio's clock, as in tokio's
/// own "far future".
const NEVER: Duration = Duration::from_secs(86_400 * 365 * 30);

impl<T: Tick> Actor for PeriodicActor<T> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // tokio's timers add the interval to the clock; an interval of
        // decades is as good as never, and does not overflow.
        let interval = self.config.interval.min(NEVER);
        let first = if self.config.tick_at_start {
            Instant::now()
        } else {
            Instant::now() + interval
        };
        let mut ticks = tokio::time::interval_at(first, interval);
        ticks.set_missed_tick_behavior(self.config.missed_ticks.into());
        ctx.add_stream(IntervalStream::new(ticks));
    }
}

impl<T: Tick> StreamHandler<Instant> for PeriodicActor<T> {
    fn handle(&mut self, _: Instant, ctx: &mut Context<Self>) {
        self.run_tick(ctx);
    }
}

/// Asks a periodic child to tick now, out of schedule (skipped while a tick
/// runs or once a stop began).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix_supervisor::periodic::{Periodic, Tick, TickContext, TickNow};
/// use actix_supervisor::{ChildSpec, SupervisorActor};
/// use tokio::sync::mpsc;
///
/// /// Flushes a buffer; says which tick did it.
/// struct Flush(mpsc::UnboundedSender<u64>);
/// impl Tick for Flush {
///     type Error = String;
///     async fn tick(&mut self, cx: &TickContext) -> Result<(), String> {
///         self.0.send(cx.tick_number()).map_err(|e| e.to_string())
///     }
/// }
///
/// # actix::System::new().block_on(async {
/// let (flushed, mut flushes) = mpsc::unbounded_channel();
/// let hourly = Periodic::every(Duration::from_secs(3600)).first_tick_after_interval();
/// let spec = ChildSpec::periodic("flush", hourly, move |_| Flush(flushed.clone()));
/// let flush = spec.handle();
/// let _app = SupervisorActor::builder("app").child(spec).start()?;
///
/// flush.send(TickNow).await?; // e.g. the buffer is full: flush now
/// assert_eq!(flushes.recv().await, Some(1)); // the first tick, an hour early
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct TickNow;

impl<T: Tick> Handler<TickNow> for PeriodicActor<T> {
    type Result = ();

    fn handle(&mut self, _: TickNow, ctx: &mut Context<Self>) {
        self.run_tick(ctx);
    }
}

crate::supervised!(impl [T] PeriodicActor<T> where [T: Tick]);

impl<T: Tick> ChildSpec<PeriodicActor<T>> {
    /// A periodic child: `factory` builds the task for each incarnation, and
    /// it ticks on the `schedule`. Its snapshot carries its tick statistics.
    ///
    /// A zero interval or tick timeout, or a failure limit of 0, is refused
    /// when the tree is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use actix_supervisor::periodic::{Periodic, Tick, TickContext};
    /// use actix_supervisor::{ChildSpec, SupervisorActor};
    ///
    /// struct Sampler;
    /// impl Tick for Sampler {
    ///     type Error = String;
    ///     async fn tick(&mut self, _: &TickContext) -> Result<(), String> { Ok(()) }
    /// }
    ///
    /// let spec = ChildSpec::periodic("sampler", Periodic::every(Duration::from_secs(1)), |_| Sampler);
    /// let tree = SupervisorActor::builder("app").child(spec);
    /// # drop(tree);
    /// ```
    pub fn periodic<F>(name: impl Into<String>, schedule: Periodic, mut factory: F) -> Self
    where
        F: FnMut(&StartContext) -> T + Send + 'static,
        T: Tick,
    {
        let stats = Arc::new(Mutex::new(TaskStats::scheduled(schedule.to_schedule())));
        let config_error = schedule.validate().err();
        let shared_stats = stats.clone();
        let mut spec = ChildSpec::with_context(name, move |start: &StartContext| PeriodicActor {
            task: Some(factory(start)),
            config: schedule.clone(),
            path: start.path().clone(),
            token: start.token().clone(),
            stats: shared_stats.clone(),
            ticks: 0,
            consecutive_failures: 0,
        });
        spec.0.kind = NodeKind::Periodic;
        spec.set_stats(stats);
        if let Some(error) = config_error {
            spec.set_config_error(error);
        }
        spec
    }
}

impl Periodic {
    /// The schedule as a snapshot shows it.
    fn to_schedule(&self) -> crate::tree::Schedule {
        let missed_ticks = match self.missed_ticks {
            MissedTicks::Burst => "burst",
            MissedTicks::Delay => "delay",
            MissedTicks::Skip => "skip",
        };
        crate::tree::Schedule::new(
            self.interval,
            missed_ticks,
            self.tick_timeout,
            self.tick_at_start,
            self.failure_limit,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use tokio::sync::mpsc;

    use super::*;
    use crate::{Inspect, SupervisorActor};

    /// Fails its first three ticks, counted across incarnations, and says
    /// when each one starts.
    struct FailsThrice {
        count: Arc<AtomicU64>,
        started: mpsc::UnboundedSender<u64>,
    }

    impl Tick for FailsThrice {
        type Error = String;

        async fn tick(&mut self, _: &TickContext) -> Result<(), String> {
            let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
            let _ = self.started.send(n);
            if n <= 3 {
                Err(format!("tick {n} failed"))
            } else {
                Ok(())
            }
        }
    }

    #[actix_rt::test]
    async fn consecutive_failures_span_incarnations_while_the_limit_counts_within_one() {
        tokio::time::pause();
        let (started, mut starts) = mpsc::unbounded_channel();
        let count = Arc::new(AtomicU64::new(0));
        // Ticks 1 and 2 fail incarnation 1 (limit 2); tick 3, the first of
        // incarnation 2, fails too but is its first failure in a row.
        let schedule = Periodic::every(Duration::from_millis(100)).failure_limit(2);
        let spec = ChildSpec::periodic("ticker", schedule, move |_| FailsThrice {
            count: count.clone(),
            started: started.clone(),
        });
        let app = SupervisorActor::builder("app").child(spec).start().unwrap();

        // A quick tick finishes in the poll that starts it: once tick 3 has
        // started, it has been counted.
        while starts.recv().await.unwrap() < 3 {}
        let tree = app.send(Inspect).await.unwrap();
        let ticker = tree.find("/app/ticker").unwrap();
        assert_eq!(ticker.incarnation, 2, "the limit failed incarnation 1");
        let stats = ticker.task.clone().unwrap();
        assert_eq!(
            (stats.runs, stats.failures, stats.consecutive_failures),
            (3, 3, 3),
            "three failed ticks in a row, across two incarnations"
        );
    }

    #[test]
    fn a_detached_context_is_tick_1_at_slash_detached_with_no_stop_requested() {
        let cx = TickContext::detached();
        assert_eq!(cx.path(), &NodePath::root("detached"));
        assert_eq!(cx.tick_number(), 1);
        assert!(!cx.is_stop_requested());
    }

    #[test]
    fn the_builder_sets_the_path_and_the_tick_number() {
        let path = NodePath::root("app").join("sampler");
        let cx = TickContext::builder()
            .path(path.clone())
            .tick_number(42)
            .build();
        assert_eq!(cx.path(), &path);
        assert_eq!(cx.tick_number(), 42);
        assert!(!cx.is_stop_requested());
    }

    #[test]
    fn stop_requested_cancels_the_token_the_tick_sees() {
        let cx = TickContext::builder().stop_requested(true).build();
        assert!(cx.is_stop_requested());
        assert!(cx.token().is_cancelled());
    }

    #[test]
    fn a_token_kept_by_the_test_requests_a_stop_after_the_build() {
        let token = CancellationToken::new();
        let cx = TickContext::builder().token(token.clone()).build();
        assert!(!cx.is_stop_requested());
        token.cancel();
        assert!(cx.is_stop_requested());
    }

    #[test]
    fn stop_requested_cancels_a_token_given_before_or_after_it() {
        let before = CancellationToken::new();
        let _ = TickContext::builder()
            .token(before.clone())
            .stop_requested(true)
            .build();
        assert!(before.is_cancelled());
        let after = CancellationToken::new();
        let _ = TickContext::builder()
            .stop_requested(true)
            .token(after.clone())
            .build();
        assert!(after.is_cancelled());
    }
}
