//! Configuration from `OTEL_*` environment variables, with warnings that are never silent.
//!
//! The OpenTelemetry environment-variable specification says a bad value is warned about and
//! the default used, never a crash. tracewire does that, and also returns every warning to the
//! caller in a [`Configured`] value, whose [`strict`](Configured::strict) turns them into an
//! error for start-up checks. Every configuration read this way implements [`FromEnv`].

use std::fmt;

use crate::untrusted::{MAX_SHOWN, Untrusted};

/// A bad configuration value that was replaced by its default or ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The environment variable, e.g. `OTEL_PROPAGATORS`.
    pub variable: &'static str,
    /// The bad value as it was set (or the bad part of it).
    pub value: String,
    /// What was done instead and which values are accepted.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The value is whatever the environment held, and the message may quote part of it:
        // both are shown bounded and escaped, so that a stray newline or a megabyte of it
        // cannot break or flood the log line.
        let value = Untrusted::new(&self.value);
        let message = Untrusted::bounded(&self.message, 2 * MAX_SHOWN);
        write!(f, "{}=\"{value}\": {message}", self.variable)
    }
}

/// A configured value and the warnings raised while reading its configuration.
///
/// # Example
///
/// ```
/// use tracewire::propagation::CompositePropagator;
///
/// let configured = CompositePropagator::from_env_with(|name| {
///     (name == "OTEL_PROPAGATORS").then(|| "tracecontext,zipkin".to_string())
/// });
/// assert_eq!(configured.warnings.len(), 1);
/// assert!(configured.warnings[0].to_string().contains("zipkin"));
/// assert!(configured.strict().is_err());
/// ```
#[derive(Debug)]
pub struct Configured<T> {
    /// The value, with every bad setting replaced by its default.
    pub value: T,
    /// One warning per bad setting, each naming the variable, the value and what is accepted.
    pub warnings: Vec<ConfigWarning>,
}

impl<T> Configured<T> {
    /// A configured value; each warning is also logged at `warn` level through the `log`
    /// crate, so that it reaches the service's logs even if the caller ignores it.
    pub(crate) fn logged(value: T, warnings: Vec<ConfigWarning>) -> Self {
        for warning in &warnings {
            crate::diagnostics::warning!("tracewire: {warning}");
        }
        Self { value, warnings }
    }

    /// The value, or an error listing every warning if there was any (strict mode).
    pub fn strict(self) -> Result<T, ConfigError> {
        if self.warnings.is_empty() {
            Ok(self.value)
        } else {
            Err(ConfigError {
                warnings: self.warnings,
            })
        }
    }
}

/// A value read from `OTEL_*` environment variables, each bad setting warned about and replaced
/// by its default.
///
/// A type says how it reads itself ([`read_env`](Self::read_env)); the trait reads the process
/// environment ([`from_env`](Self::from_env)) or any other source
/// ([`from_env_with`](Self::from_env_with)) and logs every warning at `warn` level as well as
/// returning it in the [`Configured`] value.
///
/// tracewire's configurations ([`BatchConfig`](crate::sink::BatchConfig),
/// [`CompositePropagator`](crate::propagation::CompositePropagator), and with their features
/// `OtlpConfig` and `ZipkinConfig`) implement it, and also have `from_env` and `from_env_with`
/// of their own, which document their variables and need no import. Import the trait to read
/// one generically, or to read several and log their warnings together: `read_env` logs
/// nothing.
///
/// # Example
///
/// ```
/// use tracewire::config::{ConfigWarning, FromEnv};
/// use tracewire::sink::BatchConfig;
///
/// /// The number of workers, from `WORKERS`; 4 when unset or not a number.
/// struct Workers(u64);
///
/// impl FromEnv for Workers {
///     fn read_env(lookup: &impl Fn(&str) -> Option<String>) -> (Self, Vec<ConfigWarning>) {
///         let Some(raw) = lookup("WORKERS") else {
///             return (Workers(4), Vec::new());
///         };
///         match raw.trim().parse() {
///             Ok(n) => (Workers(n), Vec::new()),
///             Err(_) => {
///                 let message = "expected a whole number; using 4".to_string();
///                 let warning = ConfigWarning { variable: "WORKERS", value: raw, message };
///                 (Workers(4), vec![warning])
///             }
///         }
///     }
/// }
///
/// let lookup = |name: &str| match name {
///     "WORKERS" => Some("many".to_string()),
///     "OTEL_BSP_SCHEDULE_DELAY" => Some("soon".to_string()),
///     _ => None,
/// };
/// let configured = Workers::from_env_with(lookup); // the warning is logged
/// assert_eq!(configured.value.0, 4);
/// let shown = configured.warnings[0].to_string();
/// assert_eq!(shown, r#"WORKERS="many": expected a whole number; using 4"#);
///
/// // Read, not logged: the caller decides what to do with the warnings.
/// let (batch, warnings) = BatchConfig::read_env(&lookup);
/// assert_eq!(batch.scheduled_delay, BatchConfig::default().scheduled_delay);
/// assert_eq!(warnings[0].variable, "OTEL_BSP_SCHEDULE_DELAY");
/// ```
pub trait FromEnv: Sized {
    /// The value and the warnings raised while reading it through `lookup`, not yet logged
    /// (for a caller that reads more and logs once).
    fn read_env(lookup: &impl Fn(&str) -> Option<String>) -> (Self, Vec<ConfigWarning>);

    /// The value from the process environment; every warning is logged and returned.
    fn from_env() -> Configured<Self> {
        Self::from_env_with(process_env)
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup` (for tests, or
    /// configuration that does not come from the process environment).
    fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Configured<Self> {
        let (value, warnings) = Self::read_env(&lookup);
        Configured::logged(value, warnings)
    }
}

/// Configuration that strict mode refused: every bad setting found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The bad settings, in the order they were read.
    pub warnings: Vec<ConfigWarning>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid tracing configuration")?;
        for (i, warning) in self.warnings.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{warning}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Reads a variable from the process environment. A value that is not valid UTF-8 is read
/// lossily, so that it reaches the validation (and its warning) instead of vanishing.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// A boolean as the environment-variable specification defines it: only `true` (any case) is
/// true; `false`, empty and unset are false; anything else is false with a warning.
pub(crate) fn read_bool(
    lookup: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<ConfigWarning>,
    name: &'static str,
) -> bool {
    lookup(name).is_some_and(|raw| parse_bool(name, raw, warnings))
}

/// [`read_bool`] for a value already looked up (of variable `name`).
pub(crate) fn parse_bool(
    name: &'static str,
    raw: String,
    warnings: &mut Vec<ConfigWarning>,
) -> bool {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" => true,
        "false" | "" => false,
        _ => {
            warnings.push(ConfigWarning {
                variable: name,
                value: raw,
                message: "expected true or false; using false".into(),
            });
            false
        }
    }
}

/// Reads a whole-number variable of at least `min`; anything else warns and gives `default`.
pub(crate) fn read_number(
    lookup: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<ConfigWarning>,
    name: &'static str,
    default: u64,
    min: u64,
) -> u64 {
    let Some(raw) = lookup(name).filter(|v| !v.trim().is_empty()) else {
        return default;
    };
    match raw.trim().parse::<u64>() {
        Ok(value) if value >= min => value,
        _ => {
            warnings.push(ConfigWarning {
                variable: name,
                value: raw,
                message: format!(
                    "expected a whole number of at least {min}; using the default {default}"
                ),
            });
            default
        }
    }
}
