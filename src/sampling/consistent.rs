//! Consistent probability sampling through the OpenTelemetry `ot` tracestate entry
//! (OpenTelemetry specification, "TraceState: Probability Sampling" and "TraceState Handling",
//! both in Development status).

use super::{Sampler, SamplingDecision, SamplingParams, SamplingResult, ShouldSample};
use crate::context::TraceState;
use crate::id::{TraceId, hex};

/// The `tracestate` key OpenTelemetry keeps all its sub-keys under ("TraceState Handling").
pub(crate) const OT_KEY: &str = "ot";
/// 2^56, the number of distinct 56-bit randomness values ("MaxAdjustedCount").
pub(crate) const MAX_ADJUSTED_COUNT: u64 = 1 << 56;
/// The smallest probability a threshold can express, 2^-56 ("Sampling Probability": valid in
/// the range 2^-56 through 1).
const MIN_PROBABILITY: f64 = 1.0 / MAX_ADJUSTED_COUNT as f64;
/// An `rv` value is exactly 14 hex digits (56 bits).
const RV_DIGITS: usize = 14;

/// Samples a fixed probability of traces so that every stage agrees: a trace kept at
/// probability `p1` is kept by every stage using `p2 >= p1`, and every kept span records the
/// probability in the `th` sub-key of the `ot` tracestate entry, from which backends count
/// spans (adjusted count = 1 / p).
///
/// Following the OpenTelemetry "TraceState: Probability Sampling" specification:
///
/// - the rejection threshold is `T = 2^56 − round(p × 2^56)` (the same as
///   `round((1 − p) × 2^56)`, computed without losing the low bits of `p`), so `p = 1` gives
///   `T = 0`, written `th:0`;
/// - the randomness `R` is the `rv` sub-key (exactly 14 lowercase hex digits) when the parent's
///   trace state holds a valid one, else the right-most 7 bytes of the trace id (W3C Trace
///   Context Level 2, "Randomness of trace-id");
/// - the span is sampled when `R >= T` ("Decision algorithm").
///
/// On `RecordAndSample` the `th` sub-key is written (or replaced) at the front of the `ot`
/// entry and the entry moves to the front of the list, as W3C Trace Context §3.5 asks of an
/// updated key; `rv` and any other sub-key are kept as they were, and other vendors' members
/// are untouched. On `Drop` the parent's `th` is removed ("In case of negative sampling
/// decision, it removes the `th` value", trace SDK, CompositeSampler), the rest kept. Should the updated
/// entry be unwritable (an `ot` value over 256 characters), the threshold is erased instead,
/// since a stale `th` would misstate the probability.
///
/// The parent's `th` and sampled flag are ignored: this is an independent sampler ("Sampling
/// base cases": "A consistent probability sampling decision ignores the parent's sampling
/// threshold"). Wrap it in [`Sampler::parent_based`] for head sampling.
///
/// A probability below 2^-56 (including 0, negative and NaN) never samples and writes nothing.
///
/// # Example
///
/// ```
/// use tracewire::sampling::{Sampler, SamplingParams, ShouldSample};
/// use tracewire::span::SpanKind;
/// use tracewire::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
///
/// let sampler = Sampler::consistent_probability(0.5);
///
/// // The caller propagated explicit randomness `rv`; it decides instead of the trace id.
/// let state: TraceState = "ot=rv:c0000000000000,rojo=1".parse().unwrap();
/// let parent = SpanContext::new(
///     TraceId::from_u128(1).unwrap(),
///     SpanId::from_u64(1).unwrap(),
///     TraceFlags::SAMPLED,
/// )
/// .with_remote(true)
/// .with_state(state);
/// let params = SamplingParams::new(Some(&parent), parent.trace_id(), "GET /", SpanKind::Server);
///
/// let result = sampler.should_sample(&params);
/// assert!(result.decision.is_sampled()); // rv 0xc0… >= th 0x80…
/// assert_eq!(result.trace_state.to_string(), "ot=th:8;rv:c0000000000000,rojo=1");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ConsistentProbability {
    /// The probability as given, for `Debug`.
    probability: f64,
    /// The rejection threshold, `None` when nothing is sampled.
    threshold: Option<u64>,
    /// `th:<hex>`, encoded once here so the hot path only joins strings.
    th_member: Box<str>,
}

impl ConsistentProbability {
    /// A sampler keeping each trace with `probability`; 1 or more keeps all, anything below
    /// 2^-56 (or NaN) none.
    pub fn new(probability: f64) -> Self {
        let threshold = threshold_for(probability);
        let th_member = match threshold {
            Some(t) => format!("th:{}", encode_threshold(t)).into_boxed_str(),
            None => Box::from(""),
        };
        Self {
            probability,
            threshold,
            th_member,
        }
    }

    /// The probability this sampler was built with.
    pub fn probability(&self) -> f64 {
        self.probability
    }

    /// The 56-bit rejection threshold `T` (0 samples everything), or `None` if this sampler
    /// never samples.
    pub fn threshold(&self) -> Option<u64> {
        self.threshold
    }
}

/// The rejection threshold `T = 2^56 − round(p × 2^56)` of probability `p` (`0` for `p >= 1`),
/// or `None` when nothing is kept (`p` below 2^-56, NaN). Also the tail sampler's, so that a
/// tail decision and a head decision on the same trace agree.
pub(crate) fn threshold_for(probability: f64) -> Option<u64> {
    if probability >= 1.0 {
        Some(0)
    } else if probability >= MIN_PROBABILITY {
        // `p × 2^56` is exact (a power-of-two scaling), so the only rounding is `round`; for p
        // in [2^-56, 1) it lies in [1, 2^56 − 8], so the subtraction cannot wrap and T lies in
        // [8, 2^56 − 1]. This is collector-contrib `pkg/sampling`'s `ProbabilityToThreshold`
        // at full (14-digit) precision.
        let scaled = (probability * MAX_ADJUSTED_COUNT as f64).round() as u64;
        Some(MAX_ADJUSTED_COUNT - scaled)
    } else {
        // NaN fails every comparison and lands here too. Spec, "Sampling Probability": "never"
        // sampling is not a form of probability sampling, so no `th` either.
        None
    }
}

/// The trace's randomness `R`: a valid `rv` in `state`'s `ot` entry, else the right-most 7
/// bytes of the trace id (W3C Trace Context Level 2, "Randomness of trace-id").
pub(crate) fn randomness(trace_id: TraceId, state: &TraceState) -> u64 {
    explicit_randomness(state).unwrap_or(trace_id.to_u128() as u64 & (MAX_ADJUSTED_COUNT - 1))
}

/// A valid `rv` sub-key of `state`'s `ot` entry.
fn explicit_randomness(state: &TraceState) -> Option<u64> {
    state
        .get(OT_KEY)
        .and_then(|ot| sub_value(ot, "rv"))
        .and_then(parse_rv)
}

/// The threshold `state`'s own `ot=th` states, if it holds a valid one.
pub(crate) fn stated_threshold(state: &TraceState) -> Option<u64> {
    decode_threshold(sub_value(state.get(OT_KEY)?, "th")?)
}

/// The warning the specification asks for when a decision below a parent rests on trace id
/// randomness its random flag does not confirm ("Compatibility warnings for
/// `ProbabilitySampler`").
fn warn_presumed_random() {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    super::warn_once(
        &WARNED,
        "WARNING: The ProbabilitySampler sampler is presuming TraceIDs are random and expects \
         the Trace random flag to be set in confirmation. Please upgrade your caller(s) to use \
         W3C Trace Context Level 2.",
    );
}

impl ShouldSample for ConsistentProbability {
    fn should_sample(&self, params: &SamplingParams<'_>) -> SamplingResult {
        let parent_state = params.parent.map(|p| p.state());
        let sampled = self.threshold.is_some_and(|threshold| {
            let explicit = parent_state.and_then(explicit_randomness);
            // W3C Trace Context Level 2: the right-most 7 bytes of the trace id are random.
            let randomness = explicit.unwrap_or_else(|| {
                if params.parent.is_some_and(|p| !p.flags().is_random()) {
                    warn_presumed_random();
                }
                params.trace_id.to_u128() as u64 & (MAX_ADJUSTED_COUNT - 1)
            });
            randomness >= threshold
        });
        if !sampled {
            return SamplingResult::drop(params);
        }
        let empty = TraceState::default();
        let parent_state = parent_state.unwrap_or(&empty);
        SamplingResult {
            decision: SamplingDecision::RecordAndSample,
            trace_state: set_threshold(parent_state, &self.th_member),
        }
    }

    fn uses_span_details(&self) -> bool {
        false
    }
}

impl From<ConsistentProbability> for Sampler {
    fn from(sampler: ConsistentProbability) -> Self {
        Sampler::new(sampler)
    }
}

/// `state` without the `th` sub-key of its `ot` entry (and without the entry, if nothing else
/// was in it); any other sub-key such as `rv` and every other member are kept.
///
/// For sampling stages whose probability is unknown, such as a rate limiter: the
/// specification ("Tracestate handling requirements") says they "must erase the OpenTelemetry
/// threshold value in their output", or backends would count their spans wrongly. A state
/// without `th` is returned as is (a reference-count increment, no allocation). Should the
/// shortened `ot` entry be unwritable (it held a value W3C forbids), the whole entry is
/// dropped rather than keep a false threshold.
///
/// # Example
///
/// ```
/// use tracewire::TraceState;
/// use tracewire::sampling::erase_threshold;
///
/// let state: TraceState = "rojo=1,ot=th:c;rv:0123456789abcd".parse().unwrap();
/// assert_eq!(erase_threshold(&state).to_string(), "ot=rv:0123456789abcd,rojo=1");
///
/// let state: TraceState = "ot=th:0,rojo=1".parse().unwrap();
/// assert_eq!(erase_threshold(&state).to_string(), "rojo=1");
/// ```
pub fn erase_threshold(state: &TraceState) -> TraceState {
    let Some(ot) = state.get(OT_KEY) else {
        return state.clone();
    };
    if !members(ot).any(is_threshold) {
        return state.clone();
    }
    let mut rest = String::with_capacity(ot.len());
    for member in members(ot).filter(|m| !is_threshold(m)) {
        if !rest.is_empty() {
            rest.push(';');
        }
        rest.push_str(member);
    }
    let mut erased = state.clone();
    if rest.is_empty() || erased.insert(OT_KEY, &rest).is_err() {
        erased.remove(OT_KEY);
    }
    erased
}

/// `state` with `th_member` (`th:<hex>`) first in its `ot` entry, replacing any `th`.
pub(crate) fn set_threshold(state: &TraceState, th_member: &str) -> TraceState {
    let ot = state.get(OT_KEY).unwrap_or("");
    let mut value = String::with_capacity(th_member.len() + 1 + ot.len());
    value.push_str(th_member);
    for member in members(ot).filter(|m| !is_threshold(m)) {
        value.push(';');
        value.push_str(member);
    }
    let mut updated = state.clone();
    match updated.insert(OT_KEY, &value) {
        Ok(()) => updated,
        // "TraceState Handling", Setting values: an entry over 256 characters is not written.
        Err(_) => erase_threshold(state),
    }
}

/// The non-empty `key:value` members of an `ot` value ("TraceState Handling": a
/// `;`-separated list).
/// The state a span keeps from its sampled parent: as it is, unless its `th` contradicts the
/// trace's randomness (R < T, or a `th` that does not parse), which no consistent sampler
/// could have produced; that threshold would make backends count the trace wrongly, so it
/// is erased, as for a stage of unknown probability.
pub(crate) fn checked_parent_threshold(state: &TraceState, trace_id: TraceId) -> TraceState {
    let Some(ot) = state.get(OT_KEY) else {
        return state.clone();
    };
    let Some(th) = sub_value(ot, "th") else {
        return state.clone();
    };
    let randomness = sub_value(ot, "rv")
        .and_then(parse_rv)
        .unwrap_or(trace_id.to_u128() as u64 & (MAX_ADJUSTED_COUNT - 1));
    match decode_threshold(th) {
        Some(threshold) if randomness >= threshold => state.clone(),
        _ => erase_threshold(state),
    }
}

/// `th` decoding ("TraceState Handling": extend with trailing zeros to 14 digits).
fn decode_threshold(th: &str) -> Option<u64> {
    if th.is_empty() || th.len() > 14 {
        return None;
    }
    hex::decode_u64(th.as_bytes()).map(|t| t << (4 * (14 - th.len())))
}

fn members(ot: &str) -> impl Iterator<Item = &str> {
    ot.split(';').filter(|m| !m.is_empty())
}

/// Whether an `ot` member is a `th` sub-key, valid or not (an invalid one is replaced or
/// erased all the same).
fn is_threshold(member: &str) -> bool {
    member.split_once(':').is_some_and(|(key, _)| key == "th")
}

/// The value of the first `key` sub-key of an `ot` value.
fn sub_value<'a>(ot: &'a str, key: &str) -> Option<&'a str> {
    members(ot)
        .filter_map(|m| m.split_once(':'))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// An `rv` value: exactly 14 lowercase hex digits, a 56-bit number; anything else is treated
/// as absent.
fn parse_rv(value: &str) -> Option<u64> {
    if value.len() != RV_DIGITS {
        return None;
    }
    hex::decode_u64(value.as_bytes())
}

/// A threshold as a `th` value: 14 hex digits with trailing zeros trimmed, `0` for zero
/// ("Converting integer threshold to a `th`-value").
pub(crate) fn encode_threshold(threshold: u64) -> String {
    if threshold == 0 {
        return "0".to_owned();
    }
    let digits = format!("{:014x}", threshold & (MAX_ADJUSTED_COUNT - 1));
    digits.trim_end_matches('0').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{SpanContext, TraceFlags};
    use crate::id::{SpanId, TraceId};
    use crate::span::SpanKind;

    fn parent(trace_id: u128, state: &str) -> SpanContext {
        SpanContext::new(
            TraceId::from_u128(trace_id).unwrap(),
            SpanId::from_u64(7).unwrap(),
            TraceFlags::SAMPLED,
        )
        .with_remote(true)
        .with_state(state.parse().unwrap())
    }

    fn sample(p: f64, parent: &SpanContext) -> SamplingResult {
        let params = SamplingParams::new(Some(parent), parent.trace_id(), "op", SpanKind::Server);
        ConsistentProbability::new(p).should_sample(&params)
    }

    fn th_of(p: f64) -> String {
        // Trace id randomness all ones: sampled for every p >= 2^-56.
        let result = sample(p, &parent(u128::MAX, "a=1"));
        assert!(result.decision.is_sampled(), "p {p}");
        let ot = result.trace_state.get("ot").unwrap();
        ot.strip_prefix("th:").unwrap().to_owned()
    }

    #[test]
    fn threshold_encoding() {
        assert_eq!(th_of(1.0), "0");
        assert_eq!(th_of(0.5), "8");
        assert_eq!(th_of(0.25), "c");
        assert_eq!(th_of(0.125), "e");
        // 0.1 as an f64 is exactly 0x1999999999999a × 2^-56, so
        // T = 2^56 − 0x1999999999999a = 0xe6666666666666: all 14 digits. The specification's
        // table shows `e666` for 0.1 only because it rounds to 4 digits of precision (its
        // recommended SDK default); the brief's `e666666666666` is one digit short. Full
        // precision is used here, as collector-contrib's `ProbabilityToThreshold` does.
        assert_eq!(th_of(0.1), "e6666666666666");
        let expected = MAX_ADJUSTED_COUNT - (0.1 * MAX_ADJUSTED_COUNT as f64).round() as u64;
        assert_eq!(decode_threshold(&th_of(0.1)), Some(expected));
        // The specification's 1 % example, `fd70a4` at 5 digits: the full value starts so.
        assert!(th_of(0.01).starts_with("fd70a3d70a3d7"), "{}", th_of(0.01));
        // The smallest probability: T = 2^56 − 1.
        assert_eq!(th_of(MIN_PROBABILITY), "ffffffffffffff");
        for p in [0.3, 0.001, 0.999, 1e-9] {
            let t = ConsistentProbability::new(p).threshold().unwrap();
            assert_eq!(decode_threshold(&th_of(p)), Some(t), "p {p}");
            let back = (MAX_ADJUSTED_COUNT - t) as f64 / MAX_ADJUSTED_COUNT as f64;
            assert!((back - p).abs() <= p * 1e-9, "p {p} back {back}");
        }
    }

    #[test]
    fn never_samples_below_smallest_probability() {
        for p in [
            0.0,
            -0.5,
            f64::NAN,
            f64::NEG_INFINITY,
            MIN_PROBABILITY / 2.0,
        ] {
            let sampler = ConsistentProbability::new(p);
            assert_eq!(sampler.threshold(), None, "p {p}");
            let result = sample(p, &parent(u128::MAX, "ot=rv:ffffffffffffff"));
            assert_eq!(result.decision, SamplingDecision::Drop, "p {p}");
            assert_eq!(result.trace_state.to_string(), "ot=rv:ffffffffffffff");
        }
        assert_eq!(
            ConsistentProbability::new(f64::INFINITY).threshold(),
            Some(0)
        );
    }

    #[test]
    fn threshold_decides_on_trace_id_randomness() {
        // T for 0.5 is 0x80000000000000; the high 9 bytes of the id never matter.
        let high = 0xffff_ffff_ffff_ffff_ff00_0000_0000_0000u128;
        assert!(
            sample(0.5, &parent(high | 0x80000000000000, ""))
                .decision
                .is_sampled()
        );
        assert!(
            !sample(0.5, &parent(high | 0x7fffffffffffff, ""))
                .decision
                .is_sampled()
        );
        assert!(
            !sample(0.5, &parent(0x7fffffffffffff, ""))
                .decision
                .is_sampled()
        );
    }

    #[test]
    fn rv_is_respected_over_trace_id() {
        // Trace id randomness says keep (all ones), rv says drop, and the other way round.
        let drop = sample(0.5, &parent(u128::MAX, "ot=rv:7fffffffffffff"));
        assert_eq!(drop.decision, SamplingDecision::Drop);
        assert_eq!(drop.trace_state.to_string(), "ot=rv:7fffffffffffff");
        let keep = sample(0.5, &parent(1, "ot=rv:80000000000000"));
        assert_eq!(keep.decision, SamplingDecision::RecordAndSample);
        assert_eq!(
            keep.trace_state.to_string(),
            "ot=th:8;rv:80000000000000",
            "rv kept as it was"
        );
    }

    #[test]
    fn invalid_rv_and_th_are_ignored() {
        // Not 14 lowercase hex digits: the trace id (randomness 0, dropped at 0.5) decides.
        for rv in [
            "ffffffffffffff0",
            "fffffffffffff",
            "FFFFFFFFFFFFFF",
            "fffffffffffffg",
            "",
        ] {
            let state = format!("ot=rv:{rv}");
            let state = state.trim_end_matches(':');
            let result = sample(0.5, &parent(1 << 64, state));
            assert_eq!(result.decision, SamplingDecision::Drop, "rv {rv:?}");
        }
        // An invalid `th` from upstream is replaced; odd members are kept as they were.
        let result = sample(0.5, &parent(u128::MAX, "ot=th:zz;x;;th;k:v"));
        assert!(result.decision.is_sampled());
        assert_eq!(result.trace_state.get("ot"), Some("th:8;x;th;k:v"));
    }

    #[test]
    fn keeps_other_sub_keys_and_vendors() {
        let result = sample(
            0.25,
            &parent(
                u128::MAX,
                "rojo=00f067aa0ba902b7,ot=rv:ffffffffffffff;k1:13;th:4,congo=t61",
            ),
        );
        assert_eq!(result.decision, SamplingDecision::RecordAndSample);
        assert_eq!(
            result.trace_state.to_string(),
            "ot=th:c;rv:ffffffffffffff;k1:13,rojo=00f067aa0ba902b7,congo=t61"
        );
        // A root span: the state is just the threshold.
        let params = SamplingParams::new(
            None,
            TraceId::from_u128(u128::MAX).unwrap(),
            "op",
            SpanKind::Server,
        );
        let root = ConsistentProbability::new(1.0).should_sample(&params);
        assert_eq!(root.trace_state.to_string(), "ot=th:0");
    }

    #[test]
    fn drop_removes_the_threshold_only() {
        let p = parent(1, "rojo=1,ot=th:0;rv:00000000000000");
        let result = sample(0.5, &p);
        assert_eq!(result.decision, SamplingDecision::Drop);
        assert_eq!(
            result.trace_state.to_string(),
            "ot=rv:00000000000000,rojo=1"
        );
        // Recorded anyway, the span still claims no probability.
        let always_record = crate::sampling::AlwaysRecord::new(ConsistentProbability::new(0.5));
        let params = SamplingParams::new(Some(&p), p.trace_id(), "x", SpanKind::Internal);
        let recorded = always_record.should_sample(&params);
        assert_eq!(recorded.decision, SamplingDecision::RecordOnly);
        assert_eq!(recorded.trace_state.get("ot"), Some("rv:00000000000000"));
    }

    #[test]
    fn unwritable_entry_erases_threshold() {
        // An `ot` value of 256 characters, the most W3C allows; the 14-digit threshold of
        // 0.1 is longer than `th:c`, so the updated entry would not fit.
        let filler = format!("k:{}", "v".repeat(249));
        let p = parent(u128::MAX, &format!("ot=th:c;{filler}"));
        assert_eq!(p.state().get("ot").unwrap().len(), 256);
        let result = sample(0.1, &p);
        assert!(result.decision.is_sampled());
        assert_eq!(result.trace_state.get("ot"), Some(filler.as_str()));
    }

    #[test]
    fn samples_about_p_of_random_ids() {
        for p in [0.1, 0.5, 0.9] {
            let sampler = ConsistentProbability::new(p);
            let n = 100_000;
            let sampled = (0..n)
                .filter(|_| {
                    let params =
                        SamplingParams::new(None, TraceId::random(), "op", SpanKind::Internal);
                    sampler.should_sample(&params).decision.is_sampled()
                })
                .count();
            let fraction = sampled as f64 / n as f64;
            assert!((fraction - p).abs() < 0.01, "p {p}: {fraction}");
        }
    }

    // "Consistent Sampling Decision": kept at p1 implies kept at every p2 >= p1.
    #[test]
    fn decisions_are_consistent_across_probabilities() {
        let samplers: Vec<_> = [0.01, 0.1, 0.25, 0.5, 0.75, 1.0]
            .into_iter()
            .map(ConsistentProbability::new)
            .collect();
        for _ in 0..10_000 {
            let params = SamplingParams::new(None, TraceId::random(), "op", SpanKind::Internal);
            let decisions: Vec<bool> = samplers
                .iter()
                .map(|s| s.should_sample(&params).decision.is_sampled())
                .collect();
            assert!(decisions.windows(2).all(|w| !w[0] || w[1]), "{decisions:?}");
        }
    }

    #[test]
    fn erase_threshold_cases() {
        let erase = |s: &str| erase_threshold(&s.parse().unwrap()).to_string();
        assert_eq!(erase(""), "");
        assert_eq!(erase("rojo=1"), "rojo=1");
        assert_eq!(
            erase("rojo=1,ot=rv:00000000000001"),
            "rojo=1,ot=rv:00000000000001"
        );
        assert_eq!(erase("rojo=1,ot=th:8"), "rojo=1");
        assert_eq!(erase("rojo=1,ot=th:8;th:c"), "rojo=1");
        assert_eq!(
            erase("rojo=1,ot=k:v;th:bad;rv:00000000000001"),
            "ot=k:v;rv:00000000000001,rojo=1"
        );
    }
}
