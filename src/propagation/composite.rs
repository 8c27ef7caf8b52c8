//! Several propagators run as one.

use http::{HeaderMap, HeaderName};

use super::{BaggagePropagator, PropagationContext, Propagator, TraceContextPropagator};

/// Runs several propagators as one, the way the OpenTelemetry SDKs do: extractors run in
/// order, a later valid span context replaces an earlier one, baggage is merged (later values
/// win), and every propagator injects.
///
/// The default is W3C Trace Context and W3C Baggage (`OTEL_PROPAGATORS=tracecontext,baggage`).
///
/// # Example
///
/// ```
/// use http::HeaderMap;
/// use tracewire::propagation::{B3Propagator, CompositePropagator, Propagator, TraceContextPropagator};
///
/// let propagator = CompositePropagator::new(vec![
///     Box::new(B3Propagator::single()),
///     Box::new(TraceContextPropagator::new()),
/// ]);
/// let mut headers = HeaderMap::new();
/// headers.insert("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1".parse().unwrap());
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
///
/// // The later propagator's valid context wins.
/// let cx = propagator.extract(&headers);
/// assert_eq!(
///     cx.span_context.unwrap().trace_id().to_string(),
///     "4bf92f3577b34da6a3ce929d0e0e4736"
/// );
/// ```
#[derive(Debug)]
pub struct CompositePropagator {
    propagators: Vec<Box<dyn Propagator>>,
}

impl CompositePropagator {
    /// Runs `propagators` in order.
    pub fn new(propagators: Vec<Box<dyn Propagator>>) -> Self {
        Self { propagators }
    }

    /// The propagators, in the order they run.
    pub fn propagators(&self) -> &[Box<dyn Propagator>] {
        &self.propagators
    }
}

impl Default for CompositePropagator {
    fn default() -> Self {
        Self::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator),
        ])
    }
}

impl Propagator for CompositePropagator {
    fn extract_into(&self, headers: &HeaderMap, cx: &mut PropagationContext) {
        for propagator in &self.propagators {
            propagator.extract_into(headers, cx);
        }
    }

    fn inject(&self, cx: &PropagationContext, headers: &mut HeaderMap) {
        for propagator in &self.propagators {
            propagator.inject(cx, headers);
        }
    }

    fn fields(&self) -> Vec<HeaderName> {
        let mut fields: Vec<HeaderName> = Vec::new();
        for field in self.propagators.iter().flat_map(|p| p.fields()) {
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
        fields
    }
}
