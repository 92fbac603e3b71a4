//! Promise 3 across levels: a nested supervisor that exceeds its restart
//! intensity escalates: its parent applies its own policy to the subtree
//! (restart it, with every address still valid, or let it fail), and an
//! escalation past the parent's intensity goes up again. Events show
//! `Escalated` with paths.

use crate::common;

use std::time::Duration;

use actix_supervisor::testkit::{self, EventRecorder};
use actix_supervisor::{
    events::{EventKind, LifecycleEvent},
    snapshot::NodeState,
    Backoff, Inspect, RestartIntensity, RestartPolicy, Stop, StopOutcome, SupervisorActor,
};
use common::*;

/// The escalations and give-ups among the events, as `(kind, path)`.
fn escalations(events: &[LifecycleEvent]) -> Vec<(&'static str, String)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Escalated { .. } => Some(("escalated", e.path.to_string())),
            EventKind::GaveUp { .. } => Some(("gave up", e.path.to_string())),
            _ => None,
        })
        .collect()
}

#[actix_rt::test]
async fn past_its_intensity_a_nested_supervisor_escalates_and_its_subtree_restarts() {
    tokio::time::pause();
    let (log, _) = recorder();
    let (tally_log, _) = recorder();
    let crashy = probe_spec("crashy", log);
    let steady = tally_spec("steady", tally_log);
    let (crashy_handle, steady_handle) = (crashy.handle(), steady.handle());
    let sub = SupervisorActor::builder("sub")
        .intensity(RestartIntensity::new(3, Duration::from_secs(1)))
        .child(steady)
        .child(crashy);
    let root = SupervisorActor::builder("root").child(sub).start().unwrap();
    let lifecycle = EventRecorder::start(&root).await.unwrap();
    within(steady_handle.send(Bump)).await.unwrap();

    for _ in 0..3 {
        assert!(within(crashy_handle.send(Panic("crash"))).await.is_err());
        within(crashy_handle.send(Get)).await.unwrap();
    }
    assert!(within(crashy_handle.send(Panic("one too many")))
        .await
        .is_err());

    lifecycle
        .wait_for(|e| e.path.as_str() == "/root/sub" && e.kind == EventKind::Started)
        .await;
    assert_eq!(
        escalations(&lifecycle.events()),
        [("escalated", "/root/sub".to_string())]
    );
    // The whole subtree restarted behind the same addresses, fresh.
    assert_eq!(within(crashy_handle.send(Get)).await.unwrap(), (5, 0));
    assert_eq!(within(steady_handle.send(Bump)).await.unwrap(), 1);
    let tree = within(root.send(Inspect)).await.unwrap();
    let sub = tree.find("/root/sub").unwrap();
    assert_eq!(
        (sub.state, sub.incarnation),
        (NodeState::Running, 2),
        "{tree}"
    );
    assert_eq!(sub.last_failure.as_ref().unwrap().message, "one too many");
    assert_eq!(tree.find("/root/sub/steady").unwrap().incarnation, 2);
    assert_eq!(tree.root.state, NodeState::Running);
}

#[actix_rt::test]
async fn under_never_an_escalating_subtree_fails_for_good_and_its_sibling_runs_on() {
    let (log, _) = recorder();
    let crashy = probe_spec("crashy", log.clone());
    let crashy_handle = crashy.handle();
    let other = probe_spec("other", log);
    let other_handle = other.handle();
    let sub = SupervisorActor::builder("sub")
        .intensity(RestartIntensity::new(0, Duration::from_secs(1)))
        .restart(RestartPolicy::Never)
        .child(crashy);
    let root = SupervisorActor::builder("root")
        .child(sub)
        .child(other)
        .start()
        .unwrap();
    let lifecycle = EventRecorder::start(&root).await.unwrap();

    assert!(within(crashy_handle.send(Panic("fatal"))).await.is_err());
    lifecycle
        .wait_for(|e| e.path.as_str() == "/root/sub" && matches!(e.kind, EventKind::Stopped { .. }))
        .await;
    assert_eq!(
        escalations(&lifecycle.events()),
        [
            ("escalated", "/root/sub".to_string()),
            ("gave up", "/root/sub".to_string())
        ],
        "its parent did not restart it: it gave up for good"
    );
    let tree = within(root.send(Inspect)).await.unwrap();
    assert_eq!(
        tree.find("/root/sub").unwrap().state,
        NodeState::Failed,
        "{tree}"
    );
    assert_eq!(
        tree.find("/root/sub/crashy").unwrap().state,
        NodeState::Failed
    );
    assert!(crashy_handle.send(Get).await.is_err());
    assert_eq!(within(other_handle.send(Inc)).await.unwrap(), 1);
    assert_eq!(tree.root.state, NodeState::Running);
}

#[actix_rt::test]
async fn an_escalation_past_the_parents_intensity_reaches_the_root() {
    let (log, _) = recorder();
    let crashy = probe_spec("crashy", log);
    let crashy_handle = crashy.handle();
    let sub = SupervisorActor::builder("sub")
        .intensity(RestartIntensity::new(0, Duration::from_secs(1)))
        .child(crashy);
    let root = SupervisorActor::builder("root")
        .intensity(RestartIntensity::new(0, Duration::from_secs(1)))
        .child(sub)
        .start()
        .unwrap();
    let lifecycle = EventRecorder::start(&root).await.unwrap();

    assert!(within(crashy_handle.send(Panic("fatal"))).await.is_err());
    lifecycle
        .wait_for(|e| e.path.as_str() == "/root" && matches!(e.kind, EventKind::GaveUp { .. }))
        .await;
    assert_eq!(
        escalations(&lifecycle.events()),
        [
            ("escalated", "/root/sub".to_string()),
            ("gave up", "/root/sub".to_string()),
            ("gave up", "/root".to_string())
        ]
    );
    let report = within(root.send(Stop)).await.unwrap();
    assert!(matches!(report.outcome, StopOutcome::Failed(_)), "{report}");
    assert_eq!(
        within(root.send(Inspect)).await.unwrap().root.state,
        NodeState::Failed
    );
}

#[actix_rt::test]
async fn a_stop_during_an_escalation_s_backoff_ends_the_subtree_for_good() {
    tokio::time::pause();
    let before = testkit::live_actors();
    let (log, _) = recorder();
    let crashy = probe_spec("crashy", log);
    let crashy_handle = crashy.handle();
    let sub = SupervisorActor::builder("sub")
        .intensity(RestartIntensity::new(0, Duration::from_secs(1)))
        .backoff(Backoff::new(Duration::from_secs(10), Duration::from_secs(10)).jitter(0.0))
        .child(crashy);
    let root = SupervisorActor::builder("root").child(sub).start().unwrap();
    let lifecycle = EventRecorder::start(&root).await.unwrap();
    assert!(within(crashy_handle.send(Panic("crash"))).await.is_err());
    lifecycle
        .wait_for(|e| matches!(e.kind, EventKind::Escalated { .. }))
        .await;

    within(root.send(Stop)).await.unwrap();
    // Past the backoff, the stopped subtree is not started again.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let sub = node(&root, "/root/sub").await;
    assert_eq!(sub.state, NodeState::Stopped);
    assert_eq!(sub.incarnation, 1);
    assert!(!lifecycle
        .events()
        .iter()
        .any(|e| e.path.as_str() == "/root/sub" && e.kind == EventKind::Started));
    drop(root);
    testkit::settle_live_actors(before).await.unwrap();
}
