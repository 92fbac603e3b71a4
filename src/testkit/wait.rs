//! Waiting, without sleeps, until a tree (or one node of it) matches a
//! condition: [`wait_until`], [`wait_for_node`] and the [`WaitUntil`]
//! future they return.
//!
//! A wait subscribes to the tree's lifecycle events *before* it takes its
//! first snapshot, so no change between the two is missed; then it takes a
//! fresh snapshot ([`Inspect`]) after each burst of events (including a
//! `Lagged` marker) and checks the condition on it. Nothing polls on a
//! timer unless asked to with [`WaitUntil::recheck_every`], for the few
//! changes that no event announces.
//!
//! The timeout is measured on tokio's clock, so under paused time
//! (`tokio::time::pause()`) a wait that cannot succeed fails at once, in
//! virtual time, instead of holding the test for seconds.

use std::fmt;
use std::future::IntoFuture;
use std::panic::Location;
use std::time::Duration;

use actix::Addr;
use futures_util::future::LocalBoxFuture;
use futures_util::{FutureExt as _, StreamExt as _};

use super::error::WaitError;
use crate::actors::SupervisorActor;
use crate::messages::{EventStream, Inspect, Subscribe};
use crate::tree::{NodePath, NodeSnapshot, TreeSnapshot};

/// How long a wait lasts by default before it fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a timed-out wait still waits for the tree's last snapshot, to
/// show it.
const LAST_LOOK: Duration = Duration::from_secs(1);

/// Looks for the match in a snapshot.
type Check<'a, T> = Box<dyn FnMut(&TreeSnapshot) -> Option<T> + 'a>;

/// The shortest recheck period: a zero period would spin.
const MIN_RECHECK: Duration = Duration::from_millis(1);

/// Waits until the tree under `root` satisfies `condition`, and resolves to
/// the first snapshot that does.
///
/// `root` is any supervisor: the wait sees its subtree. Configure the wait
/// with [`timeout`](WaitUntil::timeout) (default [`DEFAULT_TIMEOUT`]),
/// [`describe`](WaitUntil::describe) and
/// [`recheck_every`](WaitUntil::recheck_every); `.await` it to fail the
/// test on timeout, or call [`try_wait`](WaitUntil::try_wait) for a
/// `Result`.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::snapshot::NodeState;
/// use actix_supervisor::{testkit, ChildSpec, SupervisorActor};
///
/// #[derive(Default)]
/// struct Crashy;
/// impl Actor for Crashy { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Crashy);
///
/// #[derive(Message)]
/// #[rtype(result = "()")]
/// struct Crash;
/// impl Handler<Crash> for Crashy {
///     type Result = ();
///     fn handle(&mut self, _: Crash, _: &mut Context<Self>) { panic!("crash") }
/// }
///
/// testkit::run_paused(async {
///     let spec = ChildSpec::new("crashy", Crashy::default);
///     let crashy = spec.handle();
///     let app = SupervisorActor::builder("app").child(spec).start().unwrap();
///     crashy.do_send(Crash).unwrap();
///
///     let tree = testkit::wait_until(&app, |tree| {
///         tree.find("/app/crashy").is_some_and(|n| n.incarnation == 2 && n.state == NodeState::Running)
///     })
///     .describe("crashy restarted once")
///     .await;
///     assert_eq!(tree.find("/app/crashy").unwrap().restart_count, 1);
/// });
/// ```
///
/// # Panics
///
/// Awaiting the returned future panics, on purpose, when the timeout passes
/// or the supervisor is gone before the condition holds; the message names
/// the condition and where the wait was written, and prints the last
/// snapshot.
#[track_caller]
pub fn wait_until<'a, F>(
    root: &Addr<SupervisorActor>,
    mut condition: F,
) -> WaitUntil<'a, TreeSnapshot>
where
    F: FnMut(&TreeSnapshot) -> bool + 'a,
{
    WaitUntil::new(
        root,
        None,
        Box::new(move |tree: &TreeSnapshot| condition(tree).then(|| tree.clone())),
    )
}

/// Waits until the node at `path` (e.g. `"/app/child"`) exists in the tree
/// under `root` and satisfies `condition`, and resolves to its snapshot.
///
/// Only the events of the subtree at `path` wake the wait. A node that is
/// not there yet (a child about to be started) simply does not match yet.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::snapshot::NodeState;
/// use actix_supervisor::{testkit, ChildSpec, SupervisorActor};
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// testkit::run_paused(async {
///     let spec = ChildSpec::new("job", Job::default);
///     let job = spec.handle();
///     let app = SupervisorActor::builder("app").child(spec).start().unwrap();
///     let stopped = job.stop();
///
///     let node = testkit::wait_for_node(&app, "/app/job", |n| n.state.is_terminal()).await;
///     assert_eq!(node.state, NodeState::Stopped);
///     assert!(stopped.await.is_drained());
/// });
/// ```
///
/// # Panics
///
/// As [`wait_until`]: awaiting the returned future panics, on purpose, when
/// the wait fails; the message says whether the node was in the tree at all.
#[track_caller]
pub fn wait_for_node<'a, F>(
    root: &Addr<SupervisorActor>,
    path: &str,
    mut condition: F,
) -> WaitUntil<'a, NodeSnapshot>
where
    F: FnMut(&NodeSnapshot) -> bool + 'a,
{
    let wanted = path.to_string();
    WaitUntil::new(
        root,
        Some(path.to_string()),
        Box::new(move |tree: &TreeSnapshot| {
            tree.find(&wanted).filter(|node| condition(node)).cloned()
        }),
    )
}

/// A wait until a tree matches a condition, from [`wait_until`] or
/// [`wait_for_node`]. Nothing happens until it is awaited.
///
/// `.await` resolves to the match (a [`TreeSnapshot`] or a
/// [`NodeSnapshot`]) and fails the test otherwise;
/// [`try_wait`](WaitUntil::try_wait) returns a `Result` instead.
///
/// # Cancel safety
///
/// Dropping it before it finishes just stops waiting; the tree is not
/// affected.
#[must_use = "a wait does nothing until it is awaited"]
pub struct WaitUntil<'a, T> {
    root: Addr<SupervisorActor>,
    /// The node waited for, with [`wait_for_node`].
    node: Option<String>,
    check: Check<'a, T>,
    description: Option<String>,
    timeout: Duration,
    recheck: Option<Duration>,
    /// Where the wait was written, for its failure message.
    caller: &'static Location<'static>,
}

impl<T> fmt::Debug for WaitUntil<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitUntil")
            .field("condition", &self.condition())
            .field("timeout", &self.timeout)
            .field("recheck", &self.recheck)
            .finish_non_exhaustive()
    }
}

impl<'a, T: 'a> WaitUntil<'a, T> {
    #[track_caller]
    fn new(root: &Addr<SupervisorActor>, node: Option<String>, check: Check<'a, T>) -> Self {
        WaitUntil {
            root: root.clone(),
            node,
            check,
            description: None,
            timeout: DEFAULT_TIMEOUT,
            recheck: None,
            caller: Location::caller(),
        }
    }

    /// Fails the wait after `timeout` on tokio's clock (default
    /// [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Names the condition in the failure message (default: where the wait
    /// was written).
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Also re-inspects the tree every `period` of tokio time (at least
    /// 1 ms), for conditions on changes that no lifecycle event announces:
    /// a child entering `Stopping`, a supervisor's own state, the tick
    /// statistics of a periodic child (`task`), uptimes. Default: never;
    /// events alone drive the wait.
    pub fn recheck_every(mut self, period: Duration) -> Self {
        self.recheck = Some(period.max(MIN_RECHECK));
        self
    }

    /// Waits, and returns the match or why there is none.
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`] when the timeout passes first;
    /// [`WaitError::SupervisorGone`] when the supervisor stops answering.
    /// Both carry the last snapshot seen.
    pub async fn try_wait(mut self) -> Result<T, WaitError> {
        let mut last = None;
        // `timeout`, not a deadline: a timeout too long for the clock
        // (`Duration::MAX`, "wait for ever") must not overflow it.
        let watched = tokio::time::timeout(self.timeout, self.watch(&mut last)).await;
        match watched {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(Gone)) => Err(WaitError::SupervisorGone {
                condition: self.condition_in(last.as_ref()),
                last: last.map(Box::new),
            }),
            Err(_elapsed) => Err(self.timed_out(last).await),
        }
    }

    /// Checks the tree after each burst of events until it matches,
    /// keeping the last snapshot in `last`.
    async fn watch(&mut self, last: &mut Option<TreeSnapshot>) -> Result<T, Gone> {
        // Subscribed before the first snapshot: a change between the two
        // shows as an event.
        let subscribe = match self.node.as_deref().and_then(parse_path) {
            Some(path) => Subscribe::subtree(path),
            None => Subscribe::all(),
        };
        let mut events = Some(self.root.send(subscribe).await.map_err(|_| Gone)?);
        loop {
            let tree = self.root.send(Inspect).await.map_err(|_| Gone)?;
            if let Some(found) = (self.check)(&tree) {
                return Ok(found);
            }
            *last = Some(tree);
            next_change(&mut events, self.recheck).await;
        }
    }

    /// The error for a wait whose timeout passed, with a last look at the
    /// tree.
    async fn timed_out(&mut self, last: Option<TreeSnapshot>) -> WaitError {
        let now = tokio::time::timeout(LAST_LOOK, self.root.send(Inspect)).await;
        let (last, hint) = match now {
            Ok(Ok(tree)) => {
                // Only a condition seen false before can have changed unseen.
                let hint = if last.is_some() && (self.check)(&tree).is_some() {
                    " (it holds in the snapshot below, taken after the timeout: the change \
                     that made it true sent no lifecycle event; use `recheck_every`)"
                } else {
                    ""
                };
                (Some(tree), hint)
            }
            _ => (last, ""),
        };
        WaitError::TimedOut {
            condition: self.condition_in(last.as_ref()),
            after: self.timeout,
            last: last.map(Box::new),
            hint,
        }
    }

    /// What is waited for, in words.
    fn condition(&self) -> String {
        let what = match &self.description {
            Some(description) => description.clone(),
            None => format!("the condition at {}", self.caller),
        };
        match &self.node {
            Some(path) => format!("{path} to match {what}"),
            None => what,
        }
    }

    /// [`Self::condition`], noting a node missing from `tree`.
    fn condition_in(&self, tree: Option<&TreeSnapshot>) -> String {
        let mut condition = self.condition();
        if let (Some(path), Some(tree)) = (&self.node, tree) {
            if tree.find(path).is_none() {
                condition.push_str(&format!(" (there is no node {path} in the tree)"));
            }
        }
        condition
    }
}

impl<'a, T: 'a> IntoFuture for WaitUntil<'a, T> {
    type Output = T;
    type IntoFuture = LocalBoxFuture<'a, T>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.try_wait().await {
                Ok(found) => found,
                Err(err) => panic!("{err}"),
            }
        })
    }
}

/// The supervisor stopped answering.
struct Gone;

/// Waits for the next burst of events (all those ready are consumed
/// together) or the next recheck, whichever comes first. When the events
/// end, returns once (the next `Inspect` tells whether the tree is gone) and
/// from then on waits for rechecks only.
async fn next_change(events: &mut Option<EventStream>, recheck: Option<Duration>) {
    let recheck = async move {
        match recheck {
            Some(period) => tokio::time::sleep(period).await,
            None => std::future::pending().await,
        }
    };
    let event = async {
        let Some(stream) = events else {
            return std::future::pending().await;
        };
        match stream.next().await {
            Some(_) => while let Some(Some(_)) = stream.next().now_or_never() {},
            None => *events = None,
        }
    };
    tokio::select! {
        () = event => {}
        () = recheck => {}
    }
}

/// The path written as `"/app/child"`, if it is one.
fn parse_path(path: &str) -> Option<NodePath> {
    let mut names = path.strip_prefix('/')?.split('/');
    let root = NodePath::root(names.next().filter(|n| !n.is_empty())?);
    names.try_fold(root, |path, name| {
        (!name.is_empty()).then(|| path.join(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_parses_into_its_names() {
        assert_eq!(parse_path("/app").unwrap().as_str(), "/app");
        assert_eq!(parse_path("/app/db/pool").unwrap().as_str(), "/app/db/pool");
        for bad in ["", "/", "app", "/app/", "//app", "/app//db"] {
            assert!(parse_path(bad).is_none(), "{bad:?}");
        }
    }
}
