//! Carrying a trace across the queue. A job stores the W3C `traceparent` of the span that staged
//! it (`work_queue.trace`); whoever runs the job opens its span as a child of that context, so one
//! trace links an ingestion request to its runs and to every delivery attempt. Without an
//! OpenTelemetry exporter configured there is no context: nothing is stored and spans stay local.

use opentelemetry::propagation::{Extractor, Injector};
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct Map(HashMap<String, String>);

impl Injector for Map {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}

impl Extractor for Map {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The `traceparent` of the current span, when tracing is exported.
pub fn current() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut map = Map(HashMap::new());
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut map));
    map.0.remove("traceparent")
}

/// Makes `span` a child of the stored `traceparent`, if there is one.
pub fn adopt(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(tp) = traceparent else {
        return;
    };
    let map = Map(HashMap::from([("traceparent".to_string(), tp.to_string())]));
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&map));
    let _ = span.set_parent(cx);
}
