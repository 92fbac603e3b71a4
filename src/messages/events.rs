//! Lifecycle events: what happened to which node, in the order it happened,
//! for subscribers ([`Subscribe`] for a stream, [`SubscribeRecipient`] for an
//! actix `Recipient`).
//!
//! A tree has one broadcast channel: events of every node go through it in
//! the order they happened, and each subscriber sees those of the subtree it
//! asked for. A subscriber that falls behind never slows supervision down:
//! once it is more than the channel's capacity (1024 events) behind, the
//! oldest events it has not read are dropped for it, and it receives one
//! [`EventKind::Lagged`] saying how many, as tokio's broadcast channel does.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime};

use actix::{Message, Recipient};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use crate::messages::stop::StopReport;
use crate::tree::{Failure, NodePath};

/// How many events a subscriber may fall behind before it lags.
pub(crate) const EVENT_CAPACITY: usize = 1024;

/// Something that happened to a node.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::events::{EventKind, LifecycleEvent};
/// use actix_supervisor::{ChildSpec, StartChild, Subscribe, SupervisorActor};
/// use futures_util::StreamExt;
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// # actix::System::new().block_on(async {
/// let app = SupervisorActor::builder("app").start()?;
/// let mut events = app.send(Subscribe::all()).await?;
/// app.send(StartChild::new(ChildSpec::new("job", Job::default))).await??;
///
/// let event: LifecycleEvent = events.next().await.unwrap();
/// assert_eq!((event.path.as_str(), event.incarnation), ("/app/job", 1));
/// assert_eq!(event.kind, EventKind::Started);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LifecycleEvent {
    /// The node.
    pub path: NodePath,
    /// Its incarnation when it happened (for `Restarting`: the one that
    /// ended).
    pub incarnation: u64,
    /// What happened.
    pub kind: EventKind,
    /// When, on the wall clock: for logs and people.
    pub at: SystemTime,
    /// When, on tokio's monotonic clock: the time since the tree's root was
    /// started. Under paused time it follows the paused clock, so a test can
    /// assert the gap between two events exactly; `at` cannot be trusted for
    /// that (the wall clock does not pause, and it may step).
    #[serde(with = "humantime_serde", default)]
    pub since_start: Duration,
}

impl Message for LifecycleEvent {
    type Result = ();
}

/// What happened, in a [`LifecycleEvent`].
///
/// A failed incarnation that is restarted shows as `Failed`, then
/// `Restarting`, then (after the delay) `Started`; a node asked to stop
/// shows `Stopping` when it begins to drain; a node that ends for good shows
/// `Stopped` last, with its report.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use actix::prelude::*;
/// use actix_supervisor::events::EventKind;
/// use actix_supervisor::{Backoff, ChildSpec, Subscribe, SupervisorActor};
/// use futures_util::StreamExt;
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
/// # #[derive(Message)]
/// # #[rtype(result = "()")]
/// # struct Crash;
/// # impl Handler<Crash> for Job {
/// #     type Result = ();
/// #     fn handle(&mut self, _: Crash, _: &mut Context<Self>) { panic!("boom") }
/// # }
///
/// # actix::System::new().block_on(async {
/// # tokio::time::pause();
/// # std::panic::set_hook(Box::new(|_| {})); // keep the example's output quiet
/// let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30)).jitter(0.0);
/// let spec = ChildSpec::new("job", Job::default).backoff(backoff);
/// let job = spec.handle();
/// let app = SupervisorActor::builder("app").child(spec).start()?;
/// job.started().await?;
/// let mut events = app.send(Subscribe::all()).await?;
///
/// assert!(job.send(Crash).await.is_err()); // a panic
/// let kinds: Vec<EventKind> = events.by_ref().take(3).map(|e| e.kind).collect().await;
/// assert!(matches!(&kinds[0], EventKind::Failed { failure } if failure.message == "boom"));
/// assert_eq!(kinds[1], EventKind::Restarting { attempt: 1, delay: Duration::from_secs(1) });
/// assert_eq!(kinds[2], EventKind::Started);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
#[non_exhaustive]
pub enum EventKind {
    /// `started` returned: the incarnation runs.
    Started,
    /// The incarnation failed.
    Failed {
        /// What failed, and where.
        failure: Failure,
    },
    /// The next incarnation will start after `delay`.
    Restarting {
        /// The restart attempt (1 after a stable run).
        attempt: u32,
        /// The backoff delay (zero for an immediate restart).
        #[serde(with = "humantime_serde")]
        delay: Duration,
    },
    /// The node will not run again.
    Stopped {
        /// How it ended.
        report: StopReport,
    },
    /// The supervisor exceeded its restart intensity (or, nested, its parent
    /// did not restart it after it escalated): it stopped its children for
    /// good and failed.
    GaveUp {
        /// The failure that exceeded the intensity.
        failure: Failure,
    },
    /// A nested supervisor exceeded its restart intensity and passed the
    /// failure to its parent, which applies its policy to the subtree: a
    /// restart shows as `Started` for the supervisor, anything else as
    /// `GaveUp`.
    Escalated {
        /// The failure that exceeded the intensity.
        failure: Failure,
    },
    /// This subscriber fell behind; `missed` events were dropped for it.
    Lagged {
        /// How many.
        missed: u64,
    },
    /// The node entered `Stopping`: it takes no new work from its handles
    /// and drains what it accepted. `Stopped` follows, with the report, once
    /// it has ended (for a strategy restart, which also drains the node
    /// first, the next `Started` follows instead).
    ///
    /// # Examples
    ///
    /// ```
    /// use actix::prelude::*;
    /// use actix_supervisor::prelude::*;
    /// use futures_util::StreamExt;
    ///
    /// #[derive(Default)]
    /// struct Worker;
    /// impl Actor for Worker { type Context = Context<Self>; }
    /// actix_supervisor::supervised!(Worker);
    ///
    /// # actix::System::new().block_on(async {
    /// let spec = ChildSpec::new("worker", Worker::default);
    /// let worker = spec.handle();
    /// let app = SupervisorActor::builder("app").child(spec).start()?;
    /// worker.started().await?;
    /// let mut events = app.send(Subscribe::all()).await?;
    /// worker.stop().await;
    /// let kinds: Vec<EventKind> = events.by_ref().take(2).map(|e| e.kind).collect().await;
    /// assert_eq!(kinds[0], EventKind::Stopping);
    /// assert!(matches!(kinds[1], EventKind::Stopped { .. }));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    Stopping,
}

/// The sending side of a tree's events, and the moment the tree started,
/// from which events' [`since_start`](LifecycleEvent::since_start) is
/// measured.
#[derive(Debug, Clone)]
pub(crate) struct Events {
    sender: broadcast::Sender<LifecycleEvent>,
    started: Instant,
    /// The event streams open: one atomic load tells `emit` whether anyone
    /// listens (the sender's own count is read under a mutex, on every
    /// start, stop and restart of every child).
    listening: Arc<AtomicUsize>,
}

/// An open event stream, counted in its tree's [`Events`] while it lives.
#[derive(Debug)]
struct Listening(Arc<AtomicUsize>);

impl Listening {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Listening(count.clone())
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Events {
    pub(crate) fn new() -> Self {
        Events {
            sender: broadcast::Sender::new(EVENT_CAPACITY),
            started: Instant::now(),
            listening: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Whether someone listens: an event is built only then.
    pub(crate) fn is_listened(&self) -> bool {
        self.listening.load(Ordering::SeqCst) != 0
    }

    /// Sends an event, built only if someone listens.
    pub(crate) fn emit(&self, path: &NodePath, incarnation: u64, kind: impl FnOnce() -> EventKind) {
        if !self.is_listened() {
            return;
        }
        let _ = self.sender.send(LifecycleEvent {
            path: path.clone(),
            incarnation,
            kind: kind(),
            at: SystemTime::now(),
            since_start: self.started.elapsed(),
        });
    }

    pub(crate) fn subscribe(&self, subtree: NodePath) -> EventStream {
        // Counted before it subscribes: an event sent in between finds it
        // counted (and is sent, to nobody yet), never subscribed but not
        // counted.
        let listening = Listening::new(&self.listening);
        EventStream {
            subtree,
            events: BroadcastStream::new(self.sender.subscribe()),
            started: self.started,
            _listening: listening,
        }
    }
}

/// Asks a supervisor for a stream of the lifecycle events of its subtree
/// (or of the subtree at `path` below it), from now on.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::events::EventKind;
/// use actix_supervisor::{ChildSpec, Stop, Subscribe, SupervisorActor};
/// use futures_util::StreamExt;
///
/// #[derive(Default)]
/// struct Worker;
/// impl Actor for Worker { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Worker);
///
/// # actix::System::new().block_on(async {
/// let spec = ChildSpec::new("worker", Worker::default);
/// let app = SupervisorActor::builder("app").child(spec).start().unwrap();
/// let worker = actix_supervisor::path::NodePath::parse("/app/worker").unwrap();
/// let mut events = app.send(Subscribe::subtree(worker))
///     .await
///     .unwrap();
/// app.send(Stop).await.unwrap();
/// let event = events.next().await.unwrap();
/// assert_eq!(event.path.as_str(), "/app/worker");
/// assert!(matches!(event.kind, EventKind::Started | EventKind::Stopping));
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct Subscribe {
    subtree: Option<NodePath>,
}

impl Subscribe {
    /// Every event of the supervisor's subtree.
    pub fn all() -> Self {
        Subscribe { subtree: None }
    }

    /// The events of the node at `path` and of the nodes below it.
    pub fn subtree(path: NodePath) -> Self {
        Subscribe {
            subtree: Some(path),
        }
    }

    pub(crate) fn into_subtree(self, default: &NodePath) -> NodePath {
        self.subtree.unwrap_or_else(|| default.clone())
    }
}

impl Message for Subscribe {
    type Result = EventStream;
}

/// Asks a supervisor to send the lifecycle events of its subtree (or of the
/// subtree at a path below it) to an actix `Recipient`, from now on, until
/// the recipient is gone.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::events::{EventKind, LifecycleEvent, SubscribeRecipient};
/// use actix_supervisor::{ChildSpec, StartChild, SupervisorActor};
/// use tokio::sync::mpsc;
///
/// /// Passes every event on, e.g. to an audit log.
/// struct Audit(mpsc::UnboundedSender<LifecycleEvent>);
/// impl Actor for Audit { type Context = Context<Self>; }
/// impl Handler<LifecycleEvent> for Audit {
///     type Result = ();
///     fn handle(&mut self, event: LifecycleEvent, _: &mut Context<Self>) {
///         let _ = self.0.send(event);
///     }
/// }
/// # #[derive(Default)]
/// # struct Job;
/// # impl Actor for Job { type Context = Context<Self>; }
/// # actix_supervisor::supervised!(Job);
///
/// # actix::System::new().block_on(async {
/// let (log, mut logged) = mpsc::unbounded_channel();
/// let audit = Audit(log).start();
/// let app = SupervisorActor::builder("app").start()?;
/// app.send(SubscribeRecipient::all(audit.recipient())).await?;
///
/// app.send(StartChild::new(ChildSpec::new("job", Job::default))).await??;
/// let event = logged.recv().await.unwrap();
/// assert_eq!((event.path.as_str(), event.kind), ("/app/job", EventKind::Started));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct SubscribeRecipient {
    pub(crate) recipient: Recipient<LifecycleEvent>,
    pub(crate) subtree: Option<NodePath>,
}

impl SubscribeRecipient {
    /// Every event of the supervisor's subtree, to `recipient`.
    pub fn all(recipient: Recipient<LifecycleEvent>) -> Self {
        SubscribeRecipient {
            recipient,
            subtree: None,
        }
    }

    /// The events of the subtree at `path`, to `recipient`.
    pub fn subtree(recipient: Recipient<LifecycleEvent>, path: NodePath) -> Self {
        SubscribeRecipient {
            recipient,
            subtree: Some(path),
        }
    }
}

impl Message for SubscribeRecipient {
    type Result = ();
}

/// The lifecycle events of one subtree, in the order they happened.
///
/// It ends when the tree is gone. Reading it slowly never slows the tree
/// down: once it is 1024 events behind, the oldest unread ones are dropped
/// for it and it receives one [`EventKind::Lagged`] saying how many.
///
/// # Examples
///
/// A stream of one subtree sees that subtree's events only:
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::events::EventStream;
/// use actix_supervisor::path::NodePath;
/// use actix_supervisor::{ChildSpec, Stop, Subscribe, SupervisorActor};
/// use futures_util::StreamExt;
///
/// #[derive(Default)]
/// struct Conn;
/// impl Actor for Conn { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Conn);
///
/// # actix::System::new().block_on(async {
/// let app = SupervisorActor::builder("app")
///     .child(ChildSpec::new("db", Conn::default))
///     .child(ChildSpec::new("api", Conn::default))
///     .start()?;
/// let db = NodePath::parse("/app/db")?;
/// let events: EventStream = app.send(Subscribe::subtree(db)).await?;
/// app.send(Stop).await?;
///
/// // `Stopping`, then `Stopped`: "/app" and "/app/api" are not in the subtree.
/// let paths: Vec<String> = events.take(2).map(|e| e.path.to_string()).collect().await;
/// assert_eq!(paths, ["/app/db", "/app/db"]);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct EventStream {
    subtree: NodePath,
    events: BroadcastStream<LifecycleEvent>,
    started: Instant,
    /// Dropped after `events`, so that the stream stops being counted only
    /// once it no longer receives.
    _listening: Listening,
}

impl Stream for EventStream {
    type Item = LifecycleEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match Pin::new(&mut self.events).poll_next(cx) {
                Poll::Ready(Some(Ok(event))) => {
                    if is_within(&event.path, &self.subtree) {
                        return Poll::Ready(Some(event));
                    }
                }
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(missed)))) => {
                    return Poll::Ready(Some(LifecycleEvent {
                        path: self.subtree.clone(),
                        incarnation: 0,
                        kind: EventKind::Lagged { missed },
                        at: SystemTime::now(),
                        since_start: self.started.elapsed(),
                    }));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Whether `path` is `subtree` or below it.
fn is_within(path: &NodePath, subtree: &NodePath) -> bool {
    let (path, subtree) = (path.as_str(), subtree.as_str());
    path == subtree
        || (path.starts_with(subtree) && path.as_bytes().get(subtree.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `emit` sends only while a stream is open: each stream is counted from
    /// before it subscribes until it is dropped, clones of `Events` count
    /// the same streams, and an event sent while one is open reaches it.
    #[tokio::test]
    async fn events_are_sent_while_a_stream_is_open_and_only_then() {
        use futures_util::StreamExt;
        let events = Events::new();
        let clone = events.clone();
        let app = NodePath::root("app");
        assert_eq!(events.listening.load(Ordering::SeqCst), 0);
        let mut first = events.subscribe(app.clone());
        let second = clone.subscribe(app.clone());
        assert_eq!(events.listening.load(Ordering::SeqCst), 2);
        drop(second);
        assert_eq!(clone.listening.load(Ordering::SeqCst), 1);
        clone.emit(&app, 1, || EventKind::Stopping);
        let event = first.next().await.expect("the stream is open");
        assert_eq!(event.kind, EventKind::Stopping);
        drop(first);
        assert_eq!(events.listening.load(Ordering::SeqCst), 0);
        let mut built = false;
        events.emit(&app, 1, || {
            built = true;
            EventKind::Stopping
        });
        assert!(!built, "no event is built while nobody listens");
    }

    #[test]
    fn a_subtree_holds_its_root_and_what_is_below_it_only() {
        let app = NodePath::root("app");
        let db = app.join("db");
        assert!(is_within(&db, &app));
        assert!(is_within(&db, &db));
        assert!(is_within(&db.join("pool"), &db));
        assert!(
            !is_within(&app.join("dbx"), &db),
            "a sibling sharing a prefix"
        );
        assert!(!is_within(&app, &db));
    }
}
