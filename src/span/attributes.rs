//! Typed attribute values.

use std::borrow::Cow;
use std::fmt;

/// An attribute key. Static keys (such as the [`semconv`](crate::semconv) constants) cost no
/// allocation.
pub type Key = Cow<'static, str>;

/// An attribute value: a string, bool, 64-bit integer or float, or an array of one of those,
/// as OpenTelemetry defines them.
///
/// # Example
///
/// ```
/// use tracewire::span::Value;
///
/// assert_eq!(Value::from("GET"), Value::String("GET".into()));
/// assert_eq!(Value::from(200_i64), Value::I64(200));
/// assert_eq!(Value::from(vec![1.5, 2.5]).to_string(), "[1.5,2.5]");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string; `&'static str` values are not copied.
    String(Cow<'static, str>),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// An array of strings.
    StringArray(Vec<Cow<'static, str>>),
    /// An array of booleans.
    BoolArray(Vec<bool>),
    /// An array of integers.
    I64Array(Vec<i64>),
    /// An array of floats.
    F64Array(Vec<f64>),
}

/// One attribute: a key and its value.
///
/// # Example
///
/// ```
/// use tracewire::span::{KeyValue, Value};
///
/// let method = KeyValue::new("http.request.method", "GET"); // static strings are not copied
/// let status = KeyValue::new("http.response.status_code", 200_i64);
/// let user = KeyValue::new("enduser.id", format!("user-{}", 42)); // owned strings are moved in
/// assert_eq!(status.value, Value::I64(200));
/// assert_eq!(user.value.to_string(), "user-42");
/// # let _ = method;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    /// The key, e.g. `http.request.method`.
    pub key: Key,
    /// The value.
    pub value: Value,
}

impl KeyValue {
    /// An attribute from a key and anything that converts into a [`Value`].
    ///
    /// ```
    /// use tracewire::span::KeyValue;
    /// use tracewire::semconv::HTTP_RESPONSE_STATUS_CODE;
    ///
    /// let kv = KeyValue::new(HTTP_RESPONSE_STATUS_CODE, 200_i64);
    /// assert_eq!(kv.key, "http.response.status_code");
    /// ```
    pub fn new(key: impl Into<Key>, value: impl Into<Value>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

impl Value {
    /// Cuts string values (and each string of an array) to at most `max_chars` characters,
    /// as OpenTelemetry's attribute value length limit says; returns whether anything was cut.
    pub(crate) fn truncate(&mut self, max_chars: usize) -> bool {
        match self {
            Value::String(s) => truncate_str(s, max_chars),
            Value::StringArray(items) => items
                .iter_mut()
                .fold(false, |cut, s| truncate_str(s, max_chars) | cut),
            _ => false,
        }
    }
}

fn truncate_str(s: &mut Cow<'static, str>, max_chars: usize) -> bool {
    match s.char_indices().nth(max_chars) {
        Some((end, _)) => {
            match s {
                Cow::Borrowed(b) => *b = &b[..end],
                Cow::Owned(o) => o.truncate(end),
            }
            true
        }
        None => false,
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{item}")?;
            }
            f.write_str("]")
        }
        match self {
            Value::String(s) => f.write_str(s),
            Value::Bool(b) => write!(f, "{b}"),
            Value::I64(i) => write!(f, "{i}"),
            Value::F64(x) => write!(f, "{x}"),
            Value::StringArray(items) => list(f, items),
            Value::BoolArray(items) => list(f, items),
            Value::I64Array(items) => list(f, items),
            Value::F64Array(items) => list(f, items),
        }
    }
}

impl From<&'static str> for Value {
    fn from(s: &'static str) -> Self {
        Value::String(Cow::Borrowed(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(Cow::Owned(s))
    }
}

impl From<Cow<'static, str>> for Value {
    fn from(s: Cow<'static, str>) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::I64(i)
    }
}

impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::I64(i.into())
    }
}

impl From<u16> for Value {
    fn from(i: u16) -> Self {
        Value::I64(i.into())
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::F64(x)
    }
}

impl From<Vec<&'static str>> for Value {
    fn from(items: Vec<&'static str>) -> Self {
        Value::StringArray(items.into_iter().map(Cow::Borrowed).collect())
    }
}

impl From<Vec<String>> for Value {
    fn from(items: Vec<String>) -> Self {
        Value::StringArray(items.into_iter().map(Cow::Owned).collect())
    }
}

impl From<Vec<bool>> for Value {
    fn from(items: Vec<bool>) -> Self {
        Value::BoolArray(items)
    }
}

impl From<Vec<i64>> for Value {
    fn from(items: Vec<i64>) -> Self {
        Value::I64Array(items)
    }
}

impl From<Vec<f64>> for Value {
    fn from(items: Vec<f64>) -> Self {
        Value::F64Array(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_char_boundaries() {
        let mut v = Value::from("héllo");
        assert!(v.truncate(2));
        assert_eq!(v, Value::from("hé"));
        let mut v = Value::from(vec!["abc".to_string(), "d".to_string()]);
        assert!(v.truncate(1));
        assert_eq!(v.to_string(), "[a,d]");
        assert!(!Value::from(7_i64).truncate(0));
    }
}
