//! Supervision trees for [actix](https://docs.rs/actix) actors: restart
//! policies with backoff, panic containment, stable addresses and inspection.
//!
//! Each background task of an application is an actix actor supervised by a
//! [`SupervisorActor`]. A child is described by a [`ChildSpec`]: a unique
//! name, a factory that builds a fresh actor value for every incarnation, and
//! a [`RestartPolicy`] with an optional [`Backoff`]. The child's `Addr` stays
//! valid across restarts; messages sent while it restarts wait in its mailbox
//! for the next incarnation.
//!
//! # Quick start
//!
//! ```
//! use std::time::Duration;
//! use actix::prelude::*;
//! use actix_supervisor::{Backoff, ChildSpec, Inspect, RestartPolicy, SupervisorActor};
//!
//! #[derive(Default)]
//! struct Counter { count: u64 }
//! impl Actor for Counter { type Context = Context<Self>; }
//! // Each restart starts from the value the factory builds.
//! actix_supervisor::supervised!(Counter);
//!
//! #[derive(Message)]
//! #[rtype(result = "u64")]
//! struct Increment;
//! impl Handler<Increment> for Counter {
//!     type Result = u64;
//!     fn handle(&mut self, _: Increment, _: &mut Context<Self>) -> u64 {
//!         self.count += 1;
//!         self.count
//!     }
//! }
//!
//! #[derive(Message)]
//! #[rtype(result = "()")]
//! struct Crash;
//! impl Handler<Crash> for Counter {
//!     type Result = ();
//!     fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
//!         panic!("counter crashed");
//!     }
//! }
//!
//! # actix::System::new().block_on(async {
//! # tokio::time::pause();
//! let spec = ChildSpec::new("counter", Counter::default)
//!     .restart(RestartPolicy::OnFailure)
//!     .backoff(Backoff::new(Duration::from_millis(100), Duration::from_secs(5)));
//! let counter = spec.address();
//! let app = SupervisorActor::builder("app").child(spec).start()?;
//!
//! counter.send(Increment).await?;
//! assert!(counter.send(Crash).await.is_err()); // the panicking message's sender gets an error
//! // Same address, next incarnation, fresh state (after the backoff).
//! assert_eq!(counter.send(Increment).await?, 1);
//!
//! let tree = app.send(Inspect).await?;
//! assert_eq!(tree.find("/app/counter").unwrap().restart_count, 1);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # The pieces
//!
//! - A tree is described by a [`SupervisorBuilder`] (name, grace,
//!   [`RestartIntensity`], [`Strategy`], children) and checked as a whole by
//!   [`SupervisorBuilder::start`], or loaded from a file with
//!   [`config::TreeConfig`].
//! - A child is a [`ChildSpec`]: any actix actor, or the two ready kinds,
//!   [`ChildSpec::periodic`] (a [`Tick`] on an interval) and
//!   [`ChildSpec::worker`] (a [`Work`] loop with a cancellation token). A
//!   `SupervisorBuilder` is a child too, for nested supervisors.
//! - A child's [`ChildHandle`] is its address plus stop-aware, counted sends,
//!   a graceful [`stop`](ChildHandle::stop) and a startup handle
//!   ([`started`](ChildHandle::started)).
//! - Control messages to a supervisor: [`Inspect`], [`Stop`], [`Subscribe`],
//!   [`StartChild`], [`StopChild`], [`RestartChild`], [`RemoveChild`].
//! - [`system`] runs a tree as a program: signals, a global grace, an exit
//!   status.
//! - With the `testkit` feature, `testkit` helps tests wait on the tree
//!   without sleeps.
//!
//! # Control messages
//!
//! Every control message is an actix [`Message`](actix::Message) sent to a
//! supervisor's `Addr<SupervisorActor>`; each one answers, whatever state the
//! supervisor is in.
//!
//! | message | reply | answers when |
//! |---------|-------|--------------|
//! | [`Inspect`] | [`TreeSnapshot`] of the subtree | at once |
//! | [`Stop`] | [`StopReport`] of the subtree | every node drained, timed out or failed; a second `Stop` gets the same report |
//! | [`Kill`] | `()` | the supervisor terminated its children at once, without draining |
//! | [`Subscribe`] | [`EventStream`] of the subtree's [`LifecycleEvent`]s | at once; events follow in the order they happened |
//! | [`SubscribeRecipient`] | `()` | at once; events go to the recipient |
//! | [`StartChild`] | `Result<(), ControlError>` | the child is added and starting (its [`ChildHandle::started`] tells when it runs) |
//! | [`StopChild`] | `Result<StopReport, ControlError>` | that child stopped (its slot stays, `Stopped`) |
//! | [`RestartChild`] | `Result<(), ControlError>` | its mailbox drained and its next incarnation is starting |
//! | [`RemoveChild`] | `Result<StopReport, ControlError>` | it stopped and left the table |
//!
//! One child is reached through its [`ChildHandle`]: [`send`](ChildHandle::send),
//! [`do_send`](ChildHandle::do_send) and [`try_send`](ChildHandle::try_send)
//! as on an `Addr`, but refused with the message handed back once a stop
//! began; [`stop`](ChildHandle::stop) for a graceful stop of that child
//! alone; [`started`](ChildHandle::started) for the outcome of its first
//! start.
//!
//! # Lifecycle
//!
//! Every node is in exactly one [`NodeState`]:
//!
//! - `Starting`: its factory and `started` are running (and the futures
//!   `started` waits on).
//! - `Running`: it handles messages.
//! - `Restarting { attempt, next_start_in }`: its incarnation ended and the
//!   next one waits out a backoff; messages queue meanwhile.
//! - `Stopping`: it drains its mailbox within its grace, for a stop (or for
//!   a one-for-all or rest-for-one restart of its siblings).
//! - `Stopped`: it ended normally and will not run again.
//! - `Failed`: it ended by a failure and its own supervisor will not restart
//!   it (its policy, or the supervisor's intensity, said so). If that
//!   supervisor is nested and escalates, its parent may restart the whole
//!   subtree, this node included.
//! - `Waiting`: its next incarnation waits for the siblings it depends on
//!   to finish their start, at most its start timeout; messages queue
//!   meanwhile.
//!
//! Starts, failures, restarts and ends are published as
//! [`LifecycleEvent`]s to subscribers (entering `Stopping` is not).
//!
//! # Ordering guarantees
//!
//! - Messages sent through one address are handled in the order sent, across
//!   restarts: an incarnation handles what the previous one left queued.
//! - A child starts only after every sibling it depends on
//!   ([`ChildSpec::depends_on`]) finished its start: its `started` returned
//!   and the futures it waited on with `ctx.wait` completed (a nested
//!   supervisor: each of its children did). Meanwhile it is `Waiting`, at
//!   most its [start timeout](ChildSpec::start_timeout), after which its
//!   start fails with [`StartError::DependencyNotReady`] and its policy
//!   decides. Children with no dependency between them start concurrently.
//!   They stop in reverse: a child stops only after every sibling that
//!   depends on it has stopped, and siblings that do not depend on each
//!   other stop in parallel.
//! - Under [`Strategy::OneForAll`] and [`Strategy::RestForOne`], the siblings
//!   restarted along with a child stop in reverse start order and start again
//!   in start order, each after the siblings it depends on finished their
//!   start again.
//! - A node's lifecycle events reach a subscriber in the order they happened;
//!   one tree shares one event channel, so events of different nodes keep
//!   their order too.
//! - A `Stop` answers only after everything it stops has stopped: the report
//!   it returns is final, and a second `Stop` gets the same one.
//!
//! # What happens to a message
//!
//! - Sent while the child runs: handled, exactly as with plain actix.
//! - Sent while the child is starting, restarting or waiting out a backoff:
//!   queued in the same mailbox, handled by the next incarnation in order.
//! - Its handler panics: the message is dropped during the unwind; a `send()`
//!   caller gets [`MailboxError::Closed`](actix::MailboxError::Closed).
//! - Queued when a stop begins: handled before the child stops, within its
//!   grace, in whatever phase the child is: between two incarnations, in a
//!   backoff or parked for a strategy restart, the next incarnation starts at
//!   once to drain it. Past the grace, counted as undelivered in the
//!   [`StopReport`] and its `send()` caller gets an error.
//! - Its handler answers with a [`ChildFuture`]: the child owns the future
//!   (a panic in it is the child's failure; a stop waits for it within the
//!   grace, then cancels it and counts the message undelivered). actix's
//!   `ResponseFuture` runs outside the child: neither.
//! - Its requester drops the `send` future before it is handled: skipped,
//!   counted as cancelled in the [`StopReport`]; it never holds a stop open.
//! - Sent through a [`ChildHandle`] once a stop began: refused with
//!   [`SendError::Stopping`] (or `Gone`), and the message handed back.
//! - The child will not run again (policy, or its supervisor is gone): every
//!   queued and later `send()` fails at once with `MailboxError::Closed`.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | `config` | on | [`config`]: trees read from TOML or JSON (pulls in `toml`, `serde_json`, `serde_path_to_error`) |
//! | `signals` | on | [`system`] stops the tree on SIGINT or SIGTERM (Ctrl-C on Windows), and [`system::run`]; pulls in tokio's `signal` |
//! | `testkit` | off | `testkit`: waiting on the tree without sleeps, event recording, start/stop stress, paused time |
//!
//! [`prelude`] holds everything the examples use; import it beside
//! `actix::prelude::*`.
//!
//! # Panics and failures
//!
//! A panic in a factory, `started`, a handler, a spawned future, `stopping`,
//! `stopped` or `restarting` is caught, logged with the node's path and
//! recorded in [`NodeSnapshot::last_failure`] (the latest) and
//! [`NodeSnapshot::restart_count`]; the arbiter, the supervisor and
//! the siblings keep running. An actor can also end its incarnation as a
//! failure without panicking, with [`fail`].
//!
//! [`Tick`]: periodic::Tick
//! [`Work`]: worker::Work
//! [`EventStream`]: events::EventStream
//! [`LifecycleEvent`]: events::LifecycleEvent
//! [`SubscribeRecipient`]: events::SubscribeRecipient
//! [`NodeState`]: snapshot::NodeState
#![deny(missing_docs, unreachable_pub, missing_debug_implementations)]
#![forbid(unsafe_code)]
// Promise 16: the library reports through `tracing`, never on standard output.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![doc(test(attr(deny(warnings), allow(dead_code))))]

mod actors;
mod child;
#[cfg(feature = "config")]
pub mod config;
mod error;
mod latch;
mod messages;
#[cfg(feature = "metrics")]
pub mod metrics;
mod policy;
mod rng;
mod spec;
pub mod system;
#[cfg(feature = "testkit")]
pub mod testkit;
mod tree;
#[cfg(feature = "web")]
pub mod web;

// The crate root holds the concepts: the tree, a child, its handle, the
// control messages and their report, the policies, the snapshot, the errors.
// Ready-made kinds of child, events, paths, snapshot details and plumbing
// live in the modules below, each named after its concept.
pub use actors::{ArbiterPool, SupervisorActor, SupervisorBuilder};
pub use child::{fail, restart_fresh, ChildFuture, ChildHandle, StartContext, SupervisedActor};
#[cfg(feature = "config")]
pub use error::ConfigError;
pub use error::{BuildError, ControlError, SendError, StartError};
pub use messages::{
    Inspect, Kill, RemoveChild, RestartChild, StartChild, Stop, StopChild, StopOutcome, StopReport,
    Subscribe, SubtreeSummary,
};
pub use policy::{Backoff, Grace, RestartIntensity, RestartPolicy, Strategy};
pub use spec::ChildSpec;
pub use tree::{NodeSnapshot, TreeSnapshot};

/// Periodic tasks: a [`Tick`](periodic::Tick) run on a
/// [`Periodic`](periodic::Periodic) schedule, built with
/// [`ChildSpec::periodic`].
///
/// ```
/// use std::time::Duration;
/// use actix_supervisor::periodic::{Periodic, Tick, TickContext};
/// use actix_supervisor::ChildSpec;
///
/// struct Sampler;
/// impl Tick for Sampler {
///     type Error = String;
///     async fn tick(&mut self, ctx: &TickContext) -> Result<(), String> {
///         let _ = ctx.tick_number();
///         Ok(())
///     }
/// }
/// let spec = ChildSpec::periodic("sampler", Periodic::every(Duration::from_secs(1)), |_| Sampler);
/// # drop(spec);
/// ```
pub mod periodic {
    pub use crate::actors::{
        MissedTicks, Periodic, PeriodicActor, Tick, TickContext, TickContextBuilder, TickNow,
    };
}

/// Workers: a [`Work`](worker::Work) loop that runs until it is asked to
/// stop, built with [`ChildSpec::worker`].
///
/// ```
/// use actix_supervisor::worker::{Work, WorkContext};
/// use actix_supervisor::ChildSpec;
///
/// struct Consumer;
/// impl Work for Consumer {
///     type Error = String;
///     async fn run(&mut self, ctx: WorkContext) -> Result<(), String> {
///         ctx.token().cancelled().await;
///         Ok(())
///     }
/// }
/// let spec = ChildSpec::worker("consumer", |_| Consumer);
/// # drop(spec);
/// ```
pub mod worker {
    pub use crate::actors::{Work, WorkContext, WorkContextBuilder, WorkerActor};
}

/// Dynamic pools: many children of one kind, started at run time from a
/// template with per-child arguments, with an optional limit. See
/// [`Pool`](pool::Pool).
pub mod pool {
    pub use crate::actors::{Pool, PoolBuilder};
}

/// Lifecycle events: what [`Subscribe`] streams, one
/// [`LifecycleEvent`](events::LifecycleEvent) per transition of a node.
pub mod events {
    pub use crate::messages::{EventKind, EventStream, LifecycleEvent, SubscribeRecipient};
}

/// Nodes by path: a [`NodePath`](path::NodePath), handles to a running
/// node found by its path with its actor type checked
/// ([`ChildAt`](path::ChildAt), [`SupervisorAt`](path::SupervisorAt)), and
/// the control messages addressed by path.
pub mod path {
    pub use crate::messages::{
        ChildAt, PathError, RemoveChildAt, RestartChildAt, StopChildAt, SupervisorAt,
    };
    pub use crate::tree::NodePath;
}

/// The parts of a [`NodeSnapshot`]: state, kind, configured policy, task
/// statistics and the last failure.
pub mod snapshot {
    pub use crate::tree::{
        Failure, FailureKind, FailurePhase, NodeKind, NodePolicy, NodeState, Schedule, TaskStats,
    };
}

/// Traits and types that the library's generic signatures name; code rarely
/// names them itself. [`AnyChildSpec`](plumbing::AnyChildSpec) is what
/// [`SupervisorBuilder::child`] accepts (a [`ChildSpec`] of any actor, or a
/// nested [`SupervisorBuilder`]); [`SupervisedHandler`](plumbing::SupervisedHandler)
/// is the bound a message sent through a [`ChildHandle`] needs.
pub mod plumbing {
    pub use crate::child::SupervisedHandler;
    pub use crate::spec::AnyChildSpec;
}

/// Plumbing for [`supervised!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::child::drain::{
        handle_drain_marker, handle_tracked, DrainMarker, Tracked, TrackedResponse,
    };
}

/// Everything the README's examples use, for a glob import beside actix's
/// own prelude.
///
/// Nothing here clashes with `actix::prelude::*` (actix's `SendError` and
/// `Supervisor` keep their names; this crate's `SendError` stays at the
/// crate root), so both globs can be imported together:
///
/// ```
/// # #![allow(unused_imports)]
/// use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// struct Sampler;
/// impl Tick for Sampler {
///     type Error = String;
///     async fn tick(&mut self, _: &TickContext) -> Result<(), String> { Ok(()) }
/// }
///
/// let tree = SupervisorActor::builder("app")
///     .child(ChildSpec::periodic("sampler", Periodic::every(Duration::from_secs(1)), |_| Sampler));
/// # drop(tree);
/// ```
pub mod prelude {
    pub use crate::events::{EventKind, LifecycleEvent};
    pub use crate::periodic::{MissedTicks, Periodic, Tick, TickContext};
    pub use crate::snapshot::NodeState;
    pub use crate::worker::{Work, WorkContext};
    pub use crate::{
        fail, supervised, Backoff, BuildError, ChildFuture, ChildHandle, ChildSpec, ControlError,
        Grace, Inspect, Kill, NodeSnapshot, RemoveChild, RestartChild, RestartIntensity,
        RestartPolicy, StartChild, StartError, Stop, StopChild, StopOutcome, StopReport, Strategy,
        Subscribe, SupervisedActor, SupervisorActor, SupervisorBuilder, TreeSnapshot,
    };
}

/// The README's code blocks, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
