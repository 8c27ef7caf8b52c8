//! A development sink that prints each trace as a tree when its local root span ends.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::gate::ShutdownGate;
use super::{SinkError, SinkStats, SpanSink};
use crate::id::{SpanId, TraceId};
use crate::span::SpanData;
use crate::view::{self, Heading, TextOptions};

/// Prints each trace as a tree (see [`view`](crate::view)) when its local root span ends: a
/// span without a parent, or whose parent is in another process. For development: one look at
/// the terminal shows where a request's time went.
///
/// ```text
/// Trace: 4bf92f3577b34da6a3ce929d0e0e4736 (total: 31ms)
/// ├── [orders] POST /orders 31ms
/// │   ├── [orders] validate 1ms
/// │   └── [orders] INSERT orders 28ms  ← root cause
/// └── 3 spans, 1 service; root cause: [orders] INSERT orders (28ms self, 90% of the trace)
/// ```
///
/// Spans are held until the span above them ends: a local root prints its subtree (a root
/// without a parent prints everything held for its trace). A span ending after its trace was
/// printed, such as work left running after the response, prints under `(continued)` once the
/// span above it in this process has ended. [`force_flush`](SpanSink::force_flush) and
/// [`shutdown`](SpanSink::shutdown) print whatever is still held.
///
/// Memory is bounded: at most 256 traces held at once (the oldest is dropped to make room)
/// and 5 000 spans per trace ([`with_limits`](Self::with_limits)); dropped spans are counted in
/// [`SinkStats::dropped_queue_full`], printed ones in [`SinkStats::exported`].
///
/// Printing happens on the thread that ends the span which completes a tree, under a lock
/// only printing takes (spans ending elsewhere meanwhile are not held up by it). That is fine
/// for development; in production, use an exporter behind a [`BatchSink`](super::BatchSink).
///
/// # Example
///
/// ```
/// use std::io::Write;
/// use std::sync::{Arc, Mutex};
/// use tracewire::Tracer;
/// use tracewire::sink::TreeSink;
///
/// #[derive(Clone, Default)]
/// struct Captured(Arc<Mutex<Vec<u8>>>);
/// impl Write for Captured {
///     fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
///         self.0.lock().unwrap().write(bytes)
///     }
///     fn flush(&mut self) -> std::io::Result<()> {
///         Ok(())
///     }
/// }
///
/// let out = Captured::default();
/// let tracer = Tracer::builder()
///     .service_name("orders")
///     .sink(TreeSink::to_writer(out.clone())) // or TreeSink::stdout()
///     .build();
/// let request = tracer.span("POST /orders").start();
/// request.child("INSERT orders").start().end();
/// request.end();
///
/// let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
/// assert!(text.starts_with("Trace: "));
/// assert!(text.contains("├── [orders] POST /orders "));
/// assert!(text.contains("│   └── [orders] INSERT orders "));
/// ```
#[derive(Clone)]
pub struct TreeSink {
    options: TextOptions,
    max_traces: usize,
    max_spans_per_trace: usize,
    shared: Arc<Shared>,
}

struct Shared {
    held: Mutex<Held>,
    out: Mutex<Box<dyn Write + Send>>,
    gate: ShutdownGate,
    taken: AtomicU64,
    printed: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

/// Spans waiting for the span above them, and what was printed of recent traces.
#[derive(Default)]
struct Held {
    pending: HashMap<TraceId, Vec<SpanData>>,
    /// Traces in the order they were first held, to drop the oldest; may name traces no longer
    /// held (skipped then, and pruned).
    arrival: VecDeque<TraceId>,
    /// The spans printed of recent traces, so that later spans are known to continue them.
    printed: HashMap<TraceId, HashSet<SpanId>>,
    printed_order: VecDeque<TraceId>,
}

impl TreeSink {
    /// Prints to standard output, in colour when it is a terminal (and `NO_COLOR` is unset),
    /// as [`TextOptions::for_terminal`] says.
    pub fn stdout() -> Self {
        Self::to_writer(std::io::stdout()).with_options(TextOptions::for_terminal())
    }

    /// Prints to `writer` (a file, a buffer in a test), without colours.
    pub fn to_writer(writer: impl Write + Send + 'static) -> Self {
        Self {
            options: TextOptions::default(),
            max_traces: 256,
            max_spans_per_trace: 5_000,
            shared: Arc::new(Shared {
                held: Mutex::default(),
                out: Mutex::new(Box::new(writer)),
                gate: ShutdownGate::default(),
                taken: AtomicU64::new(0),
                printed: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        }
    }

    /// This sink drawing trees with `options`.
    #[must_use]
    pub fn with_options(mut self, options: TextOptions) -> Self {
        self.options = options;
        self
    }

    /// This sink holding at most `traces` traces at once and `spans_per_trace` spans of each
    /// (at least 1 of each).
    #[must_use]
    pub fn with_limits(mut self, traces: usize, spans_per_trace: usize) -> Self {
        self.max_traces = traces.max(1);
        self.max_spans_per_trace = spans_per_trace.max(1);
        self
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        self.shared
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn drop_spans(&self, count: usize) {
        self.shared
            .dropped
            .fetch_add(count as u64, Ordering::Relaxed);
    }

    /// Holds `span`; returns what to print if it completes a tree.
    fn take(&self, span: SpanData) -> Option<(Vec<SpanData>, Heading)> {
        let trace_id = span.span_context.trace_id();
        let mut held = self.held();
        let held = &mut *held;
        let printed_before = held.printed.get(&trace_id);
        let parent_printed = match (span.parent_span_id, printed_before) {
            (Some(parent), Some(printed)) => printed.contains(&parent),
            _ => false,
        };
        let heading = match printed_before {
            Some(_) => Heading::Continued,
            None => Heading::Local,
        };
        let whole_trace = span.parent_span_id.is_none();
        let completes = whole_trace || span.parent_is_remote || parent_printed;
        if completes && !held.pending.contains_key(&trace_id) {
            // Nothing held for it (a lone span): printed at once, no room taken.
            let tree = vec![span];
            self.remember_printed(held, trace_id, &tree);
            return Some((tree, heading));
        }

        if !held.pending.contains_key(&trace_id) {
            if held.pending.len() >= self.max_traces {
                self.drop_oldest(held);
            }
            held.arrival.push_back(trace_id);
            if held.arrival.len() > 2 * self.max_traces {
                let pending = &held.pending;
                held.arrival.retain(|t| pending.contains_key(t));
            }
        }
        let spans = held.pending.entry(trace_id).or_default();
        // A span completing a tree is taken even over the limit: it is the one the tree hangs on.
        if spans.len() >= self.max_spans_per_trace && !completes {
            self.drop_spans(1);
            return None;
        }
        let span_id = span.span_context.span_id();
        spans.push(span);
        if !completes {
            return None;
        }

        let all = std::mem::take(spans);
        let (tree, rest) = if whole_trace {
            (all, Vec::new())
        } else {
            subtree(all, span_id)
        };
        match rest.is_empty() {
            true => {
                held.pending.remove(&trace_id);
            }
            false => {
                held.pending.insert(trace_id, rest);
            }
        }
        self.remember_printed(held, trace_id, &tree);
        Some((tree, heading))
    }

    fn drop_oldest(&self, held: &mut Held) {
        while let Some(oldest) = held.arrival.pop_front() {
            if let Some(spans) = held.pending.remove(&oldest) {
                self.drop_spans(spans.len());
                return;
            }
        }
    }

    fn remember_printed(&self, held: &mut Held, trace_id: TraceId, spans: &[SpanData]) {
        if !held.printed.contains_key(&trace_id) {
            if held.printed.len() >= self.max_traces {
                if let Some(oldest) = held.printed_order.pop_front() {
                    held.printed.remove(&oldest);
                }
            }
            held.printed_order.push_back(trace_id);
        }
        let ids = held.printed.entry(trace_id).or_default();
        let room = self.max_spans_per_trace.saturating_sub(ids.len());
        ids.extend(spans.iter().take(room).map(|s| s.span_context.span_id()));
    }

    /// Renders and writes spans of one trace, outside the lock that holds spans.
    fn print(&self, spans: Vec<SpanData>, heading: Heading) {
        let count = spans.len() as u64;
        let text: String = view::assemble(spans)
            .iter()
            .map(|trace| trace.render_with(&self.options, heading))
            .collect();
        let mut out = self
            .shared
            .out
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let counter = match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => &self.shared.printed,
            Err(_) => &self.shared.failed,
        };
        counter.fetch_add(count, Ordering::Relaxed);
    }

    /// Prints every span still held.
    fn print_held(&self) -> Result<(), SinkError> {
        let batches: Vec<(Vec<SpanData>, Heading)> = {
            let mut held = self.held();
            let held = &mut *held;
            held.arrival.clear();
            let pending = std::mem::take(&mut held.pending);
            pending
                .into_iter()
                .map(|(trace_id, spans)| {
                    let heading = match held.printed.contains_key(&trace_id) {
                        true => Heading::Continued,
                        false => Heading::Local,
                    };
                    self.remember_printed(held, trace_id, &spans);
                    (spans, heading)
                })
                .collect()
        };
        let failed_before = self.shared.failed.load(Ordering::Relaxed);
        for (spans, heading) in batches {
            self.print(spans, heading);
        }
        match self.shared.failed.load(Ordering::Relaxed) == failed_before {
            true => Ok(()),
            false => Err(SinkError::Export("writing a trace failed".into())),
        }
    }
}

/// Splits `spans` into the subtree under `root` (by parent links among them) and the rest.
fn subtree(spans: Vec<SpanData>, root: SpanId) -> (Vec<SpanData>, Vec<SpanData>) {
    let mut children: HashMap<SpanId, Vec<SpanId>> = HashMap::new();
    for span in &spans {
        if let Some(parent) = span.parent_span_id {
            children
                .entry(parent)
                .or_default()
                .push(span.span_context.span_id());
        }
    }
    let mut inside: HashSet<SpanId> = HashSet::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if inside.insert(id) {
            stack.extend(children.get(&id).into_iter().flatten());
        }
    }
    spans
        .into_iter()
        .partition(|s| inside.contains(&s.span_context.span_id()))
}

impl SpanSink for TreeSink {
    fn on_end(&self, span: SpanData) {
        if self.shared.gate.refuses(1) {
            return;
        }
        self.shared.taken.fetch_add(1, Ordering::Relaxed);
        if let Some((spans, heading)) = self.take(span) {
            self.print(spans, heading);
        }
    }

    /// Prints every span still held, whether or not the span above it ended.
    fn force_flush(&self, _timeout: Duration) -> Result<(), SinkError> {
        self.print_held()
    }

    /// Prints every span still held; later spans are dropped and counted.
    fn shutdown(&self, _timeout: Duration) -> Result<(), SinkError> {
        if !self.shared.gate.close() {
            return Err(SinkError::ShutDown);
        }
        self.print_held()
    }

    fn stats(&self) -> SinkStats {
        let shared = &self.shared;
        SinkStats {
            queued: shared.taken.load(Ordering::Relaxed),
            dropped_queue_full: shared.dropped.load(Ordering::Relaxed),
            dropped_after_shutdown: shared.gate.dropped(),
            exported: shared.printed.load(Ordering::Relaxed),
            export_failed: shared.failed.load(Ordering::Relaxed),
            ..SinkStats::default()
        }
    }
}

impl fmt::Debug for TreeSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TreeSink")
            .field("options", &self.options)
            .field("max_traces", &self.max_traces)
            .field("max_spans_per_trace", &self.max_spans_per_trace)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tracer;
    use crate::context::SpanContext;

    /// A writer whose output the test reads, and that can be told to fail.
    #[derive(Clone, Default)]
    struct Captured {
        bytes: Arc<Mutex<Vec<u8>>>,
        fail: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.fail.load(Ordering::Relaxed) {
                return Err(std::io::Error::other("disk full"));
            }
            self.bytes.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn take(&self) -> String {
            String::from_utf8(std::mem::take(&mut *self.bytes.lock().unwrap())).unwrap()
        }
    }

    fn sink() -> (TreeSink, Captured) {
        let out = Captured::default();
        (TreeSink::to_writer(out.clone()), out)
    }

    fn tracer(sink: &TreeSink, service: &'static str) -> Tracer {
        Tracer::builder()
            .service_name(service)
            .sink(sink.clone())
            .build()
    }

    #[test]
    fn a_trace_prints_when_its_root_ends() {
        let (sink, out) = sink();
        let tracer = tracer(&sink, "orders");
        let root = tracer.span("POST /orders").start();
        let child = root.child("INSERT orders").start();
        child.child("encode").start().end();
        assert_eq!(out.take(), "");
        child.end();
        assert_eq!(out.take(), "");
        root.end();
        let text = out.take();
        let lines: Vec<_> = text.lines().collect();
        assert!(lines[0].starts_with("Trace: "), "{text}");
        assert!(lines[1].starts_with("├── [orders] POST /orders "), "{text}");
        assert!(
            lines[2].starts_with("│   └── [orders] INSERT orders "),
            "{text}"
        );
        assert!(
            lines[3].starts_with("│       └── [orders] encode "),
            "{text}"
        );
        assert!(lines[4].starts_with("└── 3 spans, 1 service"), "{text}");
        let stats = sink.stats();
        assert_eq!((stats.queued, stats.exported, stats.dropped()), (3, 3, 0));
    }

    #[test]
    fn later_spans_print_as_a_continuation_under_what_was_printed() {
        let (sink, out) = sink();
        let tracer = tracer(&sink, "orders");
        let root = tracer.span("POST /orders").start();
        let background = root.child("send receipt").start();
        let step = background.child("render").start();
        root.end();
        assert!(out.take().starts_with("Trace: "));
        // Held until the span above it (not printed yet) ends.
        step.end();
        assert_eq!(out.take(), "");
        background.end();
        let text = out.take();
        assert!(
            text.starts_with("Trace: ") && text.contains("(continued)"),
            "{text}"
        );
        assert!(text.contains("├── [orders] send receipt "), "{text}");
        assert!(text.contains("(under "), "{text}");
        assert!(text.contains("│   └── [orders] render "), "{text}");
    }

    #[test]
    fn a_remote_parent_makes_a_local_root() {
        let (sink, out) = sink();
        let tracer = tracer(&sink, "payment");
        let caller = SpanContext::new_root(true).with_remote(true);
        let server = tracer.span("POST /charge").parent(Some(&caller)).start();
        server.child("stripe").start().end();
        server.end();
        let text = out.take();
        assert!(text.contains("├── [payment] POST /charge "), "{text}");
        assert!(
            text.contains(&format!("(remote parent {})", caller.span_id())),
            "{text}"
        );
        assert!(!text.contains("orphan"), "{text}");
    }

    #[test]
    fn memory_is_bounded_and_evictions_counted() {
        let (sink, out) = sink();
        let sink = sink.with_limits(2, 3);
        let tracer = tracer(&sink, "s");
        // Three traces whose roots never end: the oldest is dropped for the third.
        let roots: Vec<_> = (0..3).map(|_| tracer.span("root").start()).collect();
        for root in &roots {
            root.child("a").start().end();
        }
        assert_eq!(sink.stats().dropped_queue_full, 1);
        // Four spans of one trace: the fourth is over the limit.
        for _ in 0..3 {
            roots[2].child("b").start().end();
        }
        assert_eq!(sink.stats().dropped_queue_full, 2);
        // Its root still prints, with what was held.
        let mut roots = roots;
        roots.pop().unwrap().end();
        let text = out.take();
        assert!(text.contains("└── 4 spans"), "{text}");
        assert_eq!(sink.stats().exported, 4);
    }

    #[test]
    fn flush_prints_what_is_held_and_shutdown_follows_the_contract() {
        let (sink, out) = sink();
        let tracer = tracer(&sink, "s");
        let root = tracer.span("root").start();
        root.child("orphaned").start().end();
        assert_eq!(sink.force_flush(Duration::from_secs(1)), Ok(()));
        let text = out.take();
        assert!(text.contains("[s] orphaned"), "{text}");
        assert!(text.contains("(orphan: parent"), "{text}");

        root.child("again").start().end();
        assert_eq!(sink.shutdown(Duration::from_secs(1)), Ok(()));
        assert!(out.take().contains("(continued)"));
        root.end();
        assert_eq!(out.take(), "");
        let stats = sink.stats();
        assert_eq!((stats.exported, stats.dropped_after_shutdown), (2, 1));
        assert_eq!(
            sink.shutdown(Duration::from_secs(1)),
            Err(SinkError::ShutDown)
        );
    }

    #[test]
    fn write_failures_are_counted() {
        let (sink, out) = sink();
        out.fail.store(true, Ordering::Relaxed);
        let tracer = tracer(&sink, "s");
        tracer.span("root").start().end();
        assert_eq!(sink.stats().export_failed, 1);
    }
}
