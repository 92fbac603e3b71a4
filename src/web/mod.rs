//! HTTP endpoints for a running tree (feature `web`, actix-web 4): the
//! snapshot as JSON, lifecycle events as Server-Sent Events, a live page,
//! liveness and readiness probes, control by path, and (with the `metrics`
//! feature too) `GET /metrics`.
//!
//! # Mounting
//!
//! [`Endpoints`] mounts on any actix-web `App` (or scope) in one call:
//!
//! ```
//! use actix_supervisor::system::Supervision;
//! use actix_supervisor::web::{Endpoints, WebConfig};
//! use actix_supervisor::SupervisorActor;
//! use actix_web::{test, App};
//!
//! # actix_web::rt::System::new().block_on(async {
//! let supervision = Supervision::start(SupervisorActor::builder("app"))?;
//! let endpoints = Endpoints::new(&supervision, WebConfig::default());
//! // In a server: HttpServer::new(move || App::new().configure(|cfg| endpoints.configure(cfg)))
//! let app = test::init_service(App::new().configure(|cfg| endpoints.configure(cfg))).await;
//! let tree = test::call_service(&app, test::TestRequest::get().uri("/supervision").to_request()).await;
//! assert_eq!(tree.status(), 200);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Endpoints
//!
//! | request | answer |
//! |---|---|
//! | `GET /supervision` | `200`, the [`TreeSnapshot`](crate::TreeSnapshot) as JSON ([schema](crate::TreeSnapshot)); `503` if the root does not answer |
//! | `GET /supervision/events` | `200`, `text/event-stream`: one SSE event per [`LifecycleEvent`](crate::events::LifecycleEvent), named by its kind (`started`, `failed`, `restarting`, `stopped`, `gave_up`, `escalated`, `lagged`), its data one JSON object; `503` past [`WebConfig::max_event_clients`] |
//! | `GET /supervision/ui` | `200`, a self-contained HTML page that draws the tree and follows the events live |
//! | `GET /healthz` | liveness: `200 {"status":"alive"}` while the root answers and has not ended; `503 {"status":"dead","reason":..}` otherwise |
//! | `GET /readyz` | readiness: `200 {"status":"ready"}` when no stop began, the root runs, and no node is `starting` or `failed`; `503 {"status":"not_ready","reasons":[..]}` otherwise |
//! | `POST /supervision/restart/{path}` | control (off by default): restart the node at `/{path}`, `202` |
//! | `POST /supervision/stop/{path}` | control (off by default): stop the node at `/{path}`, `200` with its stop report |
//! | `GET /metrics` | features `web` and `metrics`, with [`WebConfig::prometheus`]: the Prometheus text format |
//!
//! Every answer but the page, the events and the metrics is JSON; errors are
//! `{"error": "..."}` with more fields where useful.
//!
//! # Events and slow clients
//!
//! Each event client reads from the tree's bounded event channel (1024
//! events). The server writes to a client only as fast as the client reads;
//! one that falls more than 1024 events behind loses the oldest ones and
//! gets a `lagged` event with `{"missed": n}` instead, so the server never
//! buffers without bound. At most [`WebConfig::max_event_clients`] clients
//! are served at once; a client that disconnects frees its place.
//!
//! # Control
//!
//! The control endpoints are off by default: they answer `404`. Turn them on
//! with [`WebConfig::enable_control`], which refuses an empty or short token.
//! Then every control request needs `Authorization: Bearer <token>`,
//! compared in constant time (only its length can show through the
//! timing; use a long random token) and answered `401` otherwise. The path
//! in the URL is the node's path without its leading `/`, e.g. `POST
//! /supervision/restart/app/ingest/refresher`, percent-encoded where needed.
//!
//! | status | when |
//! |---|---|
//! | `200` / `202` | stopped (the report) / restart under way |
//! | `400` | a path that is not UTF-8, has an empty name, `.` or `..`, or is longer than [`NodePath::MAX_LEN`](crate::path::NodePath::MAX_LEN) |
//! | `401` | no token, or a wrong one |
//! | `403` | a protected node: the root, a node given to [`WebConfig::protect`], or an ancestor of one |
//! | `404` | control is off, or no node has that path |
//! | `409` | the node has ended and cannot start again (a nested supervisor), or its supervisor is stopping |
//!
//! # Readiness and liveness
//!
//! Readiness drops to `503` as soon as a stop begins through the
//! [`Supervision`] (a signal, a [`ShutdownHandle`](crate::system::ShutdownHandle),
//! [`Supervision::stop`]), before the tree is even told, so that a load
//! balancer stops sending traffic while the tree drains. It also answers
//! `503` while a node is `starting` (it has not finished its start) or
//! `failed` (its supervisor gave up on it), naming each. Liveness fails
//! only when the root is gone or has ended (it gave up): then restarting
//! the process is the cure.

mod control;
mod events;
mod probes;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::actors::SupervisorActor;
use crate::system::Supervision;
use crate::tree::NodePath;

/// The shortest bearer token [`WebConfig::enable_control`] accepts.
pub const MIN_TOKEN_LEN: usize = 16;

/// A web configuration that would be unsafe: refused when it is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebConfigError {
    /// Control was asked for without a token, or with one shorter than
    /// [`MIN_TOKEN_LEN`] bytes: the control endpoints would be open to
    /// anyone, or to a guess.
    #[error(
        "control endpoints need a bearer token of at least {MIN_TOKEN_LEN} bytes; \
         set a token or leave control off"
    )]
    WeakToken,
    /// A path given to [`WebConfig::protect`] is not a path.
    #[error(transparent)]
    InvalidPath(#[from] crate::path::PathError),
}

/// What the endpoints serve, and how.
///
/// The default serves everything read-only, with control off.
///
/// # Examples
///
/// ```
/// use actix_supervisor::web::{WebConfig, WebConfigError};
///
/// let config = WebConfig::default()
///     .enable_control("a-long-random-secret-token")?
///     .protect("/app/http")?;
/// assert!(config.is_control_enabled());
/// assert_eq!(WebConfig::default().enable_control("").unwrap_err(), WebConfigError::WeakToken);
/// # Ok::<_, WebConfigError>(())
/// ```
#[derive(Clone)]
pub struct WebConfig {
    token: Option<Arc<[u8]>>,
    protected: Vec<NodePath>,
    max_event_clients: usize,
    answer_within: Duration,
    #[cfg(feature = "metrics")]
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("control", &self.token.is_some())
            .field("protected", &self.protected)
            .field("max_event_clients", &self.max_event_clients)
            .field("answer_within", &self.answer_within)
            .finish_non_exhaustive()
    }
}

impl Default for WebConfig {
    /// Control off, nothing protected but the root, 1024 event clients,
    /// 5 s for the root to answer.
    fn default() -> Self {
        WebConfig {
            token: None,
            protected: Vec::new(),
            max_event_clients: 1024,
            answer_within: Duration::from_secs(5),
            #[cfg(feature = "metrics")]
            prometheus: None,
        }
    }
}

impl WebConfig {
    /// Turns the control endpoints on, behind `Authorization: Bearer
    /// <token>`.
    ///
    /// # Errors
    ///
    /// [`WebConfigError::WeakToken`] when `token` is shorter than
    /// [`MIN_TOKEN_LEN`] bytes (an empty token included).
    pub fn enable_control(mut self, token: impl AsRef<str>) -> Result<Self, WebConfigError> {
        let token = token.as_ref().as_bytes();
        if token.len() < MIN_TOKEN_LEN {
            return Err(WebConfigError::WeakToken);
        }
        self.token = Some(Arc::from(token));
        Ok(self)
    }

    /// Whether the control endpoints are on.
    pub fn is_control_enabled(&self) -> bool {
        self.token.is_some()
    }

    /// Refuses control of the node at `path` and of its ancestors (stopping
    /// an ancestor would stop it), e.g. the worker that runs the HTTP server
    /// itself. The root is always protected.
    ///
    /// # Errors
    ///
    /// [`WebConfigError::InvalidPath`] when `path` is not a path.
    pub fn protect(mut self, path: &str) -> Result<Self, WebConfigError> {
        self.protected.push(NodePath::parse(path)?);
        Ok(self)
    }

    /// How many event-stream clients are served at once; more get `503`.
    /// Default: 1024.
    pub fn max_event_clients(mut self, clients: usize) -> Self {
        self.max_event_clients = clients;
        self
    }

    /// How long the endpoints wait for the root supervisor to answer before
    /// they answer `503`. Default: 5 s.
    pub fn answer_within(mut self, timeout: Duration) -> Self {
        self.answer_within = timeout;
        self
    }

    /// Serves `GET /metrics` from this Prometheus recorder's handle (see
    /// [`crate::metrics::install_prometheus`]). Without it, `/metrics` is not
    /// served.
    #[cfg(feature = "metrics")]
    pub fn prometheus(mut self, handle: metrics_exporter_prometheus::PrometheusHandle) -> Self {
        self.prometheus = Some(handle);
        self
    }
}

/// What every handler shares.
#[derive(Debug)]
struct State {
    root: Addr<SupervisorActor>,
    stopping: CancellationToken,
    config: WebConfig,
    /// Event-stream clients being served.
    event_clients: Arc<AtomicUsize>,
}

/// The endpoints of one tree, ready to mount on an actix-web `App` or
/// scope with [`configure`](Endpoints::configure).
///
/// Cheap to clone: every clone serves the same tree and shares the count
/// of event clients, so an `HttpServer` factory can clone it for each
/// worker.
///
/// # Examples
///
/// ```no_run
/// use actix_supervisor::system::Supervision;
/// use actix_supervisor::web::{Endpoints, WebConfig};
/// use actix_supervisor::SupervisorActor;
/// use actix_web::{App, HttpServer};
///
/// #[actix_web::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let supervision = Supervision::start(SupervisorActor::builder("app"))?;
///     let endpoints = Endpoints::new(&supervision, WebConfig::default());
///     HttpServer::new(move || {
///         let endpoints = endpoints.clone();
///         App::new().configure(move |cfg| endpoints.configure(cfg))
///     })
///     .bind("127.0.0.1:8080")?
///     .run()
///     .await?;
///     supervision.stop().await?;
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Endpoints {
    state: Arc<State>,
}

impl Endpoints {
    /// The endpoints of the tree `supervision` runs. Readiness follows its
    /// stop ([`Supervision::is_stopping`]).
    pub fn new(supervision: &Supervision, config: WebConfig) -> Self {
        Self::with_stop_signal(supervision.root().clone(), supervision.stopping(), config)
    }

    /// The endpoints of the tree under `root`, started without a
    /// [`Supervision`]; readiness drops once the root is stopping.
    pub fn for_root(root: Addr<SupervisorActor>, config: WebConfig) -> Self {
        Self::with_stop_signal(root, CancellationToken::new(), config)
    }

    fn with_stop_signal(
        root: Addr<SupervisorActor>,
        stopping: CancellationToken,
        config: WebConfig,
    ) -> Self {
        Endpoints {
            state: Arc::new(State {
                root,
                stopping,
                config,
                event_clients: Arc::new(AtomicUsize::new(0)),
            }),
        }
    }

    /// Makes readiness follow the stop of `supervision`, for endpoints made
    /// with [`for_root`](Endpoints::for_root) before the tree's
    /// [`Supervision`] existed (e.g. a server that runs inside the tree it
    /// serves): once a stop of `supervision` begins, `/readyz` answers 503.
    /// Must be called on an actix system (it spawns a small task).
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_supervisor::system::Supervision;
    /// use actix_supervisor::web::{Endpoints, WebConfig};
    /// use actix_supervisor::SupervisorActor;
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let tree = SupervisorActor::builder("app");
    /// // Made before the tree starts, e.g. for the server that runs in it.
    /// let endpoints = Endpoints::for_root(tree.address(), WebConfig::default());
    /// let supervision = Supervision::start(tree)?;
    /// endpoints.follow(&supervision);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn follow(&self, supervision: &Supervision) {
        let (begun, own) = (supervision.stop_begun(), self.state.stopping.clone());
        actix_rt::spawn(async move {
            begun.await;
            own.cancel();
        });
    }

    /// How many event-stream clients are being served now.
    pub fn event_clients(&self) -> usize {
        self.state
            .event_clients
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Adds the endpoints to an actix-web `App` or scope; pass it to
    /// `App::configure` as `|cfg| endpoints.configure(cfg)`.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let state = web::Data::from(self.state.clone());
        cfg.app_data(state)
            .route("/supervision", web::get().to(snapshot))
            .route("/supervision/events", web::get().to(events::stream))
            .route("/supervision/ui", web::get().to(ui))
            .route("/healthz", web::get().to(probes::liveness))
            .route("/readyz", web::get().to(probes::readiness))
            .route(
                "/supervision/restart/{path:.*}",
                web::post().to(control::restart),
            )
            .route("/supervision/stop/{path:.*}", web::post().to(control::stop));
        #[cfg(feature = "metrics")]
        cfg.route("/metrics", web::get().to(prometheus));
    }
}

/// `{"error": message}` with `status`.
fn error(status: StatusCode, message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message.to_string() }))
}

impl State {
    /// The root's snapshot, within the configured time.
    async fn inspect(&self) -> Result<crate::TreeSnapshot, HttpResponse> {
        match tokio::time::timeout(self.config.answer_within, self.root.send(crate::Inspect)).await
        {
            Ok(Ok(tree)) => Ok(tree),
            Ok(Err(_)) => Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the root supervisor is gone",
            )),
            Err(_) => Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the root supervisor did not answer in time",
            )),
        }
    }
}

async fn snapshot(state: web::Data<State>) -> HttpResponse {
    match state.inspect().await {
        Ok(tree) => HttpResponse::Ok().json(tree),
        Err(response) => response,
    }
}

/// The live page: inline HTML, CSS and JavaScript; no CDN, no build step.
const UI: &str = include_str!("ui.html");

async fn ui() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body(UI)
}

#[cfg(feature = "metrics")]
async fn prometheus(state: web::Data<State>) -> HttpResponse {
    let Some(handle) = &state.config.prometheus else {
        return error(
            StatusCode::NOT_FOUND,
            "metrics are not served: no Prometheus recorder was given (WebConfig::prometheus)",
        );
    };
    // The gauges of node states are taken from a fresh snapshot.
    if let Ok(tree) = state.inspect().await {
        crate::metrics::record_snapshot(&tree);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}
