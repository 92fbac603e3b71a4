//! A handle for any node, asked for by path from a running tree with its
//! actor type checked (`ChildAt<A>`), nested supervisors included: their
//! handle tells when they started and gives their cancellation token.

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::prelude::*;
use actix_supervisor::testkit;
use actix_supervisor::{
    path::{ChildAt, NodePath, PathError, StopChildAt},
    snapshot::NodeKind,
    SendError,
};

#[derive(Default)]
struct Store {
    rows: u64,
}
impl Actor for Store {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Store);

#[derive(Message)]
#[rtype(result = "u64")]
struct Insert;
impl Handler<Insert> for Store {
    type Result = u64;
    fn handle(&mut self, _: Insert, _: &mut Context<Self>) -> u64 {
        self.rows += 1;
        self.rows
    }
}

#[derive(Default)]
struct Broken;
impl Actor for Broken {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        actix_supervisor::fail(ctx, "broken on purpose");
    }
}
actix_supervisor::supervised!(Broken);

struct Sampler;
impl Tick for Sampler {
    type Error = String;
    async fn tick(&mut self, _: &TickContext) -> Result<(), String> {
        Ok(())
    }
}

fn path(text: &str) -> NodePath {
    NodePath::parse(text).unwrap()
}

/// `/app/ingest/{store, sampler, once}`, `once` a `Never` child that fails.
fn tree() -> SupervisorBuilder {
    let ingest = SupervisorActor::builder("ingest")
        .child(ChildSpec::new("store", Store::default))
        .child(ChildSpec::periodic(
            "sampler",
            Periodic::every(Duration::from_secs(1)),
            |_| Sampler,
        ))
        .child(ChildSpec::new("once", Broken::default).restart(RestartPolicy::Never));
    SupervisorActor::builder("app").child(ingest)
}

#[actix_rt::test]
async fn a_handle_asked_for_by_path_sends_counted_messages_and_stops_its_child() {
    let app = tree().start().unwrap();

    let store = app
        .send(ChildAt::<Store>::new(path("/app/ingest/store")))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(store.path().as_str(), "/app/ingest/store");
    store.started().await.unwrap();
    assert_eq!(store.send(Insert).await.unwrap(), 1);
    for _ in 0..3 {
        store.do_send(Insert).unwrap();
    }
    let report = store.stop().await;
    assert!(report.is_drained(), "{report}");
    assert_eq!(
        report.drained + 1,
        4,
        "the handle's messages are counted: {report}"
    );
    assert!(matches!(store.do_send(Insert), Err(SendError::Gone { .. })));
    // Now it has ended, no new handle is made for it.
    let again = app
        .send(ChildAt::<Store>::new(path("/app/ingest/store")))
        .await
        .unwrap();
    assert_eq!(
        again.unwrap_err(),
        PathError::Ended {
            path: path("/app/ingest/store")
        }
    );
    app.send(Stop).await.unwrap();
}

#[actix_rt::test]
async fn another_actor_type_is_refused_with_what_the_node_is() {
    let app = tree().start().unwrap();

    fn refused<T>(answer: Result<T, PathError>) -> (NodePath, &'static str, NodeKind) {
        match answer {
            Err(PathError::WrongType {
                path,
                expected,
                kind,
            }) => (path, expected, kind),
            Err(other) => panic!("refused otherwise: {other}"),
            Ok(_) => panic!("a handle of the wrong type was made"),
        }
    }
    let (at, expected, kind) = refused(
        app.send(ChildAt::<Store>::new(path("/app/ingest/sampler")))
            .await
            .unwrap(),
    );
    assert_eq!(
        (at.as_str(), kind),
        ("/app/ingest/sampler", NodeKind::Periodic)
    );
    assert!(expected.ends_with("Store"), "{expected}");

    let (_, _, kind) = refused(
        app.send(ChildAt::<Store>::new(path("/app/ingest")))
            .await
            .unwrap(),
    );
    assert_eq!(kind, NodeKind::Supervisor);
    let (_, expected, kind) = refused(
        app.send(ChildAt::<SupervisorActor>::new(path("/app/ingest/store")))
            .await
            .unwrap(),
    );
    assert_eq!(kind, NodeKind::Actor);
    assert!(expected.ends_with("SupervisorActor"), "{expected}");
    let message = PathError::WrongType {
        path: path("/app/x"),
        expected: "my::Store",
        kind: NodeKind::Worker,
    }
    .to_string();
    assert!(
        message.contains("/app/x") && message.contains("my::Store"),
        "{message}"
    );
    app.send(Stop).await.unwrap();
}

#[actix_rt::test]
async fn unknown_paths_ended_nodes_and_the_root_itself_are_refused() {
    let app = tree().start().unwrap();
    testkit::wait_for_node(&app, "/app/ingest/once", |n| n.state == NodeState::Failed).await;

    let ask = |text: &str| app.send(ChildAt::<Store>::new(path(text)));
    assert_eq!(
        ask("/app/ingest/nothing").await.unwrap().unwrap_err(),
        PathError::Unknown {
            path: path("/app/ingest/nothing")
        }
    );
    assert_eq!(
        ask("/other/store").await.unwrap().unwrap_err(),
        PathError::Unknown {
            path: path("/other/store")
        }
    );
    assert!(matches!(
        ask("/app").await.unwrap(),
        Err(PathError::Protected { .. })
    ));
    let once = app
        .send(ChildAt::<Broken>::new(path("/app/ingest/once")))
        .await
        .unwrap();
    assert_eq!(
        once.unwrap_err(),
        PathError::Ended {
            path: path("/app/ingest/once")
        }
    );
    app.send(Stop).await.unwrap();
}

#[actix_rt::test]
async fn a_nested_supervisor_gets_a_handle_that_tells_when_it_started_and_gives_its_token() {
    let app = tree().start().unwrap();

    let ingest = app
        .send(ChildAt::<SupervisorActor>::new(path("/app/ingest")))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(ingest.path().as_str(), "/app/ingest");
    let addr = ingest.started().await.unwrap();
    let tree = addr.send(Inspect).await.unwrap();
    assert_eq!(tree.root.path.as_str(), "/app/ingest");
    let token = ingest.token().await.unwrap();
    assert!(!token.is_cancelled());

    let report = app
        .send(StopChildAt::new(path("/app/ingest")))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(report.path.as_str(), "/app/ingest");
    assert!(token.is_cancelled(), "cancelled once the subtree stopped");
    assert!(!ingest.is_accepting());
    app.send(Stop).await.unwrap();
}

#[actix_rt::test]
async fn a_nested_supervisor_handle_started_before_its_start_waits_for_it() {
    let ingest = SupervisorActor::builder("ingest").child(ChildSpec::new("store", Store::default));
    let app = SupervisorActor::builder("app")
        .child(ingest)
        .start()
        .unwrap();
    // Asked for at once: the subtree may still be starting.
    let ingest = app
        .send(ChildAt::<SupervisorActor>::new(path("/app/ingest")))
        .await
        .unwrap()
        .unwrap();
    ingest.started().await.unwrap();
    let tree = app.send(Inspect).await.unwrap();
    assert_eq!(tree.find("/app/ingest").unwrap().state, NodeState::Running);
    app.send(Stop).await.unwrap();
}
