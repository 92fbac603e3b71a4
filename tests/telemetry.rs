//! Promise 16 (the part the supervision core owns): every node runs in a
//! `tracing` span carrying its path, and failures and restarts are logged with
//! structured fields.
//!
//! This test is a binary of its own, not a module of `tests/it/`: whether a
//! `tracing` callsite is enabled is cached for the whole process, and a test
//! running beside it on another thread, with no subscriber, can register a
//! callsite as disabled between this test's subscriber and its first event
//! (CI saw it fail so, even with the interest cache rebuilt). Alone in its
//! process, nothing else reaches a callsite.

#[path = "it/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use actix_supervisor::SupervisorActor;
use common::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event as TracingEvent, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// One captured log event: its level, message, fields, and the `path` of the
/// innermost enclosing node span.
#[derive(Debug, Clone)]
struct Logged {
    level: tracing::Level,
    fields: BTreeMap<String, String>,
    span_path: Option<String>,
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            format!("{value:?}").trim_matches('"').to_string(),
        );
    }
}

/// The `path` field a node span was created with.
struct SpanPath(String);

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Logged>>>);

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(path), Some(span)) = (fields.0.remove("path"), ctx.span(id)) {
            span.extensions_mut().insert(SpanPath(path));
        }
    }

    fn on_event(&self, event: &TracingEvent<'_>, ctx: LayerContext<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let span_path = ctx.event_scope(event).and_then(|scope| {
            scope
                .from_root()
                .filter_map(|span| span.extensions().get::<SpanPath>().map(|p| p.0.clone()))
                .last()
        });
        self.0.lock().unwrap().push(Logged {
            level: *event.metadata().level(),
            fields: fields.0,
            span_path,
        });
    }
}

#[actix_rt::test]
async fn failures_and_restarts_are_logged_with_structured_fields_inside_the_node_span() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let (log, _events) = recorder();
    let spec = probe_spec("probe", log);
    let addr = spec.address();
    let _app = SupervisorActor::builder("app").child(spec).start().unwrap();
    assert!(within(addr.send(Panic("disk full"))).await.is_err());
    within(addr.send(Get)).await.unwrap();

    let logged = capture.0.lock().unwrap().clone();
    let find = |message: &str| {
        logged
            .iter()
            .find(|l| l.fields.get("message").map(String::as_str) == Some(message))
            .unwrap_or_else(|| panic!("no {message:?} event in {logged:#?}"))
            .clone()
    };

    let failed = find("child failed");
    assert_eq!(failed.level, tracing::Level::ERROR);
    assert_eq!(failed.span_path.as_deref(), Some("/app/probe"));
    assert_eq!(failed.fields["path"], "/app/probe");
    assert_eq!(failed.fields["incarnation"], "1");
    assert_eq!(failed.fields["kind"], "Panic");
    assert_eq!(failed.fields["phase"], "Running");
    assert_eq!(failed.fields["reason"], "disk full");

    let restarting = find("restarting child");
    assert_eq!(restarting.level, tracing::Level::WARN);
    assert_eq!(restarting.span_path.as_deref(), Some("/app/probe"));
    assert_eq!(restarting.fields["attempt"], "1");
    assert_eq!(restarting.fields["delay"], "0ns");

    let supervisor = find("supervisor started");
    assert_eq!(supervisor.span_path.as_deref(), Some("/app"));
}
