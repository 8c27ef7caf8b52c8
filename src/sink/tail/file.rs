//! [`TailFile`]: a tail sampler's rules and settings read from a small TOML file (feature
//! `toml`), with errors that name the line and the key.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::config::{OnShutdown, TailConfig};
use super::matchers::{AttributeMatch, Errors};
use super::policy::Policy;
use super::rules::TailPolicy;
use crate::span::Value;

/// The largest policy file read (a policy is a few dozen lines).
const MAX_FILE_BYTES: usize = 1 << 20;
/// The deepest nesting of and/or/not.
const MAX_DEPTH: usize = 16;

/// A tail sampler's rules ([`TailPolicy`]) and settings ([`TailConfig`]), as a TOML file
/// states them.
///
/// ```toml
/// [settings]               # all optional: TailConfig's defaults otherwise
/// decision_wait_ms = 30000
/// remote_root_wait_ms = 0
/// max_bytes = 67108864
/// max_traces = 20000
/// max_spans_per_trace = 1000
/// queue_size = 8192
/// valve_fill = 0.9        # above 1: no valve, a full buffer evicts
/// decision_cache = 20000
/// on_shutdown = "decide"   # or "drop"
///
/// [[rule]]                 # rules in order; the first that keeps a trace names it
/// name = "errors"
/// type = "errors"
/// error_status = true      # optional, as is each of the two below
/// http_status = [429, [500, 599], "5xx"]
/// grpc_status = [4, 14]
///
/// [[rule]]
/// name = "slow"
/// type = "latency"
/// threshold_ms = 500
/// of = "trace"             # or "any_span"
///
/// [[rule]]
/// name = "checkout"
/// type = "and"
/// policies = [
///   { type = "attribute", key = "http.route", values = ["/checkout", "/pay"] },
///   { type = "not", policy = { type = "attribute", key = "http.method", value = "OPTIONS" } },
/// ]
///
/// [[rule]]
/// name = "baseline"
/// type = "probabilistic"
/// probability = 0.02
/// ```
///
/// Each rule is a table with a `name`, a `type` and the type's keys:
///
/// | `type` | keys |
/// |---|---|
/// | `errors` | `error_status` (bool), `http_status` (codes, `[from, to]` ranges, `"5xx"`), `grpc_status` (codes) |
/// | `latency` | `threshold_ms`, `of` (`"trace"` or `"any_span"`) |
/// | `probabilistic` | `probability` (0 to 1) |
/// | `trace_id_ratio` | `ratio` (0 to 1) |
/// | `keep_head_sampled` | — |
/// | `attribute` | `key`, then `value`, `values`, or `min` and/or `max`; `root_only` (bool) |
/// | `span_count` | `min`, `max` |
/// | `rate_limit` | `per_second` |
/// | `dynamic` | `keys` (attribute names), `target_per_second`, `interval_ms`, `max_keys` |
/// | `and`, `or` | `policies`: an array of policy tables |
/// | `not` | `policy`: a policy table |
///
/// Anything else — an unknown key, a value of the wrong type or out of range, a syntax error —
/// is a [`PolicyError`] that names the line and the key; no input panics.
///
/// # Example
///
/// ```
/// use tracewire::sink::MemorySink;
/// use tracewire::sink::tail::{TailFile, TailSink};
///
/// let file = TailFile::parse(
///     r#"
///     [[rule]]
///     name = "errors"
///     type = "errors"
///
///     [[rule]]
///     name = "baseline"
///     type = "probabilistic"
///     probability = 0.02
///     "#,
/// )
/// .unwrap();
/// assert_eq!(file.policy.rule_names().collect::<Vec<_>>(), ["errors", "baseline"]);
/// let tail = TailSink::with_config(MemorySink::new(), file.policy, file.config);
///
/// let error = TailFile::parse("[[rule]]\nname = \"x\"\ntype = \"probabilistic\"\nprobability = 2\n")
///     .unwrap_err();
/// assert_eq!((error.line, error.key.as_str()), (4, "rule[1].probability"));
/// assert_eq!(error.to_string(), "line 4, rule[1].probability: expected a number from 0 to 1, found 2");
/// # drop(tail);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TailFile {
    /// The rules.
    pub policy: TailPolicy,
    /// The settings (defaults where the file says nothing).
    pub config: TailConfig,
}

/// Why a policy file was refused: where, and what is wrong.
///
/// `key` is the path of the key from the top of the file, rules counted from 1 in the order
/// they appear (`rule[2].policies[1].type`); `line` counts from 1. An unreadable file has line
/// 0 and an empty key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// The line, from 1.
    pub line: usize,
    /// The key's path.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.key.is_empty()) {
            (0, _) => f.write_str(&self.message),
            (line, true) => write!(f, "line {line}: {}", self.message),
            (line, false) => write!(f, "line {line}, {}: {}", self.key, self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

impl TailFile {
    /// Reads the rules and settings from TOML text.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let reader = Reader { text };
        if text.len() > MAX_FILE_BYTES {
            return Err(reader.error(0..0, "", format!("the file is over {MAX_FILE_BYTES} bytes")));
        }
        let document = DeTable::parse(text).map_err(|error| reader.syntax_error(&error))?;
        reader.file(document.get_ref(), document.span())
    }

    /// Reads the rules and settings from the TOML file at `path`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        let unreadable = |why: String| PolicyError {
            line: 0,
            key: String::new(),
            message: format!("cannot read {}: {why}", path.display()),
        };
        let metadata = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
        if metadata.len() > MAX_FILE_BYTES as u64 {
            return Err(unreadable(format!("it is over {MAX_FILE_BYTES} bytes")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
        Self::parse(&text)
    }
}

impl TailPolicy {
    /// The rules of a TOML policy file's text ([`TailFile::parse`], its settings ignored).
    ///
    /// ```
    /// use tracewire::sink::tail::TailPolicy;
    ///
    /// let policy = TailPolicy::from_toml("[[rule]]\nname = \"slow\"\ntype = \"latency\"\nthreshold_ms = 500\n")
    ///     .unwrap();
    /// assert_eq!(policy.rule_names().next(), Some("slow"));
    /// ```
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        TailFile::parse(text).map(|file| file.policy)
    }
}

type Table<'i> = DeTable<'i>;
type Item<'i> = Spanned<DeValue<'i>>;

/// Reads the parsed document, knowing the text to turn offsets into lines.
struct Reader<'t> {
    text: &'t str,
}

impl Reader<'_> {
    fn line(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text.as_bytes()[..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn error(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> PolicyError {
        PolicyError {
            line: self.line(span.start),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// A syntax error: its line, and the key written on that line, if any.
    fn syntax_error(&self, error: &toml::de::Error) -> PolicyError {
        let offset = error.span().map_or(0, |span| span.start);
        let line = self.line(offset);
        let text = self.text.lines().nth(line - 1).unwrap_or("");
        let text = text.trim();
        let key = match text.split_once('=') {
            Some((key, _)) if !text.starts_with('[') => key.trim(),
            _ => text.trim_matches(|c| c == '[' || c == ']').trim(),
        };
        let key: String = key.chars().take(80).collect();
        let message = error.message().trim().replace('\n', " ");
        PolicyError {
            line,
            key,
            message: format!("not valid TOML: {message}"),
        }
    }

    fn file(&self, root: &Table<'_>, span: Range<usize>) -> Result<TailFile, PolicyError> {
        self.known_keys(root, "", &["settings", "rule"])?;
        let config = match root.get("settings") {
            Some(settings) => self.settings(settings)?,
            None => TailConfig::default(),
        };
        let Some(rules) = root.get("rule") else {
            return Err(self.error(
                span,
                "rule",
                "no [[rule]]: a policy needs at least one rule",
            ));
        };
        let DeValue::Array(rules) = rules.get_ref() else {
            return Err(self.wrong_type(rules, "rule", "an array of tables ([[rule]])"));
        };
        let mut policy = TailPolicy::new();
        for (i, rule) in rules.iter().enumerate() {
            let path = format!("rule[{}]", i + 1);
            let table = self.table(rule, &path)?;
            let name = self.required(table, rule, &path, "name")?;
            let name_path = format!("{path}.name");
            let name_text = self.string(name, &name_path)?;
            if name_text.is_empty() {
                return Err(self.error(name.span(), &name_path, "a rule needs a name"));
            }
            if policy.rule_names().any(|n| n == name_text) {
                return Err(self.error(
                    name.span(),
                    &name_path,
                    format!("a rule named {name_text:?} comes earlier"),
                ));
            }
            let parsed = self.policy(rule, table, &path, true, 0)?;
            policy = policy.rule(Cow::Owned(name_text.to_owned()), parsed);
        }
        if policy.rules.is_empty() {
            return Err(self.error(
                span,
                "rule",
                "no [[rule]]: a policy needs at least one rule",
            ));
        }
        Ok(TailFile { policy, config })
    }

    fn settings(&self, item: &Item<'_>) -> Result<TailConfig, PolicyError> {
        let table = self.table(item, "settings")?;
        self.known_keys(
            table,
            "settings",
            &[
                "decision_wait_ms",
                "remote_root_wait_ms",
                "max_bytes",
                "max_traces",
                "max_spans_per_trace",
                "queue_size",
                "valve_fill",
                "decision_cache",
                "on_shutdown",
            ],
        )?;
        let mut config = TailConfig::default();
        let count = |key: &str, min: u64| -> Result<Option<usize>, PolicyError> {
            match table.get(key) {
                Some(value) => {
                    let n = self.whole(value, &format!("settings.{key}"), min)?;
                    Ok(Some(usize::try_from(n).unwrap_or(usize::MAX)))
                }
                None => Ok(None),
            }
        };
        if let Some(ms) = count("decision_wait_ms", 0)? {
            config.decision_wait = Duration::from_millis(ms as u64);
        }
        if let Some(ms) = count("remote_root_wait_ms", 0)? {
            config.remote_root_wait = Duration::from_millis(ms as u64);
        }
        if let Some(n) = count("max_bytes", 1)? {
            config.max_bytes = n;
        }
        if let Some(n) = count("max_traces", 1)? {
            config.max_traces = n;
        }
        if let Some(n) = count("max_spans_per_trace", 1)? {
            config.max_spans_per_trace = n;
        }
        if let Some(n) = count("queue_size", 1)? {
            config.queue_size = n;
        }
        if let Some(n) = count("decision_cache", 1)? {
            config.decision_cache = n;
        }
        if let Some(value) = table.get("valve_fill") {
            config.valve_fill = self.rate(value, "settings.valve_fill")?;
            if config.valve_fill == 0.0 {
                return Err(self.wrong_type(value, "settings.valve_fill", "a number above 0"));
            }
        }
        if let Some(value) = table.get("on_shutdown") {
            config.on_shutdown = match self.string(value, "settings.on_shutdown")? {
                "decide" => OnShutdown::DecidePartial,
                "drop" => OnShutdown::DropPending,
                other => {
                    return Err(self.error(
                        value.span(),
                        "settings.on_shutdown",
                        format!("expected \"decide\" or \"drop\", found {other:?}"),
                    ));
                }
            };
        }
        Ok(config)
    }

    /// A policy table at `path`; `rule` says it is a rule (which also has a `name`).
    fn policy(
        &self,
        item: &Item<'_>,
        table: &Table<'_>,
        path: &str,
        rule: bool,
        depth: usize,
    ) -> Result<Policy, PolicyError> {
        if depth > MAX_DEPTH {
            return Err(self.error(
                item.span(),
                path,
                format!("and/or/not nested over {MAX_DEPTH} deep"),
            ));
        }
        let type_path = format!("{path}.type");
        let kind = self.required(table, item, path, "type")?;
        let kind_name = self.string(kind, &type_path)?;
        let keys: &[&str] = match kind_name {
            "errors" => &["error_status", "http_status", "grpc_status"],
            "latency" => &["threshold_ms", "of"],
            "probabilistic" => &["probability"],
            "trace_id_ratio" => &["ratio"],
            "keep_head_sampled" => &[],
            "attribute" => &["key", "value", "values", "min", "max", "root_only"],
            "span_count" => &["min", "max"],
            "rate_limit" => &["per_second"],
            "dynamic" => &["keys", "target_per_second", "interval_ms", "max_keys"],
            "and" | "or" => &["policies"],
            "not" => &["policy"],
            other => {
                return Err(self.error(
                    kind.span(),
                    &type_path,
                    format!(
                        "unknown policy type {other:?}; expected one of errors, latency, \
                         probabilistic, trace_id_ratio, keep_head_sampled, attribute, \
                         span_count, rate_limit, dynamic, and, or, not"
                    ),
                ));
            }
        };
        let mut allowed: Vec<&str> = vec!["type"];
        if rule {
            allowed.push("name");
        }
        allowed.extend_from_slice(keys);
        self.known_keys(table, path, &allowed)?;
        let key_path = |key: &str| format!("{path}.{key}");
        let get = |key: &str| table.get(key);
        let required = |key: &str| self.required(table, item, path, key);
        Ok(match kind_name {
            "errors" => {
                let mut errors = Errors::new();
                if let Some(value) = get("error_status") {
                    errors = errors.error_status(self.boolean(value, &key_path("error_status"))?);
                }
                if let Some(value) = get("http_status") {
                    for range in self.http_statuses(value, &key_path("http_status"))? {
                        errors = errors.http_status(range);
                    }
                }
                if let Some(value) = get("grpc_status") {
                    let path = key_path("grpc_status");
                    let mut codes = Vec::new();
                    for (i, code) in self.array(value, &path)?.iter().enumerate() {
                        let n = self.whole(code, &format!("{path}[{}]", i + 1), 0)?;
                        if n > 16 {
                            return Err(self.error(
                                code.span(),
                                &path,
                                format!("expected a gRPC status code from 0 to 16, found {n}"),
                            ));
                        }
                        codes.push(n as u8);
                    }
                    errors = errors.grpc_status(codes);
                }
                errors.into()
            }
            "latency" => {
                let threshold =
                    self.millis(required("threshold_ms")?, &key_path("threshold_ms"))?;
                match get("of") {
                    None => Policy::latency(threshold),
                    Some(of) => match self.string(of, &key_path("of"))? {
                        "trace" => Policy::latency(threshold),
                        "any_span" => Policy::span_latency(threshold),
                        other => {
                            return Err(self.error(
                                of.span(),
                                &key_path("of"),
                                format!("expected \"trace\" or \"any_span\", found {other:?}"),
                            ));
                        }
                    },
                }
            }
            "probabilistic" => Policy::probabilistic(
                self.fraction(required("probability")?, &key_path("probability"))?,
            ),
            "trace_id_ratio" => {
                Policy::trace_id_ratio(self.fraction(required("ratio")?, &key_path("ratio"))?)
            }
            "keep_head_sampled" => Policy::keep_head_sampled(),
            "attribute" => self.attribute(item, table, path)?,
            "span_count" => {
                let min = match get("min") {
                    Some(v) => self.whole(v, &key_path("min"), 0)?,
                    None => 0,
                };
                let max = match get("max") {
                    Some(v) => self.whole(v, &key_path("max"), 0)?,
                    None => u64::MAX,
                };
                if min > max {
                    return Err(self.error(
                        table.get("max").map_or(item.span(), Spanned::span),
                        &key_path("max"),
                        format!("max ({max}) is below min ({min})"),
                    ));
                }
                let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
                Policy::span_count_between(size(min), size(max))
            }
            "rate_limit" => {
                Policy::rate_limit(self.rate(required("per_second")?, &key_path("per_second"))?)
            }
            "dynamic" => {
                let keys_path = key_path("keys");
                let keys_item = required("keys")?;
                let mut keys = Vec::new();
                for (i, key) in self.array(keys_item, &keys_path)?.iter().enumerate() {
                    keys.push(
                        self.string(key, &format!("{keys_path}[{}]", i + 1))?
                            .to_owned(),
                    );
                }
                if keys.is_empty() {
                    return Err(self.error(
                        keys_item.span(),
                        &keys_path,
                        "expected at least one attribute name",
                    ));
                }
                let target = self.rate(
                    required("target_per_second")?,
                    &key_path("target_per_second"),
                )?;
                let mut dynamic = Policy::dynamic(keys, target);
                if let Some(value) = get("interval_ms") {
                    let interval = self.millis(value, &key_path("interval_ms"))?;
                    if interval < Duration::from_millis(1) {
                        return Err(self.error(
                            value.span(),
                            &key_path("interval_ms"),
                            "expected at least 1",
                        ));
                    }
                    dynamic = dynamic.interval(interval);
                }
                if let Some(value) = get("max_keys") {
                    let n = self.whole(value, &key_path("max_keys"), 1)?;
                    dynamic = dynamic.max_keys(usize::try_from(n).unwrap_or(usize::MAX));
                }
                dynamic.into()
            }
            "and" | "or" => {
                let list_path = key_path("policies");
                let list_item = required("policies")?;
                let list = self.array(list_item, &list_path)?;
                if list.is_empty() {
                    return Err(self.error(
                        list_item.span(),
                        &list_path,
                        "expected at least one policy",
                    ));
                }
                let mut policies = Vec::new();
                for (i, inner) in list.iter().enumerate() {
                    let inner_path = format!("{list_path}[{}]", i + 1);
                    let inner_table = self.table(inner, &inner_path)?;
                    policies.push(self.policy(
                        inner,
                        inner_table,
                        &inner_path,
                        false,
                        depth + 1,
                    )?);
                }
                match kind_name {
                    "and" => Policy::all(policies),
                    _ => Policy::any(policies),
                }
            }
            _ => {
                let inner_path = key_path("policy");
                let inner = required("policy")?;
                let inner_table = self.table(inner, &inner_path)?;
                Policy::not(self.policy(inner, inner_table, &inner_path, false, depth + 1)?)
            }
        })
    }

    fn attribute(
        &self,
        item: &Item<'_>,
        table: &Table<'_>,
        path: &str,
    ) -> Result<Policy, PolicyError> {
        let key_path = |key: &str| format!("{path}.{key}");
        let key = self.required(table, item, path, "key")?;
        let key = self.string(key, &key_path("key"))?.to_owned();
        let mut attribute = AttributeMatch::new(key);
        let tests: Vec<&str> = ["value", "values", "min"]
            .into_iter()
            .filter(|k| table.get(*k).is_some())
            .collect();
        let (min, max) = (table.get("min"), table.get("max"));
        if tests.len() > 1 || (max.is_some() && tests.iter().any(|t| *t != "min")) {
            let second = table.get(tests.last().copied().unwrap_or("max"));
            return Err(self.error(
                second.map_or(item.span(), Spanned::span),
                path,
                "give one of value, values, or min and/or max",
            ));
        }
        if let Some(value) = table.get("value") {
            attribute = attribute.equals(self.literal(value, &key_path("value"))?);
        } else if let Some(values) = table.get("values") {
            let values_path = key_path("values");
            let mut literals = Vec::new();
            for (i, value) in self.array(values, &values_path)?.iter().enumerate() {
                literals.push(self.literal(value, &format!("{values_path}[{}]", i + 1))?);
            }
            attribute = attribute.one_of(literals);
        } else if min.is_some() || max.is_some() {
            let bound = |value: Option<&Item<'_>>, key: &str, default: f64| match value {
                Some(value) => self.number(value, &key_path(key)),
                None => Ok(default),
            };
            let low = bound(min, "min", f64::NEG_INFINITY)?;
            let high = bound(max, "max", f64::INFINITY)?;
            if low > high {
                return Err(self.error(
                    max.map_or(item.span(), Spanned::span),
                    &key_path("max"),
                    format!("max ({high}) is below min ({low})"),
                ));
            }
            attribute = attribute.between(low, high);
        }
        if let Some(value) = table.get("root_only") {
            if self.boolean(value, &key_path("root_only"))? {
                attribute = attribute.root_only();
            }
        }
        Ok(attribute.into())
    }

    /// `http_status`: codes, `[from, to]` ranges and `"5xx"` classes.
    fn http_statuses(
        &self,
        item: &Item<'_>,
        path: &str,
    ) -> Result<Vec<std::ops::RangeInclusive<u16>>, PolicyError> {
        let mut ranges = Vec::new();
        for (i, entry) in self.array(item, path)?.iter().enumerate() {
            let entry_path = format!("{path}[{}]", i + 1);
            let status = |value: &Item<'_>| -> Result<u16, PolicyError> {
                let n = self.whole(value, &entry_path, 0)?;
                match (100..=599).contains(&n) {
                    true => Ok(n as u16),
                    false => Err(self.error(
                        value.span(),
                        &entry_path,
                        format!("expected an HTTP status from 100 to 599, found {n}"),
                    )),
                }
            };
            let range = match entry.get_ref() {
                DeValue::Integer(_) => {
                    let code = status(entry)?;
                    code..=code
                }
                DeValue::Array(pair) if pair.len() == 2 => {
                    let (from, to) = (status(&pair[0])?, status(&pair[1])?);
                    if from > to {
                        return Err(self.error(
                            entry.span(),
                            &entry_path,
                            format!("the range [{from}, {to}] is empty"),
                        ));
                    }
                    from..=to
                }
                DeValue::String(class)
                    if class.len() == 3
                        && class.ends_with("xx")
                        && matches!(class.as_bytes()[0], b'1'..=b'5') =>
                {
                    let from = u16::from(class.as_bytes()[0] - b'0') * 100;
                    from..=from + 99
                }
                _ => {
                    return Err(self.error(
                        entry.span(),
                        &entry_path,
                        format!(
                            "expected a status (500), a range ([500, 599]) or a class (\"5xx\"), \
                             found {}",
                            shown(entry)
                        ),
                    ));
                }
            };
            ranges.push(range);
        }
        Ok(ranges)
    }

    fn known_keys(&self, table: &Table<'_>, path: &str, known: &[&str]) -> Result<(), PolicyError> {
        for (key, _) in table.iter() {
            if !known.contains(&key.get_ref().as_ref()) {
                let full = match path.is_empty() {
                    true => key.get_ref().to_string(),
                    false => format!("{path}.{}", key.get_ref()),
                };
                let expected = match known.is_empty() {
                    true => "none here".to_owned(),
                    false => format!("expected one of {}", known.join(", ")),
                };
                return Err(self.error(key.span(), &full, format!("unknown key; {expected}")));
            }
        }
        Ok(())
    }

    fn required<'a, 'i>(
        &self,
        table: &'a Table<'i>,
        item: &Item<'_>,
        path: &str,
        key: &str,
    ) -> Result<&'a Item<'i>, PolicyError> {
        table.get(key).ok_or_else(|| {
            self.error(
                item.span(),
                &format!("{path}.{key}"),
                format!("missing; this table needs `{key}`"),
            )
        })
    }

    fn wrong_type(&self, item: &Item<'_>, path: &str, expected: &str) -> PolicyError {
        self.error(
            item.span(),
            path,
            format!("expected {expected}, found {}", shown(item)),
        )
    }

    fn table<'a, 'i>(&self, item: &'a Item<'i>, path: &str) -> Result<&'a Table<'i>, PolicyError> {
        match item.get_ref() {
            DeValue::Table(table) => Ok(table),
            _ => Err(self.wrong_type(item, path, "a table")),
        }
    }

    fn array<'a, 'i>(&self, item: &'a Item<'i>, path: &str) -> Result<&'a [Item<'i>], PolicyError> {
        match item.get_ref() {
            DeValue::Array(array) => Ok(array),
            _ => Err(self.wrong_type(item, path, "an array")),
        }
    }

    fn string<'a>(&self, item: &'a Item<'_>, path: &str) -> Result<&'a str, PolicyError> {
        match item.get_ref() {
            DeValue::String(s) => Ok(s),
            _ => Err(self.wrong_type(item, path, "a string")),
        }
    }

    fn boolean(&self, item: &Item<'_>, path: &str) -> Result<bool, PolicyError> {
        match item.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.wrong_type(item, path, "true or false")),
        }
    }

    /// A finite number, integer or float.
    fn number(&self, item: &Item<'_>, path: &str) -> Result<f64, PolicyError> {
        let n = match item.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|n| n as f64),
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            _ => return Err(self.wrong_type(item, path, "a number")),
        };
        match n {
            Some(n) if n.is_finite() => Ok(n),
            _ => Err(self.wrong_type(item, path, "a finite number")),
        }
    }

    fn fraction(&self, item: &Item<'_>, path: &str) -> Result<f64, PolicyError> {
        let n = self
            .number(item, path)
            .map_err(|_| self.wrong_type(item, path, "a number from 0 to 1"))?;
        match (0.0..=1.0).contains(&n) {
            true => Ok(n),
            false => Err(self.wrong_type(item, path, "a number from 0 to 1")),
        }
    }

    fn rate(&self, item: &Item<'_>, path: &str) -> Result<f64, PolicyError> {
        let n = self
            .number(item, path)
            .map_err(|_| self.wrong_type(item, path, "a number of at least 0"))?;
        match n >= 0.0 {
            true => Ok(n),
            false => Err(self.wrong_type(item, path, "a number of at least 0")),
        }
    }

    /// A whole number of at least `min`.
    fn whole(&self, item: &Item<'_>, path: &str, min: u64) -> Result<u64, PolicyError> {
        let expected = format!("a whole number of at least {min}");
        let DeValue::Integer(i) = item.get_ref() else {
            return Err(self.wrong_type(item, path, &expected));
        };
        match u64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) if n >= min => Ok(n),
            _ => Err(self.wrong_type(item, path, &expected)),
        }
    }

    fn millis(&self, item: &Item<'_>, path: &str) -> Result<Duration, PolicyError> {
        let ms = self
            .number(item, path)
            .map_err(|_| self.wrong_type(item, path, "milliseconds, at least 0"))?;
        match ms >= 0.0 {
            // Saturates far past any sensible wait (`try_from_secs_f64` refuses overflow).
            true => Ok(Duration::try_from_secs_f64(ms / 1_000.0).unwrap_or(Duration::MAX)),
            false => Err(self.wrong_type(item, path, "milliseconds, at least 0")),
        }
    }

    /// A value to match: a string, number or boolean.
    fn literal(&self, item: &Item<'_>, path: &str) -> Result<Value, PolicyError> {
        match item.get_ref() {
            DeValue::String(s) => Ok(Value::String(Cow::Owned(s.to_string()))),
            DeValue::Boolean(b) => Ok(Value::Bool(*b)),
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .map(Value::I64)
                .map_err(|_| self.wrong_type(item, path, "a 64-bit integer")),
            DeValue::Float(_) => self.number(item, path).map(Value::F64),
            _ => Err(self.wrong_type(item, path, "a string, number or boolean")),
        }
    }
}

/// A value as an error message shows it: the value for scalars (cut short), the type else.
fn shown(item: &Item<'_>) -> String {
    match item.get_ref() {
        DeValue::String(s) => {
            let cut: String = s.chars().take(40).collect();
            format!("{cut:?}")
        }
        DeValue::Integer(i) => i.to_string(),
        DeValue::Float(f) => f.to_string(),
        DeValue::Boolean(b) => b.to_string(),
        other => format!("a {}", other.type_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> PolicyError {
        TailFile::parse(text).unwrap_err()
    }

    #[test]
    fn a_full_file() {
        let file = TailFile::parse(
            r#"
[settings]
decision_wait_ms = 10_000
remote_root_wait_ms = 250
max_bytes = 1048576
on_shutdown = "drop"
valve_fill = 0.75

[[rule]]
name = "errors"
type = "errors"
http_status = [429, [500, 599], "4xx"]
grpc_status = [4, 14]

[[rule]]
name = "slow"
type = "latency"
threshold_ms = 500.5
of = "any_span"

[[rule]]
name = "combo"
type = "and"
policies = [
  { type = "attribute", key = "http.route", values = ["/checkout", "/pay"] },
  { type = "not", policy = { type = "attribute", key = "code", min = 500 } },
  { type = "or", policies = [{ type = "span_count", min = 3, max = 9 }, { type = "keep_head_sampled" }] },
]

[[rule]]
name = "dyn"
type = "dynamic"
keys = ["http.route"]
target_per_second = 5
interval_ms = 1000
max_keys = 10

[[rule]]
name = "limit"
type = "rate_limit"
per_second = 2.5

[[rule]]
name = "ratio"
type = "trace_id_ratio"
ratio = 0

[[rule]]
name = "baseline"
type = "probabilistic"
probability = 0.02
"#,
        )
        .unwrap();
        assert_eq!(file.config.decision_wait, Duration::from_secs(10));
        assert_eq!(file.config.remote_root_wait, Duration::from_millis(250));
        assert_eq!(file.config.on_shutdown, OnShutdown::DropPending);
        assert_eq!(file.config.valve_fill, 0.75);
        assert_eq!(
            file.policy.rule_names().collect::<Vec<_>>(),
            [
                "errors", "slow", "combo", "dyn", "limit", "ratio", "baseline"
            ]
        );
        let expected = Errors::new()
            .http_status(429..=429)
            .http_status(500..=599)
            .http_status(400..=499)
            .grpc_status([4, 14]);
        assert_eq!(file.policy.rules[0].policy, expected.into());
        assert_eq!(
            file.policy.rules[1].policy,
            Policy::span_latency(Duration::from_micros(500_500))
        );
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let cases: &[(&str, usize, &str, &str)] = &[
            (
                "[[rule]]\nname = \"a\"\ntype = \"probabilistic\"\nprobabilty = 0.1\n",
                4,
                "rule[1].probabilty",
                "unknown key",
            ),
            (
                "[[rule]]\nname = \"a\"\ntype = \"probabilistic\"\n",
                1,
                "rule[1].probability",
                "missing",
            ),
            (
                "[[rule]]\nname = \"a\"\ntype = \"latency\"\nthreshold_ms = \"fast\"\n",
                4,
                "rule[1].threshold_ms",
                "found \"fast\"",
            ),
            (
                "[[rule]]\nname = \"a\"\ntype = \"errors\"\n\n[[rule]]\nname = \"b\"\ntype = \"sometimes\"\n",
                7,
                "rule[2].type",
                "unknown policy type",
            ),
            (
                "[[rule]]\nname = \"a\"\ntype = \"and\"\npolicies = [\n  { type = \"errors\" },\n  { type = \"not\", policy = { type = \"attribute\" } },\n]\n",
                6,
                "rule[1].policies[2].policy.key",
                "missing",
            ),
            (
                "[[rule]]\nname = \"a\"\ntype = \"errors\"\nhttp_status = [[599, 500]]\n",
                4,
                "rule[1].http_status[1]",
                "empty",
            ),
            (
                "[settings]\nmax_bytes = -1\n",
                2,
                "settings.max_bytes",
                "at least 1",
            ),
            ("[settings]\nmax_bytes = 5\n", 1, "rule", "no [[rule]]"),
            (
                "[[rule]]\nname = \"a\"\ntype = \"errors\"\n[[rule]]\nname = \"a\"\ntype = \"errors\"\n",
                5,
                "rule[2].name",
                "comes earlier",
            ),
            (
                "[[rule]]\nname = \"a\"\ntype = \"errors\"\nhttp_status = [700]\n",
                4,
                "rule[1].http_status[1]",
                "100 to 599",
            ),
            (
                "[[rule]]\nname = \"a\"\ntype = \"rate_limit\"\nper_second = nan\n",
                4,
                "rule[1].per_second",
                "at least 0",
            ),
            (
                "[[rule]]\nname = \"a\"\ntype = \"span_count\"\nmin = 5\nmax = 2\n",
                5,
                "rule[1].max",
                "below min",
            ),
            (
                "[[rule]]\nname = \"a\"\ntype = \"attribute\"\nkey = \"k\"\nvalue = 1\nvalues = [2]\n",
                6,
                "rule[1]",
                "one of value",
            ),
            ("rule = 5\n", 1, "rule", "expected an array of tables"),
        ];
        for (text, line, key, message) in cases {
            let e = error(text);
            assert_eq!((e.line, e.key.as_str()), (*line, *key), "{text}\n{e}");
            assert!(e.message.contains(message), "{text}\n{e}");
        }
    }

    #[test]
    fn syntax_errors_name_the_line_and_the_key_on_it() {
        let e = error("[[rule]]\nname = \"a\"\ntype = \"probabilistic\"\nprobability = 0.1.2\n");
        assert_eq!((e.line, e.key.as_str()), (4, "probability"), "{e}");
        assert!(e.message.starts_with("not valid TOML"), "{e}");
        let e = error("[[rule]\nname = \"a\"\n");
        assert_eq!(e.line, 1, "{e}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut policy = "{ type = \"errors\" }".to_owned();
        for _ in 0..30 {
            policy = format!("{{ type = \"not\", policy = {policy} }}");
        }
        let text = format!("[[rule]]\nname = \"a\"\ntype = \"not\"\npolicy = {policy}\n");
        let e = error(&text);
        assert!(
            e.message.contains("nested") || e.message.contains("TOML"),
            "{e}"
        );
    }
}
