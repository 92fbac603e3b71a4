//! `GET /supervision/events`: lifecycle events as Server-Sent Events, and
//! the JSON each event is written as.
//!
//! A client's stream is the tree's [`EventStream`](crate::events::EventStream),
//! read only when actix-web can write to the client: nothing is buffered
//! per client beyond the tree's bounded channel, and a client that falls
//! behind gets a `lagged` event. A place among the
//! [`max_event_clients`](super::WebConfig::max_event_clients) is held by a
//! guard that the stream owns, so a client that disconnects (its stream
//! dropped) frees it.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use futures_util::Stream;
use serde_json::{json, Value};

use super::{error, State};
use crate::messages::{EventKind, EventStream, LifecycleEvent, StopOutcome, StopReport, Subscribe};
use crate::tree::{millis, rfc3339};

/// The SSE event name of an event's kind.
pub(crate) fn event_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Started => "started",
        EventKind::Failed { .. } => "failed",
        EventKind::Restarting { .. } => "restarting",
        EventKind::Stopped { .. } => "stopped",
        EventKind::GaveUp { .. } => "gave_up",
        EventKind::Escalated { .. } => "escalated",
        EventKind::Lagged { .. } => "lagged",
        EventKind::Stopping => "stopping",
    }
}

/// An event as JSON: `path`, `incarnation`, `event` (its kind), `at`
/// (RFC 3339), and the kind's own fields: `failure` for `failed`,
/// `gave_up` and `escalated`; `attempt`, `delay` and `delay_ms` for
/// `restarting`; `report` for `stopped`; `missed` for `lagged`.
pub(crate) fn event_json(event: &LifecycleEvent) -> Value {
    let mut value = json!({
        "path": event.path,
        "incarnation": event.incarnation,
        "event": event_name(&event.kind),
        "at": rfc3339::format(event.at),
    });
    let fields = match &event.kind {
        EventKind::Started | EventKind::Stopping => None,
        EventKind::Failed { failure }
        | EventKind::GaveUp { failure }
        | EventKind::Escalated { failure } => Some(("failure", json!(failure))),
        EventKind::Restarting { attempt, delay } => {
            value["attempt"] = json!(attempt);
            value["delay_ms"] = json!(millis(*delay));
            Some((
                "delay",
                json!(humantime::format_duration(*delay).to_string()),
            ))
        }
        EventKind::Stopped { report } => Some(("report", report_json(report))),
        EventKind::Lagged { missed } => Some(("missed", json!(missed))),
    };
    if let Some((name, field)) = fields {
        value[name] = field;
    }
    value
}

/// A stop report as JSON: `path`, `outcome` (`drained`, `incomplete`,
/// `not_started`, `timed_out`, `failed`), `failure` (for `failed`, else null), `drained`,
/// `undelivered`, `cancelled`, `duration_ms`, `duration`, `children`,
/// `ended_on_its_own`, and `summary` (the counts of
/// [`SubtreeSummary`](crate::SubtreeSummary), on the top report only).
pub(crate) fn report_json(report: &StopReport) -> Value {
    let mut value = report_node_json(report);
    value["summary"] = json!(report.summary());
    value
}

/// One report and those below it, without summaries.
fn report_node_json(report: &StopReport) -> Value {
    let (outcome, failure) = match &report.outcome {
        StopOutcome::Drained => ("drained", Value::Null),
        StopOutcome::Incomplete => ("incomplete", Value::Null),
        StopOutcome::NotStarted => ("not_started", Value::Null),
        StopOutcome::TimedOut => ("timed_out", Value::Null),
        StopOutcome::Failed(failure) => ("failed", json!(failure)),
    };
    json!({
        "path": report.path,
        "outcome": outcome,
        "failure": failure,
        "drained": report.drained,
        "undelivered": report.undelivered,
        "cancelled": report.cancelled,
        "duration_ms": millis(report.duration),
        "duration": humantime::format_duration(report.duration).to_string(),
        "children": report.children.iter().map(report_node_json).collect::<Vec<_>>(),
        "ended_on_its_own": report.ended_on_its_own,
    })
}

/// One SSE frame: the event's name, then its JSON on one `data:` line.
fn frame(event: &LifecycleEvent) -> Bytes {
    // serde_json writes no raw newline in compact form.
    let data = event_json(event).to_string();
    Bytes::from(format!(
        "event: {}\ndata: {data}\n\n",
        event_name(&event.kind)
    ))
}

/// A place among the event clients, given back on drop.
#[derive(Debug)]
struct ClientPlace(Arc<AtomicUsize>);

impl ClientPlace {
    fn take(clients: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        clients
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ClientPlace(clients.clone()))
    }
}

impl Drop for ClientPlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A client's stream of SSE frames: a first comment line (so the client
/// knows it is connected), then one frame per event.
struct Frames {
    hello: Option<Bytes>,
    events: EventStream,
    _place: ClientPlace,
}

impl Stream for Frames {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(hello) = self.hello.take() {
            return Poll::Ready(Some(Ok(hello)));
        }
        Pin::new(&mut self.events)
            .poll_next(cx)
            .map(|event| event.map(|event| Ok(frame(&event))))
    }
}

pub(super) async fn stream(state: web::Data<State>) -> HttpResponse {
    let max = state.config.max_event_clients;
    let Some(place) = ClientPlace::take(&state.event_clients, max) else {
        return HttpResponse::ServiceUnavailable()
            .insert_header(("retry-after", "5"))
            .json(json!({
                "error": "too many event-stream clients",
                "max_event_clients": max,
            }));
    };
    let subscribe = state.root.send(Subscribe::all());
    let events = match tokio::time::timeout(state.config.answer_within, subscribe).await {
        Ok(Ok(events)) => events,
        _ => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the root supervisor does not answer",
            )
        }
    };
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-store"))
        // Proxies such as nginx would otherwise buffer the stream.
        .insert_header(("x-accel-buffering", "no"))
        .streaming(Frames {
            hello: Some(Bytes::from_static(b": connected\nretry: 2000\n\n")),
            events,
            _place: place,
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::tree::{Failure, FailureKind, FailurePhase, NodePath};

    fn report(path: &NodePath, outcome: StopOutcome, children: Vec<StopReport>) -> StopReport {
        StopReport {
            path: path.clone(),
            outcome,
            drained: 0,
            undelivered: 0,
            cancelled: 0,
            duration: Duration::ZERO,
            children,
            ended_on_its_own: false,
        }
    }

    #[test]
    fn a_report_in_json_says_which_nodes_ended_on_their_own_and_sums_up_the_subtree() {
        let app = NodePath::root("app");
        let failure = Failure::new(FailureKind::Error, FailurePhase::Starting, "no db".into());
        let mut once = report(&app.join("once"), StopOutcome::Failed(failure), Vec::new());
        once.ended_on_its_own = true;
        let mut server = report(&app.join("server"), StopOutcome::Drained, Vec::new());
        server.drained = 7;
        let root = report(&app, StopOutcome::Drained, vec![once, server]);

        let json = report_json(&root);

        assert_eq!(json["outcome"], "drained");
        assert_eq!(json["ended_on_its_own"], false);
        assert_eq!(json["children"][0]["ended_on_its_own"], true);
        assert_eq!(json["children"][0]["outcome"], "failed");
        assert!(
            json["children"][0].get("summary").is_none(),
            "on the top report only"
        );
        let summary = &json["summary"];
        assert_eq!(summary["nodes"], 3);
        assert_eq!(summary["nodes_drained"], 2);
        assert_eq!(summary["nodes_failed_before"], 1);
        assert_eq!(summary["messages_drained"], 7);
    }

    #[test]
    fn a_stopping_event_in_json_has_no_fields_of_its_own() {
        let event = LifecycleEvent {
            path: NodePath::root("app"),
            incarnation: 1,
            kind: EventKind::Stopping,
            at: std::time::SystemTime::UNIX_EPOCH,
            since_start: Duration::ZERO,
        };
        let json = event_json(&event);
        assert_eq!(json["event"], "stopping");
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["at", "event", "incarnation", "path"]);
    }
}
