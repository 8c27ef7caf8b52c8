//! An exporter that prints spans.

use std::fmt::Write as _;
use std::io::Write as _;

use super::{BoxFuture, ExportError, Exporter};
use crate::span::{SpanData, SpanKind, Status, Value};
use crate::untrusted::{needs_escape, push_escaped};

/// How [`StdoutExporter`] prints a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StdoutFormat {
    /// One readable line per span.
    #[default]
    Pretty,
    /// One JSON object per line.
    JsonLines,
}

/// Prints spans to standard output: one readable line each, or JSON lines. Put it behind a
/// batch sink (`StdoutExporter::pretty().batched()`) so that printing happens on the sink's
/// thread, not the request's.
///
/// # Example
///
/// ```
/// use tracewire::sink::StdoutExporter;
///
/// let line = StdoutExporter::pretty().format_span(&some_span());
/// assert!(line.starts_with("[checkout] charge card "));
/// # fn some_span() -> tracewire::span::SpanData {
/// #     let sink = tracewire::sink::MemorySink::new();
/// #     let tracer = tracewire::Tracer::builder().service_name("checkout").sink(sink.clone()).build();
/// #     tracer.span("charge card").start().end();
/// #     sink.take().remove(0)
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct StdoutExporter {
    format: StdoutFormat,
}

impl StdoutExporter {
    /// Prints one readable line per span.
    pub fn pretty() -> Self {
        Self {
            format: StdoutFormat::Pretty,
        }
    }

    /// Prints one JSON object per line.
    pub fn json() -> Self {
        Self {
            format: StdoutFormat::JsonLines,
        }
    }

    /// The line this exporter prints for `span` (without the newline).
    pub fn format_span(&self, span: &SpanData) -> String {
        match self.format {
            StdoutFormat::Pretty => pretty_line(span),
            StdoutFormat::JsonLines => json_line(span).to_string(),
        }
    }
}

impl Exporter for StdoutExporter {
    fn export<'a>(&'a self, batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async move {
            let mut text = String::new();
            for span in batch {
                text.push_str(&self.format_span(span));
                text.push('\n');
            }
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| ExportError(format!("writing to stdout: {e}")))
        })
    }
}

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

fn pretty_line(span: &SpanData) -> String {
    let cx = &span.span_context;
    let mut line = format!(
        "[{}] {} {:.3}ms trace={} span={} parent={} kind={}",
        span.resource.service_name(),
        span.name,
        span.duration_nanos() as f64 / 1e6,
        cx.trace_id(),
        cx.span_id(),
        span.parent_span_id
            .map_or_else(|| "-".to_string(), |p| p.to_string()),
        kind_name(span.kind),
    );
    match &span.status {
        Status::Unset => {}
        Status::Ok => line.push_str(" status=ok"),
        Status::Error { message } => {
            let _ = write!(line, " status=error({message:?})");
        }
    }
    if !cx.flags().is_sampled() {
        line.push_str(" record-only");
    }
    for kv in &span.attributes {
        let _ = write!(line, " {}={}", kv.key, kv.value);
    }
    for event in &span.events {
        let _ = write!(line, " event={}", event.name);
    }
    one_line(line)
}

/// `line` with control characters escaped, so that a value holding a newline (a multi-line
/// query) keeps the format one line per span.
fn one_line(line: String) -> String {
    if !line.chars().any(needs_escape) {
        return line;
    }
    let mut escaped = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        push_escaped(&mut escaped, c);
    }
    escaped
}

fn json_value(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::String(s) => J::from(s.as_ref()),
        Value::Bool(b) => J::from(*b),
        Value::I64(i) => J::from(*i),
        Value::F64(x) => J::from(*x),
        Value::StringArray(items) => items.iter().map(|s| J::from(s.as_ref())).collect(),
        Value::BoolArray(items) => items.iter().copied().map(J::from).collect(),
        Value::I64Array(items) => items.iter().copied().map(J::from).collect(),
        Value::F64Array(items) => items.iter().copied().map(J::from).collect(),
    }
}

fn json_attributes(attributes: &[crate::span::KeyValue]) -> serde_json::Value {
    attributes
        .iter()
        .map(|kv| (kv.key.to_string(), json_value(&kv.value)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn json_line(span: &SpanData) -> serde_json::Value {
    let cx = &span.span_context;
    let status = match &span.status {
        Status::Unset => serde_json::json!({"code": "unset"}),
        Status::Ok => serde_json::json!({"code": "ok"}),
        Status::Error { message } => serde_json::json!({"code": "error", "message": message}),
    };
    serde_json::json!({
        "service": span.resource.service_name(),
        "name": span.name,
        "kind": kind_name(span.kind),
        "traceId": cx.trace_id().to_string(),
        "spanId": cx.span_id().to_string(),
        "parentSpanId": span.parent_span_id.map(|p| p.to_string()),
        "sampled": cx.flags().is_sampled(),
        "startTimeUnixNano": span.start_unix_nanos,
        "endTimeUnixNano": span.end_unix_nanos,
        "durationNanos": span.duration_nanos(),
        "status": status,
        "attributes": json_attributes(&span.attributes),
        "events": span.events.iter().map(|e| serde_json::json!({
            "name": e.name,
            "timeUnixNano": e.time_unix_nanos,
            "attributes": json_attributes(&e.attributes),
        })).collect::<Vec<_>>(),
        "droppedAttributesCount": span.dropped_attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tracer;
    use crate::sink::MemorySink;

    fn finished_span() -> SpanData {
        let sink = MemorySink::new();
        let tracer = Tracer::builder()
            .service_name("payments")
            .sink(sink.clone())
            .build();
        let span = tracer
            .span("POST /charges")
            .kind(SpanKind::Client)
            .attr("http.request.method", "POST")
            .start();
        span.set_status(Status::Error {
            message: "card declined".into(),
        });
        span.end();
        sink.take().remove(0)
    }

    #[test]
    fn pretty_line_names_service_span_ids_and_outcome() {
        let span = finished_span();
        let line = StdoutExporter::pretty().format_span(&span);
        assert!(line.starts_with("[payments] POST /charges "), "{line}");
        assert!(line.contains(&format!("trace={}", span.span_context.trace_id())));
        assert!(line.contains("kind=client"));
        assert!(line.contains("status=error(\"card declined\")"));
        assert!(line.contains("http.request.method=POST"));
        assert!(!line.contains('\n'));
        // A value over several lines stays on the span's one line.
        let mut multi_line = span.clone();
        multi_line.attributes.push(crate::span::KeyValue::new(
            "db.query.text",
            "SELECT 1\nFROM t",
        ));
        let line = StdoutExporter::pretty().format_span(&multi_line);
        assert!(line.contains("db.query.text=SELECT 1\\nFROM t"), "{line}");
    }

    #[test]
    fn json_line_is_one_parseable_object() {
        let span = finished_span();
        let line = StdoutExporter::json().format_span(&span);
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["service"], "payments");
        assert_eq!(value["traceId"], span.span_context.trace_id().to_string());
        assert_eq!(value["parentSpanId"], serde_json::Value::Null);
        assert_eq!(value["status"]["message"], "card declined");
        assert_eq!(value["attributes"]["http.request.method"], "POST");
        assert_eq!(value["durationNanos"], span.duration_nanos());
    }
}
