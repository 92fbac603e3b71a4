//! Start/stop stress: start a whole tree ([`stress_tree`]) or one child
//! ([`stress_child`]) and stop it, many times over, with several stops
//! racing at random moments, and check every cycle: each stop answers
//! within a timeout, all of a cycle's stops answer the same report, every
//! node ends `Stopped` or `Failed`, and no actor is left alive afterwards.
//!
//! The moments are drawn from a seeded generator, so a failing run is
//! reproduced by its seed (printed in the error). A moment is a number of
//! scheduler turns (so stops land while the tree is still starting, between
//! a child's factory and its `started`, during another stop) and sometimes
//! a short delay on tokio's clock (free under paused time).

use std::fmt;
use std::future::IntoFuture;
use std::time::Duration;

use actix::{Addr, MailboxError};
use futures_util::future::{join_all, LocalBoxFuture};
use tokio::time::Instant;

use super::error::{StressError, StressFailure};
use super::live::{live_actors, settle_live_actors};
use crate::actors::{SupervisorActor, SupervisorBuilder};
use crate::error::ControlError;
use crate::messages::{Inspect, Kill, RemoveChild, StartChild, Stop, StopChild, StopReport};
use crate::policy::RestartIntensity;
use crate::rng::SplitMix64;
use crate::spec::AnyChildSpec;
use crate::tree::TreeSnapshot;

/// The name of the supervisor that hosts the child of [`stress_child`].
pub const STRESS_HOST: &str = "stress-host";

/// How long a hung cycle still waits for a snapshot to show.
const LAST_LOOK: Duration = Duration::from_secs(1);

/// The most scheduler turns a stop waits before it is sent.
const MAX_TURNS: u32 = 32;

/// Stresses a whole tree: each cycle builds a fresh tree with `make`,
/// starts it, and stops its root with several racing `Stop`s.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::{testkit, ChildSpec, SupervisorActor};
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// testkit::run_paused(async {
///     let report = testkit::stress_tree(|| {
///         SupervisorActor::builder("app")
///             .child(ChildSpec::new("a", Job::default))
///             .child(ChildSpec::new("b", Job::default).depends_on("a"))
///     })
///     .cycles(20)
///     .seed(7)
///     .await;
///     assert_eq!(report.cycles, 20);
///     assert!(report.stops_issued >= 20);
///     assert_eq!(report.live_actors_after, 0);
/// });
/// ```
pub fn stress_tree<'a, F>(make: F) -> Stress<'a>
where
    F: FnMut() -> SupervisorBuilder + 'a,
{
    Stress::new(Subject::Tree(Box::new(make)))
}

/// Stresses one child: a host supervisor (named [`STRESS_HOST`]) is started
/// once, and each cycle starts a fresh spec from `make` in it
/// (`StartChild`), stops it with several racing `StopChild`s, and removes
/// it (`RemoveChild`). `make` may return a [`ChildSpec`](crate::ChildSpec)
/// or a nested supervisor's builder.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::{testkit, ChildSpec};
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// testkit::run_paused(async {
///     let report = testkit::stress_child(|| ChildSpec::new("job", Job::default))
///         .cycles(20)
///         .await;
///     assert_eq!(report.cycles, 20);
/// });
/// ```
pub fn stress_child<'a, F, S>(mut make: F) -> Stress<'a>
where
    F: FnMut() -> S + 'a,
    S: Into<AnyChildSpec>,
{
    Stress::new(Subject::Child(Box::new(move || make().into())))
}

/// What each cycle starts.
enum Subject<'a> {
    Tree(Box<dyn FnMut() -> SupervisorBuilder + 'a>),
    Child(Box<dyn FnMut() -> AnyChildSpec + 'a>),
}

/// A start/stop stress run, from [`stress_tree`] or [`stress_child`].
/// Nothing happens until it is awaited.
///
/// `.await` resolves to a [`StressReport`] and fails the test on the first
/// problem; [`try_run`](Stress::try_run) returns a `Result` instead.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::{testkit, ChildSpec};
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// testkit::run_paused(async {
///     let job = || ChildSpec::new("job", Job::default).grace(Duration::from_secs(1).into());
///     let run = testkit::stress_child(job)
///         .cycles(25)
///         .seed(42) // a failure prints its seed: run it again with it
///         .max_stops(5)
///         .max_delay(Duration::from_millis(50))
///         .cycle_timeout(Duration::from_secs(2));
///     let report = run.try_run().await.expect("every cycle ended cleanly");
///     assert_eq!(report.cycles, 25);
/// });
/// ```
#[must_use = "a stress run does nothing until it is awaited"]
pub struct Stress<'a> {
    subject: Subject<'a>,
    cycles: usize,
    seed: u64,
    cycle_timeout: Duration,
    max_stops: usize,
    max_delay: Duration,
}

impl fmt::Debug for Stress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = match self.subject {
            Subject::Tree(_) => "tree",
            Subject::Child(_) => "child",
        };
        f.debug_struct("Stress")
            .field("subject", &subject)
            .field("cycles", &self.cycles)
            .field("seed", &self.seed)
            .field("cycle_timeout", &self.cycle_timeout)
            .field("max_stops", &self.max_stops)
            .field("max_delay", &self.max_delay)
            .finish()
    }
}

/// What a stress run did, when every cycle passed.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::testkit::{self, StressReport};
/// use actix_supervisor::{ChildSpec, SupervisorActor};
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// testkit::run_paused(async {
///     let report: StressReport = testkit::stress_tree(|| {
///         SupervisorActor::builder("app").child(ChildSpec::new("job", Job::default))
///     })
///     .cycles(10)
///     .await;
///     assert_eq!(report.cycles, 10);
///     assert!(report.stops_issued >= 10); // one or more racing stops per cycle
///     assert_eq!(report.live_actors_after, 0); // nothing left behind
///     println!("the longest cycle took {:?} of tokio time", report.max_cycle_time);
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StressReport {
    /// Cycles run.
    pub cycles: usize,
    /// Stops sent, over all cycles (each cycle sends one or more at once).
    pub stops_issued: usize,
    /// The longest cycle, from its start to its last stop's answer, on
    /// tokio's clock.
    pub max_cycle_time: Duration,
    /// Library actors still alive on this thread after the run, beyond
    /// those alive before it (see [`live_actors`](super::live_actors)).
    pub live_actors_after: usize,
}

impl<'a> Stress<'a> {
    fn new(subject: Subject<'a>) -> Self {
        Stress {
            subject,
            cycles: 100,
            seed: 0,
            cycle_timeout: Duration::from_secs(5),
            max_stops: 3,
            max_delay: Duration::from_millis(10),
        }
    }

    /// How many start/stop cycles to run (default 100).
    pub fn cycles(mut self, cycles: usize) -> Self {
        self.cycles = cycles;
        self
    }

    /// The seed of the random moments (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How long a cycle's stops may take to answer, on tokio's clock,
    /// before the run fails as hung (default 5 s).
    pub fn cycle_timeout(mut self, timeout: Duration) -> Self {
        self.cycle_timeout = timeout;
        self
    }

    /// The most stops sent in one cycle (default 3, at least 1): each cycle
    /// sends between one and this many, each at its own moment.
    pub fn max_stops(mut self, stops: usize) -> Self {
        self.max_stops = stops.max(1);
        self
    }

    /// The longest delay on tokio's clock before a stop (default 10 ms);
    /// half the stops wait only scheduler turns.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Runs every cycle, and returns what was done or the first problem.
    ///
    /// # Errors
    ///
    /// A [`StressError`] with the cycle, the seed and the
    /// [`StressFailure`]: the spec was refused, a stop hung (the tree is
    /// then shut down at once, without draining), two stops answered
    /// different reports, a node did not end, or actors were left alive.
    ///
    /// # Panics
    ///
    /// When called outside a running actix system.
    pub async fn try_run(mut self) -> Result<StressReport, StressError> {
        let mut rng = SplitMix64::seeded(self.seed);
        let baseline = live_actors();
        let host = match self.subject {
            Subject::Tree(_) => None,
            Subject::Child(_) => Some(self.start_host()?),
        };
        let mut report = StressReport {
            cycles: 0,
            stops_issued: 0,
            max_cycle_time: Duration::ZERO,
            live_actors_after: 0,
        };
        let settled = baseline + usize::from(host.is_some());
        for cycle in 0..self.cycles {
            let began = Instant::now();
            let stops = self.plan(&mut rng);
            report.stops_issued += stops.len();
            let outcome = match &host {
                None => self.tree_cycle(&stops).await,
                Some(host) => self.child_cycle(host, &stops).await,
            };
            outcome.map_err(|failure| self.error(cycle, failure))?;
            report.max_cycle_time = report.max_cycle_time.max(began.elapsed());
            settle_live_actors(settled)
                .await
                .map_err(|left| self.error(cycle, left.into()))?;
            report.cycles += 1;
        }
        if let Some(host) = host {
            let _ = host.send(Stop).await;
            drop(host);
            settle_live_actors(baseline)
                .await
                .map_err(|left| self.error(self.cycles, left.into()))?;
        }
        report.live_actors_after = live_actors().saturating_sub(baseline);
        Ok(report)
    }

    fn error(&self, cycle: usize, failure: StressFailure) -> StressError {
        StressError {
            cycle,
            seed: self.seed,
            failure,
        }
    }

    /// The host of the child under stress, restarting it without limit.
    fn start_host(&self) -> Result<Addr<SupervisorActor>, StressError> {
        SupervisorActor::builder(STRESS_HOST)
            .intensity(RestartIntensity::new(u32::MAX, Duration::from_secs(1)))
            .start()
            .map_err(|err| self.error(0, err.into()))
    }

    /// The moments of one cycle's stops.
    fn plan(&self, rng: &mut SplitMix64) -> Vec<Moment> {
        let stops = rng.in_range(1, self.max_stops as u64);
        (0..stops)
            .map(|_| Moment {
                turns: rng.in_range(0, u64::from(MAX_TURNS)) as u32,
                delay: if rng.coin() || self.max_delay.is_zero() {
                    Duration::ZERO
                } else {
                    rng.duration_up_to(self.max_delay)
                },
            })
            .collect()
    }

    /// Starts a fresh tree and stops it at `stops`.
    async fn tree_cycle(&mut self, stops: &[Moment]) -> Result<(), StressFailure> {
        let Subject::Tree(make) = &mut self.subject else {
            unreachable!("a tree cycle stresses a tree");
        };
        let root = make().start()?;
        let replies = stops.iter().map(|moment| {
            let root = root.clone();
            async move {
                moment.arrive().await;
                root.send(Stop).await.map_err(gone)
            }
        });
        let reports = self.answered(&root, join_all(replies)).await?;
        same_reports(reports)?;
        let tree = root.send(Inspect).await.map_err(gone)?;
        all_ended(tree, |_| true)
    }

    /// Starts a fresh child in `host`, stops it at `stops`, removes it.
    async fn child_cycle(
        &mut self,
        host: &Addr<SupervisorActor>,
        stops: &[Moment],
    ) -> Result<(), StressFailure> {
        let Subject::Child(make) = &mut self.subject else {
            unreachable!("a child cycle stresses a child");
        };
        let spec = make();
        let name = spec.name().to_string();
        host.send(StartChild::new(spec)).await.map_err(gone)??;
        let replies = stops.iter().map(|moment| {
            let (host, name) = (host.clone(), name.clone());
            async move {
                moment.arrive().await;
                let report: Result<StopReport, ControlError> =
                    host.send(StopChild::new(name)).await.map_err(gone)?;
                Ok::<_, StressFailure>(report?)
            }
        });
        let reports = self.answered(host, join_all(replies)).await?;
        same_reports(reports)?;
        let tree = host.send(Inspect).await.map_err(gone)?;
        let path = format!("/{STRESS_HOST}/{name}");
        let below = format!("{path}/");
        all_ended(tree, |node| {
            let at = node.path.as_str();
            at == path || at.starts_with(&below)
        })?;
        host.send(RemoveChild::new(name)).await.map_err(gone)??;
        Ok(())
    }

    /// The stops' answers, or `Hung` (after shutting `root` down) if they
    /// do not all come within the cycle timeout.
    async fn answered<F>(
        &self,
        root: &Addr<SupervisorActor>,
        replies: F,
    ) -> Result<F::Output, StressFailure>
    where
        F: std::future::Future,
    {
        match tokio::time::timeout(self.cycle_timeout, replies).await {
            Ok(replies) => Ok(replies),
            Err(_elapsed) => {
                let look = tokio::time::timeout(LAST_LOOK, root.send(Inspect)).await;
                root.do_send(Kill);
                Err(StressFailure::Hung {
                    after: self.cycle_timeout,
                    snapshot: look.ok().and_then(Result::ok).map(Box::new),
                })
            }
        }
    }
}

impl<'a> IntoFuture for Stress<'a> {
    type Output = StressReport;
    type IntoFuture = LocalBoxFuture<'a, StressReport>;

    /// # Panics
    ///
    /// On purpose, with the error, when a cycle fails.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.try_run().await {
                Ok(report) => report,
                Err(err) => panic!("{err}"),
            }
        })
    }
}

/// When a stop is sent, counted from the cycle's start.
#[derive(Debug, Clone, Copy)]
struct Moment {
    /// Scheduler turns to let pass first.
    turns: u32,
    /// Then a delay on tokio's clock.
    delay: Duration,
}

impl Moment {
    async fn arrive(self) {
        for _ in 0..self.turns {
            tokio::task::yield_now().await;
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

fn gone(_: MailboxError) -> StressFailure {
    StressFailure::SupervisorGone
}

/// Checks that every stop answered, and the same report.
fn same_reports(reports: Vec<Result<StopReport, StressFailure>>) -> Result<(), StressFailure> {
    let mut reports = reports.into_iter();
    let Some(first) = reports.next().transpose()? else {
        return Ok(());
    };
    for other in reports {
        let other = other?;
        if other != first {
            return Err(StressFailure::DifferentReports {
                first: Box::new(first),
                other: Box::new(other),
            });
        }
    }
    Ok(())
}

/// Checks that every node of `tree` that `concerned` selects has ended.
fn all_ended(
    tree: TreeSnapshot,
    concerned: impl Fn(&crate::tree::NodeSnapshot) -> bool,
) -> Result<(), StressFailure> {
    if tree
        .nodes()
        .filter(|node| concerned(node))
        .all(|node| node.state.is_terminal())
    {
        Ok(())
    } else {
        Err(StressFailure::NotStopped {
            snapshot: Box::new(tree),
        })
    }
}
