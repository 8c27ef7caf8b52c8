//! [`TraceIds`]: the current span's ids in every log line `tracing-subscriber` formats.

use std::cell::RefCell;
use std::fmt;

use ::tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::context::SpanContext;
use crate::tracer::{innermost_context, with_current};

thread_local! {
    /// The line being formatted, for the JSON style (reused, so a line costs no allocation).
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// How the ids are written into a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// `trace_id=… span_id=… trace_flags=01 ` before the line.
    Text,
    /// `"trace_id":"…","span_id":"…","trace_flags":"01"` as the object's first members.
    Json,
}

/// An event formatter that writes the current tracewire span's `trace_id`, `span_id` and
/// `trace_flags` (W3C hex, as in `traceparent`) into every log line written inside a traced
/// request, around any other formatter: the user's `info!` calls stay as they are. Lines
/// written outside any span are left as the inner formatter writes them.
///
/// The ids are the current span's: inside a `tracing` span converted by
/// [`TracewireLayer`](super::TracewireLayer), that span's; inside a request, the request
/// span's, or a child's that is current. An unsampled request's lines carry its ids too, with
/// `trace_flags` `00`.
///
/// Why a formatter wrapper: `tracing-subscriber`'s JSON formatter writes only the fields an
/// event or span declared, and a `tracing` span cannot gain fields it did not declare, so a
/// layer cannot add the ids as fields; a wrapper sees the line the formatter writes. For JSON
/// it writes the inner formatter's object into a reused per-thread buffer and adds the ids as
/// its first members (a flat object any log pipeline, Loki's `| json` included, reads); for
/// text it writes `trace_id=… span_id=… trace_flags=01 ` before the line (logfmt pairs,
/// colours kept).
///
/// # Setup: one line
///
/// JSON (`tracing-subscriber`'s `json` feature):
///
/// ```ignore
/// tracing_subscriber::fmt().json().map_event_format(TraceIds::json).init();
/// ```
///
/// Text:
///
/// ```ignore
/// tracing_subscriber::fmt().map_event_format(TraceIds::text).init();
/// ```
///
/// # Example
///
/// ```
/// use tracewire::integrations::tracing::TraceIds;
/// use tracewire::Tracer;
///
/// // A writer that collects the lines, for the example.
/// #[derive(Clone, Default)]
/// struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
/// impl std::io::Write for Lines {
///     fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
///         self.0.lock().unwrap().extend_from_slice(bytes);
///         Ok(bytes.len())
///     }
///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// }
///
/// let lines = Lines::default();
/// let writer = lines.clone();
/// let subscriber = tracing_subscriber::fmt()
///     .map_event_format(TraceIds::text)
///     .with_writer(move || writer.clone())
///     .finish();
/// let _default = tracing::subscriber::set_default(subscriber);
///
/// let tracer = Tracer::builder().build();
/// let request = tracer.span("GET /orders").start();
/// let _entered = request.enter();
/// tracing::info!("order loaded");
///
/// let lines = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
/// let line = lines.lines().find(|line| line.contains("order loaded")).unwrap();
/// let trace_id = request.span_context().unwrap().trace_id();
/// assert!(line.starts_with(&format!("trace_id={trace_id} ")));
/// ```
#[derive(Clone, Debug)]
pub struct TraceIds<F> {
    inner: F,
    style: Style,
}

impl<F> TraceIds<F> {
    /// Around a JSON formatter (`tracing_subscriber::fmt().json()`): the ids become the JSON
    /// object's first members.
    ///
    /// ```
    /// use tracewire::integrations::tracing::TraceIds;
    /// let subscriber = tracing_subscriber::fmt().json().map_event_format(TraceIds::json).finish();
    /// # drop(subscriber);
    /// ```
    pub fn json(inner: F) -> Self {
        Self {
            inner,
            style: Style::Json,
        }
    }

    /// Around a text formatter (`tracing_subscriber::fmt()`, `.compact()`, `.pretty()`): the
    /// ids go before the line, as `trace_id=… span_id=… trace_flags=01 `.
    ///
    /// ```
    /// use tracewire::integrations::tracing::TraceIds;
    /// let subscriber = tracing_subscriber::fmt().map_event_format(TraceIds::text).finish();
    /// # drop(subscriber);
    /// ```
    pub fn text(inner: F) -> Self {
        Self {
            inner,
            style: Style::Text,
        }
    }

    /// The formatter this one wraps.
    ///
    /// ```
    /// use tracewire::integrations::tracing::TraceIds;
    /// let ids = TraceIds::text(tracing_subscriber::fmt::format());
    /// let _inner: &tracing_subscriber::fmt::format::Format = ids.get_ref();
    /// ```
    pub fn get_ref(&self) -> &F {
        &self.inner
    }
}

/// The context whose ids a line carries: the current span's, or the innermost local span's
/// open under it. Never panics, even in a thread-local's destructor.
fn current_ids() -> Option<SpanContext> {
    let context = with_current(|current| current.span().span_context().cloned()).flatten()?;
    Some(innermost_context(context.span_id()).unwrap_or(context))
}

impl<S, N, F> FormatEvent<S, N> for TraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some(ids) = current_ids() else {
            return self.inner.format_event(ctx, writer, event);
        };
        let (trace_id, span_id, flags) = (ids.trace_id(), ids.span_id(), ids.flags().bits());
        match self.style {
            Style::Text => {
                write!(
                    writer,
                    "trace_id={trace_id} span_id={span_id} trace_flags={flags:02x} "
                )?;
                self.inner.format_event(ctx, writer, event)
            }
            Style::Json => {
                let write_line = |line: &mut String, writer: &mut Writer<'_>| -> fmt::Result {
                    line.clear();
                    self.inner.format_event(ctx, Writer::new(line), event)?;
                    match line.strip_prefix('{') {
                        Some(rest) => {
                            writer.write_char('{')?;
                            write!(
                                writer,
                                "\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",\"trace_flags\":\"{flags:02x}\""
                            )?;
                            if !rest.trim_start().starts_with('}') {
                                writer.write_char(',')?;
                            }
                            writer.write_str(rest)
                        }
                        // Not a JSON object: the line as written.
                        None => writer.write_str(line),
                    }
                };
                let reused = LINE
                    .try_with(|line| {
                        let mut line = line.try_borrow_mut().ok()?;
                        Some(write_line(&mut line, &mut writer))
                    })
                    .ok()
                    .flatten();
                // The buffer is in use (a `Debug` impl that logs) or gone: a fresh one.
                reused.unwrap_or_else(|| write_line(&mut String::new(), &mut writer))
            }
        }
    }
}
