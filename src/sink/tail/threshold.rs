//! The 56-bit randomness and rejection thresholds of OpenTelemetry's consistent probability
//! sampling (specification, "TraceState: Probability Sampling"), read and written exactly as
//! the head samplers do, so that a tail decision and a head decision on the same trace agree.

use crate::context::TraceState;
use crate::id::TraceId;
use crate::sampling::erase_threshold;

/// 2^56: the number of distinct randomness values ("MaxAdjustedCount").
pub(crate) const MAX_ADJUSTED_COUNT: u64 = 1 << 56;
/// The smallest probability a threshold can express ("Sampling Probability": 2^-56 through 1).
const MIN_PROBABILITY: f64 = 1.0 / MAX_ADJUSTED_COUNT as f64;
/// The tracestate key OpenTelemetry keeps its sub-keys under ("TraceState Handling").
const OT_KEY: &str = "ot";

/// The trace's randomness `R`: the `rv` sub-key of the `ot` tracestate entry when it holds a
/// valid one (exactly 14 lowercase hex digits), else the right-most 7 bytes of the trace id
/// (W3C Trace Context Level 2, "Randomness of trace-id"), as
/// [`ConsistentProbability`](crate::sampling::ConsistentProbability) reads it.
pub(crate) fn randomness(trace_id: TraceId, state: &TraceState) -> u64 {
    state
        .get(OT_KEY)
        .and_then(|ot| sub_value(ot, "rv"))
        .and_then(parse_rv)
        .unwrap_or(trace_id.to_u128() as u64 & (MAX_ADJUSTED_COUNT - 1))
}

/// The rejection threshold `T = 2^56 − round(p × 2^56)` of probability `p` (`0` for `p >= 1`),
/// or `None` when nothing is kept (`p` below 2^-56, NaN): the same value as
/// [`ConsistentProbability::threshold`](crate::sampling::ConsistentProbability::threshold),
/// without the allocation of building that sampler (dynamic rules compute one per decision).
pub(crate) fn threshold(probability: f64) -> Option<u64> {
    if probability >= 1.0 {
        Some(0)
    } else if probability >= MIN_PROBABILITY {
        // `p × 2^56` is exact (a power-of-two scaling); it lies in [1, 2^56 − 8], so the
        // subtraction cannot wrap.
        let scaled = (probability * MAX_ADJUSTED_COUNT as f64).round() as u64;
        Some(MAX_ADJUSTED_COUNT - scaled)
    } else {
        None
    }
}

/// How many traces one kept at threshold `t` stands for ("adjusted count" = 1 / p).
pub(crate) fn adjusted_count(t: u64) -> f64 {
    let t = t.min(MAX_ADJUSTED_COUNT - 1);
    MAX_ADJUSTED_COUNT as f64 / (MAX_ADJUSTED_COUNT - t) as f64
}

/// The threshold a span's own `ot=th` states, if it holds a valid one.
pub(crate) fn stated_threshold(state: &TraceState) -> Option<u64> {
    let th = sub_value(state.get(OT_KEY)?, "th")?;
    // "TraceState Handling": 1 to 14 hex digits, extended with trailing zeros to 14.
    if th.is_empty() || th.len() > 14 || !is_lower_hex(th) {
        return None;
    }
    u64::from_str_radix(th, 16)
        .ok()
        .map(|t| t << (4 * (14 - th.len())))
}

/// `state` with `th:<t>` first in its `ot` entry, replacing any `th`, the entry moved to the
/// front (W3C Trace Context §3.5 for an updated key); `rv` and other sub-keys kept. Should the
/// entry be unwritable (over 256 characters), the threshold is erased instead, since a stale
/// one would misstate the probability.
pub(crate) fn with_threshold(state: &TraceState, t: u64) -> TraceState {
    let ot = state.get(OT_KEY).unwrap_or("");
    let mut value = String::with_capacity(18 + ot.len());
    value.push_str("th:");
    value.push_str(&encode(t));
    for member in members(ot).filter(|m| !is_threshold(m)) {
        value.push(';');
        value.push_str(member);
    }
    let mut updated = state.clone();
    match updated.insert(OT_KEY, &value) {
        Ok(()) => updated,
        Err(_) => erase_threshold(state),
    }
}

/// A threshold as a `th` value: 14 hex digits, trailing zeros trimmed, `0` for zero
/// ("Converting integer threshold to a `th`-value").
pub(crate) fn encode(t: u64) -> String {
    if t == 0 {
        return "0".to_owned();
    }
    let digits = format!("{:014x}", t & (MAX_ADJUSTED_COUNT - 1));
    digits.trim_end_matches('0').to_owned()
}

fn members(ot: &str) -> impl Iterator<Item = &str> {
    ot.split(';').filter(|m| !m.is_empty())
}

fn is_threshold(member: &str) -> bool {
    member.split_once(':').is_some_and(|(key, _)| key == "th")
}

fn sub_value<'a>(ot: &'a str, key: &str) -> Option<&'a str> {
    members(ot)
        .filter_map(|m| m.split_once(':'))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn is_lower_hex(digits: &str) -> bool {
    digits
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn parse_rv(value: &str) -> Option<u64> {
    if value.len() != 14 || !is_lower_hex(value) {
        return None;
    }
    u64::from_str_radix(value, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::{ConsistentProbability, SamplingParams, ShouldSample};
    use crate::span::SpanKind;
    use crate::{SpanContext, SpanId, TraceFlags};

    #[test]
    fn thresholds_are_the_head_samplers() {
        let mut p = 1.5;
        while p > 1e-18 {
            assert_eq!(
                threshold(p),
                ConsistentProbability::new(p).threshold(),
                "p {p}"
            );
            p *= 0.83;
        }
        for p in [0.0, -1.0, f64::NAN, 1.0, 0.5, 0.02, MIN_PROBABILITY] {
            assert_eq!(threshold(p), ConsistentProbability::new(p).threshold());
        }
    }

    /// The randomness decides exactly as the head's consistent probability sampler, `rv` or
    /// not, valid or not.
    #[test]
    fn randomness_decides_as_the_head_sampler() {
        let states = [
            "",
            "ot=rv:c0000000000000",
            "ot=rv:3fffffffffffff;th:0,x=1",
            "ot=rv:FFFFFFFFFFFFFF",
            "ot=rv:fff",
            "ot=th:8",
        ];
        for i in 0..2_000u128 {
            let id =
                TraceId::from_u128(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) | 1)
                    .unwrap();
            for state in states {
                let state: TraceState = state.parse().unwrap();
                let parent = SpanContext::new(id, SpanId::from_u64(1).unwrap(), TraceFlags::RANDOM)
                    .with_state(state.clone());
                let params = SamplingParams::new(Some(&parent), id, "x", SpanKind::Server);
                for p in [0.5, 0.02, 0.3] {
                    let head = ConsistentProbability::new(p).should_sample(&params);
                    let ours = randomness(id, &state) >= threshold(p).unwrap();
                    assert_eq!(head.decision.is_sampled(), ours, "{id} {state:?} {p}");
                }
            }
        }
    }

    #[test]
    fn rewriting_the_threshold() {
        let state: TraceState = "rojo=1,ot=rv:0123456789abcd;th:8".parse().unwrap();
        assert_eq!(
            with_threshold(&state, 0).to_string(),
            "ot=th:0;rv:0123456789abcd,rojo=1"
        );
        let t = threshold(0.02).unwrap();
        let rewritten = with_threshold(&state, t);
        assert_eq!(stated_threshold(&rewritten), Some(t));
        assert_eq!(
            with_threshold(&TraceState::default(), 0).to_string(),
            "ot=th:0"
        );
        assert_eq!(encode(threshold(0.5).unwrap()), "8");
        assert_eq!(
            stated_threshold(&"ot=th:c".parse().unwrap()),
            Some(threshold(0.25).unwrap())
        );
        assert_eq!(stated_threshold(&"ot=th:zz".parse().unwrap()), None);
        assert_eq!(adjusted_count(0), 1.0);
        assert_eq!(adjusted_count(threshold(0.25).unwrap()), 4.0);
    }
}
