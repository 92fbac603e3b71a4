//! An actix-web service whose background tasks run under one supervision
//! tree, with the tree served over HTTP by the library's `web` module
//! (`cargo run -p actix-supervisor-extras --example 06_actix_web`; it is a
//! target of the `extras` crate, which builds actix-web and awc for it
//! alone).
//!
//! The service serves exchange rates. Its tree, rooted at `/app`:
//!
//! ```text
//! app [supervisor]
//!  ├─ cache [actor]              the rates the HTTP handlers read, through its ChildHandle
//!  ├─ ingest [supervisor]        gives up (and stays failed) past 2 restarts in 60 s
//!  │   └─ refresher [periodic]   fetches the rates from the upstream into the cache
//!  ├─ audit [worker]             writes the audit trail of the control endpoints
//!  └─ http [worker]              the actix-web server itself
//! ```
//!
//! The HTTP server runs inside the tree, as the `http` worker, which depends
//! on `cache` and `audit`. So one graceful shutdown (SIGINT, SIGTERM, or the
//! [`ShutdownHandle`]) stops both in the right order: the server first (it
//! stops accepting and finishes the requests in flight), then the rest of
//! the tree, each mailbox drained, and the stop report is printed.
//!
//! # Endpoints
//!
//! The application's own: `GET /rates`, the cached rates (`503` until the
//! first refresh). The rest is [`actix_supervisor::web::Endpoints`], mounted
//! in one call: `GET /supervision` (the tree as JSON), `GET
//! /supervision/events` (Server-Sent Events), `GET /supervision/ui` (the live
//! page), `GET /healthz`, `GET /readyz`, and, with control on, `POST
//! /supervision/restart/{path}` and `POST /supervision/stop/{path}`, e.g.
//! `/supervision/restart/app/ingest/refresher`, behind `Authorization:
//! Bearer <APP_CONTROL_TOKEN>`. `/app/http` is protected: it cannot stop the
//! server it answers from. With the `metrics` feature: `GET /metrics`.
//!
//! # Configuration (environment)
//!
//! - `APP_BIND`: address to listen on (default `127.0.0.1:8080`).
//! - `APP_ENABLE_CONTROL`: `true`/`false` (default `false`).
//! - `APP_CONTROL_TOKEN`: the bearer token (16 bytes at least); enabling
//!   control without one is refused at startup.
//! - `APP_REFRESH_EVERY`: the refresher's interval, e.g. `500ms` (default `1s`).
//!
//! # Running it
//!
//! - `cargo run -p actix-supervisor-extras --example 06_actix_web`: a
//!   self-demonstration that ends on its own. It starts the service on
//!   `127.0.0.1:0` with control on and a fresh token (the `APP_*` variables
//!   are ignored), calls its own endpoints, breaks the upstream so that
//!   `/app/ingest` gives up, shuts down through the `ShutdownHandle` and
//!   prints the report. It exits non-zero if any answer was not the
//!   expected one.
//! - `cargo run -p actix-supervisor-extras --example 06_actix_web -- --serve`
//!   (or `APP_SERVE=1`): reads the configuration above and serves until
//!   Ctrl-C (SIGINT) or SIGTERM, then prints the stop report; the exit
//!   status says whether everything drained (3 if the root gave up on its
//!   own). `examples/kubernetes/` runs it under Kubernetes.

#[path = "../common/logging.rs"]
mod logging;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use actix::prelude::*;
use actix_supervisor::system::{ShutdownHandle, Supervision};
use actix_supervisor::web::{Endpoints, WebConfig, WebConfigError};
use actix_supervisor::{
    events::{EventKind, EventStream, LifecycleEvent},
    periodic::{Periodic, Tick, TickContext},
    worker::{Work, WorkContext},
    ChildHandle, ChildSpec, Grace, RestartIntensity, RestartPolicy, StopOutcome, StopReport,
    Subscribe, SupervisorActor, TreeSnapshot,
};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// The service's configuration, read from `APP_*` environment variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the HTTP server listens.
    pub bind: SocketAddr,
    /// Whether the control endpoints exist.
    pub enable_control: bool,
    /// The bearer token the control endpoints require.
    pub control_token: Option<String>,
    /// How often the refresher fetches the rates.
    pub refresh_every: Duration,
}

/// A configuration the service refuses to start with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Control endpoints on, but no token to protect them.
    #[error(
        "APP_ENABLE_CONTROL is on but APP_CONTROL_TOKEN is not set (or empty): the control \
         endpoints would be open to anyone; set a token or turn control off"
    )]
    ControlWithoutToken,
    /// A variable whose value cannot be used.
    #[error("{var}={value:?}: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Default for Config {
    /// Loopback on port 8080, control off, a refresh every second.
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            enable_control: false,
            control_token: None,
            refresh_every: Duration::from_secs(1),
        }
    }
}

impl Config {
    /// Reads the configuration from the process's environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from `var` (a variable's value by name), over
    /// the defaults, and checks it.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Config::default();
        if let Some(value) = var("APP_BIND") {
            config.bind = value.parse().map_err(|e| invalid("APP_BIND", &value, e))?;
        }
        if let Some(value) = var("APP_ENABLE_CONTROL") {
            config.enable_control = parse_switch(&value)
                .ok_or_else(|| invalid("APP_ENABLE_CONTROL", &value, "expected true or false"))?;
        }
        config.control_token = var("APP_CONTROL_TOKEN");
        if let Some(value) = var("APP_REFRESH_EVERY") {
            config.refresh_every = humantime::parse_duration(&value)
                .map_err(|e| invalid("APP_REFRESH_EVERY", &value, e))?;
        }
        config.check()?;
        Ok(config)
    }

    /// A configuration for a local run: an ephemeral loopback port, control
    /// on with `token`, quick refreshes.
    pub fn local_with_control(token: &str) -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            enable_control: true,
            control_token: Some(token.to_string()),
            refresh_every: Duration::from_millis(50),
        }
    }

    /// The same, with control off.
    pub fn local_without_control() -> Self {
        Config {
            enable_control: false,
            control_token: None,
            ..Config::local_with_control("")
        }
    }

    /// Refuses control endpoints without a token, and a zero interval.
    pub fn check(&self) -> Result<(), ConfigError> {
        let has_token = self.control_token.as_deref().is_some_and(|t| !t.is_empty());
        if self.enable_control && !has_token {
            return Err(ConfigError::ControlWithoutToken);
        }
        if self.refresh_every.is_zero() {
            return Err(invalid("APP_REFRESH_EVERY", "0", "must be above zero"));
        }
        Ok(())
    }
}

fn invalid(var: &'static str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn parse_switch(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// The cache: a plain actor the HTTP handlers talk to
// ---------------------------------------------------------------------------

/// A set of exchange rates, as fetched from the upstream.
#[derive(Debug, Clone, Serialize)]
pub struct Rates {
    /// Which fetch produced it, from 1.
    pub version: u64,
    /// When it was fetched (RFC 3339).
    pub fetched_at: String,
    /// Rate per currency pair.
    pub pairs: BTreeMap<String, f64>,
}

/// Holds the latest rates. A restart starts it empty; the next refresh
/// fills it again.
#[derive(Default)]
pub struct Cache {
    rates: Option<Rates>,
}

impl Actor for Cache {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Cache);

/// Replaces the cached rates.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Store(pub Rates);

impl Handler<Store> for Cache {
    type Result = ();
    fn handle(&mut self, msg: Store, _: &mut Context<Self>) {
        self.rates = Some(msg.0);
    }
}

/// Answers the cached rates, if any.
#[derive(Message)]
#[rtype(result = "Option<Rates>")]
pub struct Lookup;

impl Handler<Lookup> for Cache {
    type Result = Option<Rates>;
    fn handle(&mut self, _: Lookup, _: &mut Context<Self>) -> Option<Rates> {
        self.rates.clone()
    }
}

// ---------------------------------------------------------------------------
// The upstream and the refresher: a periodic child
// ---------------------------------------------------------------------------

/// The rates provider, simulated: it answers fresh rates until an outage is
/// switched on.
#[derive(Debug, Clone, Default)]
pub struct Upstream {
    outage: Arc<AtomicBool>,
    fetches: Arc<AtomicU64>,
}

impl Upstream {
    /// Switches the outage on or off.
    pub fn set_outage(&self, outage: bool) {
        self.outage.store(outage, Ordering::SeqCst);
    }

    fn fetch(&self) -> Result<Rates, String> {
        if self.outage.load(Ordering::SeqCst) {
            return Err("upstream unavailable: 503 from rates.example".to_string());
        }
        let version = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        let wobble = (version % 7) as f64 / 1000.0;
        let pairs = [("EUR/USD", 1.08), ("GBP/USD", 1.27), ("USD/JPY", 151.2)]
            .into_iter()
            .map(|(pair, rate)| (pair.to_string(), rate + wobble))
            .collect();
        Ok(Rates {
            version,
            fetched_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            pairs,
        })
    }
}

/// One refresh per tick: fetch, then store in the cache.
pub struct Refresher {
    upstream: Upstream,
    cache: ChildHandle<Cache>,
    refreshes: Arc<watch::Sender<u64>>,
}

impl Tick for Refresher {
    type Error = String;

    async fn tick(&mut self, _: &TickContext) -> Result<(), String> {
        let rates = self.upstream.fetch()?;
        self.cache
            .send(Store(rates))
            .await
            .map_err(|e| e.to_string())?;
        self.refreshes.send_modify(|n| *n += 1);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The audit trail: a worker child
// ---------------------------------------------------------------------------

/// The entries the auditor has written, in order.
#[derive(Debug, Clone, Default)]
pub struct AuditLog(Arc<Mutex<Vec<String>>>);

impl AuditLog {
    /// Every entry written so far.
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn write(&self, entry: String) {
        tracing::info!(target: "audit", "{entry}");
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    }
}

/// Writes the entries the HTTP handlers queue. The queue outlives
/// incarnations, so nothing queued is lost to a restart; on stop, the
/// auditor writes what is left before it returns.
pub struct Auditor {
    queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>>,
    log: AuditLog,
}

impl Work for Auditor {
    type Error = String;

    async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
        let mut queue = self.queue.lock().await;
        loop {
            tokio::select! {
                biased;
                entry = queue.recv() => match entry {
                    Some(entry) => self.log.write(entry),
                    None => return Ok(()),
                },
                () = cx.token().cancelled() => break,
            }
        }
        while let Ok(entry) = queue.try_recv() {
            self.log.write(entry);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The HTTP server: a worker child
// ---------------------------------------------------------------------------

/// What the application's own handlers need, beside the library's
/// endpoints.
struct AppState {
    cache: ChildHandle<Cache>,
    audit: mpsc::UnboundedSender<String>,
}

/// The whole tree's grace: a stop ends within it. The Kubernetes manifest
/// (`examples/kubernetes/deployment.yaml`) gives the pod this plus its
/// `preStop` delay plus a margin as `terminationGracePeriodSeconds`.
pub const TREE_GRACE_SECS: u64 = 30;

/// How long the server waits for requests in flight when it stops; the
/// `http` child's grace is longer.
const HTTP_SHUTDOWN_TIMEOUT_SECS: u64 = 5;

/// Runs the actix-web server until a stop (or a restart) of the `http` child
/// begins, then stops it gracefully: no new connections, requests in flight
/// finished.
pub struct HttpService {
    /// The socket bound at startup, for the first incarnation; later ones
    /// bind `addr` again.
    listener: Option<TcpListener>,
    addr: SocketAddr,
    state: web::Data<AppState>,
    endpoints: Endpoints,
}

impl Work for HttpService {
    type Error = std::io::Error;

    async fn run(&mut self, cx: WorkContext) -> Result<(), std::io::Error> {
        let (state, endpoints) = (self.state.clone(), self.endpoints.clone());
        let server = actix_web::HttpServer::new(move || {
            let endpoints = endpoints.clone();
            actix_web::App::new()
                .app_data(state.clone())
                .wrap(from_fn(audit_control))
                .route("/rates", web::get().to(rates))
                // The whole of the tree's HTTP side, in one call.
                .configure(move |cfg| endpoints.configure(cfg))
        })
        .workers(2)
        .disable_signals() // the supervision tree handles them
        .shutdown_timeout(HTTP_SHUTDOWN_TIMEOUT_SECS);
        let server = match self.listener.take() {
            Some(listener) => server.listen(listener)?,
            None => server.bind(self.addr)?,
        }
        .run();
        let handle = server.handle();
        let mut server = std::pin::pin!(server);
        tokio::select! {
            result = &mut server => result, // ended on its own: a failure if Err
            () = cx.token().cancelled() => {
                let (_, result) = futures_util::join!(handle.stop(true), server);
                result
            }
        }
    }
}

/// Writes every control request and its answer to the audit trail.
async fn audit_control(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = request.path().to_string();
    let control =
        path.starts_with("/supervision/restart/") || path.starts_with("/supervision/stop/");
    let audit = request
        .app_data::<web::Data<AppState>>()
        .map(|s| s.audit.clone());
    let response = next.call(request).await?;
    if let (true, Some(audit)) = (control, audit) {
        let entry = path
            .trim_start_matches("/supervision/")
            .replacen('/', " /", 1);
        let _ = audit.send(format!("{entry} -> {}", response.status().as_u16()));
    }
    Ok(response)
}

fn error(status: StatusCode, code: &str, message: impl ToString) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": code, "message": message.to_string() }))
}

async fn rates(state: web::Data<AppState>) -> HttpResponse {
    match state.cache.send(Lookup).await {
        Ok(Some(rates)) => HttpResponse::Ok().json(rates),
        Ok(None) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "no rates fetched yet",
        ),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "cache_unavailable", e),
    }
}

// ---------------------------------------------------------------------------
// The service: the tree, built and started
// ---------------------------------------------------------------------------

/// Why the service did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The configuration is refused.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The tree is refused.
    #[error("supervision tree: {0}")]
    Tree(#[from] actix_supervisor::BuildError),
    /// The web configuration is refused (a token too short).
    #[error("web: {0}")]
    Web(#[from] WebConfigError),
}

/// The running service: its supervision tree (HTTP server included), its
/// address, and the hooks a demonstration or a test needs.
#[derive(Debug)]
pub struct RatesService {
    supervision: Supervision,
    addr: SocketAddr,
    upstream: Upstream,
    audit: AuditLog,
    refreshes: Arc<watch::Sender<u64>>,
}

/// Starts the service on the current actix system: checks `config`, binds
/// the address (so a busy port fails here), and starts the tree.
pub fn start(config: &Config) -> Result<RatesService, StartupError> {
    config.check()?;
    let listener = TcpListener::bind(config.bind).map_err(|source| StartupError::Bind {
        addr: config.bind,
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| StartupError::Bind {
        addr: config.bind,
        source,
    })?;
    let upstream = Upstream::default();
    let audit = AuditLog::default();
    let refreshes = Arc::new(watch::Sender::new(0));

    let cache = ChildSpec::new("cache", Cache::default);
    let cache_handle = cache.handle();
    let ingest = ingest_supervisor(config, &upstream, &cache_handle, &refreshes);
    let (audit_queue, auditor) = auditor_spec(&audit);
    let app = SupervisorActor::builder("app")
        .grace(Grace::Duration(Duration::from_secs(TREE_GRACE_SECS)));
    let state = web::Data::new(AppState {
        cache: cache_handle,
        audit: audit_queue,
    });
    let endpoints = Endpoints::for_root(app.address(), web_config(config)?);
    let mut listener = Some(listener);
    let served = endpoints.clone();
    let http = ChildSpec::worker("http", move |_| HttpService {
        listener: listener.take(),
        addr,
        state: state.clone(),
        endpoints: served.clone(),
    })
    .grace(Grace::Duration(Duration::from_secs(
        2 * HTTP_SHUTDOWN_TIMEOUT_SECS,
    )))
    .depends_on("cache")
    .depends_on("audit");

    let tree = app.child(cache).child(ingest).child(auditor).child(http);
    let supervision = Supervision::start(tree)?;
    // Readiness drops as soon as a signal arrives, before the tree stops.
    endpoints.follow(&supervision);
    #[cfg(feature = "metrics")]
    {
        let root = supervision.root().clone();
        actix_rt::spawn(async move {
            if let Err(err) = actix_supervisor::metrics::track(&root).await {
                tracing::warn!(%err, "metrics: the tree is gone");
            }
        });
    }
    Ok(RatesService {
        supervision,
        addr,
        upstream,
        audit,
        refreshes,
    })
}

/// What the library's endpoints serve: control on with the token when
/// asked, `/app/http` protected, and `/metrics` with the `metrics` feature.
fn web_config(config: &Config) -> Result<WebConfig, StartupError> {
    let mut web = WebConfig::default().protect("/app/http")?;
    if config.enable_control {
        web = web.enable_control(config.control_token.as_deref().unwrap_or_default())?;
    }
    #[cfg(feature = "metrics")]
    {
        web = web.prometheus(prometheus_handle());
    }
    Ok(web)
}

/// The process's Prometheus recorder, installed on first use.
#[cfg(feature = "metrics")]
fn prometheus_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            actix_supervisor::metrics::install_prometheus()
                .expect("no other metrics recorder in this process")
        })
        .clone()
}

/// `ingest`, with the refresher: past 2 restarts in 60 s it gives up, and
/// stays failed (its parent does not restart it) for `/readyz` to report.
fn ingest_supervisor(
    config: &Config,
    upstream: &Upstream,
    cache: &ChildHandle<Cache>,
    refreshes: &Arc<watch::Sender<u64>>,
) -> actix_supervisor::SupervisorBuilder {
    let (upstream, cache, refreshes) = (upstream.clone(), cache.clone(), refreshes.clone());
    // Two failed fetches in a row make an incarnation fail.
    let schedule = Periodic::every(config.refresh_every).failure_limit(2);
    let refresher = ChildSpec::periodic("refresher", schedule, move |_| Refresher {
        upstream: upstream.clone(),
        cache: cache.clone(),
        refreshes: refreshes.clone(),
    })
    .restart(RestartPolicy::Always);
    SupervisorActor::builder("ingest")
        .intensity(RestartIntensity::new(2, Duration::from_secs(60)))
        .restart(RestartPolicy::Never)
        .depends_on("cache")
        .child(refresher)
}

fn auditor_spec(
    log: &AuditLog,
) -> (
    mpsc::UnboundedSender<String>,
    ChildSpec<actix_supervisor::worker::WorkerActor<Auditor>>,
) {
    let (queue, receiver) = mpsc::unbounded_channel();
    let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
    let log = log.clone();
    let spec = ChildSpec::worker("audit", move |_| Auditor {
        queue: receiver.clone(),
        log: log.clone(),
    })
    .restart(RestartPolicy::Always);
    (queue, spec)
}

impl RatesService {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of `path` on this service.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The root supervisor, `/app`.
    pub fn root(&self) -> &Addr<SupervisorActor> {
        self.supervision.root()
    }

    /// The simulated upstream, to cause an outage.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The audit trail written so far.
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// Triggers the same graceful shutdown as SIGTERM.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.supervision.shutdown_handle()
    }

    /// Waits until the rates were refreshed at least `count` times.
    pub async fn refreshed(&self, count: u64) {
        let mut refreshes = self.refreshes.subscribe();
        // The sender lives in `self`, so the wait cannot fail.
        let _ = refreshes.wait_for(|n| *n >= count).await;
    }

    /// A stream of the tree's lifecycle events from now on.
    pub async fn events(&self) -> Result<EventStream, MailboxError> {
        self.root().send(Subscribe::all()).await
    }

    /// Serves until SIGINT, SIGTERM or the shutdown handle, then stops the
    /// server and the tree gracefully; answers the tree's stop report.
    pub async fn run_until_shutdown(self) -> Result<StopReport, MailboxError> {
        self.supervision.run_until_shutdown().await
    }

    /// The tree's `Supervision`, e.g. to see whether a stop began.
    pub fn supervision(&self) -> &Supervision {
        &self.supervision
    }
}

/// Reads `events` until one matches; `None` if none came within 10 s (a
/// guard against hangs, not a wait).
pub async fn wait_for_event(
    events: &mut EventStream,
    matches: impl Fn(&LifecycleEvent) -> bool,
) -> Option<LifecycleEvent> {
    let wait = async {
        while let Some(event) = events.next().await {
            if matches(&event) {
                return Some(event);
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .ok()
        .flatten()
}

/// Whether `event` is `path` starting its incarnation `incarnation`.
pub fn is_start_of(event: &LifecycleEvent, path: &str, incarnation: u64) -> bool {
    event.path.as_str() == path
        && event.kind == EventKind::Started
        && event.incarnation == incarnation
}

/// Whether `event` is `path` giving up.
pub fn is_give_up_of(event: &LifecycleEvent, path: &str) -> bool {
    event.path.as_str() == path && matches!(event.kind, EventKind::GaveUp { .. })
}

/// The children (supervisors excluded: their outcome sums up their
/// children's) of `report` that did not drain, outside the subtrees at
/// `expected_failures`.
fn unexpected_outcomes<'a>(
    report: &'a StopReport,
    expected_failures: &'a [&str],
) -> impl Iterator<Item = &'a StopReport> {
    report.iter().filter(move |r| {
        let expected = expected_failures
            .iter()
            .any(|p| r.path.as_str() == *p || r.path.as_str().starts_with(&format!("{p}/")));
        r.children.is_empty() && r.outcome != StopOutcome::Drained && !expected
    })
}

// ---------------------------------------------------------------------------
// An HTTP client for the demonstration and the tests
// ---------------------------------------------------------------------------

/// An answer: status and JSON body (`null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

/// Sends a request with no body, with a bearer token if given.
pub async fn call(
    client: &awc::Client,
    method: &str,
    url: &str,
    token: Option<&str>,
) -> Result<Answer, String> {
    let method = awc::http::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut response = request.send().await.map_err(|e| e.to_string())?;
    let body = response.body().await.map_err(|e| e.to_string())?;
    Ok(Answer {
        status: response.status().as_u16(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

// ---------------------------------------------------------------------------
// main: serve, or demonstrate
// ---------------------------------------------------------------------------

#[actix::main]
async fn main() -> ExitCode {
    let serve = std::env::args().any(|a| a == "--serve")
        || std::env::var("APP_SERVE").is_ok_and(|v| parse_switch(&v) == Some(true));
    // Serving logs the audit trail; the demonstration prints it at the end.
    let default_filter = if serve {
        "actix_supervisor=warn,audit=info"
    } else {
        "actix_supervisor=error"
    };
    logging::init(default_filter);
    let outcome = if serve {
        serve_until_signal().await
    } else {
        demonstrate().await
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}

async fn serve_until_signal() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let service = start(&config)?;
    println!(
        "serving on http://{} (control endpoints {}); Ctrl-C to stop",
        service.addr(),
        if config.enable_control { "on" } else { "off" }
    );
    // 0 drained, 1 not, 3 if the root gave up on its own (see system::run).
    let (report, code) = service.supervision.run_until_exit().await?;
    println!("stopped:\n{report}");
    Ok(code)
}

/// Calls the service's endpoints, prints each answer, and collects the
/// answers that were not the expected ones.
struct Demo {
    client: awc::Client,
    base: String,
    failures: Vec<String>,
}

impl Demo {
    async fn get(&mut self, path: &str, expected: u16) -> Value {
        self.call("GET", path, None, expected).await
    }

    async fn post(&mut self, path: &str, token: Option<&str>, expected: u16) -> Value {
        self.call("POST", path, token, expected).await
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        expected: u16,
    ) -> Value {
        let url = format!("{}{path}", self.base);
        let shown = match token {
            Some(_) => format!("{method} {path} (with a token)"),
            None => format!("{method} {path}"),
        };
        match call(&self.client, method, &url, token).await {
            Ok(answer) => {
                println!("{shown} -> {} {}", answer.status, answer.body);
                let status = answer.status;
                self.check(status == expected, || {
                    format!("{shown}: {status}, not {expected}")
                });
                answer.body
            }
            Err(err) => {
                self.check(false, || format!("{shown}: {err}"));
                Value::Null
            }
        }
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            let what = what();
            println!("  UNEXPECTED: {what}");
            self.failures.push(what);
        }
    }
}

async fn demonstrate() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let token = format!("{:032x}", rand::random::<u128>());
    let service = start(&Config::local_with_control(&token))?;
    let mut events = service.events().await?;
    println!("serving on http://{} with control on\n", service.addr());
    let mut demo = Demo {
        client: awc::Client::default(),
        base: service.url(""),
        failures: Vec::new(),
    };
    let restart_refresher = "/supervision/restart/app/ingest/refresher";

    service.refreshed(1).await;
    demo.get("/healthz", 200).await;
    demo.get("/readyz", 200).await;
    demo.get("/rates", 200).await;
    let tree: TreeSnapshot = serde_json::from_value(demo.get("/supervision", 200).await)?;
    println!("  the tree, read back from the JSON:\n{tree}");

    println!("control endpoints: a bearer token is required");
    demo.post(restart_refresher, None, 401).await;
    demo.post(restart_refresher, Some("guess"), 401).await;
    demo.post(restart_refresher, Some(&token), 202).await;
    let restarted = wait_for_event(&mut events, |e| is_start_of(e, "/app/ingest/refresher", 2));
    demo.check(restarted.await.is_some(), || {
        "the refresher did not restart".into()
    });
    demo.post("/supervision/restart/app/nope", Some(&token), 404)
        .await;
    demo.post("/supervision/stop/app/http", Some(&token), 403)
        .await;

    println!("\nan upstream outage: the refresher fails until /app/ingest gives up");
    service.upstream().set_outage(true);
    let gave_up = wait_for_event(&mut events, |e| is_give_up_of(e, "/app/ingest")).await;
    demo.check(gave_up.is_some(), || "/app/ingest did not give up".into());
    demo.get("/readyz", 503).await;
    demo.get("/healthz", 200).await; // the root lives on: no reason to kill the process
    demo.post(restart_refresher, Some(&token), 409).await;
    println!("  the last rates fetched are still served:");
    demo.get("/rates", 200).await;

    println!("\nshutting down through the ShutdownHandle ...");
    let audit = service.audit_log().clone();
    service.shutdown_handle().shutdown();
    let report = service.run_until_shutdown().await?;
    println!("stopped:\n{report}");
    println!("(/app sums up its children: /app/ingest failed, on purpose, above)");
    for node in unexpected_outcomes(&report, &["/app/ingest"]) {
        let outcome = &node.outcome;
        demo.check(false, || {
            format!("{} did not drain: {outcome:?}", node.path)
        });
    }
    let after = call(&demo.client, "GET", &format!("{}/healthz", demo.base), None).await;
    println!(
        "a request after the shutdown: {}",
        after.as_ref().err().map_or("answered", |e| e)
    );
    demo.check(after.is_err(), || {
        "the server answers after the shutdown".into()
    });
    println!("the audit trail, written to the end before the auditor stopped:");
    let entries = audit.entries();
    entries.iter().for_each(|entry| println!("  {entry}"));
    demo.check(entries.len() == 6, || {
        format!("{} audit entries, not 6", entries.len())
    });

    if demo.failures.is_empty() {
        println!("\nevery answer was the expected one");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("\n{} unexpected answers", demo.failures.len());
        Ok(ExitCode::FAILURE)
    }
}
