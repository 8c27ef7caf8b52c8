//! `tracestate`, as W3C Trace Context Level 2 §3.3 defines it.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::{ScanBudget, trim_ows};

/// The most list members a `tracestate` may hold (§3.3.1.1).
const MAX_MEMBERS: usize = 32;
/// Members longer than this are the first to go when the header must be cut (§3.3.1.5).
const LONG_MEMBER: usize = 128;
/// The longest key and value (§3.3.1.3.1, §3.3.1.3.2).
const MAX_KEY_LEN: usize = 256;
const MAX_VALUE_LEN: usize = 256;
/// Header bytes read at most: 32 members of the longest key and value with their commas take
/// 16,447 bytes, so twice that leaves room for whitespace and empty members, and anything
/// longer cannot be a valid list.
const MAX_SCANNED_BYTES: usize = 32 * 1024;
/// List members visited at most, empty ones included (four times the 32 a list may hold).
const MAX_LIST_MEMBERS: usize = 4 * MAX_MEMBERS;

/// The vendor-specific `tracestate` list of a trace: up to 32 `key=value` members, the most
/// recently updated first.
///
/// Parsing follows W3C Trace Context Level 2 §3.3 to the letter: the Level 2 key grammar
/// `[a-z0-9][_a-z0-9\-*/@]{0,255}`, values of 1 to 256 printable ASCII characters other than
/// `,` and `=` (leading spaces kept, trailing ones trimmed), empty members and optional
/// whitespace tolerated, several header lines combined in order. A list with an invalid member
/// or more than 32 members is invalid as a whole; a duplicated key keeps its first occurrence.
///
/// The list is stored once in canonical form (`k1=v1,k2=v2`) behind an `Arc`, so cloning it
/// into every child span costs a reference count, and an empty list costs nothing.
///
/// # Example
///
/// ```
/// use tracewire::TraceState;
///
/// let mut state: TraceState = "rojo=00f067aa0ba902b7 , congo=t61rcWkgMzE".parse().unwrap();
/// state.insert("tw", "p:8").unwrap();
/// assert_eq!(state.to_string(), "tw=p:8,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
///
/// state.insert("congo", "x").unwrap(); // updating a key moves it to the front
/// assert_eq!(state.get("congo"), Some("x"));
/// assert_eq!(state.to_string(), "congo=x,tw=p:8,rojo=00f067aa0ba902b7");
///
/// assert!("foo=".parse::<TraceState>().is_err()); // a value is never empty
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceState {
    /// Canonical members joined by `,`; `None` when the list is empty.
    list: Option<Arc<Box<str>>>,
}

/// Why a `tracestate` list, key or value is invalid.
///
/// # Example
///
/// ```
/// use tracewire::TraceState;
/// use tracewire::context::TraceStateError;
///
/// let mut state = TraceState::default();
/// assert_eq!(state.insert("Upper", "1"), Err(TraceStateError::InvalidKey));
/// assert_eq!(state.insert("vendor", "a,b"), Err(TraceStateError::InvalidValue));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceStateError {
    /// A key does not follow `[a-z0-9][_a-z0-9\-*/@]{0,255}` (§3.3.1.3.1).
    InvalidKey,
    /// A value is empty, longer than 256 characters, or holds a character outside printable
    /// ASCII or one of `,` and `=` (§3.3.1.3.2).
    InvalidValue,
    /// A list member has no `=` (§3.3.1.2).
    MissingEquals,
    /// The list holds more than 32 members (§3.3.1.1).
    TooManyMembers,
    /// The header is longer than 32 KiB, or holds more than 128 list members counting empty
    /// ones: more than a list of 32 members can take, so it is not read any further.
    TooLong,
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidKey => {
                "a tracestate key must match [a-z0-9][_a-z0-9-*/@]{0,255} (W3C Trace Context §3.3.1.3.1)"
            }
            Self::InvalidValue => {
                "a tracestate value must be 1 to 256 printable ASCII characters other than ',' and '=' (§3.3.1.3.2)"
            }
            Self::MissingEquals => "a tracestate list member must be key=value (§3.3.1.2)",
            Self::TooManyMembers => "a tracestate list holds at most 32 members (§3.3.1.1)",
            Self::TooLong => {
                "a tracestate header of over 32 KiB or 128 list members (empty ones included) is \
                 longer than any list of 32 members (§3.3.1.1) and is not read"
            }
        })
    }
}

impl std::error::Error for TraceStateError {}

impl TraceState {
    /// Parses a `tracestate` sent as several header lines, combined in order as RFC 9110 §5.3
    /// says (§3.3.1); empty lines and empty members are ignored.
    ///
    /// ```
    /// use tracewire::TraceState;
    ///
    /// let lines: [&[u8]; 3] = [b"foo=1", b"", b" bar=2 ,"];
    /// let state = TraceState::from_header_lines(lines).unwrap();
    /// assert_eq!(state.to_string(), "foo=1,bar=2");
    /// ```
    pub fn from_header_lines<'a>(
        lines: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, TraceStateError> {
        let mut members: [&[u8]; MAX_MEMBERS] = [&[]; MAX_MEMBERS];
        let mut key_lens = [0usize; MAX_MEMBERS];
        // Duplicate keys are found by hash first, so 32 members cost 32 hashes and ~500 integer
        // compares instead of ~500 string compares.
        let mut key_hashes = [0u64; MAX_MEMBERS];
        let mut count = 0;
        let mut kept_len = 0;
        let mut kept = 0;
        // When the input is one line already in canonical form, it is stored as it came.
        let mut only_line: Option<&[u8]> = None;
        let mut lines_seen = 0;

        let mut budget = ScanBudget {
            bytes: MAX_SCANNED_BYTES,
            members: MAX_LIST_MEMBERS,
        };
        for line in lines {
            lines_seen += 1;
            only_line = Some(line);
            // All or nothing (§3.3.1.1 makes a longer list invalid): never a cut.
            if !budget.take_whole_line(line) {
                return Err(TraceStateError::TooLong);
            }
            for raw in line.split(|&b| b == b',') {
                if !budget.take_member() {
                    return Err(TraceStateError::TooLong);
                }
                let member = trim_ows(raw);
                if member.is_empty() {
                    continue;
                }
                if count == MAX_MEMBERS {
                    return Err(TraceStateError::TooManyMembers);
                }
                let (key_len, key_hash) = split_member(member)?;
                count += 1;
                let key = &member[..key_len];
                let duplicate = (0..kept)
                    .any(|i| key_hashes[i] == key_hash && &members[i][..key_lens[i]] == key);
                // §3.3.1.2 leaves duplicates to the vendor: keeping the first, as most do.
                if !duplicate {
                    members[kept] = member;
                    key_lens[kept] = key_len;
                    key_hashes[kept] = key_hash;
                    kept_len += member.len();
                    kept += 1;
                }
            }
        }
        if kept == 0 {
            return Ok(Self::default());
        }
        let canonical_len = kept_len + kept - 1;
        let list: Box<str> = match only_line {
            Some(line) if lines_seen == 1 && line.len() == canonical_len => {
                // Same length as the canonical form means no whitespace, empty member or
                // duplicate was dropped: the line is canonical.
                Box::from(ascii_str(line))
            }
            _ => {
                let mut joined = String::with_capacity(canonical_len);
                for (i, member) in members[..kept].iter().enumerate() {
                    if i > 0 {
                        joined.push(',');
                    }
                    joined.push_str(ascii_str(member));
                }
                joined.into_boxed_str()
            }
        };
        Ok(Self {
            list: Some(Arc::new(list)),
        })
    }

    /// The value of `key`, if the list holds it.
    pub fn get(&self, key: &str) -> Option<&str> {
        // Samplers look up `ot` for every span, and most traces carry no trace state.
        self.list.as_ref()?;
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Sets `key` to `value` and moves it to the front of the list, as §3.5 requires for
    /// added and updated keys. Inserting into a full list drops its right-most member.
    ///
    /// ```
    /// use tracewire::TraceState;
    ///
    /// let mut state = TraceState::default();
    /// state.insert("ot", "th:8").unwrap();
    /// assert!(state.insert("Ot", "x").is_err());
    /// assert_eq!(state.get("ot"), Some("th:8"));
    /// ```
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), TraceStateError> {
        validate_key(key.as_bytes())?;
        validate_value(value.as_bytes())?;
        let mut joined = String::with_capacity(self.len_chars() + key.len() + value.len() + 2);
        joined.push_str(key);
        joined.push('=');
        joined.push_str(value);
        let others = self.iter().filter(|(k, _)| *k != key);
        for (k, v) in others.take(MAX_MEMBERS - 1) {
            joined.push(',');
            joined.push_str(k);
            joined.push('=');
            joined.push_str(v);
        }
        self.list = Some(Arc::new(joined.into_boxed_str()));
        Ok(())
    }

    /// Removes `key`; returns whether the list held it. Vendors should remove only their own
    /// keys (§3.5).
    pub fn remove(&mut self, key: &str) -> bool {
        if self.get(key).is_none() {
            return false;
        }
        let kept: Vec<(&str, &str)> = self.iter().filter(|(k, _)| *k != key).collect();
        let list = join_members(kept.iter().copied());
        self.list = (!list.is_empty()).then(|| Arc::new(list.into_boxed_str()));
        true
    }

    /// The members as `(key, value)`, left to right.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.as_str()
            .split(',')
            .filter(|m| !m.is_empty())
            .map(|member| member.split_once('=').unwrap_or((member, "")))
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the list has no member.
    pub fn is_empty(&self) -> bool {
        self.list.is_none()
    }

    /// The canonical list, cut to at most `max_len` characters the way §3.3.1.5 says: whole
    /// members only, members longer than 128 characters first, then from the right end.
    ///
    /// ```
    /// use tracewire::TraceState;
    ///
    /// let long = format!("big={}", "x".repeat(200));
    /// let state: TraceState = format!("a=1,{long},b=2").parse().unwrap();
    /// assert_eq!(state.truncated(100), "a=1,b=2");
    /// assert_eq!(state.truncated(4), "a=1");
    /// ```
    pub fn truncated(&self, max_len: usize) -> Cow<'_, str> {
        let list = self.as_str();
        if list.len() <= max_len {
            return Cow::Borrowed(list);
        }
        let mut members: Vec<&str> = list.split(',').collect();
        let mut len = list.len();
        let removed_len =
            |member: &str, remaining: usize| member.len() + usize::from(remaining > 1);
        while len > max_len {
            let Some(i) = members.iter().position(|m| m.len() > LONG_MEMBER) else {
                break;
            };
            len -= removed_len(members[i], members.len());
            members.remove(i);
        }
        while len > max_len {
            let Some(last) = members.pop() else { break };
            len -= removed_len(last, members.len() + 1);
        }
        Cow::Owned(members.join(","))
    }

    /// The canonical list (empty for none).
    fn as_str(&self) -> &str {
        self.list.as_deref().map_or("", |list| list)
    }

    fn len_chars(&self) -> usize {
        self.as_str().len()
    }
}

impl FromStr for TraceState {
    type Err = TraceStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_header_lines([s.as_bytes()])
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({:?})", self.as_str())
    }
}

fn join_members<'a>(members: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut joined = String::new();
    for (k, v) in members {
        if !joined.is_empty() {
            joined.push(',');
        }
        joined.push_str(k);
        joined.push('=');
        joined.push_str(v);
    }
    joined
}

/// Validates one trimmed, non-empty member; returns the length and a hash of its key.
fn split_member(member: &[u8]) -> Result<(usize, u64), TraceStateError> {
    // The `=` comes within the longest key's length, or the member is invalid anyway.
    let eq = member
        .iter()
        .take(MAX_KEY_LEN + 1)
        .position(|&b| b == b'=')
        .ok_or(if member.len() > MAX_KEY_LEN {
            TraceStateError::InvalidKey
        } else {
            TraceStateError::MissingEquals
        })?;
    let key_hash = validate_key(&member[..eq])?;
    validate_value(&member[eq + 1..])?;
    Ok((eq, key_hash))
}

/// What each byte may be in a key and a value.
const KEY_FIRST: u8 = 1;
const KEY_CHAR: u8 = 2;
const VALUE_CHAR: u8 = 4;
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0x20;
    while b <= 0x7e {
        // `chr = %x20 / nblk-chr`, nblk-chr = %x21-2B / %x2D-3C / %x3E-7E (§3.3.1.3.2).
        if b != b',' as usize && b != b'=' as usize {
            table[b] = VALUE_CHAR;
        }
        let c = b as u8;
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            table[b] |= KEY_FIRST | KEY_CHAR;
        } else if matches!(c, b'_' | b'-' | b'*' | b'/' | b'@') {
            table[b] |= KEY_CHAR;
        }
        b += 1;
    }
    table
};

/// `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`, Level 2 (§3.3.1.3.1); returns the key's
/// FNV-1a hash.
fn validate_key(key: &[u8]) -> Result<u64, TraceStateError> {
    let Some(&first) = key.first().filter(|_| key.len() <= MAX_KEY_LEN) else {
        return Err(TraceStateError::InvalidKey);
    };
    let mut all = KEY_CHAR;
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &b in key {
        all &= CLASS[b as usize];
        hash = (hash ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    if CLASS[first as usize] & KEY_FIRST == 0 || all == 0 {
        return Err(TraceStateError::InvalidKey);
    }
    Ok(hash)
}

/// `value = 0*255(chr) nblk-chr` (§3.3.1.3.2).
fn validate_value(value: &[u8]) -> Result<(), TraceStateError> {
    let valid = match value.last().filter(|_| value.len() <= MAX_VALUE_LEN) {
        Some(&last) => {
            last != b' '
                && value
                    .iter()
                    .fold(VALUE_CHAR, |all, &b| all & CLASS[b as usize])
                    != 0
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err(TraceStateError::InvalidValue)
    }
}

/// Text of bytes already validated as printable ASCII.
fn ascii_str(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> Result<TraceState, TraceStateError> {
        TraceState::from_header_lines(lines.iter().map(|l| l.as_bytes()))
    }

    // §3.3.1.3.1: the Level 2 key grammar, `@` anywhere but first.
    #[test]
    fn level_2_key_grammar() {
        for key in [
            "foo@",
            "foo@@bar",
            "foo@bar@baz",
            "0abc",
            "a_-*/@z",
            "t@vvvvvvvvvvvvvvv",
        ] {
            let state = parse(&[&format!("{key}=1,bar=2")]).unwrap();
            assert_eq!(state.get(key), Some("1"), "key {key}");
            assert_eq!(state.get("bar"), Some("2"));
        }
        for key in ["@foo", "FOO", "foo.bar", "foo ", "_foo", "fOo", ""] {
            assert_eq!(
                parse(&[&format!("{key}=1,bar=2")]),
                Err(TraceStateError::InvalidKey),
                "key {key:?}"
            );
        }
    }

    // §3.3.1.3.1: up to 256 characters.
    #[test]
    fn key_length_limit() {
        let key = "z".repeat(256);
        assert_eq!(parse(&["foo=1", &format!("{key}=1")]).unwrap().len(), 2);
        let too_long = "z".repeat(257);
        assert!(parse(&["foo=1", &format!("{too_long}=1")]).is_err());
        let vendor = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        assert_eq!(
            parse(&[&format!("{vendor}=1")]).unwrap().get(&vendor),
            Some("1")
        );
    }

    // §3.3.1.3.2: value grammar.
    #[test]
    fn value_grammar() {
        assert_eq!(parse(&["foo="]), Err(TraceStateError::InvalidValue));
        assert_eq!(parse(&["foo=,bar=3"]), Err(TraceStateError::InvalidValue));
        assert_eq!(parse(&["foo=bar=baz"]), Err(TraceStateError::InvalidValue));
        assert_eq!(parse(&["foo=a\tb"]), Err(TraceStateError::InvalidValue));
        assert_eq!(parse(&["foo"]), Err(TraceStateError::MissingEquals));
        // Leading spaces belong to the value; trailing ones are OWS.
        assert_eq!(parse(&["foo= 1 "]).unwrap().get("foo"), Some(" 1"));
        let all: String = (0x20u8..=0x7e)
            .filter(|&b| b != b',' && b != b'=')
            .map(char::from)
            .collect();
        assert_eq!(
            parse(&[&format!("k={all}")]).unwrap().get("k"),
            Some(all.as_str())
        );
        assert!(parse(&[&format!("k={}", "v".repeat(256))]).is_ok());
        assert!(parse(&[&format!("k={}", "v".repeat(257))]).is_err());
        assert!(parse(&["k=caf\u{e9}"]).is_err());
    }

    // §3.3.1.1: at most 32 members; more drops the whole header.
    #[test]
    fn member_count_limit() {
        let members: Vec<String> = (1..=33).map(|i| format!("bar{i:02}={i:02}")).collect();
        let ok = parse(&[&members[..32].join(",")]).unwrap();
        assert_eq!(ok.len(), 32);
        assert_eq!(ok.get("bar01"), Some("01"));
        assert_eq!(
            parse(&[&members[..30].join(","), &members[30..].join(",")]),
            Err(TraceStateError::TooManyMembers)
        );
    }

    // §3.3.1.2: duplicates keep the header; the first occurrence wins.
    /// What a hostile header costs: the members visited stay within a small bound whatever
    /// its size, and such a header is dropped whole.
    #[test]
    fn hostile_headers_cost_a_bounded_amount_of_work() {
        let cases = [
            (
                "10,000 members",
                (0..10_000)
                    .map(|i| format!("k{i}=v"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("64 KB of one member", format!("k={}", "v".repeat(64 << 10))),
            ("30 KB of commas", ",".repeat(30 << 10)),
            ("a 30 KB key", format!("{}=v", "k".repeat(30 << 10))),
        ];
        for (what, header) in cases {
            let visited = crate::context::visited_members_during(|| {
                assert!(parse(&[&header]).is_err(), "{what}");
            });
            assert!(
                visited <= MAX_LIST_MEMBERS + 1,
                "{what}: {visited} members visited"
            );
        }
        // Over many lines too.
        for (line, error) in [
            (&b"a=1"[..], TraceStateError::TooManyMembers),
            (b" ", TraceStateError::TooLong),
        ] {
            let visited = crate::context::visited_members_during(|| {
                let lines = std::iter::repeat_n(line, 10_000);
                assert_eq!(TraceState::from_header_lines(lines), Err(error));
            });
            assert!(visited <= MAX_LIST_MEMBERS + 1, "{visited}");
        }
        // The largest valid list is read whole.
        let largest: Vec<String> = (0..32)
            .map(|i| format!("{:a<256}={}", format!("k{i}"), "v".repeat(256)))
            .collect();
        assert_eq!(parse(&[&largest.join(" , ")]).unwrap().len(), 32);
    }

    #[test]
    fn duplicated_key_keeps_first() {
        let state = parse(&["foo=1,foo=2"]).unwrap();
        assert_eq!(state.to_string(), "foo=1");
        let state = parse(&["foo=1", "bar=2,foo=3"]).unwrap();
        assert_eq!(state.to_string(), "foo=1,bar=2");
    }

    // §3.3.1: several lines in order, empty lines and members, OWS around members.
    #[test]
    fn combines_lines_and_tolerates_whitespace() {
        let state = parse(&["", "foo=1 \t , \t bar=2", "", ",,baz=3,\t,"]).unwrap();
        assert_eq!(state.to_string(), "foo=1,bar=2,baz=3");
        assert!(parse(&[""]).unwrap().is_empty());
        assert!(parse(&[" , ,\t"]).unwrap().is_empty());
        assert!(parse(&[]).unwrap().is_empty());
    }

    // §3.5: updated keys move to the front; a full list drops its right-most member.
    #[test]
    fn mutation_rules() {
        let mut state = parse(&["a=1,b=2,c=3"]).unwrap();
        state.insert("c", "9").unwrap();
        assert_eq!(state.to_string(), "c=9,a=1,b=2");
        assert!(state.remove("a"));
        assert!(!state.remove("a"));
        assert_eq!(state.to_string(), "c=9,b=2");
        assert!(state.remove("c") && state.remove("b"));
        assert!(state.is_empty());

        let full: Vec<String> = (1..=32).map(|i| format!("k{i}=v")).collect();
        let mut state = parse(&[&full.join(",")]).unwrap();
        state.insert("new", "1").unwrap();
        assert_eq!(state.len(), 32);
        assert_eq!(state.iter().next(), Some(("new", "1")));
        assert_eq!(state.get("k32"), None);
        assert_eq!(state.get("k31"), Some("v"));

        assert_eq!(state.insert("k", ""), Err(TraceStateError::InvalidValue));
        assert_eq!(state.insert("K", "1"), Err(TraceStateError::InvalidKey));
    }

    // §3.3.1.5: cut whole members, long ones first, then from the right.
    #[test]
    fn truncation() {
        let long = format!("long={}", "x".repeat(130));
        let members: Vec<String> = (0..40)
            .map(|i| format!("k{i:02}={}", "v".repeat(20)))
            .collect();
        let mut list = vec![long.clone()];
        list.extend(members[..31].iter().cloned());
        let state = parse(&[&list.join(",")]).unwrap();
        let cut = state.truncated(512);
        assert!(cut.len() <= 512);
        assert!(!cut.contains("long="), "long members go first");
        assert!(cut.starts_with("k00="));
        for member in cut.split(',') {
            assert_eq!(member.len(), 24, "only whole members: {member}");
        }
        // Dropped from the right: a prefix of the members is kept.
        let kept = cut.split(',').count();
        assert_eq!(cut, members[..kept].join(","));
        assert_eq!(state.truncated(10_000), state.to_string());
    }
}
