//! Span limits, as OpenTelemetry defines them.

use std::sync::atomic::{AtomicBool, Ordering};

use super::attributes::KeyValue;

/// How much a span may hold (OpenTelemetry span limits). Defaults: 128 of each, no limit on
/// attribute value length. What goes over a limit is dropped and counted on the span.
///
/// Read from `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT` (or `OTEL_ATTRIBUTE_COUNT_LIMIT`),
/// `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT` (or `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`),
/// `OTEL_SPAN_EVENT_COUNT_LIMIT`, `OTEL_SPAN_LINK_COUNT_LIMIT`,
/// `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT` and `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT` by
/// [`Tracer::from_env`](crate::Tracer::from_env).
///
/// # Example
///
/// ```
/// use tracewire::sink::MemorySink;
/// use tracewire::span::SpanLimits;
/// use tracewire::Tracer;
///
/// let sink = MemorySink::new();
/// let limits = SpanLimits { attribute_count: 2, ..SpanLimits::default() };
/// let tracer = Tracer::builder().span_limits(limits).sink(sink.clone()).build();
/// let span = tracer.span("chatty").start();
/// for i in 0..5_i64 {
///     span.set_attribute(format!("k{i}"), i);
/// }
/// span.end();
/// let data = &sink.spans()[0];
/// assert_eq!((data.attributes.len(), data.dropped_attributes), (2, 3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanLimits {
    /// Attributes per span.
    pub attribute_count: u32,
    /// Characters per string attribute value (each element of a string array); `None` for no
    /// limit.
    pub attribute_value_length: Option<u32>,
    /// Events per span.
    pub event_count: u32,
    /// Links per span.
    pub link_count: u32,
    /// Attributes per event.
    pub attributes_per_event: u32,
    /// Attributes per link.
    pub attributes_per_link: u32,
}

impl Default for SpanLimits {
    fn default() -> Self {
        Self {
            attribute_count: 128,
            attribute_value_length: None,
            event_count: 128,
            link_count: 128,
            attributes_per_event: 128,
            attributes_per_link: 128,
        }
    }
}

/// Whether two attribute keys are equal: the same literal, or else the same length and first
/// byte before the bytes are compared, since most keys of a span differ early (this runs for
/// every pair of a builder's attributes).
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && (a.as_ptr() == b.as_ptr()
            || (a.as_bytes().first() == b.as_bytes().first() && a.as_bytes() == b.as_bytes()))
}

/// What a limit discarded, for the warning that names the limit's variable ("There SHOULD be
/// a message printed in the SDK's log to indicate to the user that an attribute, event, or
/// link was discarded due to such a limit", trace SDK, Span Limits).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Discarded {
    SpanAttributes,
    Events,
    Links,
    EventAttributes,
    LinkAttributes,
}

impl Discarded {
    /// What was discarded, and the variable of its limit.
    fn described(self) -> (&'static str, &'static str) {
        match self {
            Self::SpanAttributes => ("span attributes", "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"),
            Self::Events => ("span events", "OTEL_SPAN_EVENT_COUNT_LIMIT"),
            Self::Links => ("span links", "OTEL_SPAN_LINK_COUNT_LIMIT"),
            Self::EventAttributes => ("event attributes", "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT"),
            Self::LinkAttributes => ("link attributes", "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT"),
        }
    }
}

/// Whether each kind's warning was logged already (at most once per process).
static WARNED: [AtomicBool; 5] = [const { AtomicBool::new(false) }; 5];

impl SpanLimits {
    /// Sets an attribute in `attributes` within `max_count` attributes and the value length
    /// limit: a known key is replaced in place, a new key over the limit is dropped and
    /// counted in `dropped`.
    pub(crate) fn set_attribute(
        &self,
        attributes: &mut Vec<KeyValue>,
        dropped: &mut u32,
        max_count: u32,
        kv: KeyValue,
    ) {
        self.put(
            attributes,
            dropped,
            max_count,
            kv,
            Discarded::SpanAttributes,
        );
    }

    /// [`set_attribute`](Self::set_attribute) for attributes of the kind `what`.
    fn put(
        &self,
        attributes: &mut Vec<KeyValue>,
        dropped: &mut u32,
        max_count: u32,
        mut kv: KeyValue,
        what: Discarded,
    ) {
        self.truncate(&mut kv);
        if let Some(existing) = attributes.iter_mut().find(|a| same_key(&a.key, &kv.key)) {
            existing.value = kv.value;
        } else if attributes.len() < max_count as usize {
            attributes.push(kv);
        } else {
            *dropped = dropped.saturating_add(1);
            warn_discarded_once(what, max_count);
        }
    }

    /// Applies the count and value-length limits to the span attributes appended to
    /// `attributes` from index `from` on, whose keys the caller knows are new (distinct from
    /// each other and from those before), without searching for an earlier value of each key.
    pub(crate) fn limit_appended(
        &self,
        attributes: &mut Vec<KeyValue>,
        from: usize,
        dropped: &mut u32,
    ) {
        let kept = (self.attribute_count as usize)
            .max(from)
            .min(attributes.len());
        let over = attributes.len() - kept;
        attributes.truncate(kept);
        if self.attribute_value_length.is_some() {
            for kv in attributes.iter_mut().skip(from) {
                self.truncate(kv);
            }
        }
        if over > 0 {
            *dropped = dropped.saturating_add(u32::try_from(over).unwrap_or(u32::MAX));
            warn_discarded_once(Discarded::SpanAttributes, self.attribute_count);
        }
    }

    fn truncate(&self, kv: &mut KeyValue) {
        if let Some(max_len) = self.attribute_value_length {
            kv.value.truncate(max_len as usize);
        }
    }

    /// Applies the limits to a list given whole (events' and links' attributes).
    pub(crate) fn limit_attributes(
        &self,
        attributes: Vec<KeyValue>,
        max_count: u32,
        what: Discarded,
    ) -> (Vec<KeyValue>, u32) {
        let mut kept = Vec::with_capacity(attributes.len().min(max_count as usize));
        let mut dropped = 0;
        for kv in attributes {
            self.put(&mut kept, &mut dropped, max_count, kv, what);
        }
        (kept, dropped)
    }
}

/// Logs, once per process for each kind, that a count limit discarded something.
pub(crate) fn warn_discarded_once(what: Discarded, limit: u32) {
    if !WARNED[what as usize].swap(true, Ordering::Relaxed) {
        let (discarded, variable) = what.described();
        crate::diagnostics::warning!(
            "tracewire: {discarded} discarded: the limit is {limit} ({variable}); dropped counts \
             are kept on each span. This warning is logged once."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Value;

    #[test]
    fn new_keys_are_appended_within_the_limits() {
        let limits = SpanLimits {
            attribute_count: 3,
            attribute_value_length: Some(2),
            ..SpanLimits::default()
        };
        let mut attributes = vec![KeyValue::new("http.route", "/x")];
        let mut dropped = 0;
        let new = ["url.path", "url.scheme", "server.address"].map(|k| KeyValue::new(k, "abcd"));
        attributes.extend(new);
        limits.limit_appended(&mut attributes, 1, &mut dropped);
        assert_eq!(
            attributes,
            [
                KeyValue::new("http.route", "/x"),
                KeyValue::new("url.path", "ab"),
                KeyValue::new("url.scheme", "ab"),
            ]
        );
        assert_eq!(dropped, 1);
    }

    #[test]
    fn drops_and_counts_over_the_limit() {
        let limits = SpanLimits {
            attribute_value_length: Some(3),
            ..SpanLimits::default()
        };
        let mut attributes = Vec::new();
        let mut dropped = 0;
        for (key, value) in [("a", "12345"), ("b", "x"), ("a", "yy"), ("c", "z")] {
            limits.set_attribute(&mut attributes, &mut dropped, 2, KeyValue::new(key, value));
        }
        assert_eq!(
            attributes,
            [KeyValue::new("a", "yy"), KeyValue::new("b", "x")]
        );
        assert_eq!(dropped, 1);
        let (kept, dropped) = limits.limit_attributes(
            vec![KeyValue::new("k", "abcdef")],
            5,
            Discarded::EventAttributes,
        );
        assert_eq!(kept[0].value, Value::from("abc"));
        assert_eq!(dropped, 0);
    }
}
