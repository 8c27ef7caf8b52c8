//! The 56-bit randomness and rejection thresholds of OpenTelemetry's consistent probability
//! sampling (specification, "TraceState: Probability Sampling"), read and written exactly as
//! the head samplers do, so that a tail decision and a head decision on the same trace agree.

use crate::context::TraceState;
pub(crate) use crate::sampling::{
    MAX_ADJUSTED_COUNT, encode_threshold as encode, randomness, stated_threshold,
    threshold_for as threshold,
};

/// How many traces one kept at threshold `t` stands for ("adjusted count" = 1 / p).
pub(crate) fn adjusted_count(t: u64) -> f64 {
    let t = t.min(MAX_ADJUSTED_COUNT - 1);
    MAX_ADJUSTED_COUNT as f64 / (MAX_ADJUSTED_COUNT - t) as f64
}

/// `state` with `th:<t>` first in its `ot` entry, replacing any `th` (the head samplers'
/// writing, so the two agree to the byte); `rv` and other sub-keys kept, the threshold erased
/// should the entry be unwritable.
pub(crate) fn with_threshold(state: &TraceState, t: u64) -> TraceState {
    crate::sampling::set_threshold(state, &format!("th:{}", encode(t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::{ConsistentProbability, SamplingParams, ShouldSample};
    use crate::span::SpanKind;
    use crate::{SpanContext, SpanId, TraceFlags, TraceId};

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
