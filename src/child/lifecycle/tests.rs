//! Unit tests of the lifecycle, event by event, and the model check.

use super::*;
use crate::tree::FailureKind;

fn panic_in(phase: FailurePhase) -> End {
    End::Failed(Failure::new(FailureKind::Panic, phase, "boom".into()))
}

fn running() -> Lifecycle {
    let mut lifecycle = Lifecycle::new();
    assert_eq!(
        lifecycle.step(Event::Turn).as_slice(),
        [Action::BuildAndStart]
    );
    assert!(lifecycle.is_starting());
    lifecycle.step(Event::StartOver);
    assert_eq!(lifecycle.node_state(), NodeState::Running);
    lifecycle
}

/// A running child whose incarnation panicked in `phase`, to be started
/// again at once.
fn restarting_after(phase: FailurePhase) -> Lifecycle {
    let mut lifecycle = running();
    panicked_and_restarted(&mut lifecycle, phase);
    lifecycle
}

/// Ends the incarnation with a panic in `phase`, in the poll that built it,
/// and answers the restart rules with an immediate restart, alone.
fn panicked_and_restarted(lifecycle: &mut Lifecycle, phase: FailurePhase) {
    lifecycle.step(Event::Ended {
        end: panic_in(phase),
        settled: false,
    });
    lifecycle.step(Event::Verdict {
        verdict: Verdict::Restart {
            attempt: 1,
            delay: Duration::ZERO,
            alone: true,
        },
        built_this_poll: true,
    });
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
        lifecycle
            .step(Event::Ended {
                end: End::Normal,
                settled: false
            })
            .as_slice(),
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
    lifecycle.step(Event::Ended {
        end: panic_in(FailurePhase::Running),
        settled: false,
    });
    let delay = Duration::from_secs(10);
    let actions = lifecycle.step(Event::Verdict {
        verdict: Verdict::Restart {
            attempt: 1,
            delay,
            alone: true,
        },
        built_this_poll: true,
    });
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
    let actions = lifecycle.step(Event::Ended {
        end: panic_in(FailurePhase::Running),
        settled: false,
    });
    assert!(matches!(actions.last(), Some(Action::Decide(_))));
    lifecycle.step(Event::Verdict {
        verdict: Verdict::Restart {
            attempt: 1,
            delay: Duration::from_secs(5),
            alone: true,
        },
        built_this_poll: true,
    });
    assert!(matches!(
        lifecycle.state(),
        State::Pending { stop: true, .. }
    ));
}

#[test]
fn a_given_up_child_stopped_ends_failed() {
    let mut lifecycle = running();
    lifecycle.step(Event::Ended {
        end: panic_in(FailurePhase::Running),
        settled: false,
    });
    assert_eq!(
        lifecycle
            .step(Event::Verdict {
                verdict: Verdict::TooMany,
                built_this_poll: true,
            })
            .as_slice(),
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
        [Action::BuildAndStart]
    );
    lifecycle.step(Event::StartOver);
    assert!(lifecycle.is_ready());
    // The next incarnation waits again.
    panicked_and_restarted(&mut lifecycle, FailurePhase::Running);
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
            Action::StartFailed,
            Action::Emit(Emit::Failed),
            Action::Decide(Exit::Failed),
        ]
    );
    assert_eq!(
        lifecycle
            .step(Event::Verdict {
                verdict: Verdict::Finish,
                built_this_poll: true,
            })
            .as_slice(),
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
    // The turn of a later poll than the one that built the incarnation: the
    // arbiter ran its other tasks since, so no yield is owed.
    assert_eq!(
        lifecycle.step(Event::LaterTurn).as_slice(),
        [Action::BuildAndStart]
    );
    assert!(lifecycle.is_starting());

    // The verdict itself, in such a poll, builds the next incarnation.
    let mut lifecycle = running();
    lifecycle.step(Event::Ended {
        end: panic_in(FailurePhase::Running),
        settled: false,
    });
    let (attempt, delay) = (1, Duration::ZERO);
    let verdict = Verdict::Restart {
        attempt,
        delay,
        alone: true,
    };
    assert_eq!(
        lifecycle
            .step(Event::Verdict {
                verdict,
                built_this_poll: false,
            })
            .as_slice(),
        [
            Action::Emit(Emit::Restarting { attempt, delay }),
            Action::BuildAndStart
        ]
    );
    assert!(lifecycle.is_starting());
    // A build that failed ends the start attempt, as in `Pending`.
    let failure = Failure::new(FailureKind::Error, FailurePhase::Factory, "no".into());
    let actions = lifecycle.step(Event::Ended {
        end: End::Failed(failure.clone()),
        settled: true,
    });
    assert_eq!(
        actions.as_slice(),
        [
            Action::RecordFailure(failure),
            Action::StartFailed,
            Action::Emit(Emit::Failed),
            Action::Decide(Exit::Failed),
        ]
    );
}

#[test]
fn a_restart_in_the_poll_that_built_the_incarnation_yields_first() {
    let mut lifecycle = restarting_after(FailurePhase::Starting);
    assert_eq!(lifecycle.step(Event::Turn).as_slice(), [Action::Yield]);
    // Its next turn, in the next poll, builds.
    assert_eq!(
        lifecycle.step(Event::LaterTurn).as_slice(),
        [Action::BuildAndStart]
    );
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

/// A restart between two incarnations queues its marker at once; the next
/// incarnation, built at once, drains to it, then is parked: what was
/// accepted before the restart never reaches the fresh incarnation.
/// `Restarting` for that next incarnation is out already: parking it
/// publishes the one for the fresh incarnation, nothing more.
#[test]
fn a_strategy_restart_between_two_incarnations_drains_in_the_next_then_parks() {
    let mut lifecycle = restarting_after(FailurePhase::Running);
    assert_eq!(
        lifecycle.step(Event::Restart).as_slice(),
        [Action::ArmGrace, Action::QueueMarker(1)]
    );
    assert_eq!(
        lifecycle.state(),
        State::Pending {
            attempt: 1,
            stop: false,
            yielded: false,
            drain_to: Some(1),
        }
    );
    assert!(lifecycle.grace_runs());
    assert!(!lifecycle.has_stop());
    assert_eq!(lifecycle.node_state(), NodeState::Stopping);
    // Another restart changes nothing.
    assert!(lifecycle.step(Event::Restart).is_empty());
    assert_eq!(lifecycle.step(Event::LaterTurn).as_slice(), [Action::Build]);
    assert_eq!(lifecycle.step(Event::Built).as_slice(), [Action::WindDown]);
    assert!(lifecycle.is_draining());
    lifecycle.step(Event::StartOver);
    assert!(lifecycle.step(Event::Quiet { settled: false }).is_empty());
    lifecycle.step(Event::MarkerReached(1));
    // A strategy drain is over at its marker, settled or not.
    assert_eq!(
        lifecycle.step(Event::Quiet { settled: false }).as_slice(),
        [Action::StopContext]
    );
    assert_eq!(
        lifecycle
            .step(Event::Ended {
                end: End::Normal,
                settled: false
            })
            .as_slice(),
        [Action::Emit(Emit::Restarting {
            attempt: 1,
            delay: Duration::ZERO
        })]
    );
    assert!(lifecycle.is_at_rest());
}

/// The same during a backoff: the rest of the backoff is not waited out.
#[test]
fn a_strategy_restart_during_a_backoff_drains_in_the_next_incarnation_at_once() {
    let mut lifecycle = running();
    lifecycle.step(Event::Ended {
        end: panic_in(FailurePhase::Running),
        settled: false,
    });
    let delay = Duration::from_secs(10);
    lifecycle.step(Event::Verdict {
        verdict: Verdict::Restart {
            attempt: 1,
            delay,
            alone: true,
        },
        built_this_poll: true,
    });
    assert_eq!(
        lifecycle.step(Event::Restart).as_slice(),
        [Action::ArmGrace, Action::QueueMarker(1)]
    );
    assert!(matches!(
        lifecycle.state(),
        State::Pending {
            attempt: 1,
            drain_to: Some(1),
            ..
        }
    ));
    assert_eq!(lifecycle.step(Event::Turn).as_slice(), [Action::Yield]);
    assert_eq!(lifecycle.step(Event::Turn).as_slice(), [Action::Build]);
    assert_eq!(lifecycle.step(Event::Built).as_slice(), [Action::WindDown]);
}

/// A restart drain whose incarnation ends before its marker (a failure, or
/// a normal end) is taken over by another incarnation, which drains the
/// rest to the same marker; each end is published (`Failed`, then
/// `Restarting`), and it is parked once the marker is reached.
#[test]
fn a_restart_drain_cut_short_is_taken_over_by_the_next_incarnation() {
    let mut lifecycle = running();
    lifecycle.step(Event::Restart);
    let actions = lifecycle.step(Event::Ended {
        end: panic_in(FailurePhase::Running),
        settled: false,
    });
    assert!(matches!(actions[0], Action::RecordFailure(_)));
    assert_eq!(
        actions[1..],
        [
            Action::Emit(Emit::Failed),
            Action::Emit(Emit::Restarting {
                attempt: 1,
                delay: Duration::ZERO
            }),
        ]
    );
    assert!(matches!(
        lifecycle.state(),
        State::Pending {
            stop: false,
            drain_to: Some(1),
            ..
        }
    ));
    assert!(!lifecycle.is_at_rest());
    lifecycle.step(Event::Turn);
    lifecycle.step(Event::Turn);
    lifecycle.step(Event::Built);
    lifecycle.step(Event::StartOver);
    // A normal end before the marker: the same again, no `Failed`.
    assert_eq!(
        lifecycle
            .step(Event::Ended {
                end: End::Normal,
                settled: false
            })
            .as_slice(),
        [Action::Emit(Emit::Restarting {
            attempt: 1,
            delay: Duration::ZERO
        })]
    );
    lifecycle.step(Event::LaterTurn);
    lifecycle.step(Event::Built);
    lifecycle.step(Event::StartOver);
    lifecycle.step(Event::MarkerReached(1));
    lifecycle.step(Event::Quiet { settled: true });
    lifecycle.step(Event::Ended {
        end: End::Normal,
        settled: false,
    });
    assert!(matches!(lifecycle.state(), State::Parked { .. }));
}

/// An incarnation built to drain that cannot start (its factory, or its
/// start, fails) is not followed by another that would fail again: the
/// child is parked, and what waits goes to the fresh incarnation.
#[test]
fn a_restart_drain_whose_incarnation_cannot_start_parks_the_child() {
    // The factory fails (no `Built`), or `started` does.
    for (phase, built) in [
        (FailurePhase::Factory, false),
        (FailurePhase::Starting, true),
    ] {
        let mut lifecycle = restarting_after(FailurePhase::Running);
        lifecycle.step(Event::Restart);
        lifecycle.step(Event::LaterTurn);
        if built {
            lifecycle.step(Event::Built);
        }
        let actions = lifecycle.step(Event::Ended {
            end: panic_in(phase),
            settled: false,
        });
        assert!(actions.contains(&Action::Emit(Emit::Failed)), "{phase:?}");
        assert!(
            matches!(lifecycle.state(), State::Parked { .. }),
            "{phase:?}"
        );
    }
}

/// A stop between the restart and the next incarnation takes the drain
/// over (its grace already runs); the grace of the restart's drain, if it
/// runs out first, parks the child.
#[test]
fn a_stop_or_the_grace_before_the_restart_drains_incarnation() {
    let mut lifecycle = restarting_after(FailurePhase::Running);
    lifecycle.step(Event::Restart);
    assert_eq!(lifecycle.step(Event::Stop).as_slice(), [Action::Refuse]);
    assert!(lifecycle.has_stop());
    lifecycle.step(Event::LaterTurn);
    // The stop's own marker: it waits for every accepted message.
    assert_eq!(
        lifecycle.step(Event::Built).as_slice(),
        [Action::QueueMarker(2)]
    );

    let mut lifecycle = restarting_after(FailurePhase::Running);
    lifecycle.step(Event::Restart);
    assert_eq!(
        lifecycle.step(Event::GraceOver).as_slice(),
        [Action::Emit(Emit::Restarting {
            attempt: 1,
            delay: Duration::ZERO
        })]
    );
    assert!(lifecycle.is_at_rest());
}

/// A child with dependencies is parked at once between two incarnations:
/// an incarnation built to drain would wait for siblings the same restart
/// parks.
#[test]
fn a_strategy_restart_between_incarnations_of_a_child_with_dependencies_parks_it() {
    let mut lifecycle = Lifecycle::with_dependencies();
    lifecycle.step(Event::Turn);
    lifecycle.step(Event::DependenciesReady);
    lifecycle.step(Event::Built);
    lifecycle.step(Event::StartOver);
    panicked_and_restarted(&mut lifecycle, FailurePhase::Running);
    assert!(lifecycle.step(Event::Restart).is_empty());
    assert_eq!(
        lifecycle.state(),
        State::Parked {
            attempt: 1,
            delay: Duration::ZERO
        }
    );
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

/// A child with dependencies whose restart drain is cut short is parked,
/// not started again to drain: that incarnation would wait for siblings
/// the same restart parks.
#[test]
fn a_restart_drain_of_a_child_with_dependencies_cut_short_parks_it() {
    let mut lifecycle = Lifecycle::with_dependencies();
    lifecycle.step(Event::Turn);
    lifecycle.step(Event::DependenciesReady);
    lifecycle.step(Event::Built);
    lifecycle.step(Event::StartOver);
    lifecycle.step(Event::Restart);
    lifecycle.step(Event::Ended {
        end: End::Normal,
        settled: false,
    });
    assert!(matches!(lifecycle.state(), State::Parked { .. }));
}

/// The marker a restart's drain ends at is named while the incarnation
/// drains for the restart only: not once the marker is reached, not once a
/// stop took the drain over, and never for a stop's own drain.
#[test]
fn the_restart_marker_is_named_only_while_a_restart_drain_waits_for_it() {
    let mut lifecycle = running();
    assert_eq!(lifecycle.restart_marker(), None);
    lifecycle.step(Event::Restart);
    assert_eq!(lifecycle.restart_marker(), Some(1));
    lifecycle.step(Event::MarkerReached(1));
    assert_eq!(lifecycle.restart_marker(), None);

    let mut taken_over = running();
    taken_over.step(Event::Restart);
    taken_over.step(Event::Stop);
    assert_eq!(taken_over.restart_marker(), None);

    let mut stopped = running();
    stopped.step(Event::Stop);
    assert_eq!(stopped.restart_marker(), None);

    // Between two incarnations the marker is queued; the incarnation built
    // to drain to it names it from its start.
    let mut between = restarting_after(FailurePhase::Running);
    between.step(Event::Restart);
    assert_eq!(between.restart_marker(), None);
    between.step(Event::LaterTurn);
    between.step(Event::Built);
    assert!(between.is_starting());
    assert_eq!(between.restart_marker(), Some(1));
}

/// A restart's drain whose context stopped at its marker: no `StopContext`
/// is asked for again, the end parks the child, and a stop that comes
/// before the end takes over with the next incarnation, which drains what
/// was queued behind the marker (whatever the policy).
#[test]
fn a_restart_drain_stopped_at_its_marker_leaves_what_is_behind_it_to_the_next_incarnation() {
    let mut lifecycle = running();
    lifecycle.step(Event::Restart);
    assert!(lifecycle.step(Event::StoppedAtMarker(1)).is_empty());
    assert!(lifecycle.step(Event::Quiet { settled: false }).is_empty());
    lifecycle.step(Event::Ended {
        end: End::Normal,
        settled: false,
    });
    assert!(matches!(lifecycle.state(), State::Parked { .. }));

    let mut stopped = running();
    stopped.step(Event::Restart);
    stopped.step(Event::StoppedAtMarker(1));
    assert_eq!(stopped.step(Event::Stop).as_slice(), [Action::Refuse]);
    assert!(stopped
        .step(Event::Ended {
            end: End::Normal,
            settled: false
        })
        .is_empty());
    assert!(matches!(
        stopped.state(),
        State::Pending {
            stop: true,
            drain_to: None,
            ..
        }
    ));
}

/// Past a restart's marker whose context was not stopped there (it owned
/// futures in flight), the incarnation holds back what it reads; a stop
/// that comes then drains in this incarnation, what was held first: no
/// incarnation is built for it.
#[test]
fn a_stop_past_a_restart_marker_drains_what_was_held_in_the_same_incarnation() {
    let mut lifecycle = running();
    lifecycle.step(Event::Restart);
    assert!(!lifecycle.is_past_restart_marker());
    lifecycle.step(Event::MarkerReached(1));
    assert!(lifecycle.is_past_restart_marker());
    assert_eq!(
        lifecycle.step(Event::Stop).as_slice(),
        [Action::ReplayHeld, Action::Refuse]
    );
    assert!(
        !lifecycle.is_past_restart_marker(),
        "nothing more held back"
    );
    assert!(lifecycle.step(Event::Quiet { settled: false }).is_empty());
    assert_eq!(
        lifecycle.step(Event::Quiet { settled: true }).as_slice(),
        [Action::StopContext]
    );
    lifecycle.step(Event::Ended {
        end: End::Normal,
        settled: true,
    });
    assert!(matches!(lifecycle.state(), State::Done { .. }));
}

/// A context that refuses to stop at its restart's marker is asked again
/// at its next quiet poll; if a stop took the drain over meanwhile, the
/// stop drains in it, what it held first.
#[test]
fn a_context_that_refuses_to_stop_is_asked_again_and_a_stop_drains_in_it() {
    let mut restart = running();
    restart.step(Event::Restart);
    restart.step(Event::StoppedAtMarker(1));
    assert!(restart.is_context_stopped());
    assert!(restart.step(Event::Refused).is_empty());
    assert!(!restart.is_context_stopped());
    assert!(restart.is_past_restart_marker(), "still holding back");
    assert_eq!(
        restart.step(Event::Quiet { settled: false }).as_slice(),
        [Action::StopContext]
    );

    let mut stopped = running();
    stopped.step(Event::Restart);
    stopped.step(Event::StoppedAtMarker(1));
    assert_eq!(stopped.step(Event::Stop).as_slice(), [Action::Refuse]);
    assert_eq!(
        stopped.step(Event::Refused).as_slice(),
        [Action::ReplayHeld]
    );
    assert!(!stopped.is_past_restart_marker());
    assert!(stopped.step(Event::Quiet { settled: false }).is_empty());
    assert_eq!(
        stopped.step(Event::Quiet { settled: true }).as_slice(),
        [Action::StopContext]
    );
    stopped.step(Event::Ended {
        end: End::Normal,
        settled: true,
    });
    assert!(matches!(stopped.state(), State::Done { .. }));
}

/// An incarnation that ends on its own once its stop's marker was handled,
/// with every accepted message settled, ends the child whatever its
/// policy: no incarnation is built to drain nothing. With a message still
/// waiting (one accepted as the stop began, queued behind the marker), the
/// restart rules decide, so that a next incarnation may drain it.
#[test]
fn an_incarnation_ending_on_its_own_after_its_stop_drain_ends_the_child() {
    for end in [End::Normal, panic_in(FailurePhase::Running)] {
        let failed = end != End::Normal;
        let mut lifecycle = running();
        lifecycle.step(Event::Stop);
        lifecycle.step(Event::MarkerReached(1));
        let actions = lifecycle.step(Event::Ended {
            end: end.clone(),
            settled: true,
        });
        let ending = if failed {
            Ending::Failed
        } else {
            Ending::Stopped
        };
        assert_eq!(actions.last(), Some(&Action::Finish(ending)), "{end:?}");
        assert_eq!(lifecycle.state(), State::Done { failed });

        let mut waiting = running();
        waiting.step(Event::Stop);
        waiting.step(Event::MarkerReached(1));
        let actions = waiting.step(Event::Ended {
            end,
            settled: false,
        });
        assert!(matches!(actions.last(), Some(Action::Decide(_))));
        assert_eq!(waiting.state(), State::Deciding { stop: true, failed });

        // Before its marker, a settled end decides too: raw messages may
        // still wait in front of the marker.
        let mut early = running();
        early.step(Event::Stop);
        let actions = early.step(Event::Ended {
            end: End::Normal,
            settled: true,
        });
        assert!(matches!(actions.last(), Some(Action::Decide(_))));
    }
}
