//! The services of a job-queue client, stopped without losing a job. Two
//! producers hand finished jobs to a batch completer, which marks them done
//! in the queue's table a batch at a time and passes each completion to a
//! subscription fan-out, which delivers it to every subscriber:
//!
//! ```text
//! producer-1 ─┐
//!             ├─> completer ──> fanout ──> 3 subscribers
//! producer-2 ─┘
//! ```
//!
//! The producers depend on the completer and the completer on the fan-out, so
//! a `Stop` stops the producers first, then lets the completer drain its
//! backlog and record its last, partial batch, then lets the fan-out deliver
//! every completion before it closes its subscriptions. The example counts
//! jobs produced, recorded and delivered, and fails if any was lost.
//!
//! Without the library a team writes this shutdown by hand: a token per
//! stage, a join handle per task, and a `shutdown()` that cancels and awaits
//! them in the right order and closes the channels in between. Get the order
//! wrong (cancel everything at once, close the fan-out before the completer
//! flushed) and completions vanish without an error; forget to close a
//! channel and the shutdown never returns. Here the order is two
//! `depends_on`, each stage's drain is the library's, and the `StopReport`
//! says what each stage did.
//!
//! Run it with `cargo run --example 03_job_queue_client`.

#[path = "common/bounded.rs"]
mod bounded;

use std::collections::BTreeSet;
use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::prelude::*;
use actix_supervisor::SendError;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

/// Jobs each producer finishes per millisecond.
const BURST: u64 = 3;
/// Jobs the completer marks done in one write.
const BATCH: usize = 16;
/// How long one batch write takes: slower than the producers, so a backlog
/// waits in the completer's mailbox when the stop comes.
const WRITE: Duration = Duration::from_millis(8);

/// Finishes jobs (here: makes up ids) and hands them to the completer.
struct Producer {
    first_id: u64,
    completer: ChildHandle<Completer>,
    produced: Arc<AtomicU64>,
}

impl Work for Producer {
    type Error = SendError<JobFinished>;

    async fn run(&mut self, cx: WorkContext) -> Result<(), Self::Error> {
        let mut next = self.first_id;
        while !cx.is_stop_requested() {
            for _ in 0..BURST {
                self.completer.do_send(JobFinished(next))?;
                self.produced.fetch_add(1, Ordering::SeqCst);
                next += 1;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct JobFinished(u64);

/// Marks finished jobs done in the queue's table (`done`), a batch at a time,
/// then passes each completion to the fan-out.
struct Completer {
    batch: Vec<u64>,
    done: watch::Sender<Vec<u64>>,
    fanout: ChildHandle<Fanout>,
}

impl Completer {
    fn record(&mut self, batch: Vec<u64>, ctx: &mut Context<Self>) {
        self.done.send_modify(|done| done.extend(&batch));
        for job in batch {
            // The fan-out stops after the completer, so this is never refused.
            if let Err(refused) = self.fanout.do_send(JobCompleted(job)) {
                actix_supervisor::fail(ctx, refused);
            }
        }
    }
}

impl Actor for Completer {
    type Context = Context<Self>;

    /// Runs once the mailbox is drained: records the last, partial batch.
    fn stopped(&mut self, ctx: &mut Context<Self>) {
        let batch = std::mem::take(&mut self.batch);
        println!(
            "completer: mailbox drained; recording the last {} jobs",
            batch.len()
        );
        self.record(batch, ctx);
    }
}
actix_supervisor::supervised!(Completer);

impl Handler<JobFinished> for Completer {
    type Result = ();
    fn handle(&mut self, JobFinished(job): JobFinished, ctx: &mut Context<Self>) {
        self.batch.push(job);
        if self.batch.len() == BATCH {
            let batch = std::mem::take(&mut self.batch);
            // The write's round trip; the mailbox waits meanwhile.
            let write = actix::fut::wrap_future(tokio::time::sleep(WRITE));
            ctx.wait(write.map(move |(), this: &mut Self, ctx| this.record(batch, ctx)));
        }
    }
}

/// Delivers every completion to every subscriber; closes them when stopped.
#[derive(Default)]
struct Fanout {
    subscribers: Vec<mpsc::UnboundedSender<u64>>,
    delivered: u64,
}

impl Actor for Fanout {
    type Context = Context<Self>;

    /// Runs once every completion in the mailbox was delivered.
    fn stopped(&mut self, _: &mut Context<Self>) {
        let n = self.subscribers.len();
        println!(
            "fanout: delivered {} completions; closing {n} subscriptions",
            self.delivered
        );
        self.subscribers.clear();
    }
}
actix_supervisor::supervised!(Fanout);

#[derive(Message)]
#[rtype(result = "()")]
struct JobCompleted(u64);

impl Handler<JobCompleted> for Fanout {
    type Result = ();
    fn handle(&mut self, JobCompleted(job): JobCompleted, _: &mut Context<Self>) {
        for subscriber in &self.subscribers {
            let _ = subscriber.send(job);
        }
        self.delivered += 1;
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct AddSubscriber(mpsc::UnboundedSender<u64>);

impl Handler<AddSubscriber> for Fanout {
    type Result = ();
    fn handle(&mut self, AddSubscriber(subscriber): AddSubscriber, _: &mut Context<Self>) {
        self.subscribers.push(subscriber);
    }
}

/// A subscriber: counts the completions it receives until its subscription
/// is closed.
fn subscribe(fanout: &ChildHandle<Fanout>) -> Result<tokio::task::JoinHandle<u64>, Box<dyn Error>> {
    let (sender, mut completions) = mpsc::unbounded_channel();
    fanout
        .do_send(AddSubscriber(sender))
        .map_err(|e| e.to_string())?;
    Ok(actix_rt::spawn(async move {
        let mut received = 0;
        while completions.recv().await.is_some() {
            received += 1;
        }
        received
    }))
}

async fn run() -> Result<(), Box<dyn Error>> {
    let (done, mut done_so_far) = watch::channel(Vec::new());
    let produced = Arc::new(AtomicU64::new(0));

    let fanout = ChildSpec::new("fanout", Fanout::default);
    let to_fanout = fanout.handle();
    // The fan-out's address is valid before it starts: these subscriptions
    // are the first messages it handles, before any completion.
    let subscribers = (0..3)
        .map(|_| subscribe(&to_fanout))
        .collect::<Result<Vec<_>, _>>()?;
    let completer = ChildSpec::new("completer", move || Completer {
        batch: Vec::new(),
        done: done.clone(),
        fanout: to_fanout.clone(),
    })
    .depends_on("fanout");
    let to_completer = completer.handle();
    let mut jobs = SupervisorActor::builder("jobs")
        .child(fanout)
        .child(completer);
    for n in 1..=2 {
        let (to_completer, produced) = (to_completer.clone(), produced.clone());
        let producer = ChildSpec::worker(format!("producer-{n}"), move |_| Producer {
            first_id: n * 1_000_000,
            completer: to_completer.clone(),
            produced: produced.clone(),
        });
        jobs = jobs.child(producer.depends_on("completer"));
    }
    let app = jobs.start()?;

    done_so_far.wait_for(|done| done.len() >= 200).await?;
    println!("running:\n{}", app.send(Inspect).await?);

    let mut events = app.send(Subscribe::all()).await?;
    println!("stopping, while the completer has a backlog ...");
    let report = app.send(Stop).await?;
    println!("\n{report}");

    let mut stop_order = Vec::new();
    while stop_order.len() < 4 {
        let event = events.next().await.ok_or("the event stream ended")?;
        if let EventKind::Stopped { .. } = event.kind {
            stop_order.push(event.path.name().to_string());
        }
    }
    println!("stop order: {}", stop_order.join(", "));
    let at = |name: &str| stop_order.iter().position(|n| n == name).unwrap();
    assert!(at("producer-1") < at("completer") && at("producer-2") < at("completer"));
    assert!(at("completer") < at("fanout"));

    let produced = produced.load(Ordering::SeqCst);
    let done = done_so_far.borrow().clone();
    let distinct: BTreeSet<_> = done.iter().collect();
    println!("produced {produced}, recorded done {}", distinct.len());
    assert_eq!(done.len(), distinct.len(), "each job recorded once");
    assert_eq!(done.len() as u64, produced, "every finished job recorded");
    for (i, subscriber) in subscribers.into_iter().enumerate() {
        let delivered = subscriber.await?;
        println!("subscriber {}: {delivered} completions delivered", i + 1);
        assert_eq!(delivered, produced, "every completion delivered");
    }
    assert!(report.is_drained(), "every stage drained");
    assert_eq!(report.iter().map(|r| r.undelivered).sum::<u64>(), 0);
    Ok(())
}

#[actix::main]
async fn main() -> Result<(), Box<dyn Error>> {
    bounded::within_ten_seconds(run()).await
}
