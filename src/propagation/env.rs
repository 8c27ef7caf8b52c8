//! Choosing propagators with `OTEL_PROPAGATORS`.

use super::{
    B3Propagator, BaggagePropagator, CompositePropagator, JaegerPropagator, Propagator,
    TraceContextPropagator, XRayPropagator,
};
use crate::config::{ConfigWarning, Configured, FromEnv};

const OTEL_PROPAGATORS: &str = "OTEL_PROPAGATORS";

/// The names `OTEL_PROPAGATORS` accepts.
pub const PROPAGATOR_NAMES: &[&str] = &[
    "tracecontext",
    "baggage",
    "b3",
    "b3multi",
    "jaeger",
    "xray",
    "none",
];

impl CompositePropagator {
    /// The propagators named by `OTEL_PROPAGATORS`, as the OpenTelemetry environment-variable
    /// specification says: a comma-separated list, case-insensitive, duplicates removed; unset
    /// or empty means `tracecontext,baggage`; `none` alone means no propagation.
    ///
    /// An unknown name is ignored with a warning that names the variable, the value as
    /// written and the accepted names; so is `none` next to other names. A value that names
    /// nothing known keeps the default (`tracecontext,baggage`): a typo does not turn
    /// propagation off. The warnings are logged and returned;
    /// call [`Configured::strict`] to refuse to start on any.
    pub fn from_env() -> Configured<Self> {
        <Self as FromEnv>::from_env()
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup` (for tests, or
    /// configuration that does not come from the process environment).
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Configured<Self> {
        <Self as FromEnv>::from_env_with(lookup)
    }
}

impl FromEnv for CompositePropagator {
    fn read_env(lookup: &impl Fn(&str) -> Option<String>) -> (Self, Vec<ConfigWarning>) {
        let Some(value) = lookup(OTEL_PROPAGATORS).filter(|v| !v.trim().is_empty()) else {
            return (Self::default(), Vec::new());
        };
        let mut names: Vec<String> = Vec::new();
        let mut warnings = Vec::new();
        for given in value.split(',').map(str::trim) {
            let name = given.to_ascii_lowercase();
            if name.is_empty() || names.contains(&name) {
                continue;
            }
            if PROPAGATOR_NAMES.contains(&name.as_str()) {
                names.push(name);
            } else {
                warnings.push(ConfigWarning {
                    variable: OTEL_PROPAGATORS,
                    // As written: "implementations SHOULD display the original user-provided
                    // value" (configuration, common.md).
                    value: given.to_string(),
                    message: format!(
                        "unknown propagator ignored; accepted values: {}",
                        PROPAGATOR_NAMES.join(", ")
                    ),
                });
            }
        }
        if names.len() > 1 && names.iter().any(|n| n == "none") {
            warnings.push(ConfigWarning {
                variable: OTEL_PROPAGATORS,
                value: value.clone(),
                message: "`none` cannot be combined with other propagators; it is ignored".into(),
            });
        }
        if names.is_empty() {
            // Nothing recognised: the setting is ignored, as an unknown enum value must be
            // ("MUST generate a warning and gracefully ignore the setting"), rather than
            // turning propagation off, which only `none` asks for.
            return (Self::default(), warnings);
        }
        let propagators = names.iter().filter_map(|name| by_name(name)).collect();
        (Self::new(propagators), warnings)
    }
}

fn by_name(name: &str) -> Option<Box<dyn Propagator>> {
    Some(match name {
        "tracecontext" => Box::new(TraceContextPropagator::new()),
        "baggage" => Box::new(BaggagePropagator),
        "b3" => Box::new(B3Propagator::single()),
        "b3multi" => Box::new(B3Propagator::multi()),
        "jaeger" => Box::new(JaegerPropagator),
        "xray" => Box::new(XRayPropagator),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configure(value: Option<&str>) -> Configured<CompositePropagator> {
        CompositePropagator::from_env_with(|name| {
            assert_eq!(name, OTEL_PROPAGATORS);
            value.map(str::to_string)
        })
    }

    fn field_names(configured: &Configured<CompositePropagator>) -> Vec<String> {
        configured
            .value
            .fields()
            .iter()
            .map(|f| f.to_string())
            .collect()
    }

    #[test]
    fn unset_or_empty_is_the_default() {
        for value in [None, Some(""), Some("  ")] {
            let configured = configure(value);
            assert!(configured.warnings.is_empty());
            assert_eq!(
                field_names(&configured),
                ["traceparent", "tracestate", "baggage"]
            );
        }
    }

    #[test]
    fn names_are_case_insensitive_and_deduplicated() {
        let configured = configure(Some(" B3Multi, jaeger ,b3multi,XRAY,,TraceContext"));
        assert!(configured.warnings.is_empty());
        let kinds: Vec<String> = configured
            .value
            .propagators()
            .iter()
            .map(|p| format!("{p:?}"))
            .collect();
        assert_eq!(kinds.len(), 4, "{kinds:?}");
        assert!(kinds[0].contains("Multi") && kinds[1].contains("Jaeger"));
        assert!(kinds[2].contains("XRay") && kinds[3].contains("TraceContext"));
    }

    #[test]
    fn unknown_names_warn_and_strict_refuses() {
        let configured = configure(Some("tracecontext,ottrace"));
        assert_eq!(configured.value.propagators().len(), 1);
        let warning = &configured.warnings[0];
        assert_eq!(warning.variable, "OTEL_PROPAGATORS");
        assert_eq!(warning.value, "ottrace");
        assert!(
            warning
                .message
                .contains("tracecontext, baggage, b3, b3multi, jaeger, xray, none")
        );
        let error = configure(Some("tracecontext,ottrace"))
            .strict()
            .unwrap_err();
        assert!(
            error.to_string().contains("OTEL_PROPAGATORS=\"ottrace\""),
            "{error}"
        );
        assert!(configure(Some("b3")).strict().is_ok());
    }

    #[test]
    fn nothing_recognised_leaves_the_default() {
        // A typo must not turn propagation off.
        let configured = configure(Some("TraceContxt"));
        assert_eq!(
            field_names(&configured),
            ["traceparent", "tracestate", "baggage"]
        );
        assert_eq!(configured.warnings[0].value, "TraceContxt", "as written");
    }

    #[test]
    fn none_means_no_propagation() {
        let configured = configure(Some("none"));
        assert!(configured.warnings.is_empty());
        assert!(configured.value.propagators().is_empty());
        let mixed = configure(Some("none,b3"));
        assert_eq!(mixed.value.propagators().len(), 1);
        assert_eq!(mixed.warnings.len(), 1);
    }
}
