//! Spans read back from saved text: the stdout exporter's JSON lines, and OTLP/JSON (one
//! `ExportTraceServiceRequest` per line as the OpenTelemetry Collector's file exporter writes,
//! or whole documents, pretty-printed or not, as SDK exporters write).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::context::{SpanContext, TraceFlags, TraceState};
use crate::id::{SpanId, TraceId};
use crate::span::{
    Event, InstrumentationScope, KeyValue, Link, Resource, SpanData, SpanKind, Status, Value,
};

/// What [`read_spans`] found: the spans it could read, and what was wrong with the rest.
#[derive(Clone, Debug, Default)]
pub struct ReadOutcome {
    /// The spans, in the order they were read.
    pub spans: Vec<SpanData>,
    /// The lines (or spans within a line) that could not be read.
    pub errors: Vec<ReadError>,
}

/// A line, or a span within it, that [`read_spans`] could not read.
///
/// # Example
///
/// ```
/// let outcome = tracewire::view::read_spans("{}\nnot json");
/// assert_eq!(outcome.errors[1].line, 2);
/// assert!(outcome.errors[1].to_string().starts_with("line 2: invalid JSON"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// The 1-based line: where the JSON value holding the problem starts.
    pub line: usize,
    /// What is wrong, with the path to the offending span inside an OTLP request.
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ReadError {}

/// Reads spans from text in any of the formats tracewire and the OpenTelemetry tools write:
///
/// - JSON lines of [`StdoutExporter::json`](crate::sink::StdoutExporter::json), one span per
///   line;
/// - OTLP/JSON, one `ExportTraceServiceRequest` per line (the Collector's file exporter), or
///   one or more whole requests over several lines (`{"resourceSpans":[…]}`, as tracewire's
///   OTLP/JSON exporter and other SDKs write, pretty-printed or not).
///
/// The formats may be mixed, line by line. OTLP/JSON is read as its specification says and as
/// the protobuf JSON mapping allows: hex ids (upper case accepted), lowerCamelCase or
/// snake_case keys, 64-bit integers as strings or numbers, enums as integers or names
/// (`2`, `"SPAN_KIND_SERVER"`), every `AnyValue` (key-value lists and bytes kept as text).
/// Spans of one resource share one `Arc<Resource>`. A span without `flags` is taken as
/// sampled (it was exported).
///
/// A line that cannot be read is reported with its number and skipped; so is a span that
/// cannot be read within a request (an attribute, event or link that cannot be read counts as
/// dropped). Nothing else is lost, and no input makes it panic.
///
/// # Example
///
/// ```
/// use tracewire::view;
///
/// let text = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}}]},"scopeSpans":[{"scope":{"name":"x"},"spans":[{"traceId":"4BF92F3577B34DA6A3CE929D0E0E4736","spanId":"00f067aa0ba902b7","name":"GET /cart","kind":2,"startTimeUnixNano":"1000","endTimeUnixNano":"2000","status":{"code":"STATUS_CODE_ERROR","message":"boom"}}]}]}]}
/// this line is broken
/// {"service":"db","name":"SELECT","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b8","parentSpanId":"00f067aa0ba902b7","startTimeUnixNano":1200,"endTimeUnixNano":1800}"#;
/// let outcome = view::read_spans(text);
/// assert_eq!(outcome.spans.len(), 2);
/// assert_eq!(outcome.spans[0].resource.service_name(), "cart");
/// assert_eq!(outcome.errors.len(), 1);
/// assert_eq!(outcome.errors[0].line, 2);
/// ```
pub fn read_spans(text: &str) -> ReadOutcome {
    let mut reader = Reader::default();
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(at, _)| at + 1))
        .collect();
    let line_text = |i: usize| -> &str {
        let start = line_starts[i];
        let end = line_starts.get(i + 1).map_or(text.len(), |&next| next - 1);
        text.get(start..end).unwrap_or("")
    };
    let mut i = 0;
    while i < line_starts.len() {
        let line = i + 1;
        let content = line_text(i).trim_start_matches('\u{feff}').trim();
        if content.is_empty() {
            i += 1;
            continue;
        }
        match serde_json::from_str::<Json>(content) {
            Ok(value) => {
                reader.value(value, line);
                i += 1;
            }
            // The start of a document over several lines: read one value from here.
            Err(e) if e.is_eof() => {
                let rest = text.get(line_starts[i]..).unwrap_or("");
                let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Json>();
                match stream.next() {
                    Some(Ok(value)) => {
                        reader.value(value, line);
                        let end = line_starts[i] + stream.byte_offset();
                        // The line holding the value's last character.
                        let last = line_starts.partition_point(|&s| s < end).saturating_sub(1);
                        let after = text.get(end..).unwrap_or("");
                        let tail = after.split('\n').next().unwrap_or("");
                        if !tail.trim().is_empty() {
                            reader.error(last + 1, "unexpected text after a JSON document");
                        }
                        i = last.max(i) + 1;
                    }
                    Some(Err(e)) => {
                        let message = match e.is_eof() {
                            true => "invalid JSON: the document ends too early".to_string(),
                            false => format!(
                                "invalid JSON: {} (line {}, column {})",
                                error_text(&e),
                                line + e.line().saturating_sub(1),
                                e.column()
                            ),
                        };
                        reader.error(line, message);
                        // Resume at the next line that starts a value: the next JSON line, or
                        // the next (unindented) document.
                        i += 1;
                        while i < line_starts.len() && !line_text(i).starts_with(['{', '[']) {
                            i += 1;
                        }
                    }
                    None => i += 1,
                }
            }
            Err(e) => {
                let message = format!("invalid JSON: {} (column {})", error_text(&e), e.column());
                reader.error(line, message);
                i += 1;
            }
        }
    }
    ReadOutcome {
        spans: reader.spans,
        errors: reader.errors,
    }
}

/// serde_json's message without the position it appends (ours is relative to the file).
fn error_text(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[derive(Default)]
struct Reader {
    spans: Vec<SpanData>,
    errors: Vec<ReadError>,
    /// One `Arc` per distinct resource, keyed by its JSON text (or service name).
    resources: HashMap<String, Arc<Resource>>,
    scopes: HashMap<(String, Option<String>), Arc<InstrumentationScope>>,
}

impl Reader {
    fn error(&mut self, line: usize, message: impl Into<String>) {
        self.errors.push(ReadError {
            line,
            message: message.into(),
        });
    }

    fn value(&mut self, value: Json, line: usize) {
        match value {
            Json::Object(object) => self.object(&object, line),
            Json::Array(items) => {
                for item in items {
                    match item {
                        Json::Object(object) => self.object(&object, line),
                        _ => self.error(line, "expected a JSON object in the array"),
                    }
                }
            }
            _ => self.error(line, "expected a JSON object"),
        }
    }

    fn object(&mut self, object: &Map<String, Json>, line: usize) {
        if get(object, "resourceSpans", "resource_spans").is_some() {
            self.request(object, line);
        } else if get(object, "traceId", "trace_id").is_some() {
            // A stdout JSON line (or a bare OTLP span).
            let service = object.get("service").and_then(Json::as_str);
            let resource = match service {
                Some(service) => self.resource(format!("service {service}"), || {
                    Resource::new([KeyValue::new(
                        crate::semconv::SERVICE_NAME,
                        service.to_string(),
                    )])
                }),
                None => self.resource(String::new(), Resource::default),
            };
            let scope = self.scope(None);
            match span(object, resource, scope) {
                Ok(span) => self.spans.push(span),
                Err(why) => self.error(line, why),
            }
        } else {
            self.error(
                line,
                "neither a span (no traceId) nor an OTLP/JSON request (no resourceSpans)",
            );
        }
    }

    /// An OTLP/JSON `ExportTraceServiceRequest`.
    fn request(&mut self, request: &Map<String, Json>, line: usize) {
        let Some(resource_spans) = array(request, "resourceSpans", "resource_spans") else {
            return self.error(line, "resourceSpans: not an array");
        };
        for (r, resource_spans) in resource_spans.iter().enumerate() {
            let path = format!("resourceSpans[{r}]");
            let Some(resource_spans) = resource_spans.as_object() else {
                self.error(line, format!("{path}: not an object"));
                continue;
            };
            let attributes = resource_spans
                .get("resource")
                .and_then(Json::as_object)
                .and_then(|r| r.get("attributes"));
            let resource = match attributes {
                Some(attributes) => self.resource(attributes.to_string(), || {
                    Resource::new(key_values(Some(attributes)).0)
                }),
                None => self.resource(String::new(), Resource::default),
            };
            // `instrumentationLibrarySpans`: the name before OTLP 0.15, still found in old files.
            let scope_spans = array(resource_spans, "scopeSpans", "scope_spans").or_else(|| {
                array(
                    resource_spans,
                    "instrumentationLibrarySpans",
                    "instrumentation_library_spans",
                )
            });
            for (s, scope_spans) in scope_spans.into_iter().flatten().enumerate() {
                let path = format!("{path}.scopeSpans[{s}]");
                let Some(scope_spans) = scope_spans.as_object() else {
                    self.error(line, format!("{path}: not an object"));
                    continue;
                };
                let scope = scope_spans
                    .get("scope")
                    .or_else(|| {
                        get(
                            scope_spans,
                            "instrumentationLibrary",
                            "instrumentation_library",
                        )
                    })
                    .and_then(Json::as_object);
                let scope = self.scope(scope);
                for (k, span_json) in array(scope_spans, "spans", "spans")
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let result = match span_json.as_object() {
                        Some(object) => span(object, resource.clone(), scope.clone()),
                        None => Err("not an object".to_string()),
                    };
                    match result {
                        Ok(span) => self.spans.push(span),
                        Err(why) => self.error(line, format!("{path}.spans[{k}]: {why}")),
                    }
                }
            }
        }
    }

    fn resource(&mut self, key: String, make: impl FnOnce() -> Resource) -> Arc<Resource> {
        self.resources
            .entry(key)
            .or_insert_with(|| Arc::new(make()))
            .clone()
    }

    fn scope(&mut self, scope: Option<&Map<String, Json>>) -> Arc<InstrumentationScope> {
        let Some(scope) = scope else {
            // Stdout lines name no scope: they are tracewire's.
            let key = (String::from("tracewire"), None);
            return self.scopes.entry(key).or_default().clone();
        };
        let text = |key: &str| scope.get(key).and_then(Json::as_str).map(str::to_string);
        let key = (text("name").unwrap_or_default(), text("version"));
        self.scopes
            .entry(key)
            .or_insert_with_key(|(name, version)| {
                Arc::new(InstrumentationScope {
                    name: Cow::Owned(name.clone()),
                    version: version.clone().map(Cow::Owned),
                })
            })
            .clone()
    }
}

/// A span from an OTLP/JSON `Span` or a stdout JSON line: the two share the key names, and
/// differ in how kind, status, times and attributes are written, which are all accepted.
fn span(
    object: &Map<String, Json>,
    resource: Arc<Resource>,
    scope: Arc<InstrumentationScope>,
) -> Result<SpanData, String> {
    let trace_id =
        parse_trace_id(get(object, "traceId", "trace_id")).map_err(|e| format!("traceId: {e}"))?;
    let span_id =
        parse_span_id(get(object, "spanId", "span_id")).map_err(|e| format!("spanId: {e}"))?;
    let parent_span_id = match get(object, "parentSpanId", "parent_span_id") {
        Some(Json::String(s)) if s.is_empty() => None,
        None => None,
        parent => Some(parse_span_id(parent).map_err(|e| format!("parentSpanId: {e}"))?),
    };
    let flags = get(object, "flags", "flags").and_then(uint);
    let trace_flags = match (flags, object.get("sampled").and_then(Json::as_bool)) {
        (Some(flags), _) => TraceFlags::from_bits((flags & 0xff) as u8),
        (None, Some(sampled)) => TraceFlags::NONE.with_sampled(sampled),
        (None, None) => TraceFlags::SAMPLED,
    };
    // OTLP `SpanFlags`: bit 8 says whether bit 9 (the parent is remote) is known.
    let parent_is_remote = flags.is_some_and(|f| f & 0x300 == 0x300) && parent_span_id.is_some();
    let state = get(object, "traceState", "trace_state")
        .and_then(Json::as_str)
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    let start = get(object, "startTimeUnixNano", "start_time_unix_nano")
        .ok_or("startTimeUnixNano: missing")?;
    let start = uint(start).ok_or("startTimeUnixNano: not a non-negative integer")?;
    let end =
        get(object, "endTimeUnixNano", "end_time_unix_nano").ok_or("endTimeUnixNano: missing")?;
    let end = uint(end).ok_or("endTimeUnixNano: not a non-negative integer")?;
    let name = match object.get("name") {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(name)) => name.clone(),
        Some(_) => return Err("name: not a string".into()),
    };

    let (attributes, bad_attributes) = key_values(object.get("attributes"));
    let mut events = Vec::new();
    let mut bad_events = 0u32;
    for event in object
        .get("events")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        match event.as_object().and_then(self::event) {
            Some(event) => events.push(event),
            None => bad_events = bad_events.saturating_add(1),
        }
    }
    let mut links = Vec::new();
    let mut bad_links = 0u32;
    for link in object
        .get("links")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        match link.as_object().and_then(self::link) {
            Some(link) => links.push(link),
            None => bad_links = bad_links.saturating_add(1),
        }
    }
    let dropped = |camel: &str, snake: &str, bad: u32| {
        let count = get(object, camel, snake).and_then(uint).unwrap_or(0);
        u32::try_from(count).unwrap_or(u32::MAX).saturating_add(bad)
    };

    Ok(SpanData {
        name: Cow::Owned(name),
        kind: kind(object.get("kind")),
        span_context: SpanContext::new(trace_id, span_id, trace_flags).with_state(state),
        parent_span_id,
        parent_is_remote,
        start_unix_nanos: start,
        end_unix_nanos: end,
        attributes,
        dropped_attributes: dropped(
            "droppedAttributesCount",
            "dropped_attributes_count",
            bad_attributes,
        ),
        events,
        dropped_events: dropped("droppedEventsCount", "dropped_events_count", bad_events),
        links,
        dropped_links: dropped("droppedLinksCount", "dropped_links_count", bad_links),
        status: status(object.get("status")),
        resource,
        scope,
    })
}

fn event(object: &Map<String, Json>) -> Option<Event> {
    let (attributes, bad) = key_values(object.get("attributes"));
    let dropped = get(object, "droppedAttributesCount", "dropped_attributes_count")
        .and_then(uint)
        .unwrap_or(0);
    Some(Event {
        name: Cow::Owned(
            object
                .get("name")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_string(),
        ),
        time_unix_nanos: uint(get(object, "timeUnixNano", "time_unix_nano")?)?,
        attributes,
        dropped_attributes: u32::try_from(dropped)
            .unwrap_or(u32::MAX)
            .saturating_add(bad),
    })
}

fn link(object: &Map<String, Json>) -> Option<Link> {
    let trace_id = parse_trace_id(get(object, "traceId", "trace_id")).ok()?;
    let span_id = parse_span_id(get(object, "spanId", "span_id")).ok()?;
    let flags = get(object, "flags", "flags").and_then(uint).unwrap_or(0);
    let state = get(object, "traceState", "trace_state")
        .and_then(Json::as_str)
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    let context = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::from_bits((flags & 0xff) as u8),
    )
    .with_state(state)
    .with_remote(flags & 0x300 == 0x300);
    let (attributes, bad) = key_values(object.get("attributes"));
    let dropped = get(object, "droppedAttributesCount", "dropped_attributes_count")
        .and_then(uint)
        .unwrap_or(0);
    Some(Link {
        span_context: context,
        attributes,
        dropped_attributes: u32::try_from(dropped)
            .unwrap_or(u32::MAX)
            .saturating_add(bad),
    })
}

/// A value under its lowerCamelCase key or its snake_case one (the protobuf JSON mapping
/// accepts both); `null` counts as absent.
fn get<'a>(object: &'a Map<String, Json>, camel: &str, snake: &str) -> Option<&'a Json> {
    object
        .get(camel)
        .or_else(|| object.get(snake))
        .filter(|v| !v.is_null())
}

fn array<'a>(object: &'a Map<String, Json>, camel: &str, snake: &str) -> Option<&'a Vec<Json>> {
    get(object, camel, snake).and_then(Json::as_array)
}

fn hex_text(value: Option<&Json>) -> Result<String, String> {
    match value {
        Some(Json::String(s)) => Ok(s.to_ascii_lowercase()),
        Some(_) => Err("not a string".into()),
        None => Err("missing".into()),
    }
}

fn parse_trace_id(value: Option<&Json>) -> Result<TraceId, String> {
    hex_text(value)?.parse().map_err(|e| format!("{e}"))
}

fn parse_span_id(value: Option<&Json>) -> Result<SpanId, String> {
    hex_text(value)?.parse().map_err(|e| format!("{e}"))
}

/// A non-negative integer written as a number or a decimal string (proto3 JSON writes 64-bit
/// integers as strings, and readers accept both).
fn uint(value: &Json) -> Option<u64> {
    match value {
        Json::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|x| x.is_finite() && *x >= 0.0 && *x < u64::MAX as f64)
                .map(|x| x as u64)
        }),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn int(value: &Json) -> Option<i64> {
    match value {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn kind(value: Option<&Json>) -> SpanKind {
    let number = match value {
        Some(Json::String(name)) => {
            let name = name.to_ascii_lowercase();
            match name.trim_start_matches("span_kind_") {
                "server" => 2,
                "client" => 3,
                "producer" => 4,
                "consumer" => 5,
                _ => 1,
            }
        }
        Some(value) => int(value).unwrap_or(1),
        None => 1,
    };
    match number {
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Internal,
    }
}

fn status(value: Option<&Json>) -> Status {
    let Some(status) = value.and_then(Json::as_object) else {
        return Status::Unset;
    };
    let code = match status.get("code") {
        Some(Json::String(name)) => {
            let name = name.to_ascii_lowercase();
            match name.trim_start_matches("status_code_") {
                "ok" => 1,
                "error" => 2,
                other => other.parse().unwrap_or(0),
            }
        }
        Some(code) => int(code).unwrap_or(0),
        None => 0,
    };
    match code {
        1 => Status::Ok,
        2 => Status::Error {
            message: Cow::Owned(
                status
                    .get("message")
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .to_string(),
            ),
        },
        _ => Status::Unset,
    }
}

/// Attributes as OTLP writes them (`[{"key": …, "value": {AnyValue}}]`) or as the stdout
/// exporter does (`{"key": plain JSON value}`), and how many could not be read.
fn key_values(value: Option<&Json>) -> (Vec<KeyValue>, u32) {
    let mut out = Vec::new();
    let mut bad = 0u32;
    match value {
        Some(Json::Array(items)) => {
            for item in items {
                let key = item.get("key").and_then(Json::as_str);
                match (key, item.get("value").map(any_value)) {
                    (Some(key), Some(Some(value))) => {
                        out.push(KeyValue::new(key.to_string(), value))
                    }
                    // An empty AnyValue is OTLP's null: nothing to keep, nothing lost.
                    (Some(_), Some(None) | None)
                        if item.get("value").is_none_or(is_empty_any_value) => {}
                    _ => bad = bad.saturating_add(1),
                }
            }
        }
        Some(Json::Object(map)) => {
            for (key, value) in map {
                match plain_value(value) {
                    Some(value) => out.push(KeyValue::new(key.clone(), value)),
                    None => bad = bad.saturating_add(1),
                }
            }
        }
        None | Some(Json::Null) => {}
        Some(_) => bad = 1,
    }
    (out, bad)
}

fn is_empty_any_value(value: &Json) -> bool {
    value.as_object().is_some_and(Map::is_empty) || value.is_null()
}

/// An OTLP `AnyValue`. Key-value lists and bytes, which [`Value`] cannot hold, are kept as
/// their JSON text; an array of mixed types as the text of each item.
fn any_value(value: &Json) -> Option<Value> {
    let object = value.as_object()?;
    if let Some(s) = get(object, "stringValue", "string_value") {
        return Some(Value::String(Cow::Owned(s.as_str()?.to_string())));
    }
    if let Some(b) = get(object, "boolValue", "bool_value") {
        return b.as_bool().map(Value::Bool);
    }
    if let Some(i) = get(object, "intValue", "int_value") {
        return int(i).map(Value::I64);
    }
    if let Some(x) = get(object, "doubleValue", "double_value") {
        return double(x).map(Value::F64);
    }
    if let Some(array) = get(object, "arrayValue", "array_value") {
        let items = array.get("values").and_then(Json::as_array);
        let items: Vec<Value> = items.into_iter().flatten().filter_map(any_value).collect();
        return Some(homogeneous(items));
    }
    if let Some(other) = get(object, "kvlistValue", "kvlist_value") {
        return Some(Value::String(Cow::Owned(other.to_string())));
    }
    if let Some(bytes) = get(object, "bytesValue", "bytes_value") {
        let text = bytes
            .as_str()
            .map_or_else(|| bytes.to_string(), str::to_string);
        return Some(Value::String(Cow::Owned(text)));
    }
    None
}

fn double(value: &Json) -> Option<f64> {
    match value {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            s => s.trim().parse().ok(),
        },
        _ => None,
    }
}

/// A plain JSON value, as the stdout exporter writes attributes.
fn plain_value(value: &Json) -> Option<Value> {
    Some(match value {
        Json::String(s) => Value::String(Cow::Owned(s.clone())),
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::I64(i),
            None => Value::F64(n.as_f64()?),
        },
        Json::Array(items) => homogeneous(items.iter().filter_map(plain_value).collect()),
        Json::Object(_) => Value::String(Cow::Owned(value.to_string())),
        Json::Null => return None,
    })
}

/// An array [`Value`] from items: of one type if they all are (integers among floats become
/// floats), else the text of each.
fn homogeneous(items: Vec<Value>) -> Value {
    if items.iter().all(|v| matches!(v, Value::String(_))) {
        return Value::StringArray(
            items
                .into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect(),
        );
    }
    if let Some(bools) = items
        .iter()
        .map(|v| match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
    {
        return Value::BoolArray(bools);
    }
    if let Some(ints) = items
        .iter()
        .map(|v| match v {
            Value::I64(i) => Some(*i),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
    {
        return Value::I64Array(ints);
    }
    if let Some(floats) = items
        .iter()
        .map(|v| match v {
            Value::F64(x) => Some(*x),
            Value::I64(i) => Some(*i as f64),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
    {
        return Value::F64Array(floats);
    }
    Value::StringArray(items.iter().map(|v| Cow::Owned(v.to_string())).collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::Tracer;
    use crate::sink::{MemorySink, StdoutExporter};

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    /// An OTLP/JSON request as the specification writes it: hex ids, int64 as strings, enums as
    /// integers.
    fn otlp_request(service: &str, spans: &str) -> String {
        format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{service}"}}}}]}},"scopeSpans":[{{"scope":{{"name":"io.opentelemetry.okhttp","version":"1.2"}},"spans":[{spans}]}}]}}]}}"#
        )
    }

    fn otlp_span(span_id: &str, parent: &str, name: &str, start: u64, end: u64) -> String {
        format!(
            r#"{{"traceId":"{TRACE}","spanId":"{span_id}","parentSpanId":"{parent}","flags":769,"name":"{name}","kind":3,"startTimeUnixNano":"{start}","endTimeUnixNano":"{end}","attributes":[{{"key":"http.response.status_code","value":{{"intValue":"503"}}}},{{"key":"retry","value":{{"boolValue":true}}}},{{"key":"ratio","value":{{"doubleValue":0.25}}}},{{"key":"tags","value":{{"arrayValue":{{"values":[{{"stringValue":"a"}},{{"stringValue":"b"}}]}}}}}},{{"key":"nested","value":{{"kvlistValue":{{"values":[]}}}}}}],"droppedAttributesCount":2,"events":[{{"timeUnixNano":"{start}","name":"exception","attributes":[{{"key":"exception.message","value":{{"stringValue":"down"}}}}]}}],"links":[{{"traceId":"{TRACE}","spanId":"00f067aa0ba90200","flags":257}}],"status":{{"code":2,"message":"upstream down"}}}}"#
        )
    }

    #[test]
    fn otlp_json_follows_the_encoding_rules() {
        let text = otlp_request(
            "checkout",
            &otlp_span(
                "00f067aa0ba902b7",
                "00f067aa0ba902b6",
                "GET /pay",
                1_000,
                5_000,
            ),
        );
        let outcome = read_spans(&text);
        assert_eq!(outcome.errors, []);
        let span = &outcome.spans[0];
        assert_eq!(span.span_context.trace_id().to_string(), TRACE);
        assert_eq!(span.span_context.span_id().to_string(), "00f067aa0ba902b7");
        assert_eq!(span.parent_span_id.unwrap().to_string(), "00f067aa0ba902b6");
        // flags 0x301: sampled, the parent known to be remote.
        assert!(span.span_context.flags().is_sampled() && span.parent_is_remote);
        assert_eq!(span.kind, SpanKind::Client);
        assert_eq!((span.start_unix_nanos, span.end_unix_nanos), (1_000, 5_000));
        assert_eq!(span.resource.service_name(), "checkout");
        assert_eq!(span.scope.name, "io.opentelemetry.okhttp");
        assert_eq!(span.scope.version.as_deref(), Some("1.2"));
        assert_eq!(
            span.attribute("http.response.status_code"),
            Some(&Value::I64(503))
        );
        assert_eq!(span.attribute("retry"), Some(&Value::Bool(true)));
        assert_eq!(span.attribute("ratio"), Some(&Value::F64(0.25)));
        assert_eq!(span.attribute("tags"), Some(&Value::from(vec!["a", "b"])));
        assert_eq!(
            span.attribute("nested"),
            Some(&Value::from(r#"{"values":[]}"#))
        );
        assert_eq!(span.dropped_attributes, 2);
        assert_eq!(span.events[0].name, "exception");
        assert_eq!(
            span.links[0].span_context.span_id().to_string(),
            "00f067aa0ba90200"
        );
        assert!(!span.links[0].span_context.is_remote());
        assert_eq!(
            span.status,
            Status::Error {
                message: "upstream down".into()
            }
        );
    }

    #[test]
    fn snake_case_keys_enum_names_numbers_and_upper_case_hex_are_accepted() {
        let text = format!(
            r#"{{"resource_spans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"string_value":"legacy"}}}}]}},"scope_spans":[{{"spans":[{{"trace_id":"{}","span_id":"00F067AA0BA902B7","parent_span_id":"","name":"job","kind":"SPAN_KIND_CONSUMER","start_time_unix_nano":1000,"end_time_unix_nano":2000,"status":{{"code":"STATUS_CODE_OK"}},"attributes":[{{"key":"n","value":{{"int_value":7}}}},{{"key":"x","value":{{"double_value":"NaN"}}}}]}}]}}]}}]}}"#,
            TRACE.to_uppercase()
        );
        let outcome = read_spans(&text);
        assert_eq!(outcome.errors, []);
        let span = &outcome.spans[0];
        assert_eq!(span.span_context.trace_id().to_string(), TRACE);
        assert_eq!(span.parent_span_id, None);
        assert_eq!(span.kind, SpanKind::Consumer);
        assert_eq!(span.status, Status::Ok);
        assert_eq!(span.attribute("n"), Some(&Value::I64(7)));
        assert!(matches!(span.attribute("x"), Some(Value::F64(x)) if x.is_nan()));
        assert_eq!(span.resource.service_name(), "legacy");
        // No flags: it was exported, so sampled.
        assert!(span.span_context.flags().is_sampled());
    }

    #[test]
    fn collector_file_lines_share_resources_and_a_bad_span_loses_only_itself() {
        let good = otlp_span("00f067aa0ba902b7", "", "a", 1, 2);
        let bad = r#"{"traceId":"xyz","spanId":"00f067aa0ba902b8","startTimeUnixNano":"1","endTimeUnixNano":"2"}"#;
        let text = [
            otlp_request("cart", &format!("{good},{bad}")),
            otlp_request("cart", &otlp_span("00f067aa0ba902b9", "", "b", 3, 4)),
            otlp_request("pay", &otlp_span("00f067aa0ba902ba", "", "c", 5, 6)),
        ]
        .join("\n");
        let outcome = read_spans(&text);
        let names: Vec<_> = outcome.spans.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(outcome.errors.len(), 1);
        assert_eq!(outcome.errors[0].line, 1);
        assert!(
            outcome.errors[0]
                .message
                .starts_with("resourceSpans[0].scopeSpans[0].spans[1]: traceId:"),
            "{}",
            outcome.errors[0].message
        );
        assert!(Arc::ptr_eq(
            &outcome.spans[0].resource,
            &outcome.spans[1].resource
        ));
        assert!(!Arc::ptr_eq(
            &outcome.spans[1].resource,
            &outcome.spans[2].resource
        ));
        assert!(Arc::ptr_eq(
            &outcome.spans[0].scope,
            &outcome.spans[2].scope
        ));
    }

    #[test]
    fn pretty_printed_documents_over_many_lines() {
        let one = otlp_request("cart", &otlp_span("00f067aa0ba902b7", "", "a", 1, 2));
        let pretty = |text: &str| {
            serde_json::to_string_pretty(&serde_json::from_str::<Json>(text).unwrap()).unwrap()
        };
        let two = otlp_request("cart", &otlp_span("00f067aa0ba902b8", "", "b", 3, 4));
        let text = format!("{}\n\n{}\n", pretty(&one), pretty(&two));
        let outcome = read_spans(&text);
        assert_eq!(outcome.errors, []);
        assert_eq!(outcome.spans.len(), 2);

        // A broken document is one error, at its first line; the next document is still read.
        let broken = pretty(&one).replacen("\"name\": \"a\"", "\"name\": a", 1);
        let text = format!("{broken}\n{}\n", pretty(&two));
        let outcome = read_spans(&text);
        assert_eq!(outcome.spans.len(), 1);
        assert_eq!(outcome.spans[0].name, "b");
        assert_eq!(outcome.errors.len(), 1, "{:?}", outcome.errors);
        assert_eq!(outcome.errors[0].line, 1);
        assert!(outcome.errors[0].message.contains("invalid JSON"));
    }

    fn finished_spans() -> Vec<SpanData> {
        let sink = MemorySink::new();
        let tracer = Tracer::builder()
            .service_name("payments")
            .sink(sink.clone())
            .build();
        let parent = tracer.span("POST /charges").kind(SpanKind::Server).start();
        let child = parent
            .child("charge card")
            .kind(SpanKind::Client)
            .attr("http.request.method", "POST")
            .attr("attempt", 2_i64)
            .attr("ratio", 0.5)
            .attr("ok", false)
            .attr("tags", vec!["a", "b"])
            .start();
        child.add_event("retry", vec![KeyValue::new("attempt", 2_i64)]);
        child.set_status(Status::Error {
            message: "card declined".into(),
        });
        child.end();
        parent.end();
        sink.take()
    }

    #[test]
    fn stdout_json_lines_round_trip() {
        let spans = finished_spans();
        let text: String = spans
            .iter()
            .map(|s| StdoutExporter::json().format_span(s) + "\n")
            .collect();
        let outcome = read_spans(&text);
        assert_eq!(outcome.errors, []);
        assert_eq!(outcome.spans.len(), spans.len());
        for (read, original) in outcome.spans.iter().zip(&spans) {
            assert_eq!(read.name, original.name);
            assert_eq!(read.kind, original.kind);
            assert_eq!(
                read.span_context.trace_id(),
                original.span_context.trace_id()
            );
            assert_eq!(read.span_context.span_id(), original.span_context.span_id());
            assert_eq!(read.parent_span_id, original.parent_span_id);
            assert_eq!(read.start_unix_nanos, original.start_unix_nanos);
            assert_eq!(read.end_unix_nanos, original.end_unix_nanos);
            assert_eq!(read.status, original.status);
            // JSON objects do not keep the order of their keys.
            let sorted = |span: &SpanData| {
                let mut attributes = span.attributes.clone();
                attributes.sort_by(|a, b| a.key.cmp(&b.key));
                attributes
            };
            assert_eq!(sorted(read), sorted(original));
            assert_eq!(read.events.len(), original.events.len());
            assert_eq!(read.resource.service_name(), "payments");
            assert!(read.span_context.flags().is_sampled());
        }
        assert!(Arc::ptr_eq(
            &outcome.spans[0].resource,
            &outcome.spans[1].resource
        ));
    }

    #[test]
    fn a_malformed_line_in_the_middle_loses_nothing_else() {
        let lines: Vec<String> = finished_spans()
            .iter()
            .map(|s| StdoutExporter::json().format_span(s))
            .collect();
        let truncated = &lines[0][..lines[0].len() / 2];
        let text = format!(
            "{}\n{truncated}\n{{\"neither\":1}}\n[1]\n\r\n{}\r\n",
            lines[0], lines[1]
        );
        let outcome = read_spans(&text);
        assert_eq!(outcome.spans.len(), 2);
        let lines: Vec<usize> = outcome.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4], "{:?}", outcome.errors);
        // Truncated at the very end of the file.
        let text = format!("{}\n{truncated}", lines_text());
        let outcome = read_spans(&text);
        assert_eq!((outcome.spans.len(), outcome.errors.len()), (1, 1));
        assert_eq!(outcome.errors[0].line, 2);
    }

    fn lines_text() -> String {
        StdoutExporter::json().format_span(&finished_spans()[0])
    }

    #[test]
    fn missing_times_and_bad_parents_are_reported_per_span() {
        let text = format!(
            r#"{{"traceId":"{TRACE}","spanId":"00f067aa0ba902b7","endTimeUnixNano":1}}
{{"traceId":"{TRACE}","spanId":"00f067aa0ba902b7","parentSpanId":"nope","startTimeUnixNano":1,"endTimeUnixNano":1}}
{{"traceId":"{TRACE}","spanId":"0000000000000000","startTimeUnixNano":1,"endTimeUnixNano":1}}
{{"traceId":"{TRACE}","spanId":"00f067aa0ba902b7","startTimeUnixNano":"-1","endTimeUnixNano":1}}"#
        );
        let outcome = read_spans(&text);
        assert!(outcome.spans.is_empty());
        let messages: Vec<_> = outcome.errors.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 4);
        assert_eq!(messages[0], "line 1: startTimeUnixNano: missing");
        assert!(messages[1].starts_with("line 2: parentSpanId:"));
        assert!(messages[2].starts_with("line 3: spanId: is all zeros"));
        assert!(messages[3].starts_with("line 4: startTimeUnixNano: not"));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(text in ".{0,400}") {
            let _ = read_spans(&text);
        }

        #[test]
        fn never_panics_on_json_like_text(
            text in r#"[\[\]{}",:0-9a-zA-Z_ \n\r\t.\\-]{0,300}"#
        ) {
            let _ = read_spans(&text);
        }

        #[test]
        fn never_panics_on_mangled_spans(cut in 0usize..2_000, insert in ".{0,3}") {
            let base = format!(
                "{}\n{}",
                otlp_request("cart", &otlp_span("00f067aa0ba902b7", "", "a", 1, 2)),
                lines_text()
            );
            let mut text = base.clone();
            let at = cut.min(text.len());
            if text.is_char_boundary(at) {
                text.insert_str(at, &insert);
            }
            let outcome = read_spans(&text);
            let _ = crate::view::assemble(outcome.spans);
        }
    }
}
