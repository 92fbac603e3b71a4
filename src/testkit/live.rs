//! The live-actor count: how many of the library's own actors (child
//! runners and supervisors) exist on the current thread, so a test can check
//! that a tree it stopped and let go of left nothing behind.
//!
//! A child's runner counts from the moment its supervisor starts it until
//! the runner's future is dropped (after its last incarnation ended); a
//! supervisor counts from the moment it is built until its actor value is
//! dropped (once it stopped and nobody holds its address any more).
//!
//! # Why per thread
//!
//! `cargo test` runs the tests of one binary in parallel threads of one
//! process, each test with its own actix system on its own thread. A
//! process-wide count would mix their trees; the library's actors always
//! live, and are dropped, on the thread of the arbiter that runs them, so a
//! count per thread is exactly the count of one test's actors (as long as
//! the test starts its trees on its own arbiter, as `#[actix_rt::test]`
//! does).

use std::cell::Cell;
use std::marker::PhantomData;
use std::rc::Rc;

use super::error::ActorsLeftBehind;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
}

/// How many of the library's actors (child runners and supervisors) are
/// alive on the current thread.
///
/// Actors started by user code directly (plain `Actor::start`) are not
/// counted; the actor values inside the library's children are, through
/// their runners.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::{testkit, ChildSpec, Stop, SupervisorActor};
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// testkit::run_paused(async {
///     let before = testkit::live_actors();
///     let app = SupervisorActor::builder("app")
///         .child(ChildSpec::new("job", Job::default))
///         .start()
///         .unwrap();
///     testkit::wait_for_node(&app, "/app/job", |n| n.incarnation == 1).await;
///     assert_eq!(testkit::live_actors(), before + 2); // the supervisor and the job's runner
///     app.send(Stop).await.unwrap();
///     drop(app);
///     testkit::settle_live_actors(before).await.unwrap();
/// });
/// ```
pub fn live_actors() -> usize {
    LIVE.with(Cell::get)
}

/// Counts one library actor on the current thread while it exists; held by
/// each child runner and each supervisor.
#[derive(Debug)]
pub(crate) struct LiveActor {
    /// Created and dropped on one thread: the count is per thread.
    _not_send: PhantomData<Rc<()>>,
}

impl LiveActor {
    pub(crate) fn new() -> Self {
        LIVE.with(|live| live.set(live.get() + 1));
        LiveActor {
            _not_send: PhantomData,
        }
    }
}

impl Drop for LiveActor {
    fn drop(&mut self) {
        LIVE.with(|live| live.set(live.get().saturating_sub(1)));
    }
}

/// How many times [`settle_live_actors`] lets the arbiter run before it
/// gives up: ending a tree takes a handful of turns, this is far more.
const SETTLE_TURNS: usize = 1000;

/// Waits until at most `expected` library actors are alive on the current
/// thread.
///
/// Actors end a few scheduler turns after the event that ends them (a
/// supervisor after its last address is dropped, a runner after its last
/// incarnation), so this lets the arbiter run, turn by turn (no timer, no
/// sleep: paused time does not move), and checks the count after each.
///
/// # Errors
///
/// [`ActorsLeftBehind`] with the count, if actors are still alive after
/// 1000 turns: something keeps them (an address still held, a stop that
/// never finished).
pub async fn settle_live_actors(expected: usize) -> Result<(), ActorsLeftBehind> {
    for _ in 0..SETTLE_TURNS {
        if live_actors() <= expected {
            return Ok(());
        }
        tokio::task::yield_now().await;
    }
    match live_actors() {
        live if live <= expected => Ok(()),
        live => Err(ActorsLeftBehind { expected, live }),
    }
}
