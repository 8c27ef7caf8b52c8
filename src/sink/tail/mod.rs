//! Tail sampling: keep every trace that failed or was slow, plus an honest baseline of the
//! rest, decided once each trace is complete.
//!
//! Head sampling decides when a request starts, before anyone knows how it will end. A
//! [`TailSink`] decides after: the head records every span but samples only a small baseline
//! ([`Sampler::always_record`](crate::sampling::Sampler::always_record)), the tail sink
//! buffers each trace's spans, and when the trace is complete its [`TailPolicy`] says whether
//! to forward them all to the sink behind it (an exporter, the tree sink) or drop them all.
//!
//! # Example: the recipe
//!
//! Always record, sample 2% at the head, and keep every erroring trace and every trace over
//! 500 ms:
//!
//! ```
//! use std::time::Duration;
//! use tracewire::Tracer;
//! use tracewire::sampling::Sampler;
//! use tracewire::sink::{MemorySink, SpanSink};
//! use tracewire::sink::tail::{Policy, TailPolicy, TailSink};
//!
//! let exporter = MemorySink::new(); // in production: OtlpExporter::…(…).batched()
//! let tail = TailSink::new(
//!     exporter.clone(),
//!     TailPolicy::new()
//!         .rule("errors", Policy::errors())
//!         .rule("slow", Policy::latency(Duration::from_millis(500)))
//!         .rule("baseline", Policy::keep_head_sampled()),
//! );
//! let tracer = Tracer::builder()
//!     .service_name("checkout")
//!     .sampler(Sampler::always_record(Sampler::parent_based(
//!         Sampler::consistent_probability(0.02),
//!     )))
//!     .sink(tail.clone())
//!     .build();
//!
//! for _ in 0..100 {
//!     tracer.span("GET /cart").start().end();
//! }
//! tracer.shutdown(Duration::from_secs(5)).unwrap();
//!
//! // About 2 of the 100 kept, each carrying `ot=th` for 2%, so a backend counts 100.
//! let stats = tail.tail_stats();
//! assert!(stats.balances());
//! assert_eq!(stats.traces_kept + stats.traces_dropped, 100);
//! ```
//!
//! # When a trace is decided
//!
//! - When its root span ends (a span without a parent).
//! - When its local root ends (a span whose parent is in another process), after
//!   [`TailConfig::remote_root_wait`]: 0 by default, for a service of its own; longer where
//!   several services share the sink, so that the caller's spans are waited for.
//! - At once, when a span arrives that makes a rule keep the trace for certain (an error, a
//!   span over a latency threshold): the trace is forwarded, and its later spans stream
//!   through.
//! - Otherwise [`TailConfig::decision_wait`] after its first span, on what has arrived.
//! - At shutdown, on what has arrived, or not at all ([`OnShutdown`]).
//!
//! Spans that arrive after their trace was decided follow the decision (a bounded cache of
//! recent decisions, kept traces looked up first).
//!
//! # Policies and honest counts
//!
//! [`Policy`] lists what a rule can keep: errors, latency, attribute values, span counts,
//! probabilistic (the same randomness and thresholds as the head's consistent probability
//! sampler, so the tail keeps exactly the traces the head would), the head's own decision,
//! a rate limit, dynamic per-key sampling, and and/or/not of those. Each kept span names its
//! rule in `sampling.rule` and carries the decision's threshold in `ot=th`, from which a
//! backend counts the traces it stands for: `th:0` for the certain rules, the probability's
//! threshold for the probabilistic ones, erased where the probability is unknown.
//! [`TailStats`] keeps the same estimates per rule.
//!
//! Rules can be built in code or read from a TOML file (`TailFile`, feature `toml`).
//!
//! # What an in-process tail sink can and cannot decide
//!
//! It sees only its own service's spans of a trace. If the error or the slowness is in another
//! service, this one cannot know it; and the services of one trace decide apart unless they
//! share the sink. Where all of a trace's spans meet, the same code decides on the whole
//! trace: services in one process sharing one sink, or a collector that feeds the sink the
//! spans an OTLP receiver takes in (set [`TailConfig::remote_root_wait`] there).

mod buffer;
mod cache;
mod config;
mod decider;
mod dynamic;
#[cfg(feature = "toml")]
mod file;
mod matchers;
mod policy;
mod rate_limit;
mod rules;
mod sink;
mod size;
mod stats;
mod threshold;
mod verdict;
mod view;

pub use config::{OnShutdown, TailConfig};
pub use dynamic::Dynamic;
#[cfg(feature = "toml")]
pub use file::{PolicyError, TailFile};
pub use matchers::{AttributeMatch, Errors};
pub use policy::Policy;
pub use rules::TailPolicy;
pub use sink::TailSink;
pub use stats::{RuleStats, ShutdownReport, TailStats};
