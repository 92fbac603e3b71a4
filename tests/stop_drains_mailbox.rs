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
