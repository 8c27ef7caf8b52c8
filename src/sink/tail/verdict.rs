//! What a policy says of a trace, in a form that composes and keeps counts honest.
//!
//! A policy does not answer "keep" or "drop" alone: it says at what threshold it keeps the
//! trace, in the terms of consistent probability sampling. A trace is kept when its randomness
//! `R` is at least the threshold `T`, so `T = 0` keeps it for certain (errors, latency), a
//! probabilistic policy keeps it with probability `(2^56 − T) / 2^56`, and composing policies
//! composes thresholds: *and* keeps at the larger one, *or* at the smaller one. The threshold of
//! the whole decision is what forwarded spans carry as `ot=th`, from which a backend counts
//! how many traces each kept one stands for. Where the probability cannot be known (a rate
//! limit, which keeps by the clock), the verdict says so and the threshold is erased.

/// A policy's verdict on one trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not kept, whatever the randomness: the trace is not of the policy's kind.
    Never,
    /// Kept exactly when the trace's randomness is at least this threshold (`0`: always).
    AtLeast(u64),
    /// Kept or not, with a probability nobody can state (a rate limit; a negated or combined
    /// probabilistic verdict the threshold form cannot express).
    Unknown(bool),
}

/// Always kept.
pub(crate) const CERTAIN: Verdict = Verdict::AtLeast(0);

impl Verdict {
    /// Whether a trace of randomness `r` is kept.
    pub(crate) fn keeps(self, r: u64) -> bool {
        match self {
            Verdict::Never => false,
            Verdict::AtLeast(t) => r >= t,
            Verdict::Unknown(kept) => kept,
        }
    }

    /// Kept by both: at the larger threshold (`R >= a && R >= b` is `R >= max(a, b)`).
    pub(crate) fn and(self, other: Verdict, r: u64) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (Never, _) | (_, Never) => Never,
            (AtLeast(a), AtLeast(b)) => AtLeast(a.max(b)),
            (CERTAIN, unknown @ Unknown(_)) | (unknown @ Unknown(_), CERTAIN) => unknown,
            (AtLeast(t), Unknown(kept)) | (Unknown(kept), AtLeast(t)) => Unknown(kept && r >= t),
            (Unknown(a), Unknown(b)) => Unknown(a && b),
        }
    }

    /// Kept by either: at the smaller threshold. A certain keep stays certain whatever the
    /// other says; a probabilistic keep beside one of unknown probability becomes unknown.
    pub(crate) fn or(self, other: Verdict, r: u64) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (Never, v) | (v, Never) => v,
            (AtLeast(a), AtLeast(b)) => AtLeast(a.min(b)),
            (CERTAIN, Unknown(_)) | (Unknown(_), CERTAIN) => CERTAIN,
            (AtLeast(t), Unknown(kept)) | (Unknown(kept), AtLeast(t)) => Unknown(kept || r >= t),
            (Unknown(a), Unknown(b)) => Unknown(a || b),
        }
    }

    /// Kept when the other is not. "Never" and "always" swap; `R < T` is no threshold of the
    /// `R >= T` form, so a negated probabilistic verdict has an unknown probability.
    pub(crate) fn not(self, r: u64) -> Verdict {
        use Verdict::*;
        match self {
            Never => CERTAIN,
            CERTAIN => Never,
            AtLeast(t) => Unknown(r < t),
            Unknown(kept) => Unknown(!kept),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict::*;
    use super::*;

    /// Every combination keeps exactly when the plain boolean combination does.
    #[test]
    fn combinations_keep_as_booleans_combine() {
        let verdicts = [
            Never,
            CERTAIN,
            AtLeast(10),
            AtLeast(20),
            Unknown(true),
            Unknown(false),
        ];
        for r in [0, 5, 10, 15, 20, 25] {
            for a in verdicts {
                assert_eq!(a.not(r).keeps(r), !a.keeps(r), "not {a:?} r {r}");
                for b in verdicts {
                    assert_eq!(
                        a.and(b, r).keeps(r),
                        a.keeps(r) && b.keeps(r),
                        "{a:?} and {b:?}"
                    );
                    assert_eq!(
                        a.or(b, r).keeps(r),
                        a.keeps(r) || b.keeps(r),
                        "{a:?} or {b:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn thresholds_compose() {
        assert_eq!(AtLeast(10).and(AtLeast(20), 30), AtLeast(20));
        assert_eq!(AtLeast(10).or(AtLeast(20), 30), AtLeast(10));
        assert_eq!(CERTAIN.or(Unknown(false), 0), CERTAIN);
        assert_eq!(AtLeast(10).or(Unknown(false), 30), Unknown(true));
        assert_eq!(CERTAIN.and(AtLeast(7), 0), AtLeast(7));
        assert_eq!(Never.not(0), CERTAIN);
        assert_eq!(AtLeast(10).not(3), Unknown(true));
    }
}
