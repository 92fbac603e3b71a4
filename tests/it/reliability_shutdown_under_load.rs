//! Promises 7, 8 and 9 under load: the root is stopped while senders keep
//! sending.
//!
//! The tree is a small pipeline: two producers (in a subtree that depends on
//! the completer) forward every message to the completer, and an audit
//! child works 1 ms per message, so a backlog waits in its mailbox when the
//! stop comes. Senders keep sending, fire-and-forget and awaited, before,
//! during and after the stop. The root's report accounts for every accepted
//! message (handled, or counted undelivered); a child that refused a
//! message never accepts another; the producers' forwards are never refused
//! (the completer stops after them); once the report is out, every send
//! fails; and the whole tree ends within the root's grace, the global
//! grace, even with a child that never finishes.
//!
//! The rounds run under paused time, with several stop points (5 rounds in
//! `cargo test`, 200 with `RELIABILITY_LONG=1`). One more test sends from
//! threads of their own, in real time. The figures print with
//! `--nocapture`.

use crate::common;
use crate::reliability_support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::system::Supervision;
use actix_supervisor::{
    ChildHandle, ChildSpec, Grace, SendError, StopOutcome, StopReport, SupervisorActor,
    SupervisorBuilder,
};
use common::*;
use reliability_support::{long_run, on_own_system};
use tokio::time::Instant;

/// The root's grace: the whole tree must end within it.
const GLOBAL_GRACE: Duration = Duration::from_secs(5);
/// Messages queued behind the stuck child's jam, left undone.
const BEHIND_THE_JAM: u64 = 3;

/// What happened to the messages sent to one child.
#[derive(Debug, Default)]
struct Counts {
    accepted: AtomicU64,
    refused: AtomicU64,
    handled: AtomicU64,
}

/// One child of the pipeline as its senders see it.
#[derive(Debug, Clone)]
struct Target {
    path: &'static str,
    handle: ChildHandle<Stage>,
    counts: Arc<Counts>,
}

impl Target {
    /// Counts a send's result; a refused message must be handed back.
    /// Returns whether it was accepted.
    fn count<T>(&self, result: Result<T, SendError<Item>>) -> bool {
        match result {
            Ok(_) | Err(SendError::NoReply { .. }) => {
                self.counts.accepted.fetch_add(1, SeqCst);
                true
            }
            Err(refused) => {
                assert!(
                    refused.into_message().is_some(),
                    "{}: a refused message is handed back",
                    self.path
                );
                self.counts.refused.fetch_add(1, SeqCst);
                false
            }
        }
    }

    fn do_send(&self) -> bool {
        self.count(self.handle.do_send(Item))
    }

    async fn send(&self) -> bool {
        let result = self.handle.send(Item).await;
        self.count(result)
    }
}

/// A pipeline stage: counts what it handles, forwards it to the next stage
/// if it has one, and works on it for a while.
struct Stage {
    counts: Arc<Counts>,
    next: Option<Target>,
    work: Duration,
}

impl Actor for Stage {
    type Context = Context<Self>;
}

actix_supervisor::supervised!(Stage);

#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Item;

impl Handler<Item> for Stage {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _: Item, _: &mut Context<Self>) -> Self::Result {
        self.counts.handled.fetch_add(1, SeqCst);
        if let Some(next) = &self.next {
            next.do_send();
        }
        let work = self.work;
        AtomicResponse::new(Box::pin(actix::fut::wrap_future(async move {
            if !work.is_zero() {
                tokio::time::sleep(work).await;
            }
        })))
    }
}

/// Makes the stage wait forever: nothing after it is handled.
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Jam;

impl Handler<Jam> for Stage {
    type Result = ();
    fn handle(&mut self, _: Jam, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future(std::future::pending::<()>()));
    }
}

/// A stage's spec and its target.
fn stage(
    name: &'static str,
    path: &'static str,
    next: Option<Target>,
    work: Duration,
) -> (ChildSpec<Stage>, Target) {
    let counts = Arc::new(Counts::default());
    let shared = counts.clone();
    let spec = ChildSpec::new(name, move || Stage {
        counts: shared.clone(),
        next: next.clone(),
        work,
    });
    let target = Target {
        path,
        handle: spec.handle(),
        counts,
    };
    (spec, target)
}

/// The pipeline: `/app/completer`, `/app/ingest/{producer-1,producer-2}`
/// (depending on the completer), `/app/audit` and, if asked, `/app/stuck`,
/// which only the global grace can end.
struct Pipeline {
    root: SupervisorBuilder,
    /// Where senders send.
    entry: Vec<Target>,
    completer: Target,
    stuck: Option<Target>,
}

fn pipeline(audit_work: Duration, with_stuck: bool) -> Pipeline {
    let (completer_spec, completer) = stage("completer", "/app/completer", None, Duration::ZERO);
    let mut ingest = SupervisorActor::builder("ingest").depends_on("completer");
    let mut entry = Vec::new();
    for (name, path) in [
        ("producer-1", "/app/ingest/producer-1"),
        ("producer-2", "/app/ingest/producer-2"),
    ] {
        let (spec, target) = stage(name, path, Some(completer.clone()), Duration::ZERO);
        ingest = ingest.child(spec);
        entry.push(target);
    }
    let (audit_spec, audit) = stage("audit", "/app/audit", None, audit_work);
    entry.push(audit);
    let mut root = SupervisorActor::builder("app")
        .grace(Grace::Duration(GLOBAL_GRACE))
        .intensity(unlimited())
        .child(completer_spec)
        .child(ingest)
        .child(audit_spec);
    let mut stuck = None;
    if with_stuck {
        let (spec, target) = stage("stuck", "/app/stuck", None, Duration::ZERO);
        root = root.child(spec.grace(Grace::Infinity));
        stuck = Some(target);
    }
    Pipeline {
        root,
        entry,
        completer,
        stuck,
    }
}

/// What one sender saw of each target: a target that refused a message
/// (or whose report is out) must refuse every later one.
struct Refusals(Vec<bool>);

impl Refusals {
    fn new(targets: &[Target]) -> Self {
        Refusals(vec![false; targets.len()])
    }

    #[track_caller]
    fn note(&mut self, target: usize, path: &str, accepted: bool, report_out: bool) {
        assert!(
            !(accepted && (self.0[target] || report_out)),
            "{path} accepted a message after it refused one, or after its report"
        );
        self.0[target] |= !accepted;
    }
}

/// Sends to every entry target until the report is out: each millisecond a
/// message to each, fire-and-forget, and every tenth millisecond one more,
/// awaited. Once the report is out, one last round must be refused.
async fn keep_sending(entry: Vec<Target>, report_out: Arc<AtomicBool>) {
    let mut refusals = Refusals::new(&entry);
    let mut every_ms = tokio::time::interval(Duration::from_millis(1));
    for tick in 0u64.. {
        every_ms.tick().await;
        let over = report_out.load(SeqCst);
        for (i, target) in entry.iter().enumerate() {
            refusals.note(i, target.path, target.do_send(), over);
            if tick % 10 == 0 {
                refusals.note(i, target.path, target.send().await, over);
            }
        }
        if over {
            return;
        }
    }
}

/// What one round saw.
#[derive(Debug)]
struct Round {
    report: StopReport,
    took: Duration,
    accepted: u64,
    refused: u64,
}

/// Builds the pipeline, loads it for `load_for`, stops it while `senders`
/// keep sending, and checks that the report accounts for every accepted
/// message.
async fn stop_under_load(load_for: Duration, senders: usize, with_stuck: bool) -> Round {
    let pipeline = pipeline(Duration::from_millis(1), with_stuck);
    let supervision = Supervision::start(pipeline.root).unwrap();
    if let Some(stuck) = &pipeline.stuck {
        stuck.handle.do_send(Jam).unwrap();
        for _ in 0..BEHIND_THE_JAM {
            assert!(stuck.do_send());
        }
    }
    let report_out = Arc::new(AtomicBool::new(false));
    let sending: Vec<_> = (0..senders)
        .map(|_| actix_rt::spawn(keep_sending(pipeline.entry.clone(), report_out.clone())))
        .collect();
    tokio::time::sleep(load_for).await;

    let began = Instant::now();
    let report = within(supervision.stop()).await.unwrap();
    let took = began.elapsed();
    report_out.store(true, SeqCst);
    for sender in sending {
        within(sender).await.unwrap();
    }

    let mut targets = pipeline.entry.clone();
    targets.push(pipeline.completer.clone());
    targets.extend(pipeline.stuck.clone());
    for target in &targets {
        let counts = &target.counts;
        let of_target = report.find(target.path).expect("every child reports");
        assert_eq!(
            counts.accepted.load(SeqCst),
            counts.handled.load(SeqCst) + of_target.undelivered,
            "{}: accepted = handled + undelivered\n{report}",
            target.path
        );
    }
    assert_eq!(
        pipeline.completer.counts.refused.load(SeqCst),
        0,
        "the completer stopped before a producer's forward"
    );
    let total = |count: fn(&Counts) -> &AtomicU64| {
        targets.iter().map(|t| count(&t.counts).load(SeqCst)).sum()
    };
    Round {
        took,
        accepted: total(|c| &c.accepted),
        refused: total(|c| &c.refused),
        report,
    }
}

/// The stop points of the rounds: spread over 20..400 ms of load.
fn rounds() -> impl Iterator<Item = (Duration, usize)> {
    let count = if long_run() { 200 } else { 5 };
    (0..count).map(|round| {
        let load_for = Duration::from_millis(20 + (round * 97) % 380);
        (load_for, 2 + round as usize % 3)
    })
}

#[test]
fn a_stop_under_load_accounts_for_every_accepted_message_and_refuses_the_rest() {
    let (mut accepted, mut refused, mut drained, mut longest, mut count) =
        (0, 0, 0, Duration::ZERO, 0);
    for (load_for, senders) in rounds() {
        let round = on_own_system(TIMEOUT, move || async move {
            let round = stop_under_load(load_for, senders, false).await;
            let report = &round.report;
            assert!(report.is_drained(), "{report}");
            assert!(report.iter().all(|r| r.undelivered == 0), "{report}");
            assert!(
                report.find("/app/audit").unwrap().drained > 0,
                "a backlog was drained at the stop\n{report}"
            );
            assert!(round.took < GLOBAL_GRACE, "{:?}", round.took);
            round
        })
        .unwrap_or_else(|why| panic!("stop after {load_for:?} with {senders} senders: {why}"));
        count += 1;
        accepted += round.accepted;
        refused += round.refused;
        drained += round.report.summary().messages_drained;
        longest = longest.max(round.took);
    }
    println!(
        "\nShutdown under load: {count} rounds; {accepted} messages accepted, all handled; \
         {drained} of them drained after the stop began; {refused} refused and handed back; \
         longest stop {longest:?} (virtual; global grace {GLOBAL_GRACE:?})"
    );
}

#[test]
fn a_child_that_never_finishes_is_cut_off_at_the_global_grace_and_all_is_accounted_for() {
    let round = on_own_system(TIMEOUT * 2, || async {
        stop_under_load(Duration::from_millis(200), 3, true).await
    })
    .unwrap_or_else(|why| panic!("{why}"));
    let report = &round.report;
    assert_eq!(report.outcome, StopOutcome::TimedOut, "{report}");
    assert_about(round.took, GLOBAL_GRACE);
    let stuck = report.find("/app/stuck").unwrap();
    assert_eq!(stuck.outcome, StopOutcome::TimedOut, "{report}");
    assert_eq!(stuck.undelivered, BEHIND_THE_JAM, "{report}");
    for path in ["/app/completer", "/app/ingest", "/app/audit"] {
        assert!(report.find(path).unwrap().is_drained(), "{report}");
    }
    println!(
        "\nShutdown under load, one child stuck: stopped in {:?} (virtual; global grace \
         {GLOBAL_GRACE:?}); {} accepted, {} left undone by the stuck child, {} refused",
        round.took, round.accepted, stuck.undelivered, round.refused
    );
}

/// Sends from threads of their own (each with its own actix system), in
/// real time, until the report is out; no paused time, so no timing is
/// asserted, only the accounting.
#[test]
fn senders_on_other_threads_are_all_accounted_for_at_a_stop() {
    const THREADS: usize = 4;
    let warm_up = if long_run() { 200_000 } else { 5_000 };
    let (report, targets, accepted) = actix::System::new().block_on(async move {
        let pipeline = pipeline(Duration::ZERO, false);
        let supervision = Supervision::start(pipeline.root).unwrap();
        let report_out = Arc::new(AtomicBool::new(false));
        let (warm, mut warmed) = tokio::sync::mpsc::unbounded_channel();
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (entry, report_out, warm) =
                    (pipeline.entry.clone(), report_out.clone(), warm.clone());
                std::thread::spawn(move || {
                    actix::System::new()
                        .block_on(send_from_a_thread(entry, report_out, warm, warm_up))
                })
            })
            .collect();
        for _ in 0..THREADS {
            within(warmed.recv()).await.unwrap();
        }
        let report = within(supervision.stop()).await.unwrap();
        report_out.store(true, SeqCst);
        let joined = actix_rt::task::spawn_blocking(move || {
            threads.into_iter().map(|t| t.join().unwrap()).sum::<u64>()
        });
        let accepted = within(joined).await.unwrap();
        let mut targets = pipeline.entry;
        targets.push(pipeline.completer);
        (report, targets, accepted)
    });
    assert!(report.is_drained(), "{report}");
    for target in &targets {
        let counts = &target.counts;
        assert_eq!(
            counts.accepted.load(SeqCst),
            counts.handled.load(SeqCst) + report.find(target.path).unwrap().undelivered,
            "{}\n{report}",
            target.path
        );
    }
    assert_eq!(targets.last().unwrap().counts.refused.load(SeqCst), 0);
    println!(
        "\nShutdown under load from {THREADS} threads: {accepted} messages accepted from \
         them, all handled ({} drained after the stop began)",
        report.summary().messages_drained
    );
}

/// One sender thread: bursts of 16 fire-and-forget messages to each entry
/// target, then one awaited (so the backlog stays small), until the report
/// is out; says when it has sent `warm_up` messages; returns how many it
/// got accepted.
async fn send_from_a_thread(
    entry: Vec<Target>,
    report_out: Arc<AtomicBool>,
    warm: tokio::sync::mpsc::UnboundedSender<()>,
    warm_up: u64,
) -> u64 {
    let (mut sent, mut accepted) = (0, 0);
    let mut refusals = Refusals::new(&entry);
    let mut warm = Some(warm);
    loop {
        let over = report_out.load(SeqCst);
        for (i, target) in entry.iter().enumerate() {
            for _ in 0..16 {
                let ok = target.do_send();
                refusals.note(i, target.path, ok, over);
                accepted += u64::from(ok);
            }
            let ok = target.send().await;
            refusals.note(i, target.path, ok, over);
            accepted += u64::from(ok);
            sent += 17;
        }
        if sent >= warm_up {
            if let Some(warm) = warm.take() {
                let _ = warm.send(());
            }
        }
        if over {
            return accepted;
        }
    }
}
