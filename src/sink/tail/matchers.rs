//! What the error and attribute policies look for in a span.

use std::borrow::Cow;
use std::ops::RangeInclusive;

use crate::semconv::{
    GRPC_STATUS_CODE_NAMES, HTTP_RESPONSE_STATUS_CODE, RPC_GRPC_STATUS_CODE,
    RPC_RESPONSE_STATUS_CODE,
};
use crate::span::{SpanData, Status, Value};

/// The error policy: a trace is kept, for certain, when any of its spans failed: its status is
/// error (the default), or its HTTP response status or gRPC status code is one of those named.
///
/// The server and client layers already set the error status as the HTTP and RPC conventions
/// say (a server's 5xx, a client's 4xx and 5xx, the gRPC codes each side counts as errors);
/// name statuses here to keep more, such as a server's 429s.
///
/// # Example
///
/// ```
/// use tracewire::sink::tail::{Policy, TailPolicy};
///
/// let policy = TailPolicy::new().rule(
///     "errors",
///     Policy::errors().http_status(429..=429).grpc_status([4, 14]), // DEADLINE_EXCEEDED, UNAVAILABLE
/// );
/// # let _ = policy;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Errors {
    status: bool,
    http: Vec<RangeInclusive<i64>>,
    grpc: Vec<i64>,
}

impl Default for Errors {
    fn default() -> Self {
        Self {
            status: true,
            http: Vec::new(),
            grpc: Vec::new(),
        }
    }
}

impl Errors {
    /// Spans whose status is error.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also spans whose `http.response.status_code` is within `codes`.
    #[must_use]
    pub fn http_status(mut self, codes: RangeInclusive<u16>) -> Self {
        self.http
            .push(i64::from(*codes.start())..=i64::from(*codes.end()));
        self
    }

    /// Also spans whose gRPC status code (`rpc.grpc.status_code`, or the name in
    /// `rpc.response.status_code`) is one of `codes`.
    #[must_use]
    pub fn grpc_status(mut self, codes: impl IntoIterator<Item = u8>) -> Self {
        self.grpc.extend(codes.into_iter().map(i64::from));
        self
    }

    /// Whether a span's error status counts (`true` unless turned off, to keep by status codes
    /// alone).
    #[must_use]
    pub fn error_status(mut self, counts: bool) -> Self {
        self.status = counts;
        self
    }

    /// Whether `span` is an error as this policy sees it.
    pub(crate) fn matches(&self, span: &SpanData) -> bool {
        if self.status && matches!(span.status, Status::Error { .. }) {
            return true;
        }
        if !self.http.is_empty() {
            if let Some(Value::I64(code)) = span.attribute(HTTP_RESPONSE_STATUS_CODE) {
                if self.http.iter().any(|range| range.contains(code)) {
                    return true;
                }
            }
        }
        if !self.grpc.is_empty() {
            let code = match span.attribute(RPC_GRPC_STATUS_CODE) {
                Some(Value::I64(code)) => Some(*code),
                _ => match span.attribute(RPC_RESPONSE_STATUS_CODE) {
                    Some(Value::String(name)) => GRPC_STATUS_CODE_NAMES
                        .iter()
                        .position(|known| *known == name.as_ref())
                        .map(|code| code as i64),
                    _ => None,
                },
            };
            if code.is_some_and(|code| self.grpc.contains(&code)) {
                return true;
            }
        }
        false
    }
}

/// Which spans an attribute policy looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    AnySpan,
    Root,
}

/// What an attribute policy asks of the value.
#[derive(Clone, Debug, PartialEq)]
enum Test {
    Exists,
    OneOf(Vec<Value>),
    Between(f64, f64),
}

/// The attribute policy: a trace is kept, for certain, when a span has the attribute (by
/// default any span; [`root_only`](Self::root_only) for the trace's root) with a value that
/// matches: present at all, one of a set of strings, numbers or booleans, or a number within a
/// range. An array attribute matches when one of its items does.
///
/// Numbers match across types (`200` matches `200.0`); a range's bounds are inclusive and
/// compared as 64-bit floats.
///
/// # Example
///
/// ```
/// use tracewire::sink::tail::{Policy, TailPolicy};
///
/// let policy = TailPolicy::new()
///     .rule("checkout", Policy::attribute("http.route").one_of(["/checkout", "/pay"]))
///     .rule("big orders", Policy::attribute("order.total").between(1_000.0, f64::INFINITY))
///     .rule("beta users", Policy::attribute("user.beta").equals(true).root_only());
/// # let _ = policy;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AttributeMatch {
    key: Cow<'static, str>,
    test: Test,
    scope: Scope,
}

impl AttributeMatch {
    /// Spans that have `key`, whatever its value.
    pub fn new(key: impl Into<Cow<'static, str>>) -> Self {
        Self {
            key: key.into(),
            test: Test::Exists,
            scope: Scope::AnySpan,
        }
    }

    /// Spans whose `key` is `value`.
    #[must_use]
    pub fn equals(self, value: impl Into<Value>) -> Self {
        self.one_of([value])
    }

    /// Spans whose `key` is one of `values`.
    #[must_use]
    pub fn one_of<V: Into<Value>>(mut self, values: impl IntoIterator<Item = V>) -> Self {
        self.test = Test::OneOf(values.into_iter().map(Into::into).collect());
        self
    }

    /// Spans whose `key` is a number from `min` to `max`, both included.
    #[must_use]
    pub fn between(mut self, min: f64, max: f64) -> Self {
        self.test = Test::Between(min, max);
        self
    }

    /// Only the trace's root span is looked at (the span without a parent; in a service whose
    /// caller is elsewhere, its local root).
    #[must_use]
    pub fn root_only(mut self) -> Self {
        self.scope = Scope::Root;
        self
    }

    /// Whether only the root is looked at.
    pub(crate) fn on_root_only(&self) -> bool {
        self.scope == Scope::Root
    }

    /// Whether `span` matches.
    pub(crate) fn matches(&self, span: &SpanData) -> bool {
        let Some(value) = span.attribute(&self.key) else {
            return false;
        };
        match &self.test {
            Test::Exists => true,
            Test::OneOf(wanted) => items(value).any(|item| wanted.iter().any(|w| same(w, &item))),
            Test::Between(min, max) => {
                items(value).any(|item| number(&item).is_some_and(|n| *min <= n && n <= *max))
            }
        }
    }
}

/// A single value, or one item of an array.
enum Item<'a> {
    Str(&'a str),
    Bool(bool),
    I64(i64),
    F64(f64),
}

/// The items of a value: itself, or each item of an array.
fn items(value: &Value) -> Box<dyn Iterator<Item = Item<'_>> + '_> {
    match value {
        Value::String(s) => Box::new(std::iter::once(Item::Str(s))),
        Value::Bool(b) => Box::new(std::iter::once(Item::Bool(*b))),
        Value::I64(i) => Box::new(std::iter::once(Item::I64(*i))),
        Value::F64(x) => Box::new(std::iter::once(Item::F64(*x))),
        Value::StringArray(a) => Box::new(a.iter().map(|s| Item::Str(s))),
        Value::BoolArray(a) => Box::new(a.iter().map(|b| Item::Bool(*b))),
        Value::I64Array(a) => Box::new(a.iter().map(|i| Item::I64(*i))),
        Value::F64Array(a) => Box::new(a.iter().map(|x| Item::F64(*x))),
    }
}

fn number(item: &Item<'_>) -> Option<f64> {
    match item {
        Item::I64(i) => Some(*i as f64),
        Item::F64(x) => Some(*x),
        _ => None,
    }
}

/// Whether a wanted value equals an item: strings and booleans exactly, integers exactly,
/// numbers of mixed types by value.
fn same(wanted: &Value, item: &Item<'_>) -> bool {
    match (wanted, item) {
        (Value::String(w), Item::Str(s)) => w == s,
        (Value::Bool(w), Item::Bool(b)) => w == b,
        (Value::I64(w), Item::I64(i)) => w == i,
        (Value::I64(w), Item::F64(x)) => *w as f64 == *x,
        (Value::F64(w), Item::I64(i)) => *w == *i as f64,
        (Value::F64(w), Item::F64(x)) => w == x,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tracer;
    use crate::sink::MemorySink;

    fn span(attrs: Vec<(&'static str, Value)>, error: bool) -> SpanData {
        let sink = MemorySink::new();
        let tracer = Tracer::builder().sink(sink.clone()).build();
        let span = tracer.span("s").start();
        for (k, v) in attrs {
            span.set_attribute(k, v);
        }
        if error {
            span.set_status(Status::Error {
                message: "x".into(),
            });
        }
        span.end();
        sink.take().remove(0)
    }

    #[test]
    fn errors_by_status_and_codes() {
        let plain = span(vec![], false);
        let failed = span(vec![], true);
        let http_429 = span(vec![(HTTP_RESPONSE_STATUS_CODE, Value::I64(429))], false);
        let grpc_14 = span(vec![(RPC_GRPC_STATUS_CODE, Value::I64(14))], false);
        let grpc_name = span(
            vec![(RPC_RESPONSE_STATUS_CODE, "UNAVAILABLE".into())],
            false,
        );
        let errors = Errors::new();
        assert!(!errors.matches(&plain) && errors.matches(&failed));
        assert!(!errors.matches(&http_429));
        let codes = Errors::new().http_status(400..=499).grpc_status([14]);
        assert!(codes.matches(&http_429) && codes.matches(&grpc_14) && codes.matches(&grpc_name));
        let codes_only = codes.error_status(false);
        assert!(!codes_only.matches(&failed) && codes_only.matches(&grpc_name));
    }

    #[test]
    fn attributes_by_value_set_and_range() {
        let s = span(
            vec![
                ("route", "/checkout".into()),
                ("code", Value::I64(503)),
                ("total", Value::F64(12.5)),
                ("beta", Value::Bool(true)),
                ("tags", Value::from(vec!["a", "b"])),
            ],
            false,
        );
        assert!(AttributeMatch::new("route").matches(&s));
        assert!(!AttributeMatch::new("missing").matches(&s));
        assert!(
            AttributeMatch::new("route")
                .one_of(["/pay", "/checkout"])
                .matches(&s)
        );
        assert!(!AttributeMatch::new("route").equals("/pay").matches(&s));
        assert!(AttributeMatch::new("code").equals(503.0).matches(&s));
        assert!(
            AttributeMatch::new("code")
                .between(500.0, 599.0)
                .matches(&s)
        );
        assert!(
            !AttributeMatch::new("code")
                .between(400.0, 499.0)
                .matches(&s)
        );
        assert!(AttributeMatch::new("total").between(10.0, 20.0).matches(&s));
        assert!(AttributeMatch::new("beta").equals(true).matches(&s));
        assert!(!AttributeMatch::new("beta").equals("true").matches(&s));
        assert!(AttributeMatch::new("tags").equals("b").matches(&s));
        assert!(
            !AttributeMatch::new("route")
                .between(f64::NAN, f64::NAN)
                .matches(&s)
        );
    }
}
