//! Local spans: children of the current span for synchronous code on one thread, kept in a
//! thread-local buffer and handed to the sink a batch at a time.
//!
//! A [`Span`](super::Span) can move between threads and be shared, so it lives in an
//! allocation of its own and is handed to the sink alone when it ends. Most spans inside a
//! request are neither: a parse, a cache lookup, a query's encoding, timed in the code that
//! runs them. A [`LocalSpan`] is for those (fastrace's `LocalSpan` is the model): it stays on
//! its thread, its open state is an entry in a thread-local stack, and when it ends it joins
//! the thread's finished spans. Those go to the sink together, in their compact form
//! ([`LocalSpans`]): when the scope that made a span current ends (the end of an instrumented
//! future's poll, a [`ContextGuard`](super::ContextGuard) dropped), when
//! [`FINISHED_KEPT`] have gathered, when one ends [`LONGEST_WAIT`] after the first of them,
//! when the thread ends, or on [`Tracer::force_flush`] and [`Tracer::shutdown`] from that
//! thread.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::marker::PhantomData;

use super::{Tracer, current};
use crate::context::SpanContext;
use crate::id::SpanId;
use crate::span::{KeyValue, LocalRecord, LocalSpans, Status, Value};

/// Local spans a thread keeps before handing them to the sink.
pub(crate) const FINISHED_KEPT: usize = 64;

/// The longest an ended local span waits for others before the next one to end hands them
/// over.
const LONGEST_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Open local spans a thread keeps at most; beyond this (local spans leaked with
/// `mem::forget`, or a runaway recursion), new ones record nothing.
const OPEN_KEPT: usize = 64;

thread_local! {
    /// Whether this thread has ended local spans not handed over yet: checked at the end of
    /// every poll of a traced future or body, so it is a plain flag rather than the collector
    /// (whose destructor makes every access check the thread-local's state).
    static ENDED_WAITING: Cell<bool> = const { Cell::new(false) };
    /// Whether this thread has open local spans: checked by every child span started with
    /// `tracewire::span`, for the same reason.
    static ANY_OPEN: Cell<bool> = const { Cell::new(false) };
    static LOCAL: RefCell<Collector> = const {
        RefCell::new(Collector {
            records: Vec::new(),
            open: Vec::new(),
            tracer: None,
            first_ended: None,
        })
    };
}

/// This thread's local spans. A span's record is written in place when it starts, and its
/// times when it ends: nothing is moved on the way.
struct Collector {
    /// Every local span of `tracer` not yet handed to the sink, open or ended, in start order.
    records: Vec<LocalRecord>,
    /// The open ones, innermost last.
    open: Vec<Open>,
    tracer: Option<Tracer>,
    /// When the oldest ended record ended.
    first_ended: Option<quanta::Instant>,
}

struct Open {
    /// Its place in `records`.
    record: usize,
    start: quanta::Instant,
    /// The span that was current when this one started: a local span is the parent of later
    /// ones only while the same span is current (not for another task's on this thread).
    current_span_id: SpanId,
    /// Ended while a span it encloses was still open (ends out of order).
    ended: bool,
}

/// A span for synchronous work on one thread, started as a child of the current span (or of
/// the innermost local span open under it): cheaper than a [`Span`](super::Span), because it
/// never leaves its thread.
///
/// It is not `Send`, and ends when dropped, in the code that started it. Hold it across no
/// `.await`: use a [`Span`](super::Span) (`tracewire::span(..).in_scope(..)`) for async work.
/// It records a name, attributes and a status (kind internal); a span that needs events,
/// links or another kind is a [`Span`](super::Span).
/// It is recorded when a child span's data would reach the sink: its parent records and the
/// sampler keeps it (a record-only span only for a sink that takes those). With no recording
/// span current it records nothing and costs next to nothing; nor does one started while a
/// local span of another tracer is open on the thread. Spans started with
/// [`tracewire::span`](fn@crate::span) while it is open are its children, and so are the
/// CLIENT spans of outgoing calls made from it.
///
/// Finished local spans reach the sink in batches (see [`LocalSpans`]): when the scope that
/// made their parent current ends, every 64 spans, when one ends 100 ms after the first
/// of a batch (a context attached for a long run), when the thread ends, or on
/// [`Tracer::force_flush`] from the same thread.
///
/// # Example
///
/// ```
/// use tracewire::sink::MemorySink;
/// use tracewire::Tracer;
///
/// let sink = MemorySink::new();
/// let tracer = Tracer::builder().sink(sink.clone()).build();
/// let request = tracer.span("POST /orders").start();
/// {
///     let _entered = request.enter();
///     let validate = tracewire::local_span("validate order");
///     validate.set_attribute("order.items", 3_i64);
///     drop(validate);
/// }
/// request.end();
///
/// let spans = sink.spans();
/// assert_eq!(spans[0].name, "validate order");
/// assert_eq!(spans[0].parent_span_id, Some(spans[1].span_context.span_id()));
/// ```
#[must_use = "a local span ends when it is dropped"]
pub struct LocalSpan {
    /// Its place in this thread's open stack; `usize::MAX` when it records nothing.
    index: usize,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for LocalSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSpan")
            .field("recording", &self.is_recording())
            .finish()
    }
}

/// Starts a [`LocalSpan`], the child of the current span (or of the innermost local span open
/// under it); records nothing when no recording span is current.
///
/// ```
/// let span = tracewire::local_span("parse header");
/// assert!(!span.is_recording()); // no current span here
/// ```
pub fn local_span(name: impl Into<Cow<'static, str>>) -> LocalSpan {
    let name = name.into();
    // Not returned with the index: a large return value is read back from the stack right
    // after it was written in other pieces, which stalls every local span's start.
    let mut handed_over = None;
    let started = current::with_current(|current| {
        let (tracer, current) = current.span().recording_parts()?;
        with_collector(|local| local.start(tracer, current, name, &mut handed_over)).flatten()
    });
    // Handed to the sink only now, with this thread's slots free again: a sink may use them.
    hand_over(handed_over);
    LocalSpan {
        index: started.flatten().unwrap_or(usize::MAX),
        _not_send: PhantomData,
    }
}

/// Another tracer's ended spans, to hand to its sink.
type Batch = Option<(Tracer, LocalSpans)>;

impl Collector {
    /// Starts a local span under `current` (or under the innermost local span open under it);
    /// returns its place in the open stack. The ended spans of another tracer, which a batch
    /// cannot hold with this one's, go to `handed_over`.
    fn start(
        &mut self,
        tracer: &Tracer,
        current: &SpanContext,
        name: Cow<'static, str>,
        handed_over: &mut Batch,
    ) -> Option<usize> {
        if self.open.len() >= OPEN_KEPT {
            return None;
        }
        let other_tracer = !self
            .tracer
            .as_ref()
            .is_some_and(|kept| kept.same_as(tracer));
        if other_tracer && !self.open.is_empty() {
            // Local spans of two tracers nested on one thread: this one records nothing.
            return None;
        }
        let current_span_id = current.span_id();
        let parent = self.innermost(current_span_id).unwrap_or(current);
        let context = tracer.start_local(parent, &name)?;
        if !context.flags().is_sampled() && !tracer.sink_wants_record_only() {
            // Recorded only, for a sink that does not take such spans: it ends here.
            tracer.count_local(1, 1);
            return None;
        }
        let parent_span_id = parent.span_id();
        // The tracer is kept only with a record: a thread-local must not keep a sink alive.
        if other_tracer {
            *handed_over = self.take_ended();
            self.tracer = Some(tracer.clone());
        }
        if self.records.capacity() == 0 {
            self.records.reserve_exact(FINISHED_KEPT);
        }
        self.records.push(LocalRecord {
            name,
            span_context: context,
            parent_span_id,
            start_unix_nanos: 0,
            end_unix_nanos: 0,
            attributes: Vec::new(),
            dropped_attributes: 0,
            status: None,
        });
        self.open.push(Open {
            record: self.records.len() - 1,
            start: tracer.now(),
            current_span_id,
            ended: false,
        });
        ANY_OPEN.with(|any| any.set(true));
        Some(self.open.len() - 1)
    }

    /// The context of the innermost open local span started under the current span.
    fn innermost(&self, current_span_id: SpanId) -> Option<&SpanContext> {
        let open = self
            .open
            .iter()
            .rev()
            .find(|open| !open.ended && open.current_span_id == current_span_id)?;
        Some(&self.records[open.record].span_context)
    }

    /// Ends the local span at `index` in the open stack; returns a batch to hand to the sink
    /// when enough have gathered.
    fn end(&mut self, index: usize) -> Option<(Tracer, LocalSpans)> {
        let tracer = self.tracer.as_ref()?;
        let open = self.open.get_mut(index).filter(|open| !open.ended)?;
        let end = tracer.now();
        open.ended = true;
        let (record, start) = (open.record, open.start);
        let record = &mut self.records[record];
        record.start_unix_nanos = tracer.unix_nanos(start);
        record.end_unix_nanos =
            record.start_unix_nanos + end.saturating_duration_since(start).as_nanos() as u64;
        while self.open.last().is_some_and(|open| open.ended) {
            self.open.pop();
        }
        ANY_OPEN.with(|any| any.set(!self.open.is_empty()));
        ENDED_WAITING.with(|waiting| waiting.set(true));
        // A thread whose context stays current for long (a job's root span entered for its
        // whole run) reaches no scope's end: its spans go over when they have waited long
        // enough, whatever their number.
        let first_ended = *self.first_ended.get_or_insert(end);
        let waited = end.saturating_duration_since(first_ended) >= LONGEST_WAIT;
        (waited || self.ended_count() >= FINISHED_KEPT).then(|| self.take_ended())?
    }

    /// How many records have ended.
    fn ended_count(&self) -> usize {
        self.records.len() - self.open.iter().filter(|open| !open.ended).count()
    }

    /// Takes the ended spans, with their tracer, to hand to the sink once this thread's
    /// buffer is no longer borrowed (a sink may start spans). Open ones stay.
    fn take_ended(&mut self) -> Option<(Tracer, LocalSpans)> {
        if self.records.is_empty() {
            return None;
        }
        let tracer = self.tracer.as_ref()?;
        self.first_ended = None;
        let mut spans = std::mem::take(&mut self.records);
        if !self.open.is_empty() {
            // Rare (a flush while local spans are open): they stay, at new places.
            for open in self.open.iter_mut().filter(|open| !open.ended) {
                let record = &mut spans[open.record];
                self.records.push(LocalRecord {
                    name: std::mem::take(&mut record.name),
                    span_context: record.span_context.clone(),
                    parent_span_id: record.parent_span_id,
                    start_unix_nanos: 0,
                    end_unix_nanos: 0,
                    attributes: std::mem::take(&mut record.attributes),
                    dropped_attributes: record.dropped_attributes,
                    status: std::mem::take(&mut record.status),
                });
                record.end_unix_nanos = u64::MAX; // moved: not handed over
                open.record = self.records.len() - 1;
            }
            spans.retain(|record| record.end_unix_nanos != u64::MAX);
        }
        let tracer = match self.open.is_empty() {
            // Nothing left that needs the tracer: a thread-local must not keep a sink alive.
            true => self.tracer.take()?,
            false => tracer.clone(),
        };
        let record_only = spans
            .iter()
            .filter(|record| !record.span_context.flags().is_sampled())
            .count();
        tracer.count_local(spans.len(), record_only);
        let spans = LocalSpans {
            resource: tracer.resource_arc(),
            scope: tracer.scope_arc(),
            spans,
        };
        Some((tracer, spans))
    }
}

/// Runs `f` with this thread's collector; `None` if the thread is ending or the collector is in
/// use further up the stack (a sink starting spans while it takes a batch).
#[inline(always)]
fn with_collector<R>(f: impl FnOnce(&mut Collector) -> R) -> Option<R> {
    LOCAL
        .try_with(|local| local.try_borrow_mut().ok().map(|mut local| f(&mut local)))
        .ok()
        .flatten()
}

/// Hands a batch to its tracer's sink.
fn hand_over(batch: Option<(Tracer, LocalSpans)>) {
    if let Some((tracer, spans)) = batch {
        tracer.sink().on_end_local(spans);
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        // The thread ends: what it finished still goes to the sink; a span still open
        // (leaked) has no end to report.
        for open in self.open.drain(..).filter(|open| !open.ended) {
            self.records[open.record].end_unix_nanos = u64::MAX;
        }
        self.records
            .retain(|record| record.end_unix_nanos != u64::MAX);
        hand_over(self.take_ended());
    }
}

/// Hands this thread's ended local spans to their sink.
pub(crate) fn flush_local() {
    if !ENDED_WAITING.with(Cell::take) {
        return;
    }
    let taken = LOCAL
        .try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else {
                // In use further up this thread's stack (a sink starting spans): later.
                ENDED_WAITING.with(|waiting| waiting.set(true));
                return None;
            };
            if local.ended_count() == 0 {
                return None;
            }
            local.take_ended()
        })
        .ok()
        .flatten();
    hand_over(taken);
}

/// The context of the innermost local span open under the current span (for spans started
/// with [`tracewire::span`](fn@crate::span)).
pub(crate) fn innermost_context(current_span_id: SpanId) -> Option<SpanContext> {
    if !ANY_OPEN.with(Cell::get) {
        return None;
    }
    LOCAL
        .try_with(|local| {
            let local = local.try_borrow().ok()?;
            local.innermost(current_span_id).cloned()
        })
        .ok()
        .flatten()
}

impl LocalSpan {
    /// Whether the span records what is set on it.
    pub fn is_recording(&self) -> bool {
        self.index != usize::MAX
    }

    /// Sets an attribute (replacing an earlier value of the key), within the span limits.
    pub fn set_attribute(&self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        self.with_open(|record, tracer| {
            let limits = tracer.limits();
            limits.set_attribute(
                &mut record.attributes,
                &mut record.dropped_attributes,
                limits.attribute_count,
                KeyValue::new(key, value),
            );
        });
    }

    /// Sets the status. Per OpenTelemetry, `Ok` is final and `Unset` never overrides.
    pub fn set_status(&self, status: Status) {
        self.with_open(|record, _| match (record.status.as_deref(), &status) {
            (Some(Status::Ok), _) | (_, Status::Unset) => {}
            _ => record.status = Some(Box::new(status)),
        });
    }

    /// Ends the span now.
    pub fn end(self) {
        drop(self);
    }

    fn with_open(&self, f: impl FnOnce(&mut LocalRecord, &Tracer)) {
        if !self.is_recording() {
            return;
        }
        with_collector(|local| {
            let open = local.open.get(self.index).filter(|open| !open.ended);
            if let (Some(open), Some(tracer)) = (open, &local.tracer) {
                f(&mut local.records[open.record], tracer);
            }
        });
    }
}

impl Drop for LocalSpan {
    fn drop(&mut self) {
        if !self.is_recording() {
            return;
        }
        hand_over(with_collector(|local| local.end(self.index)).flatten());
    }
}
