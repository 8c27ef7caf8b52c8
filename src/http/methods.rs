//! [`KnownMethods`]: which request methods are recorded as themselves, and which as `_OTHER`.

use std::sync::{Arc, LazyLock};

use http::Method;

use crate::config::{ConfigWarning, Configured, FromEnv};
use crate::http::interner::Interner;

/// The variable the HTTP conventions name for overriding the known methods.
const KNOWN_METHODS: &str = "OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS";

/// The request methods an HTTP span records as themselves in `http.request.method` and its
/// name; any other is recorded as `_OTHER` (with `http.request.method_original`), so that a
/// caller inventing methods cannot inflate the span names' cardinality.
///
/// The default is the conventions' list: the methods of RFC 9110 and `PATCH`. The conventions
/// require a way to replace it (`http.request.method`, note 1): [`KnownMethods::new`], or
/// `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`, a comma-separated, case-sensitive list that
/// replaces the default whole, which the layers read once per process.
///
/// # Example
///
/// ```
/// use tracewire::http::{KnownMethods, ServerLayer};
/// use tracewire::Tracer;
///
/// // A WebDAV server: its methods are its vocabulary, not noise.
/// let known = KnownMethods::new(["GET", "PUT", "DELETE", "PROPFIND", "MKCOL"]);
/// let layer = ServerLayer::new(Tracer::builder().build()).known_methods(known);
/// # let _ = layer;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownMethods {
    /// `None`: the conventions' list.
    replaced: Option<Arc<[&'static str]>>,
}

impl KnownMethods {
    /// Exactly these methods (case-sensitive), instead of the default list. Strings that are
    /// not valid method names are left out.
    pub fn new<M: AsRef<str>>(methods: impl IntoIterator<Item = M>) -> Self {
        let known = methods
            .into_iter()
            .filter_map(|method| static_name(method.as_ref()))
            .collect();
        Self {
            replaced: Some(known),
        }
    }

    /// The list `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` gives, or the default if it is not
    /// set. An entry that is not a method name is left out, with a warning.
    pub fn from_env() -> Configured<Self> {
        <Self as FromEnv>::from_env()
    }

    /// [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// ```
    /// use tracewire::http::KnownMethods;
    ///
    /// let configured = KnownMethods::from_env_with(|name| {
    ///     (name == "OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS").then(|| "GET,PROPFIND,bad method".into())
    /// });
    /// assert_eq!(configured.value, KnownMethods::new(["GET", "PROPFIND"]));
    /// assert!(configured.warnings[0].to_string().contains("bad method"));
    /// ```
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Configured<Self> {
        <Self as FromEnv>::from_env_with(lookup)
    }

    /// The process's setting, read (and warned about) once.
    pub(crate) fn process_default() -> Self {
        static FROM_ENV: LazyLock<KnownMethods> = LazyLock::new(|| KnownMethods::from_env().value);
        FROM_ENV.clone()
    }

    /// `http.request.method`: the method if it is known, else `_OTHER`.
    pub(crate) fn name(&self, method: &Method) -> &'static str {
        match &self.replaced {
            None => default_name(method),
            Some(known) => {
                let method = method.as_str();
                known
                    .iter()
                    .find(|known| **known == method)
                    .copied()
                    .unwrap_or("_OTHER")
            }
        }
    }
}

impl FromEnv for KnownMethods {
    fn read_env(lookup: &impl Fn(&str) -> Option<String>) -> (Self, Vec<ConfigWarning>) {
        // Empty counts as not set, as for every variable here.
        let Some(raw) = lookup(KNOWN_METHODS).filter(|raw| !raw.trim().is_empty()) else {
            return (Self::default(), Vec::new());
        };
        let mut warnings = Vec::new();
        let mut known = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match static_name(entry) {
                Some(method) => known.push(method),
                None => warnings.push(ConfigWarning {
                    variable: KNOWN_METHODS,
                    value: entry.to_string(),
                    message: "not an HTTP method name (RFC 9110 token); left out".to_string(),
                }),
            }
        }
        let value = Self {
            replaced: Some(known.into()),
        };
        (value, warnings)
    }
}

/// The conventions' default list.
fn default_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "_OTHER",
    }
}

/// A method name as a `'static` string (kept once per process), if it is one.
fn static_name(method: &str) -> Option<&'static str> {
    static NAMES: Interner = Interner::new(256);
    let valid = |name: &str| Method::from_bytes(name.as_bytes()).is_ok();
    match NAMES.intern_valid(&[method], valid)? {
        std::borrow::Cow::Borrowed(name) => Some(name),
        // More distinct names than any list needs: the rest are unknown.
        std::borrow::Cow::Owned(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_list_and_a_replacement() {
        let purge = Method::from_bytes(b"PURGE").unwrap();
        let default = KnownMethods::default();
        assert_eq!(default.name(&Method::GET), "GET");
        assert_eq!(default.name(&purge), "_OTHER");
        // A full replacement, case-sensitive: GET is no longer known.
        let replaced = KnownMethods::new(["PURGE", "post"]);
        assert_eq!(replaced.name(&purge), "PURGE");
        assert_eq!(replaced.name(&Method::GET), "_OTHER");
        assert_eq!(replaced.name(&Method::POST), "_OTHER");
        // Set but empty is not set: the default.
        let empty = KnownMethods::from_env_with(|_| Some(" ".into())).value;
        assert_eq!(empty.name(&Method::GET), "GET");
        // A list of nothing valid knows nothing.
        let nothing = KnownMethods::from_env_with(|_| Some("bad method".into())).value;
        assert_eq!(nothing.name(&Method::GET), "_OTHER");
    }
}
