//! `baggage`, as the W3C Baggage specification defines it.

use std::fmt;

use super::{ScanBudget, trim_ows};

/// The spec's minimum limits (W3C Baggage §3.3.4 "Limits"): every member is propagated while
/// the list holds at most 64 members and 8192 bytes; beyond that whole members are dropped.
pub(crate) const MAX_MEMBERS: usize = 64;
pub(crate) const MAX_BYTES: usize = 8192;
/// Header bytes read at most (see [`Baggage::from_header_lines`]).
const MAX_SCANNED_BYTES: usize = 2 * MAX_BYTES;
/// `baggage-string = list-member 0*179( OWS "," OWS list-member )` (§3.3.1).
pub(crate) const MAX_LIST_MEMBERS: usize = 180;

/// Application-defined key/value pairs that travel with a request (W3C Baggage).
///
/// Values are stored decoded; percent-encoding happens on the wire. Keys are unique: a key
/// seen again (in the header or through [`insert`](Self::insert)) replaces the earlier value,
/// as OpenTelemetry's baggage API does.
///
/// # Example
///
/// ```
/// use tracewire::Baggage;
///
/// let lines: [&[u8]; 2] = [b"userId=alice, serverNode = DF%2028", b"isProduction=false;ttl=30"];
/// let baggage = Baggage::from_header_lines(lines);
/// assert_eq!(baggage.get("serverNode"), Some("DF 28"));
/// assert_eq!(baggage.len(), 3);
/// assert_eq!(
///     baggage.to_header_value(),
///     "userId=alice,serverNode=DF%2028,isProduction=false;ttl=30"
/// );
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Baggage {
    entries: Vec<BaggageEntry>,
}

/// One baggage member: a key, its decoded value and its properties.
///
/// # Example
///
/// ```
/// use tracewire::context::BaggageEntry;
///
/// let entry = BaggageEntry::new("tenant", "acme").unwrap().with_property("source", Some("edge".into())).unwrap();
/// assert_eq!((entry.key(), entry.value()), ("tenant", "acme"));
/// assert_eq!(entry.properties()[0].value.as_deref(), Some("edge"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaggageEntry {
    key: String,
    value: String,
    properties: Vec<BaggageProperty>,
}

/// A property of a baggage member: `;key` or `;key=value` (value decoded).
///
/// # Example
///
/// ```
/// use tracewire::Baggage;
///
/// let baggage = Baggage::from_header_lines([&b"user=42;sensitive;ttl=30"[..]]);
/// let properties = baggage.entry("user").unwrap().properties();
/// assert_eq!(properties[0].key, "sensitive");
/// assert_eq!(properties[1].value.as_deref(), Some("30"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaggageProperty {
    /// The property key.
    pub key: String,
    /// The decoded property value, if the property has one.
    pub value: Option<String>,
}

/// Why a baggage key cannot be used.
///
/// # Example
///
/// ```
/// use tracewire::context::{BaggageEntry, BaggageError};
///
/// assert_eq!(BaggageEntry::new("no spaces", "x").unwrap_err(), BaggageError::InvalidKey("no spaces".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaggageError {
    /// A key must be a non-empty RFC 7230 token (W3C Baggage §3.3.1.2).
    InvalidKey(String),
}

impl fmt::Display for BaggageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidKey(key) => write!(
                f,
                "baggage key {key:?} is not an RFC 7230 token (letters, digits and !#$%&'*+-.^_`|~)"
            ),
        }
    }
}

impl std::error::Error for BaggageError {}

impl BaggageEntry {
    /// A member with no properties; the key must be an RFC 7230 token.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Result<Self, BaggageError> {
        let key = key.into();
        if !is_token(key.as_bytes()) {
            return Err(BaggageError::InvalidKey(key));
        }
        Ok(Self {
            key,
            value: value.into(),
            properties: Vec::new(),
        })
    }

    /// This member with one more property.
    pub fn with_property(
        mut self,
        key: impl Into<String>,
        value: Option<String>,
    ) -> Result<Self, BaggageError> {
        let key = key.into();
        if !is_token(key.as_bytes()) {
            return Err(BaggageError::InvalidKey(key));
        }
        self.properties.push(BaggageProperty { key, value });
        Ok(self)
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The decoded value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The properties, in order.
    pub fn properties(&self) -> &[BaggageProperty] {
        &self.properties
    }

    /// Appends the member in wire form: `key=encoded-value;prop;prop=encoded-value`.
    fn encode_into(&self, out: &mut String) {
        out.push_str(&self.key);
        out.push('=');
        percent_encode_into(&self.value, out);
        for property in &self.properties {
            out.push(';');
            out.push_str(&property.key);
            if let Some(value) = &property.value {
                out.push('=');
                percent_encode_into(value, out);
            }
        }
    }

    /// The length of [`encode_into`](Self::encode_into)'s output, without writing it.
    fn encoded_len(&self) -> usize {
        let properties: usize = self
            .properties
            .iter()
            .map(|p| 1 + p.key.len() + p.value.as_deref().map_or(0, |v| 1 + percent_encoded_len(v)))
            .sum();
        self.key.len() + 1 + percent_encoded_len(&self.value) + properties
    }
}

impl Baggage {
    /// Parses `baggage` sent as several header lines (combined, W3C Baggage §3.3.3).
    ///
    /// A malformed member is skipped and the rest kept (the spec leaves malformed input to the
    /// implementation, §4). Members beyond the limits of 64 members or 8192 bytes are dropped
    /// whole.
    ///
    /// The work is bounded whatever comes in: parsing reads at most 16 KiB of the combined
    /// header (twice the largest list that must be propagated, room for optional whitespace)
    /// and looks at no more than 180 list members (the most the grammar allows), ending each
    /// cut at a member boundary; a member that cannot fit or, once 64 are held, replaces no
    /// key is skipped without being built. A header past those bounds is beyond what the
    /// limits (§3.3.4) ask a platform to propagate.
    ///
    /// ```
    /// use tracewire::Baggage;
    ///
    /// let hostile = "k=v,".repeat(10_000);
    /// let baggage = Baggage::from_header_lines([hostile.as_bytes()]);
    /// assert_eq!(baggage.len(), 1); // one key, repeated: read up to the bound, no further
    /// ```
    pub fn from_header_lines<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut baggage = Self::default();
        let mut bytes = 0;
        let mut budget = ScanBudget {
            bytes: MAX_SCANNED_BYTES,
            members: MAX_LIST_MEMBERS,
        };
        for line in lines {
            let Some(line) = budget.take_line(line) else {
                break;
            };
            for raw in line.split(|&b| b == b',') {
                if !budget.take_member() {
                    return baggage;
                }
                let full = baggage.len() == MAX_MEMBERS;
                if raw.len() > MAX_BYTES || (full && !baggage.holds_key_of(raw)) {
                    continue;
                }
                let Some(entry) = parse_member(raw) else {
                    continue;
                };
                let len = entry.encoded_len();
                // A repeated key replaces its earlier member, whose bytes no longer count.
                let replaced = baggage
                    .position(&entry.key)
                    .map(|i| baggage.entries[i].encoded_len() + 1);
                let bytes_before = bytes - replaced.unwrap_or(0);
                if (replaced.is_none() && full) || bytes_before + len > MAX_BYTES {
                    continue;
                }
                // The member plus its separating comma: `bytes` runs one ahead of the header.
                bytes = bytes_before + len + 1;
                baggage.insert_entry(entry);
            }
        }
        baggage
    }

    /// Whether the key of the raw member `raw` is held already (without building it).
    fn holds_key_of(&self, raw: &[u8]) -> bool {
        let pair = raw.split(|&b| b == b';').next().unwrap_or_default();
        let key = trim_ows(pair.split(|&b| b == b'=').next().unwrap_or_default());
        self.entries.iter().any(|e| e.key.as_bytes() == key)
    }

    /// The decoded value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(BaggageEntry::value)
    }

    /// The whole member for `key`, with its properties.
    pub fn entry(&self, key: &str) -> Option<&BaggageEntry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Sets `key` to `value` (no properties), replacing an earlier value.
    ///
    /// ```
    /// use tracewire::Baggage;
    ///
    /// let mut baggage = Baggage::default();
    /// baggage.insert("tenant", "Amélie & co").unwrap();
    /// assert_eq!(baggage.to_header_value(), "tenant=Am%C3%A9lie%20&%20co");
    /// assert!(baggage.insert("bad key", "x").is_err());
    /// ```
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), BaggageError> {
        self.insert_entry(BaggageEntry::new(key, value)?);
        Ok(())
    }

    /// Adds a member, replacing an earlier one with the same key in place.
    pub fn insert_entry(&mut self, entry: BaggageEntry) {
        match self.position(&entry.key) {
            Some(i) => self.entries[i] = entry,
            None => self.entries.push(entry),
        }
    }

    /// Removes `key`; returns its member if it was there.
    pub fn remove(&mut self, key: &str) -> Option<BaggageEntry> {
        self.position(key).map(|i| self.entries.remove(i))
    }

    /// Adds every member of `other`, whose values win over this baggage's, as long as the
    /// result stays within the limits of 64 members and 8192 bytes (members that would go
    /// past them are left out whole, as when parsing).
    pub fn merge(&mut self, other: Baggage) {
        for entry in other.entries {
            self.insert_within_limits(entry);
        }
    }

    /// Adds `entry` unless the baggage would then go past 64 members or 8192 encoded bytes;
    /// returns whether it was added.
    pub(crate) fn insert_within_limits(&mut self, entry: BaggageEntry) -> bool {
        let replaced = self.position(&entry.key);
        let members = self.len() + usize::from(replaced.is_none());
        let other_bytes: usize = self
            .entries
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != replaced)
            .map(|(_, e)| e.encoded_len() + 1)
            .sum();
        if members > MAX_MEMBERS || other_bytes + entry.encoded_len() > MAX_BYTES {
            return false;
        }
        self.insert_entry(entry);
        true
    }

    /// The members, in order.
    pub fn iter(&self) -> impl Iterator<Item = &BaggageEntry> {
        self.entries.iter()
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `baggage` header value: members percent-encoded and joined by `,`, within the
    /// spec's limits (64 members, 8192 bytes), dropping whole members that do not fit.
    pub fn to_header_value(&self) -> String {
        let mut out = String::new();
        let mut member = String::new();
        let mut count = 0;
        for entry in &self.entries {
            member.clear();
            entry.encode_into(&mut member);
            let separator = usize::from(!out.is_empty());
            if count == MAX_MEMBERS || out.len() + separator + member.len() > MAX_BYTES {
                // W3C Baggage §3.3.4: never a partial member.
                continue;
            }
            if separator == 1 {
                out.push(',');
            }
            out.push_str(&member);
            count += 1;
        }
        out
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.key == key)
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|e| (&e.key, &e.value)))
            .finish()
    }
}

/// `list-member = key OWS "=" OWS value *( OWS ";" OWS property )` (W3C Baggage §3.3.1).
fn parse_member(raw: &[u8]) -> Option<BaggageEntry> {
    let mut parts = raw.split(|&b| b == b';');
    let (key, value) = split_pair(parts.next()?)?;
    let mut entry = BaggageEntry {
        key: ascii_string(key),
        value: percent_decode(value?),
        properties: Vec::new(),
    };
    for part in parts {
        let (key, value) = split_pair(part)?;
        entry.properties.push(BaggageProperty {
            key: ascii_string(key),
            value: value.map(percent_decode),
        });
    }
    Some(entry)
}

/// Splits `key OWS [ "=" OWS value ]` into a token key and an optional value of
/// baggage-octets; `None` if either is malformed.
fn split_pair(part: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let (key, value) = match part.iter().position(|&b| b == b'=') {
        Some(eq) => (&part[..eq], Some(trim_ows(&part[eq + 1..]))),
        None => (part, None),
    };
    let key = trim_ows(key);
    if !is_token(key) || !value.is_none_or(|v| v.iter().all(|&b| is_baggage_octet(b))) {
        return None;
    }
    Some((key, value))
}

/// RFC 7230 §3.2.6 `token`.
fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`.
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Decodes `%XY` escapes; bytes that do not form UTF-8 become U+FFFD (W3C Baggage §3.3.1.3).
/// A `%` not followed by two hex digits is kept as it is.
pub(crate) fn percent_decode(value: &[u8]) -> String {
    if !value.contains(&b'%') {
        return ascii_string(value);
    }
    let mut bytes = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let escaped = (value[i] == b'%')
            .then(|| value.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| {
                let digit = |b: u8| (b as char).to_digit(16);
                Some((digit(hex[0])? * 16 + digit(hex[1])?) as u8)
            });
        match escaped {
            Some(byte) => {
                bytes.push(byte);
                i += 3;
            }
            None => {
                bytes.push(value[i]);
                i += 1;
            }
        }
    }
    // Valid UTF-8 (the usual case) keeps its buffer; only invalid input is copied lossily.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn needs_escape(b: u8) -> bool {
    !is_baggage_octet(b) || b == b'%'
}

fn percent_encoded_len(value: &str) -> usize {
    value
        .bytes()
        .map(|b| if needs_escape(b) { 3 } else { 1 })
        .sum()
}

/// Encodes every byte outside baggage-octet, and `%` itself, as `%XY`.
pub(crate) fn percent_encode_into(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value.as_bytes() {
        if !needs_escape(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0x0f) as usize] as char);
        }
    }
}

/// Text of bytes already validated as ASCII.
fn ascii_string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> Baggage {
        Baggage::from_header_lines(lines.iter().map(|l| l.as_bytes()))
    }

    // W3C Baggage §3.3.3 example: OWS around keys, values and properties.
    #[test]
    fn spec_example() {
        let baggage = parse(&[
            "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
        ]);
        assert_eq!(baggage.len(), 3);
        assert_eq!(baggage.get("key2"), Some("value2"));
        let key1 = baggage.entry("key1").unwrap();
        assert_eq!(key1.properties().len(), 2);
        assert_eq!(key1.properties()[0].key, "property1");
        assert_eq!(key1.properties()[0].value, None);
        let key3 = baggage.entry("key3").unwrap();
        assert_eq!(key3.properties()[0].value.as_deref(), Some("propertyValue"));
        assert_eq!(
            baggage.to_header_value(),
            "key1=value1;property1;property2,key2=value2,key3=value3;propertyKey=propertyValue"
        );
    }

    // §3.3.1.3: percent-encoding, `=` inside values, invalid UTF-8 → U+FFFD.
    #[test]
    fn values_are_percent_decoded() {
        let baggage =
            parse(&["userId=Am%C3%A9lie,serverNode=DF%2028,eq=a=b==c,bad=%FF%41,pct=100%"]);
        assert_eq!(baggage.get("userId"), Some("Amélie"));
        assert_eq!(baggage.get("serverNode"), Some("DF 28"));
        assert_eq!(baggage.get("eq"), Some("a=b==c"));
        assert_eq!(baggage.get("bad"), Some("\u{fffd}A"));
        assert_eq!(baggage.get("pct"), Some("100%"));
        let value = parse(&["p=x;k=%E2%9C%93"]);
        assert_eq!(
            value.entry("p").unwrap().properties()[0].value.as_deref(),
            Some("✓")
        );
    }

    #[test]
    fn encoding_round_trips() {
        let mut baggage = Baggage::default();
        let value = "a b,c;d\\e\"f%g=h\u{1F600}";
        baggage.insert("k", value).unwrap();
        let header = baggage.to_header_value();
        assert!(header.bytes().skip(2).all(is_baggage_octet), "{header}");
        assert_eq!(parse(&[&header]).get("k"), Some(value));
    }

    // §3.3.3: several header lines combine; malformed members are skipped.
    #[test]
    fn combines_lines_and_skips_malformed_members() {
        let baggage = parse(&["a=1", "", "b=2,bad key=3,c=\"q\",d=4;bad prop=1,e", "f=6"]);
        let keys: Vec<&str> = baggage.iter().map(BaggageEntry::key).collect();
        assert_eq!(keys, ["a", "b", "f"]);
        assert!(parse(&["=1"]).is_empty());
        assert_eq!(parse(&["empty="]).get("empty"), Some(""));
    }

    #[test]
    fn duplicated_key_keeps_last_value() {
        let baggage = parse(&["a=1,b=2", "a=3"]);
        assert_eq!(baggage.get("a"), Some("3"));
        assert_eq!(baggage.to_header_value(), "a=3,b=2");
    }

    // §3.3.4: at least 64 members and 8192 bytes; beyond, whole members are dropped.
    #[test]
    fn limits_drop_whole_members() {
        let members: Vec<String> = (0..70).map(|i| format!("k{i}=v{i}")).collect();
        let baggage = parse(&[&members.join(",")]);
        assert_eq!(baggage.len(), 64);
        assert_eq!(baggage.get("k63"), Some("v63"));
        assert_eq!(baggage.get("k64"), None);

        let big = "x".repeat(4000);
        let baggage = parse(&[&format!("a={big},b={big},c={big},d=1")]);
        assert_eq!(baggage.get("c"), None);
        assert_eq!(baggage.get("d"), Some("1"));
        let header = baggage.to_header_value();
        assert!(header.len() <= MAX_BYTES);
        assert!(header.ends_with(",d=1"));

        let mut many = Baggage::default();
        for i in 0..100 {
            many.insert(format!("key{i}"), "v").unwrap();
        }
        let header = many.to_header_value();
        assert_eq!(header.split(',').count(), 64);
        assert!(
            header
                .split(',')
                .all(|m| m.starts_with("key") && m.ends_with("=v"))
        );
    }

    #[test]
    fn rejects_invalid_keys() {
        let mut baggage = Baggage::default();
        assert!(matches!(
            baggage.insert("", "v"),
            Err(BaggageError::InvalidKey(_))
        ));
        assert!(baggage.insert("a=b", "v").is_err());
        assert!(
            BaggageEntry::new("ok", "v")
                .unwrap()
                .with_property("no pe", None)
                .is_err()
        );
    }

    #[test]
    fn a_repeated_key_does_not_count_its_replaced_bytes() {
        // `k=` and 8185 bytes: with `k=b` counted on top of it, `other=c` would not fit.
        let big = "a".repeat(8185);
        let header = format!("k={big},k=b,other=c");
        let baggage = Baggage::from_header_lines([header.as_bytes()]);
        assert_eq!(baggage.get("k"), Some("b"));
        assert_eq!(
            baggage.get("other"),
            Some("c"),
            "fits once the big value is replaced"
        );
    }

    /// What a hostile header costs: the members visited and built stay within a small bound
    /// whatever its size (the limits of §3.3.4 are passed long before).
    #[test]
    fn hostile_headers_cost_a_bounded_amount_of_work() {
        let cases = [
            (
                "10,000 distinct members",
                (0..10_000)
                    .map(|i| format!("k{i}=v{i}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("10,000 members of one key", "k=v,".repeat(10_000)),
            ("380 KB of one member", format!("k={}", "v".repeat(380_000))),
            ("380 KB of commas", ",".repeat(380_000)),
            ("bad escapes", "k=%zz%,".repeat(10_000)),
        ];
        for (what, header) in cases {
            let visited = crate::context::visited_members_during(|| {
                let baggage = Baggage::from_header_lines([header.as_bytes()]);
                assert!(baggage.len() <= MAX_MEMBERS, "{what}");
            });
            assert!(
                visited <= MAX_LIST_MEMBERS + 1,
                "{what}: {visited} members visited"
            );
        }
        // Split over many lines, the bound holds for the combined header.
        let line = "a=1,b=2";
        let visited = crate::context::visited_members_during(|| {
            Baggage::from_header_lines(std::iter::repeat_n(line.as_bytes(), 10_000));
        });
        assert!(visited <= MAX_LIST_MEMBERS + 1, "{visited}");
        // A full list still lets a later member replace a held key.
        let mut header: Vec<String> = (0..64).map(|i| format!("k{i}=v")).collect();
        header.push("k0=new".into());
        let baggage = Baggage::from_header_lines([header.join(",").as_bytes()]);
        assert_eq!((baggage.len(), baggage.get("k0")), (64, Some("new")));
    }

    #[test]
    fn a_cut_never_reads_a_member_truncated() {
        // The 16 KiB bound falls inside the long value: that member is dropped whole.
        let header = format!("{},long={}", "k=v,".repeat(4000), "x".repeat(1000));
        let baggage = Baggage::from_header_lines([header.as_bytes()]);
        assert_eq!(baggage.get("long"), None);
        assert_eq!(baggage.get("k"), Some("v"));
    }

    #[test]
    fn merging_stays_within_the_limits() {
        let mut baggage = Baggage::default();
        for i in 0..64 {
            baggage.insert(format!("k{i}"), "v").unwrap();
        }
        let mut more = Baggage::default();
        more.insert("k0", "replaced").unwrap();
        more.insert("k64", "v").unwrap();
        baggage.merge(more);
        assert_eq!(baggage.len(), 64);
        assert_eq!(baggage.get("k0"), Some("replaced"));
        assert_eq!(baggage.get("k64"), None);
    }
}
