//! Test helpers for code that runs under a supervision tree (feature
//! `testkit`).
//!
//! Every helper here waits on something that happens (a lifecycle event, a
//! reply, a scheduler turn), never on a guessed sleep, and every timeout is
//! measured on tokio's clock, so the helpers work, and cost nothing, under
//! paused time.
//!
//! - **Wait until the tree matches a condition**: [`wait_until`] for the
//!   whole tree, [`wait_for_node`] for one node. They resolve to the
//!   matching snapshot, and fail the test with the last snapshot printed if
//!   the condition does not hold in time; `try_wait` gives a [`WaitError`]
//!   instead.
//! - **Record lifecycle events** with [`EventRecorder`], then assert on their
//!   order ([`EventRecorder::kinds`]) or wait for one
//!   ([`EventRecorder::wait_for`]).
//! - **Stress start and stop** of a tree ([`stress_tree`]) or a child
//!   ([`stress_child`]): many cycles, racing stops at seeded random moments,
//!   each cycle checked to end, answer and leave no actor behind
//!   ([`live_actors`]).
//! - **Run under paused time** with [`run_paused`] from a plain `#[test]`,
//!   and compare durations measured there with [`assert_about`].
//!
//! The helpers that fail a test do it by panicking, on purpose, with a
//! message that shows the tree or the events; each has a `try_` form that
//! returns the error instead.
//!
//! # Paused time and real I/O
//!
//! The clock jumps as soon as no task of the runtime can run, and tokio
//! cannot see work happening outside it. While a test waits on real I/O (a
//! socket, a file, a child process, a reply from another thread or another
//! runtime), nothing in the runtime can run, so the clock jumps to the next
//! timer at once: a `wait_until` or a `timeout` around that wait expires
//! immediately, whatever its length. Run such tests in real time (a plain
//! `#[actix_rt::test]` without `tokio::time::pause()`), or pause the clock
//! only after the I/O is done.
//!
//! # Examples
//!
//! A plain `#[test]` whose body runs in an actix system under paused time:
//!
//! ```
//! use actix::prelude::*;
//! use actix_supervisor::testkit::{self, EventRecorder};
//! use actix_supervisor::snapshot::NodeState;
//! use actix_supervisor::{ChildSpec, SupervisorActor};
//!
//! #[derive(Default)]
//! struct Job;
//! impl Actor for Job { type Context = Context<Self>; }
//! actix_supervisor::supervised!(Job);
//!
//! # fn main() {
//! testkit::run_paused(async {
//!     let spec = ChildSpec::new("job", Job::default);
//!     let job = spec.handle();
//!     let app = SupervisorActor::builder("app").child(spec).start().unwrap();
//!     let recorder = EventRecorder::start(&app).await.unwrap();
//!
//!     testkit::wait_for_node(&app, "/app/job", |n| n.state == NodeState::Running).await;
//!     job.stop().await;
//!     recorder.wait_for(|e| e.path.as_str() == "/app/job" && e.incarnation == 1).await;
//!     assert_eq!(recorder.kinds("/app/job"), ["started", "stopping", "stopped"]);
//! });
//! # }
//! ```

mod error;
mod event_line;
mod live;
mod paused;
mod recorder;
mod stress;
mod wait;

pub use error::{ActorsLeftBehind, EventWaitError, StressError, StressFailure, WaitError};
pub(crate) use live::LiveActor;
pub use live::{live_actors, settle_live_actors};
pub use paused::{assert_about, run_paused, TIMER_SLACK};
pub use recorder::{EventRecorder, WaitForEvent};
pub use stress::{stress_child, stress_tree, Stress, StressReport, STRESS_HOST};
pub use wait::{wait_for_node, wait_until, WaitUntil, DEFAULT_TIMEOUT};
