//! What happens after an incarnation ends: restart (now or after a backoff) or
//! finish for good. Pure decisions on plain data, unit-tested here.

use std::time::Duration;

use crate::policy::{Backoff, BackoffState, EndKind, RestartPolicy};
use crate::tree::Failure;

/// How an incarnation ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum End {
    /// The actor stopped itself without reporting an error.
    Normal,
    /// A panic, an error exit, or a failed start.
    Failed(Failure),
    /// A failure that another incarnation cannot fix (a broken
    /// `Supervised::restarting`); the child is given up whatever its policy.
    Fatal(Failure),
}

impl End {
    /// How it ended, without the failure's details.
    pub(crate) fn exit(&self) -> Exit {
        match self {
            End::Normal => Exit::Normal,
            End::Failed(_) => Exit::Failed,
            End::Fatal(_) => Exit::Fatal,
        }
    }

    /// The failure, if it was one.
    pub(crate) fn into_failure(self) -> Option<Failure> {
        match self {
            End::Normal => None,
            End::Failed(f) | End::Fatal(f) => Some(f),
        }
    }
}

/// How an incarnation ended, without the failure's details: what the
/// restart rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Exit {
    Normal,
    Failed,
    /// A failure another incarnation cannot fix.
    Fatal,
}

/// The decision for a child whose incarnation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Start the next incarnation after `delay` (zero: at once).
    Restart { attempt: u32, delay: Duration },
    /// The child will not run again.
    Finish,
}

/// One child's restart rules and its position in its backoff: 16 bytes
/// in every child's link (the backoff, which few children have, is boxed
/// with its jitter source).
#[derive(Debug)]
pub(crate) struct RestartRules {
    policy: RestartPolicy,
    /// The attempt number of the latest restart (0 before the first).
    attempt: u32,
    backoff: Option<Box<BackoffState>>,
}

impl RestartRules {
    pub(crate) fn new(policy: RestartPolicy, backoff: Option<Backoff>) -> Self {
        RestartRules {
            policy,
            attempt: 0,
            backoff: backoff.map(|backoff| Box::new(BackoffState::new(backoff))),
        }
    }

    /// The child's restart policy.
    pub(crate) fn policy(&self) -> RestartPolicy {
        self.policy
    }

    /// The child's backoff, if it has one.
    pub(crate) fn backoff(&self) -> Option<&Backoff> {
        self.backoff.as_deref().map(BackoffState::backoff)
    }

    /// Decides what follows an incarnation that ended as `exit` after
    /// running for `ran_for`.
    pub(crate) fn decide(&mut self, exit: Exit, ran_for: Duration) -> Decision {
        let kind = match exit {
            Exit::Normal => EndKind::Normal,
            Exit::Failed => EndKind::Failure,
            Exit::Fatal => return Decision::Finish,
        };
        if !self.policy.restarts(kind) {
            return Decision::Finish;
        }
        let (attempt, delay) = match self.backoff.as_deref_mut() {
            Some(backoff) => backoff.next(self.attempt, ran_for),
            None => (self.attempt.saturating_add(1), Duration::ZERO),
        };
        self.attempt = attempt;
        Decision::Restart { attempt, delay }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{FailureKind, FailurePhase};

    fn failed() -> End {
        End::Failed(Failure::new(
            FailureKind::Panic,
            FailurePhase::Running,
            "boom".into(),
        ))
    }

    #[test]
    fn immediate_restarts_count_attempts_with_no_delay() {
        let mut rules = RestartRules::new(RestartPolicy::OnFailure, None);
        for attempt in 1..=3 {
            assert_eq!(
                rules.decide(failed().exit(), Duration::ZERO),
                Decision::Restart {
                    attempt,
                    delay: Duration::ZERO
                }
            );
        }
    }

    #[test]
    fn backoff_grows_and_resets_after_a_stable_run() {
        let backoff = Backoff::new(Duration::from_millis(10), Duration::from_secs(1))
            .jitter(0.0)
            .stable_after(Duration::from_secs(5));
        let mut rules = RestartRules::new(RestartPolicy::Always, Some(backoff));
        let delay = |d: Decision| match d {
            Decision::Restart { delay, .. } => delay.as_millis(),
            Decision::Finish => panic!("expected a restart"),
        };
        assert_eq!(delay(rules.decide(failed().exit(), Duration::ZERO)), 10);
        assert_eq!(delay(rules.decide(failed().exit(), Duration::ZERO)), 20);
        assert_eq!(delay(rules.decide(Exit::Normal, Duration::ZERO)), 40);
        assert_eq!(
            delay(rules.decide(failed().exit(), Duration::from_secs(5))),
            10
        );
    }

    #[test]
    fn fatal_ends_finish_whatever_the_policy() {
        let fatal = End::Fatal(Failure::new(
            FailureKind::Error,
            FailurePhase::Restarting,
            "x".into(),
        ));
        let mut rules = RestartRules::new(RestartPolicy::Always, None);
        assert_eq!(rules.decide(fatal.exit(), Duration::ZERO), Decision::Finish);
    }

    #[test]
    fn policies_map_ends_to_decisions() {
        let restarts = |policy, end: &End| {
            matches!(
                RestartRules::new(policy, None).decide(end.exit(), Duration::ZERO),
                Decision::Restart { .. }
            )
        };
        assert!(!restarts(RestartPolicy::Never, &failed()));
        assert!(!restarts(RestartPolicy::OnFailure, &End::Normal));
        assert!(restarts(RestartPolicy::OnFailure, &failed()));
        assert!(restarts(RestartPolicy::Always, &End::Normal));
    }
}
