//! The dynamic per-key policy: frequent kinds of traces sampled down, rare ones kept.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use super::threshold::threshold;
use super::verdict::Verdict;
use super::view::TraceView;

/// The dynamic policy: traces are grouped by a key made of their root span's attributes (for
/// example the route and the status code), and each key is kept with a probability of its own,
/// so that frequent keys are sampled down and rare ones kept, toward a target of kept traces a
/// second, as Honeycomb Refinery's dynamic samplers do.
///
/// Every [`interval`](Self::interval) the rates are worked out anew from the traces of each key
/// seen in the last one, as Refinery's total-throughput sampler does: the target per interval
/// is shared out among the keys, a key that needs less than its share is kept whole, and what
/// it leaves over goes to the others. Until the first interval ends, and for a key not seen in
/// the last one, everything is kept.
///
/// Decisions are made as consistent probability sampling makes them: a trace is kept when its
/// randomness (`ot=rv`, else its trace id) reaches the key's threshold, and the kept spans
/// carry that threshold as `ot=th`, so a backend counts each as the number of traces it stands
/// for. The intervals are measured in the spans' own timestamps, not the sink's clock, so
/// replaying the same spans gives the same decisions. (A timestamp far ahead moves that clock
/// by two intervals at most.)
///
/// Keys are bounded ([`max_keys`](Self::max_keys), 500): the traces of any further keys share
/// one.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tracewire::sink::tail::{Policy, TailPolicy};
///
/// // About 5 traces a second in all, spread over the routes and statuses seen.
/// let dynamic = Policy::dynamic(["http.route", "http.response.status_code"], 5.0)
///     .interval(Duration::from_secs(30));
/// let policy = TailPolicy::new().rule("errors", Policy::errors()).rule("by route", dynamic);
/// # let _ = policy;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dynamic {
    keys: Vec<Cow<'static, str>>,
    target_per_second: f64,
    interval_nanos: u64,
    max_keys: usize,
    /// The clock, in span time: the latest trace end seen (clamped, see the type's docs).
    clock: u64,
    window_start: Option<u64>,
    counts: HashMap<String, u64>,
    /// Each key's sample rate (keep 1 in `rate`), from the last interval.
    rates: HashMap<String, f64>,
}

/// The key of traces beyond `max_keys`.
const OTHER_KEY: &str = "\u{0}other";

impl Dynamic {
    /// Traces keyed by the root span's values of `keys`, kept toward `target_per_second` in all.
    pub fn new<K: Into<Cow<'static, str>>>(
        keys: impl IntoIterator<Item = K>,
        target_per_second: f64,
    ) -> Self {
        Self {
            keys: keys.into_iter().map(Into::into).collect(),
            target_per_second: if target_per_second.is_finite() {
                target_per_second.max(0.0)
            } else {
                0.0
            },
            interval_nanos: 30_000_000_000,
            max_keys: 500,
            clock: 0,
            window_start: None,
            counts: HashMap::new(),
            rates: HashMap::new(),
        }
    }

    /// How often the rates are worked out anew (30 s; at least 1 ms).
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        let nanos = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
        self.interval_nanos = nanos.max(1_000_000);
        self
    }

    /// The most keys followed at once (500; at least 1); traces of further keys share one.
    #[must_use]
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.max_keys = keys.max(1);
        self
    }

    /// The trace's key: the root span's values of the key attributes, joined.
    fn key_of(&self, view: &TraceView<'_>) -> String {
        let root = view.root();
        let mut key = String::new();
        for (i, name) in self.keys.iter().enumerate() {
            if i > 0 {
                key.push('\u{1f}');
            }
            if let Some(value) = root.and_then(|r| r.attribute(name)) {
                use std::fmt::Write;
                let _ = write!(key, "{value}");
            }
        }
        key
    }

    /// The verdict for one trace; with `commit`, the trace is counted and the clock moves.
    pub(crate) fn evaluate(&mut self, view: &TraceView<'_>, commit: bool) -> Verdict {
        if commit {
            self.advance(view.end);
        }
        let mut key = self.key_of(view);
        if !self.counts.contains_key(&key) && self.counts.len() >= self.max_keys {
            key = OTHER_KEY.to_owned();
        }
        if commit {
            *self.counts.entry(key.clone()).or_insert(0) += 1;
        }
        let rate = self.rates.get(&key).copied().unwrap_or(1.0);
        match threshold(1.0 / rate) {
            Some(t) => Verdict::AtLeast(t),
            None => Verdict::Never,
        }
    }

    /// Moves the clock to `end` (at most two intervals ahead), closing the interval when it
    /// has passed.
    fn advance(&mut self, end: u64) {
        let limit = self
            .clock
            .saturating_add(self.interval_nanos.saturating_mul(2));
        self.clock = match self.clock {
            0 => end,
            clock => clock.max(end.min(limit)),
        };
        let start = *self.window_start.get_or_insert(self.clock);
        if self.clock.saturating_sub(start) >= self.interval_nanos {
            self.recompute();
            self.window_start = Some(self.clock);
        }
    }

    /// Shares the target of the interval out among the keys seen in it.
    fn recompute(&mut self) {
        let seconds = self.interval_nanos as f64 / 1e9;
        let mut goal = self.target_per_second * seconds;
        let mut counts: Vec<(String, u64)> = self.counts.drain().collect();
        // Rarest first, so that what they leave over goes to the frequent ones; ties by key,
        // so the order (and so the rates) never depends on the map's.
        counts.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        self.rates.clear();
        let mut keys_left = counts.len() as f64;
        for (key, count) in counts {
            let share = goal / keys_left;
            let count = count as f64;
            let rate = match count <= share {
                true => 1.0,
                false if share > 0.0 => count / share,
                false => f64::INFINITY,
            };
            goal = (goal - count.min(share)).max(0.0);
            keys_left -= 1.0;
            self.rates.insert(key, rate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::tail::threshold::MAX_ADJUSTED_COUNT;

    #[test]
    fn frequent_keys_sampled_down_rare_ones_kept() {
        let mut dynamic = Dynamic::new(["route"], 10.0).interval(Duration::from_secs(10));
        // 100 kept in the interval: 1,000 of /a, 10 of /b, 5 of /c.
        for (key, count) in [("/a", 1_000), ("/b", 10), ("/c", 5)] {
            dynamic.counts.insert(key.into(), count);
        }
        dynamic.recompute();
        assert_eq!(dynamic.rates["/c"], 1.0);
        assert_eq!(dynamic.rates["/b"], 1.0);
        // What /b and /c leave over, 85, goes to /a.
        assert!((dynamic.rates["/a"] - 1_000.0 / 85.0).abs() < 1e-9);
        let t = threshold(1.0 / dynamic.rates["/a"]).unwrap();
        let kept = (MAX_ADJUSTED_COUNT - t) as f64 / MAX_ADJUSTED_COUNT as f64;
        assert!((kept * 1_000.0 - 85.0).abs() < 1e-6);
    }

    #[test]
    fn odd_settings_never_panic() {
        let mut dynamic = Dynamic::new(["k"], f64::NAN)
            .interval(Duration::ZERO)
            .max_keys(0);
        dynamic.counts.insert("x".into(), 3);
        dynamic.recompute();
        assert_eq!(dynamic.rates["x"], f64::INFINITY);
        assert_eq!(threshold(1.0 / f64::INFINITY), None);
        dynamic.advance(u64::MAX);
        dynamic.advance(0);
        let mut longest = Dynamic::new(["k"], 1.0).interval(Duration::MAX);
        longest.advance(1);
        longest.advance(u64::MAX);
    }
}
