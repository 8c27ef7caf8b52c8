//! tracewire's own diagnostics (a bad setting, spans lost, a tracer without a sink) reach the
//! logging stack a service already has: `tracing` events with the `tracing` feature (on by
//! default), which `tracing` turns into `log` records when no `tracing` subscriber is
//! installed; `log` records without the feature. Either way their target is `tracewire`.
//!
//! What loses spans is also counted, for a service without any logger: see
//! [`Tracer::health`](crate::Tracer::health).

/// A diagnostic at `$level` (`warn`, `error`, `debug`: macros of that name exist in both
/// `tracing` and `log`), to whichever of the two this build uses.
macro_rules! at_level {
    ($level:ident, $($arg:tt)+) => {{
        #[cfg(feature = "tracing")]
        ::tracing::$level!(target: "tracewire", $($arg)+);
        #[cfg(not(feature = "tracing"))]
        ::log::$level!(target: "tracewire", $($arg)+);
    }};
}

/// A diagnostic at `warn` level.
macro_rules! warning {
    ($($arg:tt)+) => { $crate::diagnostics::at_level!(warn, $($arg)+) };
}

/// A diagnostic at `error` level.
macro_rules! error {
    ($($arg:tt)+) => { $crate::diagnostics::at_level!(error, $($arg)+) };
}

/// A diagnostic at `debug` level (only the exporters have any).
#[cfg(feature = "otlp")]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::diagnostics::at_level!(debug, $($arg)+) };
}

#[cfg(feature = "otlp")]
pub(crate) use debug;
pub(crate) use {at_level, error, warning};
