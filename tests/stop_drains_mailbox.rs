//! Promises 7 and 10 (idempotent stop): a stop makes the child refuse new
//! work through its handles, handle everything already in its mailbox, finish
//! the futures it waits on, run `stopping`/`stopped`, and only then answer
//! with a report. It is never restarted afterwards. A second stop gets the
//! same report; a stop during startup or during a backoff behaves.

mod common;

use std::time::Duration;

use actix::{Addr, MailboxError};
use actix_supervisor::{
    Backoff, ChildHandle, NodeState, RestartPolicy, SendError, Stop, StopOutcome, SupervisorActor,
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
        probe.addr().do_send(Record(n));
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
        for n in 1..=5 {
            probe.do_send(Record(n)).unwrap();
        }
        let report = tokio::time::timeout(Duration::from_secs(600), probe.stop())
            .await
            .expect("the stop never answered");

        assert_eq!(handled(events.drain()), [1, 2, 3, 4, 5], "{report}");
        assert!(report.is_drained(), "{report}");
        assert_eq!(report.undelivered, 0, "{report}");
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
        for n in 1..=5 {
            probe.do_send(Record(n)).unwrap();
        }
        let report = tokio::time::timeout(Duration::from_secs(600), probe.stop())
            .await
            .expect("the stop never answered");

        assert_eq!(handled(events.drain()), [1, 2, 3, 4, 5], "{report}");
        assert!(report.is_drained(), "{report}");
        assert_eq!(report.undelivered, 0, "{report}");
    })
    .await;
}

// Defect 2 (issue 13): the same window, closed by the supervisor's
// `Shutdown` (no drain): the child's stop answers, and every accepted
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
        app.do_send(actix_supervisor::Shutdown);
        let report = tokio::time::timeout(Duration::from_secs(600), probe.stop())
            .await
            .expect("the child's stop never answered after its supervisor's Shutdown");

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
// `Shutdown` (no drain) while accepted messages wait behind a busy handler:
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
    app.do_send(actix_supervisor::Shutdown);
    let report = tokio::time::timeout(Duration::from_secs(3600), tally.stop())
        .await
        .expect("the child's stop never answered after its supervisor's Shutdown");
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
