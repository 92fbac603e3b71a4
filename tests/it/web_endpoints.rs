//! Promise 23, feature `web`: every endpoint of `actix_supervisor::web`
//! through actix-web's test service: the snapshot, liveness, readiness
//! (which drops as soon as a stop begins), the control endpoints (off by
//! default, token-gated, refusing bad paths), and the event stream (in
//! order, bounded, with a `lagged` event, a cap on clients, and places
//! given back when clients disconnect).
#![cfg(feature = "web")]

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::system::Supervision;
use actix_supervisor::testkit;
use actix_supervisor::web::{Endpoints, WebConfig, WebConfigError};
use actix_supervisor::{
    fail, snapshot::NodeState, ChildSpec, RestartIntensity, RestartPolicy, StartChild,
    SupervisorActor, SupervisorBuilder, TreeSnapshot,
};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::http::StatusCode;
use actix_web::{test, App};
use serde_json::Value;

const TOKEN: &str = "a-test-token-that-is-long-enough";
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Idle;
impl Actor for Idle {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Idle);

/// Fails as soon as it starts.
#[derive(Default)]
struct Broken;
impl Actor for Broken {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        fail(ctx, "broken on purpose");
    }
}
actix_supervisor::supervised!(Broken);

/// `/app` with `cache`, `ingest/refresher` and `http`.
fn tree() -> SupervisorBuilder {
    SupervisorActor::builder("app")
        .child(ChildSpec::new("cache", Idle::default))
        .child(
            SupervisorActor::builder("ingest")
                .child(ChildSpec::new("refresher", Idle::default).restart(RestartPolicy::Always)),
        )
        .child(ChildSpec::new("http", Idle::default))
}

async fn running(supervision: &Supervision) -> TreeSnapshot {
    testkit::wait_until(supervision.root(), |tree| {
        tree.nodes().all(|n| n.state == NodeState::Running)
    })
    .await
}

fn control_on() -> WebConfig {
    WebConfig::default()
        .enable_control(TOKEN)
        .unwrap()
        .protect("/app/http")
        .unwrap()
}

/// The test service for `endpoints`.
macro_rules! service {
    ($endpoints:expr) => {{
        let endpoints = $endpoints.clone();
        test::init_service(App::new().configure(move |cfg| endpoints.configure(cfg))).await
    }};
}

/// Sends `request` and returns the status and the JSON body.
macro_rules! call_json {
    ($app:expr, $request:expr) => {{
        let response = test::call_service(&$app, $request.to_request()).await;
        let status = response.status();
        let body = test::read_body(response).await;
        let json: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
        (status, json)
    }};
}

fn get(uri: &str) -> test::TestRequest {
    test::TestRequest::get().uri(uri)
}

fn post(uri: &str, token: Option<&str>) -> test::TestRequest {
    let request = test::TestRequest::post().uri(uri);
    match token {
        Some(token) => request.insert_header(("authorization", format!("Bearer {token}"))),
        None => request,
    }
}

#[actix_rt::test]
async fn supervision_answers_the_snapshot_as_machine_json() {
    let supervision = Supervision::start(tree()).unwrap();
    running(&supervision).await;
    let app = service!(Endpoints::new(&supervision, WebConfig::default()));

    let (status, json) = call_json!(app, get("/supervision"));

    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["schema_version"], 1);
    let taken_at = json["taken_at"].as_str().expect("an RFC 3339 string");
    assert!(humantime::parse_rfc3339(taken_at).is_ok(), "{taken_at}");
    assert_eq!(json["root"]["path"], "/app");
    assert!(json["root"]["uptime_ms"].is_u64(), "{json}");
    let tree: TreeSnapshot = serde_json::from_value(json).unwrap();
    let paths: Vec<&str> = tree.nodes().map(|n| n.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/app",
            "/app/cache",
            "/app/ingest",
            "/app/ingest/refresher",
            "/app/http"
        ]
    );
}

#[actix_rt::test]
async fn healthz_is_alive_while_the_root_runs_and_dead_once_it_gave_up() {
    tokio::time::pause();
    let supervision = Supervision::start(tree()).unwrap();
    running(&supervision).await;
    let app = service!(Endpoints::new(&supervision, WebConfig::default()));
    let (status, json) = call_json!(app, get("/healthz"));
    assert_eq!(
        (status, json["status"].as_str()),
        (StatusCode::OK, Some("alive"))
    );

    let doomed = SupervisorActor::builder("doomed")
        .intensity(RestartIntensity::new(1, Duration::from_secs(60)))
        .child(ChildSpec::new("broken", Broken::default).restart(RestartPolicy::Always));
    let doomed = Supervision::start(doomed).unwrap();
    testkit::wait_until(doomed.root(), |t| t.root.state == NodeState::Failed).await;
    let app = service!(Endpoints::new(&doomed, WebConfig::default()));
    let (status, json) = call_json!(app, get("/healthz"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert_eq!(json["status"], "dead");
    let reason = json["reason"].as_str().unwrap();
    assert!(reason.contains("gave up"), "{reason}");
}

#[actix_rt::test]
async fn readyz_is_ready_once_every_node_runs_and_names_a_failed_node() {
    tokio::time::pause();
    let builder =
        tree().child(ChildSpec::new("once", Broken::default).restart(RestartPolicy::Never));
    let supervision = Supervision::start(builder).unwrap();
    let app = service!(Endpoints::new(&supervision, WebConfig::default()));
    testkit::wait_for_node(supervision.root(), "/app/once", |n| {
        n.state == NodeState::Failed
    })
    .await;

    let (status, json) = call_json!(app, get("/readyz"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert_eq!(json["status"], "not_ready");
    let reasons = json["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "{json}");
    assert_eq!(reasons[0]["path"], "/app/once");
    assert_eq!(reasons[0]["reason"], "failed");
    let failure = reasons[0]["last_failure"].as_str().unwrap();
    assert!(failure.contains("broken on purpose"), "{failure}");

    let healthy = Supervision::start(tree()).unwrap();
    running(&healthy).await;
    let app = service!(Endpoints::new(&healthy, WebConfig::default()));
    let (status, json) = call_json!(app, get("/readyz"));
    assert_eq!(
        (status, json["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
}

#[actix_rt::test]
async fn readyz_names_a_node_that_has_not_finished_its_start() {
    tokio::time::pause();
    /// Waits in `started` until its gate opens.
    struct Slow(Option<tokio::sync::oneshot::Receiver<()>>);
    impl Actor for Slow {
        type Context = Context<Self>;
        fn started(&mut self, ctx: &mut Context<Self>) {
            if let Some(gate) = self.0.take() {
                ctx.wait(actix::fut::wrap_future(async move {
                    let _ = gate.await;
                }));
            }
        }
    }
    actix_supervisor::supervised!(Slow);
    let (open, gate) = tokio::sync::oneshot::channel();
    let gate = std::sync::Mutex::new(Some(gate));
    let spec = ChildSpec::new("slow", move || Slow(gate.lock().unwrap().take()));
    let slow = spec.handle();
    let supervision = Supervision::start(SupervisorActor::builder("app").child(spec)).unwrap();
    let app = service!(Endpoints::new(&supervision, WebConfig::default()));

    let (status, json) = call_json!(app, get("/readyz"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert_eq!(json["reasons"][0]["path"], "/app/slow");
    assert_eq!(json["reasons"][0]["reason"], "starting");

    open.send(()).unwrap();
    slow.started().await.unwrap();
    let (status, _) = call_json!(app, get("/readyz"));
    assert_eq!(status, StatusCode::OK);
}

#[actix_rt::test]
async fn readyz_drops_as_soon_as_a_stop_begins() {
    let supervision = Supervision::start(tree()).unwrap();
    running(&supervision).await;
    let endpoints = Endpoints::new(&supervision, WebConfig::default());
    let app = service!(endpoints);
    let (status, _) = call_json!(app, get("/readyz"));
    assert_eq!(status, StatusCode::OK);

    supervision.shutdown_handle().shutdown();
    let run = actix_rt::spawn(supervision.clone().run_until_shutdown());
    tokio::time::timeout(TIMEOUT, supervision.stop_begun())
        .await
        .unwrap();

    let (status, json) = call_json!(app, get("/readyz"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert_eq!(json["reasons"][0]["reason"], "stopping");
    // Liveness holds while the tree drains; the process is not to be killed.
    let report = tokio::time::timeout(TIMEOUT, run).await.unwrap().unwrap();
    assert!(report.unwrap().is_drained());
}

#[actix_rt::test]
async fn control_endpoints_answer_404_unless_enabled_even_with_a_token() {
    let supervision = Supervision::start(tree()).unwrap();
    running(&supervision).await;
    let app = service!(Endpoints::new(&supervision, WebConfig::default()));

    for uri in [
        "/supervision/restart/app/ingest/refresher",
        "/supervision/stop/app/cache",
    ] {
        for token in [None, Some(TOKEN)] {
            let (status, json) = call_json!(app, post(uri, token));
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {json}");
            assert!(json["error"].as_str().unwrap().contains("disabled"));
        }
    }
    let tree = supervision.inspect().await.unwrap();
    assert!(tree
        .nodes()
        .all(|n| n.state == NodeState::Running && n.incarnation == 1));
}

#[actix_rt::test]
async fn control_needs_a_token_of_at_least_sixteen_bytes() {
    for weak in ["", "short"] {
        assert_eq!(
            WebConfig::default().enable_control(weak).unwrap_err(),
            WebConfigError::WeakToken
        );
    }
    assert!(WebConfig::default().protect("not/a/path").is_err());
}

#[actix_rt::test]
async fn control_refuses_a_missing_or_wrong_token_with_401() {
    let supervision = Supervision::start(tree()).unwrap();
    running(&supervision).await;
    let app = service!(Endpoints::new(&supervision, control_on()));
    let uri = "/supervision/restart/app/cache";

    let wrong_scheme = post(uri, None).insert_header(("authorization", format!("Basic {TOKEN}")));
    let longer = post(uri, Some(&format!("{TOKEN}x")));
    let shorter = post(uri, Some(&TOKEN[1..]));
    for request in [
        post(uri, None),
        post(uri, Some("wrong-token-of-enough-length")),
        wrong_scheme,
        longer,
        shorter,
    ] {
        let response = test::call_service(&app, request.to_request()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers().get("www-authenticate").unwrap(),
            "Bearer"
        );
    }
    let tree = supervision.inspect().await.unwrap();
    assert_eq!(
        tree.find("/app/cache").unwrap().incarnation,
        1,
        "nothing restarted"
    );
}

#[actix_rt::test]
async fn control_restarts_and_stops_nodes_by_path_through_nested_supervisors() {
    let supervision = Supervision::start(tree()).unwrap();
    running(&supervision).await;
    let app = service!(Endpoints::new(&supervision, control_on()));

    let (status, json) = call_json!(
        app,
        post("/supervision/restart/app/ingest/refresher", Some(TOKEN))
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    assert_eq!(json["path"], "/app/ingest/refresher");
    testkit::wait_for_node(supervision.root(), "/app/ingest/refresher", |n| {
        n.incarnation == 2 && n.state == NodeState::Running
    })
    .await;

    // Lower-case scheme is accepted too (RFC 7235: case-insensitive).
    let stop = post("/supervision/stop/app/cache", None)
        .insert_header(("authorization", format!("bearer {TOKEN}")));
    let (status, report) = call_json!(app, stop);
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["path"], "/app/cache");
    assert_eq!(report["outcome"], "drained");
    assert!(report["duration_ms"].is_u64());
    let tree = supervision.inspect().await.unwrap();
    assert_eq!(tree.find("/app/cache").unwrap().state, NodeState::Stopped);
    assert_eq!(tree.find("/app/http").unwrap().state, NodeState::Running);
}

#[actix_rt::test]
async fn control_answers_bad_paths_with_a_clear_status_and_body() {
    let supervision = Supervision::start(tree()).unwrap();
    running(&supervision).await;
    let app = service!(Endpoints::new(&supervision, control_on()));
    let long = format!("/supervision/stop/app/{}", "x".repeat(5000));
    let cases: Vec<(String, StatusCode, &str)> = vec![
        (
            "/supervision/stop/app/nothing".into(),
            StatusCode::NOT_FOUND,
            "unknown_path",
        ),
        (
            "/supervision/stop/other/cache".into(),
            StatusCode::NOT_FOUND,
            "unknown_path",
        ),
        (
            "/supervision/stop/app/cache/below".into(),
            StatusCode::NOT_FOUND,
            "unknown_path",
        ),
        (
            "/supervision/stop/app/ingest/../cache".into(),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            "/supervision/stop/app/%2E%2E/cache".into(),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            "/supervision/stop/app//cache".into(),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            "/supervision/stop/app/cache/".into(),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            "/supervision/stop/".into(),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            "/supervision/stop/app/%FF%FE".into(),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            "/supervision/stop/app/%0A".into(),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (long, StatusCode::BAD_REQUEST, "invalid_path"),
        (
            "/supervision/stop/app".into(),
            StatusCode::FORBIDDEN,
            "protected",
        ),
        (
            "/supervision/restart/app".into(),
            StatusCode::FORBIDDEN,
            "protected",
        ),
        (
            "/supervision/stop/app/http".into(),
            StatusCode::FORBIDDEN,
            "protected",
        ),
    ];
    for (uri, expected, kind) in cases {
        let (status, json) = call_json!(app, post(&uri, Some(TOKEN)));
        let shown = &uri[..uri.len().min(60)];
        assert_eq!(status, expected, "{shown}: {json}");
        assert_eq!(json["kind"], kind, "{shown}: {json}");
        assert!(json["error"].is_string(), "{shown}: {json}");
    }
    // Nothing was touched.
    let tree = supervision.inspect().await.unwrap();
    assert!(tree
        .nodes()
        .all(|n| n.state == NodeState::Running && n.incarnation == 1));

    // A node that was stopped starts again, as its next incarnation.
    let (status, _) = call_json!(app, post("/supervision/stop/app/cache", Some(TOKEN)));
    assert_eq!(status, StatusCode::OK);
    let (status, json) = call_json!(app, post("/supervision/restart/app/cache", Some(TOKEN)));
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    let tree = supervision.inspect().await.unwrap();
    let cache = tree.find("/app/cache").unwrap();
    assert_eq!((cache.state.is_terminal(), cache.incarnation), (false, 2));
}

#[actix_rt::test]
async fn an_ancestor_of_a_protected_node_is_protected() {
    let supervision = Supervision::start(tree()).unwrap();
    running(&supervision).await;
    let config = control_on().protect("/app/ingest/refresher").unwrap();
    let app = service!(Endpoints::new(&supervision, config));
    let (status, json) = call_json!(app, post("/supervision/stop/app/ingest", Some(TOKEN)));
    assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
    assert!(json["error"]
        .as_str()
        .unwrap()
        .contains("/app/ingest/refresher"));
}

// ---------------------------------------------------------------------------
// The event stream
// ---------------------------------------------------------------------------

/// Opens `/supervision/events` on `app` as a new [`Client`].
macro_rules! connect {
    ($app:expr) => {
        Client::new(test::call_service(&$app, get("/supervision/events").to_request()).await).await
    };
}

/// An SSE client reading a response body.
struct Client {
    body: BoxBody,
    buffer: String,
}

impl Client {
    async fn new(response: actix_web::dev::ServiceResponse<BoxBody>) -> Self {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "text/event-stream"
        );
        let mut client = Client {
            body: response.into_body(),
            buffer: String::new(),
        };
        let hello = client.next_frame().await;
        assert!(hello.starts_with(": connected"), "{hello}");
        client
    }

    /// The next frame, without its final blank line.
    async fn next_frame(&mut self) -> String {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame = self.buffer[..end].to_string();
                self.buffer.drain(..end + 2);
                return frame;
            }
            let chunk = tokio::time::timeout(
                TIMEOUT,
                poll_fn(|cx| Pin::new(&mut self.body).poll_next(cx)),
            )
            .await
            .expect("a frame in time")
            .expect("the stream goes on")
            .unwrap();
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event's name and JSON.
    async fn next_event(&mut self) -> (String, Value) {
        let frame = self.next_frame().await;
        let mut lines = frame.lines();
        let name = lines
            .next()
            .unwrap()
            .strip_prefix("event: ")
            .unwrap()
            .to_string();
        let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
        assert_eq!(lines.next(), None, "one data line per event: {frame}");
        (name, serde_json::from_str(data).unwrap())
    }
}

#[actix_rt::test]
async fn the_event_stream_delivers_a_restarts_events_in_order() {
    let supervision = Supervision::start(tree()).unwrap();
    running(&supervision).await;
    let app = service!(Endpoints::new(&supervision, control_on()));
    let mut client = connect!(app);

    let (status, _) = call_json!(
        app,
        post("/supervision/restart/app/ingest/refresher", Some(TOKEN))
    );
    assert_eq!(status, StatusCode::ACCEPTED);

    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|(name, _): &(String, Value)| name == "started")
    {
        seen.push(client.next_event().await);
    }
    for (name, json) in &seen {
        assert_eq!(json["path"], "/app/ingest/refresher", "{name}: {json}");
        assert_eq!(json["event"], name.as_str());
        assert!(humantime::parse_rfc3339(json["at"].as_str().unwrap()).is_ok());
    }
    let names: Vec<&str> = seen.iter().map(|(name, _)| name.as_str()).collect();
    // The restart drains the incarnation first: it is `Stopping` meanwhile.
    assert_eq!(names, ["stopping", "restarting", "started"]);
    assert_eq!(seen[1].1["incarnation"], 1);
    assert_eq!(seen[1].1["delay_ms"], 0);
    assert_eq!(seen[2].1["incarnation"], 2);
}

#[actix_rt::test]
async fn a_slow_event_client_gets_a_lagged_event_instead_of_unbounded_buffering() {
    let supervision = Supervision::start(SupervisorActor::builder("app")).unwrap();
    let app = service!(Endpoints::new(&supervision, WebConfig::default()));
    let mut client = connect!(app);

    // 1,500 events while the client reads nothing: more than the 1024 the
    // tree keeps for a subscriber.
    for i in 0..1500 {
        let spec = ChildSpec::new(format!("job-{i}"), Idle::default);
        let started = spec.handle();
        supervision
            .root()
            .send(StartChild::new(spec))
            .await
            .unwrap()
            .unwrap();
        started.started().await.unwrap();
    }

    let (name, json) = client.next_event().await;
    assert_eq!(name, "lagged", "{json}");
    let missed = json["missed"].as_u64().unwrap();
    assert_eq!(missed, 1500 - 1024);
    // Then the most recent events, in order.
    let (name, json) = client.next_event().await;
    assert_eq!(name, "started");
    assert_eq!(json["path"], format!("/app/job-{missed}"));
}

#[actix_rt::test]
async fn event_clients_past_the_cap_get_503_and_a_disconnect_frees_a_place() {
    let supervision = Supervision::start(tree()).unwrap();
    running(&supervision).await;
    let endpoints = Endpoints::new(&supervision, WebConfig::default().max_event_clients(2));
    let app = service!(endpoints);

    let first = connect!(app);
    let _second = connect!(app);
    assert_eq!(endpoints.event_clients(), 2);
    let (status, json) = call_json!(app, get("/supervision/events"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert_eq!(json["max_event_clients"], 2);

    drop(first); // the client disconnects mid-stream
    assert_eq!(endpoints.event_clients(), 1);
    let _third = connect!(app);
    assert_eq!(endpoints.event_clients(), 2);
}

#[actix_rt::test]
async fn a_thousand_event_clients_each_get_every_event() {
    let supervision = Supervision::start(tree()).unwrap();
    running(&supervision).await;
    let endpoints = Endpoints::new(&supervision, control_on());
    let app = service!(endpoints);
    let mut clients = Vec::new();
    for _ in 0..1000 {
        clients.push(connect!(app));
    }
    assert_eq!(endpoints.event_clients(), 1000);

    let (status, _) = call_json!(app, post("/supervision/restart/app/cache", Some(TOKEN)));
    assert_eq!(status, StatusCode::ACCEPTED);
    for client in &mut clients {
        let (name, json) = client.next_event().await;
        assert_eq!(
            (name.as_str(), &json["path"]),
            ("stopping", &Value::from("/app/cache")),
            "a restart drains the incarnation first"
        );
    }
    drop(clients);
    assert_eq!(endpoints.event_clients(), 0);
}

#[actix_rt::test]
async fn the_ui_is_one_self_contained_page() {
    let supervision = Supervision::start(tree()).unwrap();
    let app = service!(Endpoints::new(&supervision, WebConfig::default()));
    let response = test::call_service(&app, get("/supervision/ui").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "text/html; charset=utf-8"
    );
    let page = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(
        page.contains("EventSource"),
        "the page follows the event stream"
    );
    for external in ["http://", "https://", "<link", "src=\""] {
        assert!(!page.contains(external), "no external resource: {external}");
    }
}
