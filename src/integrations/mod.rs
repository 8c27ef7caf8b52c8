//! Integrations with other crates, each behind its cargo feature.

#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "tonic")]
pub mod tonic;
#[cfg(feature = "tracing-bridge")]
pub mod tracing;
