//! Promises 7 and 10 (idempotent stop): a stop makes the child refuse new
//! work through its handles, handle everything already in its mailbox, finish
//! the futures it waits on, run `stopping`/`stopped`, and only then answer
//! with a report. It is never restarted afterwards. A second stop gets the
//! same report; a stop during startup or during a backoff behaves.

use crate::common;

use std::time::Duration;

use actix::{Addr, MailboxError};
use actix_supervisor::{
    snapshot::NodeState, Backoff, ChildHandle, RestartPolicy, SendError, Stop, StopOutcome,
    SupervisorActor,
};
use common::*;

#[actix_rt::test]
async fn a_hundred_thousand_queued_messages_are_all_handled_before_the_report() {
    let (log, mut events) = recorder();
    let spec = tally_spec("tally", log);
    let tally = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();

    for _ in 0..100_000 {
        tally.do_send(Bump).unwrap();
    }
    let report = within(tally.stop()).await;

    // `stopped` ran (after the last message) before the report was published.
    assert_eq!(events.drain(), [TallyEvent::Stopped(100_000)]);
    assert_eq!(report.outcome, StopOutcome::Drained);
    assert_eq!(report.drained, 100_000);
    assert_eq!(report.undelivered, 0);
    assert_eq!(report.path.as_str(), "/app/tally");
}

#[actix_rt::test]
async fn sends_after_the_stop_are_refused_and_handed_back_never_dropped() {
    let (log, _events) = recorder();
    let spec = tally_spec("tally", log);
    let tally = spec.handle();
    let raw = spec.address();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(tally.send(Bump)).await.unwrap();

    let stopping = tally.stop();
    assert!(!tally.is_accepting());
    match tally.do_send(Bump) {
        Err(SendError::Stopping {
            path,
            message: Bump,
        }) => assert_eq!(path.as_str(), "/app/tally"),
        other => panic!("expected Stopping, got {other:?}"),
    }
    let refused = within(tally.send(Bump)).await.unwrap_err();
    assert!(matches!(refused, SendError::Stopping { .. }), "{refused:?}");
    assert!(
        refused.into_message().is_some(),
        "the message is handed back"
    );

    let report = within(stopping).await;
    assert_eq!(report.drained, 0, "nothing was queued when the stop began");
    assert!(matches!(tally.do_send(Bump), Err(SendError::Gone { .. })));
    assert_eq!(
        within(raw.send(Bump)).await.unwrap_err(),
        MailboxError::Closed
    );
}

#[actix_rt::test]
async fn futures_the_actor_waits_on_finish_before_the_report() {
    let (log, mut events) = recorder();
    let spec = tally_spec("tally", log);
    let tally = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    let (first, second) = (Gate::new(), Gate::new());
    tally.do_send(Hold(1, first.clone())).unwrap();
    let atomic_reply = tally.send(SlowCount(second.clone()));
    tally.do_send(Bump).unwrap();
    let stopping = tally.stop();
    let mut stopping = Box::pin(stopping);

    // The stop cannot finish while the actor waits on the first gate.
    let early = tokio::time::timeout(Duration::ZERO, &mut stopping).await;
    assert!(early.is_err(), "the report came before the work was done");
    assert_eq!(node(&app, "/app/tally").await.state, NodeState::Stopping);

    first.open();
    second.open();
    let report = within(stopping).await;
    assert_eq!(
        within(atomic_reply).await.unwrap(),
        0,
        "the AtomicResponse finished"
    );
    assert_eq!(
        events.drain(),
        [TallyEvent::Released(1), TallyEvent::Stopped(1)]
    );
    assert_eq!((report.outcome, report.drained), (StopOutcome::Drained, 3));
}

#[actix_rt::test]
async fn a_stopped_child_is_not_restarted_whatever_its_policy() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log).restart(RestartPolicy::Always);
    let probe = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();

    let report = within(probe.stop()).await;
    assert_eq!(report.outcome, StopOutcome::Drained);
    let child = node(&app, "/app/probe").await;
    assert_eq!((child.state, child.incarnation), (NodeState::Stopped, 1));
    assert!(matches!(probe.send(Get).await, Err(SendError::Gone { .. })));
}

#[actix_rt::test]
async fn two_concurrent_stops_get_the_same_report() {
    let (log, _events) = recorder();
    let spec = tally_spec("tally", log);
    let tally = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    for _ in 0..1000 {
        tally.do_send(Bump).unwrap();
    }

    let (a, b) = within(async { tokio::join!(tally.stop(), tally.clone().stop()) }).await;
    assert_eq!(a, b);
    assert_eq!(a.drained, 1000);
    // And a stop long after the end answers the same report at once.
    assert_eq!(within(tally.stop()).await, a);
}

#[actix_rt::test]
async fn two_concurrent_stops_of_a_supervisor_get_the_same_report() {
    let (log, _events) = recorder();
    let spec = tally_spec("tally", log);
    let tally = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    // Hold the child so the backlog is still queued when the stops arrive.
    let gate = Gate::new();
    within(tally.send(Hold(1, gate.clone()))).await.unwrap();
    for _ in 0..1000 {
        tally.do_send(Bump).unwrap();
    }

    let (first, second) = (app.send(Stop), app.send(Stop));
    // Handled after both stops: from then on the child is stopping.
    within(app.send(actix_supervisor::Inspect)).await.unwrap();
    assert!(!tally.is_accepting());
    gate.open();
    let (a, b) = within(async { tokio::join!(first, second) }).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(a.find("/app/tally").unwrap().drained, 1000);
    assert_eq!(within(app.send(Stop)).await.unwrap(), a);
    assert_eq!(node(&app, "/app").await.state, NodeState::Stopped);
}

/// A probe in `/app` that failed once and now waits out an hour of backoff;
/// the recorder has seen its first start.
async fn probe_in_backoff() -> (Addr<SupervisorActor>, ChildHandle<Probe>, Records<Event>) {
    let (log, mut events) = recorder();
    let spec = probe_spec("probe", log).backoff(Backoff::new(
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    ));
    let probe = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(events.next().await, Event::Started(1));
    assert!(within(probe.send(Panic("boom"))).await.is_err());
    (app, probe, events)
}

/// actix keeps no count of a mailbox, so messages sent through a raw `Addr`
/// during a backoff cannot be seen from outside it: a stop starts the next
/// incarnation at once, without the rest of the backoff, to drain whatever
/// waits, whichever way it was sent (issue 14, point 3).
#[actix_rt::test]
async fn a_stop_during_a_backoff_drains_raw_addr_messages_without_waiting_out_the_backoff() {
    tokio::time::pause();
    let (app, probe, mut events) = probe_in_backoff().await;
    assert!(matches!(
        node(&app, "/app/probe").await.state,
        NodeState::Restarting { .. }
    ));
    for n in 0..3 {
        probe.address().do_send(Record(n));
    }

    let began = tokio::time::Instant::now();
    let report = within(probe.stop()).await;
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "it did not wait out the backoff"
    );
    assert_eq!(report.outcome, StopOutcome::Drained);
    assert_eq!(node(&app, "/app/probe").await.state, NodeState::Stopped);
    let seen = events.drain();
    let handled: Vec<_> = seen
        .iter()
        .filter_map(|event| match event {
            Event::Handled { incarnation: 2, n } => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(handled, [0, 1, 2], "{seen:?}");
    assert!(seen.contains(&Event::Stopped(2)), "{seen:?}");
}

/// Waits on a gate in `started`, through `ctx.wait`.
struct SlowStarter {
    gate: Gate,
    log: Recorder<&'static str>,
}

impl actix::Actor for SlowStarter {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut actix::Context<Self>) {
        use actix::prelude::*;
        ctx.wait(actix::fut::wrap_future::<_, Self>(self.gate.passed()));
    }

    fn stopped(&mut self, _: &mut actix::Context<Self>) {
        self.log.record("stopped");
    }
}

actix_supervisor::supervised!(SlowStarter);

#[actix_rt::test]
async fn a_stop_during_startup_answers_once_the_start_is_over() {
    let gate = Gate::new();
    let (log, mut events) = recorder();
    let starting_gate = gate.clone();
    let spec = actix_supervisor::ChildSpec::new("slow", move || SlowStarter {
        gate: starting_gate.clone(),
        log: log.clone(),
    });
    let slow = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(node(&app, "/app/slow").await.state, NodeState::Starting);

    let mut stopping = Box::pin(slow.stop());
    assert!(tokio::time::timeout(Duration::ZERO, &mut stopping)
        .await
        .is_err());
    gate.open();
    let report = within(stopping).await;
    assert_eq!(report.outcome, StopOutcome::Drained);
    assert_eq!(events.next().await, "stopped");
}

/// Messages accepted while a child waits out its backoff are handled by a
/// fresh incarnation, started at once, before a stop answers.
#[actix_rt::test]
async fn a_stop_during_a_backoff_drains_what_waits_for_the_next_incarnation() {
    tokio::time::pause();
    let (_app, probe, mut events) = probe_in_backoff().await;
    for n in 0..5 {
        probe.do_send(Record(n)).unwrap();
    }
    let report = within(probe.stop()).await;
    assert_eq!((report.drained, report.undelivered), (5, 0), "{report}");
    assert!(report.is_drained(), "{report}");
    let handled: Vec<Event> = events
        .drain()
        .into_iter()
        .filter(|e| matches!(e, Event::Handled { .. }))
        .collect();
    let expected: Vec<Event> = (0..5)
        .map(|n| Event::Handled { incarnation: 2, n })
        .collect();
    assert_eq!(handled, expected);
}

/// Makes `tally` busy on a closed gate, abandons a request to it by timing
/// out, opens the gate, and returns the stop's report, failing if the stop
/// does not answer within `limit` (virtual time).
async fn stop_after_an_abandoned_request(
    grace: actix_supervisor::Grace,
    limit: Duration,
) -> actix_supervisor::StopReport {
    let (log, _events) = recorder();
    let spec = tally_spec("tally", log).grace(grace);
    let tally = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(tally.send(Bump)).await.unwrap();

    let gate = Gate::new();
    tally.do_send(Hold(1, gate.clone())).unwrap();
    let abandoned = tokio::time::timeout(Duration::from_millis(10), tally.send(Bump)).await;
    assert!(
        abandoned.is_err(),
        "the child was busy: the request gave up"
    );
    gate.open();

    tokio::time::timeout(limit, tally.stop())
        .await
        .expect("the stop never answered: an abandoned request holds it open")
}

// Defect 1 (issue 13): a request whose caller gave up (its `send` future
// dropped) leaked the drain count: every later stop waited out its whole
// grace and reported `TimedOut` with 1 undelivered.
#[actix_rt::test]
async fn a_request_abandoned_by_its_caller_never_holds_a_stop_open() {
    tokio::time::pause();
    let grace = Duration::from_secs(60);
    let report = stop_after_an_abandoned_request(
        actix_supervisor::Grace::Duration(grace),
        Duration::from_secs(1),
    )
    .await;
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.undelivered, 0, "{report}");
}

// Defect 1 (issue 13): with an infinite grace, the stop after an abandoned
// request never answered at all.
#[actix_rt::test]
async fn a_request_abandoned_by_its_caller_never_holds_an_infinite_stop_open() {
    tokio::time::pause();
    let report = stop_after_an_abandoned_request(
        actix_supervisor::Grace::Infinity,
        Duration::from_secs(3600),
    )
    .await;
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.undelivered, 0, "{report}");
}

// Defect 1 (issue 13): a `send` parked on a full mailbox (it holds 16) and
// dropped before it found room was counted as accepted though never queued.
#[actix_rt::test]
async fn a_send_dropped_while_parked_on_a_full_mailbox_never_holds_a_stop_open() {
    tokio::time::pause();
    let (log, mut events) = recorder();
    let spec =
        tally_spec("tally", log).grace(actix_supervisor::Grace::Duration(Duration::from_secs(60)));
    let tally = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(tally.send(Bump)).await.unwrap();

    let gate = Gate::new();
    tally.do_send(Hold(1, gate.clone())).unwrap();
    for _ in 0..16 {
        tally.do_send(Bump).unwrap();
    }
    let parked = tokio::time::timeout(Duration::from_millis(10), tally.send(Bump)).await;
    assert!(
        parked.is_err(),
        "the mailbox was full: the send stayed parked"
    );
    gate.open();

    let report = tokio::time::timeout(Duration::from_secs(1), tally.stop())
        .await
        .expect("the stop waited out its grace: a dropped parked send holds it open");
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.undelivered, 0, "{report}");
    let stopped = events
        .drain()
        .into_iter()
        .find_map(|e| match e {
            TallyEvent::Stopped(n) => Some(n),
            _ => None,
        })
        .expect("`stopped` ran");
    assert_eq!(stopped, 1 + 16, "every queued Bump was handled");
}

/// Runs `test` as a task of the current arbiter, failing as it fails.
async fn in_a_task(test: impl std::future::Future<Output = ()> + 'static) {
    if let Err(err) = actix_rt::spawn(test).await {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// The `n`s of the `Record`s the probe handled, in order.
fn handled(events: Vec<Event>) -> Vec<u32> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Handled { n, .. } => Some(n),
            _ => None,
        })
        .collect()
}

/// A probe under `OnFailure` (no backoff) in a root `app`.
fn restartable_probe() -> (ChildHandle<Probe>, Addr<SupervisorActor>, Records<Event>) {
    let (log, events) = recorder();
    let spec = probe_spec("probe", log)
        .restart(RestartPolicy::OnFailure)
        .grace(actix_supervisor::Grace::Duration(Duration::from_secs(60)));
    let probe = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    (probe, app, events)
}

/// Sends five messages through the handle, stops the child, and checks that
/// the stop handled all five and reported them drained.
async fn five_waiting_are_drained_by_a_stop(
    probe: &ChildHandle<Probe>,
    events: &mut Records<Event>,
) {
    for n in 1..=5 {
        probe.do_send(Record(n)).unwrap();
    }
    let report = tokio::time::timeout(Duration::from_secs(600), probe.stop())
        .await
        .expect("the stop never answered");
    assert_eq!(handled(events.drain()), [1, 2, 3, 4, 5], "{report}");
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.undelivered, 0, "{report}");
}

// Defect 2 (issue 13): a stop in the turn between two incarnations (the
// crash's `NoReply` just came back) dropped the five accepted messages and
// reported `Drained` with `undelivered: 5`.
#[actix_rt::test]
async fn a_stop_between_two_incarnations_drains_what_waits() {
    tokio::time::pause();
    // As a user's task does (an actix-web handler, say): the code runs
    // in a task of the arbiter, scheduled in turn with the child's runner.
    in_a_task(async move {
        let (probe, _app, mut events) = restartable_probe();
        within(probe.send(Inc)).await.unwrap();

        let crash = within(probe.send(Panic("crash between incarnations"))).await;
        assert!(matches!(crash, Err(SendError::NoReply { .. })), "{crash:?}");
        five_waiting_are_drained_by_a_stop(&probe, &mut events).await;
    })
    .await;
}

// Defect 2 (issue 13): the same window, opened by a `RestartChild` that
// just answered.
#[actix_rt::test]
async fn a_stop_right_after_a_restart_child_drains_what_waits() {
    tokio::time::pause();
    // As a user's task does (an actix-web handler, say): the code runs
    // in a task of the arbiter, scheduled in turn with the child's runner.
    in_a_task(async move {
        let (probe, app, mut events) = restartable_probe();
        within(probe.send(Inc)).await.unwrap();

        within(app.send(actix_supervisor::RestartChild::new("probe")))
            .await
            .unwrap()
            .unwrap();
        five_waiting_are_drained_by_a_stop(&probe, &mut events).await;
    })
    .await;
}

// Defect 2 (issue 13): the same window, closed by the supervisor's
// `Kill` (no drain): the child's stop answers, and every accepted
// message is either handled or reported undelivered, never `Drained` with
// work lost.
#[actix_rt::test]
async fn a_shutdown_between_two_incarnations_accounts_for_what_waits() {
    tokio::time::pause();
    // As a user's task does (an actix-web handler, say): the code runs
    // in a task of the arbiter, scheduled in turn with the child's runner.
    in_a_task(async move {
        let (probe, app, mut events) = restartable_probe();
        within(probe.send(Inc)).await.unwrap();

        let crash = within(probe.send(Panic("crash between incarnations"))).await;
        assert!(matches!(crash, Err(SendError::NoReply { .. })), "{crash:?}");
        for n in 1..=5 {
            probe.do_send(Record(n)).unwrap();
        }
        app.do_send(actix_supervisor::Kill);
        let report = tokio::time::timeout(Duration::from_secs(600), probe.stop())
            .await
            .expect("the child's stop never answered after its supervisor's Kill");

        let done = handled(events.drain()).len() as u64;
        assert_eq!(
            done + report.undelivered,
            5,
            "every accepted message is handled or reported undelivered: {report}"
        );
        if done < 5 {
            assert!(!report.is_drained(), "work was lost: {report}");
        }
    })
    .await;
}

/// Waits in `started` (with `ctx.wait`) until its gate opens; counts `Bump`s
/// and records the count when it stops.
struct SlowStart {
    gate: Gate,
    count: u64,
    log: Recorder<u64>,
}

impl actix::Actor for SlowStart {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut actix::Context<Self>) {
        use actix::AsyncContext as _;
        ctx.wait(actix::fut::wrap_future(self.gate.passed()));
    }

    fn stopped(&mut self, _: &mut actix::Context<Self>) {
        self.log.record(self.count);
    }
}

actix_supervisor::supervised!(SlowStart);

impl actix::Handler<Bump> for SlowStart {
    type Result = u64;
    fn handle(&mut self, _: Bump, _: &mut actix::Context<Self>) -> u64 {
        self.count += 1;
        self.count
    }
}

// Attack (passes on the current code; guards the lifecycle rewrite):
// a stop sent while the child's `started` still waits (on
// a future, with `ctx.wait`), with messages accepted meanwhile: once the
// start finishes, every accepted message is handled before the report.
#[actix_rt::test]
async fn a_stop_during_a_slow_start_drains_what_waits_once_started() {
    tokio::time::pause();
    let gate = Gate::new();
    let (log, mut stopped) = recorder();
    let spec = {
        let gate = gate.clone();
        actix_supervisor::ChildSpec::new("slow", move || SlowStart {
            gate: gate.clone(),
            count: 0,
            log: log.clone(),
        })
        .grace(actix_supervisor::Grace::Duration(Duration::from_secs(60)))
    };
    let slow = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    for _ in 0..5 {
        slow.do_send(Bump).unwrap();
    }
    let stopping = slow.stop();
    tokio::task::yield_now().await;
    gate.open();
    let report = tokio::time::timeout(Duration::from_secs(600), stopping)
        .await
        .expect("the stop during a slow start never answered");
    assert_eq!(stopped.drain(), [5], "{report}");
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.drained, 5, "{report}");
}

// Attack (passes on the current code; guards the lifecycle rewrite):
// a stop during a start that never finishes answers at
// the end of the grace, with the accepted messages reported undelivered.
#[actix_rt::test]
async fn a_stop_during_a_start_that_never_ends_answers_at_the_grace() {
    tokio::time::pause();
    let gate = Gate::new();
    let (log, _stopped) = recorder();
    let spec = {
        let gate = gate.clone();
        actix_supervisor::ChildSpec::new("stuck", move || SlowStart {
            gate: gate.clone(),
            count: 0,
            log: log.clone(),
        })
        .grace(actix_supervisor::Grace::Duration(Duration::from_secs(60)))
    };
    let stuck = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    for _ in 0..5 {
        stuck.do_send(Bump).unwrap();
    }
    let report = tokio::time::timeout(Duration::from_secs(600), stuck.stop())
        .await
        .expect("the stop during a start that never ends never answered");
    assert_eq!(report.outcome, StopOutcome::TimedOut, "{report}");
    assert_eq!(report.undelivered, 5, "{report}");
    let started = tokio::time::timeout(Duration::from_secs(1), stuck.started())
        .await
        .expect("the startup future of a child stopped while starting never answered");
    assert!(started.is_err(), "it never finished its start");
    drop(gate);
}

// Defect 1 (issue 13). Found by attack:
// requests sent from other threads through clones of the
// handle and abandoned at once (their futures dropped unpolled) while the
// child is busy never hold its stop open.
#[actix_rt::test]
async fn requests_abandoned_on_other_threads_never_hold_a_stop_open() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec =
        tally_spec("tally", log).grace(actix_supervisor::Grace::Duration(Duration::from_secs(60)));
    let tally = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(tally.send(Bump)).await.unwrap();

    let gate = Gate::new();
    tally.do_send(Hold(1, gate.clone())).unwrap();
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let tally = tally.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    tally.do_send(Bump).unwrap();
                    drop(tally.send(Bump));
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    gate.open();
    let report = tokio::time::timeout(Duration::from_secs(1), tally.stop())
        .await
        .expect("the stop waited out its grace: abandoned requests hold it open");
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.undelivered, 0, "{report}");
}

// Attack (passes on the current code; guards the lifecycle rewrite):
// another thread, with no actix system, sends through a clone of the handle
// and then stops the child itself, awaiting the report on its own runtime:
// the stop answers and every message it sent was handled.
#[actix_rt::test]
async fn a_stop_from_another_thread_answers_there_after_draining_its_sends() {
    let (log, mut events) = recorder();
    let spec = tally_spec("tally", log);
    let tally = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(tally.started()).await.unwrap();

    let (answer, answered) = tokio::sync::oneshot::channel();
    let remote = tally.clone();
    std::thread::spawn(move || {
        for _ in 0..1000 {
            remote.do_send(Bump).unwrap();
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let report = runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), remote.stop()).await });
        let _ = answer.send(report);
    });
    let report = within(answered)
        .await
        .unwrap()
        .expect("the stop awaited on another thread never answered");
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.undelivered, 0, "{report}");
    assert_eq!(events.drain(), [TallyEvent::Stopped(1000)], "{report}");
}

// Attack (passes on the current code; guards the lifecycle rewrite):
// `Kill` (no drain) while accepted messages wait behind a busy handler:
// the child's report counts them undelivered and does not say drained.
#[actix_rt::test]
async fn a_shutdown_reports_what_it_left_undone() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec = tally_spec("tally", log);
    let tally = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(tally.send(Bump)).await.unwrap();
    let gate = Gate::new();
    tally.do_send(Hold(1, gate.clone())).unwrap();
    for _ in 0..5 {
        tally.do_send(Bump).unwrap();
    }
    let pending = tally.send(Bump);
    app.do_send(actix_supervisor::Kill);
    let report = tokio::time::timeout(Duration::from_secs(3600), tally.stop())
        .await
        .expect("the child's stop never answered after its supervisor's Kill");
    assert!(!report.is_drained(), "{report}");
    assert_eq!(report.undelivered, 6, "{report}");
    let answer = tokio::time::timeout(Duration::from_secs(3600), pending)
        .await
        .expect("a request to a shut-down child never answered");
    assert!(
        matches!(answer, Err(SendError::NoReply { .. })),
        "{answer:?}"
    );
    drop(gate);
}

// Defect 1 (issue 13). Found by attack: a request accepted while the child
// waits out a backoff, abandoned by its caller, then a stop: the stop starts
// the next incarnation to drain what waits, and must not wait for the
// abandoned request.
#[actix_rt::test]
async fn a_request_abandoned_during_a_backoff_never_holds_a_stop_open() {
    tokio::time::pause();
    let (log, mut events) = recorder();
    let spec = probe_spec("probe", log)
        .restart(RestartPolicy::OnFailure)
        .backoff(Backoff::new(
            Duration::from_secs(10),
            Duration::from_secs(10),
        ))
        .grace(actix_supervisor::Grace::Duration(Duration::from_secs(60)));
    let probe = spec.handle();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(probe.send(Inc)).await.unwrap();
    probe.do_send(FailWith("into the backoff".into())).unwrap();
    probe.do_send(Record(1)).unwrap();
    let abandoned = tokio::time::timeout(Duration::from_millis(10), probe.send(Inc)).await;
    assert!(abandoned.is_err(), "the child waits out its backoff");
    probe.do_send(Record(2)).unwrap();

    let report = tokio::time::timeout(Duration::from_secs(1), probe.stop())
        .await
        .expect("the stop waited out its grace: an abandoned request holds it open");
    let handled: Vec<u32> = events
        .drain()
        .into_iter()
        .filter_map(|e| match e {
            Event::Handled { n, .. } => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(handled, [1, 2], "{report}");
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.undelivered, 0, "{report}");
}

/// How a [`Fragile`] incarnation after the first one fails its start.
#[derive(Clone, Copy, Debug)]
enum StartFault {
    /// `started` panics.
    Panic,
    /// `started` calls [`actix_supervisor::fail`].
    Fail,
    /// `started` calls `ctx.stop()` (a normal exit).
    StopItself,
}

/// Records the `Record`s it handles; every incarnation after the first one
/// fails its start as its `fault` says.
struct Fragile {
    incarnation: u64,
    fault: Option<StartFault>,
    log: Recorder<u32>,
}

impl actix::Actor for Fragile {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut actix::Context<Self>) {
        if self.incarnation >= 2 {
            match self.fault {
                Some(StartFault::Panic) => panic!("started panics on the drain incarnation"),
                Some(StartFault::Fail) => {
                    actix_supervisor::fail(ctx, "started fails on the drain incarnation")
                }
                Some(StartFault::StopItself) => {
                    use actix::ActorContext as _;
                    ctx.stop()
                }
                None => {}
            }
        }
    }
}

actix_supervisor::supervised!(Fragile);

impl actix::Handler<Record> for Fragile {
    type Result = ();
    fn handle(&mut self, msg: Record, _: &mut actix::Context<Self>) {
        self.log.record(msg.0);
    }
}

impl actix::Handler<Panic> for Fragile {
    type Result = ();
    fn handle(&mut self, msg: Panic, _: &mut actix::Context<Self>) {
        panic!("{}", msg.0);
    }
}

/// How a [`Fragile`] spec's factory behaves after its first call.
#[derive(Clone, Copy, Debug)]
enum Build {
    Ok(Option<StartFault>),
    Panic,
    Err,
}

fn fragile_spec(build: Build, log: Recorder<u32>) -> actix_supervisor::ChildSpec<Fragile> {
    let made = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    actix_supervisor::ChildSpec::try_new("fragile", move || {
        let incarnation = made.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let fault = match build {
            Build::Ok(fault) => fault,
            Build::Panic if incarnation >= 2 => {
                panic!("the factory panics on the drain incarnation")
            }
            Build::Err if incarnation >= 2 => {
                return Err("the factory fails on the drain incarnation")
            }
            _ => None,
        };
        Ok(Fragile {
            incarnation,
            fault,
            log: log.clone(),
        })
    })
    .restart(RestartPolicy::OnFailure)
    .backoff(Backoff::new(
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    ))
    .grace(actix_supervisor::Grace::Duration(Duration::from_millis(
        300,
    )))
}

/// Starts `build`'s child, crashes it into an hour of backoff, queues three
/// `Record`s through its handle and stops it: the stop starts the drain
/// incarnation at once, and that incarnation cannot start. Real time: a
/// library that retried the drain incarnation in a loop would keep paused
/// time from ever moving.
async fn stop_when_the_drain_incarnation_cannot_start(
    build: Build,
    intensity: actix_supervisor::RestartIntensity,
) {
    let (log, mut handled) = recorder();
    let spec = fragile_spec(build, log);
    let fragile = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(intensity)
        .child(spec)
        .start()
        .unwrap();
    within(fragile.started()).await.unwrap();
    assert!(within(fragile.send(Panic("into the backoff")))
        .await
        .is_err());
    assert!(matches!(
        node(&app, "/app/fragile").await.state,
        NodeState::Restarting { .. }
    ));
    for n in 1..=3 {
        fragile.do_send(Record(n)).unwrap();
    }
    let waiting = fragile.send(Record(4));

    let report = tokio::time::timeout(Duration::from_secs(10), fragile.stop())
        .await
        .unwrap_or_else(|_| {
            panic!("{build:?}: the stop never answered when its drain incarnation could not start")
        });
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap_or_else(|_| panic!("{build:?}: a request waiting for the drain hangs"));
    assert!(
        matches!(answer, Err(SendError::NoReply { .. })),
        "{build:?}: {answer:?}"
    );
    let done = handled.drain();
    assert!(
        done.is_empty(),
        "{build:?}: nothing could be handled: {done:?}"
    );
    assert_eq!(
        report.undelivered, 4,
        "{build:?}: the four accepted messages are undelivered: {report}"
    );
    assert!(!report.is_drained(), "{build:?}: work was lost: {report}");
    assert_eq!(
        within(fragile.stop()).await,
        report,
        "{build:?}: a second stop gets the same report"
    );
    let state = node(&app, "/app/fragile").await.state;
    assert!(
        matches!(state, NodeState::Stopped | NodeState::Failed),
        "{build:?}: {state:?}"
    );
}

// Found by attack: a stop during a backoff starts the drain incarnation at
// once; that incarnation's factory panics, under a restart intensity that
// never trips. The stop must answer (by its grace, 300 ms, at the latest)
// with the waiting messages undelivered.
#[actix_rt::test]
async fn a_stop_whose_drain_incarnation_s_factory_panics_answers_by_its_grace() {
    stop_when_the_drain_incarnation_cannot_start(Build::Panic, unlimited()).await;
}

// Found by attack: the same, the drain incarnation's factory returning an
// error.
#[actix_rt::test]
async fn a_stop_whose_drain_incarnation_s_factory_fails_answers_by_its_grace() {
    stop_when_the_drain_incarnation_cannot_start(Build::Err, unlimited()).await;
}

// Found by attack: the same, the drain incarnation's `started` panicking.
#[actix_rt::test]
async fn a_stop_whose_drain_incarnation_panics_in_started_answers_by_its_grace() {
    stop_when_the_drain_incarnation_cannot_start(Build::Ok(Some(StartFault::Panic)), unlimited())
        .await;
}

// Found by attack: the same, the drain incarnation's `started` calling
// `fail`.
#[actix_rt::test]
async fn a_stop_whose_drain_incarnation_fails_in_started_answers_by_its_grace() {
    stop_when_the_drain_incarnation_cannot_start(Build::Ok(Some(StartFault::Fail)), unlimited())
        .await;
}

// Attack (passes): the same four, with the default restart intensity (the supervisor
// gives up on the child while its stop waits for the drain).
#[actix_rt::test]
async fn a_stop_whose_drain_incarnation_cannot_start_answers_under_the_default_intensity() {
    for build in [
        Build::Panic,
        Build::Err,
        Build::Ok(Some(StartFault::Panic)),
        Build::Ok(Some(StartFault::Fail)),
    ] {
        stop_when_the_drain_incarnation_cannot_start(
            build,
            actix_supervisor::RestartIntensity::default(),
        )
        .await;
    }
}

/// Queues `Record(1)`, `Record(2)`, `StopNormally`, then `Record(3..=5)`
/// (the last as a request) and stops the child in the same turn, so the
/// drain meets the child's own `ctx.stop()` half-way.
async fn a_child_stopping_itself_mid_drain(policy: RestartPolicy) {
    let (log, mut events) = recorder();
    let spec = probe_spec("probe", log)
        .restart(policy)
        .grace(actix_supervisor::Grace::Duration(Duration::from_secs(60)));
    let probe = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(probe.started()).await.unwrap();
    probe.do_send(Record(1)).unwrap();
    probe.do_send(Record(2)).unwrap();
    probe.do_send(StopNormally).unwrap();
    probe.do_send(Record(3)).unwrap();
    probe.do_send(Record(4)).unwrap();
    let last = probe.send(Record(5));
    let report = tokio::time::timeout(Duration::from_secs(600), probe.stop())
        .await
        .unwrap_or_else(|_| panic!("{policy:?}: the stop never answered"));
    let answer = tokio::time::timeout(Duration::from_secs(600), last)
        .await
        .unwrap_or_else(|_| panic!("{policy:?}: the last request never answered"));
    let seen = events.drain();
    let done = handled(seen.clone());
    // Six messages were accepted through the handle: the three handled
    // before the child stopped itself, then three more.
    assert_eq!(
        report.drained + report.undelivered + report.cancelled,
        6,
        "{policy:?}: every accepted message is handled, cancelled or undelivered: {report}\n{seen:?}"
    );
    assert_eq!(
        done.len() as u64,
        report.drained - 1,
        "{policy:?}: `drained` counts what was handled (and StopNormally): {report}\n{seen:?}"
    );
    if matches!(policy, RestartPolicy::Always) {
        // Its policy restarts it: the stop is kept, and the next
        // incarnation drains what still waits.
        assert_eq!(done, [1, 2, 3, 4, 5], "{policy:?}: {report}\n{seen:?}");
        assert!(answer.is_ok(), "{policy:?}: {answer:?}");
        assert!(report.is_drained(), "{policy:?}: {report}");
    } else {
        assert_eq!(done, [1, 2], "{policy:?}: {report}\n{seen:?}");
        assert_eq!(report.undelivered, 3, "{policy:?}: {report}");
        assert_eq!(
            report.outcome,
            StopOutcome::Incomplete,
            "{policy:?}: {report}"
        );
        assert!(
            matches!(answer, Err(SendError::NoReply { .. })),
            "{policy:?}: {answer:?}"
        );
    }
    assert_eq!(node(&app, "/app/probe").await.state, NodeState::Stopped);
}

// Attack (passes): a child that calls `ctx.stop()` itself half-way through a
// stop's drain, under each policy.
#[actix_rt::test]
async fn a_child_stopping_itself_mid_drain_accounts_for_the_rest_under_every_policy() {
    tokio::time::pause();
    for policy in [
        RestartPolicy::Never,
        RestartPolicy::OnFailure,
        RestartPolicy::Always,
    ] {
        a_child_stopping_itself_mid_drain(policy).await;
    }
}

// Attack (passes): a request abandoned (by `timeout`) while the child's `started`
// still waits, then a stop: the report counts it cancelled, the others
// drained, none undelivered.
#[actix_rt::test]
async fn a_request_abandoned_during_a_slow_start_is_counted_cancelled() {
    tokio::time::pause();
    let gate = Gate::new();
    let (log, mut stopped) = recorder();
    let spec = {
        let gate = gate.clone();
        actix_supervisor::ChildSpec::new("slow", move || SlowStart {
            gate: gate.clone(),
            count: 0,
            log: log.clone(),
        })
        .grace(actix_supervisor::Grace::Duration(Duration::from_secs(60)))
    };
    let slow = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(node(&app, "/app/slow").await.state, NodeState::Starting);
    slow.do_send(Bump).unwrap();
    let abandoned = tokio::time::timeout(Duration::from_millis(10), slow.send(Bump)).await;
    assert!(abandoned.is_err(), "the child was still starting");
    slow.do_send(Bump).unwrap();
    let stopping = slow.stop();
    assert_eq!(node(&app, "/app/slow").await.state, NodeState::Stopping);
    gate.open();
    let report = tokio::time::timeout(Duration::from_secs(600), stopping)
        .await
        .expect("the stop never answered");
    assert_eq!(stopped.drain(), [2], "{report}");
    assert_eq!(
        (report.drained, report.cancelled, report.undelivered),
        (2, 1, 0),
        "{report}"
    );
    assert!(report.is_drained(), "{report}");
}

// Attack (passes): requests abandoned after the stop began, while the drain waits
// on a gate: they are cancelled, hold nothing open, and the report counts
// them.
#[actix_rt::test]
async fn requests_abandoned_during_a_drain_are_counted_cancelled() {
    tokio::time::pause();
    let (log, mut events) = recorder();
    let spec =
        tally_spec("tally", log).grace(actix_supervisor::Grace::Duration(Duration::from_secs(60)));
    let tally = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(tally.send(Bump)).await.unwrap();
    let gate = Gate::new();
    tally.do_send(Hold(1, gate.clone())).unwrap();
    let requests: Vec<_> = (0..3).map(|_| tally.send(Bump)).collect();
    tally.do_send(Bump).unwrap();
    let stopping = tally.stop();
    assert_eq!(node(&app, "/app/tally").await.state, NodeState::Stopping);
    drop(requests);
    gate.open();
    let report = tokio::time::timeout(Duration::from_secs(1), stopping)
        .await
        .expect("the stop waited for requests abandoned during its drain");
    assert_eq!(
        events.drain(),
        [TallyEvent::Released(1), TallyEvent::Stopped(2)],
        "{report}"
    );
    assert_eq!(
        (report.drained, report.cancelled, report.undelivered),
        (2, 3, 0),
        "{report}"
    );
    assert!(report.is_drained(), "{report}");
}

// Attack (passes): a stop during a backoff with a request abandoned while the child
// waited: the drain incarnation handles the rest; the report counts it
// cancelled, the rest drained, and while the drain incarnation runs the
// node shows `Stopping`.
#[actix_rt::test]
async fn a_stop_during_a_backoff_counts_an_abandoned_request_as_cancelled() {
    tokio::time::pause();
    let (_app, probe, mut events) = probe_in_backoff().await;
    probe.do_send(Record(1)).unwrap();
    let abandoned = tokio::time::timeout(Duration::from_millis(10), probe.send(Inc)).await;
    assert!(abandoned.is_err(), "the child waits out its backoff");
    probe.do_send(Record(2)).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(1), probe.stop())
        .await
        .expect("the stop waited out its backoff or grace");
    assert_eq!(handled(events.drain()), [1, 2], "{report}");
    assert_eq!(
        (report.drained, report.cancelled, report.undelivered),
        (2, 1, 0),
        "{report}"
    );
    assert!(report.is_drained(), "{report}");
}

/// Queues `Record(1)`, a `Panic`, `Record(2)`, `Record(3)` (the last as a
/// request) and stops the probe in the same turn: its incarnation fails
/// half-way through the stop's drain.
async fn a_panic_mid_drain(policy: RestartPolicy) {
    let (log, mut events) = recorder();
    let spec = probe_spec("probe", log)
        .restart(policy)
        .backoff(Backoff::new(
            Duration::from_secs(3600),
            Duration::from_secs(3600),
        ))
        .grace(actix_supervisor::Grace::Duration(Duration::from_secs(60)));
    let probe = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(probe.started()).await.unwrap();
    probe.do_send(Record(1)).unwrap();
    probe.do_send(Panic("mid-drain")).unwrap();
    probe.do_send(Record(2)).unwrap();
    let last = probe.send(Record(3));
    let report = tokio::time::timeout(Duration::from_secs(1), probe.stop())
        .await
        .unwrap_or_else(|_| panic!("{policy:?}: the stop waited out the backoff or its grace"));
    let answer = tokio::time::timeout(Duration::from_secs(1), last)
        .await
        .unwrap_or_else(|_| panic!("{policy:?}: the last request never answered"));
    let done = handled(events.drain());
    assert_eq!(
        report.drained + report.undelivered + report.cancelled,
        4,
        "{policy:?}: every accepted message is handled, cancelled or undelivered: {report}"
    );
    if matches!(policy, RestartPolicy::Never) {
        assert_eq!(done, [1], "{policy:?}: {report}");
        assert_eq!(report.undelivered, 2, "{policy:?}: {report}");
        assert!(!report.is_drained(), "{policy:?}: {report}");
        assert!(
            matches!(answer, Err(SendError::NoReply { .. })),
            "{policy:?}: {answer:?}"
        );
    } else {
        // The stop is kept: the next incarnation, started at once without
        // the backoff, drains what still waits.
        assert_eq!(done, [1, 2, 3], "{policy:?}: {report}");
        assert_eq!(report.undelivered, 0, "{policy:?}: {report}");
        assert!(answer.is_ok(), "{policy:?}: {answer:?}");
    }
    let state = node(&app, "/app/probe").await.state;
    assert!(
        matches!(state, NodeState::Stopped | NodeState::Failed),
        "{policy:?}: {state:?}"
    );
    assert!(matches!(
        probe.do_send(Record(9)),
        Err(SendError::Gone { .. })
    ));
}

// Attack (passes): a handler panics half-way through a stop's drain, under
// each policy, with an hour of backoff configured.
#[actix_rt::test]
async fn a_panic_mid_drain_is_followed_by_a_drain_incarnation_without_backoff() {
    tokio::time::pause();
    for policy in [
        RestartPolicy::Never,
        RestartPolicy::OnFailure,
        RestartPolicy::Always,
    ] {
        a_panic_mid_drain(policy).await;
    }
}

// Found by attack: a stop of a running child; a handler panics half-way
// through the drain, and every later incarnation's factory panics (under a
// restart intensity that never trips). The stop must answer by its grace
// (300 ms) with what waits undelivered.
#[actix_rt::test]
async fn a_stop_whose_drain_is_cut_by_a_panic_and_whose_factory_then_fails_answers_by_its_grace() {
    let (log, mut handled) = recorder();
    let spec = fragile_spec(Build::Panic, log);
    let fragile = spec.handle();
    let _app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(fragile.started()).await.unwrap();
    fragile.do_send(Record(1)).unwrap();
    fragile.do_send(Panic("mid-drain")).unwrap();
    fragile.do_send(Record(2)).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(10), fragile.stop())
        .await
        .expect("the stop never answered: its drain incarnations fail forever");
    assert_eq!(handled.drain(), [1], "{report}");
    assert_eq!(report.undelivered, 1, "{report}");
    assert!(!report.is_drained(), "{report}");
}

/// Every incarnation after the first waits in `started` (with `ctx.wait`)
/// on a gate; records the `Record`s it handles.
struct GatedRestart {
    incarnation: u64,
    gate: Gate,
    log: Recorder<u32>,
}

impl actix::Actor for GatedRestart {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut actix::Context<Self>) {
        use actix::AsyncContext as _;
        if self.incarnation >= 2 {
            ctx.wait(actix::fut::wrap_future(self.gate.passed()));
        }
    }
}

actix_supervisor::supervised!(GatedRestart);

impl actix::Handler<Record> for GatedRestart {
    type Result = ();
    fn handle(&mut self, msg: Record, _: &mut actix::Context<Self>) {
        self.log.record(msg.0);
    }
}

impl actix::Handler<Panic> for GatedRestart {
    type Result = ();
    fn handle(&mut self, msg: Panic, _: &mut actix::Context<Self>) {
        panic!("{}", msg.0);
    }
}

/// A `GatedRestart` in `/app` (grace 60 s) crashed into an hour of
/// backoff, with `Record(1..=3)` accepted through its handle.
async fn gated_in_backoff(
    gate: &Gate,
) -> (
    Addr<SupervisorActor>,
    ChildHandle<GatedRestart>,
    Records<u32>,
) {
    let (log, handled) = recorder();
    let made = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let factory_gate = gate.clone();
    let spec = actix_supervisor::ChildSpec::new("gated", move || GatedRestart {
        incarnation: made.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
        gate: factory_gate.clone(),
        log: log.clone(),
    })
    .backoff(Backoff::new(
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    ))
    .grace(actix_supervisor::Grace::Duration(Duration::from_secs(60)));
    let gated = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(gated.started()).await.unwrap();
    assert!(within(gated.send(Panic("into the backoff"))).await.is_err());
    for n in 1..=3 {
        gated.do_send(Record(n)).unwrap();
    }
    (app, gated, handled)
}

// Attack (passes): a stop during a backoff starts the drain incarnation,
// whose `started` then waits for ever: the stop answers at its grace,
// `TimedOut`, with the three waiting messages undelivered, and the node
// shows `Stopping` meanwhile.
#[actix_rt::test]
async fn a_stop_whose_drain_incarnation_never_finishes_starting_answers_at_the_grace() {
    tokio::time::pause();
    let gate = Gate::new();
    let (app, gated, mut handled) = gated_in_backoff(&gate).await;
    let mut stopping = Box::pin(gated.stop());
    assert!(tokio::time::timeout(Duration::from_secs(1), &mut stopping)
        .await
        .is_err());
    assert_eq!(node(&app, "/app/gated").await.state, NodeState::Stopping);
    let report = tokio::time::timeout(Duration::from_secs(600), stopping)
        .await
        .expect("the stop never answered");
    assert_eq!(report.outcome, StopOutcome::TimedOut, "{report}");
    assert_eq!(report.undelivered, 3, "{report}");
    assert!(handled.drain().is_empty());
    assert_eq!(node(&app, "/app/gated").await.state, NodeState::Stopped);
}

// Attack (passes): the supervisor's `Kill` while a stop's drain
// incarnation still starts (its `started` waits on a gate): the stop
// answers, the three waiting messages are undelivered, and a second stop
// gets the same report.
#[actix_rt::test]
async fn a_shutdown_racing_a_stop_s_drain_incarnation_answers_the_stop() {
    tokio::time::pause();
    let gate = Gate::new();
    let (app, gated, mut handled) = gated_in_backoff(&gate).await;
    let mut stopping = Box::pin(gated.stop());
    assert!(tokio::time::timeout(Duration::from_secs(1), &mut stopping)
        .await
        .is_err());
    app.do_send(actix_supervisor::Kill);
    let report = tokio::time::timeout(Duration::from_secs(1), stopping)
        .await
        .expect("the stop never answered after Kill");
    assert!(!report.is_drained(), "{report}");
    assert_eq!(report.undelivered, 3, "{report}");
    assert!(handled.drain().is_empty());
    assert_eq!(within(gated.stop()).await, report);
}

/// Calls `fail` from `stopping`; counts its incarnations.
struct FailsWhenStopping {
    started: Recorder<()>,
}

impl actix::Actor for FailsWhenStopping {
    type Context = actix::Context<Self>;

    fn started(&mut self, _: &mut actix::Context<Self>) {
        self.started.record(());
    }

    fn stopping(&mut self, ctx: &mut actix::Context<Self>) -> actix::Running {
        actix_supervisor::fail(ctx, "fails in stopping");
        actix::Running::Stop
    }
}

actix_supervisor::supervised!(FailsWhenStopping);

// Attack (passes): `fail` called from `stopping` during a stop, under `Always` and
// a restart intensity that never trips: the stop answers `Failed` by its
// grace at the latest, and the child is not started again. Real time: a
// restart loop would keep paused time from moving.
#[actix_rt::test]
async fn fail_from_stopping_during_a_stop_ends_the_child_as_failed() {
    let (started, mut starts) = recorder();
    let spec = actix_supervisor::ChildSpec::new("failing", move || FailsWhenStopping {
        started: started.clone(),
    })
    .restart(RestartPolicy::Always)
    .grace(actix_supervisor::Grace::Duration(Duration::from_millis(
        300,
    )));
    let child = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(child.started()).await.unwrap();
    let report = tokio::time::timeout(Duration::from_secs(10), child.stop())
        .await
        .expect("the stop never answered");
    assert!(matches!(report.outcome, StopOutcome::Failed(_)), "{report}");
    assert_eq!(
        starts.drain().len(),
        1,
        "started again during the stop: {report}"
    );
    let state = node(&app, "/app/failing").await.state;
    assert!(state.is_terminal(), "{state:?}");
}

// Found by attack: under `Always`, a stop during a backoff starts the drain
// incarnation, which stops itself normally in `started`; its policy
// restarts it, and so on. The stop must answer by its grace (300 ms) at
// the latest, with the four waiting messages undelivered. Real time: a
// restart loop would keep paused time from moving.
#[actix_rt::test]
async fn a_stop_whose_drain_incarnation_stops_itself_under_always_answers_by_its_grace() {
    let (log, mut handled) = recorder();
    let spec =
        fragile_spec(Build::Ok(Some(StartFault::StopItself)), log).restart(RestartPolicy::Always);
    let fragile = spec.handle();
    let _app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(fragile.started()).await.unwrap();
    assert!(within(fragile.send(Panic("into the backoff")))
        .await
        .is_err());
    for n in 1..=4 {
        fragile.do_send(Record(n)).unwrap();
    }
    let report = tokio::time::timeout(Duration::from_secs(10), fragile.stop())
        .await
        .expect("the stop never answered: the drain incarnation is restarted again and again");
    assert!(handled.drain().is_empty(), "{report}");
    assert_eq!(report.undelivered, 4, "{report}");
    assert!(!report.is_drained(), "{report}");
}

// Attack (passes): the same under `OnFailure`: the drain incarnation's
// normal exit ends the child; the stop answers `Incomplete` with the four
// waiting messages undelivered.
#[actix_rt::test]
async fn a_stop_whose_drain_incarnation_stops_itself_answers_incomplete() {
    let (log, mut handled) = recorder();
    let spec = fragile_spec(Build::Ok(Some(StartFault::StopItself)), log);
    let fragile = spec.handle();
    let _app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(fragile.started()).await.unwrap();
    assert!(within(fragile.send(Panic("into the backoff")))
        .await
        .is_err());
    for n in 1..=4 {
        fragile.do_send(Record(n)).unwrap();
    }
    let report = tokio::time::timeout(Duration::from_secs(10), fragile.stop())
        .await
        .expect("the stop never answered");
    assert!(handled.drain().is_empty(), "{report}");
    assert_eq!(report.undelivered, 4, "{report}");
    assert_eq!(report.outcome, StopOutcome::Incomplete, "{report}");
}

// Attack (passes): the same stuck stop (the drain incarnation's factory
// panics again and again under an intensity that never trips), then the
// supervisor's `Kill`: a kill ends every live state at once, so the
// stop answers then, with the waiting messages undelivered.
#[actix_rt::test]
async fn a_shutdown_ends_a_stop_whose_drain_incarnations_keep_failing() {
    let (log, _handled) = recorder();
    let spec = fragile_spec(Build::Panic, log);
    let fragile = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(fragile.started()).await.unwrap();
    assert!(within(fragile.send(Panic("into the backoff")))
        .await
        .is_err());
    for n in 1..=3 {
        fragile.do_send(Record(n)).unwrap();
    }
    let mut stopping = Box::pin(fragile.stop());
    // The stop may answer at once (its drain incarnation cannot start), or
    // after the supervisor's kill; it must answer either way.
    let report = match tokio::time::timeout(Duration::from_millis(50), &mut stopping).await {
        Ok(report) => report,
        Err(_) => {
            app.do_send(actix_supervisor::Kill);
            tokio::time::timeout(Duration::from_secs(10), stopping)
                .await
                .expect("the child's stop never answered, even after its supervisor's Kill")
        }
    };
    assert_eq!(report.undelivered, 3, "{report}");
    assert!(!report.is_drained(), "{report}");
}
