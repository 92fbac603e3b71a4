//! Control by path (issue 15): `StopChildAt`, `RestartChildAt`,
//! `RemoveChildAt` and `SupervisorAt` sent to the root reach a node through
//! nested supervisors, and refuse an unknown path, the root itself, an
//! ended node and a removal that others depend on, each with its own
//! `PathError`.

use actix::prelude::*;
use actix_supervisor::testkit;
use actix_supervisor::{
    path::{NodePath, PathError, RemoveChildAt, RestartChildAt, StopChildAt, SupervisorAt},
    snapshot::NodeState,
    ChildSpec, ControlError, Inspect, SupervisorActor,
};

#[derive(Default)]
struct Idle;
impl Actor for Idle {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Idle);

fn path(text: &str) -> NodePath {
    NodePath::parse(text).unwrap()
}

/// `/app/db`, `/app/tenants/t1/{receiver, poller}` with the poller
/// depending on the receiver.
fn start() -> Addr<SupervisorActor> {
    let t1 = SupervisorActor::builder("t1")
        .child(ChildSpec::new("receiver", Idle::default))
        .child(ChildSpec::new("poller", Idle::default).depends_on("receiver"));
    SupervisorActor::builder("app")
        .child(ChildSpec::new("db", Idle::default))
        .child(SupervisorActor::builder("tenants").child(t1))
        .start()
        .unwrap()
}

async fn all_running(app: &Addr<SupervisorActor>) {
    testkit::wait_until(app, |t| t.nodes().all(|n| n.state == NodeState::Running)).await;
}

#[actix_rt::test]
async fn a_restart_by_path_goes_through_two_nested_supervisors() {
    let app = start();
    all_running(&app).await;
    app.send(RestartChildAt::new(path("/app/tenants/t1/poller")))
        .await
        .unwrap()
        .unwrap();
    testkit::wait_for_node(&app, "/app/tenants/t1/poller", |n| {
        n.incarnation == 2 && n.state == NodeState::Running
    })
    .await;
    let tree = app.send(Inspect).await.unwrap();
    assert_eq!(
        tree.find("/app/tenants/t1/receiver").unwrap().incarnation,
        1
    );
    assert_eq!(tree.find("/app/db").unwrap().incarnation, 1);
}

#[actix_rt::test]
async fn a_stop_by_path_stops_that_subtree_only() {
    let app = start();
    all_running(&app).await;
    let report = app
        .send(StopChildAt::new(path("/app/tenants/t1")))
        .await
        .unwrap()
        .unwrap();
    assert!(report.is_drained());
    assert_eq!(report.path.as_str(), "/app/tenants/t1");
    assert_eq!(report.children.len(), 2);
    let tree = app.send(Inspect).await.unwrap();
    assert_eq!(
        tree.find("/app/tenants/t1").unwrap().state,
        NodeState::Stopped
    );
    assert_eq!(tree.find("/app/tenants").unwrap().state, NodeState::Running);
    assert_eq!(tree.find("/app/db").unwrap().state, NodeState::Running);

    // A node that ended cannot be restarted.
    let refused = app
        .send(RestartChildAt::new(path("/app/tenants/t1")))
        .await
        .unwrap();
    assert_eq!(
        refused,
        Err(PathError::Ended {
            path: path("/app/tenants/t1")
        })
    );
}

#[actix_rt::test]
async fn remove_by_path_refuses_a_node_others_depend_on_then_removes_it() {
    let app = start();
    all_running(&app).await;
    let refused = app
        .send(RemoveChildAt::new(path("/app/tenants/t1/receiver")))
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(PathError::Control(ControlError::HasDependents { ref dependents, .. })) if dependents == &["poller"]),
        "{refused:?}"
    );
    for name in ["poller", "receiver"] {
        let at = path(&format!("/app/tenants/t1/{name}"));
        app.send(RemoveChildAt::new(at)).await.unwrap().unwrap();
    }
    let tree = app.send(Inspect).await.unwrap();
    assert!(tree.find("/app/tenants/t1").unwrap().children.is_empty());
}

#[actix_rt::test]
async fn supervisor_at_answers_a_nested_supervisors_address() {
    let app = start();
    let t1 = app
        .send(SupervisorAt::new(path("/app/tenants/t1")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        t1.send(Inspect).await.unwrap().root.path.as_str(),
        "/app/tenants/t1"
    );
    let itself = app
        .send(SupervisorAt::new(path("/app")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        itself.send(Inspect).await.unwrap().root.path.as_str(),
        "/app"
    );
    let not_a_supervisor = app.send(SupervisorAt::new(path("/app/db"))).await.unwrap();
    assert!(matches!(not_a_supervisor, Err(PathError::Unknown { .. })));
}

#[actix_rt::test]
async fn unknown_paths_and_the_root_are_refused_with_their_own_errors() {
    tokio::time::pause();
    let app = start();
    all_running(&app).await;
    for unknown in [
        "/app/nothing",
        "/app/db/below",
        "/app/tenants/t2/poller",
        "/other",
        "/appx/db",
        "/ap",
    ] {
        let answer = app.send(StopChildAt::new(path(unknown))).await.unwrap();
        assert_eq!(
            answer,
            Err(PathError::Unknown {
                path: path(unknown)
            }),
            "{unknown}"
        );
    }
    let root = app.send(RestartChildAt::new(path("/app"))).await.unwrap();
    assert!(matches!(root, Err(PathError::Protected { .. })), "{root:?}");
    let root = app.send(RemoveChildAt::new(path("/app"))).await.unwrap();
    assert!(matches!(root, Err(PathError::Protected { .. })), "{root:?}");
    // Nothing was touched.
    let tree = app.send(Inspect).await.unwrap();
    assert!(tree
        .nodes()
        .all(|n| n.state == NodeState::Running && n.incarnation == 1));
}

#[test]
fn paths_from_untrusted_text_are_checked() {
    for bad in [
        "",
        "app",
        "/",
        "/app/",
        "//app",
        "/app//db",
        "/app/../db",
        "/app/./db",
        "/app/d\nb",
    ] {
        assert!(
            matches!(NodePath::parse(bad), Err(PathError::Invalid { .. })),
            "{bad:?}"
        );
    }
    let long = format!("/{}", "a".repeat(NodePath::MAX_LEN));
    assert!(NodePath::parse(&long).is_err());
    let path = NodePath::parse("/app/tenants/t-1").unwrap();
    assert_eq!(path.names().collect::<Vec<_>>(), ["app", "tenants", "t-1"]);
    assert_eq!(path, NodePath::root("app").join("tenants").join("t-1"));
}
