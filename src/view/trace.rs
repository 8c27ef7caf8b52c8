//! [`Trace`] and [`Node`]: one assembled trace, its spans in tree order, and what the analysis
//! found (critical path, self time, root cause, error origin, warnings).

use std::fmt;

use crate::id::{SpanId, TraceId};
use crate::span::{SpanData, SpanKind};

/// One trace: its spans as a tree (or several, when parents are missing), with the critical
/// path, self times and marks computed. Made by [`assemble`](super::assemble).
///
/// The spans are kept in tree order (depth first, children by start time), so a node's
/// subtree is the [`subtree_len`](Node::subtree_len) nodes starting at its own index, and
/// [`Node::children`] and [`Node::parent`] are indices into [`spans`](Self::spans).
///
/// # Example
///
/// ```
/// use tracewire::view;
///
/// let line = r#"{"service":"api","name":"GET /","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","startTimeUnixNano":1000000000,"endTimeUnixNano":1005000000}"#;
/// let trace = &view::assemble(view::read_spans(line).spans)[0];
/// assert_eq!(trace.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(trace.duration_nanos(), 5_000_000);
/// assert_eq!(trace.spans()[0].span().name, "GET /");
/// assert_eq!(trace.to_string(), "Trace: 4bf92f3577b34da6a3ce929d0e0e4736 (total: 5ms)\n├── [api] GET / 5ms\n└── 1 span, 1 service\n");
/// ```
#[derive(Clone, Debug)]
pub struct Trace {
    pub(super) trace_id: TraceId,
    pub(super) nodes: Vec<Node>,
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) warnings: Vec<Warning>,
    pub(super) root_cause: Option<usize>,
    pub(super) error_origin: Option<usize>,
}

impl Trace {
    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// When the earliest span started, in nanoseconds since the Unix epoch.
    pub fn start_unix_nanos(&self) -> u64 {
        self.start
    }

    /// From the earliest start to the latest end of any span: the trace's total.
    pub fn duration_nanos(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Every span, in tree order: each root (by start time), then its subtree depth first.
    pub fn spans(&self) -> &[Node] {
        &self.nodes
    }

    /// The roots: spans without a parent, and orphans (whose parent never arrived).
    pub fn roots(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.parent.is_none())
    }

    /// The span with this id.
    pub fn find(&self, span_id: SpanId) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| n.span.span_context.span_id() == span_id)
    }

    /// Where the time went: the critical-path span with the largest self time (see the
    /// [module docs](crate::view#marks)). `None` for a trace of one span.
    pub fn root_cause(&self) -> Option<&Node> {
        self.root_cause.and_then(|i| self.nodes.get(i))
    }

    /// Where the error started: the error span none of whose children failed that ended first
    /// (see the [module docs](crate::view#marks)). `None` when no span failed.
    pub fn error_origin(&self) -> Option<&Node> {
        self.error_origin.and_then(|i| self.nodes.get(i))
    }

    /// What looked wrong while assembling: spans outside their parent, duplicate ids, parent
    /// cycles.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

/// One span of a [`Trace`], with its place in the tree and what the analysis found.
///
/// # Example
///
/// ```
/// use tracewire::view;
///
/// let lines = r#"{"service":"api","name":"GET /","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","startTimeUnixNano":0,"endTimeUnixNano":10000000}
/// {"service":"db","name":"SELECT","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b8","parentSpanId":"00f067aa0ba902b7","startTimeUnixNano":2000000,"endTimeUnixNano":9000000}"#;
/// let trace = &view::assemble(view::read_spans(lines).spans)[0];
/// let [api, db] = trace.spans() else { unreachable!() };
/// assert_eq!(api.children(), &[1]);
/// assert_eq!((api.self_nanos(), db.self_nanos()), (3_000_000, 7_000_000));
/// assert!(db.is_on_critical_path() && db.is_root_cause());
/// assert_eq!(db.critical_path_share(), 0.7);
/// ```
#[derive(Clone, Debug)]
pub struct Node {
    pub(super) span: SpanData,
    pub(super) depth: usize,
    pub(super) parent: Option<usize>,
    pub(super) children: Vec<usize>,
    pub(super) subtree_len: usize,
    pub(super) orphan: bool,
    pub(super) starts_before_parent: u64,
    pub(super) ends_after_parent: u64,
    pub(super) self_nanos: u64,
    pub(super) critical_nanos: u64,
    pub(super) critical_share: f64,
    pub(super) on_critical_path: bool,
    pub(super) root_cause: bool,
    pub(super) slow: bool,
    pub(super) error_origin: bool,
}

impl Node {
    pub(super) fn new(span: SpanData) -> Self {
        Self {
            span,
            depth: 0,
            parent: None,
            children: Vec::new(),
            subtree_len: 1,
            orphan: false,
            starts_before_parent: 0,
            ends_after_parent: 0,
            self_nanos: 0,
            critical_nanos: 0,
            critical_share: 0.0,
            on_critical_path: false,
            root_cause: false,
            slow: false,
            error_origin: false,
        }
    }

    /// The span.
    pub fn span(&self) -> &SpanData {
        &self.span
    }

    /// How deep in its tree: 0 for a root.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The index of the parent in [`Trace::spans`]; `None` for a root or an orphan.
    pub fn parent(&self) -> Option<usize> {
        self.parent
    }

    /// The indices of the children in [`Trace::spans`], by start time.
    pub fn children(&self) -> &[usize] {
        &self.children
    }

    /// How many spans this subtree holds, this one included; they follow each other in
    /// [`Trace::spans`] from this node on.
    pub fn subtree_len(&self) -> usize {
        self.subtree_len
    }

    /// Whether the span's parent never arrived: it is shown as a root of its own.
    pub fn is_orphan(&self) -> bool {
        self.orphan
    }

    /// How long the span started before its parent did (0 when it did not): clock skew
    /// between hosts. Reported, never corrected.
    pub fn starts_before_parent_nanos(&self) -> u64 {
        self.starts_before_parent
    }

    /// How long the span ended after its parent did (0 when it did not): clock skew, or work
    /// left running after the parent answered.
    pub fn ends_after_parent_nanos(&self) -> u64 {
        self.ends_after_parent
    }

    /// The span's duration minus the union of its children's intervals (each clipped to the
    /// span): the time spent in the span itself.
    pub fn self_nanos(&self) -> u64 {
        self.self_nanos
    }

    /// How much of the critical path runs in this span itself.
    pub fn critical_path_nanos(&self) -> u64 {
        self.critical_nanos
    }

    /// [`critical_path_nanos`](Self::critical_path_nanos) over the trace's total, from 0 to 1.
    pub fn critical_path_share(&self) -> f64 {
        self.critical_share
    }

    /// Whether the critical path passes through this span.
    pub fn is_on_critical_path(&self) -> bool {
        self.on_critical_path
    }

    /// Whether this is the trace's [root cause](Trace::root_cause).
    pub fn is_root_cause(&self) -> bool {
        self.root_cause
    }

    /// Whether this span is marked slow: the call that waited on the root cause (see the
    /// [module docs](crate::view#marks)).
    pub fn is_slow(&self) -> bool {
        self.slow
    }

    /// Whether this is where the trace's [error started](Trace::error_origin).
    pub fn is_error_origin(&self) -> bool {
        self.error_origin
    }

    pub(super) fn span_id(&self) -> SpanId {
        self.span.span_context.span_id()
    }

    /// Start and end, the end never before the start.
    pub(super) fn interval(&self) -> (u64, u64) {
        let start = self.span.start_unix_nanos;
        (start, self.span.end_unix_nanos.max(start))
    }
}

/// Something that looked wrong while assembling a trace. Spans are never moved or lost
/// because of it.
///
/// # Example
///
/// ```
/// use tracewire::view::{self, Warning};
///
/// let line = r#"{"service":"api","name":"GET /","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","startTimeUnixNano":0,"endTimeUnixNano":1}"#;
/// let trace = &view::assemble(view::read_spans(&format!("{line}\n{line}")).spans)[0];
/// assert!(matches!(trace.warnings(), [Warning::DuplicateSpanId { .. }]));
/// assert_eq!(trace.spans().len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A span starts before its parent or ends after it: clock skew between hosts, or work
    /// left running after the parent answered. The span stays where its timestamps put it.
    OutsideParent {
        /// The span.
        span_id: SpanId,
        /// Its parent.
        parent_span_id: SpanId,
        /// How long before the parent it started (0 if it did not).
        starts_before_nanos: u64,
        /// How long after the parent it ended (0 if it did not).
        ends_after_nanos: u64,
    },
    /// Several spans have this id; the first one arrived is kept, the others are dropped.
    DuplicateSpanId {
        /// The id.
        span_id: SpanId,
        /// The name of the dropped span.
        dropped_name: String,
    },
    /// Parent links go round in a circle; this span is shown as an orphan root to break it.
    ParentCycle {
        /// The span shown as a root.
        span_id: SpanId,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutsideParent {
                span_id,
                parent_span_id,
                starts_before_nanos,
                ends_after_nanos,
            } => {
                write!(f, "span {span_id}")?;
                if *starts_before_nanos > 0 {
                    let early = super::text::human_duration(*starts_before_nanos);
                    write!(f, " starts {early} before")?;
                }
                if *ends_after_nanos > 0 {
                    let late = super::text::human_duration(*ends_after_nanos);
                    let and = if *starts_before_nanos > 0 { " and" } else { "" };
                    write!(f, "{and} ends {late} after")?;
                }
                write!(
                    f,
                    " its parent {parent_span_id} (clock skew, or work left running)"
                )
            }
            Self::DuplicateSpanId {
                span_id,
                dropped_name,
            } => write!(
                f,
                "duplicate span id {span_id}: the later span {:?} was dropped",
                super::text::clean(dropped_name)
            ),
            Self::ParentCycle { span_id } => {
                write!(
                    f,
                    "parent links form a cycle; span {span_id} shown as a root"
                )
            }
        }
    }
}

impl fmt::Display for Trace {
    /// The trace as text with [`TextOptions::default`](super::TextOptions::default).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&super::TextOptions::default()))
    }
}

/// The SERVER span that answered the CLIENT span at `client`, when that is the client span's
/// only child: the two halves of one call between services, which the text draws as one line
/// and the `slow` mark treats as one step.
pub(super) fn call_answered_by(nodes: &[Node], client: usize) -> Option<usize> {
    let node = &nodes[client];
    match node.children.as_slice() {
        [server]
            if node.span.kind == SpanKind::Client
                && nodes[*server].span.kind == SpanKind::Server =>
        {
            Some(*server)
        }
        _ => None,
    }
}
