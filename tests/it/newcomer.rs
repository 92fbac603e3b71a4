//! A program written only against `actix::prelude::*` and
//! `actix_supervisor::prelude::*`, as a newcomer writes it from the README:
//! an actor, a periodic task and a worker under one supervisor, started,
//! used, inspected and stopped.
//!
//! If an item the README uses leaves the prelude, or a name in it starts to
//! clash with actix's prelude, this file stops compiling.

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::prelude::*;

/// A plain actor.
#[derive(Default)]
struct Counter {
    count: u64,
}

impl Actor for Counter {
    type Context = Context<Self>;
}
supervised!(Counter);

#[derive(Message)]
#[rtype(result = "u64")]
struct Increment;

impl Handler<Increment> for Counter {
    type Result = u64;
    fn handle(&mut self, _: Increment, _: &mut Context<Self>) -> u64 {
        self.count += 1;
        self.count
    }
}

/// A periodic task: a plain struct with a tick.
struct Sampler {
    ticks: tokio::sync::mpsc::UnboundedSender<u64>,
}

impl Tick for Sampler {
    type Error = String;
    async fn tick(&mut self, cx: &TickContext) -> Result<(), String> {
        let _ = self.ticks.send(cx.tick_number());
        Ok(())
    }
}

/// A worker: a loop that runs until its token is cancelled.
struct Poller {
    started: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Work for Poller {
    type Error = String;
    async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
        if let Some(started) = self.started.take() {
            let _ = started.send(());
        }
        cx.token().cancelled().await;
        Ok(())
    }
}

/// Only a guard against hangs: everything awaited below has an event.
async fn within<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("timed out")
}

#[actix_rt::test]
async fn a_program_written_against_the_two_preludes_runs_an_actor_a_periodic_task_and_a_worker() {
    tokio::time::pause();
    let (tick_tx, mut ticks) = tokio::sync::mpsc::unbounded_channel();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let mut started_tx = Some(started_tx);

    let counter: ChildSpec<Counter> = ChildSpec::new("counter", Counter::default)
        .restart(RestartPolicy::OnFailure)
        .backoff(Backoff::new(
            Duration::from_millis(10),
            Duration::from_secs(1),
        ));
    let counter_handle: ChildHandle<Counter> = counter.handle();
    let sampler = ChildSpec::periodic(
        "sampler",
        Periodic::every(Duration::from_millis(100)),
        move |_| Sampler {
            ticks: tick_tx.clone(),
        },
    )
    .restart(RestartPolicy::Always);
    let poller = ChildSpec::worker("poller", move |_| Poller {
        started: started_tx.take(),
    });
    let app: Addr<SupervisorActor> = SupervisorActor::builder("app")
        .strategy(Strategy::OneForOne)
        .intensity(RestartIntensity::new(3, Duration::from_secs(5)))
        .grace(Grace::from(Duration::from_secs(5)))
        .child(counter)
        .child(sampler)
        .child(poller)
        .start()
        .unwrap();

    within(counter_handle.started()).await.unwrap();
    assert_eq!(within(counter_handle.send(Increment)).await.ok(), Some(1));
    assert_eq!(within(ticks.recv()).await, Some(1));
    within(started_rx).await.unwrap();

    let tree: TreeSnapshot = within(app.send(Inspect)).await.unwrap();
    let states: Vec<NodeState> = ["/app/counter", "/app/sampler", "/app/poller"]
        .iter()
        .map(|path| tree.find(path).unwrap().state)
        .collect();
    assert_eq!(states, [NodeState::Running; 3]);

    let report: StopReport = within(app.send(Stop)).await.unwrap();
    assert!(report.is_drained(), "{report}");
    assert_eq!(report.outcome, StopOutcome::Drained);
}
