//! The rate-limit policy: at most so many traces a second.

use std::time::Instant;

use super::verdict::Verdict;

/// A token bucket refilled at `per_second`, holding at most one second's worth (at least one
/// token), measured on the sink's monotonic clock: it limits what leaves the sink in real
/// time. Which traces it keeps depends on when they are decided, so its probability is
/// unknown, and the spans it keeps carry no `ot=th` (the specification: stages of unknown
/// probability "must erase the OpenTelemetry threshold value").
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RateLimit {
    pub(crate) per_second: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl RateLimit {
    pub(crate) fn new(per_second: f64) -> Self {
        let per_second = match per_second.is_nan() {
            true => 0.0,
            false => per_second.max(0.0),
        };
        Self {
            per_second,
            tokens: Self::capacity(per_second),
            last: None,
        }
    }

    fn capacity(per_second: f64) -> f64 {
        match per_second > 0.0 {
            true => per_second.max(1.0),
            false => 0.0,
        }
    }

    /// Whether a trace decided at `now` is kept; with `commit`, it takes a token.
    pub(crate) fn evaluate(&mut self, now: Instant, commit: bool) -> Verdict {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens =
                (self.tokens + elapsed * self.per_second).min(Self::capacity(self.per_second));
        }
        self.last = Some(now);
        let kept = self.tokens >= 1.0;
        if kept && commit {
            self.tokens -= 1.0;
        }
        Verdict::Unknown(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn at_most_per_second() {
        let start = Instant::now();
        let mut limit = RateLimit::new(2.0);
        let kept = |limit: &mut RateLimit, at: Duration| {
            (0..10)
                .filter(|_| limit.evaluate(start + at, true) == Verdict::Unknown(true))
                .count()
        };
        assert_eq!(kept(&mut limit, Duration::ZERO), 2);
        assert_eq!(kept(&mut limit, Duration::from_millis(500)), 1);
        assert_eq!(kept(&mut limit, Duration::from_secs(10)), 2);
        // A dry run takes nothing.
        assert_eq!(
            limit.evaluate(start + Duration::from_secs(20), false),
            Verdict::Unknown(true)
        );
        assert_eq!(kept(&mut limit, Duration::from_secs(20)), 2);
        for odd in [f64::NAN, -1.0, 0.0, f64::INFINITY] {
            let mut limit = RateLimit::new(odd);
            limit.evaluate(start, true);
            limit.evaluate(start + Duration::from_secs(1), true);
        }
    }
}
