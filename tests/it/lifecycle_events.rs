//! Promise 11 (the part for children): a subscriber, through a stream or an
//! actix `Recipient`, receives `Started`, `Failed`, `Restarting` and
//! `Stopped` for a node or a whole subtree, in the order they happened, and
//! a subscriber that falls behind never stalls supervision.

use crate::common;

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::{
    events::{EventKind, LifecycleEvent, SubscribeRecipient},
    Backoff, StopOutcome, Subscribe, SupervisorActor,
};
use common::*;
use futures_util::StreamExt;

/// The event's kind, with its node and incarnation, for comparing orders.
fn summary(event: &LifecycleEvent) -> (String, u64, String) {
    let kind = match &event.kind {
        EventKind::Started => "started".to_string(),
        EventKind::Failed { failure } => format!("failed: {}", failure.message),
        EventKind::Restarting { attempt, delay } => format!("restarting #{attempt} in {delay:?}"),
        EventKind::Stopped { report } => format!("stopped: {:?}", report.outcome),
        EventKind::Lagged { missed } => format!("lagged {missed}"),
        other => format!("{other:?}"),
    };
    (event.path.to_string(), event.incarnation, kind)
}

#[actix_rt::test]
async fn a_failure_and_a_backoff_restart_show_in_the_documented_order() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log)
        .backoff(Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).jitter(0.0));
    let probe = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    let mut events = within(app.send(Subscribe::all())).await.unwrap();

    assert!(within(probe.send(Panic("boom"))).await.is_err());
    within(probe.send(Get)).await.unwrap();
    let report = within(probe.stop()).await;
    assert_eq!(report.outcome, StopOutcome::Drained);

    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(summary(&within(events.next()).await.unwrap()));
    }
    let p = "/app/probe".to_string();
    assert_eq!(
        seen,
        [
            (p.clone(), 1, "started".into()),
            (p.clone(), 1, "failed: boom".into()),
            (p.clone(), 1, "restarting #1 in 1s".into()),
            (p.clone(), 2, "started".into()),
            (p.clone(), 2, "Stopping".into()),
            (p, 2, "stopped: Drained".into()),
        ]
    );
}

#[actix_rt::test]
async fn a_subscriber_that_never_reads_does_not_stall_restarts() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log);
    let probe = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    let mut idle = within(app.send(Subscribe::all())).await.unwrap();

    // Each restart sends three events; two thousand restarts overflow the
    // subscriber's buffer many times over.
    for _ in 0..2000 {
        assert!(within(probe.send(Panic("again"))).await.is_err());
    }
    assert_eq!(within(probe.send(Get)).await.unwrap(), (2001, 0));

    let first = within(idle.next()).await.unwrap();
    assert!(
        matches!(first.kind, EventKind::Lagged { missed } if missed > 4000),
        "{first:?}"
    );
    // After the marker, the subscriber reads on from the oldest event kept.
    let next = within(idle.next()).await.unwrap();
    assert_eq!(next.path.as_str(), "/app/probe");
}

#[actix_rt::test]
async fn a_subtree_subscription_sees_only_that_subtree() {
    let (log, _events) = recorder();
    let (left, right) = (probe_spec("left", log.clone()), probe_spec("right", log));
    let (left_handle, right_handle) = (left.handle(), right.handle());
    let app = SupervisorActor::builder("app")
        .child(left)
        .child(right)
        .start()
        .unwrap();
    let mut events = within(app.send(Subscribe::subtree(left_handle.path())))
        .await
        .unwrap();

    assert!(within(right_handle.send(Panic("not watched")))
        .await
        .is_err());
    assert!(within(left_handle.send(Panic("watched"))).await.is_err());
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(summary(&within(events.next()).await.unwrap()));
    }
    let l = "/app/left".to_string();
    assert_eq!(
        seen,
        [
            (l.clone(), 1, "started".into()),
            (l.clone(), 1, "failed: watched".into()),
            (l.clone(), 1, "restarting #1 in 0ns".into()),
            (l, 2, "started".into()),
        ]
    );
}

/// Forwards every event it receives to a recorder.
struct Collector(Recorder<LifecycleEvent>);

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Handler<LifecycleEvent> for Collector {
    type Result = ();
    fn handle(&mut self, event: LifecycleEvent, _: &mut Context<Self>) {
        self.0.record(event);
    }
}

#[actix_rt::test]
async fn a_recipient_receives_the_events_in_order() {
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log);
    let probe = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    let (collected, mut received) = recorder();
    let collector = Collector(collected).start();
    within(app.send(SubscribeRecipient::all(collector.recipient())))
        .await
        .unwrap();

    assert!(within(probe.send(Panic("boom"))).await.is_err());
    let mut kinds = Vec::new();
    for _ in 0..4 {
        kinds.push(summary(&received.next().await).2);
    }
    assert_eq!(
        kinds,
        ["started", "failed: boom", "restarting #1 in 0ns", "started"]
    );
}

#[actix_rt::test]
async fn a_root_that_stops_says_so_with_its_report() {
    let (log, _events) = recorder();
    let app = SupervisorActor::builder("app")
        .child(probe_spec("probe", log))
        .start()
        .unwrap();
    let mut events = within(app.send(Subscribe::all())).await.unwrap();
    let report = within(app.send(actix_supervisor::Stop)).await.unwrap();
    loop {
        let event = within(events.next()).await.unwrap();
        if event.path.as_str() == "/app" {
            match event.kind {
                EventKind::Stopping => {}
                EventKind::Stopped { report: told } => {
                    assert_eq!(told, report);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

/// A recipient that, at its first event, waits on a gate before it reads
/// on; then records every event.
struct SlowReader {
    gate: Option<Gate>,
    seen: Recorder<LifecycleEvent>,
}

impl Actor for SlowReader {
    type Context = Context<Self>;
}

impl Handler<LifecycleEvent> for SlowReader {
    type Result = ();
    fn handle(&mut self, event: LifecycleEvent, ctx: &mut Context<Self>) {
        self.seen.record(event);
        if let Some(gate) = self.gate.take() {
            ctx.wait(actix::fut::wrap_future(gate.passed()));
        }
    }
}

// Defect 7 (issue 13): a slow `SubscribeRecipient` was never lagged: its
// actix mailbox grew without bound (6,000 events queued, no `Lagged`).
#[actix_rt::test]
async fn a_slow_recipient_is_told_it_lagged_and_never_buffers_without_bound() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log);
    let probe = spec.handle();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    within(probe.started()).await.unwrap();
    let gate = Gate::new();
    let (seen, mut received) = recorder();
    let reader = SlowReader {
        gate: Some(gate.clone()),
        seen,
    }
    .start();
    within(app.send(SubscribeRecipient::all(reader.recipient())))
        .await
        .unwrap();

    // Three events per restart: six thousand events while the reader waits.
    for _ in 0..2000 {
        within(probe.send(FailWith("again".into()))).await.unwrap();
    }
    assert_eq!(within(probe.send(Get)).await.unwrap().0, 2001);
    let report = within(app.send(actix_supervisor::Stop)).await.unwrap();
    assert!(report.is_drained(), "{report}");

    gate.open();
    let mut events = Vec::new();
    loop {
        let event = received.next().await;
        let last = event.path.as_str() == "/app" && matches!(event.kind, EventKind::Stopped { .. });
        events.push(event);
        if last {
            break;
        }
    }
    let lagged: u64 = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Lagged { missed } => Some(missed),
            _ => None,
        })
        .sum();
    assert!(
        lagged > 0,
        "no Lagged event among the {} events the slow reader received",
        events.len()
    );
    assert!(
        events.len() <= 1024 + 16 + 64,
        "the slow reader received {} events: they were buffered without bound",
        events.len()
    );
}

// Attack (passes on the current code; guards the lifecycle rewrite): a
// stream of events ends once its tree is gone (the root shut down and
// every address to it dropped): its reader is never left waiting.
#[actix_rt::test]
async fn an_event_stream_ends_when_its_tree_is_gone() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log);
    let probe = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(probe.started()).await.unwrap();
    let mut stream = within(app.send(Subscribe::all())).await.unwrap();
    app.do_send(actix_supervisor::Kill);
    drop(app);
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(3600), stream.next()).await {
            Ok(Some(event)) => seen.push(summary(&event)),
            Ok(None) => break,
            Err(_) => panic!("the stream never ended after its tree was gone; seen {seen:?}"),
        }
    }
}

// Attack (passes): a stop during a backoff, with messages waiting: the drain
// incarnation's start and the end are published in order (`Failed`,
// `Restarting`, then `Started` for incarnation 2, then `Stopped` once),
// and the `Stopped` event carries the report the stop answered.
#[actix_rt::test]
async fn a_stop_during_a_backoff_publishes_the_drain_incarnation_and_the_same_report() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log).backoff(actix_supervisor::Backoff::new(
        std::time::Duration::from_secs(3600),
        std::time::Duration::from_secs(3600),
    ));
    let probe = spec.handle();
    let app = actix_supervisor::SupervisorActor::builder("app")
        .child(spec)
        .start()
        .unwrap();
    let events = actix_supervisor::testkit::EventRecorder::start(&app)
        .await
        .unwrap();
    within(probe.started()).await.unwrap();
    assert!(within(probe.send(Panic("into the backoff"))).await.is_err());
    for n in 1..=3 {
        probe.do_send(Record(n)).unwrap();
    }
    let report = within(probe.stop()).await;
    let stopped = events
        .wait_for(|e| {
            e.path.as_str() == "/app/probe"
                && matches!(e.kind, actix_supervisor::events::EventKind::Stopped { .. })
        })
        .await;
    match &stopped.kind {
        actix_supervisor::events::EventKind::Stopped { report: published } => {
            assert_eq!(published.clone(), report)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(stopped.incarnation, 2, "{stopped:?}");
    let kinds: Vec<String> = events
        .events()
        .into_iter()
        .filter(|e| e.path.as_str() == "/app/probe")
        .map(|e| {
            let kind = format!("{:?}", e.kind);
            format!(
                "{}#{}",
                kind.split([' ', '{']).next().unwrap(),
                e.incarnation
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "Started#1",
            "Failed#1",
            "Restarting#1",
            // Stopped in its backoff: stopping, then the incarnation that
            // drains what waits.
            "Stopping#1",
            "Started#2",
            "Stopped#2"
        ],
        "{report}"
    );
}
