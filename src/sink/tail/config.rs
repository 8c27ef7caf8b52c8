//! [`TailConfig`]: how long a tail sink waits and how much it holds.

use std::time::Duration;

/// What a shutdown does with the traces still waiting for a decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnShutdown {
    /// Decide each on the spans that have arrived (the default): an erroring or slow trace
    /// whose root has not ended is still kept.
    #[default]
    DecidePartial,
    /// Drop them: only traces decided on all their spans leave the sink.
    DropPending,
}

/// How long a [`TailSink`](super::TailSink) waits for a trace's spans and how much it holds
/// meanwhile.
///
/// Memory is bounded three ways, whichever is reached first: bytes (an estimate of what the
/// buffered spans hold, counted as they arrive), traces, and spans per trace. Past
/// [`valve_fill`](Self::valve_fill) of either of the first two, new traces are decided by
/// their trace id alone (the overload valve), so a flood cannot grow the buffer further.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tracewire::sink::tail::{OnShutdown, TailConfig};
///
/// let config = TailConfig {
///     decision_wait: Duration::from_secs(10),
///     max_bytes: 16 << 20,
///     on_shutdown: OnShutdown::DropPending,
///     ..TailConfig::default()
/// };
/// assert_eq!(config.max_spans_per_trace, 1_000);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TailConfig {
    /// The longest a trace waits, from its first span, for its root to end (30 s); then it
    /// is decided on what has arrived.
    pub decision_wait: Duration,
    /// How long a local root whose parent is in another process waits, once it has ended, for
    /// the caller's spans (0: decided at once). In a service of its own, its caller's spans
    /// never reach this sink, so waiting only holds memory; where several services share the
    /// sink (services in one process, a collector behind an OTLP receiver) set it to the
    /// longest a caller takes to finish after its callee answered, so that the decision waits
    /// for the true root and covers every service. The wait ends early when the parent span
    /// arrives: the trace then waits for the root above it.
    pub remote_root_wait: Duration,
    /// The buffered spans' size, in bytes, at most (64 MiB).
    pub max_bytes: usize,
    /// Traces waiting for a decision, at most (20,000).
    pub max_traces: usize,
    /// Spans buffered per trace, at most (1,000): later ones are evicted (counted), except
    /// the root, which is the one the decision waits for.
    pub max_spans_per_trace: usize,
    /// Spans handed from the request path to the decider, waiting at most (8,192; at most
    /// 2^20); more are evicted and counted.
    pub queue_size: usize,
    /// The buffer's fill (of bytes or traces, 0 to 1) past which the overload valve decides
    /// new traces by trace id alone (0.9); it closes again below 0.8 of this mark. Above 1 the
    /// valve never opens, and a full buffer evicts instead.
    pub valve_fill: f64,
    /// Decisions remembered for spans that arrive after their trace was decided, for kept and
    /// for dropped traces each (20,000). Kept ones are consulted first, so a late span of a
    /// kept trace is never dropped for a dropped trace's entry.
    pub decision_cache: usize,
    /// What a shutdown does with traces still waiting.
    pub on_shutdown: OnShutdown,
}

impl Default for TailConfig {
    fn default() -> Self {
        Self {
            decision_wait: Duration::from_secs(30),
            remote_root_wait: Duration::ZERO,
            max_bytes: 64 << 20,
            max_traces: 20_000,
            max_spans_per_trace: 1_000,
            queue_size: 8_192,
            valve_fill: 0.9,
            decision_cache: 20_000,
            on_shutdown: OnShutdown::DecidePartial,
        }
    }
}

impl TailConfig {
    /// The largest hand-off queue (its slots are allocated up front).
    pub const MAX_QUEUE_SIZE: usize = 1 << 20;

    /// This configuration with values made usable: sizes at least one, the fill mark above 0.
    pub(crate) fn normalized(mut self) -> Self {
        self.max_bytes = self.max_bytes.max(1);
        self.max_traces = self.max_traces.max(1);
        self.max_spans_per_trace = self.max_spans_per_trace.max(1);
        self.queue_size = self.queue_size.clamp(1, Self::MAX_QUEUE_SIZE);
        self.decision_cache = self.decision_cache.max(1);
        self.valve_fill = match self.valve_fill.is_nan() {
            true => 0.9,
            false => self.valve_fill.max(0.01),
        };
        self
    }
}
