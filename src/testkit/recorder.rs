//! [`EventRecorder`]: collects a tree's lifecycle events from the moment it
//! starts, so a test can assert on their order afterwards, or wait (without
//! sleeps) for one that matches a predicate.
//!
//! The recorder subscribes once and a small task on the current arbiter
//! moves every event into a list as it arrives, so the subscription never
//! falls behind while the test is busy elsewhere. Reading the list first
//! takes in every event already sent, so what a test sees after awaiting a
//! reply includes every event emitted before that reply.

use std::cell::RefCell;
use std::fmt;
use std::future::{poll_fn, IntoFuture};
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use actix::{Addr, MailboxError};
use futures_util::future::LocalBoxFuture;
use futures_util::task::noop_waker;
use futures_util::Stream;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::error::EventWaitError;
use super::event_line::kind_label;
use super::wait::DEFAULT_TIMEOUT;
use crate::actors::SupervisorActor;
use crate::messages::{EventKind, EventStream, LifecycleEvent, Subscribe};
use crate::tree::NodePath;

/// Records the lifecycle events of a tree (or subtree), in the order they
/// happened, for assertions.
///
/// Dropping it ends the recording.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::testkit::{self, EventRecorder};
/// use actix_supervisor::events::EventKind;
/// use actix_supervisor::{ChildSpec, SupervisorActor};
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
///     let recorder = EventRecorder::start(&app).await.unwrap();
///
///     crashy.do_send(Crash).unwrap();
///     recorder
///         .wait_for(|e| e.incarnation == 2 && e.kind == EventKind::Started)
///         .await;
///     assert_eq!(
///         recorder.kinds("/app/crashy"),
///         ["started", "failed", "restarting", "started"]
///     );
/// });
/// ```
pub struct EventRecorder {
    collected: Rc<RefCell<Collected>>,
    /// Woken each time events are added, or the events end.
    added: Rc<Notify>,
    task: JoinHandle<()>,
}

impl fmt::Debug for EventRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let collected = self.collected.borrow();
        f.debug_struct("EventRecorder")
            .field("events", &collected.events.len())
            .field("ended", &collected.ended)
            .finish_non_exhaustive()
    }
}

impl Drop for EventRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The subscription and what was taken out of it.
struct Collected {
    stream: EventStream,
    events: Vec<LifecycleEvent>,
    /// The recording task's waker: whoever takes events out of the stream
    /// polls it with this waker, so the task stays the one woken.
    task_waker: Option<Waker>,
    /// The stream ended: the tree is gone.
    ended: bool,
}

impl Collected {
    /// Moves every event ready in the stream into the list; true if any.
    fn take_ready(&mut self, waker: &Waker) -> bool {
        let mut cx = TaskContext::from_waker(waker);
        let before = self.events.len();
        while !self.ended {
            match Pin::new(&mut self.stream).poll_next(&mut cx) {
                Poll::Ready(Some(event)) => self.events.push(event),
                Poll::Ready(None) => self.ended = true,
                Poll::Pending => break,
            }
        }
        self.events.len() > before || self.ended
    }
}

impl EventRecorder {
    /// Starts recording every event of the subtree of `root`, from now on.
    ///
    /// # Errors
    ///
    /// The supervisor's `MailboxError` if it no longer answers.
    ///
    /// # Panics
    ///
    /// When called outside a running actix system (the recording runs as a
    /// task on the current arbiter).
    pub async fn start(root: &Addr<SupervisorActor>) -> Result<Self, MailboxError> {
        Ok(Self::record(root.send(Subscribe::all()).await?))
    }

    /// Starts recording the events of the node at `path` and of the nodes
    /// below it, asking `root` (any supervisor above it), from now on.
    ///
    /// # Errors
    ///
    /// The supervisor's `MailboxError` if it no longer answers.
    ///
    /// # Panics
    ///
    /// When called outside a running actix system.
    pub async fn start_subtree(
        root: &Addr<SupervisorActor>,
        path: NodePath,
    ) -> Result<Self, MailboxError> {
        Ok(Self::record(root.send(Subscribe::subtree(path)).await?))
    }

    fn record(stream: EventStream) -> Self {
        let collected = Rc::new(RefCell::new(Collected {
            stream,
            events: Vec::new(),
            task_waker: None,
            ended: false,
        }));
        let added = Rc::new(Notify::new());
        let task = actix_rt::spawn({
            let (collected, added) = (collected.clone(), added.clone());
            poll_fn(move |cx| {
                let mut collected = collected.borrow_mut();
                collected.task_waker = Some(cx.waker().clone());
                if collected.take_ready(cx.waker()) {
                    added.notify_waiters();
                }
                if collected.ended {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
        });
        EventRecorder {
            collected,
            added,
            task,
        }
    }

    /// Takes in the events sent so far that the task has not moved yet.
    fn catch_up(&self) {
        let mut collected = self.collected.borrow_mut();
        let waker = collected.task_waker.clone().unwrap_or_else(noop_waker);
        if collected.take_ready(&waker) {
            self.added.notify_waiters();
        }
    }

    /// Every event recorded so far, in order.
    pub fn events(&self) -> Vec<LifecycleEvent> {
        self.catch_up();
        self.collected.borrow().events.clone()
    }

    /// The events recorded so far about the node at `path` exactly.
    pub fn for_path(&self, path: &str) -> Vec<LifecycleEvent> {
        self.catch_up();
        let collected = self.collected.borrow();
        collected
            .events
            .iter()
            .filter(|e| e.path.as_str() == path)
            .cloned()
            .collect()
    }

    /// The kinds of the events recorded so far about the node at `path`, as
    /// the names they have in JSON: `"started"`, `"failed"`,
    /// `"restarting"`, `"stopping"`, `"stopped"`, `"gave_up"`, `"escalated"`,
    /// `"lagged"`.
    pub fn kinds(&self, path: &str) -> Vec<&'static str> {
        self.for_path(path)
            .iter()
            .map(|e| kind_label(&e.kind))
            .collect()
    }

    /// How many events the recording missed because it fell behind (the
    /// sum of the `Lagged` markers); zero unless the tree sent more than
    /// 1024 events while the arbiter was too busy to record them.
    pub fn missed(&self) -> u64 {
        self.catch_up();
        let collected = self.collected.borrow();
        collected
            .events
            .iter()
            .map(|e| match e.kind {
                EventKind::Lagged { missed } => missed,
                _ => 0,
            })
            .sum()
    }

    /// Waits for the first recorded event, since the recording started,
    /// that satisfies `predicate`, and resolves to it. Events recorded
    /// before the call count, so the wait cannot miss an event that came
    /// early.
    ///
    /// Configure it with [`timeout`](WaitForEvent::timeout) (default 5 s
    /// on tokio's clock) and [`describe`](WaitForEvent::describe); `.await`
    /// it to fail the test on timeout, or call
    /// [`try_wait`](WaitForEvent::try_wait) for a `Result`.
    ///
    /// # Panics
    ///
    /// Awaiting the returned future panics, on purpose, when the timeout
    /// passes or the tree is gone before a matching event; the message
    /// names the condition and lists the events recorded.
    #[track_caller]
    pub fn wait_for<'a, F>(&'a self, predicate: F) -> WaitForEvent<'a>
    where
        F: FnMut(&LifecycleEvent) -> bool + 'a,
    {
        WaitForEvent {
            recorder: self,
            predicate: Box::new(predicate),
            description: None,
            timeout: DEFAULT_TIMEOUT,
            caller: Location::caller(),
        }
    }
}

/// A wait for a recorded event, from [`EventRecorder::wait_for`]. Nothing
/// happens until it is awaited.
///
/// # Cancel safety
///
/// Dropping it before it finishes just stops waiting; the recording goes
/// on.
#[must_use = "a wait does nothing until it is awaited"]
pub struct WaitForEvent<'a> {
    recorder: &'a EventRecorder,
    predicate: Box<dyn FnMut(&LifecycleEvent) -> bool + 'a>,
    description: Option<String>,
    timeout: Duration,
    caller: &'static Location<'static>,
}

impl fmt::Debug for WaitForEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForEvent")
            .field("condition", &self.condition())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<'a> WaitForEvent<'a> {
    /// Fails the wait after `timeout` on tokio's clock (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Names the awaited event in the failure message (default: where the
    /// wait was written).
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Waits, and returns the matching event or why there is none.
    ///
    /// # Errors
    ///
    /// [`EventWaitError::TimedOut`] when the timeout passes first;
    /// [`EventWaitError::TreeGone`] when the events end (the tree is gone).
    /// Both carry every event recorded.
    pub async fn try_wait(mut self) -> Result<LifecycleEvent, EventWaitError> {
        // `timeout`, not a deadline: a timeout too long for the clock
        // (`Duration::MAX`, "wait for ever") must not overflow it.
        let found = tokio::time::timeout(self.timeout, self.first_match()).await;
        let seen = self.recorder.events();
        match found {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err(EventWaitError::TreeGone {
                condition: self.condition(),
                seen,
            }),
            Err(_elapsed) => Err(EventWaitError::TimedOut {
                condition: self.condition(),
                after: self.timeout,
                seen,
            }),
        }
    }

    /// The first matching event, waiting for new ones; none once the
    /// events ended without one.
    async fn first_match(&mut self) -> Option<LifecycleEvent> {
        let mut checked = 0;
        loop {
            // Registered before looking, so an event added meanwhile wakes it.
            let added = self.recorder.added.notified();
            tokio::pin!(added);
            added.as_mut().enable();
            self.recorder.catch_up();
            let (fresh, ended) = {
                let collected = self.recorder.collected.borrow();
                (collected.events[checked..].to_vec(), collected.ended)
            };
            checked += fresh.len();
            // The predicate runs with nothing borrowed: it may read the
            // recorder.
            if let Some(event) = fresh.into_iter().find(|e| (self.predicate)(e)) {
                return Some(event);
            }
            if ended {
                return None;
            }
            added.await;
        }
    }

    fn condition(&self) -> String {
        match &self.description {
            Some(description) => description.clone(),
            None => format!("an event matching the predicate at {}", self.caller),
        }
    }
}

impl<'a> IntoFuture for WaitForEvent<'a> {
    type Output = LifecycleEvent;
    type IntoFuture = LocalBoxFuture<'a, LifecycleEvent>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.try_wait().await {
                Ok(event) => event,
                Err(err) => panic!("{err}"),
            }
        })
    }
}
