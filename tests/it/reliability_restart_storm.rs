//! Promise 3 under load: a restart storm.
//!
//! Two children of one subtree panic on every message, under a load of
//! 5,000 messages per second, for 1 s of virtual time in `cargo test` (10 s
//! with `RELIABILITY_LONG=1`). The subtree allows 3 restarts within a
//! window of 1 s; past it, it escalates, and the root restarts the whole
//! subtree after a backoff of one window. So the intensity limit holds
//! (never more than 3 restarts within any 1 s), the subtree escalates
//! exactly once per window, the tree answers `Inspect` all along, and the
//! root's other subtree keeps serving. Every message sent to the storm is
//! accounted for at the end: handled (each handling was a panic) or
//! reported undelivered.
//!
//! Paused time makes "per second" exact; the injected panics are kept out
//! of the log. The figures print with `--nocapture`.

use crate::common;
use crate::reliability_support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::{
    events::{EventKind, LifecycleEvent},
    snapshot::NodeState,
    Backoff, ChildHandle, ChildSpec, Inspect, RestartIntensity, Stop, StopOutcome, Subscribe,
    SupervisorActor,
};
use common::*;
use futures_util::StreamExt;
use reliability_support::{long_run, silence_injected_panics, INJECTED};
use tokio::time::Instant;

/// The subtree's intensity period, and the root's backoff before it
/// restarts the subtree.
const WINDOW: Duration = Duration::from_secs(1);
/// Restarts the subtree allows within one window.
const MAX_RESTARTS: u32 = 3;
/// Messages sent to each crashing child per millisecond (2 children: 5,000
/// per second in all).
const LOAD_PER_MS: [u64; 2] = [3, 2];
const CRASHY: [&str; 2] = ["/storm/sub/crashy-a", "/storm/sub/crashy-b"];
const SUB: &str = "/storm/sub";
/// How often the tree is inspected during the storm.
const INSPECT_EVERY: Duration = Duration::from_millis(100);

/// How long the storm lasts: whole windows.
fn storm_length() -> Duration {
    if long_run() {
        10 * WINDOW
    } else {
        WINDOW
    }
}

/// Panics on every message.
struct Crashy;

impl Actor for Crashy {
    type Context = Context<Self>;
}

actix_supervisor::supervised!(Crashy);

#[derive(Message)]
#[rtype(result = "()")]
struct Hit;

impl Handler<Hit> for Crashy {
    type Result = ();
    fn handle(&mut self, _: Hit, _: &mut Context<Self>) {
        panic!("{INJECTED}: crashes on every message");
    }
}

/// The storm's tree: `/storm/sub/{crashy-a,crashy-b}` and
/// `/storm/steady/counter`.
struct Storm {
    root: Addr<SupervisorActor>,
    crashy: Vec<ChildHandle<Crashy>>,
    counter: ChildHandle<Probe>,
}

fn start_storm_tree() -> Storm {
    let specs = ["crashy-a", "crashy-b"].map(|name| ChildSpec::new(name, || Crashy));
    let crashy = specs.iter().map(ChildSpec::handle).collect();
    let mut sub = SupervisorActor::builder("sub")
        .intensity(RestartIntensity::new(MAX_RESTARTS, WINDOW))
        .backoff(Backoff::new(WINDOW, WINDOW).jitter(0.0));
    for spec in specs {
        sub = sub.child(spec);
    }
    let (log, _) = recorder();
    let counter_spec = probe_spec("counter", log);
    let counter = counter_spec.handle();
    let steady = SupervisorActor::builder("steady").child(counter_spec);
    let root = SupervisorActor::builder("storm")
        .intensity(unlimited())
        .child(sub)
        .child(steady)
        .start()
        .unwrap();
    Storm {
        root,
        crashy,
        counter,
    }
}

/// Every event of the tree, with the (virtual) time it was read.
type Timeline = Rc<RefCell<Vec<(Duration, LifecycleEvent)>>>;

/// Reads the tree's events into a timeline, from `began`.
async fn record_events(root: &Addr<SupervisorActor>, began: Instant) -> Timeline {
    let timeline = Timeline::default();
    let mut events = within(root.send(Subscribe::all())).await.unwrap();
    let recorded = timeline.clone();
    actix_rt::spawn(async move {
        while let Some(event) = events.next().await {
            recorded.borrow_mut().push((began.elapsed(), event));
        }
    });
    timeline
}

/// Offers the load to the crashing children until `end`; returns how many
/// messages each accepted.
async fn offer_load(crashy: Vec<ChildHandle<Crashy>>, end: Instant) -> Vec<u64> {
    let mut accepted = vec![0; crashy.len()];
    let mut every_ms = tokio::time::interval(Duration::from_millis(1));
    while Instant::now() < end {
        every_ms.tick().await;
        for ((child, per_ms), accepted) in crashy.iter().zip(LOAD_PER_MS).zip(&mut accepted) {
            for _ in 0..per_ms {
                child
                    .do_send(Hit)
                    .expect("the storm's children keep accepting");
                *accepted += 1;
            }
        }
    }
    accepted
}

/// Asks the steady subtree's child every millisecond until `end`; every
/// request must be answered. Returns how many were.
async fn keep_asking(counter: ChildHandle<Probe>, end: Instant) -> u64 {
    let mut answered = 0;
    let mut every_ms = tokio::time::interval(Duration::from_millis(1));
    while Instant::now() < end {
        every_ms.tick().await;
        let count = within(counter.send(Inc))
            .await
            .expect("the steady subtree serves");
        answered += 1;
        assert_eq!(count, answered, "the steady child was never restarted");
    }
    answered
}

/// Inspects the tree every [`INSPECT_EVERY`] until `end`; returns how many
/// snapshots it took.
async fn keep_inspecting(root: Addr<SupervisorActor>, end: Instant) -> u64 {
    let mut snapshots = 0;
    while Instant::now() < end {
        let tree = within(root.send(Inspect)).await.expect("the tree answers");
        snapshots += 1;
        assert_eq!(tree.root.state, NodeState::Running, "{tree}");
        let sub = tree.find(SUB).unwrap();
        assert!(
            matches!(sub.state, NodeState::Running | NodeState::Restarting { .. }),
            "{tree}"
        );
        for steady in ["/storm/steady", "/storm/steady/counter"] {
            let node = tree.find(steady).unwrap();
            assert_eq!((node.state, node.restart_count), (NodeState::Running, 0));
        }
        tokio::time::sleep(INSPECT_EVERY).await;
    }
    snapshots
}

/// What the storm's events show, window by window.
#[derive(Debug, Default)]
struct Window {
    escalations: u32,
    /// Failures of the crashing children.
    failures: u32,
    /// Starts of a crashing child the intensity allowed (not the starts of
    /// the subtree's own restart).
    restarts: u32,
}

/// Sorts the events during the storm into windows.
fn windows(timeline: &[(Duration, LifecycleEvent)], storm: Duration) -> Vec<Window> {
    let count = (storm.as_nanos() / WINDOW.as_nanos()) as usize;
    let mut windows: Vec<Window> = (0..count).map(|_| Window::default()).collect();
    // A crashing child's start is a restart the intensity allowed when it
    // follows that child's failure with no restart of the subtree between.
    let mut failed = [false; CRASHY.len()];
    for (at, event) in timeline.iter().filter(|(at, _)| *at < storm) {
        let window = &mut windows[(at.as_nanos() / WINDOW.as_nanos()) as usize];
        let path = event.path.as_str();
        let crashy = CRASHY.iter().position(|c| *c == path);
        match (&event.kind, crashy) {
            (EventKind::Escalated { .. }, None) if path == SUB => window.escalations += 1,
            (EventKind::Started, None) if path == SUB => failed = [false; CRASHY.len()],
            (EventKind::Failed { .. }, Some(i)) => {
                window.failures += 1;
                failed[i] = true;
            }
            (EventKind::Started, Some(i)) if failed[i] => {
                window.restarts += 1;
                failed[i] = false;
            }
            _ => {}
        }
    }
    windows
}

#[test]
fn a_restart_storm_escalates_once_per_window_and_the_rest_of_the_tree_serves() {
    silence_injected_panics();
    let storm = storm_length();
    let figures = reliability_support::on_own_system(TIMEOUT * 10, move || async move {
        let Storm {
            root,
            crashy,
            counter,
        } = start_storm_tree();
        let began = Instant::now();
        let timeline = record_events(&root, began).await;
        let end = began + storm;
        let load = actix_rt::spawn(offer_load(crashy.clone(), end));
        let asking = actix_rt::spawn(keep_asking(counter, end));
        let inspecting = actix_rt::spawn(keep_inspecting(root.clone(), end));
        let accepted = load.await.unwrap();
        let answered = asking.await.unwrap();
        let snapshots = inspecting.await.unwrap();

        let report = within(root.send(Stop)).await.unwrap();
        let timeline = timeline.borrow();
        check_storm(&timeline, storm, &report, &accepted);
        let during = windows(&timeline, storm);
        format!(
            "Restart storm: {storm:?} (virtual) at {} messages/s: {} messages sent; during \
             the storm {} panics, {} restarts, {} escalations ({} windows of {WINDOW:?}); \
             {} undelivered at the stop (the backlog); steady subtree answered {answered} \
             requests, {snapshots} snapshots taken",
            LOAD_PER_MS.iter().sum::<u64>() * 1000,
            accepted.iter().sum::<u64>(),
            during.iter().map(|w| w.failures).sum::<u32>(),
            during.iter().map(|w| w.restarts).sum::<u32>(),
            during.iter().map(|w| w.escalations).sum::<u32>(),
            during.len(),
            report.undelivered
        )
    })
    .unwrap_or_else(|why| panic!("{why}"));
    println!("\n{figures}");
}

/// The storm's promises, on its events and its final report.
fn check_storm(
    timeline: &[(Duration, LifecycleEvent)],
    storm: Duration,
    report: &actix_supervisor::StopReport,
    accepted: &[u64],
) {
    let outline = || {
        timeline
            .iter()
            .map(|(at, e)| format!("{at:?} {} {:?}", e.path, e.kind))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (i, window) in windows(timeline, storm).iter().enumerate() {
        assert_eq!(
            window.escalations,
            1,
            "window {i}: {window:?}\n{}",
            outline()
        );
        assert!(
            window.restarts <= MAX_RESTARTS,
            "window {i}: the intensity did not hold: {window:?}\n{}",
            outline()
        );
    }
    for (_, event) in timeline {
        assert!(
            !matches!(
                event.kind,
                EventKind::Lagged { .. } | EventKind::GaveUp { .. }
            ),
            "{event:?}"
        );
        if matches!(event.kind, EventKind::Escalated { .. }) {
            assert_eq!(event.path.as_str(), SUB, "only the subtree escalates");
        }
    }
    // Every message sent to the storm was handled (each handling was a
    // panic) or is reported undelivered.
    for (path, accepted) in CRASHY.iter().zip(accepted) {
        let panics = timeline
            .iter()
            .filter(|(_, e)| e.path.as_str() == *path)
            .filter(|(_, e)| matches!(e.kind, EventKind::Failed { .. }))
            .count() as u64;
        let undelivered = report.find(path).unwrap().undelivered;
        assert_eq!(panics + undelivered, *accepted, "{path}\n{report}");
    }
    let steady = report.find("/storm/steady").unwrap();
    assert!(steady.is_drained(), "{report}");
    assert!(report.find(SUB).unwrap().outcome != StopOutcome::TimedOut);
}

/// Regression (found by this storm): a stop that came while a subtree
/// waited out its backoff before a restart was overridden when the backoff
/// ended: the stopped subtree showed `Running` again, with a `Started` event
/// after its `Stopped`.
#[actix_rt::test]
async fn a_subtree_stopped_during_its_restart_backoff_stays_stopped() {
    tokio::time::pause();
    silence_injected_panics();
    let crashy_spec = ChildSpec::new("crashy-a", || Crashy);
    let crashy = crashy_spec.handle();
    let sub = SupervisorActor::builder("sub")
        .intensity(RestartIntensity::new(0, WINDOW))
        .backoff(Backoff::new(WINDOW, WINDOW).jitter(0.0))
        .child(crashy_spec);
    let root = SupervisorActor::builder("storm")
        .child(sub)
        .start()
        .unwrap();
    let mut events = within(root.send(Subscribe::all())).await.unwrap();
    crashy.do_send(Hit).unwrap();
    while !matches!(
        within(events.next()).await.unwrap().kind,
        EventKind::Escalated { .. }
    ) {}

    within(root.send(Stop)).await.unwrap();
    tokio::time::sleep(2 * WINDOW).await;
    let tree = within(root.send(Inspect)).await.unwrap();
    let sub = tree.find(SUB).unwrap();
    assert_eq!(
        (sub.state, sub.incarnation),
        (NodeState::Stopped, 1),
        "{tree}"
    );
    let mut after_the_stop = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::ZERO, events.next()).await {
        after_the_stop.push(event.kind);
    }
    assert!(
        !after_the_stop.contains(&EventKind::Started),
        "{after_the_stop:#?}"
    );
}

/// Regression (found by this storm): two children that went past the
/// intensity together each reported it, and the subtree escalated twice:
/// two `Escalated` events, two restarts of the subtree, and twice the
/// parent's intensity spent.
#[actix_rt::test]
async fn children_past_the_intensity_together_make_one_escalation() {
    tokio::time::pause();
    silence_injected_panics();
    let specs = ["crashy-a", "crashy-b"].map(|name| ChildSpec::new(name, || Crashy));
    let crashy: Vec<_> = specs.iter().map(ChildSpec::handle).collect();
    let mut sub = SupervisorActor::builder("sub").intensity(RestartIntensity::new(0, WINDOW));
    for spec in specs {
        sub = sub.child(spec);
    }
    let root = SupervisorActor::builder("storm")
        .child(sub)
        .start()
        .unwrap();
    let mut events = within(root.send(Subscribe::all())).await.unwrap();
    for child in &crashy {
        child.do_send(Hit).unwrap();
    }

    // Up to the subtree's restart, then whatever else is already out.
    let mut seen = Vec::new();
    loop {
        let event = within(events.next()).await.unwrap();
        let restarted = event.path.as_str() == SUB && event.kind == EventKind::Started;
        seen.push(event);
        if restarted {
            break;
        }
    }
    within(root.send(Inspect)).await.unwrap();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::ZERO, events.next()).await {
        seen.push(event);
    }
    let of_the_subtree = |kind: fn(&EventKind) -> bool| {
        seen.iter()
            .filter(|e| e.path.as_str() == SUB && kind(&e.kind))
            .count()
    };
    assert_eq!(
        of_the_subtree(|k| matches!(k, EventKind::Escalated { .. })),
        1,
        "{seen:#?}"
    );
    assert_eq!(of_the_subtree(|k| *k == EventKind::Started), 1, "{seen:#?}");
    let sub = node(&root, SUB).await;
    assert_eq!((sub.state, sub.incarnation), (NodeState::Running, 2));
}
