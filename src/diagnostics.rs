//! tracewire's own diagnostics (a bad setting, spans lost, a tracer without a sink) reach the
//! logging stack a service already has: `tracing` events with the `tracing` feature (on by
//! default), which `tracing` turns into `log` records when no `tracing` subscriber is
//! installed; `log` records without the feature. Either way their target is `tracewire`.
//!
//! What loses spans is also counted, for a service without any logger: see
//! [`Tracer::health`](crate::Tracer::health).

/// A diagnostic at `warn` level.
macro_rules! warning {
    ($($arg:tt)+) => {{
        #[cfg(feature = "tracing")]
        ::tracing::warn!(target: "tracewire", $($arg)+);
        #[cfg(not(feature = "tracing"))]
        ::crate::diagnostics::warning!(target: "tracewire", $($arg)+);
    }};
}

/// A diagnostic at `error` level.
macro_rules! error {
    ($($arg:tt)+) => {{
        #[cfg(feature = "tracing")]
        ::tracing::error!(target: "tracewire", $($arg)+);
        #[cfg(not(feature = "tracing"))]
        ::crate::diagnostics::error!(target: "tracewire", $($arg)+);
    }};
}

/// A diagnostic at `debug` level.
macro_rules! debug {
    ($($arg:tt)+) => {{
        #[cfg(feature = "tracing")]
        ::tracing::debug!(target: "tracewire", $($arg)+);
        #[cfg(not(feature = "tracing"))]
        ::crate::diagnostics::debug!(target: "tracewire", $($arg)+);
    }};
}

pub(crate) use {debug, error, warning};
