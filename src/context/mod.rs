//! The trace context that travels with a request: [`SpanContext`] (ids, [`TraceFlags`],
//! [`TraceState`]) and [`Baggage`].
//!
//! A `SpanContext` identifies one span of one trace and says whether the trace is sampled; it
//! is what `traceparent`, `b3`, `uber-trace-id` and `X-Amzn-Trace-Id` carry. `Baggage` is the
//! application's own key/value pairs that travel beside it.

mod baggage;
mod trace_state;

use std::fmt;

pub use baggage::{Baggage, BaggageEntry, BaggageError, BaggageProperty};
pub(crate) use baggage::{
    MAX_BYTES as MAX_BAGGAGE_BYTES, MAX_LIST_MEMBERS, percent_decode, percent_encode_into,
};
pub use trace_state::{TraceState, TraceStateError};

use crate::id::{SpanId, TraceId};

/// The trace flags of W3C Trace Context (§3.2.2.5): `sampled` (`0x01`) and, from Level 2,
/// `random` (`0x02`).
///
/// Flags this version does not define are zeroed on construction, so they are never sent on
/// (§3.2.2.5.3: "Vendors MUST set those to zero").
///
/// # Example
///
/// ```
/// use tracewire::TraceFlags;
///
/// let flags = TraceFlags::from_bits(0xff);
/// assert_eq!(flags.bits(), 0x03);
/// assert!(flags.is_sampled() && flags.is_random());
/// assert!(!flags.with_sampled(false).is_sampled());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// No flag set: not sampled, trace id not known to be random.
    pub const NONE: Self = Self(0);
    /// The caller may have recorded this trace (§3.2.2.5.1).
    pub const SAMPLED: Self = Self(0x01);
    /// At least the right-most 7 bytes of the trace id are random (§3.2.2.5.2, Level 2).
    pub const RANDOM: Self = Self(0x02);

    const DEFINED: u8 = Self::SAMPLED.0 | Self::RANDOM.0;

    /// The flags from the header byte, keeping only the flags this version defines.
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits & Self::DEFINED)
    }

    /// The flags as the byte written in `traceparent`.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether the `sampled` flag is set.
    pub const fn is_sampled(self) -> bool {
        self.0 & Self::SAMPLED.0 != 0
    }

    /// Whether the `random` flag is set.
    pub const fn is_random(self) -> bool {
        self.0 & Self::RANDOM.0 != 0
    }

    /// These flags with `sampled` set or cleared.
    #[must_use]
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            Self(self.0 | Self::SAMPLED.0)
        } else {
            Self(self.0 & !Self::SAMPLED.0)
        }
    }

    /// These flags with `random` set or cleared.
    #[must_use]
    pub const fn with_random(self, random: bool) -> Self {
        if random {
            Self(self.0 | Self::RANDOM.0)
        } else {
            Self(self.0 & !Self::RANDOM.0)
        }
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

/// The identity of one span within a trace, as it crosses process boundaries.
///
/// Both ids are always valid (never all zeros). `remote` says the context was extracted from
/// an incoming request rather than created in this process.
///
/// Two hints come from formats other than W3C and are kept so that they travel on:
/// [`is_debug`](Self::is_debug) (B3's `d` / `X-B3-Flags: 1`, Jaeger's debug bit) and
/// [`is_sampling_deferred`](Self::is_sampling_deferred) (B3 without a sampling state, X-Ray's
/// `Sampled=?`: the caller left the decision to us).
///
/// # Example
///
/// ```
/// use tracewire::{SpanContext, TraceFlags};
///
/// let root = SpanContext::new_root(true);
/// assert!(root.flags().is_sampled() && root.flags().is_random());
///
/// let child = root.new_child();
/// assert_eq!(child.trace_id(), root.trace_id());
/// assert_ne!(child.span_id(), root.span_id());
/// assert_eq!(child.flags(), root.flags());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanContext {
    trace_id: TraceId,
    span_id: SpanId,
    flags: TraceFlags,
    state: TraceState,
    remote: bool,
    debug: bool,
    sampling_deferred: bool,
}

impl SpanContext {
    /// A context from its parts, with an empty trace state, not remote, no hints.
    pub fn new(trace_id: TraceId, span_id: SpanId, flags: TraceFlags) -> Self {
        Self {
            trace_id,
            span_id,
            flags,
            state: TraceState::default(),
            remote: false,
            debug: false,
            sampling_deferred: false,
        }
    }

    /// The context of a new trace: random ids, the `random` flag set (the id generator makes
    /// every byte random, §3.2.2.5.2), and `sampled` as given.
    pub fn new_root(sampled: bool) -> Self {
        let flags = TraceFlags::RANDOM.with_sampled(sampled);
        Self::new(TraceId::random(), SpanId::random(), flags)
    }

    /// The context of a child span in this process: same trace, flags, state and hints, a new
    /// span id, not remote.
    ///
    /// A deferred sampling decision stays deferred until a sampler makes it.
    #[must_use]
    pub fn new_child(&self) -> Self {
        Self {
            span_id: SpanId::random(),
            remote: false,
            ..self.clone()
        }
    }

    /// The trace this span belongs to.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// This span's id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The trace flags.
    pub fn flags(&self) -> TraceFlags {
        self.flags
    }

    /// The vendor-specific `tracestate` list.
    pub fn state(&self) -> &TraceState {
        &self.state
    }

    /// A mutable reference to the `tracestate` list, e.g. to set this vendor's own key.
    pub fn state_mut(&mut self) -> &mut TraceState {
        &mut self.state
    }

    /// Whether the context was extracted from an incoming request.
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// Whether the trace is marked for debug (B3, Jaeger); debug implies sampled.
    pub fn is_debug(&self) -> bool {
        self.debug
    }

    /// Whether the caller left the sampling decision to this service (B3 without a sampling
    /// state, X-Ray `Sampled=?`). The `sampled` flag is then unset and means nothing yet.
    pub fn is_sampling_deferred(&self) -> bool {
        self.sampling_deferred
    }

    /// This context with other flags.
    #[must_use]
    pub fn with_flags(mut self, flags: TraceFlags) -> Self {
        self.flags = flags;
        self
    }

    /// This context with a trace state.
    #[must_use]
    pub fn with_state(mut self, state: TraceState) -> Self {
        self.state = state;
        self
    }

    /// This context marked as extracted from an incoming request, or not.
    #[must_use]
    pub fn with_remote(mut self, remote: bool) -> Self {
        self.remote = remote;
        self
    }

    /// This context marked for debug; debug also sets `sampled`.
    #[must_use]
    pub fn with_debug(mut self, debug: bool) -> Self {
        self.debug = debug;
        if debug {
            self.flags = self.flags.with_sampled(true);
            self.sampling_deferred = false;
        }
        self
    }

    /// This context with the sampling decision left to this service, or made: a deferred
    /// context is not sampled until a sampler says so.
    #[must_use]
    pub fn with_sampling_deferred(mut self, deferred: bool) -> Self {
        self.sampling_deferred = deferred;
        if deferred {
            self.flags = self.flags.with_sampled(false);
        }
        self
    }
}

/// How much of a hostile header a parser still reads: bytes of header lines and list members
/// visited. A parser takes from it as it goes and stops when it runs out, so the work a header
/// costs stays within a small multiple of the largest valid one ("scan, don't build").
pub(crate) struct ScanBudget {
    /// Header bytes still to read.
    pub(crate) bytes: usize,
    /// List members still to visit.
    pub(crate) members: usize,
}

impl ScanBudget {
    /// The part of `line` within the byte budget, cut after its last whole member (at a
    /// comma), so that no member is read truncated; `None` when nothing of it is left to read.
    pub(crate) fn take_line<'a>(&mut self, line: &'a [u8]) -> Option<&'a [u8]> {
        if line.len() <= self.bytes {
            self.bytes -= line.len();
            return Some(line);
        }
        let cut = line[..self.bytes].iter().rposition(|&b| b == b',')?;
        self.bytes = 0;
        Some(&line[..cut])
    }

    /// Takes the whole of `line`, if it is within the byte budget.
    pub(crate) fn take_whole_line(&mut self, line: &[u8]) -> bool {
        let fits = line.len() <= self.bytes;
        if fits {
            self.bytes -= line.len();
        }
        fits
    }

    /// Counts one list member visited; `false` once the budget is spent.
    pub(crate) fn take_member(&mut self) -> bool {
        #[cfg(test)]
        count_visited_member();
        let left = self.members > 0;
        self.members = self.members.saturating_sub(1);
        left
    }
}

#[cfg(test)]
thread_local! {
    /// List members the header parsers of this thread visited, for the tests that bound them.
    static VISITED_MEMBERS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
pub(crate) fn count_visited_member() {
    VISITED_MEMBERS.with(|n| n.set(n.get() + 1));
}

/// How many list members the header parsers visited while `f` ran on this thread.
#[cfg(test)]
pub(crate) fn visited_members_during(f: impl FnOnce()) -> usize {
    let before = VISITED_MEMBERS.with(std::cell::Cell::get);
    f();
    VISITED_MEMBERS.with(std::cell::Cell::get) - before
}

/// Strips the spaces and tabs (OWS, RFC 9110 §5.6.3) around a header value or list member.
pub(crate) fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}
