//! The actors of the library: [`SupervisorActor`] and the two ready kinds of
//! child, periodic and worker.
//!
//! Any actix actor with `Context<Self>` can be a child once one line,
//! [`supervised!`](crate::supervised), made it supervisable:
//!
//! ```
//! use actix::prelude::*;
//!
//! #[derive(Default)]
//! struct Reconciler { passes: u64 }
//! impl Actor for Reconciler { type Context = Context<Self>; }
//! actix_supervisor::supervised!(Reconciler);
//! ```

mod detached;
pub(crate) mod periodic;
pub(crate) mod pool;
pub(crate) mod supervisor;
pub(crate) mod worker;

pub use periodic::{
    MissedTicks, Periodic, PeriodicActor, Tick, TickContext, TickContextBuilder, TickNow,
};
pub use pool::{Pool, PoolBuilder};
pub use supervisor::{ArbiterPool, SupervisorActor, SupervisorBuilder};
pub use worker::{Work, WorkContext, WorkContextBuilder, WorkerActor};
