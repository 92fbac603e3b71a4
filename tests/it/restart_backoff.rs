//! Promise 2 (backoff) and promise 6 (messages wait during a restart): under
//! paused time, restarts happen exactly after the delays the policy gives for
//! its seed; messages sent while a child waits out its backoff are all handled
//! by the next incarnation, in order; a stable run resets the delay.

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::{snapshot::NodeState, Backoff, ChildSpec, RestartPolicy, SupervisorActor};
use common::*;
use tokio::time::Instant;

/// Fails in `started`, every time.
struct Flaky;

impl Actor for Flaky {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        panic!("not yet");
    }
}

actix_supervisor::supervised!(Flaky);

/// The gaps between the first `restarts + 1` starts of a child that fails in
/// `started` every time, under `backoff` and paused time.
async fn gaps_between_starts(backoff: Backoff, restarts: usize) -> Vec<Duration> {
    let (starts, mut start_times) = recorder();
    let spec = ChildSpec::new("flaky", move || {
        starts.record(Instant::now());
        Flaky
    })
    .restart(RestartPolicy::Always)
    .backoff(backoff);
    let _app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    let mut previous = start_times.next().await;
    let mut gaps = Vec::new();
    for _ in 0..restarts {
        let now = start_times.next().await;
        gaps.push(now - previous);
        previous = now;
    }
    gaps
}

#[actix_rt::test]
async fn restarts_follow_the_seeded_backoff_delays_exactly() {
    tokio::time::pause();
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2))
        .multiplier(2.0)
        .jitter(0.5)
        .seed(42);
    let expected: Vec<Duration> = backoff.delays().take(6).collect();
    // With jitter, the delays really differ from the plain geometric series.
    assert_ne!(expected[1], Duration::from_millis(200));

    let gaps = gaps_between_starts(backoff, expected.len()).await;
    for (gap, delay) in gaps.iter().zip(&expected) {
        assert_about(*gap, *delay);
    }
}

#[actix_rt::test]
async fn restarts_without_jitter_follow_the_hand_computed_series_up_to_max() {
    tokio::time::pause();
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000))
        .multiplier(3.0)
        .jitter(0.0);
    let gaps = gaps_between_starts(backoff, 5).await;
    for (gap, millis) in gaps.iter().zip([100, 300, 900, 1000, 1000]) {
        assert_about(*gap, Duration::from_millis(millis));
    }
}

#[actix_rt::test]
async fn messages_sent_during_backoff_are_handled_by_the_next_incarnation_in_order() {
    tokio::time::pause();
    let (log, mut events) = recorder();
    let spec = probe_spec("probe", log)
        .backoff(Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).jitter(0.0));
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert_eq!(events.next().await, Event::Started(1));

    assert!(within(addr.send(Panic("boom"))).await.is_err());
    assert_eq!(
        node(&app, "/app/probe").await.state,
        NodeState::Restarting {
            attempt: 1,
            next_start_in: Duration::from_secs(1)
        }
    );
    for n in 0..20 {
        addr.do_send(Record(n));
    }
    let awaited = addr.send(Record(20));
    assert_eq!(
        node(&app, "/app/probe").await.incarnation,
        1,
        "still waiting out the backoff while the messages queue"
    );

    within(awaited).await.unwrap();
    assert_eq!(events.next().await, Event::Started(2));
    let handled: Vec<Event> = (0..=20)
        .map(|n| Event::Handled { incarnation: 2, n })
        .collect();
    let mut seen = Vec::new();
    for _ in 0..=20 {
        seen.push(events.next().await);
    }
    assert_eq!(seen, handled);
}

#[actix_rt::test]
async fn a_stable_run_resets_the_backoff_to_its_initial_delay() {
    tokio::time::pause();
    let (log, _events) = recorder();
    let spec = probe_spec("probe", log).backoff(
        Backoff::new(Duration::from_millis(100), Duration::from_secs(10))
            .jitter(0.0)
            .stable_after(Duration::from_secs(60)),
    );
    let addr = spec.address();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    let restarting_in = |state| match state {
        NodeState::Restarting { next_start_in, .. } => next_start_in,
        other => panic!("expected a restart, got {other:?}"),
    };

    let mut delays = Vec::new();
    for _ in 0..3 {
        assert!(within(addr.send(Panic("quick"))).await.is_err());
        delays.push(restarting_in(node(&app, "/app/probe").await.state));
        within(addr.send(Get)).await.unwrap();
    }
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(within(addr.send(Panic("after a stable run")))
        .await
        .is_err());
    delays.push(restarting_in(node(&app, "/app/probe").await.state));

    let ms = |n| Duration::from_millis(n);
    assert_eq!(delays, [ms(100), ms(200), ms(400), ms(100)]);
}

#[actix_rt::test]
async fn a_child_counts_its_incarnations_across_many_restarts() {
    let made = AtomicU64::new(0);
    let (log, _events) = recorder();
    let spec = ChildSpec::new("probe", move || Probe {
        incarnation: made.fetch_add(1, Ordering::SeqCst) + 1,
        count: 0,
        log: log.clone(),
    });
    let addr = spec.address();
    let app = SupervisorActor::builder("app")
        .intensity(unlimited())
        .child(spec)
        .start()
        .unwrap();
    for _ in 0..50 {
        assert!(within(addr.send(Panic("again"))).await.is_err());
    }
    assert_eq!(within(addr.send(Get)).await.unwrap(), (51, 0));
    assert_eq!(node(&app, "/app/probe").await.restart_count, 50);
}
