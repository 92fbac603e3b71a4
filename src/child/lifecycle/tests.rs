//! Unit tests of the lifecycle, event by event, and the model check.

use super::*;
use crate::tree::FailureKind;

fn panic_in(phase: FailurePhase) -> End {
    End::Failed(Failure::new(FailureKind::Panic, phase, "boom".into()))
}

fn running() -> Lifecycle {
    let mut lifecycle = Lifecycle::new();
    assert_eq!(lifecycle.step(Event::Turn).as_slice(), [Action::Build]);
    assert!(lifecycle.step(Event::Built).is_empty());
    lifecycle.step(Event::StartOver);
    assert_eq!(lifecycle.node_state(), NodeState::Running);
    lifecycle
}

/// A running child whose incarnation panicked in `phase`, to be started
/// again at once.
fn restarting_after(phase: FailurePhase) -> Lifecycle {
    let mut lifecycle = running();
    lifecycle.step(Event::Ended(panic_in(phase)));
    lifecycle.step(Event::Verdict(Verdict::Restart {
        attempt: 1,
        delay: Duration::ZERO,
        alone: true,
    }));
    lifecycle
}

#[test]
fn a_stop_while_running_drains_to_its_marker_then_waits_for_every_message() {
    let mut lifecycle = running();
    let actions = lifecycle.step(Event::Stop);
    assert_eq!(
        actions.as_slice(),
        [Action::Refuse, Action::ArmGrace, Action::QueueMarker(1)]
    );
    assert_eq!(lifecycle.node_state(), NodeState::Stopping);
    // Not before the marker, and not before every message is settled.
    assert!(lifecycle.step(Event::Quiet { settled: true }).is_empty());
    assert!(lifecycle.step(Event::MarkerReached(1)).is_empty());
    assert!(lifecycle.step(Event::Quiet { settled: false }).is_empty());
    assert_eq!(
        lifecycle.step(Event::Quiet { settled: true }).as_slice(),
        [Action::StopContext]
    );
    assert_eq!(
        lifecycle.step(Event::Ended(End::Normal)).as_slice(),
        [Action::Finish(Ending::Stopped)]
    );
    assert_eq!(lifecycle.node_state(), NodeState::Stopped);
}

#[test]
fn a_stale_marker_does_not_end_a_later_drain() {
    let mut lifecycle = running();
    lifecycle.step(Event::Restart);
    // The strategy drain ran out of grace: its marker stays in the mailbox.
    lifecycle.step(Event::GraceOver);
    lifecycle.step(Event::Resume);
    lifecycle.step(Event::Turn);
    lifecycle.step(Event::Turn);
    lifecycle.step(Event::Built);
    lifecycle.step(Event::StartOver);
    assert_eq!(
        lifecycle.step(Event::Stop).as_slice(),
        [Action::Refuse, Action::ArmGrace, Action::QueueMarker(2)]
    );
    lifecycle.step(Event::MarkerReached(1));
    assert!(lifecycle.step(Event::Quiet { settled: true }).is_empty());
    lifecycle.step(Event::MarkerReached(2));
    assert_eq!(
        lifecycle.step(Event::Quiet { settled: true }).as_slice(),
        [Action::StopContext]
    );
}

#[test]
fn a_stop_between_two_incarnations_starts_the_next_to_drain() {
    let mut lifecycle = restarting_after(FailurePhase::Running);
    assert_eq!(
        lifecycle.step(Event::Stop).as_slice(),
        [Action::Refuse, Action::ArmGrace]
    );
    assert_eq!(lifecycle.step(Event::Turn).as_slice(), [Action::Yield]);
    assert_eq!(lifecycle.step(Event::Turn).as_slice(), [Action::Build]);
    assert_eq!(
        lifecycle.step(Event::Built).as_slice(),
        [Action::QueueMarker(1)]
    );
}

#[test]
fn a_stop_during_a_backoff_starts_the_next_incarnation_at_once() {
    let mut lifecycle = running();
    lifecycle.step(Event::Ended(panic_in(FailurePhase::Running)));
    let delay = Duration::from_secs(10);
    let actions = lifecycle.step(Event::Verdict(Verdict::Restart {
        attempt: 1,
        delay,
        alone: true,
    }));
    assert!(actions.contains(&Action::ArmBackoff(delay)));
    lifecycle.step(Event::Stop);
    assert_eq!(lifecycle.node_state(), NodeState::Stopping);
    lifecycle.step(Event::Turn);
    assert_eq!(lifecycle.step(Event::Turn).as_slice(), [Action::Build]);
}

#[test]
fn an_incarnation_that_ends_mid_drain_is_followed_by_one_that_drains_the_rest() {
    let mut lifecycle = running();
    lifecycle.step(Event::Stop);
    let actions = lifecycle.step(Event::Ended(panic_in(FailurePhase::Running)));
    assert!(matches!(actions.last(), Some(Action::Decide(_))));
    lifecycle.step(Event::Verdict(Verdict::Restart {
        attempt: 1,
        delay: Duration::from_secs(5),
        alone: true,
    }));
    assert!(matches!(
        lifecycle.state(),
        State::Pending { stop: true, .. }
    ));
}

#[test]
fn a_given_up_child_stopped_ends_failed() {
    let mut lifecycle = running();
    lifecycle.step(Event::Ended(panic_in(FailurePhase::Running)));
    assert_eq!(
        lifecycle.step(Event::Verdict(Verdict::TooMany)).as_slice(),
        [Action::Tell(Notice::GaveUp)]
    );
    assert_eq!(lifecycle.node_state(), NodeState::Failed);
    assert_eq!(
        lifecycle.step(Event::Stop).as_slice(),
        [Action::Refuse, Action::Finish(Ending::Failed)]
    );
}

#[test]
fn a_restart_drain_becomes_a_stop_when_a_stop_comes() {
    let mut lifecycle = running();
    lifecycle.step(Event::Restart);
    assert_eq!(lifecycle.step(Event::Stop).as_slice(), [Action::Refuse]);
    lifecycle.step(Event::MarkerReached(1));
    // Now every accepted message must be settled too.
    assert!(lifecycle.step(Event::Quiet { settled: false }).is_empty());
    assert_eq!(
        lifecycle.step(Event::Quiet { settled: true }).as_slice(),
        [Action::StopContext]
    );
}

fn waiting() -> Lifecycle {
    let mut lifecycle = Lifecycle::with_dependencies();
    assert_eq!(
        lifecycle.step(Event::Turn).as_slice(),
        [Action::AwaitDependencies]
    );
    assert_eq!(lifecycle.node_state(), NodeState::Waiting);
    lifecycle
}

fn not_ready() -> Failure {
    Failure::new(
        FailureKind::Error,
        FailurePhase::Waiting,
        "/app/store did not finish its start".into(),
    )
}

#[test]
fn a_child_with_dependencies_builds_each_incarnation_only_once_they_are_ready() {
    let mut lifecycle = waiting();
    // Nothing but the dependencies' readiness (or a stop, a kill, a
    // restart, the timeout) moves it on.
    for event in [
        Event::Turn,
        Event::BackoffOver,
        Event::Resume,
        Event::GraceOver,
    ] {
        assert!(lifecycle.step(event).is_empty());
        assert_eq!(lifecycle.node_state(), NodeState::Waiting);
    }
    assert_eq!(
        lifecycle.step(Event::DependenciesReady).as_slice(),
        [Action::Build]
    );
    lifecycle.step(Event::Built);
    lifecycle.step(Event::StartOver);
    assert!(lifecycle.is_ready());
    // The next incarnation waits again.
    lifecycle.step(Event::Ended(panic_in(FailurePhase::Running)));
    lifecycle.step(Event::Verdict(Verdict::Restart {
        attempt: 1,
        delay: Duration::ZERO,
        alone: true,
    }));
    assert_eq!(lifecycle.step(Event::Turn).as_slice(), [Action::Yield]);
    assert_eq!(
        lifecycle.step(Event::Turn).as_slice(),
        [Action::AwaitDependencies]
    );
}

#[test]
fn a_start_timeout_fails_the_start_attempt_and_asks_the_restart_rules() {
    let mut lifecycle = waiting();
    let failure = not_ready();
    assert_eq!(
        lifecycle
            .step(Event::StartTimeout(failure.clone()))
            .as_slice(),
        [
            Action::RecordFailure(failure),
            Action::SettleStart { failed: true },
            Action::Emit(Emit::Failed),
            Action::Decide(Exit::Failed),
        ]
    );
    assert_eq!(
        lifecycle.step(Event::Verdict(Verdict::Finish)).as_slice(),
        [Action::Finish(Ending::Failed)]
    );
    assert_eq!(lifecycle.node_state(), NodeState::Failed);
}

#[test]
fn a_stop_while_waiting_keeps_waiting_within_its_grace_then_drains() {
    let mut lifecycle = waiting();
    assert_eq!(
        lifecycle.step(Event::Stop).as_slice(),
        [Action::Refuse, Action::ArmGrace]
    );
    assert_eq!(lifecycle.node_state(), NodeState::Stopping);
    assert!(lifecycle.has_stop() && lifecycle.grace_runs());
    // Another stop changes nothing.
    assert!(lifecycle.step(Event::Stop).is_empty());
    assert_eq!(
        lifecycle.step(Event::DependenciesReady).as_slice(),
        [Action::Build]
    );
    assert_eq!(
        lifecycle.step(Event::Built).as_slice(),
        [Action::QueueMarker(1)]
    );
}

#[test]
fn a_stop_while_waiting_in_vain_ends_timed_out_at_its_grace() {
    let mut lifecycle = waiting();
    lifecycle.step(Event::Stop);
    assert_eq!(
        lifecycle.step(Event::GraceOver).as_slice(),
        [Action::Finish(Ending::TimedOut)]
    );
    assert!(lifecycle.is_done());
}

#[test]
fn a_waiting_child_is_parked_by_a_strategy_restart_and_killed_at_once() {
    let mut lifecycle = waiting();
    lifecycle.step(Event::Restart);
    assert!(matches!(lifecycle.state(), State::Parked { .. }));
    lifecycle.step(Event::Resume);
    lifecycle.step(Event::Turn);
    assert_eq!(
        lifecycle.step(Event::Turn).as_slice(),
        [Action::AwaitDependencies]
    );
    assert_eq!(
        lifecycle.step(Event::Kill).as_slice(),
        [Action::Finish(Ending::TimedOut)]
    );
}

#[test]
fn a_restart_in_a_later_poll_builds_at_once() {
    let mut lifecycle = restarting_after(FailurePhase::Running);
    // The incarnation that ended was built in an earlier poll: the arbiter
    // ran its other tasks since, so no yield is owed.
    assert_eq!(lifecycle.step(Event::LaterTurn).as_slice(), [Action::Build]);
}

#[test]
fn a_restart_in_the_poll_that_built_the_incarnation_yields_first() {
    let mut lifecycle = restarting_after(FailurePhase::Starting);
    assert_eq!(lifecycle.step(Event::Turn).as_slice(), [Action::Yield]);
    // Its next turn, in the next poll, builds.
    assert_eq!(lifecycle.step(Event::LaterTurn).as_slice(), [Action::Build]);
}

#[test]
fn a_later_turn_of_a_child_with_dependencies_waits_for_them() {
    let mut lifecycle = Lifecycle::with_dependencies();
    assert_eq!(
        lifecycle.step(Event::LaterTurn).as_slice(),
        [Action::AwaitDependencies]
    );
    assert!(matches!(lifecycle.state(), State::Waiting { .. }));
}

#[test]
fn a_later_turn_is_ignored_outside_pending() {
    let mut lifecycle = running();
    let before = lifecycle;
    assert!(lifecycle.step(Event::LaterTurn).is_empty());
    assert_eq!(lifecycle, before);
}

#[test]
fn a_strategy_restart_between_two_incarnations_publishes_no_second_restarting() {
    // Decided to restart at once: `Restarting` is out; the supervisor's
    // restart parks the child without publishing it again.
    let mut lifecycle = restarting_after(FailurePhase::Running);
    assert!(lifecycle.step(Event::Restart).is_empty());
    assert_eq!(
        lifecycle.state(),
        State::Parked {
            attempt: 1,
            delay: Duration::ZERO
        }
    );
    // The same during a backoff.
    let mut lifecycle = running();
    lifecycle.step(Event::Ended(panic_in(FailurePhase::Running)));
    let delay = Duration::from_secs(10);
    lifecycle.step(Event::Verdict(Verdict::Restart {
        attempt: 1,
        delay,
        alone: true,
    }));
    assert!(lifecycle.step(Event::Restart).is_empty());
    assert!(matches!(
        lifecycle.state(),
        State::Parked { attempt: 1, .. }
    ));
}

#[test]
fn a_strategy_restart_before_the_first_incarnation_publishes_restarting() {
    let mut lifecycle = waiting();
    assert_eq!(
        lifecycle.step(Event::Restart).as_slice(),
        [Action::Emit(Emit::Restarting {
            attempt: 1,
            delay: Duration::ZERO
        })]
    );
}
