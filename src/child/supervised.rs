//! What makes an actix actor supervisable: the [`SupervisedActor`] trait,
//! the [`supervised!`](crate::supervised) macro that implements it, and
//! [`restart_fresh`], which installs each incarnation's fresh value.
//!
//! # Why fresh state goes through `Supervised::restarting`
//!
//! actix keeps an actor's mailbox inside its `ContextFut`, so a child keeps
//! its address and its queued messages across a restart only if its context
//! is restarted in place (`ContextFut::restart`, as `actix::Supervisor`
//! does), and that method keeps the actor value, which actix holds
//! privately. The runner builds the fresh value with the spec's factory,
//! parks it in a thread-local slot, and restarts the context; actix calls the
//! actor's `Supervised::restarting`, where one line written by
//! `supervised!` swaps the fresh value in. A `restarting` that does not is
//! caught, and the child given up with an error that says so.

use std::any::Any;
use std::cell::RefCell;

use actix::dev::ToEnvelope;
use actix::{Actor, Context, Handler, Message, Supervised};

use super::drain::{DrainMarker, Tracked};

thread_local! {
    /// The value the next `restarting` call installs: an `Option<A>` in a
    /// box the runner keeps from one restart to the next, so that a restart
    /// allocates nothing for it.
    pub(crate) static FRESH: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Installs the fresh actor value built by the spec's factory. Call it from
/// [`Supervised::restarting`](actix::Supervised::restarting); the [`supervised!`](crate::supervised) macro
/// writes that call for you.
///
/// Outside a supervised restart it does nothing.
///
/// See [`supervised!`](crate::supervised) for writing `restarting` by hand.
pub fn restart_fresh<A: 'static>(actor: &mut A) {
    // A value of another type is not ours: it is left for the runner to
    // find and report.
    let fresh = FRESH.with(|slot| {
        slot.borrow_mut()
            .as_mut()?
            .downcast_mut::<Option<A>>()?
            .take()
    });
    if let Some(fresh) = fresh {
        // Dropped once the slot is released: its `Drop` may restart too.
        let stale = std::mem::replace(actor, fresh);
        drop(stale);
    }
}

/// An actor that can be supervised: an actix actor with `Context<Self>` whose
/// restarts install fresh state and whose mailbox can be drained.
///
/// Implemented by [`supervised!`](crate::supervised); you do not implement it
/// by hand. Forgetting that line is a compile error that names it.
///
/// # Examples
///
/// The bound of code that works with any supervised actor:
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::{ChildSpec, RestartPolicy, SupervisedActor};
///
/// /// Every child of this application gets the same policy.
/// fn standard<A: SupervisedActor>(name: &str, factory: fn() -> A) -> ChildSpec<A> {
///     ChildSpec::new(name, factory).restart(RestartPolicy::Always)
/// }
///
/// #[derive(Default)]
/// struct Cache;
/// impl Actor for Cache { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Cache); // makes `Cache: SupervisedActor`
///
/// let cache = standard("cache", Cache::default);
/// assert_eq!(cache.name(), "cache");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be supervised: write `actix_supervisor::supervised!({Self});` after its `impl Actor`",
    label = "`{Self}` needs `actix_supervisor::supervised!({Self});`",
    note = "`supervised!` makes each restart install the factory's fresh value and lets a stop drain the mailbox",
    note = "the actor's context must be `Context<Self>`"
)]
pub trait SupervisedActor:
    Actor<Context = Context<Self>> + Supervised + Handler<DrainMarker>
{
}

impl<A> SupervisedActor for A where
    A: Actor<Context = Context<A>> + Supervised + Handler<DrainMarker>
{
}

/// A message `M` that a supervised actor handles, and so can be sent through
/// its [`ChildHandle`](crate::ChildHandle): implemented by
/// [`supervised!`](crate::supervised) for every `M` the actor has an
/// `impl Handler<M>` for. You do not implement it by hand; it is the bound of
/// [`ChildHandle::send`](crate::ChildHandle::send), `do_send` and
/// `try_send`, so that sending a message the actor does not handle is a
/// compile error that names the missing `Handler`.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::plumbing::SupervisedHandler;
///
/// #[derive(Default)]
/// struct Counter(u64);
/// impl Actor for Counter { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Counter);
///
/// #[derive(Message)]
/// #[rtype(result = "u64")]
/// struct Increment;
/// impl Handler<Increment> for Counter {
///     type Result = u64;
///     fn handle(&mut self, _: Increment, _: &mut Context<Self>) -> u64 {
///         self.0 += 1;
///         self.0
///     }
/// }
///
/// fn handles<A: SupervisedHandler<M>, M: Message>() {}
/// handles::<Counter, Increment>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not handle `{M}`: it has no `impl Handler<{M}>`",
    label = "`{Self}` needs `impl Handler<{M}> for {Self}`",
    note = "a `ChildHandle<{Self}>` sends only the messages its actor handles: add that `Handler`, or send a message `{Self}` handles",
    note = "if `{Self}` has that `Handler`, check that `actix_supervisor::supervised!` is written for it"
)]
pub trait SupervisedHandler<M: Message>:
    Handler<Tracked<M>> + Actor<Context: ToEnvelope<Self, Tracked<M>>>
{
}

impl<A, M> SupervisedHandler<M> for A
where
    M: Message,
    A: Handler<Tracked<M>> + Actor<Context: ToEnvelope<A, Tracked<M>>>,
{
}

/// Makes an actor supervisable: each restart installs the fresh value its
/// spec's factory built, a stop can drain its mailbox, and messages sent
/// through its [`ChildHandle`](crate::ChildHandle) are counted.
///
/// It implements [`actix::Supervised`] (calling [`restart_fresh`]) and two
/// handlers for the library's internal messages. For a generic actor, give
/// its generic parameters in brackets after `impl`, and its bounds in
/// brackets after `where`.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
///
/// struct Scanner;
/// impl Actor for Scanner { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Scanner);
///
/// struct Cache<T> { entries: Vec<T> }
/// impl<T: Unpin + 'static> Actor for Cache<T> { type Context = Context<Self>; }
/// actix_supervisor::supervised!(impl[T] Cache<T> where [T: Unpin + 'static]);
/// ```
///
/// With `custom_restarting`, it leaves `Supervised` to you, for an actor that
/// carries something across restarts on purpose. Your `restarting` must still
/// call [`restart_fresh`]; a restart that does not is refused and the child
/// is given up with an error saying so.
///
/// ```
/// use actix::prelude::*;
///
/// struct Receiver { connection_pool: Option<Vec<String>>, position: u64 }
/// impl Actor for Receiver { type Context = Context<Self>; }
/// impl Supervised for Receiver {
///     fn restarting(&mut self, _: &mut Context<Self>) {
///         let pool = self.connection_pool.take(); // kept across restarts
///         actix_supervisor::restart_fresh(self);  // everything else is fresh
///         self.connection_pool = pool;
///     }
/// }
/// actix_supervisor::supervised!(Receiver, custom_restarting);
/// ```
#[macro_export]
macro_rules! supervised {
    (impl [$($generics:tt)*] $actor:ty $(where [$($bounds:tt)*])?, custom_restarting) => {
        impl<$($generics)*> ::actix::Handler<$crate::__private::DrainMarker> for $actor
        $(where $($bounds)*)?
        {
            type Result = ();
            fn handle(
                &mut self,
                marker: $crate::__private::DrainMarker,
                ctx: &mut <Self as ::actix::Actor>::Context,
            ) {
                $crate::__private::handle_drain_marker(marker, ctx);
            }
        }

        impl<__M, $($generics)*> ::actix::Handler<$crate::__private::Tracked<__M>> for $actor
        where
            __M: ::actix::Message + 'static,
            $actor: ::actix::Handler<__M>,
            $($($bounds)*)?
        {
            type Result = $crate::__private::TrackedResponse<<$actor as ::actix::Handler<__M>>::Result>;
            fn handle(
                &mut self,
                message: $crate::__private::Tracked<__M>,
                ctx: &mut <Self as ::actix::Actor>::Context,
            ) -> Self::Result {
                $crate::__private::handle_tracked(self, message, ctx)
            }
        }
    };
    (impl [$($generics:tt)*] $actor:ty $(where [$($bounds:tt)*])?) => {
        impl<$($generics)*> ::actix::Supervised for $actor $(where $($bounds)*)? {
            fn restarting(&mut self, _: &mut <Self as ::actix::Actor>::Context) {
                $crate::restart_fresh(self);
            }
        }
        $crate::supervised!(impl [$($generics)*] $actor $(where [$($bounds)*])?, custom_restarting);
    };
    ($actor:ty, custom_restarting) => {
        $crate::supervised!(impl [] $actor, custom_restarting);
    };
    ($actor:ty) => {
        $crate::supervised!(impl [] $actor);
    };
}
