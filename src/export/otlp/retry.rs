//! Retrying failed exports as the OTLP specification says ("OTLP/HTTP Throttling" and
//! "Failures" for HTTP, "OTLP/gRPC Throttling" and "Failures" for gRPC).

use std::time::{Duration, Instant, SystemTime};

/// When and how often a failed export is tried again. Only outcomes the OTLP specification
/// calls retryable are retried (HTTP 429, 502, 503, 504 and connection failures; gRPC
/// `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE`, `DATA_LOSS`, and
/// `RESOURCE_EXHAUSTED` with `RetryInfo`). A server's `Retry-After` or `RetryInfo` delay is
/// waited exactly; otherwise the wait grows exponentially from `initial_backoff` up to
/// `max_backoff`, with ±20% jitter so that many clients do not retry in step. Retrying stops
/// after `max_attempts` attempts or when the next attempt would start later than
/// `max_elapsed` after the first.
///
/// Retries are on by default. Keep `max_elapsed` below the batch sink's export timeout
/// ([`BatchConfig::export_timeout`](crate::sink::BatchConfig::export_timeout), 30 s), which
/// bounds the whole export, retries included.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tracewire::export::otlp::RetryPolicy;
///
/// let quick = RetryPolicy {
///     max_elapsed: Duration::from_secs(5),
///     ..RetryPolicy::default()
/// };
/// assert_eq!(quick.max_attempts, 5);
/// assert_eq!(RetryPolicy::disabled().max_attempts, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 turns retries off.
    pub max_attempts: u32,
    /// The wait before the first retry when the server names none.
    pub initial_backoff: Duration,
    /// The longest wait between attempts when the server names none.
    pub max_backoff: Duration,
    /// How much the wait grows per attempt.
    pub multiplier: f64,
    /// No attempt starts later than this after the first one.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// Five attempts, waits of 1 s growing by 1.5× up to 5 s, at most 20 s in all (the
    /// OpenTelemetry Java exporter's backoff). The exporter's timeout bounds each batch's
    /// export, retries included, so with the default 10 s timeout that comes first.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
            multiplier: 1.5,
            max_elapsed: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// No retries: every export is tried once.
    pub fn disabled() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

/// How one attempt ended.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The receiver took the request; `rejected` spans of it were refused (partial success).
    Accepted { rejected: u64, message: String },
    /// A retryable failure; `after` is the delay the server asked for.
    Retryable {
        after: Option<Duration>,
        error: String,
    },
    /// A failure that retrying cannot fix.
    Permanent(String),
}

/// Runs `attempt` until it is accepted, fails permanently, or `policy` says stop; returns the
/// accepted outcome or the last error.
pub(crate) async fn with_retries<F, Fut>(
    policy: &RetryPolicy,
    mut attempt: F,
) -> Result<(u64, String), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    let started = Instant::now();
    let mut backoff = policy.initial_backoff;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (after, error) = match attempt().await {
            Attempt::Accepted { rejected, message } => return Ok((rejected, message)),
            Attempt::Permanent(error) => return Err(error),
            Attempt::Retryable { after, error } => (after, error),
        };
        if attempts >= policy.max_attempts.max(1) {
            return Err(format!("{error} (gave up after {attempts} attempts)"));
        }
        let wait = after.unwrap_or_else(|| jittered(backoff));
        // Checked: a server may name any delay, and a policy any bound.
        let next_start = started.elapsed().checked_add(wait);
        if next_start.is_none_or(|start| start > policy.max_elapsed) {
            return Err(format!(
                "{error} (gave up: the next attempt, in {wait:?}, would pass the retry time \
                 limit of {:?})",
                policy.max_elapsed
            ));
        }
        crate::diagnostics::debug!("tracewire: export failed ({error}); retrying in {wait:?}");
        tokio::time::sleep(wait).await;
        backoff = scaled(backoff, policy.multiplier.max(1.0)).min(policy.max_backoff);
    }
}

/// `wait` ±20%.
fn jittered(wait: Duration) -> Duration {
    let unit = (crate::id::SpanId::random().to_u64() >> 11) as f64 / (1u64 << 53) as f64;
    scaled(wait, 0.8 + 0.4 * unit)
}

/// `wait × factor`, saturating instead of panicking as `Duration::mul_f64` does on overflow
/// or a factor that is not finite.
fn scaled(wait: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(wait.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

/// The delay of a `Retry-After` header (RFC 9110 §10.2.3): whole seconds, or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = parse_http_date(value)?;
    Some(
        date.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form RFC 9110 §5.6.7 says senders
/// use; the obsolete forms are not read (the delay is then the client's own backoff).
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':');
    let hour: u64 = clock.next()?.parse().ok()?;
    let minute: u64 = clock.next()?.parse().ok()?;
    let second: u64 = clock.next()?.parse().ok()?;
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 || !(1970..=9999).contains(&year) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(784_111_777))
        );
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        for bad in [
            "",
            "-1",
            "soon",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 99 Nov 1994",
        ] {
            assert_eq!(parse_retry_after(bad), None, "{bad}");
        }
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        for _ in 0..1000 {
            let wait = jittered(Duration::from_secs(1));
            assert!(wait >= Duration::from_millis(800) && wait <= Duration::from_millis(1200));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn absurd_delays_and_policies_give_up_instead_of_panicking() {
        let policy = RetryPolicy {
            multiplier: f64::INFINITY,
            max_backoff: Duration::MAX,
            max_elapsed: Duration::MAX,
            initial_backoff: Duration::from_secs(u64::MAX / 2),
            ..RetryPolicy::default()
        };
        let result = with_retries(&policy, || async {
            Attempt::Retryable {
                after: parse_retry_after("18446744073709551615"),
                error: "503".into(),
            }
        })
        .await;
        assert!(result.unwrap_err().contains("gave up"));
        let result = with_retries(&policy, || async {
            Attempt::Retryable {
                after: None,
                error: "503".into(),
            }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(scaled(Duration::MAX, 2.0), Duration::MAX);
        assert_eq!(scaled(Duration::from_secs(1), f64::NAN), Duration::MAX);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_permanent_errors_and_after_max_attempts() {
        let policy = RetryPolicy::default();
        let mut calls = 0;
        let result = with_retries(&policy, || {
            calls += 1;
            async { Attempt::Permanent("400 Bad Request".into()) }
        })
        .await;
        assert_eq!((result.is_err(), calls), (true, 1));

        let mut calls = 0;
        let result = with_retries(&policy, || {
            calls += 1;
            async {
                Attempt::Retryable {
                    after: None,
                    error: "503".into(),
                }
            }
        })
        .await;
        assert!(result.unwrap_err().contains("gave up"));
        assert_eq!(calls, 5);
    }
}
