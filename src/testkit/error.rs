//! The testkit's error types. Each carries what a failing test needs to see:
//! the tree as it last was, the events recorded, the cycle and seed that
//! reproduce a stress failure. Their `Display` is the message a test fails
//! with when it awaits a helper directly (rather than its `try_` form).

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::error::{BuildError, ControlError};
use crate::messages::{LifecycleEvent, StopReport};
use crate::tree::TreeSnapshot;

use super::event_line::EventLine;

/// A wait on a tree ([`wait_until`](super::wait_until),
/// [`wait_for_node`](super::wait_for_node)) that ended without the
/// condition holding.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::testkit::{self, WaitError};
/// use actix_supervisor::{ChildSpec, SupervisorActor};
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// testkit::run_paused(async {
///     let spec = ChildSpec::new("job", Job::default);
///     let app = SupervisorActor::builder("app").child(spec).start().unwrap();
///     let err: WaitError = testkit::wait_for_node(&app, "/app/job", |n| n.restart_count > 0)
///         .timeout(Duration::from_secs(1)) // no real second passes
///         .try_wait()
///         .await
///         .unwrap_err();
///     assert!(err.is_timeout());
///     assert_eq!(err.last_snapshot().unwrap().find("/app/job").unwrap().restart_count, 0);
/// });
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The timeout passed.
    #[error(
        "timed out after {after:?} waiting for {condition}{hint}{}",
        LastSnapshot(last.as_deref())
    )]
    TimedOut {
        /// What was waited for.
        condition: String,
        /// The timeout.
        after: Duration,
        /// The tree when the timeout passed (none if the supervisor never
        /// answered an `Inspect`).
        last: Option<Box<TreeSnapshot>>,
        /// Empty, or a note on why the wait did not see the change.
        hint: &'static str,
    },
    /// The supervisor stopped answering (its actor ended), so the condition
    /// can never be seen.
    #[error(
        "the supervisor is gone while waiting for {condition}{}",
        LastSnapshot(last.as_deref())
    )]
    SupervisorGone {
        /// What was waited for.
        condition: String,
        /// The last tree seen, if any.
        last: Option<Box<TreeSnapshot>>,
    },
}

impl WaitError {
    /// The tree as it last was seen.
    pub fn last_snapshot(&self) -> Option<&TreeSnapshot> {
        match self {
            WaitError::TimedOut { last, .. } | WaitError::SupervisorGone { last, .. } => {
                last.as_deref()
            }
        }
    }

    /// Whether the wait ended because its timeout passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, WaitError::TimedOut { .. })
    }
}

/// Prints a snapshot after an error message.
struct LastSnapshot<'a>(Option<&'a TreeSnapshot>);

impl fmt::Display for LastSnapshot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(tree) => write!(f, "; the tree was:\n{tree}"),
            None => f.write_str("; no snapshot was taken"),
        }
    }
}

/// A wait for a lifecycle event
/// ([`EventRecorder::wait_for`](super::EventRecorder::wait_for)) that ended
/// without a matching event.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::events::EventKind;
/// use actix_supervisor::testkit::{self, EventRecorder, EventWaitError};
/// use actix_supervisor::{ChildSpec, SupervisorActor};
///
/// # #[derive(Default)]
/// # struct Job;
/// # impl Actor for Job { type Context = Context<Self>; }
/// # actix_supervisor::supervised!(Job);
/// #
/// testkit::run_paused(async {
///     let spec = ChildSpec::new("job", Job::default);
///     let job = spec.handle();
///     let app = SupervisorActor::builder("app").child(spec).start().unwrap();
///     let recorder = EventRecorder::start(&app).await.unwrap();
///     job.stop().await;
///
///     let err = recorder
///         .wait_for(|e| matches!(e.kind, EventKind::Failed { .. }))
///         .timeout(Duration::from_secs(1))
///         .try_wait()
///         .await
///         .unwrap_err();
///     assert!(matches!(err, EventWaitError::TimedOut { .. }));
///     assert!(err.seen().iter().any(|e| matches!(e.kind, EventKind::Stopped { .. })));
/// });
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EventWaitError {
    /// The timeout passed.
    #[error("timed out after {after:?} waiting for {condition}{}", EventList(seen))]
    TimedOut {
        /// What was waited for.
        condition: String,
        /// The timeout.
        after: Duration,
        /// Every event recorded by then.
        seen: Vec<LifecycleEvent>,
    },
    /// The tree is gone: no event will come any more.
    #[error("the tree is gone while waiting for {condition}{}", EventList(seen))]
    TreeGone {
        /// What was waited for.
        condition: String,
        /// Every event recorded.
        seen: Vec<LifecycleEvent>,
    },
}

impl EventWaitError {
    /// Every event recorded when the wait ended.
    pub fn seen(&self) -> &[LifecycleEvent] {
        match self {
            EventWaitError::TimedOut { seen, .. } | EventWaitError::TreeGone { seen, .. } => seen,
        }
    }
}

/// Prints recorded events after an error message, one per line.
struct EventList<'a>(&'a [LifecycleEvent]);

impl fmt::Display for EventList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("; no event was recorded");
        }
        f.write_str("; the events recorded were:")?;
        for event in self.0 {
            write!(f, "\n  {}", EventLine(event))?;
        }
        Ok(())
    }
}

/// The live actors of the current thread did not come back down to the
/// expected count (see [`settle_live_actors`](super::settle_live_actors)).
///
/// # Examples
///
/// ```
/// use actix_supervisor::{testkit, Stop, SupervisorActor};
///
/// testkit::run_paused(async {
///     let before = testkit::live_actors();
///     let app = SupervisorActor::builder("app").start().unwrap();
///
///     // A supervisor runs until it is stopped: it is still there.
///     let left = testkit::settle_live_actors(before).await.unwrap_err();
///     assert_eq!((left.expected, left.live), (before, before + 1));
///
///     app.send(Stop).await.unwrap();
///     drop(app);
///     testkit::settle_live_actors(before).await.unwrap();
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{live} library actors are alive on this thread, {expected} expected: {} left behind", live.saturating_sub(*expected))]
#[non_exhaustive]
pub struct ActorsLeftBehind {
    /// The count waited for.
    pub expected: usize,
    /// The count when the wait gave up.
    pub live: usize,
}

/// A start/stop stress run ([`stress_tree`](super::stress_tree),
/// [`stress_child`](super::stress_child)) that found a problem, with the
/// cycle and the seed that reproduce it.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::testkit::{self, StressFailure};
/// use actix_supervisor::{BuildError, ChildSpec, SupervisorActor};
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// testkit::run_paused(async {
///     let err = testkit::stress_tree(|| {
///         SupervisorActor::builder("app")
///             .child(ChildSpec::new("job", Job::default))
///             .child(ChildSpec::new("job", Job::default)) // the same name twice
///     })
///     .seed(9)
///     .try_run()
///     .await
///     .unwrap_err();
///     assert_eq!((err.cycle, err.seed), (0, 9)); // `.seed(9)` plays it again
///     assert!(matches!(err.failure, StressFailure::Build(BuildError::DuplicateName { .. })));
/// });
/// ```
#[derive(Debug, Error)]
#[error("stress cycle {cycle} (seed {seed}) failed: {failure}")]
#[non_exhaustive]
pub struct StressError {
    /// The cycle that failed, from 0.
    pub cycle: usize,
    /// The run's seed: the same seed plays the same cycles.
    pub seed: u64,
    /// What went wrong.
    pub failure: StressFailure,
}

/// What went wrong in a stress cycle.
///
/// # Examples
///
/// A child whose stop never ends hangs the cycle:
///
/// ```
/// # use std::time::Duration;
/// use actix_supervisor::snapshot::NodeState;
/// use actix_supervisor::testkit::{self, StressFailure};
/// use actix_supervisor::worker::{Work, WorkContext};
/// use actix_supervisor::{ChildSpec, Grace};
///
/// struct Stuck; // ignores its token, and its grace never runs out
/// impl Work for Stuck {
///     type Error = String;
///     async fn run(&mut self, _: WorkContext) -> Result<(), String> {
///         std::future::pending().await
///     }
/// }
///
/// testkit::run_paused(async {
///     let stuck = || ChildSpec::worker("stuck", |_| Stuck).grace(Grace::Infinity);
///     let err = testkit::stress_child(stuck)
///         .cycle_timeout(Duration::from_secs(1))
///         .try_run()
///         .await
///         .unwrap_err();
///     let StressFailure::Hung { after, snapshot } = err.failure else { panic!("{err}") };
///     assert_eq!(after, Duration::from_secs(1));
///     let tree = snapshot.unwrap(); // the tree when the cycle hung
///     assert_eq!(tree.find("/stress-host/stuck").unwrap().state, NodeState::Stopping);
/// });
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StressFailure {
    /// The tree or the child could not be built.
    #[error("the spec was refused: {0}")]
    Build(#[from] BuildError),
    /// A control message (`StartChild`, `StopChild`, `RemoveChild`) was
    /// refused.
    #[error("a control message was refused: {0}")]
    Control(#[from] ControlError),
    /// A supervisor's mailbox closed before it answered.
    #[error("the supervisor stopped answering")]
    SupervisorGone,
    /// The stops did not all answer within the cycle timeout.
    #[error(
        "the stops did not answer within {after:?}{}",
        LastSnapshot(snapshot.as_deref())
    )]
    Hung {
        /// The cycle timeout.
        after: Duration,
        /// The tree when the timeout passed, if it still answered.
        snapshot: Option<Box<TreeSnapshot>>,
    },
    /// Two stops of the same cycle answered different reports.
    #[error("two stops answered different reports:\n{first}\nand\n{other}")]
    DifferentReports {
        /// The first stop's report.
        first: Box<StopReport>,
        /// A later stop's, different.
        other: Box<StopReport>,
    },
    /// Every stop answered, but a node was not left `Stopped` or `Failed`.
    #[error("a node did not end after its stop; the tree was:\n{snapshot}")]
    NotStopped {
        /// The tree after the stops.
        snapshot: Box<TreeSnapshot>,
    },
    /// Actors were left alive after the cycle.
    #[error(transparent)]
    Leaked(#[from] ActorsLeftBehind),
}
