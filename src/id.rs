//! Trace and span identifiers, and their fast random generation.
//!
//! A [`TraceId`] is 16 bytes and a [`SpanId`] 8 bytes; both print as lowercase hex, the form
//! every propagation format and every OpenTelemetry backend uses. The all-zero id is invalid in
//! W3C Trace Context (§3.2.2.3, §3.2.2.4), so the types cannot hold it: `Option<TraceId>` is
//! the "maybe an id" type and costs no extra space.
//!
//! Random ids come from a per-thread generator (xoshiro256++ seeded once per thread from the
//! operating system): no lock, no syscall, nothing shared between threads. Every bit of a random
//! [`TraceId`] is random, so traces started here may set the W3C Level 2 `random` flag
//! truthfully (§3.2.2.5.2: at least the right-most 7 bytes must be random).

use std::cell::RefCell;
use std::fmt;
use std::num::{NonZeroU64, NonZeroU128};
use std::str::FromStr;

use rand::rngs::{SmallRng, SysRng};
use rand::{Rng, SeedableRng};

/// A 16-byte trace identifier, never all zeros.
///
/// # Example
///
/// ```
/// use tracewire::TraceId;
///
/// let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!("00000000000000000000000000000000".parse::<TraceId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
// Aligned to 8, not 16 as `u128` is: the span context holding it, and every span and span
// data holding that, are then 8 bytes smaller, without padding.
#[repr(C, packed(8))]
pub struct TraceId(NonZeroU128);

/// An 8-byte span identifier, never all zeros.
///
/// # Example
///
/// ```
/// use tracewire::SpanId;
///
/// let id: SpanId = "00f067aa0ba902b7".parse().unwrap();
/// assert_eq!(id.to_bytes(), [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

/// Why a string is not a valid [`TraceId`] or [`SpanId`].
///
/// # Example
///
/// ```
/// use tracewire::id::ParseIdError;
/// use tracewire::SpanId;
///
/// assert_eq!("00f067aa".parse::<SpanId>(), Err(ParseIdError::Length { expected: 16, found: 8 }));
/// assert_eq!("0000000000000000".parse::<SpanId>(), Err(ParseIdError::AllZeros));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseIdError {
    /// The string does not have exactly the id's number of hex digits (32 or 16).
    Length {
        /// How many characters were expected.
        expected: usize,
        /// How many were found.
        found: usize,
    },
    /// A character is not a lowercase hex digit (`0-9a-f`).
    NotLowercaseHex,
    /// Every digit is zero, which W3C Trace Context forbids.
    AllZeros,
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { expected, found } => {
                write!(
                    f,
                    "expected {expected} hex digits, found {found} characters"
                )
            }
            Self::NotLowercaseHex => f.write_str("contains a character that is not lowercase hex"),
            Self::AllZeros => f.write_str("is all zeros, which is invalid"),
        }
    }
}

impl std::error::Error for ParseIdError {}

impl TraceId {
    /// The id from its 16 bytes (big-endian, as written in hex); `None` for all zeros.
    pub const fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        Self::from_u128(u128::from_be_bytes(bytes))
    }

    /// The id from its value as a big-endian integer; `None` for zero.
    pub const fn from_u128(value: u128) -> Option<Self> {
        match NonZeroU128::new(value) {
            Some(id) => Some(Self(id)),
            None => None,
        }
    }

    /// The 16 bytes of the id, in the order they are written in hex.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.get().to_be_bytes()
    }

    /// The id as a big-endian integer.
    pub const fn to_u128(self) -> u128 {
        self.0.get()
    }

    /// A new id, random in all 16 bytes, from the per-thread generator.
    ///
    /// ```
    /// use tracewire::TraceId;
    /// assert_ne!(TraceId::random(), TraceId::random());
    /// ```
    pub fn random() -> Self {
        loop {
            let (high, low) = with_thread_rng(|rng| (rng.next_u64(), rng.next_u64()));
            // Zero has a 2^-128 chance; the loop keeps the type's promise anyway.
            if let Some(id) = Self::from_u128(((high as u128) << 64) | low as u128) {
                return id;
            }
        }
    }

    /// Writes the 32 lowercase hex digits into `out`.
    pub(crate) fn write_hex(self, out: &mut [u8; 32]) {
        hex::encode(&self.to_bytes(), out);
    }
}

impl SpanId {
    /// The id from its 8 bytes (big-endian, as written in hex); `None` for all zeros.
    pub const fn from_bytes(bytes: [u8; 8]) -> Option<Self> {
        Self::from_u64(u64::from_be_bytes(bytes))
    }

    /// The id from its value as a big-endian integer; `None` for zero.
    pub const fn from_u64(value: u64) -> Option<Self> {
        match NonZeroU64::new(value) {
            Some(id) => Some(Self(id)),
            None => None,
        }
    }

    /// The 8 bytes of the id, in the order they are written in hex.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_be_bytes()
    }

    /// The id as a big-endian integer.
    pub const fn to_u64(self) -> u64 {
        self.0.get()
    }

    /// A new random id from the per-thread generator.
    ///
    /// ```
    /// use tracewire::SpanId;
    /// assert_ne!(SpanId::random(), SpanId::random());
    /// ```
    pub fn random() -> Self {
        loop {
            if let Some(id) = Self::from_u64(with_thread_rng(|rng| rng.next_u64())) {
                return id;
            }
        }
    }

    /// Writes the 16 lowercase hex digits into `out`.
    pub(crate) fn write_hex(self, out: &mut [u8; 16]) {
        hex::encode(&self.to_bytes(), out);
    }
}

impl FromStr for TraceId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits: &[u8; 32] = s.as_bytes().try_into().map_err(|_| ParseIdError::Length {
            expected: 32,
            found: s.len(),
        })?;
        let value = hex::decode_u128(digits).ok_or(ParseIdError::NotLowercaseHex)?;
        Self::from_u128(value).ok_or(ParseIdError::AllZeros)
    }
}

impl FromStr for SpanId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits: &[u8; 16] = s.as_bytes().try_into().map_err(|_| ParseIdError::Length {
            expected: 16,
            found: s.len(),
        })?;
        let value = hex::decode_u64(digits).ok_or(ParseIdError::NotLowercaseHex)?;
        Self::from_u64(value).ok_or(ParseIdError::AllZeros)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0; 32];
        self.write_hex(&mut out);
        f.write_str(hex::as_str(&out))
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0; 16];
        self.write_hex(&mut out);
        f.write_str(hex::as_str(&out))
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// Makes the ids of new traces and spans. The default, [`RandomIdGenerator`], is right for
/// almost everyone; a custom one serves formats such as X-Ray's time-prefixed trace ids.
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use tracewire::id::IdGenerator;
/// use tracewire::{SpanId, TraceId, Tracer};
///
/// /// Sequential ids, for tests whose output must not change between runs.
/// #[derive(Debug, Default)]
/// struct Sequential(AtomicU64);
///
/// impl IdGenerator for Sequential {
///     fn new_trace_id(&self) -> TraceId {
///         TraceId::from_u128(u128::from(self.0.fetch_add(1, Ordering::Relaxed) + 1)).unwrap()
///     }
///     fn new_span_id(&self) -> SpanId {
///         SpanId::from_u64(self.0.fetch_add(1, Ordering::Relaxed) + 1).unwrap()
///     }
/// }
///
/// let tracer = Tracer::builder().id_generator(Sequential::default()).build();
/// let span = tracer.span("first").start();
/// assert_eq!(span.span_context().unwrap().trace_id().to_string(), "00000000000000000000000000000001");
/// ```
pub trait IdGenerator: Send + Sync + fmt::Debug + 'static {
    /// A new trace id.
    fn new_trace_id(&self) -> TraceId;
    /// A new span id.
    fn new_span_id(&self) -> SpanId;
    /// Whether at least the right-most 7 bytes of every trace id are random, so that new
    /// traces may set the W3C Level 2 `random` flag (§3.2.2.5.2). `false` unless said.
    fn trace_ids_are_random(&self) -> bool {
        false
    }
}

/// Random ids from the per-thread generator; trace ids are random in all 16 bytes.
///
/// ```
/// use tracewire::id::{IdGenerator, RandomIdGenerator};
///
/// let ids = RandomIdGenerator;
/// assert!(ids.trace_ids_are_random());
/// assert_ne!(ids.new_span_id(), ids.new_span_id());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomIdGenerator;

impl IdGenerator for RandomIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        TraceId::random()
    }

    fn new_span_id(&self) -> SpanId {
        SpanId::random()
    }

    fn trace_ids_are_random(&self) -> bool {
        true
    }
}

thread_local! {
    // A `RefCell` rather than `UnsafeCell`: the borrow flag, beside the generator's state, is
    // checked and set once per use and keeps the crate free of `unsafe`. The closure given to
    // it never re-enters.
    static THREAD_RNG: RefCell<SmallRng> = RefCell::new(seeded_rng());
}

fn with_thread_rng<T>(f: impl FnOnce(&mut SmallRng) -> T) -> T {
    THREAD_RNG.with(|rng| f(&mut rng.borrow_mut()))
}

/// Seeds a thread's generator from the OS, once per thread. Should the OS refuse (early boot,
/// a sandbox without `getrandom`), the seed comes from std's per-process random hasher keys
/// mixed with the thread id, so id generation never panics.
fn seeded_rng() -> SmallRng {
    SmallRng::try_from_rng(&mut SysRng).unwrap_or_else(|_| {
        use std::hash::{BuildHasher, RandomState};
        let seed = RandomState::new().hash_one(std::thread::current().id());
        SmallRng::seed_from_u64(seed)
    })
}

/// Fixed-width lowercase hex, hand-written because the W3C formats accept lowercase only and
/// the hot path must not allocate or branch per character more than it needs to.
pub(crate) mod hex {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";

    /// Value of each byte as a lowercase hex digit, or `INVALID`.
    const INVALID: u8 = 0xff;
    static LOWER: [u8; 256] = {
        let mut table = [INVALID; 256];
        let mut i = 0;
        while i < 10 {
            table[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            table[b'a' as usize + i] = 10 + i as u8;
            i += 1;
        }
        table
    };

    /// Decodes up to 32 lowercase hex digits; `None` if any is not one.
    #[inline]
    pub(crate) fn decode_u128(digits: &[u8]) -> Option<u128> {
        if let Ok(digits) = <&[u8; 32]>::try_from(digits) {
            let high = decode_u64(&digits[..16])? as u128;
            let low = decode_u64(&digits[16..])? as u128;
            return Some((high << 64) | low);
        }
        if digits.len() > 32 {
            return None;
        }
        let mut value = 0u128;
        let mut bad = 0u8;
        for &byte in digits {
            let d = LOWER[byte as usize];
            bad |= d;
            value = (value << 4) | (d & 0x0f) as u128;
        }
        // Valid digits are < 16, so any invalid one (0xff) sets the high bits of `bad`.
        (bad & 0xf0 == 0).then_some(value)
    }

    /// Decodes up to 16 lowercase hex digits; `None` if any is not one.
    #[inline]
    pub(crate) fn decode_u64(digits: &[u8]) -> Option<u64> {
        if let Ok(digits) = <&[u8; 16]>::try_from(digits) {
            let (high, low) = digits.split_at(8);
            let high = decode_8(high.try_into().ok()?)? as u64;
            let low = decode_8(low.try_into().ok()?)? as u64;
            return Some((high << 32) | low);
        }
        if digits.len() > 16 {
            return None;
        }
        let mut value = 0u64;
        let mut bad = 0u8;
        for &byte in digits {
            let d = LOWER[byte as usize];
            bad |= d;
            value = (value << 4) | (d & 0x0f) as u64;
        }
        (bad & 0xf0 == 0).then_some(value)
    }

    /// Decodes exactly 8 lowercase hex digits at once (SWAR: one `u64`, eight byte lanes)
    /// rather than with a table lookup per digit: every incoming request's `traceparent` is
    /// parsed on the request path (the `traceparent_parse` benchmark keeps it in budget).
    #[inline]
    fn decode_8(chunk: &[u8; 8]) -> Option<u32> {
        const LANES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let x = u64::from_be_bytes(*chunk);
        // For lanes below 0x80, `x + (0x80 - n)` sets a lane's high bit iff the byte >= n,
        // and no lane carries into the next (lanes of 0x80 and above are refused below).
        let at_least = |n: u8| x.wrapping_add(LANES * (0x80 - n as u64)) & HIGH;
        let digit = at_least(b'0') & !at_least(b'9' + 1);
        let letter = at_least(b'a') & !at_least(b'f' + 1);
        if x & HIGH != 0 || digit | letter != HIGH {
            return None;
        }
        // '0'..'9' and 'a'..'f' end in 0x0..0x9 and 0x1..0x6: add 9 to letters.
        let mut n = (x & (LANES * 0x0f)) + (letter >> 7) * 9;
        n = (n | (n >> 4)) & 0x00ff_00ff_00ff_00ff;
        n = (n | (n >> 8)) & 0x0000_ffff_0000_ffff;
        n = (n | (n >> 16)) & 0x0000_0000_ffff_ffff;
        Some(n as u32)
    }

    /// Writes `bytes` as lowercase hex into `out`, which is twice as long.
    #[inline]
    pub(crate) fn encode(bytes: &[u8], out: &mut [u8]) {
        for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
            pair[0] = DIGITS[(byte >> 4) as usize];
            pair[1] = DIGITS[(byte & 0x0f) as usize];
        }
    }

    /// Writes one byte as two lowercase hex digits.
    #[inline]
    pub(crate) fn encode_byte(byte: u8) -> [u8; 2] {
        [DIGITS[(byte >> 4) as usize], DIGITS[(byte & 0x0f) as usize]]
    }

    /// The text of hex digits written by [`encode`].
    pub(crate) fn as_str(digits: &[u8]) -> &str {
        // Only ASCII hex digits are ever written into these buffers.
        std::str::from_utf8(digits).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id: TraceId = "0af7651916cd43dd8448eb211c80319c".parse().unwrap();
        assert_eq!(id.to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(id.to_bytes()[0], 0x0a);
        let span: SpanId = "b7ad6b7169203331".parse().unwrap();
        assert_eq!(span.to_string(), "b7ad6b7169203331");
    }

    // W3C Trace Context §3.2.2.3 / §3.2.2.4: lowercase hex, exact width, not all zeros.
    #[test]
    fn rejects_invalid_ids() {
        assert_eq!(
            "0AF7651916CD43DD8448EB211C80319C".parse::<TraceId>(),
            Err(ParseIdError::NotLowercaseHex)
        );
        assert_eq!(
            "0af7651916cd43dd8448eb211c80319".parse::<TraceId>(),
            Err(ParseIdError::Length {
                expected: 32,
                found: 31
            })
        );
        assert_eq!(
            "0000000000000000".parse::<SpanId>(),
            Err(ParseIdError::AllZeros)
        );
        assert_eq!(
            "b7ad6b716920333g".parse::<SpanId>(),
            Err(ParseIdError::NotLowercaseHex)
        );
        assert!("".parse::<SpanId>().is_err());
    }

    #[test]
    fn random_ids_differ_and_cover_all_bytes() {
        let mut seen_high = 0u8;
        let mut seen_low = 0u8;
        for _ in 0..64 {
            let bytes = TraceId::random().to_bytes();
            seen_high |= bytes[0];
            seen_low |= bytes[15];
        }
        assert_eq!(seen_high, 0xff, "high byte never set some bit");
        assert_eq!(seen_low, 0xff, "low byte never set some bit");
        assert_ne!(SpanId::random(), SpanId::random());
    }

    #[test]
    fn hex_decoder_rejects_every_non_digit() {
        for byte in 0..=255u8 {
            let valid = byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte);
            assert_eq!(hex::decode_u64(&[byte]).is_some(), valid, "byte {byte:#x}");
            // The 8-lane fast path, with the byte in every position.
            for position in 0..16 {
                let mut digits = *b"0123456789abcdef";
                digits[position] = byte;
                let expected = valid.then(|| {
                    let text = std::str::from_utf8(&digits).unwrap();
                    u64::from_str_radix(text, 16).unwrap()
                });
                assert_eq!(
                    hex::decode_u64(&digits),
                    expected,
                    "byte {byte:#x} at {position}"
                );
            }
        }
    }

    #[test]
    fn fast_and_slow_hex_paths_agree() {
        for _ in 0..1000 {
            let id = TraceId::random();
            let text = id.to_string();
            assert_eq!(hex::decode_u128(text.as_bytes()), Some(id.to_u128()));
            // 31 digits takes the per-digit path.
            assert_eq!(
                hex::decode_u128(&text.as_bytes()[1..]),
                Some(id.to_u128() & (u128::MAX >> 4))
            );
        }
    }
}
