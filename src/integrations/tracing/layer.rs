//! [`TracewireLayer`]: `tracing` spans inside traced requests as tracewire spans.

use std::borrow::Cow;
use std::cell::RefCell;

use ::tracing::span::{Attributes, Id, Record};
use ::tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;

use super::fields::{EventFields, SpanFields, StatusCode};
use crate::semconv;
use crate::span::{KeyValue, Status, Value};
use crate::tracer::with_current;
use crate::{ContextGuard, Span, SpanRef};

/// The target of tracewire's own diagnostics, which never become span events: one can be
/// emitted while the span it concerns is being written to.
const DIAGNOSTICS_TARGET: &str = "tracewire";

thread_local! {
    /// The bridged spans entered on this thread, innermost last, each with the guard that
    /// restores the context that was current before it.
    static ENTERED: RefCell<Vec<(Id, ContextGuard)>> = const { RefCell::new(Vec::new()) };
}

/// A `tracing_subscriber` [`Layer`](tracing_subscriber::Layer) that turns `tracing` spans
/// opened while a recording tracewire span is current into its child spans, and makes each
/// such span the current tracewire span while the `tracing` span is entered.
///
/// - **Name**: the span's name, or its `otel.name` field (also when recorded later).
/// - **Kind**: `otel.kind` (`server`, `client`, `producer`, `consumer`, `internal`).
/// - **Status**: `otel.status_code` (`ok`, `error`) with `otel.status_description` (or
///   `otel.status_message`, its name before tracing-opentelemetry 0.32).
/// - **Attributes**: every other field, typed (integers, floats, booleans, strings; `Debug`
///   values as their text), including fields recorded later with `Span::record`.
/// - **Events**: `tracing` events inside become span events named by their message, with
///   their fields, `level` and `target`. Error-level events become `exception` events and set
///   error status (see [`error_events_to_exceptions`](Self::error_events_to_exceptions) and
///   [`error_events_to_status`](Self::error_events_to_status)).
/// - **Time**: from the span's creation to its close, however often it is entered (an
///   `#[instrument]`ed `async fn` is entered on every poll).
///
/// While a converted span is entered, it is the current tracewire span: spans started with
/// [`tracewire::span`](fn@crate::span) and the CLIENT spans of outgoing calls through the
/// client layer are its children, and the `traceparent` sent names it. Exiting restores the
/// context that was current before.
///
/// The parent is the tracewire span current where the `tracing` span is created (a
/// `tracing` span entered there, a tracewire span, a local span), or the explicit `parent:`
/// of `info_span!(parent: &p, ..)` when that one was converted. Spawned tasks keep the
/// parent when they carry the context ([`tracewire::spawn`](crate::spawn),
/// [`in_current_span`](crate::FutureExt::in_current_span)).
///
/// With no recording tracewire span current (no request, or one the sampler dropped) nothing
/// is converted: a `tracing` span then costs the layer a thread-local read, and allocates
/// nothing.
///
/// # Example
///
/// ```
/// use tracewire::integrations::tracing::TracewireLayer;
/// use tracewire::sink::MemorySink;
/// use tracewire::Tracer;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sink = MemorySink::new();
/// let tracer = Tracer::builder().sink(sink.clone()).build();
/// let subscriber = tracing_subscriber::registry().with(TracewireLayer::new());
/// let _default = tracing::subscriber::set_default(subscriber);
///
/// #[tracing::instrument]
/// async fn load_order(id: u64) {
///     tracing::info!(rows = 1, "loaded");
///     // A child of `load_order`, no tracer in hand.
///     tracewire::span("postgres.query").start().end();
/// }
///
/// tracer.span("GET /orders/{id}").in_scope(load_order(7)).await;
///
/// let spans = sink.spans();
/// let (query, load, request) = (&spans[0], &spans[1], &spans[2]);
/// assert_eq!(load.name, "load_order");
/// assert_eq!(load.parent_span_id, Some(request.span_context.span_id()));
/// assert_eq!(query.parent_span_id, Some(load.span_context.span_id()));
/// assert_eq!(load.events[0].name, "loaded");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TracewireLayer {
    error_events_to_exceptions: bool,
    error_events_to_status: bool,
    /// The most verbose event level that becomes a span event.
    event_level: Level,
}

impl Default for TracewireLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl TracewireLayer {
    /// A layer that converts spans and events, with error-level events as `exception` events
    /// that set error status (as tracing-opentelemetry does by default).
    ///
    /// ```
    /// use tracing_subscriber::layer::SubscriberExt;
    /// let subscriber = tracing_subscriber::registry()
    ///     .with(tracewire::integrations::tracing::TracewireLayer::new());
    /// # drop(subscriber);
    /// ```
    pub fn new() -> Self {
        Self {
            error_events_to_exceptions: true,
            error_events_to_status: true,
            event_level: Level::INFO,
        }
    }

    /// The most verbose level of `tracing` events that become span events: `INFO` by default,
    /// so that the `DEBUG` and `TRACE` chatter of libraries inside a request (hyper, h2,
    /// tower) does not fill every span, whatever the subscriber's own filter lets through.
    ///
    /// ```
    /// # use tracewire::integrations::tracing::TracewireLayer;
    /// let layer = TracewireLayer::new().event_level(tracing::Level::DEBUG);
    /// # drop(layer);
    /// ```
    #[must_use]
    pub fn event_level(mut self, level: Level) -> Self {
        self.event_level = level;
        self
    }

    /// Whether an error-level event becomes an `exception` event (`exception.message` its
    /// message, plus its fields) rather than an event named by its message. On by default.
    ///
    /// ```
    /// # use tracewire::integrations::tracing::TracewireLayer;
    /// let layer = TracewireLayer::new().error_events_to_exceptions(false);
    /// # drop(layer);
    /// ```
    #[must_use]
    pub fn error_events_to_exceptions(mut self, enabled: bool) -> Self {
        self.error_events_to_exceptions = enabled;
        self
    }

    /// Whether an error-level event sets the span's status to error, with the event's message
    /// as its description. On by default.
    ///
    /// ```
    /// # use tracewire::integrations::tracing::TracewireLayer;
    /// let layer = TracewireLayer::new().error_events_to_status(false);
    /// # drop(layer);
    /// ```
    #[must_use]
    pub fn error_events_to_status(mut self, enabled: bool) -> Self {
        self.error_events_to_status = enabled;
        self
    }
}

/// A converted span, kept in the `tracing` span's extensions until the span closes.
struct Bridged {
    span: Span,
    /// `otel.status_code` and `otel.status_description` may be recorded separately, in any
    /// order: each is kept until the other comes.
    status_code: Option<StatusCode>,
    status_description: Option<String>,
}

impl Bridged {
    /// Sets the status `fields` (just recorded) say, with what earlier records said.
    fn update_status(&mut self, fields: &mut SpanFields) {
        if fields.status_code.is_none() && fields.status_description.is_none() {
            return;
        }
        if fields.status_code.is_some() {
            self.status_code = fields.status_code;
        }
        if fields.status_description.is_some() {
            self.status_description = fields.status_description.take();
        }
        fields.status_code = self.status_code;
        fields.status_description = self.status_description.clone();
        if let Some(status) = fields.status() {
            self.span.set_status(status);
        }
    }
}

/// The current tracewire span, if it records.
fn current_recording() -> Option<SpanRef> {
    with_current(|current| {
        let span = current.span();
        span.is_recording().then(|| span.clone())
    })
    .flatten()
}

/// Whether a recording tracewire span is current: a thread-local read, no copies.
fn recording_is_current() -> bool {
    with_current(|current| current.span().is_recording()).unwrap_or(false)
}

impl<S> tracing_subscriber::Layer<S> for TracewireLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        // An explicit parent that was converted is the parent; otherwise the current span.
        let explicit_parent = attrs.parent().and_then(|parent| {
            let parent = ctx.span(parent)?;
            let extensions = parent.extensions();
            let bridged = extensions.get::<Bridged>()?;
            bridged.span.is_recording().then(|| bridged.span.handle())
        });
        if explicit_parent.is_none() && !recording_is_current() {
            return;
        }
        let Some(registered) = ctx.span(id) else {
            return;
        };
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        let name = fields
            .name
            .take()
            .unwrap_or(Cow::Borrowed(attrs.metadata().name()));
        let mut builder = match &explicit_parent {
            Some(parent) => parent.child(name),
            None => crate::span(name),
        };
        if let Some(kind) = fields.kind {
            builder.kind(kind);
        }
        let span = builder.attributes(fields.attributes.drain(..)).start();
        let mut bridged = Bridged {
            span,
            status_code: None,
            status_description: None,
        };
        bridged.update_status(&mut fields);
        registered.extensions_mut().insert(bridged);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(registered) = ctx.span(id) else {
            return;
        };
        let mut extensions = registered.extensions_mut();
        let Some(bridged) = extensions.get_mut::<Bridged>() else {
            return;
        };
        let mut fields = SpanFields::default();
        values.record(&mut fields);
        if let Some(name) = fields.name.take() {
            bridged.span.update_name(name);
        }
        // The kind is the sampler's input, fixed at start: a later `otel.kind` is ignored.
        if !fields.attributes.is_empty() {
            bridged.span.set_attribute_list(fields.attributes.drain(..));
        }
        bridged.update_status(&mut fields);
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(registered) = ctx.span(id) else {
            return;
        };
        let guard = match registered.extensions().get::<Bridged>() {
            Some(bridged) => bridged.span.enter(),
            None => return,
        };
        let refused = ENTERED
            .try_with(|entered| match entered.try_borrow_mut() {
                Ok(mut entered) => {
                    entered.push((id.clone(), guard));
                    None
                }
                Err(_) => Some(guard),
            })
            .unwrap_or(None);
        // The thread is exiting or re-entered this layer: nothing to restore later, so
        // restore now rather than leave the span current.
        drop(refused);
    }

    fn on_exit(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        let guard = ENTERED
            .try_with(|entered| {
                let mut entered = entered.try_borrow_mut().ok()?;
                // Nothing entered on this thread: the span was not converted.
                let at = entered.iter().rposition(|(entered, _)| entered == id)?;
                Some(entered.remove(at).1)
            })
            .ok()
            .flatten();
        // Restores the context that was current when the span was entered; dropped outside
        // the borrow, as it flushes this thread's local spans.
        drop(guard);
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        // `tracing` orders levels by verbosity: TRACE is the greatest.
        let metadata = event.metadata();
        if *metadata.level() > self.event_level || metadata.target() == DIAGNOSTICS_TARGET {
            return;
        }
        let target = match event.parent() {
            Some(parent) => bridged_handle(&ctx, parent),
            None if event.is_contextual() => current_recording().or_else(|| {
                ctx.lookup_current()
                    .and_then(|span| bridged_handle(&ctx, &span.id()))
            }),
            None => None,
        };
        let Some(span) = target else {
            return;
        };
        let mut fields = EventFields::default();
        event.record(&mut fields);
        let is_error = *metadata.level() == Level::ERROR;
        let message = fields.message.take();
        if is_error && self.error_events_to_status {
            span.set_status(Status::Error {
                message: message.clone().unwrap_or_default().into(),
            });
        }
        let mut attributes = fields.attributes;
        attributes.push(KeyValue::new(
            "level",
            Value::String(Cow::Borrowed(metadata.level().as_str())),
        ));
        attributes.push(KeyValue::new(
            "target",
            Value::String(Cow::Borrowed(metadata.target())),
        ));
        let name: Cow<'static, str> = if is_error && self.error_events_to_exceptions {
            if let Some(message) = message {
                attributes.push(KeyValue::new(semconv::EXCEPTION_MESSAGE, message));
            }
            Cow::Borrowed(semconv::EXCEPTION_EVENT)
        } else {
            message.map_or(Cow::Borrowed(metadata.name()), Cow::Owned)
        };
        span.add_event(name, attributes);
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(registered) = ctx.span(&id) else {
            return;
        };
        // Taken out, so that the span ends here (the registry would drop it later anyway).
        let bridged = registered.extensions_mut().remove::<Bridged>();
        drop(bridged);
    }
}

/// A handle to the converted span of `id`, if it was converted.
fn bridged_handle<S>(ctx: &LayerContext<'_, S>, id: &Id) -> Option<SpanRef>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let registered = ctx.span(id)?;
    let extensions = registered.extensions();
    extensions
        .get::<Bridged>()
        .map(|bridged| bridged.span.handle())
}
