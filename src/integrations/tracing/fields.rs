//! `tracing` field values as tracewire attributes, and the `otel.*` fields tracing-opentelemetry
//! users already write (name, kind, status).

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use ::tracing::field::{Field, Visit};
use smallvec::SmallVec;

use crate::span::{KeyValue, SpanKind, Status, Value};

/// The field that renames the span.
const OTEL_NAME: &str = "otel.name";
/// The field that sets the span kind.
const OTEL_KIND: &str = "otel.kind";
/// The field that sets the status code (`ok`, `error`, `unset`).
const OTEL_STATUS_CODE: &str = "otel.status_code";
/// The status description, as tracing-opentelemetry 0.32 and later name it.
const OTEL_STATUS_DESCRIPTION: &str = "otel.status_description";
/// The status description, as tracing-opentelemetry before 0.32 named it.
const OTEL_STATUS_MESSAGE: &str = "otel.status_message";
/// The field `info!("...")` puts its message in.
pub(super) const MESSAGE: &str = "message";

/// `Visit` for a type with a `record(&mut self, &Field, Value)`: each `tracing` value typed
/// as the attribute value it is, written once for span and event fields.
macro_rules! visit_typed {
    ($fields:ty) => {
        impl Visit for $fields {
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                self.record(field, Value::String(debug_string(value).into()));
            }

            fn record_str(&mut self, field: &Field, value: &str) {
                self.record(field, Value::String(value.to_owned().into()));
            }

            fn record_i64(&mut self, field: &Field, value: i64) {
                self.record(field, Value::I64(value));
            }

            fn record_u64(&mut self, field: &Field, value: u64) {
                self.record(field, unsigned(value));
            }

            fn record_bool(&mut self, field: &Field, value: bool) {
                self.record(field, Value::Bool(value));
            }

            fn record_f64(&mut self, field: &Field, value: f64) {
                self.record(field, Value::F64(value));
            }

            fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
                self.record(field, Value::String(value.to_string().into()));
            }
        }
    };
}

/// A status code as `otel.status_code` gives it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum StatusCode {
    Unset,
    Ok,
    Error,
}

/// What a span's fields say: the `otel.*` settings and the other fields as attributes.
#[derive(Default)]
pub(super) struct SpanFields {
    pub(super) name: Option<Cow<'static, str>>,
    pub(super) kind: Option<SpanKind>,
    pub(super) status_code: Option<StatusCode>,
    pub(super) status_description: Option<String>,
    /// Inline: the few fields of a typical span cost no allocation of their own.
    pub(super) attributes: SmallVec<[KeyValue; 4]>,
}

impl SpanFields {
    /// The status the fields set, if any (`Unset` sets nothing).
    pub(super) fn status(&mut self) -> Option<Status> {
        match self.status_code? {
            StatusCode::Unset => None,
            StatusCode::Ok => Some(Status::Ok),
            StatusCode::Error => Some(Status::Error {
                message: self.status_description.take().unwrap_or_default().into(),
            }),
        }
    }

    fn record(&mut self, field: &Field, value: Value) {
        match field.name() {
            OTEL_NAME => self.name = Some(into_string(value)),
            OTEL_KIND => self.kind = parse_kind(&into_string(value)),
            OTEL_STATUS_CODE => self.status_code = parse_status_code(&into_string(value)),
            OTEL_STATUS_DESCRIPTION | OTEL_STATUS_MESSAGE => {
                self.status_description = Some(into_string(value).into_owned());
            }
            name => self.attributes.push(KeyValue::new(name, value)),
        }
    }
}

visit_typed!(SpanFields);

/// What an event's fields say: its message and the other fields as attributes.
#[derive(Default)]
pub(super) struct EventFields {
    pub(super) message: Option<String>,
    pub(super) attributes: Vec<KeyValue>,
}

impl EventFields {
    fn record(&mut self, field: &Field, value: Value) {
        match field.name() {
            MESSAGE => self.message = Some(into_string(value).into_owned()),
            name => self.attributes.push(KeyValue::new(name, value)),
        }
    }
}

visit_typed!(EventFields);

/// An unsigned value: an integer where it fits in OpenTelemetry's signed 64 bits, its decimal
/// text otherwise (never a wrapped, wrong number).
fn unsigned(value: u64) -> Value {
    match i64::try_from(value) {
        Ok(value) => Value::I64(value),
        Err(_) => Value::String(value.to_string().into()),
    }
}

fn debug_string(value: &dyn fmt::Debug) -> String {
    let mut text = String::new();
    // Writing into a `String` fails only if the `Debug` impl itself reports an error; what it
    // wrote until then is kept.
    let _ = write!(text, "{value:?}");
    text
}

fn into_string(value: Value) -> Cow<'static, str> {
    match value {
        Value::String(text) => text,
        other => other.to_string().into(),
    }
}

/// `otel.kind` as tracing-opentelemetry reads it: the kind's name, any case.
fn parse_kind(kind: &str) -> Option<SpanKind> {
    const KINDS: [(&str, SpanKind); 5] = [
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ];
    KINDS
        .iter()
        .find(|(name, _)| kind.eq_ignore_ascii_case(name))
        .map(|&(_, kind)| kind)
}

/// `otel.status_code` as tracing-opentelemetry reads it: `ok`, `error` or `unset`, any case.
fn parse_status_code(code: &str) -> Option<StatusCode> {
    if code.eq_ignore_ascii_case("ok") {
        Some(StatusCode::Ok)
    } else if code.eq_ignore_ascii_case("error") {
        Some(StatusCode::Error)
    } else if code.eq_ignore_ascii_case("unset") {
        Some(StatusCode::Unset)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_status_codes_are_read_in_any_case() {
        assert_eq!(parse_kind("Server"), Some(SpanKind::Server));
        assert_eq!(parse_kind("CONSUMER"), Some(SpanKind::Consumer));
        assert_eq!(parse_kind("sideways"), None);
        assert_eq!(parse_status_code("Error"), Some(StatusCode::Error));
        assert_eq!(parse_status_code("OK"), Some(StatusCode::Ok));
        assert_eq!(parse_status_code(""), None);
    }

    #[test]
    fn unsigned_values_never_wrap() {
        assert_eq!(unsigned(7), Value::I64(7));
        assert_eq!(
            unsigned(u64::MAX),
            Value::String(u64::MAX.to_string().into())
        );
    }
}
