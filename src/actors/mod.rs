//! The actors of the library: [`SupervisorActor`] and the runner that each
//! supervised child lives in.
//!
//! A supervised child is a plain actix actor with `Context<Self>` that also
//! implements [`actix::Supervised`] by installing the fresh state its factory
//! built; [`supervised!`](crate::supervised) writes that impl:
//!
//! ```
//! use actix::prelude::*;
//!
//! #[derive(Default)]
//! struct Reconciler { passes: u64 }
//! impl Actor for Reconciler { type Context = Context<Self>; }
//! actix_supervisor::supervised!(Reconciler);
//! ```

pub(crate) mod runner;
pub(crate) mod supervisor;

pub use runner::{fail, restart_fresh};
pub use supervisor::{SupervisorActor, SupervisorBuilder};

/// Implements [`actix::Supervised`] for an actor so that each restart installs
/// the fresh value its spec's factory built.
///
/// This is the one line a supervised actor needs. For a generic actor, write
/// the impl by hand and call [`restart_fresh`] in it.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
///
/// struct Scanner;
/// impl Actor for Scanner { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Scanner);
/// ```
#[macro_export]
macro_rules! supervised {
    ($actor:ty) => {
        impl ::actix::Supervised for $actor {
            fn restarting(&mut self, _: &mut <Self as ::actix::Actor>::Context) {
                $crate::restart_fresh(self);
            }
        }
    };
}
