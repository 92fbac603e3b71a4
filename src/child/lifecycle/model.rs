//! The model check: every sequence of events up to a depth, applied to the
//! lifecycle and to a small model of what the runner does with its actions
//! (a mailbox of counted messages, raw messages and markers; the context,
//! which may own futures in flight or refuse to stop at a restart's
//! marker; the messages held back past that marker; the timers; the
//! report), against the promises:
//!
//! - every message accepted through a handle ends in exactly one of handled,
//!   cancelled, undelivered or handed back, and nothing is handled twice;
//! - a stop never stops the context before its marker and every counted
//!   message before it are handled;
//! - the report is published once;
//! - once a stop's drain is over (its marker handled, every counted
//!   message settled), no incarnation is built: an incarnation that then
//!   ends on its own ends the child, whatever its policy;
//! - a message queued before a strategy restart's marker is handled only
//!   by an incarnation that drains for that restart: when the child is
//!   parked for the restart, none waits, unless the drain was cut short by
//!   its grace or by an incarnation that could not start (or a stop took
//!   it over), or the child has dependencies (it is parked at once);
//! - a message queued behind a strategy restart's marker is never handled
//!   by an incarnation that drains for that restart (the context stops at
//!   the marker, and what a context that refused to stop there reads past
//!   it is held back for the next incarnation), unless a stop took the
//!   drain over; a raw message may be, once the context refused;
//! - a child with dependencies builds an incarnation only after they were
//!   ready (`DependenciesReady`) since it last built one, and a waiting
//!   child has no context;
//! - from every state reached, a `Stop` followed by fair progress (messages
//!   handled, starts over, timers ringing, the supervisor resuming what it
//!   parked) ends the child with a report, and, unless an incarnation failed
//!   or ended on its own with work left, with every accepted message
//!   handled or cancelled; the startup handle is settled.
//!
//! `cargo test` explores depth 6 for every policy, delay and strategy; set
//! `RELIABILITY_LONG=1` (the suite's long-run switch) for depth 8.

use std::collections::{HashSet, VecDeque};

use super::*;
use crate::child::restart::Exit;
use crate::tree::FailureKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Item {
    /// A message; `counted` when sent through a handle, `gone` once its
    /// requester dropped its future, `before_restart` when it was queued
    /// before a strategy restart's marker (no fresh incarnation may handle
    /// it), `after_restart` when it was queued behind one (no incarnation
    /// that drains for that restart may handle it).
    Msg {
        counted: bool,
        gone: bool,
        before_restart: bool,
        after_restart: bool,
    },
    Marker(u32),
}

impl Item {
    fn before_restart(&self) -> bool {
        matches!(
            self,
            Item::Msg {
                before_restart: true,
                ..
            }
        )
    }
}

/// The incarnation's actix context, as far as the runner can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ctx {
    None,
    Starting,
    Running,
    /// Told to stop: it reads no more messages and ends on its next poll.
    Stopping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Policy {
    Never,
    OnFailure,
    Always,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Config {
    policy: Policy,
    delay: Duration,
    alone: bool,
    /// The child depends on siblings: each incarnation waits for them.
    deps: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Report {
    ending: Ending,
    undelivered: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Model {
    lifecycle: Lifecycle,
    mailbox: VecDeque<Item>,
    ctx: Ctx,
    accepted: u8,
    handled: u8,
    cancelled: u8,
    handed_back: u8,
    refusing: bool,
    grace_armed: bool,
    backoff_armed: bool,
    startup: Option<bool>,
    report: Option<Report>,
    /// Restarts the supervisor still allows.
    intensity_left: u8,
    /// The next factory call fails.
    factory_fails: bool,
    /// The marker of the last drain that stopped the context for a stop.
    stopped_at: Option<u32>,
    /// The start timeout runs (the child waits for its dependencies).
    start_timer_armed: bool,
    /// The dependencies were ready since the last build.
    deps_ready: bool,
    /// A stop's drain was over: its marker handled, every counted message
    /// settled.
    stop_drained: bool,
    /// Counted messages read past a restart's marker, held back for the
    /// next incarnation (handled first by it).
    held: VecDeque<Item>,
    /// The incarnation's `stopping` answered `Running::Continue` when its
    /// restart's marker stopped its context: it runs on until its grace.
    refused: bool,
    /// The incarnation owns a future in flight (a `ChildFuture`): a
    /// restart's marker does not stop its context, and no drain is over.
    busy: bool,
    /// The incarnation's context read on past its restart's marker (it
    /// was busy there, or refused to stop): raw messages past the marker
    /// may reach it (documented on `RestartChild`), counted ones are held.
    read_past: bool,
}

/// What the outside world (users, actix, timers, the supervisor) can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    SendCounted,
    SendRaw,
    HandleOne,
    RequesterGone,
    Panic,
    Fail,
    ExitNormally,
    StartOver,
    Turn,
    /// The runner's turn in a later poll than the one that built the last
    /// incarnation.
    LaterTurn,
    BackoffOver,
    GraceOver,
    Stop,
    Kill,
    StrategyRestart,
    Resume,
    FactoryFailsNext,
    DependenciesReady,
    StartTimeout,
    /// The context's `stopping` answers `Running::Continue` when a drain
    /// stopped it (at a restart's marker, or by `StopContext`).
    RefuseToStop,
    /// A handler takes on a `ChildFuture`.
    OwnFuture,
    /// The incarnation's futures in flight complete.
    FuturesDone,
}

const INPUTS: [Input; 22] = [
    Input::SendCounted,
    Input::SendRaw,
    Input::HandleOne,
    Input::RequesterGone,
    Input::Panic,
    Input::Fail,
    Input::ExitNormally,
    Input::StartOver,
    Input::Turn,
    Input::LaterTurn,
    Input::BackoffOver,
    Input::GraceOver,
    Input::Stop,
    Input::Kill,
    Input::StrategyRestart,
    Input::Resume,
    Input::FactoryFailsNext,
    Input::DependenciesReady,
    Input::StartTimeout,
    Input::RefuseToStop,
    Input::OwnFuture,
    Input::FuturesDone,
];

impl Model {
    fn new(config: &Config) -> Self {
        let lifecycle = if config.deps {
            Lifecycle::with_dependencies()
        } else {
            Lifecycle::new()
        };
        let mut model = Model {
            lifecycle,
            mailbox: VecDeque::new(),
            ctx: Ctx::None,
            accepted: 0,
            handled: 0,
            cancelled: 0,
            handed_back: 0,
            refusing: false,
            grace_armed: false,
            backoff_armed: false,
            startup: None,
            report: None,
            intensity_left: 2,
            factory_fails: false,
            stopped_at: None,
            start_timer_armed: false,
            deps_ready: false,
            stop_drained: false,
            held: VecDeque::new(),
            refused: false,
            busy: false,
            read_past: false,
        };
        // As the runner's spawn does: the first incarnation at once (or
        // the wait for its dependencies).
        model.apply(Event::Turn, config).expect("a clean start");
        model
    }

    /// Counted messages not settled yet: queued, or held back.
    fn counted_waiting(&self) -> u8 {
        self.mailbox
            .iter()
            .chain(&self.held)
            .filter(|item| matches!(item, Item::Msg { counted: true, .. }))
            .count() as u8
    }

    fn settled(&self) -> bool {
        self.counted_waiting() == 0
    }

    fn failure(phase: FailurePhase, kind: FailureKind) -> End {
        End::Failed(Failure::new(kind, phase, "boom".into()))
    }

    fn phase(&self) -> FailurePhase {
        if self.ctx == Ctx::Starting {
            FailurePhase::Starting
        } else {
            FailurePhase::Running
        }
    }

    /// Feeds one input; `None` when it does not apply in this state.
    fn input(&mut self, input: Input, config: &Config) -> Option<Result<(), String>> {
        let live = matches!(self.ctx, Ctx::Starting | Ctx::Running | Ctx::Stopping);
        let result = match input {
            Input::SendCounted => {
                if self.refusing {
                    self.handed_back += 1;
                } else {
                    self.accepted += 1;
                    let after_restart = self.behind_restart_marker();
                    self.mailbox.push_back(Item::Msg {
                        counted: true,
                        gone: false,
                        before_restart: false,
                        after_restart,
                    });
                }
                self.quiet(config)
            }
            Input::SendRaw if !self.lifecycle.is_done() => {
                let after_restart = self.behind_restart_marker();
                self.mailbox.push_back(Item::Msg {
                    counted: false,
                    gone: false,
                    before_restart: false,
                    after_restart,
                });
                Ok(())
            }
            Input::HandleOne if self.ctx == Ctx::Running && !self.mailbox.is_empty() => {
                let item = self.mailbox.pop_front().expect("not empty");
                if matches!(item, Item::Msg { counted: true, .. })
                    && self.lifecycle.is_past_restart_marker()
                {
                    // The runner's signal scope holds it back.
                    self.held.push_back(item);
                    return Some(self.quiet(config).and_then(|()| self.check()));
                }
                if matches!(
                    item,
                    Item::Msg {
                        before_restart: true,
                        ..
                    }
                ) && !self.drains_for_restart()
                {
                    return Some(Err(
                        "a message queued before a restart was handled by the fresh incarnation"
                            .into(),
                    ));
                }
                if matches!(
                    item,
                    Item::Msg {
                        after_restart: true,
                        ..
                    }
                ) && self.drains_for_restart()
                    && (matches!(item, Item::Msg { counted: true, .. }) || !self.read_past)
                {
                    return Some(Err(
                        "a message queued behind a restart's marker was handled by the \
                         incarnation draining for it"
                            .into(),
                    ));
                }
                match item {
                    Item::Msg {
                        counted: true,
                        gone: false,
                        ..
                    } => self.handled += 1,
                    Item::Msg {
                        counted: true,
                        gone: true,
                        ..
                    } => self.cancelled += 1,
                    Item::Msg { counted: false, .. } => {}
                    Item::Marker(id) => {
                        // The runner's marker handler stops the context at
                        // the marker that ends a restart's drain (the model
                        // has no owned futures in flight).
                        let restart = self.lifecycle.restart_marker() == Some(id);
                        let event = if restart && !self.busy {
                            self.ctx = Ctx::Stopping;
                            Event::StoppedAtMarker(id)
                        } else {
                            self.read_past |= restart;
                            Event::MarkerReached(id)
                        };
                        if let Err(error) = self.apply(event, config) {
                            return Some(Err(error));
                        }
                        // actix's mailbox reads on past a marker in the same
                        // poll unless the context stopped: the runner hears
                        // of nothing before the next message is handled.
                        if self.ctx == Ctx::Running && !self.mailbox.is_empty() {
                            return Some(Ok(()));
                        }
                    }
                }
                self.quiet(config)
            }
            Input::RequesterGone if !self.lifecycle.is_done() => {
                let waiting = self.mailbox.iter_mut().find_map(|item| match item {
                    Item::Msg {
                        counted: true,
                        gone,
                        ..
                    } if !*gone => Some(gone),
                    _ => None,
                });
                match waiting {
                    Some(gone) => *gone = true,
                    // A send waiting for room in a full mailbox, dropped: its
                    // message is settled at once.
                    None if !self.refusing => {
                        self.accepted += 1;
                        self.cancelled += 1;
                    }
                    None => return None,
                }
                self.quiet(config)
            }
            Input::Panic if live => {
                let end = Self::failure(self.phase(), FailureKind::Panic);
                self.ended(end, config)
            }
            Input::Fail if live && self.ctx != Ctx::Stopping => {
                let end = Self::failure(self.phase(), FailureKind::Error);
                self.ended(end, config)
            }
            Input::ExitNormally if matches!(self.ctx, Ctx::Running | Ctx::Stopping) => {
                self.ended(End::Normal, config)
            }
            Input::StartOver if self.ctx == Ctx::Starting => {
                self.ctx = Ctx::Running;
                self.apply(Event::StartOver, config)
            }
            Input::Turn if matches!(self.lifecycle.state(), State::Pending { .. }) => {
                self.apply(Event::Turn, config)
            }
            Input::LaterTurn if matches!(self.lifecycle.state(), State::Pending { .. }) => {
                self.apply(Event::LaterTurn, config)
            }
            Input::BackoffOver if self.backoff_armed => self.apply(Event::BackoffOver, config),
            Input::GraceOver if self.grace_armed => self.apply(Event::GraceOver, config),
            Input::Stop => {
                // A stop drains everything; no fresh incarnation follows.
                self.untag();
                self.apply(Event::Stop, config)
            }
            Input::Kill => self.apply(Event::Kill, config),
            Input::StrategyRestart => {
                let before = self.lifecycle;
                let result = self.apply(Event::Restart, config);
                // (A child with dependencies is parked at once: the fresh
                // incarnation takes what waits.)
                if self.lifecycle != before && !self.lifecycle.has_stop() && !config.deps {
                    // The restart took: what waits now was queued before
                    // it, for an incarnation that drains, not the fresh one.
                    for item in &mut self.mailbox {
                        if let Item::Msg {
                            before_restart,
                            after_restart,
                            ..
                        } = item
                        {
                            *before_restart = true;
                            *after_restart = false;
                        }
                    }
                }
                result
            }
            Input::Resume => self.apply(Event::Resume, config),
            Input::FactoryFailsNext if !self.factory_fails => {
                self.factory_fails = true;
                Ok(())
            }
            Input::DependenciesReady if matches!(self.lifecycle.state(), State::Waiting { .. }) => {
                self.deps_ready = true;
                self.apply(Event::DependenciesReady, config)
            }
            Input::StartTimeout if self.start_timer_armed => {
                let failure = Failure::new(
                    FailureKind::Error,
                    FailurePhase::Waiting,
                    "/app/store, a sibling it depends on, did not finish its start".into(),
                );
                self.apply(Event::StartTimeout(failure), config)
            }
            Input::OwnFuture if self.ctx == Ctx::Running && !self.busy => {
                self.busy = true;
                Ok(())
            }
            Input::FuturesDone if self.busy => {
                self.busy = false;
                self.quiet(config)
            }
            Input::RefuseToStop if self.ctx == Ctx::Stopping && self.lifecycle.is_draining() => {
                self.ctx = Ctx::Running;
                self.refused = true;
                self.read_past |= self.drains_for_restart();
                self.apply(Event::Refused, config)
                    .and_then(|()| self.quiet(config))
            }
            _ => return None,
        };
        Some(result.and_then(|()| self.check()))
    }

    /// The incarnation ended: as the runner does, the lifecycle hears
    /// whether every counted message is settled.
    fn ended(&mut self, end: End, config: &Config) -> Result<(), String> {
        self.ctx = Ctx::None;
        // Its futures are dropped with it.
        self.busy = false;
        let settled = self.settled();
        self.apply(Event::Ended { end, settled }, config)
    }

    /// What the runner feeds after a poll that left the context waiting.
    fn quiet(&mut self, config: &Config) -> Result<(), String> {
        if self.lifecycle.is_draining()
            && matches!(self.ctx, Ctx::Starting | Ctx::Running)
            && !self.busy
        {
            let settled = self.settled();
            self.apply(Event::Quiet { settled }, config)?;
        }
        Ok(())
    }

    /// Steps the lifecycle and carries out its actions, as the runner does.
    fn apply(&mut self, event: Event, config: &Config) -> Result<(), String> {
        let was_parked = matches!(self.lifecycle.state(), State::Parked { .. });
        // A restart's drain may be cut short by its grace or by an
        // incarnation that cannot start: the fresh one takes what waits.
        // A child with dependencies is not started again to drain at all:
        // that incarnation would wait for siblings the restart parks.
        let cut_short = match &event {
            _ if config.deps => true,
            Event::GraceOver => true,
            Event::Ended {
                end: End::Failed(failure),
                ..
            } => matches!(
                failure.phase,
                FailurePhase::Factory | FailurePhase::Starting | FailurePhase::Restarting
            ),
            _ => false,
        };
        let actions = self.lifecycle.step(event);
        if let State::Starting { drain: Some(d) } | State::Running { drain: Some(d) } =
            self.lifecycle.state()
        {
            if !d.for_restart && d.marker_reached && self.settled() {
                self.stop_drained = true;
            }
        }
        if !was_parked && matches!(self.lifecycle.state(), State::Parked { .. }) {
            if cut_short {
                self.untag();
            } else if self.mailbox.iter().any(Item::before_restart) {
                return Err(
                    "parked for a restart with messages queued before it still waiting".into(),
                );
            }
        }
        // Runner::sync.
        if !self.lifecycle.grace_runs() && !self.lifecycle.is_done() {
            self.grace_armed = false;
        }
        if !matches!(self.lifecycle.state(), State::Backoff { .. }) {
            self.backoff_armed = false;
        }
        if !matches!(self.lifecycle.state(), State::Waiting { .. }) {
            self.start_timer_armed = false;
        }
        for action in actions {
            match action {
                Action::Yield | Action::RecordFailure(_) | Action::Emit(_) | Action::WindDown => {}
                Action::Tell(_) => {}
                Action::Build | Action::BuildAndStart => {
                    if self.ctx != Ctx::None {
                        return Err("built over a live context".into());
                    }
                    if self.stop_drained {
                        return Err("built an incarnation after the stop's drain was over".into());
                    }
                    if config.deps && !self.deps_ready {
                        return Err("built before its dependencies were ready".into());
                    }
                    self.deps_ready = false;
                    if self.factory_fails {
                        self.factory_fails = false;
                        let end = Self::failure(FailurePhase::Factory, FailureKind::Error);
                        self.apply(
                            Event::Ended {
                                end,
                                settled: false,
                            },
                            config,
                        )?;
                    } else {
                        self.ctx = Ctx::Starting;
                        self.refused = false;
                        self.read_past = false;
                        // Handled first by the fresh incarnation, in order.
                        while let Some(item) = self.held.pop_back() {
                            self.mailbox.push_front(item);
                        }
                        if action == Action::Build {
                            self.apply(Event::Built, config)?;
                        }
                    }
                }
                Action::Started => {
                    self.startup.get_or_insert(true);
                }
                Action::StartFailed => {
                    self.startup.get_or_insert(false);
                }
                Action::Refuse => self.refusing = true,
                Action::ArmGrace => self.grace_armed = true,
                Action::QueueMarker(id) => self.mailbox.push_back(Item::Marker(id)),
                Action::ReplayHeld => {
                    if !matches!(self.ctx, Ctx::Starting | Ctx::Running) {
                        return Err(format!("replayed into a context that was {:?}", self.ctx));
                    }
                    while let Some(item) = self.held.pop_back() {
                        self.mailbox.push_front(item);
                    }
                }
                Action::StopContext => {
                    if self.ctx != Ctx::Running {
                        return Err(format!("stopped a context that was {:?}", self.ctx));
                    }
                    if self.lifecycle.has_stop() && !self.settled() {
                        return Err(
                            "a stop stopped the context with counted messages waiting".into()
                        );
                    }
                    if let Some(Item::Marker(id)) = self
                        .mailbox
                        .iter()
                        .find(|item| matches!(item, Item::Marker(_)))
                    {
                        if self.lifecycle.has_stop() && Some(*id) == self.current_drain() {
                            return Err("stopped the context before its marker".into());
                        }
                    }
                    self.stopped_at = self.current_drain();
                    self.ctx = Ctx::Stopping;
                }
                Action::Terminate => {
                    self.ctx = Ctx::None;
                    self.busy = false;
                }
                Action::Decide(exit) => {
                    let failed = exit != Exit::Normal;
                    let restarts = exit != Exit::Fatal
                        && match config.policy {
                            Policy::Never => false,
                            Policy::OnFailure => failed,
                            Policy::Always => true,
                        };
                    let verdict = if !restarts {
                        Verdict::Finish
                    } else if self.intensity_left == 0 {
                        Verdict::TooMany
                    } else {
                        self.intensity_left -= 1;
                        Verdict::Restart {
                            attempt: 1,
                            delay: config.delay,
                            alone: config.alone,
                        }
                    };
                    // The model has no polls: a failure ends an incarnation
                    // built in the same poll, a normal end a later one.
                    let built_this_poll = exit == Exit::Failed;
                    self.apply(
                        Event::Verdict {
                            verdict,
                            built_this_poll,
                        },
                        config,
                    )?;
                }
                Action::ArmBackoff(_) => self.backoff_armed = true,
                Action::AwaitDependencies => {
                    if !config.deps {
                        return Err("a child without dependencies waited for some".into());
                    }
                    self.start_timer_armed = true;
                }
                Action::Finish(ending) => {
                    if self.report.is_some() {
                        return Err("a second report".into());
                    }
                    let undelivered = self.counted_waiting();
                    self.report = Some(Report {
                        ending,
                        undelivered,
                    });
                    self.mailbox.clear();
                    self.held.clear();
                    self.ctx = Ctx::None;
                    self.busy = false;
                    self.refusing = true;
                    self.startup.get_or_insert(false);
                }
            }
        }
        Ok(())
    }

    /// Whether the incarnation drains for a strategy restart.
    fn drains_for_restart(&self) -> bool {
        matches!(
            self.lifecycle.state(),
            State::Starting { drain: Some(d) } | State::Running { drain: Some(d) } if d.for_restart
        )
    }

    /// Whether a message queued now waits behind the marker of a strategy
    /// restart's drain that no stop took over.
    fn behind_restart_marker(&self) -> bool {
        let id = match self.lifecycle.state() {
            State::Pending {
                drain_to: Some(id),
                stop: false,
                ..
            } => id,
            State::Starting { drain: Some(d) } | State::Running { drain: Some(d) }
                if d.for_restart && !d.then_stop =>
            {
                d.id
            }
            _ => return false,
        };
        self.mailbox.contains(&Item::Marker(id))
    }

    /// Forgets which messages were queued before (or behind) a restart.
    fn untag(&mut self) {
        for item in &mut self.mailbox {
            if let Item::Msg {
                before_restart,
                after_restart,
                ..
            } = item
            {
                *before_restart = false;
                *after_restart = false;
            }
        }
    }

    fn current_drain(&self) -> Option<u32> {
        match self.lifecycle.state() {
            State::Starting { drain } | State::Running { drain } => drain.map(|d| d.id),
            _ => None,
        }
    }

    /// The safety invariants.
    fn check(&self) -> Result<(), String> {
        let undelivered = self.report.map_or(0, |r| r.undelivered);
        if self.accepted != self.handled + self.cancelled + self.counted_waiting() + undelivered {
            return Err(format!(
                "accounting does not close: accepted {} = handled {} + cancelled {} + waiting {} + undelivered {}",
                self.accepted,
                self.handled,
                self.cancelled,
                self.counted_waiting(),
                undelivered
            ));
        }
        if self.lifecycle.is_done() != self.report.is_some() {
            return Err("done without a report, or a report while not done".into());
        }
        if self.lifecycle.is_done() && self.ctx != Ctx::None {
            return Err("done with a live context".into());
        }
        if matches!(
            self.lifecycle.state(),
            State::Starting { .. } | State::Running { .. }
        ) && self.ctx == Ctx::None
        {
            return Err("a live incarnation without a context".into());
        }
        if matches!(self.lifecycle.state(), State::Waiting { .. }) && self.ctx != Ctx::None {
            return Err("a waiting child with a context".into());
        }
        Ok(())
    }

    /// Progress a fair world makes on its own: one input, or none left.
    fn fair_input(&self) -> Option<Input> {
        match self.lifecycle.state() {
            State::Done { .. } => None,
            State::Pending { .. } => Some(Input::Turn),
            State::Backoff { .. } => Some(Input::BackoffOver),
            // Its dependencies finish their start.
            State::Waiting { .. } => Some(Input::DependenciesReady),
            State::Parked { .. } => Some(Input::Resume),
            // Its supervisor stops a child that gave up.
            State::GaveUp => Some(Input::Stop),
            State::Deciding { .. } => None,
            State::Starting { .. } | State::Running { .. } => match self.ctx {
                Ctx::Starting => Some(Input::StartOver),
                Ctx::Running if !self.mailbox.is_empty() => Some(Input::HandleOne),
                _ if self.busy => Some(Input::FuturesDone),
                // A context that refused to stop runs on until its grace.
                Ctx::Running if self.refused && self.grace_armed => Some(Input::GraceOver),
                Ctx::Stopping => Some(Input::ExitNormally),
                _ => None,
            },
        }
    }

    /// Stops the child and lets a fair world run: the stop must answer,
    /// having drained what waited, and the startup handle must be settled.
    fn check_stop_answers(&self, config: &Config) -> Result<(), String> {
        let mut model = self.clone();
        let stopped_live = !model.lifecycle.is_done() && model.lifecycle.state() != State::GaveUp;
        model.input(Input::Stop, config).expect("stop applies")?;
        for _ in 0..200 {
            let Some(input) = model.fair_input() else {
                break;
            };
            model
                .input(input, config)
                .unwrap_or_else(|| panic!("{input:?} applies"))?;
        }
        let Some(report) = model.report else {
            return Err(format!(
                "the stop never answered; stuck in {:?}",
                model.lifecycle
            ));
        };
        if model.startup.is_none() {
            return Err("the startup handle never answered".into());
        }
        let drained = report.ending == Ending::Stopped && report.undelivered == 0;
        // A context that refused to stop is terminated at the grace.
        let refused = model.refused && report.ending == Ending::TimedOut;
        if stopped_live && !(drained || refused || report.ending == Ending::Failed) {
            return Err(format!("a stop of a live child ended {report:?}"));
        }
        Ok(())
    }
}

fn configs() -> Vec<Config> {
    let mut configs = Vec::new();
    for policy in [Policy::Never, Policy::OnFailure, Policy::Always] {
        for delay in [Duration::ZERO, Duration::from_millis(100)] {
            for alone in [true, false] {
                for deps in [false, true] {
                    configs.push(Config {
                        policy,
                        delay,
                        alone,
                        deps,
                    });
                }
            }
        }
    }
    configs
}

/// Explores every input sequence up to `depth` from `model`; returns the
/// number of sequences (transitions) tried.
fn explore(
    model: &Model,
    config: &Config,
    depth: usize,
    seen: &mut HashSet<(Model, usize)>,
    trail: &mut Vec<Input>,
) -> u64 {
    if !seen.insert((model.clone(), depth)) {
        return 0;
    }
    if let Err(error) = model.check_stop_answers(config) {
        panic!("{config:?}, after {trail:?}: {error}");
    }
    if depth == 0 {
        return 1;
    }
    let mut tried = 1;
    for input in INPUTS {
        let mut next = model.clone();
        match next.input(input, config) {
            None => continue,
            Some(Err(error)) => panic!("{config:?}, after {trail:?} then {input:?}: {error}"),
            Some(Ok(())) => {}
        }
        trail.push(input);
        tried += explore(&next, config, depth - 1, seen, trail);
        trail.pop();
    }
    tried
}

#[test]
// The check says how much it explored, as the issue asks.
#[allow(clippy::print_stdout)]
fn every_event_sequence_keeps_the_promises() {
    let long = std::env::var("RELIABILITY_LONG").is_ok_and(|v| v == "1");
    let depth = if long { 8 } else { 6 };
    let mut total = 0;
    let mut states = 0;
    for config in configs() {
        let mut seen = HashSet::new();
        total += explore(
            &Model::new(&config),
            &config,
            depth,
            &mut seen,
            &mut Vec::new(),
        );
        states += seen.len();
    }
    println!(
        "lifecycle model check: depth {depth}, {} configurations, {states} distinct (state, depth left) \
         pairs, {total} transitions tried (every input sequence up to depth {depth} is covered)",
        configs().len()
    );
    assert!(total > 10_000, "the check explored only {total} sequences");
}
