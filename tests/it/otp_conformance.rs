//! Erlang/OTP's supervisor test suite (`lib/stdlib/test/supervisor_SUITE.erl`),
//! case by case, in this library's terms: one test per OTP case that has a
//! counterpart here, named after it. The table in
//! `docs/otp_conformance.md` says which hold as in OTP, which differ by
//! design (the test then asserts our behaviour and the table says why), and
//! which have no counterpart.
//!
//! The translation: `permanent` is [`RestartPolicy::Always`], `transient`
//! is [`RestartPolicy::OnFailure`], `temporary` is [`RestartPolicy::Never`]
//! (and `.remove_on_exit()`: it leaves the table when it ends); a child exiting
//! `normal` calls `ctx.stop()`, `abnormal` panics; `terminate_child` is
//! [`StopChild`], `delete_child` [`RemoveChild`], `restart_child`
//! [`RestartChild`], `which_children` and `count_children` are [`Inspect`];
//! `simple_one_for_one` is a [`Pool`](actix_supervisor::pool::Pool) (the
//! `dynamic_pool` tests). OTP's `supervisor_1` child is [`Kid`] below; its
//! `supervisor_deadlock` child (a start that fails while a flag is set) is
//! [`kid_failing_while`].
//!
//! Nothing sleeps: the tests wait on replies, on the tree, or on paused
//! time (where an OTP case waits seconds, virtual time passes instead).

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::testkit;
use actix_supervisor::{
    events::EventKind, pool::Pool, snapshot::NodeState, Backoff, BuildError, ChildHandle,
    ChildSpec, ControlError, Grace, Inspect, Kill, RemoveChild, RestartChild, RestartIntensity,
    RestartPolicy, StartChild, StartError, Stop, StopChild, StopOutcome, Strategy, SupervisorActor,
};
use common::{node, recorder, within, Gate, Recorder, Records};

/// OTP's `supervisor_1`: a child that logs `name started n` and
/// `name stopped n` (n its incarnation), dies (panics) or exits normally on
/// request, and answers its incarnation.
struct Kid {
    name: Arc<str>,
    incarnation: u64,
    log: Recorder<String>,
}

impl Actor for Kid {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.log
            .record(format!("{} started {}", self.name, self.incarnation));
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.log
            .record(format!("{} stopped {}", self.name, self.incarnation));
    }
}
actix_supervisor::supervised!(Kid);

/// `ChildPid ! die`: an abnormal exit (a panic).
#[derive(Message)]
#[rtype(result = "()")]
struct Die;

impl Handler<Die> for Kid {
    type Result = ();
    fn handle(&mut self, _: Die, _: &mut Context<Self>) {
        panic!("died");
    }
}

/// `ChildPid ! stop`: a normal exit.
#[derive(Message)]
#[rtype(result = "()")]
struct Exit;

impl Handler<Exit> for Kid {
    type Result = ();
    fn handle(&mut self, _: Exit, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// Answers the incarnation that handles it.
#[derive(Message)]
#[rtype(result = "u64")]
struct Which;

impl Handler<Which> for Kid {
    type Result = u64;
    fn handle(&mut self, _: Which, _: &mut Context<Self>) -> u64 {
        self.incarnation
    }
}

/// `{sleep, 200000}`: the child waits on a gate and handles nothing else.
#[derive(Message)]
#[rtype(result = "()")]
struct Sleep(Gate);

impl Handler<Sleep> for Kid {
    type Result = ();
    fn handle(&mut self, Sleep(gate): Sleep, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future::<_, Self>(gate.passed()));
    }
}

/// A [`Kid`] spec whose incarnations are numbered from 1.
fn kid(name: &str, log: &Recorder<String>) -> ChildSpec<Kid> {
    kid_failing_while(name, log, &Arc::new(AtomicBool::new(false)))
}

/// OTP's `supervisor_deadlock`: a [`Kid`] whose start fails while `fail`
/// is set.
fn kid_failing_while(name: &str, log: &Recorder<String>, fail: &Arc<AtomicBool>) -> ChildSpec<Kid> {
    let (log, fail) = (log.clone(), fail.clone());
    let made = AtomicU64::new(0);
    let name: Arc<str> = name.into();
    ChildSpec::try_new(name.to_string(), move || {
        let incarnation = made.fetch_add(1, Ordering::SeqCst) + 1;
        if fail.load(Ordering::SeqCst) {
            return Err(format!("{name} cannot start"));
        }
        Ok(Kid {
            name: name.clone(),
            incarnation,
            log: log.clone(),
        })
    })
}

/// OTP's restart types.
#[derive(Debug, Clone, Copy)]
enum Policy {
    Permanent,
    Transient,
    Temporary,
}

impl Policy {
    fn apply(self, spec: ChildSpec<Kid>) -> ChildSpec<Kid> {
        match self {
            Policy::Permanent => spec.restart(RestartPolicy::Always),
            Policy::Transient => spec.restart(RestartPolicy::OnFailure),
            Policy::Temporary => spec.restart(RestartPolicy::Never).remove_on_exit(),
        }
    }
}

fn flag(set: bool) -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(set))
}

/// `{one_for_one, 2, 3600}` and the like.
fn sup_test(strategy: Strategy, max_restarts: u32) -> actix_supervisor::SupervisorBuilder {
    SupervisorActor::builder("sup_test")
        .strategy(strategy)
        .intensity(RestartIntensity::new(
            max_restarts,
            Duration::from_secs(3600),
        ))
}

/// `which_children`: the names of the children, in start order, with their
/// states.
async fn which_children(sup: &Addr<SupervisorActor>) -> Vec<(String, NodeState)> {
    let tree = within(sup.send(Inspect)).await.unwrap();
    tree.root
        .children
        .iter()
        .map(|child| (child.name.clone(), child.state))
        .collect()
}

/// Waits until the supervisor itself is in a terminal state (it gave up).
async fn supervisor_gave_up(sup: &Addr<SupervisorActor>) {
    let tree = testkit::wait_until(sup, |tree| tree.root.state == NodeState::Failed).await;
    assert_eq!(tree.root.state, NodeState::Failed, "{tree}");
}

/// The next `n` lines the kids logged.
async fn next_lines(logged: &mut Records<String>, n: usize) -> Vec<String> {
    let mut lines = Vec::with_capacity(n);
    for _ in 0..n {
        lines.push(logged.next().await);
    }
    lines
}

async fn start_child<S: Into<actix_supervisor::plumbing::AnyChildSpec>>(
    sup: &Addr<SupervisorActor>,
    spec: S,
) -> Result<(), ControlError> {
    within(sup.send(StartChild::new(spec))).await.unwrap()
}

// ---------------------------------------------------------------------------
// group sup_start

/// The supervisor starts, and stops gracefully.
#[actix_rt::test]
async fn sup_start_normal() {
    let sup = sup_test(Strategy::OneForOne, 2).start().unwrap();
    let report = within(sup.send(Stop)).await.unwrap();
    assert!(report.is_drained());
    assert!(report.children.is_empty());
}

/// `init` returning an invalid value: `start_link` returns an error. Here a
/// description that cannot be used is refused before anything starts, and
/// the children it described never start.
#[actix_rt::test]
async fn sup_start_error_return() {
    let (log, _logged) = recorder();
    let good = kid("child1", &log);
    let good_handle = good.handle();
    let bad = kid("child2", &log).grace(Grace::Duration(Duration::ZERO));
    let err = sup_test(Strategy::OneForOne, 2)
        .child(good)
        .child(bad)
        .start()
        .unwrap_err();
    assert!(
        matches!(err, BuildError::InvalidField { field: "grace", .. }),
        "{err}"
    );
    assert_eq!(err.path().as_str(), "/sup_test/child2");
    assert!(matches!(
        within(good_handle.started()).await,
        Err(StartError::SupervisorGone { .. })
    ));
}

/// A child whose start fails when given to `start_child`: OTP answers
/// `{error, Reason}` and keeps nothing. Here `StartChild` answers once the
/// child is added and starting; the outcome of the start is its startup
/// handle's, and a `Never` child that failed stays listed as `Failed` (a
/// temporary one leaves).
#[actix_rt::test]
async fn sup_start_child_returns_error() {
    let (log, _logged) = recorder();
    let sup = sup_test(Strategy::OneForOne, 2).start().unwrap();
    let child1 = kid_failing_while("child1", &log, &flag(true)).restart(RestartPolicy::Never);
    let handle = child1.handle();
    start_child(&sup, child1).await.unwrap();
    match within(handle.started()).await {
        Err(StartError::StartFailed { reason, .. }) => {
            assert!(reason.message.contains("child1 cannot start"), "{reason:?}")
        }
        other => panic!("expected a failed start, got {other:?}"),
    }
    let child = testkit::wait_for_node(&sup, "/sup_test/child1", |n| n.state.is_terminal()).await;
    assert_eq!(child.state, NodeState::Failed);
}

/// `restart_child` of a terminated child whose start now fails: OTP answers
/// the error and leaves the child terminated. Here `RestartChild` answers
/// once the new incarnation is starting; its failure then goes to the
/// child's policy.
#[actix_rt::test]
async fn sup_start_restart_child_returns_error() {
    let (log, _logged) = recorder();
    let fail = flag(false);
    let sup = sup_test(Strategy::OneForOne, 2)
        .child(kid_failing_while("child1", &log, &fail).restart(RestartPolicy::Never))
        .start()
        .unwrap();
    within(sup.send(StopChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    fail.store(true, Ordering::SeqCst);
    within(sup.send(RestartChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    let child = testkit::wait_for_node(&sup, "/sup_test/child1", |n| n.state.is_terminal()).await;
    assert_eq!((child.state, child.incarnation), (NodeState::Failed, 2));
}

// ---------------------------------------------------------------------------
// group sup_start_map

/// The defaults of a child spec: OTP's are `permanent` and a 5000 ms
/// shutdown (`infinity` for a supervisor). Here the grace is 5 s (a nested
/// supervisor's `Infinity`), but the policy is `OnFailure` (OTP's
/// `transient`): restarted after a panic, not after a normal exit.
#[actix_rt::test]
async fn sup_start_map() {
    let (log, _logged) = recorder();
    let child1 = kid("child1", &log);
    assert!(
        format!("{child1:?}").contains("grace: Duration(5s)"),
        "{child1:?}"
    );
    let handle = child1.handle();
    let sup = sup_test(Strategy::OneForOne, 2)
        .child(child1)
        .start()
        .unwrap();
    assert!(within(handle.send(Die)).await.is_err());
    assert_eq!(within(handle.send(Which)).await.unwrap(), 2);
    within(handle.send(Exit)).await.unwrap();
    let child = testkit::wait_for_node(&sup, "/sup_test/child1", |n| n.state.is_terminal()).await;
    assert_eq!((child.state, child.incarnation), (NodeState::Stopped, 2));
}

/// A spec without an id is refused with an error saying so.
#[actix_rt::test]
async fn sup_start_map_faulty_specs() {
    let (log, _logged) = recorder();
    let err = sup_test(Strategy::OneForOne, 2)
        .child(kid("", &log))
        .start()
        .unwrap_err();
    assert!(matches!(err, BuildError::InvalidName { .. }), "{err}");
    assert!(err.to_string().contains("cannot be empty"), "{err}");
}

// ---------------------------------------------------------------------------
// group sup_stop

/// Children with an infinite shutdown (a worker and a supervisor) are shut
/// down with their supervisor.
#[actix_rt::test]
async fn sup_stop_infinity() {
    let (log, mut logged) = recorder();
    let sup = sup_test(Strategy::OneForOne, 2).start().unwrap();
    let child1 = SupervisorActor::builder("child1").grace(Grace::Infinity);
    start_child(&sup, child1).await.unwrap();
    start_child(&sup, kid("child2", &log).grace(Grace::Infinity))
        .await
        .unwrap();
    assert_eq!(logged.next().await, "child2 started 1");
    let report = within(sup.send(Stop)).await.unwrap();
    assert!(report.is_drained(), "{report:?}");
    assert_eq!(report.children.len(), 2);
    assert_eq!(logged.next().await, "child2 stopped 1");
}

/// A child that does not stop within its shutdown time is killed; the
/// others stop normally.
#[actix_rt::test]
async fn sup_stop_timeout() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let sup = sup_test(Strategy::OneForOne, 2).start().unwrap();
    let second = Duration::from_secs(1);
    start_child(&sup, kid("child1", &log).grace(Grace::Duration(second)))
        .await
        .unwrap();
    let child2 = kid("child2", &log).grace(Grace::Duration(second));
    let child2_handle = child2.handle();
    start_child(&sup, child2).await.unwrap();
    child2_handle.do_send(Sleep(Gate::new())).unwrap();

    let report = within(sup.send(Stop)).await.unwrap();
    let outcome = |name: &str| {
        report
            .find(&format!("/sup_test/{name}"))
            .unwrap()
            .outcome
            .clone()
    };
    assert_eq!(outcome("child1"), StopOutcome::Drained);
    assert_eq!(outcome("child2"), StopOutcome::TimedOut);
}

/// `brutal_kill`: OTP kills that child without a shutdown. Here every stop
/// of a child drains (a short grace bounds it); killing is for the whole
/// subtree, with [`Kill`]: nothing queued is handled.
#[actix_rt::test]
async fn sup_stop_brutal_kill() {
    let (log, _logged) = recorder();
    let sup = sup_test(Strategy::OneForOne, 2).start().unwrap();
    let child2 = kid("child2", &log);
    let child2_handle = child2.handle();
    start_child(&sup, child2).await.unwrap();
    within(child2_handle.started()).await.unwrap();
    child2_handle.do_send(Sleep(Gate::new())).unwrap();
    let queued = child2_handle.send(Which);
    within(sup.send(Kill)).await.unwrap();
    assert!(
        within(queued).await.is_err(),
        "a killed child handles nothing"
    );
}

// ---------------------------------------------------------------------------
// the API

/// `start_child` on a taken name, `terminate_child`, `restart_child` and
/// `delete_child`, and calls to a supervisor that is gone.
#[actix_rt::test]
async fn child_adm() {
    let (log, _logged) = recorder();
    let sup = sup_test(Strategy::OneForOne, 2)
        .child(kid("child1", &log).restart(RestartPolicy::Always))
        .start()
        .unwrap();
    let one = |state| vec![("child1".to_string(), state)];
    testkit::wait_for_node(&sup, "/sup_test/child1", |n| n.state == NodeState::Running).await;

    // Start of an already running child.
    let taken = start_child(&sup, kid("child1", &log)).await;
    assert!(matches!(
        taken,
        Err(ControlError::InvalidSpec(BuildError::DuplicateName { .. }))
    ));

    // Termination.
    let unknown = within(sup.send(StopChild::new("hej"))).await.unwrap();
    assert!(matches!(unknown, Err(ControlError::UnknownChild { .. })));
    within(sup.send(StopChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(which_children(&sup).await, one(NodeState::Stopped));
    // Terminating it again succeeds.
    within(sup.send(StopChild::new("child1")))
        .await
        .unwrap()
        .unwrap();

    // Start of an existing child that is not running.
    let present = start_child(&sup, kid("child1", &log)).await;
    assert!(matches!(
        present,
        Err(ControlError::InvalidSpec(BuildError::DuplicateName { .. }))
    ));

    // Restart.
    within(sup.send(RestartChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    let child =
        testkit::wait_for_node(&sup, "/sup_test/child1", |n| n.state == NodeState::Running).await;
    assert_eq!(child.incarnation, 2);
    let unknown = within(sup.send(RestartChild::new("child2"))).await.unwrap();
    assert!(matches!(unknown, Err(ControlError::UnknownChild { .. })));

    // Deletion.
    let unknown = within(sup.send(RemoveChild::new("hej"))).await.unwrap();
    assert!(matches!(unknown, Err(ControlError::UnknownChild { .. })));
    within(sup.send(StopChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    within(sup.send(RemoveChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    let gone = within(sup.send(RestartChild::new("child1"))).await.unwrap();
    assert!(matches!(gone, Err(ControlError::UnknownChild { .. })));
    assert_eq!(which_children(&sup).await, vec![]);

    // Start.
    start_child(&sup, kid("child1", &log)).await.unwrap();
    assert_eq!(which_children(&sup).await.len(), 1);

    // A supervisor that is gone: every call fails (OTP's `noproc`).
    within(sup.send(Kill)).await.unwrap();
    assert!(within(sup.send(Inspect)).await.is_err());
}

/// `delete_child` and `restart_child` of a running child: OTP refuses both
/// (`{error, running}`). Here `RemoveChild` stops the child (draining it)
/// and removes it, and `RestartChild` drains it and starts the next
/// incarnation. Unknown names are refused as in OTP; terminating twice
/// succeeds twice.
#[actix_rt::test]
async fn extra_return() {
    let (log, _logged) = recorder();
    let sup = sup_test(Strategy::OneForOne, 2)
        .child(kid("child1", &log))
        .start()
        .unwrap();
    for unknown in [
        within(sup.send(StopChild::new("hej"))).await.unwrap().err(),
        within(sup.send(RemoveChild::new("hej")))
            .await
            .unwrap()
            .err(),
        within(sup.send(RestartChild::new("hej")))
            .await
            .unwrap()
            .err(),
    ] {
        assert!(
            matches!(unknown, Some(ControlError::UnknownChild { .. })),
            "{unknown:?}"
        );
    }
    within(sup.send(RestartChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    let child =
        testkit::wait_for_node(&sup, "/sup_test/child1", |n| n.state == NodeState::Running).await;
    assert_eq!(child.incarnation, 2);

    let first = within(sup.send(StopChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    let second = within(sup.send(StopChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, second);
    within(sup.send(RemoveChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(which_children(&sup).await, vec![]);

    // A running child is stopped and removed.
    start_child(&sup, kid("child1", &log)).await.unwrap();
    let report = within(sup.send(RemoveChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    assert!(report.is_drained());
    assert_eq!(which_children(&sup).await, vec![]);
}

/// Child specs with values that cannot be used are refused, by `StartChild`
/// and when a tree is built, with the field named; duplicate names too.
#[actix_rt::test]
async fn child_specs() {
    let (log, _logged) = recorder();
    let sup = sup_test(Strategy::OneForOne, 2).start().unwrap();
    let zero_grace = kid("child", &log).grace(Grace::Duration(Duration::ZERO));
    match start_child(&sup, zero_grace).await {
        Err(ControlError::InvalidSpec(BuildError::InvalidField { field, .. })) => {
            assert_eq!(field, "grace")
        }
        other => panic!("expected an invalid grace, got {other:?}"),
    }
    let backwards =
        kid("child", &log).backoff(Backoff::new(Duration::from_secs(5), Duration::from_secs(1)));
    match start_child(&sup, backwards).await {
        Err(ControlError::InvalidSpec(BuildError::InvalidField { field, .. })) => {
            assert_eq!(field, "backoff.max")
        }
        other => panic!("expected an invalid backoff, got {other:?}"),
    }
    let infinite = kid("child", &log).grace(Grace::Infinity);
    start_child(&sup, infinite).await.unwrap();
    within(sup.send(Stop)).await.unwrap();

    let err = sup_test(Strategy::OneForOne, 2)
        .child(SupervisorActor::builder("child"))
        .child(kid("child", &log))
        .start()
        .unwrap_err();
    assert!(matches!(err, BuildError::DuplicateName { .. }), "{err}");
}

/// Supervisor flags that cannot be used are refused.
#[actix_rt::test]
async fn sup_flags() {
    let err = SupervisorActor::builder("sup_test")
        .intensity(RestartIntensity::new(2, Duration::ZERO))
        .start()
        .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::InvalidField {
                field: "intensity.within",
                ..
            }
        ),
        "{err}"
    );
    // A strategy outside the three is not expressible: `Strategy` is an enum.
    let sup = SupervisorActor::builder("sup_test")
        .strategy(Strategy::RestForOne)
        .start()
        .unwrap();
    within(sup.send(Stop)).await.unwrap();
}

// ---------------------------------------------------------------------------
// groups normal_termination, shutdown_termination, abnormal_termination

/// Starts `child1` with `policy` (temporary: `Never`, removed on exit)
/// under a new supervisor; returns the supervisor and the child's handle.
async fn one_child(
    policy: Policy,
    log: &Recorder<String>,
) -> (Addr<SupervisorActor>, ChildHandle<Kid>) {
    let child1 = policy.apply(kid("child1", log));
    let handle = child1.handle();
    let sup = sup_test(Strategy::OneForOne, 2).start().unwrap();
    start_child(&sup, child1).await.unwrap();
    within(handle.started()).await.unwrap();
    (sup, handle)
}

/// A permanent child is restarted after a normal exit.
#[actix_rt::test]
async fn permanent_normal() {
    let (log, _logged) = recorder();
    let (sup, child1) = one_child(Policy::Permanent, &log).await;
    within(child1.send(Exit)).await.unwrap();
    assert_eq!(within(child1.send(Which)).await.unwrap(), 2);
    assert_eq!(
        which_children(&sup).await,
        [("child1".to_string(), NodeState::Running)]
    );
}

/// A transient child is not restarted after a normal exit; its spec stays.
#[actix_rt::test]
async fn transient_normal() {
    let (log, _logged) = recorder();
    let (sup, child1) = one_child(Policy::Transient, &log).await;
    within(child1.send(Exit)).await.unwrap();
    let child = testkit::wait_for_node(&sup, "/sup_test/child1", |n| n.state.is_terminal()).await;
    assert_eq!((child.state, child.incarnation), (NodeState::Stopped, 1));
    assert_eq!(which_children(&sup).await.len(), 1);
}

/// A temporary child is never restarted, and leaves the table when it ends.
#[actix_rt::test]
async fn temporary_normal() {
    let (log, _logged) = recorder();
    let (sup, child1) = one_child(Policy::Temporary, &log).await;
    within(child1.send(Exit)).await.unwrap();
    testkit::wait_until(&sup, |tree| tree.root.children.is_empty()).await;
}

/// `exit(Child, shutdown)` from outside: OTP restarts a permanent child.
/// Here the only stop from outside is the supervisor's own (a handle's
/// `stop`, `StopChild`), OTP's `terminate_child`: it ends the child for
/// good, whatever its policy. (A permanent child that stops itself is
/// restarted: `permanent_normal`.)
#[actix_rt::test]
async fn permanent_shutdown() {
    let (log, _logged) = recorder();
    let (sup, child1) = one_child(Policy::Permanent, &log).await;
    assert!(within(child1.stop()).await.is_drained());
    let child = node(&sup, "/sup_test/child1").await;
    assert_eq!((child.state, child.incarnation), (NodeState::Stopped, 1));
}

/// A transient child shut down is not restarted; `restart_child` starts it
/// again.
#[actix_rt::test]
async fn transient_shutdown() {
    let (log, _logged) = recorder();
    let (sup, child1) = one_child(Policy::Transient, &log).await;
    assert!(within(child1.stop()).await.is_drained());
    assert_eq!(
        node(&sup, "/sup_test/child1").await.state,
        NodeState::Stopped
    );
    within(sup.send(RestartChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(within(child1.send(Which)).await.unwrap(), 2);
    assert!(within(child1.stop()).await.is_drained());
    let child = node(&sup, "/sup_test/child1").await;
    assert_eq!((child.state, child.incarnation), (NodeState::Stopped, 2));
}

/// A temporary child shut down leaves the table; the same spec can be
/// started again.
#[actix_rt::test]
async fn temporary_shutdown() {
    let (log, _logged) = recorder();
    let (sup, child1) = one_child(Policy::Temporary, &log).await;
    assert!(within(child1.stop()).await.is_drained());
    testkit::wait_until(&sup, |tree| tree.root.children.is_empty()).await;
    start_child(&sup, Policy::Temporary.apply(kid("child1", &log)))
        .await
        .unwrap();
}

/// A permanent child is restarted after an abnormal exit.
#[actix_rt::test]
async fn permanent_abnormal() {
    let (log, _logged) = recorder();
    let (_sup, child1) = one_child(Policy::Permanent, &log).await;
    assert!(within(child1.send(Die)).await.is_err());
    assert_eq!(within(child1.send(Which)).await.unwrap(), 2);
}

/// A transient child is restarted after an abnormal exit.
#[actix_rt::test]
async fn transient_abnormal() {
    let (log, _logged) = recorder();
    let (_sup, child1) = one_child(Policy::Transient, &log).await;
    assert!(within(child1.send(Die)).await.is_err());
    assert_eq!(within(child1.send(Which)).await.unwrap(), 2);
}

/// A temporary child is not restarted after an abnormal exit, and leaves.
#[actix_rt::test]
async fn temporary_abnormal() {
    let (log, _logged) = recorder();
    let (sup, child1) = one_child(Policy::Temporary, &log).await;
    assert!(within(child1.send(Die)).await.is_err());
    testkit::wait_until(&sup, |tree| tree.root.children.is_empty()).await;
}

/// A temporary child stopped as a bystander of a one-for-all or
/// rest-for-one restart is not started again, and the supervisor lives on.
#[actix_rt::test]
async fn temporary_bystander() {
    for strategy in [Strategy::OneForAll, Strategy::RestForOne] {
        let (log, mut logged) = recorder();
        let child1 = kid("child1", &log).restart(RestartPolicy::Always);
        let child1_handle = child1.handle();
        let child2 = kid("child2", &log).restart(RestartPolicy::Never);
        let sup = sup_test(strategy, 2).start().unwrap();
        start_child(&sup, child1).await.unwrap();
        start_child(&sup, child2).await.unwrap();
        assert_eq!(
            next_lines(&mut logged, 2).await,
            ["child1 started 1", "child2 started 1"]
        );
        within(child1_handle.send(Exit)).await.unwrap();
        assert_eq!(
            next_lines(&mut logged, 3).await,
            ["child1 stopped 1", "child2 stopped 1", "child1 started 2"],
            "{strategy:?}"
        );
        assert_eq!(within(child1_handle.send(Which)).await.unwrap(), 2);
        let child2 =
            testkit::wait_for_node(&sup, "/sup_test/child2", |n| n.state.is_terminal()).await;
        assert_eq!(child2.incarnation, 1, "{strategy:?}");
        assert_eq!(logged.drain(), Vec::<String>::new(), "{strategy:?}");
        assert_eq!(
            within(sup.send(Inspect)).await.unwrap().root.state,
            NodeState::Running
        );
    }
}

// ---------------------------------------------------------------------------
// restart strategies

/// Restarts spaced out more than the period never exceed the intensity.
#[actix_rt::test]
async fn multiple_restarts() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let child1 = kid("child1", &log).restart(RestartPolicy::Always);
    let handle = child1.handle();
    let sup = SupervisorActor::builder("sup_test")
        .intensity(RestartIntensity::new(1, Duration::from_secs(1)))
        .child(child1)
        .start()
        .unwrap();
    assert!(within(handle.send(Die)).await.is_err());
    for incarnation in 2..=4 {
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(within(handle.send(Which)).await.unwrap(), incarnation);
        assert!(within(handle.send(Die)).await.is_err());
    }
    assert_eq!(within(handle.send(Which)).await.unwrap(), 5);
    within(sup.send(StopChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    within(sup.send(RemoveChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        within(sup.send(Inspect)).await.unwrap().root.state,
        NodeState::Running
    );
}

/// One-for-one restarts only the child that died; one restart past the
/// intensity ends the supervisor.
#[actix_rt::test]
async fn one_for_one() {
    let (log, mut logged) = recorder();
    let child1 = kid("child1", &log).restart(RestartPolicy::Always);
    let child2 = kid("child2", &log).restart(RestartPolicy::Always);
    let (h1, h2) = (child1.handle(), child2.handle());
    let sup = sup_test(Strategy::OneForOne, 2)
        .child(child1)
        .child(child2)
        .start()
        .unwrap();
    next_lines(&mut logged, 2).await;
    assert!(within(h1.send(Die)).await.is_err());
    assert_eq!(next_lines(&mut logged, 1).await, ["child1 started 2"]);
    assert_eq!(within(h2.send(Which)).await.unwrap(), 1);
    assert_eq!(which_children(&sup).await.len(), 2);

    assert!(within(h2.send(Die)).await.is_err());
    assert_eq!(within(h2.send(Which)).await.unwrap(), 2);
    assert!(within(h1.send(Die)).await.is_err());
    supervisor_gave_up(&sup).await;
}

/// A child whose restart fails again and again exceeds the intensity: the
/// supervisor ends, and its other children with it.
#[actix_rt::test]
async fn one_for_one_escalation() {
    escalation(Strategy::OneForOne).await;
}

/// child1 dies; child2's start fails at every restart.
async fn escalation(strategy: Strategy) {
    let (log, _logged) = recorder();
    let fail = flag(false);
    let child1 = kid_failing_while("child1", &log, &fail).restart(RestartPolicy::Always);
    let child2 = kid("child2", &log).restart(RestartPolicy::Always);
    let (h1, h2) = (child1.handle(), child2.handle());
    let sup = sup_test(strategy, 4)
        .child(child1)
        .child(child2)
        .start()
        .unwrap();
    within(h2.started()).await.unwrap();
    fail.store(true, Ordering::SeqCst);
    assert!(within(h1.send(Die)).await.is_err());
    supervisor_gave_up(&sup).await;
    assert!(within(h2.send(Which)).await.is_err(), "child2 ended too");
}

/// One-for-all restarts every child when one dies: all are new
/// incarnations; the intensity holds across them.
#[actix_rt::test]
async fn one_for_all() {
    let (log, mut logged) = recorder();
    let child1 = kid("child1", &log).restart(RestartPolicy::Always);
    let child2 = kid("child2", &log).restart(RestartPolicy::Always);
    let (h1, h2) = (child1.handle(), child2.handle());
    let sup = sup_test(Strategy::OneForAll, 2)
        .child(child1)
        .child(child2)
        .start()
        .unwrap();
    next_lines(&mut logged, 2).await;
    assert!(within(h1.send(Die)).await.is_err());
    assert_eq!(
        next_lines(&mut logged, 3).await,
        ["child2 stopped 1", "child1 started 2", "child2 started 2"]
    );
    assert_eq!(within(h1.send(Which)).await.unwrap(), 2);
    assert_eq!(within(h2.send(Which)).await.unwrap(), 2);

    assert!(within(h1.send(Die)).await.is_err());
    assert_eq!(within(h2.send(Which)).await.unwrap(), 3);
    assert!(within(h2.send(Die)).await.is_err());
    supervisor_gave_up(&sup).await;
}

/// One-for-all with a child whose restart keeps failing: the supervisor
/// ends.
#[actix_rt::test]
async fn one_for_all_escalation() {
    escalation(Strategy::OneForAll).await;
}

/// A child that fails to start during a one-for-all restart: the others,
/// already restarted, are restarted with it again, until all run.
#[actix_rt::test]
async fn one_for_all_other_child_fails_restart() {
    let (child1, child2) = other_child_fails_restart(Strategy::OneForAll).await;
    assert_eq!(
        (child1, child2),
        (3, 3),
        "child1 was restarted again with child2"
    );
}

/// child1 dies; child2's first restart fails. Returns the incarnations
/// child1 and child2 end at.
async fn other_child_fails_restart(strategy: Strategy) -> (u64, u64) {
    let (log, _logged) = recorder();
    let fail = flag(false);
    let child1 = kid("child1", &log).restart(RestartPolicy::Always);
    let child2 = kid_failing_while("child2", &log, &fail).restart(RestartPolicy::Always);
    let (h1, h2) = (child1.handle(), child2.handle());
    let sup = sup_test(strategy, 3)
        .child(child1)
        .child(child2)
        .start()
        .unwrap();
    within(h2.started()).await.unwrap();
    fail.store(true, Ordering::SeqCst);
    let events = testkit::EventRecorder::start(&sup).await.unwrap();
    assert!(within(h1.send(Die)).await.is_err());
    events
        .wait_for(|e| {
            e.path.as_str() == "/sup_test/child2" && matches!(e.kind, EventKind::Failed { .. })
        })
        .await;
    fail.store(false, Ordering::SeqCst);
    let (i1, i2) = (
        within(h1.send(Which)).await.unwrap(),
        within(h2.send(Which)).await.unwrap(),
    );
    assert_eq!(
        within(sup.send(Inspect)).await.unwrap().root.state,
        NodeState::Running
    );
    (i1, i2)
}

/// Rest-for-one restarts the child that died and those started after it;
/// the ones before keep running.
#[actix_rt::test]
async fn rest_for_one() {
    let (log, mut logged) = recorder();
    let specs =
        ["child1", "child2", "child3"].map(|name| kid(name, &log).restart(RestartPolicy::Always));
    let handles: Vec<_> = specs.iter().map(ChildSpec::handle).collect();
    let mut sup = sup_test(Strategy::RestForOne, 2);
    for spec in specs {
        sup = sup.child(spec);
    }
    let sup = sup.start().unwrap();
    next_lines(&mut logged, 3).await;
    assert!(within(handles[1].send(Die)).await.is_err());
    assert_eq!(
        next_lines(&mut logged, 3).await,
        ["child3 stopped 1", "child2 started 2", "child3 started 2"]
    );
    let mut incarnations = Vec::new();
    for handle in &handles {
        incarnations.push(within(handle.send(Which)).await.unwrap());
    }
    assert_eq!(incarnations, [1, 2, 2]);

    assert!(within(handles[2].send(Die)).await.is_err());
    assert_eq!(within(handles[2].send(Which)).await.unwrap(), 3);
    assert!(within(handles[1].send(Die)).await.is_err());
    supervisor_gave_up(&sup).await;
}

/// Rest-for-one with a child whose restart keeps failing: the supervisor
/// ends.
#[actix_rt::test]
async fn rest_for_one_escalation() {
    escalation(Strategy::RestForOne).await;
}

/// A child that fails to start during a rest-for-one restart: the children
/// before it are not restarted again.
#[actix_rt::test]
async fn rest_for_one_other_child_fails_restart() {
    let (child1, _child2) = other_child_fails_restart(Strategy::RestForOne).await;
    assert_eq!(
        child1, 2,
        "child1 was restarted once, with the child that died"
    );
}

// ---------------------------------------------------------------------------
// misc

/// A child that misbehaves while it is terminated (OTP: it unlinks) does
/// not hang its supervisor: the supervisor answers meanwhile, and the stop
/// answers once the child's grace ran out.
#[actix_rt::test]
async fn child_unlink() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let naughty = kid("naughty_child", &log).grace(Grace::Duration(Duration::from_secs(1)));
    let handle = naughty.handle();
    let sup = sup_test(Strategy::OneForOne, 2)
        .child(naughty)
        .start()
        .unwrap();
    within(handle.started()).await.unwrap();
    handle.do_send(Sleep(Gate::new())).unwrap();
    let stop = sup.send(StopChild::new("naughty_child"));
    let tree = within(sup.send(Inspect)).await.unwrap();
    assert_eq!(tree.root.state, NodeState::Running);
    let report = within(stop).await.unwrap().unwrap();
    assert_eq!(report.outcome, StopOutcome::TimedOut);
}

/// A tree: a one-for-all root over two supervisors. A worker that dies is
/// the only one restarted; a worker whose restarts keep failing makes its
/// supervisor give up and escalate, and the root restarts both subtrees.
/// OTP loses the dynamic children of the restarted supervisor (they are not
/// in its init spec); here they are in its table and restart with it.
#[actix_rt::test]
async fn tree() {
    let (log, mut logged) = recorder();
    let fail = flag(false);
    let child1 = kid("child1", &log).restart(RestartPolicy::Always);
    let child2 = kid("child2", &log).restart(RestartPolicy::Always);
    let supchild1 = SupervisorActor::builder("supchild1")
        .intensity(RestartIntensity::new(4, Duration::from_secs(3600)))
        .child(child1)
        .child(child2);
    let supchild2 = SupervisorActor::builder("supchild2")
        .intensity(RestartIntensity::new(4, Duration::from_secs(3600)));
    let sup2 = supchild2.address();
    let top = sup_test(Strategy::OneForAll, 4)
        .child(supchild1)
        .child(supchild2)
        .start()
        .unwrap();
    next_lines(&mut logged, 2).await;

    let child3 = kid_failing_while("child3", &log, &fail).restart(RestartPolicy::Always);
    let child4 = kid("child4", &log).restart(RestartPolicy::Always);
    let (h3, h4) = (child3.handle(), child4.handle());
    start_child(&sup2, child3).await.unwrap();
    start_child(&sup2, child4).await.unwrap();
    next_lines(&mut logged, 2).await;

    // Only the child that dies is restarted.
    assert!(within(h4.send(Die)).await.is_err());
    assert_eq!(next_lines(&mut logged, 1).await, ["child4 started 2"]);
    let tree = within(top.send(Inspect)).await.unwrap();
    for (path, incarnation) in [
        ("/sup_test/supchild1/child1", 1),
        ("/sup_test/supchild1/child2", 1),
        ("/sup_test/supchild2/child3", 1),
        ("/sup_test/supchild2/child4", 2),
    ] {
        assert_eq!(
            tree.find(path).unwrap().incarnation,
            incarnation,
            "{path}\n{tree}"
        );
    }

    // The supervisor tree is restarted.
    let events = testkit::EventRecorder::start(&top).await.unwrap();
    fail.store(true, Ordering::SeqCst);
    assert!(within(h3.send(Die)).await.is_err());
    events
        .wait_for(|e| {
            e.path.as_str() == "/sup_test/supchild2"
                && matches!(e.kind, EventKind::Escalated { .. })
        })
        .await;
    fail.store(false, Ordering::SeqCst);
    let tree = testkit::wait_until(&top, |tree| {
        ["/sup_test/supchild1", "/sup_test/supchild2"]
            .iter()
            .all(|p| {
                tree.find(p)
                    .is_some_and(|n| n.incarnation == 2 && n.state == NodeState::Running)
            })
    })
    .await;
    assert_eq!(tree.root.state, NodeState::Running, "{tree}");
    let names = |path: &str| -> Vec<String> {
        tree.find(path)
            .unwrap()
            .children
            .iter()
            .map(|c| c.name.clone())
            .collect()
    };
    assert_eq!(names("/sup_test/supchild1"), ["child1", "child2"]);
    assert_eq!(names("/sup_test/supchild2"), ["child3", "child4"], "{tree}");
}

/// Temporary children keep no start parameters once they ended: what the
/// factory captured is dropped with them.
#[actix_rt::test]
async fn do_not_save_start_parameters_for_temporary_children() {
    let (log, _logged) = recorder();
    let large = Arc::new(vec!["Potentially large"; 10]);
    let sup = sup_test(Strategy::OneForOne, 2).start().unwrap();
    let mut handles = Vec::new();
    for n in 0..100 {
        let (large, log) = (large.clone(), log.clone());
        let spec = ChildSpec::new(format!("child{n}"), move || {
            let _keep = &large;
            Kid {
                name: "child".into(),
                incarnation: 1,
                log: log.clone(),
            }
        })
        .restart(RestartPolicy::Never)
        .remove_on_exit();
        handles.push(spec.handle());
        start_child(&sup, spec).await.unwrap();
    }
    assert_eq!(Arc::strong_count(&large), 101);
    for handle in &handles {
        within(handle.send(Exit)).await.unwrap();
    }
    testkit::wait_until(&sup, |tree| tree.root.children.is_empty()).await;
    assert_eq!(Arc::strong_count(&large), 1);
}

/// Once a temporary child ended (killed, normal, abnormal or terminated by
/// its supervisor), its spec is gone and the same spec can be started
/// again; a permanent or transient child keeps its spec.
#[actix_rt::test]
async fn do_not_save_child_specs_for_temporary_children() {
    let (log, _logged) = recorder();
    for strategy in [
        Strategy::OneForAll,
        Strategy::OneForOne,
        Strategy::RestForOne,
    ] {
        let sup = sup_test(strategy, 2).start().unwrap();
        // Permanent: restarted, so `already_started`.
        let child1 = kid("child1", &log).restart(RestartPolicy::Always);
        let h1 = child1.handle();
        start_child(&sup, child1).await.unwrap();
        assert!(within(h1.send(Die)).await.is_err());
        assert!(start_child(&sup, kid("child1", &log)).await.is_err());
        // Transient, normal exit: `already_present`, then `restart_child`.
        let child2 = kid("child2", &log).restart(RestartPolicy::OnFailure);
        let h2 = child2.handle();
        start_child(&sup, child2).await.unwrap();
        within(h2.send(Exit)).await.unwrap();
        testkit::wait_for_node(&sup, "/sup_test/child2", |n| n.state.is_terminal()).await;
        assert!(start_child(&sup, kid("child2", &log)).await.is_err());
        within(sup.send(RestartChild::new("child2")))
            .await
            .unwrap()
            .unwrap();
        // Temporary: gone, the name is free.
        let child3 = Policy::Temporary.apply(kid("child3", &log));
        let h3 = child3.handle();
        start_child(&sup, child3).await.unwrap();
        assert!(within(h3.send(Die)).await.is_err());
        testkit::wait_until(&sup, |tree| tree.find("/sup_test/child3").is_none()).await;
        start_child(&sup, Policy::Temporary.apply(kid("child3", &log)))
            .await
            .unwrap();
        within(sup.send(Stop)).await.unwrap();
    }
}

/// A child in a restart loop (its start keeps failing, with a backoff) can
/// be terminated, and its supervisor stopped: nothing hangs. OTP refuses
/// `restart_child` and `delete_child` while it restarts; here `RemoveChild`
/// stops it and removes it.
#[actix_rt::test]
async fn hanging_restart_loop() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let fail = flag(false);
    let child1 = kid_failing_while("child1", &log, &fail)
        .restart(RestartPolicy::Always)
        .backoff(Backoff::new(Duration::from_secs(2), Duration::from_secs(2)));
    let h1 = child1.handle();
    let sup = SupervisorActor::builder("sup_test")
        .intensity(RestartIntensity::new(8, Duration::from_secs(10)))
        .child(child1)
        .start()
        .unwrap();
    within(h1.started()).await.unwrap();
    fail.store(true, Ordering::SeqCst);
    assert!(within(h1.send(Die)).await.is_err());
    testkit::wait_for_node(&sup, "/sup_test/child1", |n| {
        matches!(n.state, NodeState::Restarting { .. }) && n.incarnation >= 2
    })
    .await;
    assert!(start_child(&sup, kid("child1", &log)).await.is_err());
    within(sup.send(StopChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    // Not running (OTP's `undefined`): `Failed`, since the incarnation
    // that would have drained it could not start.
    let children = which_children(&sup).await;
    assert_eq!(children.len(), 1);
    assert!(children[0].1.is_terminal(), "{children:?}");

    fail.store(false, Ordering::SeqCst);
    within(sup.send(RestartChild::new("child1")))
        .await
        .unwrap()
        .unwrap();
    testkit::wait_for_node(&sup, "/sup_test/child1", |n| n.state == NodeState::Running).await;
    fail.store(true, Ordering::SeqCst);
    assert!(within(h1.send(Die)).await.is_err());
    testkit::wait_for_node(&sup, "/sup_test/child1", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    })
    .await;
    let report = within(sup.send(Stop)).await.unwrap();
    assert!(report.find("/sup_test/child1").is_some());
}

/// As `hanging_restart_loop`, under rest-for-one: while child2 is in its
/// restart loop, child3 (started after it) waits, parked; child1 runs on.
#[actix_rt::test]
async fn hanging_restart_loop_rest_for_one() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let fail = flag(false);
    let child2 = kid_failing_while("child2", &log, &fail)
        .restart(RestartPolicy::Always)
        .backoff(Backoff::new(Duration::from_secs(2), Duration::from_secs(2)));
    let h2 = child2.handle();
    let sup = SupervisorActor::builder("sup_test")
        .strategy(Strategy::RestForOne)
        .intensity(RestartIntensity::new(8, Duration::from_secs(10)))
        .child(kid("child1", &log).restart(RestartPolicy::Always))
        .child(child2)
        .child(kid("child3", &log).restart(RestartPolicy::Always))
        .start()
        .unwrap();
    within(h2.started()).await.unwrap();
    fail.store(true, Ordering::SeqCst);
    assert!(within(h2.send(Die)).await.is_err());
    testkit::wait_for_node(&sup, "/sup_test/child2", |n| {
        matches!(n.state, NodeState::Restarting { .. }) && n.incarnation >= 2
    })
    .await;
    assert_eq!(
        node(&sup, "/sup_test/child1").await.state,
        NodeState::Running
    );
    assert!(start_child(&sup, kid("child2", &log)).await.is_err());
    within(sup.send(StopChild::new("child2")))
        .await
        .unwrap()
        .unwrap();
    fail.store(false, Ordering::SeqCst);
    within(sup.send(RestartChild::new("child2")))
        .await
        .unwrap()
        .unwrap();
    testkit::wait_for_node(&sup, "/sup_test/child2", |n| n.state == NodeState::Running).await;
    fail.store(true, Ordering::SeqCst);
    assert!(within(h2.send(Die)).await.is_err());
    let report = within(sup.send(Stop)).await.unwrap();
    assert!(report.find("/sup_test/child2").is_some());
}

/// Children start in the order given; under rest-for-one the ones after a
/// child that died stop in reverse order and start again in order; the
/// supervisor's stop ends them in reverse start order (here, where siblings
/// that do not depend on each other stop in parallel, once the order is
/// declared with `depends_on`).
#[actix_rt::test]
async fn order_of_children() {
    let (log, mut logged) = recorder();
    let ids = ["ch7", "ch3", "ch10", "ch2", "ch5"];
    let mut sup = sup_test(Strategy::RestForOne, 2);
    let mut handles = Vec::new();
    let mut previous: Option<&str> = None;
    for id in ids {
        let mut spec = kid(id, &log).restart(RestartPolicy::Always);
        if let Some(previous) = previous {
            spec = spec.depends_on(previous);
        }
        previous = Some(id);
        handles.push(spec.handle());
        sup = sup.child(spec);
    }
    let sup = sup.start().unwrap();
    assert_eq!(
        next_lines(&mut logged, 5).await,
        ids.map(|id| format!("{id} started 1"))
    );

    assert!(within(handles[2].send(Die)).await.is_err());
    assert_eq!(
        next_lines(&mut logged, 5).await,
        [
            "ch5 stopped 1",
            "ch2 stopped 1",
            "ch10 started 2",
            "ch2 started 2",
            "ch5 started 2"
        ]
    );

    within(sup.send(Stop)).await.unwrap();
    assert_eq!(
        next_lines(&mut logged, 5).await,
        [
            "ch5 stopped 2",
            "ch2 stopped 2",
            "ch10 stopped 2",
            "ch3 stopped 1",
            "ch7 stopped 1"
        ]
    );
}

/// Many children started and terminated one by one, all answered (OTP
/// checks the time scales linearly; tests here assert no timings: the
/// benchmarks measure it).
#[actix_rt::test]
async fn scale_start_stop_many_children() {
    let (log, _logged) = recorder();
    let sup = sup_test(Strategy::OneForOne, 2).start().unwrap();
    let names: Vec<String> = (0..2_000).map(|n| format!("c{n}")).collect();
    for name in &names {
        start_child(&sup, kid(name, &log)).await.unwrap();
    }
    assert_eq!(which_children(&sup).await.len(), names.len());
    for name in &names {
        let report = within(sup.send(StopChild::new(name)))
            .await
            .unwrap()
            .unwrap();
        assert!(report.is_drained());
    }
    let children = which_children(&sup).await;
    assert!(children
        .iter()
        .all(|(_, state)| *state == NodeState::Stopped));
}

// ---------------------------------------------------------------------------
// simple_one_for_one: a pool

/// What a pool of [`Kid`]s starts each child with: where it logs, how many
/// incarnations it had, and whether its start fails (a panic in the
/// template, as `supervisor_deadlock` fails its `init`).
struct KidArgs {
    log: Recorder<String>,
    made: AtomicU64,
    fail: Arc<AtomicBool>,
}

fn kid_args(log: &Recorder<String>, fail: &Arc<AtomicBool>) -> KidArgs {
    KidArgs {
        log: log.clone(),
        made: AtomicU64::new(0),
        fail: fail.clone(),
    }
}

/// `{simple_one_for_one, MaxR, 3600}` with a `Kid` template of `policy`.
fn kid_pool(
    policy: Policy,
    max_restarts: u32,
) -> actix_supervisor::pool::PoolBuilder<Kid, KidArgs> {
    let restart = match policy {
        Policy::Permanent => RestartPolicy::Always,
        Policy::Transient => RestartPolicy::OnFailure,
        Policy::Temporary => RestartPolicy::Never,
    };
    Pool::builder("sup_test", |args: &KidArgs| {
        let incarnation = args.made.fetch_add(1, Ordering::SeqCst) + 1;
        if args.fail.load(Ordering::SeqCst) {
            panic!("child cannot start");
        }
        Kid {
            name: "child".into(),
            incarnation,
            log: args.log.clone(),
        }
    })
    .child_restart(restart)
    .intensity(RestartIntensity::new(
        max_restarts,
        Duration::from_secs(3600),
    ))
}

/// `{sleep, T}` then answer: the child is busy for `T` (virtual time).
#[derive(Message)]
#[rtype(result = "()")]
struct Nap(Duration);

impl Handler<Nap> for Kid {
    type Result = ();
    fn handle(&mut self, Nap(time): Nap, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future::<_, Self>(tokio::time::sleep(time)));
    }
}

/// A pool starts with no children; each start adds one. OTP terminates a
/// `simple_one_for_one` child by pid only and refuses `restart_child` and
/// `delete_child`; here a pool child is stopped by its handle or by name,
/// and leaves when it ended.
#[actix_rt::test]
async fn child_adm_simple() {
    let (log, _logged) = recorder();
    let no = flag(false);
    let pool = kid_pool(Policy::Permanent, 2).start().unwrap();
    assert_eq!(which_children(pool.supervisor()).await, vec![]);
    let c1 = within(pool.start(kid_args(&log, &no))).await.unwrap();
    assert_eq!(which_children(pool.supervisor()).await.len(), 1);
    let _c2 = within(pool.start(kid_args(&log, &no))).await.unwrap();
    assert_eq!(which_children(pool.supervisor()).await.len(), 2);

    let report = within(c1.stop()).await;
    assert!(report.is_drained());
    assert_eq!(which_children(pool.supervisor()).await.len(), 1);
    // Terminating it again answers the same.
    assert_eq!(within(c1.stop()).await, report);
    let gone = within(pool.supervisor().send(StopChild::new("1")))
        .await
        .unwrap();
    assert!(matches!(gone, Err(ControlError::UnknownChild { .. })));
    within(pool.supervisor().send(StopChild::new("2")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(which_children(pool.supervisor()).await, vec![]);
}

/// A permanent pool child that dies is restarted; the other keeps running;
/// one restart past the intensity ends the pool.
#[actix_rt::test]
async fn simple_one_for_one() {
    let (log, _logged) = recorder();
    let no = flag(false);
    let pool = kid_pool(Policy::Permanent, 2).start().unwrap();
    let c1 = within(pool.start(kid_args(&log, &no))).await.unwrap();
    let c2 = within(pool.start(kid_args(&log, &no))).await.unwrap();
    assert!(within(c1.send(Die)).await.is_err());
    assert_eq!(within(c1.send(Which)).await.unwrap(), 2);
    assert_eq!(within(c2.send(Which)).await.unwrap(), 1);
    assert_eq!(which_children(pool.supervisor()).await.len(), 2);

    assert!(within(c2.send(Die)).await.is_err());
    assert_eq!(within(c2.send(Which)).await.unwrap(), 2);
    assert!(within(c1.send(Die)).await.is_err());
    supervisor_gave_up(pool.supervisor()).await;
}

/// Pool children are shut down with the pool, each within its own grace:
/// those that finish in time drain, the one that does not is killed.
#[actix_rt::test]
async fn simple_one_for_one_shutdown() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let no = flag(false);
    let shutdown_time = Duration::from_secs(1);
    let pool = kid_pool(Policy::Permanent, 2)
        .child_grace(Grace::Duration(2 * shutdown_time))
        .start()
        .unwrap();
    for time in [shutdown_time, shutdown_time, 5 * shutdown_time] {
        let child = within(pool.start(kid_args(&log, &no))).await.unwrap();
        within(child.started()).await.unwrap();
        child.do_send(Nap(time)).unwrap();
    }
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    let outcomes: Vec<_> = report.children.iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(
        outcomes,
        [
            StopOutcome::Drained,
            StopOutcome::Drained,
            StopOutcome::TimedOut
        ]
    );
}

/// A pool child whose restarts keep failing exceeds the pool's intensity:
/// the pool ends, and its other children with it.
#[actix_rt::test]
async fn simple_one_for_one_escalation() {
    let (log, _logged) = recorder();
    let (fail, no) = (flag(false), flag(false));
    let pool = kid_pool(Policy::Permanent, 4).start().unwrap();
    let c1 = within(pool.start(kid_args(&log, &fail))).await.unwrap();
    let c2 = within(pool.start(kid_args(&log, &no))).await.unwrap();
    within(c2.started()).await.unwrap();
    fail.store(true, Ordering::SeqCst);
    assert!(within(c1.send(Die)).await.is_err());
    supervisor_gave_up(pool.supervisor()).await;
    assert!(within(c2.send(Which)).await.is_err(), "child2 ended too");
}

/// A pool child whose start fails: OTP's `start_child` answers the error
/// and keeps nothing. Here the start answers the child's handle, whose
/// startup future answers the failure; the child (temporary) leaves.
#[actix_rt::test]
async fn sup_start_child_returns_error_simple() {
    let (log, _logged) = recorder();
    let pool = kid_pool(Policy::Temporary, 2).start().unwrap();
    let child = within(pool.start(kid_args(&log, &flag(true))))
        .await
        .unwrap();
    assert!(matches!(
        within(child.started()).await,
        Err(StartError::StartFailed { .. })
    ));
    within(child.ended()).await;
    assert_eq!(which_children(pool.supervisor()).await, vec![]);
}

/// Counting the children of a pool of temporary children: 1000, then
/// 2000; killed, they all leave.
#[actix_rt::test]
async fn count_children() {
    let (log, _logged) = recorder();
    let no = flag(false);
    let pool = kid_pool(Policy::Temporary, 2).start().unwrap();
    let mut children = Vec::new();
    for _ in 0..1000 {
        children.push(within(pool.start(kid_args(&log, &no))).await.unwrap());
    }
    assert_eq!(which_children(pool.supervisor()).await.len(), 1000);
    for _ in 0..1000 {
        children.push(within(pool.start(kid_args(&log, &no))).await.unwrap());
    }
    let listed = which_children(pool.supervisor()).await;
    assert_eq!(listed.len(), 2000);
    assert_eq!(which_children(pool.supervisor()).await, listed);
    for child in &children {
        let _ = child.do_send(Die);
    }
    for child in &children {
        within(child.ended()).await;
    }
    assert_eq!(which_children(pool.supervisor()).await, vec![]);
}

/// Counting children while some restart: they stay listed, `Restarting`,
/// and are counted again once they run.
#[actix_rt::test]
async fn count_restarting_children() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let fail = flag(false);
    let pool = kid_pool(Policy::Permanent, 20)
        .child_backoff(Backoff::new(Duration::from_secs(2), Duration::from_secs(2)))
        .intensity(RestartIntensity::new(20, Duration::from_secs(10)))
        .start()
        .unwrap();
    let mut children = Vec::new();
    for _ in 0..3 {
        children.push(within(pool.start(kid_args(&log, &fail))).await.unwrap());
    }
    for child in &children {
        within(child.started()).await.unwrap();
    }
    fail.store(true, Ordering::SeqCst);
    for child in &children[..2] {
        assert!(within(child.send(Die)).await.is_err());
    }
    let tree = testkit::wait_until(pool.supervisor(), |tree| {
        tree.root
            .children
            .iter()
            .filter(|c| matches!(c.state, NodeState::Restarting { .. }))
            .count()
            == 2
    })
    .await;
    assert_eq!(tree.root.children.len(), 3);
    fail.store(false, Ordering::SeqCst);
    for child in &children {
        within(child.send(Which)).await.unwrap();
    }
    let running = which_children(pool.supervisor()).await;
    assert_eq!(running.len(), 3);
    assert!(running.iter().all(|(_, s)| *s == NodeState::Running));
    for child in &children {
        within(child.stop()).await;
    }
    assert_eq!(which_children(pool.supervisor()).await, vec![]);
}

/// Many temporary pool children started and terminated one by one (OTP
/// checks the time scales linearly; the benchmark `bench_pool` measures
/// it here), and the table ends empty.
#[actix_rt::test]
async fn simple_one_for_one_scale_many_temporary_children() {
    let (log, _logged) = recorder();
    let no = flag(false);
    let pool = kid_pool(Policy::Temporary, 2).start().unwrap();
    for batch in [1_000, 10_000] {
        let mut children = Vec::with_capacity(batch);
        for _ in 0..batch {
            children.push(within(pool.start(kid_args(&log, &no))).await.unwrap());
        }
        for child in &children {
            within(child.stop()).await;
        }
        assert_eq!(which_children(pool.supervisor()).await, vec![]);
    }
}

/// A pool child in a restart loop can be terminated, and the pool stopped
/// while another is in one: nothing hangs.
#[actix_rt::test]
async fn hanging_restart_loop_simple() {
    tokio::time::pause();
    let (log, _logged) = recorder();
    let fail = flag(false);
    let pool = kid_pool(Policy::Permanent, 8)
        .child_backoff(Backoff::new(Duration::from_secs(2), Duration::from_secs(2)))
        .intensity(RestartIntensity::new(8, Duration::from_secs(10)))
        .start()
        .unwrap();
    let c1 = within(pool.start(kid_args(&log, &fail))).await.unwrap();
    within(c1.started()).await.unwrap();
    fail.store(true, Ordering::SeqCst);
    assert!(within(c1.send(Die)).await.is_err());
    testkit::wait_for_node(pool.supervisor(), "/sup_test/1", |n| {
        matches!(n.state, NodeState::Restarting { .. }) && n.incarnation >= 2
    })
    .await;
    within(c1.stop()).await;
    assert_eq!(which_children(pool.supervisor()).await, vec![]);

    fail.store(false, Ordering::SeqCst);
    let c2 = within(pool.start(kid_args(&log, &fail))).await.unwrap();
    within(c2.started()).await.unwrap();
    fail.store(true, Ordering::SeqCst);
    assert!(within(c2.send(Die)).await.is_err());
    testkit::wait_for_node(pool.supervisor(), "/sup_test/2", |n| {
        matches!(n.state, NodeState::Restarting { .. })
    })
    .await;
    let report = within(pool.supervisor().send(Stop)).await.unwrap();
    assert!(report.find("/sup_test/2").is_some());
}
