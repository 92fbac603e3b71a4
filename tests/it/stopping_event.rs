//! A node that enters `Stopping` says so with a `Stopping` lifecycle event,
//! before it drains and before its `Stopped` event: children, nested
//! supervisors and the root alike.

use actix::prelude::*;
use actix_supervisor::prelude::*;
use actix_supervisor::testkit::EventRecorder;

#[derive(Default)]
struct Idle;
impl Actor for Idle {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Idle);

/// The position of the `Stopping` event of `path` among every event
/// recorded.
fn stopping_at(events: &EventRecorder, path: &str) -> usize {
    events
        .events()
        .iter()
        .position(|e| e.path.as_str() == path && e.kind == EventKind::Stopping)
        .unwrap_or_else(|| panic!("no stopping event for {path}: {:?}", events.events()))
}

#[actix_rt::test]
async fn a_child_stopped_through_its_handle_announces_stopping_then_stopped() {
    let spec = ChildSpec::new("worker", Idle::default);
    let worker = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    let events = EventRecorder::start(&app).await.unwrap();
    worker.started().await.unwrap();

    let report = worker.stop().await;

    assert!(report.is_drained(), "{report}");
    events
        .wait_for(|e| {
            e.path.as_str() == "/app/worker" && matches!(e.kind, EventKind::Stopped { .. })
        })
        .await;
    assert_eq!(
        events.kinds("/app/worker"),
        ["started", "stopping", "stopped"]
    );
}

#[actix_rt::test]
async fn a_tree_stopping_announces_each_node_parents_first() {
    let ingest = SupervisorActor::builder("ingest").child(ChildSpec::new("poller", Idle::default));
    let app = SupervisorActor::builder("app")
        .child(ingest)
        .child(ChildSpec::new("audit", Idle::default))
        .start()
        .unwrap();
    let events = EventRecorder::start(&app).await.unwrap();

    app.send(Stop).await.unwrap();
    events
        .wait_for(|e| e.path.as_str() == "/app" && matches!(e.kind, EventKind::Stopped { .. }))
        .await;

    for path in ["/app", "/app/ingest", "/app/ingest/poller", "/app/audit"] {
        let kinds = events.kinds(path);
        assert_eq!(
            kinds[kinds.len() - 2..],
            ["stopping", "stopped"],
            "{path}: {kinds:?}"
        );
    }
    // A supervisor begins to stop before it tells its children to.
    let root = stopping_at(&events, "/app");
    let nested = stopping_at(&events, "/app/ingest");
    let leaf = stopping_at(&events, "/app/ingest/poller");
    assert!(root < nested && nested < leaf, "{root} {nested} {leaf}");
}
