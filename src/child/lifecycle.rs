//! One child's lifecycle: a state enum and a pure transition function.
//!
//! Everything a child's runner decides is decided here, by
//! [`Lifecycle::step`], from the current [`State`] and one [`Event`]; the
//! runner ([`super::runner`]) only carries out the [`Action`]s it returns.
//! There is no actix, no tokio and no clock in this file, so every case is a
//! unit test, and the model check below (`model_check`) walks every sequence
//! of events up to a depth.
//!
//! # States and events
//!
//! ```text
//!           Turn: BuildAndStart        StartOver
//!   Pending ─────────────▶ Starting ─────────────▶ Running
//!     ▲  │ Turn (yield, then Build;  │                 │
//!     │  │ LaterTurn: Build at once) │                 │
//!     │  │                           └──── Ended ──────┤
//!     │  │ Turn, with dependencies                     │
//!     │  ├──────────▶ Waiting ── DependenciesReady: Build ──▶ Starting
//!     │  │              │ StartTimeout (a failed start)  ▼
//!     │  │              └──────────────────────────▶ Deciding
//!     │  │ factory failed: Ended                       ▼
//!     │  └──────────────────────────────────────▶ Deciding ── Verdict ──┐
//!     │                                                                 │
//!     │ BackoffOver        Restart, delay > 0                           │
//!     ├──────────── Backoff ◀────────────────────────────────────────────┤
//!     │ (no delay)                                                      │
//!     ├◀────────────────────────────────────────────────────────────────┤
//!     │ Resume        Restart, another strategy: the supervisor decides  │
//!     ├──────────── Parked ◀─────────────────────────────────────────────┤
//!     │ Resume        too many restarts for the supervisor               │
//!     └──────────── GaveUp ◀─────────────────────────────────────────────┤
//!                                        Finish                         │
//!                   Done ◀───────────────────────────────────────────────┘
//! ```
//!
//! An incarnation that only runs is `Starting` from the step that asks
//! for it to be built (`BuildAndStart`; only a failed build answers, with
//! `Ended`); one built to drain (a stop's, or a restart's to a marker
//! queued before) stays `Pending` until `Built`, which queues or takes its
//! marker. A turn yields first when the incarnation that ended was built in
//! the same poll (`Turn`), else builds at once (`LaterTurn`); a verdict to
//! restart at once, alone, that owes no yield builds in its own step.
//!
//! | state | `Stop` | `Kill` | strategy `Restart` |
//! |---|---|---|---|
//! | `Pending` | start it anyway, to drain | `Done`, timed out | queue a marker; the next incarnation drains to it, then `Parked` (with dependencies: `Parked` at once) |
//! | `Waiting` | keep waiting, within the stop's grace: once the dependencies are ready (or at rest, which the runner does not wait for under a stop), the next incarnation drains what waits; at the grace, `Done`, timed out (what waits undelivered) | `Done`, timed out | `Parked` (it waits again when resumed) |
//! | `Starting`, `Running` | drain to a marker, then stop the context | `Done`, timed out | drain to a marker, then `Parked` (ended before it: the next incarnation drains the rest) |
//! | `Backoff` | `Pending` with the stop: the next incarnation drains what waits | `Done`, timed out | as in `Pending`, without the rest of the backoff |
//! | `Parked` | `Pending` with the stop: the next incarnation drains what waits | `Done`, timed out | – |
//! | `GaveUp` | `Done`, failed | `Done`, failed | – |
//! | `Done` | – (the report is out) | – | – |
//!
//! A child with dependencies (`Lifecycle::with_dependencies`) waits in
//! `Waiting` before each incarnation is built, the first and every restart,
//! until its runner sees every sibling it depends on ready (its incarnation
//! `Running`: `started` and what it waited on are over) and feeds
//! `DependenciesReady`. Its start timeout bounds each wait: `StartTimeout`
//! is a failed start (phase `Waiting`), which the restart rules decide on
//! like any other. A stop never starts a waiting child before its
//! dependencies are ready: messages may wait in its mailbox, and they are
//! handled once it can start, or reported undelivered at the stop's grace.
//! A child without dependencies never enters `Waiting`.
//!
//! A drain is identified by a number: its marker carries it, so a marker
//! left in the mailbox by an earlier drain (one cut short by its grace) is
//! recognised and ignored. A stop's drain is over when its marker was
//! handled and every message the handles accepted is settled (handled, or
//! cancelled by its requester); a strategy restart's drain is over at its
//! marker (later messages wait for the next incarnation).
//!
//! A strategy restart (or `RestartChild`) drains what was accepted before
//! it, up to its marker, with an incarnation that is then ended; only the
//! next one, started by the supervisor, is fresh. Between two incarnations
//! the marker is queued at once and the next incarnation is built to
//! drain (`Pending { drain_to }`). An incarnation that ends before the
//! marker (it failed, or ended normally) is followed at once by another
//! that drains the rest to the same marker, unless it could not start
//! (it would only fail again) or the child has dependencies (an
//! incarnation would wait for siblings the same restart parks): then it
//! is parked, and the fresh incarnation takes what waits. The grace of the
//! restart bounds the whole drain.
//!
//! A stop is kept until the child is `Done`: an incarnation that ends
//! during a stop's drain, before the drain is over, is followed (if its
//! policy restarts it) by another that drains what still waits, without
//! its backoff; nothing accepted is dropped while the child can still run.
//! One that ends on its own once its stop's marker was handled and every
//! accepted message is settled ends the child, whatever its policy: there
//! is nothing left for another incarnation to drain.

use std::time::Duration;

use crate::tree::{Failure, FailurePhase, NodeState};

use super::restart::{End, Exit};

/// Where one child is in its life, with the data each state needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum State {
    /// The next incarnation is built on the runner's next turn: at once
    /// when the last one was built in an earlier poll (`LaterTurn`), else
    /// after one yield, unless `yielded` (a child failing at once again and
    /// again must not keep its arbiter from everything else). With `stop`,
    /// it starts only to drain what waits for it. With `drain_to`, it
    /// starts only to drain, for a strategy restart, up to the marker with
    /// this number (already queued), and is then parked.
    Pending {
        attempt: u32,
        stop: bool,
        yielded: bool,
        drain_to: Option<u32>,
    },
    /// The incarnation's `started` (and what it waits on) runs.
    Starting { drain: Option<Drain> },
    /// The next incarnation waits for the siblings it depends on to finish
    /// their start (bounded by the spec's start timeout); with `stop`, it
    /// starts only to drain what waits for it, once they have.
    Waiting { attempt: u32, stop: bool },
    /// The incarnation handles messages.
    Running { drain: Option<Drain> },
    /// The incarnation ended; the restart rules decide what follows.
    Deciding { stop: bool, failed: bool },
    /// Waiting out a backoff before the next incarnation.
    Backoff { attempt: u32, delay: Duration },
    /// Waiting for the supervisor to start the next incarnation (a strategy
    /// restart of siblings).
    Parked { attempt: u32, delay: Duration },
    /// One restart too many for the supervisor: waiting for it to stop the
    /// child or (restarted by its own parent) to start it again.
    GaveUp,
    /// The child will not run again.
    Done { failed: bool },
}

/// A drain of the running incarnation's mailbox, up to its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Drain {
    /// The number its marker carries.
    pub(crate) id: u32,
    /// For a strategy restart, not a stop: handles keep accepting, and the
    /// drain is over at the marker.
    pub(crate) for_restart: bool,
    pub(crate) marker_reached: bool,
    /// The context was told to stop: `stopping` and `stopped` run.
    pub(crate) context_stopped: bool,
    /// A strategy drain whose context was already told to stop when a stop
    /// came: what waits past its marker is drained by another incarnation.
    pub(crate) then_stop: bool,
}

impl Drain {
    /// The strategy drain to marker `id`, already queued, that a new
    /// incarnation takes over (see `State::Pending`).
    const fn for_restart(id: u32) -> Self {
        Drain {
            id,
            for_restart: true,
            marker_reached: false,
            context_stopped: false,
            then_stop: false,
        }
    }
}

/// What happened to a child, as its runner saw it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// The runner's turn while `Pending`, in the poll that built the last
    /// incarnation (or before any was built): a yield is owed first, unless
    /// the state says it was made.
    Turn,
    /// The runner's turn while `Pending`, in a later poll than the one that
    /// built the last incarnation: the arbiter ran its other tasks since,
    /// so no yield is owed. A child whose incarnations keep failing at once
    /// still yields once per poll (its next turn is a `Turn`).
    LaterTurn,
    /// The new incarnation's value is in place; its start runs.
    Built,
    /// The incarnation's start is over (`started` and what it waited on).
    StartOver,
    /// The drain marker with this number was handled.
    MarkerReached(u32),
    /// The drain marker with this number was handled and the context
    /// stopped right after it (the marker ended a restart's drain: see
    /// [`Lifecycle::restart_marker`]), so what is queued behind it waits for
    /// the next incarnation.
    StoppedAtMarker(u32),
    /// A poll left the context waiting; `settled` says whether every
    /// message the handles accepted has been handled or cancelled.
    Quiet { settled: bool },
    /// The context was told to stop (at a marker, or by `StopContext`) and
    /// its `stopping` answered `Running::Continue`: it runs on, reading its
    /// mailbox again.
    Refused,
    /// The incarnation ended (or could not be built); `settled` says
    /// whether every message the handles accepted has been handled or
    /// cancelled (the futures it owned are dropped by then).
    Ended { end: End, settled: bool },
    /// The restart rules' answer to `Action::Decide`; `built_this_poll`
    /// when the ended incarnation was built in the runner's current poll
    /// (or could not be built): an immediate restart then yields first, so
    /// that a child failing at once again and again cannot keep its arbiter
    /// from its other tasks.
    Verdict {
        verdict: Verdict,
        built_this_poll: bool,
    },
    /// The backoff delay is over.
    BackoffOver,
    /// The grace of the stop (or strategy drain) under way ran out.
    GraceOver,
    /// A graceful stop was asked for (a handle, the supervisor).
    Stop,
    /// End now (the supervisor's grace ran out, or it is gone).
    Kill,
    /// The supervisor restarts this child with a sibling.
    Restart,
    /// The supervisor starts a parked child again.
    Resume,
    /// Every sibling the child depends on finished its start.
    DependenciesReady,
    /// The start timeout ran out while the child waited for its
    /// dependencies: this failure (phase `Waiting`) ends the start attempt.
    StartTimeout(Failure),
}

/// What the restart rules and the supervisor's intensity say about an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Start the next incarnation after `delay`; with `alone`, this child
    /// only (one-for-one), else the supervisor restarts its siblings too.
    Restart {
        attempt: u32,
        delay: Duration,
        alone: bool,
    },
    /// The child will not run again.
    Finish,
    /// One restart too many for the supervisor.
    TooMany,
}

/// How a child ends, for its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Ending {
    /// Its last incarnation ended normally.
    Stopped,
    /// Its last incarnation failed (the failure is the node's last one).
    Failed,
    /// Terminated before its work was done.
    TimedOut,
}

/// What the supervisor is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    /// Parked for a strategy restart after `delay`.
    Ended { delay: Duration },
    /// One restart too many (the failure is the node's last one).
    GaveUp,
    /// The child will not run again and leaves the table (a temporary
    /// child; sent by the runner, not decided here).
    Done,
}

/// What the runner must do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Come back on the next turn of the arbiter.
    Yield,
    /// Build the next incarnation, which drains (a stop's, or a restart's
    /// up to a marker queued before); answer with `Built` or `Ended`.
    Build,
    /// Build the next incarnation and run its start: the lifecycle is
    /// `Starting` already. Answer only a build that failed, with `Ended`.
    BuildAndStart,
    /// Keep the failure as the node's last one.
    RecordFailure(Failure),
    /// The incarnation's start is over: publish `Started`, and settle the
    /// child's first start attempt as started if it is not settled yet.
    Started,
    /// A start failed (the failure is the node's last one): settle the
    /// child's first start attempt as failed if it is not settled yet.
    StartFailed,
    /// Publish a lifecycle event.
    Emit(Emit),
    /// Handles refuse new work from now on.
    Refuse,
    /// Start the grace of a stop or a strategy drain.
    ArmGrace,
    /// Tell the incarnation's work to wind down (its token) and queue the
    /// marker with this number at the end of the mailbox.
    QueueMarker(u32),
    /// Stop the drained context: `stopping` and `stopped` run.
    StopContext,
    /// Hand the incarnation under way, first, what it held back past its
    /// restart's marker: a stop took the drain over, so it drains them.
    ReplayHeld,
    /// End the incarnation now without its hooks; keep the mailbox.
    Terminate,
    /// Ask the restart rules; answer with `Verdict`.
    Decide(Exit),
    /// Wait this long before the next incarnation; answer with
    /// `BackoffOver`.
    ArmBackoff(Duration),
    /// Tell the supervisor.
    Tell(Notice),
    /// End the child for good: drop its context, close its handles,
    /// publish its report.
    Finish(Ending),
    /// Arm the start timeout and watch the siblings the child depends on;
    /// answer with `DependenciesReady` (at once if they are ready) or
    /// `StartTimeout`.
    AwaitDependencies,
    /// Tell the new incarnation's work to wind down (its token): it was
    /// built to drain what its marker, queued before, closes.
    WindDown,
}

/// A lifecycle event to publish; the runner builds it (only for a
/// listener) from the node's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Emit {
    /// The incarnation failed: the node's last failure.
    Failed,
    Restarting {
        attempt: u32,
        delay: Duration,
    },
}

/// The actions of one step: at most a handful.
pub(crate) type Actions = arrayvec::ArrayVec<Action, 6>;

/// One child's lifecycle: its state, the number of its last drain, and
/// whether it depends on siblings (then each incarnation waits for them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Lifecycle {
    state: State,
    drains: u32,
    has_dependencies: bool,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle::new()
    }
}

impl Lifecycle {
    /// A child about to build its first incarnation (without a yield).
    pub(crate) const fn new() -> Self {
        Lifecycle {
            state: State::Pending {
                attempt: 0,
                stop: false,
                yielded: true,
                drain_to: None,
            },
            drains: 0,
            has_dependencies: false,
        }
    }

    /// A child that depends on siblings: each of its incarnations is built
    /// only once they finished their start.
    pub(crate) const fn with_dependencies() -> Self {
        let mut lifecycle = Lifecycle::new();
        lifecycle.has_dependencies = true;
        lifecycle
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// The state the node shows in snapshots.
    pub(crate) fn node_state(&self) -> NodeState {
        match self.state {
            State::Pending { stop: true, .. }
            | State::Pending {
                drain_to: Some(_), ..
            }
            | State::Deciding { stop: true, .. }
            | State::Waiting { stop: true, .. } => NodeState::Stopping,
            State::Waiting { stop: false, .. } => NodeState::Waiting,
            State::Starting { drain: Some(_) } | State::Running { drain: Some(_) } => {
                NodeState::Stopping
            }
            State::Pending { attempt: 0, .. } | State::Starting { drain: None } => {
                NodeState::Starting
            }
            State::Pending { attempt, .. } => NodeState::Restarting {
                attempt,
                next_start_in: Duration::ZERO,
            },
            State::Running { drain: None } | State::Deciding { .. } => NodeState::Running,
            State::Backoff { attempt, delay } | State::Parked { attempt, delay } => {
                NodeState::Restarting {
                    attempt,
                    next_start_in: delay,
                }
            }
            State::GaveUp => NodeState::Failed,
            State::Done { failed: true } => NodeState::Failed,
            State::Done { failed: false } => NodeState::Stopped,
        }
    }

    /// Whether the runner is at rest: parked for its supervisor, or done.
    pub(crate) fn is_at_rest(&self) -> bool {
        matches!(
            self.state,
            State::Parked { .. } | State::GaveUp | State::Done { .. }
        )
    }

    /// Whether the child will not run again.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done { .. })
    }

    /// Whether a stop (not a strategy drain) is under way or over: the
    /// handles refuse, and another `Stop` changes nothing.
    pub(crate) fn has_stop(&self) -> bool {
        match self.state {
            State::Pending { stop, .. }
            | State::Deciding { stop, .. }
            | State::Waiting { stop, .. } => stop,
            State::Starting { drain } | State::Running { drain } => {
                drain.is_some_and(|d| !d.for_restart || d.then_stop)
            }
            State::Done { .. } => true,
            State::Backoff { .. } | State::Parked { .. } | State::GaveUp => false,
        }
    }

    /// Whether a grace runs: a stop, or a strategy drain, is under way.
    pub(crate) fn grace_runs(&self) -> bool {
        match self.state {
            State::Pending { stop, drain_to, .. } => stop || drain_to.is_some(),
            State::Deciding { stop, .. } | State::Waiting { stop, .. } => stop,
            State::Starting { drain } | State::Running { drain } => drain.is_some(),
            _ => false,
        }
    }

    /// Whether the incarnation drains its mailbox to a marker.
    pub(crate) fn is_draining(&self) -> bool {
        matches!(
            self.state,
            State::Starting { drain: Some(_) } | State::Running { drain: Some(_) }
        )
    }

    /// The number of the marker that ends the restart's drain under way, if
    /// the incarnation drains for a restart only (no stop took it over) and
    /// has not reached it yet: what is queued behind that marker is the
    /// fresh incarnation's.
    pub(crate) fn restart_marker(&self) -> Option<u32> {
        match self.state {
            State::Starting { drain: Some(d) } | State::Running { drain: Some(d) }
                if d.for_restart && !d.then_stop && !d.marker_reached =>
            {
                Some(d.id)
            }
            _ => None,
        }
    }

    /// Whether the incarnation under way drains for a restart and is past
    /// its marker: what it reads from its mailbox now (its context was not
    /// stopped there, or its `stopping` kept it running) is the next
    /// incarnation's, and is held back for it.
    pub(crate) fn is_past_restart_marker(&self) -> bool {
        matches!(
            self.state,
            State::Starting { drain: Some(d) } | State::Running { drain: Some(d) }
                if d.for_restart && d.marker_reached
        )
    }

    /// Whether the incarnation drains and its context was told to stop.
    pub(crate) fn is_context_stopped(&self) -> bool {
        matches!(
            self.state,
            State::Starting { drain: Some(d) } | State::Running { drain: Some(d) }
                if d.context_stopped
        )
    }

    /// Whether the incarnation runs with no drain under way: the state of
    /// the message path.
    #[inline]
    pub(crate) fn is_running_freely(&self) -> bool {
        matches!(self.state, State::Running { drain: None })
    }

    /// Whether the incarnation's start is still running.
    pub(crate) fn is_starting(&self) -> bool {
        matches!(self.state, State::Starting { .. })
    }

    /// Whether the incarnation finished its start and runs (draining or
    /// not): what the siblings that depend on the child wait for.
    pub(crate) fn is_ready(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }

    fn new_drain(&mut self, for_restart: bool) -> Drain {
        self.drains = self.drains.wrapping_add(1);
        Drain {
            id: self.drains,
            for_restart,
            marker_reached: false,
            context_stopped: false,
            then_stop: false,
        }
    }

    /// Moves to the next state on `event`; returns what the runner must do,
    /// in order.
    #[cfg(test)]
    pub(crate) fn step(&mut self, event: Event) -> Actions {
        let mut out = Actions::new();
        self.step_into(event, &mut out);
        out
    }

    /// [`Lifecycle::step`], with the actions appended to `out`: the runner
    /// keeps them where they are made instead of moving them about.
    pub(crate) fn step_into(&mut self, event: Event, out: &mut Actions) {
        match (self.state, event) {
            (State::Done { .. }, _) => {}

            // Kill ends every live state at once.
            (State::GaveUp, Event::Kill | Event::Stop) => {
                out.push(Action::Refuse);
                self.state = State::Done { failed: true };
                out.push(Action::Finish(Ending::Failed));
            }
            (_, Event::Kill) => {
                self.state = State::Done { failed: false };
                out.push(Action::Finish(Ending::TimedOut));
            }

            // Between two incarnations.
            (
                State::Pending {
                    attempt,
                    stop,
                    yielded,
                    drain_to,
                },
                event,
            ) => match event {
                Event::Turn if !yielded => {
                    self.state = State::Pending {
                        attempt,
                        stop,
                        yielded: true,
                        drain_to,
                    };
                    out.push(Action::Yield);
                }
                Event::Turn | Event::LaterTurn => self.turn(attempt, stop, drain_to, out),
                Event::Built => match drain_to {
                    // The marker is queued: the new incarnation drains to it
                    // (its work told to wind down), then it is parked.
                    Some(id) => {
                        self.state = State::Starting {
                            drain: Some(Drain::for_restart(id)),
                        };
                        out.push(Action::WindDown);
                    }
                    None => {
                        let drain = stop.then(|| self.new_drain(false));
                        self.state = State::Starting { drain };
                        if let Some(drain) = drain {
                            out.push(Action::QueueMarker(drain.id));
                        }
                    }
                },
                Event::Ended { end, settled } => {
                    let drain = drain_to.map(Drain::for_restart);
                    self.ended(end, stop, drain, false, settled, out);
                }
                Event::Stop if !stop || drain_to.is_some() => {
                    self.state = State::Pending {
                        attempt,
                        stop: true,
                        yielded,
                        drain_to: None,
                    };
                    out.push(Action::Refuse);
                    // A stop takes a restart's drain over, with the grace
                    // that already runs.
                    if drain_to.is_none() {
                        out.push(Action::ArmGrace);
                    }
                }
                Event::GraceOver if stop => {
                    self.state = State::Done { failed: false };
                    out.push(Action::Finish(Ending::TimedOut));
                }
                // The restart's drain ran out of grace before its next
                // incarnation was built: what waits goes to the fresh one.
                Event::GraceOver if drain_to.is_some() => self.park_for_restart(out),
                Event::Restart if !stop && drain_to.is_none() => {
                    self.restart_between(attempt, yielded, out);
                }
                _ => {}
            },

            // Waiting for the siblings it depends on to finish their start.
            // Nothing runs: a stop waits on (within its grace) to start the
            // next incarnation that drains the mailbox, so nothing that waits
            // there is dropped while the dependencies may still start.
            (State::Waiting { attempt, stop }, event) => match event {
                Event::DependenciesReady => {
                    self.state = State::Pending {
                        attempt,
                        stop,
                        yielded: true,
                        drain_to: None,
                    };
                    self.build(stop, None, out);
                }
                Event::StartTimeout(failure) => {
                    self.ended(End::Failed(failure), stop, None, false, false, out);
                }
                Event::Stop if !stop => {
                    self.state = State::Waiting {
                        attempt,
                        stop: true,
                    };
                    out.push(Action::Refuse);
                    out.push(Action::ArmGrace);
                }
                Event::GraceOver if stop => {
                    self.state = State::Done { failed: false };
                    out.push(Action::Finish(Ending::TimedOut));
                }
                Event::Restart if !stop => self.park_between(attempt, out),
                _ => {}
            },

            // An incarnation is running (or starting).
            (State::Starting { drain } | State::Running { drain }, event) => {
                let starting = matches!(self.state, State::Starting { .. });
                match event {
                    Event::StartOver if starting => {
                        self.state = State::Running { drain };
                        out.push(Action::Started);
                    }
                    Event::MarkerReached(id) => {
                        if let Some(mut d) = drain.filter(|d| d.id == id) {
                            d.marker_reached = true;
                            self.set_drain(Some(d));
                        }
                    }
                    Event::StoppedAtMarker(id) => {
                        if let Some(mut d) = drain.filter(|d| d.id == id) {
                            d.marker_reached = true;
                            d.context_stopped = true;
                            self.set_drain(Some(d));
                        }
                    }
                    Event::Quiet { settled } => {
                        if let Some(mut d) = drain {
                            if d.marker_reached && !d.context_stopped && (d.for_restart || settled)
                            {
                                d.context_stopped = true;
                                self.set_drain(Some(d));
                                out.push(Action::StopContext);
                            }
                        }
                    }
                    Event::Refused => {
                        if let Some(mut d) = drain.filter(|d| d.context_stopped) {
                            // Asked again at the next quiet poll.
                            d.context_stopped = false;
                            if d.then_stop {
                                // The stop that took the restart's drain
                                // over drains in this incarnation after
                                // all, what it held back first.
                                d.then_stop = false;
                                d.for_restart = false;
                                out.push(Action::ReplayHeld);
                            }
                            self.set_drain(Some(d));
                        }
                    }
                    Event::Ended { end, settled } => {
                        self.ended(end, false, drain, !starting, settled, out);
                    }
                    Event::Stop => match drain {
                        None => {
                            let d = self.new_drain(false);
                            self.set_drain(Some(d));
                            out.push(Action::Refuse);
                            out.push(Action::ArmGrace);
                            out.push(Action::QueueMarker(d.id));
                        }
                        Some(mut d) if d.for_restart && !d.then_stop => {
                            // The strategy's drain becomes the stop's: its
                            // marker is queued and its grace runs. If it
                            // already stopped the context, what waits past
                            // its marker (or was held back) is drained by
                            // the next incarnation; else by this one, what
                            // it held back first.
                            if d.context_stopped {
                                d.then_stop = true;
                            } else {
                                d.for_restart = false;
                                if d.marker_reached {
                                    out.push(Action::ReplayHeld);
                                }
                            }
                            self.set_drain(Some(d));
                            out.push(Action::Refuse);
                        }
                        Some(_) => {}
                    },
                    Event::Restart if drain.is_none() => {
                        let d = self.new_drain(true);
                        self.set_drain(Some(d));
                        out.push(Action::ArmGrace);
                        out.push(Action::QueueMarker(d.id));
                    }
                    Event::GraceOver => match drain {
                        Some(d) if d.then_stop => {
                            self.state = State::Done { failed: false };
                            out.push(Action::Finish(Ending::TimedOut));
                        }
                        Some(d) if d.for_restart => {
                            out.push(Action::Terminate);
                            self.park_for_restart(out);
                        }
                        Some(_) => {
                            self.state = State::Done { failed: false };
                            out.push(Action::Finish(Ending::TimedOut));
                        }
                        None => {}
                    },
                    _ => {}
                }
            }

            (State::Deciding { stop, failed }, event) => match event {
                Event::Verdict {
                    verdict,
                    built_this_poll,
                } => self.decided(verdict, stop, failed, built_this_poll, out),
                Event::Stop if !stop => {
                    self.state = State::Deciding { stop: true, failed };
                    out.push(Action::Refuse);
                    out.push(Action::ArmGrace);
                }
                _ => {}
            },

            (State::Backoff { attempt, .. } | State::Parked { attempt, .. }, event) => {
                let parked = matches!(self.state, State::Parked { .. });
                match event {
                    Event::BackoffOver if !parked => {
                        self.state = State::Pending {
                            attempt,
                            stop: false,
                            yielded: true,
                            drain_to: None,
                        };
                    }
                    Event::Resume if parked => {
                        self.state = State::Pending {
                            attempt,
                            stop: false,
                            yielded: false,
                            drain_to: None,
                        };
                    }
                    // What waits in the mailbox is drained by the next
                    // incarnation, started now.
                    Event::Stop => {
                        self.state = State::Pending {
                            attempt,
                            stop: true,
                            yielded: false,
                            drain_to: None,
                        };
                        out.push(Action::Refuse);
                        out.push(Action::ArmGrace);
                    }
                    Event::Restart if !parked => self.restart_between(attempt, false, out),
                    _ => {}
                }
            }

            (State::GaveUp, Event::Resume) => {
                self.state = State::Pending {
                    attempt: 1,
                    stop: false,
                    yielded: false,
                    drain_to: None,
                };
            }
            (State::GaveUp, _) => {}
        }
    }

    /// The turn of `Pending` with no yield owed: the next incarnation waits
    /// for its dependencies, if it has any, or is built.
    fn turn(&mut self, attempt: u32, stop: bool, drain_to: Option<u32>, out: &mut Actions) {
        if self.has_dependencies {
            self.state = State::Waiting { attempt, stop };
            out.push(Action::AwaitDependencies);
        } else {
            self.build(stop, drain_to, out);
        }
    }

    /// Builds the next incarnation (`Pending`, its yield made and its
    /// dependencies ready): one that only runs starts at once; one built to
    /// drain waits in `Pending` for `Built`, to queue or take its marker.
    fn build(&mut self, stop: bool, drain_to: Option<u32>, out: &mut Actions) {
        if stop || drain_to.is_some() {
            out.push(Action::Build);
        } else {
            self.state = State::Starting { drain: None };
            out.push(Action::BuildAndStart);
        }
    }

    fn set_drain(&mut self, drain: Option<Drain>) {
        match &mut self.state {
            State::Starting { drain: d } | State::Running { drain: d } => *d = drain,
            _ => unreachable!("a drain belongs to a live incarnation"),
        }
    }

    /// A strategy restart between two incarnations (`Pending` or
    /// `Backoff`): what waits in the mailbox now was accepted before the
    /// restart, so it is not left to the fresh incarnation. The marker is
    /// queued at once and the next incarnation, built now (without the
    /// rest of a backoff), drains to it and is then parked, as a running
    /// one is. A child with dependencies is parked at once: its next
    /// incarnation would wait for siblings the same restart parks.
    fn restart_between(&mut self, attempt: u32, yielded: bool, out: &mut Actions) {
        if self.has_dependencies {
            return self.park_between(attempt, out);
        }
        let d = self.new_drain(true);
        self.state = State::Pending {
            attempt,
            stop: false,
            yielded,
            drain_to: Some(d.id),
        };
        out.push(Action::ArmGrace);
        out.push(Action::QueueMarker(d.id));
    }

    /// A strategy restart between two incarnations: waits for the
    /// supervisor's `Resume`. The restart after the last incarnation was
    /// already published (`Restarting`, with its `attempt`), so nothing is
    /// published again; before the first incarnation (`attempt` 0) there
    /// was none, and parking publishes it.
    fn park_between(&mut self, attempt: u32, out: &mut Actions) {
        if attempt == 0 {
            return self.park_for_restart(out);
        }
        self.state = State::Parked {
            attempt,
            delay: Duration::ZERO,
        };
    }

    /// Waits for the supervisor's `Resume`, as part of a strategy restart.
    fn park_for_restart(&mut self, out: &mut Actions) {
        let (attempt, delay) = (1, Duration::ZERO);
        self.state = State::Parked { attempt, delay };
        out.push(Action::Emit(Emit::Restarting { attempt, delay }));
    }

    /// The incarnation ended (or could not be built) with `end`, during the
    /// stop of `Pending { stop }` or with `drain` under way; `started` if its
    /// start was over, `settled` if nothing the handles accepted waits.
    fn ended(
        &mut self,
        end: End,
        stop: bool,
        drain: Option<Drain>,
        started: bool,
        settled: bool,
        out: &mut Actions,
    ) {
        let exit = end.exit();
        let failure = end.into_failure();
        let failed = failure.is_some();
        let start_failed = failure.as_ref().is_some_and(|f| {
            matches!(
                f.phase,
                FailurePhase::Factory
                    | FailurePhase::Restarting
                    | FailurePhase::Starting
                    | FailurePhase::Waiting
            )
        });
        if let Some(failure) = failure {
            out.push(Action::RecordFailure(failure));
        }
        match drain {
            Some(d) if d.for_restart && d.then_stop => {
                // Stopped during a strategy drain: the next incarnation
                // drains what waits, then the child ends.
                self.state = State::Pending {
                    attempt: 1,
                    stop: true,
                    yielded: false,
                    drain_to: None,
                };
                return;
            }
            Some(d) if d.for_restart => {
                if failed {
                    out.push(Action::Emit(Emit::Failed));
                }
                if !started || d.marker_reached || self.has_dependencies {
                    // Drained, or a start that failed: starting another
                    // would only fail again. (A child with dependencies is
                    // not started again to drain: it would wait for
                    // siblings the same restart parks.) The fresh
                    // incarnation takes what waits.
                    return self.park_for_restart(out);
                }
                // Ended before its marker: the next incarnation drains the
                // rest, then is parked.
                let (attempt, delay) = (1, Duration::ZERO);
                self.state = State::Pending {
                    attempt,
                    stop: false,
                    yielded: false,
                    drain_to: Some(d.id),
                };
                out.push(Action::Emit(Emit::Restarting { attempt, delay }));
                return;
            }
            _ => {}
        }
        if start_failed {
            out.push(Action::StartFailed);
        }
        if failed {
            out.push(Action::Emit(Emit::Failed));
        }
        let stop = stop || drain.is_some();
        let drained = drain
            .is_some_and(|d| d.context_stopped || (!d.for_restart && d.marker_reached && settled));
        if drained || (stop && !started) {
            // The drain was over and the context stopped: the stop is done.
            // So it is when the incarnation ended on its own past its stop's
            // marker with nothing accepted waiting (a loop that returns when
            // its token is cancelled): another incarnation would have
            // nothing to drain. Or an incarnation that was to drain could
            // not start: what waits cannot be handled, and starting yet
            // another would only fail again (a storm no grace bounds).
            self.state = State::Done { failed };
            out.push(Action::Finish(if failed {
                Ending::Failed
            } else {
                Ending::Stopped
            }));
            return;
        }
        self.state = State::Deciding { stop, failed };
        out.push(Action::Decide(exit));
    }

    fn decided(
        &mut self,
        verdict: Verdict,
        stop: bool,
        failed: bool,
        built_this_poll: bool,
        out: &mut Actions,
    ) {
        let finish = |this: &mut Self, out: &mut Actions| {
            this.state = State::Done { failed };
            out.push(Action::Finish(if failed {
                Ending::Failed
            } else {
                Ending::Stopped
            }));
        };
        match verdict {
            // A stop under way: the next incarnation drains what still
            // waits, without a backoff.
            Verdict::Restart { attempt, .. } if stop => {
                self.state = State::Pending {
                    attempt,
                    stop: true,
                    yielded: false,
                    drain_to: None,
                };
            }
            Verdict::Restart {
                attempt,
                delay,
                alone,
            } => {
                out.push(Action::Emit(Emit::Restarting { attempt, delay }));
                if !alone {
                    self.state = State::Parked { attempt, delay };
                    out.push(Action::Tell(Notice::Ended { delay }));
                } else if delay.is_zero() {
                    self.state = State::Pending {
                        attempt,
                        stop: false,
                        yielded: !built_this_poll,
                        drain_to: None,
                    };
                    // No yield owed: the next incarnation now, as the
                    // runner's next turn would (`LaterTurn`).
                    if !built_this_poll {
                        self.turn(attempt, false, None, out);
                    }
                } else {
                    self.state = State::Backoff { attempt, delay };
                    out.push(Action::ArmBackoff(delay));
                }
            }
            Verdict::Finish => finish(self, out),
            Verdict::TooMany if stop => finish(self, out),
            Verdict::TooMany => {
                self.state = State::GaveUp;
                out.push(Action::Tell(Notice::GaveUp));
            }
        }
    }
}

#[cfg(test)]
mod model;
#[cfg(test)]
mod tests;
