//! Promise 23, feature `metrics`: with a recorder installed, a tracked tree
//! emits the documented metrics (names and labels of
//! `actix_supervisor::metrics`): starts, restarts and failures per path and
//! kind, stops with their durations and drained counts, nodes per state,
//! tick and worker durations.
#![cfg(feature = "metrics")]

use std::sync::OnceLock;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::metrics::{self as m};
use actix_supervisor::testkit;
use actix_supervisor::{
    fail,
    periodic::{Periodic, Tick, TickContext},
    snapshot::NodeState,
    worker::{Work, WorkContext},
    ChildSpec, RestartPolicy, Stop, SupervisorActor,
};
use metrics_exporter_prometheus::PrometheusHandle;

/// The process's recorder, a Prometheus one (it keeps every value, where
/// a debugging recorder drains them), installed once for this test binary.
fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| m::install_prometheus().expect("no other recorder in this test binary"))
}

/// The value of the series `name` with exactly these labels, in the
/// Prometheus text the recorder renders now.
fn value(name: &str, pairs: &[(&str, &str)]) -> Option<f64> {
    let text = prometheus().render();
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let labels = match series.strip_prefix(name)? {
            "" => "",
            rest => rest.strip_prefix('{')?.strip_suffix('}')?,
        };
        let mut found: Vec<&str> = if labels.is_empty() {
            Vec::new()
        } else {
            labels.split(',').collect()
        };
        let mut wanted: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        found.sort();
        wanted.sort();
        (found == wanted).then(|| value.parse().ok())?
    })
}

fn counter(name: &str, pairs: &[(&str, &str)]) -> Option<u64> {
    value(name, pairs).map(|v| v as u64)
}

/// How many values a histogram (rendered as a summary) recorded.
fn histogram_len(name: &str, pairs: &[(&str, &str)]) -> usize {
    value(&format!("{name}_count"), pairs).map_or(0, |v| v as usize)
}

fn gauge(name: &str, pairs: &[(&str, &str)]) -> Option<f64> {
    value(name, pairs)
}

/// Yields to the tracker's task until `done` holds (scheduler turns, not
/// time), failing after many turns.
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the metrics never showed up:\n{}", prometheus().render());
}

#[derive(Default)]
struct Flaky;
impl Actor for Flaky {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Flaky);

#[derive(Message)]
#[rtype(result = "()")]
struct Crash;
impl Handler<Crash> for Flaky {
    type Result = ();
    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        fail(ctx, "asked to fail");
    }
}

struct Sample;
impl Tick for Sample {
    type Error = String;
    async fn tick(&mut self, _: &TickContext) -> Result<(), String> {
        Ok(())
    }
}

struct OneShot;
impl Work for OneShot {
    type Error = String;
    async fn run(&mut self, _: WorkContext) -> Result<(), String> {
        Ok(())
    }
}

#[actix_rt::test]
async fn a_tracked_tree_emits_the_documented_metrics() {
    tokio::time::pause();
    prometheus();
    let flaky = ChildSpec::new("flaky", Flaky::default).restart(RestartPolicy::OnFailure);
    let flaky_handle = flaky.handle();
    let app = SupervisorActor::builder("metered")
        .child(flaky)
        .child(ChildSpec::periodic(
            "sampler",
            Periodic::every(Duration::from_secs(1)),
            |_| Sample,
        ))
        .child(ChildSpec::worker("once", |_| OneShot).restart(RestartPolicy::Never))
        .start()
        .unwrap();
    m::track(&app).await.unwrap();
    flaky_handle.started().await.unwrap();

    flaky_handle.send(Crash).await.unwrap();
    testkit::wait_until(&app, |tree| {
        let flaky = tree.find("/metered/flaky").unwrap();
        let sampler = tree.find("/metered/sampler").unwrap();
        flaky.incarnation == 2
            && flaky.state == NodeState::Running
            && sampler.task.as_ref().is_some_and(|t| t.runs >= 1)
            && tree.find("/metered/once").unwrap().state == NodeState::Stopped
    })
    .recheck_every(Duration::from_millis(500))
    .await;
    let report = app.send(Stop).await.unwrap();
    assert!(report.is_drained());

    let flaky = [("path", "/metered/flaky")];
    until(|| counter(m::STOPS, &[("path", "/metered"), ("outcome", "drained")]) == Some(1)).await;
    assert_eq!(counter(m::STARTS, &flaky), Some(2));
    assert_eq!(counter(m::RESTARTS, &flaky), Some(1));
    assert_eq!(
        counter(
            m::FAILURES,
            &[
                ("path", "/metered/flaky"),
                ("kind", "error"),
                ("phase", "running")
            ]
        ),
        Some(1)
    );
    assert_eq!(
        counter(
            m::STOPS,
            &[("path", "/metered/flaky"), ("outcome", "drained")]
        ),
        Some(1)
    );
    assert_eq!(histogram_len(m::STOP_DURATION, &flaky), 1);
    assert_eq!(counter(m::DRAINED, &flaky), Some(0));
    assert_eq!(counter(m::UNDELIVERED, &flaky), Some(0));
    assert_eq!(counter(m::CANCELLED, &flaky), Some(0));
    assert!(
        histogram_len(
            m::TICK_DURATION,
            &[("path", "/metered/sampler"), ("outcome", "ok")]
        ) >= 1
    );
    assert_eq!(
        histogram_len(
            m::WORKER_RUN,
            &[("path", "/metered/once"), ("outcome", "ok")]
        ),
        1
    );
    // After the stop, every node of the tree is stopped.
    until(|| gauge(m::NODES, &[("state", "stopped")]) == Some(4.0)).await;
    assert_eq!(gauge(m::NODES, &[("state", "running")]), Some(0.0));

    #[cfg(feature = "web")]
    get_metrics_serves_the_prometheus_text_format(app).await;
}

/// With `web` too: `GET /metrics` renders the recorder in the Prometheus
/// text format, the gauge of node states taken fresh. (Part of the test
/// above: the gauge is one per process.)
#[cfg(feature = "web")]
async fn get_metrics_serves_the_prometheus_text_format(app: Addr<SupervisorActor>) {
    use actix_supervisor::system::Supervision;
    use actix_supervisor::web::{Endpoints, WebConfig};
    use actix_web::{test, App};

    let supervision = Supervision::from_root(app);
    let endpoints = Endpoints::new(
        &supervision,
        WebConfig::default().prometheus(prometheus().clone()),
    );
    let service = test::init_service(App::new().configure(|cfg| endpoints.configure(cfg))).await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/metrics").to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(
        text.contains("# TYPE actix_supervisor_nodes gauge"),
        "{text}"
    );
    assert!(
        text.contains("actix_supervisor_nodes{state=\"stopped\"} 4"),
        "{text}"
    );
    assert!(
        text.contains("actix_supervisor_starts_total{path=\"/metered/flaky\"} 2"),
        "{text}"
    );

    // Without a recorder's handle, /metrics is not served.
    let bare = Endpoints::new(&supervision, WebConfig::default());
    let service = test::init_service(App::new().configure(|cfg| bare.configure(cfg))).await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/metrics").to_request(),
    )
    .await;
    assert_eq!(response.status(), 404);
}

#[test]
fn every_documented_name_is_prefixed_and_unique() {
    let names = [
        m::STARTS,
        m::RESTARTS,
        m::FAILURES,
        m::GAVE_UP,
        m::STOPS,
        m::STOP_DURATION,
        m::DRAINED,
        m::UNDELIVERED,
        m::CANCELLED,
        m::NODES,
        m::TICK_DURATION,
        m::WORKER_RUN,
        m::EVENTS_LAGGED,
    ];
    let unique: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len());
    assert!(names.iter().all(|n| n.starts_with("actix_supervisor_")));
}
