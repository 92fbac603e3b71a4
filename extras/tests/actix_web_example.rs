//! Promises 15 and 23 in an actix-web app: the service of
//! `examples/web/06_actix_web.rs` (the example's own code, not a copy), which
//! mounts the library's `web` endpoints, started on a free loopback port and
//! checked over real HTTP: the tree as JSON, readiness that turns 503 once a
//! node gives up while liveness holds, control endpoints that are off by
//! default and need the bearer token when on, and one graceful shutdown
//! that stops the server before draining the tree.

mod common;

#[allow(dead_code)]
#[path = "../../examples/web/06_actix_web.rs"]
mod app;

use actix_supervisor::{
    events::EventKind,
    snapshot::{NodeKind, NodeState},
    StopReport, TreeSnapshot,
};
use app::{call, is_give_up_of, is_start_of, start, wait_for_event, Answer, Config, RatesService};
use common::within;
use futures_util::{FutureExt, StreamExt};

const TOKEN: &str = "a-test-token-that-is-long-enough";

async fn get(client: &awc::Client, service: &RatesService, path: &str) -> Answer {
    within(call(client, "GET", &service.url(path), None))
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

async fn post(
    client: &awc::Client,
    service: &RatesService,
    path: &str,
    token: Option<&str>,
) -> Answer {
    within(call(client, "POST", &service.url(path), token))
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

async fn snapshot(client: &awc::Client, service: &RatesService) -> TreeSnapshot {
    let answer = get(client, service, "/supervision").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    serde_json::from_value(answer.body).expect("/supervision answers a TreeSnapshot")
}

/// Shuts the service down through its handle, as a signal would.
async fn shut_down(service: RatesService) -> StopReport {
    service.shutdown_handle().shutdown();
    within(service.run_until_shutdown())
        .await
        .expect("the root answers")
}

#[actix_rt::test]
async fn supervision_answers_the_whole_tree_as_json() {
    let service = start(&Config::local_without_control()).unwrap();
    let client = awc::Client::default();

    let tree = snapshot(&client, &service).await;

    let paths: Vec<&str> = tree.nodes().map(|n| n.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/app",
            "/app/cache",
            "/app/ingest",
            "/app/ingest/refresher",
            "/app/audit",
            "/app/http"
        ]
    );
    let kind = |path| tree.find(path).unwrap().kind;
    assert_eq!(kind("/app/ingest"), NodeKind::Supervisor);
    assert_eq!(kind("/app/ingest/refresher"), NodeKind::Periodic);
    assert_eq!(kind("/app/audit"), NodeKind::Worker);
    assert_eq!(kind("/app/cache"), NodeKind::Actor);
    assert_eq!(tree.find("/app/http").unwrap().state, NodeState::Running);
    shut_down(service).await;
}

#[actix_rt::test]
async fn readyz_turns_503_naming_the_nodes_that_gave_up_while_healthz_holds() {
    let service = start(&Config::local_without_control()).unwrap();
    let mut events = service.events().await.unwrap();
    let client = awc::Client::default();

    let ready = get(&client, &service, "/readyz").await;
    assert_eq!(
        (ready.status, &ready.body),
        (200, &serde_json::json!({ "status": "ready" }))
    );

    within(service.refreshed(1)).await;
    service.upstream().set_outage(true);
    let gave_up = wait_for_event(&mut events, |e| is_give_up_of(e, "/app/ingest")).await;
    assert!(gave_up.is_some(), "/app/ingest never gave up");

    let failing = get(&client, &service, "/readyz").await;
    assert_eq!(failing.status, 503, "{}", failing.body);
    assert_eq!(failing.body["status"], "not_ready");
    let failed: Vec<&str> = failing.body["reasons"]
        .as_array()
        .expect("a list of reasons")
        .iter()
        .map(|node| node["path"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["/app/ingest", "/app/ingest/refresher"]);
    let reason = failing.body["reasons"][0]["last_failure"].as_str().unwrap();
    assert!(reason.contains("upstream unavailable"), "{reason}");
    // The root lives on: liveness holds, the process is not to be killed.
    assert_eq!(get(&client, &service, "/healthz").await.status, 200);
    // The service degrades: the last rates fetched are still served.
    assert_eq!(get(&client, &service, "/rates").await.status, 200);
    shut_down(service).await;
}

#[actix_rt::test]
async fn control_endpoints_do_not_exist_unless_enabled() {
    let service = start(&Config::local_without_control()).unwrap();
    let client = awc::Client::default();

    for path in [
        "/supervision/restart/app/ingest/refresher",
        "/supervision/stop/app/cache",
    ] {
        for token in [None, Some(TOKEN)] {
            let answer = post(&client, &service, path, token).await;
            assert_eq!(answer.status, 404, "POST {path} with {token:?}");
        }
    }
    let tree = snapshot(&client, &service).await;
    assert_eq!(tree.find("/app/ingest/refresher").unwrap().incarnation, 1);
    assert_eq!(tree.find("/app/cache").unwrap().state, NodeState::Running);
    shut_down(service).await;
}

#[actix_rt::test]
async fn control_endpoints_refuse_requests_without_the_right_bearer_token() {
    let service = start(&Config::local_with_control(TOKEN)).unwrap();
    let client = awc::Client::default();

    for token in [None, Some("wrong"), Some(&TOKEN[1..]), Some("")] {
        for path in [
            "/supervision/restart/app/ingest/refresher",
            "/supervision/stop/app/cache",
        ] {
            let answer = post(&client, &service, path, token).await;
            assert_eq!(answer.status, 401, "POST {path} with {token:?}");
            let error = answer.body["error"].as_str().unwrap();
            assert!(error.contains("Bearer"), "{error}");
        }
    }
    let tree = snapshot(&client, &service).await;
    assert_eq!(tree.find("/app/ingest/refresher").unwrap().incarnation, 1);
    assert_eq!(tree.find("/app/cache").unwrap().state, NodeState::Running);
    shut_down(service).await;
}

#[actix_rt::test]
async fn with_the_token_a_child_restarts_and_the_snapshot_shows_it() {
    let service = start(&Config::local_with_control(TOKEN)).unwrap();
    let mut events = service.events().await.unwrap();
    let client = awc::Client::default();

    let path = "/supervision/restart/app/ingest/refresher";
    let answer = post(&client, &service, path, Some(TOKEN)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(answer.body["path"], "/app/ingest/refresher");
    let restarted =
        wait_for_event(&mut events, |e| is_start_of(e, "/app/ingest/refresher", 2)).await;
    assert!(restarted.is_some(), "the refresher never started again");

    let tree = snapshot(&client, &service).await;
    let refresher = tree.find("/app/ingest/refresher").unwrap();
    assert_eq!((refresher.incarnation, refresher.restart_count), (2, 1));
    assert_eq!(refresher.state, NodeState::Running);
    shut_down(service).await;
}

#[actix_rt::test]
async fn with_the_token_a_child_stops_and_answers_its_report() {
    let service = start(&Config::local_with_control(TOKEN)).unwrap();
    let client = awc::Client::default();

    let answer = post(
        &client,
        &service,
        "/supervision/stop/app/audit",
        Some(TOKEN),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["path"], "/app/audit");
    assert_eq!(answer.body["outcome"], "drained");
    let tree = snapshot(&client, &service).await;
    assert_eq!(tree.find("/app/audit").unwrap().state, NodeState::Stopped);
    shut_down(service).await;
}

#[actix_rt::test]
async fn control_errors_map_to_http_statuses() {
    let service = start(&Config::local_with_control(TOKEN)).unwrap();
    let mut events = service.events().await.unwrap();
    let client = awc::Client::default();
    let control = |path: &'static str| post(&client, &service, path, Some(TOKEN));

    let unknown = control("/supervision/restart/app/nope").await;
    assert_eq!(
        (unknown.status, &unknown.body["kind"]),
        (404, &"unknown_path".into())
    );
    let unknown_parent = control("/supervision/stop/app/nope/child").await;
    assert_eq!(unknown_parent.status, 404);
    for protected in ["/supervision/stop/app/http", "/supervision/restart/app"] {
        let answer = control(protected).await;
        assert_eq!(
            (answer.status, &answer.body["kind"]),
            (403, &"protected".into())
        );
    }

    service.upstream().set_outage(true);
    let gave_up = wait_for_event(&mut events, |e| is_give_up_of(e, "/app/ingest")).await;
    assert!(gave_up.is_some(), "/app/ingest never gave up");
    let in_failed_subtree = control("/supervision/restart/app/ingest/refresher").await;
    assert_eq!(in_failed_subtree.status, 409, "{}", in_failed_subtree.body);
    let failed = control("/supervision/restart/app/ingest").await;
    assert_eq!(failed.status, 409, "{}", failed.body);
    shut_down(service).await;
}

#[actix_rt::test]
async fn one_shutdown_stops_the_server_first_then_drains_the_tree() {
    let service = start(&Config::local_with_control(TOKEN)).unwrap();
    let mut events = service.events().await.unwrap();
    let client = awc::Client::default();
    let restart = "/supervision/restart/app/ingest/refresher";
    assert_eq!(
        post(&client, &service, restart, Some(TOKEN)).await.status,
        202
    );
    let healthz = service.url("/healthz");
    let audit = service.audit_log().clone();

    let report = shut_down(service).await;

    assert!(report.is_drained(), "{report}");
    // Every event of the stop was sent before the report.
    let stopped: Vec<String> = std::iter::from_fn(|| events.next().now_or_never().flatten())
        .filter(|e| matches!(e.kind, EventKind::Stopped { .. }))
        .map(|e| e.path.to_string())
        .collect();
    let position = |path: &str| stopped.iter().position(|p| p == path).unwrap();
    assert!(
        position("/app/http") < position("/app/cache"),
        "{stopped:?}"
    );
    assert!(
        position("/app/http") < position("/app/audit"),
        "{stopped:?}"
    );
    assert!(
        within(call(&client, "GET", &healthz, None)).await.is_err(),
        "the server still answers after the shutdown"
    );
    assert_eq!(audit.entries(), ["restart /app/ingest/refresher -> 202"]);
}

#[test]
fn enabling_control_without_a_token_is_refused_at_startup() {
    let enabled = |name: &str| (name == "APP_ENABLE_CONTROL").then(|| "true".to_string());
    let err = Config::from_vars(enabled).unwrap_err();
    assert!(matches!(err, app::ConfigError::ControlWithoutToken));
    assert!(err.to_string().contains("APP_CONTROL_TOKEN"), "{err}");

    let empty_token = Config {
        control_token: Some(String::new()),
        ..Config::local_with_control("")
    };
    assert!(matches!(
        start(&empty_token),
        Err(app::StartupError::Config(
            app::ConfigError::ControlWithoutToken
        ))
    ));
}

#[test]
fn configuration_defaults_to_loopback_8080_with_control_off_and_reads_app_vars() {
    let defaults = Config::from_vars(|_| None).unwrap();
    assert_eq!(defaults.bind.to_string(), "127.0.0.1:8080");
    assert!(!defaults.enable_control);

    let vars = [
        ("APP_BIND", "127.0.0.1:9090"),
        ("APP_ENABLE_CONTROL", "true"),
        ("APP_CONTROL_TOKEN", TOKEN),
        ("APP_REFRESH_EVERY", "250ms"),
    ];
    let lookup = |name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    };
    let config = Config::from_vars(lookup).unwrap();
    assert_eq!(config.bind.to_string(), "127.0.0.1:9090");
    assert!(config.enable_control);
    assert_eq!(config.control_token.as_deref(), Some(TOKEN));
    assert_eq!(config.refresh_every, std::time::Duration::from_millis(250));

    let bad = Config::from_vars(|name| (name == "APP_BIND").then(|| "everywhere".to_string()));
    assert!(bad.unwrap_err().to_string().contains("APP_BIND"));
}

#[actix_rt::test]
async fn bad_control_paths_over_real_http_get_a_clear_status_and_body() {
    let service = start(&Config::local_with_control(TOKEN)).unwrap();
    let client = awc::Client::default();
    let long = format!("/supervision/stop/app/{}", "x".repeat(5000));
    for (path, status) in [
        ("/supervision/stop/app/%FF%FE", 400),
        ("/supervision/stop/app/ingest/../cache", 400),
        ("/supervision/stop/app//cache", 400),
        (long.as_str(), 400),
        ("/supervision/restart/app/nope/deeper", 404),
    ] {
        let answer = post(&client, &service, path, Some(TOKEN)).await;
        let shown = &path[..path.len().min(60)];
        assert_eq!(answer.status, status, "{shown}: {}", answer.body);
        assert!(answer.body["error"].is_string(), "{shown}: {}", answer.body);
    }
    let tree = snapshot(&client, &service).await;
    assert!(tree
        .nodes()
        .all(|n| n.state == NodeState::Running && n.incarnation == 1));
    shut_down(service).await;
}
