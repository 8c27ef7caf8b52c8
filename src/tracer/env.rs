//! Configuring a tracer from the `OTEL_*` environment variables.

use super::TracerBuilder;
use crate::config::{ConfigWarning, FromEnv, read_bool, read_number};
use crate::export::env::read_exporters;
use crate::propagation::CompositePropagator;
use crate::sampling::Sampler;
use crate::semconv;
use crate::sink::BatchConfig;
use crate::span::{KeyValue, SpanLimits};

const SAMPLERS: &str = "always_on, always_off, traceidratio, parentbased_always_on, \
                        parentbased_always_off, parentbased_traceidratio";

impl TracerBuilder {
    /// A builder configured from the environment through `lookup`, as the OpenTelemetry
    /// environment-variable specification says:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `OTEL_SDK_DISABLED` | `true` records nothing (context still propagates) | `false` |
    /// | `OTEL_SERVICE_NAME` | `service.name`, over the one in the next variable | `unknown_service` |
    /// | `OTEL_RESOURCE_ATTRIBUTES` | `key=value,…`, keys and values percent-decoded | |
    /// | `OTEL_TRACES_SAMPLER` | `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio` | `parentbased_always_on` |
    /// | `OTEL_TRACES_SAMPLER_ARG` | the ratio for the `traceidratio` samplers, 0 to 1 | `1.0` |
    /// | `OTEL_PROPAGATORS` | see [`CompositePropagator::from_env`] | `tracecontext,baggage` |
    /// | `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT` (over `OTEL_ATTRIBUTE_COUNT_LIMIT`), `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT` (over `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`), `OTEL_SPAN_EVENT_COUNT_LIMIT`, `OTEL_SPAN_LINK_COUNT_LIMIT`, `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`, `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT` | [`SpanLimits`] | 128, no length limit |
    /// | `OTEL_BSP_*` | [`BatchConfig`] for [`exporter`](Self::exporter) | 2048, 512, 5000 ms, 30000 ms |
    /// | `OTEL_TRACES_EXPORTER` | `otlp` (feature `otlp`; configured by `OTEL_EXPORTER_OTLP_*`, see `OtlpConfig::from_env`), `zipkin` (feature `zipkin`; `OTEL_EXPORTER_ZIPKIN_*`), `console` (stdout; `logging`, its deprecated name, too), `none`; several separated by commas | `otlp` with the `otlp` feature, otherwise none |
    ///
    /// The exporters `OTEL_TRACES_EXPORTER` names are put behind a [`BatchSink`](crate::sink::BatchSink)
    /// with the `OTEL_BSP_*` configuration when the tracer is built, unless a sink is set in
    /// code ([`sink`](Self::sink) or [`exporter`](Self::exporter)), which replaces them.
    ///
    /// A bad value never stops the service: enums and numbers are warned about and their
    /// default used, and booleans are true only for `true`. Each warning names the variable,
    /// the value and what is accepted; all are logged and kept on the builder
    /// ([`warnings`](Self::warnings)), and [`strict`](Self::strict) turns them into an error
    /// for start-up checks.
    ///
    /// ```
    /// use tracewire::TracerBuilder;
    ///
    /// let builder = TracerBuilder::from_env_with(|name| match name {
    ///     "OTEL_SERVICE_NAME" => Some("checkout".into()),
    ///     "OTEL_TRACES_SAMPLER" => Some("parentbased_traceidratio".into()),
    ///     "OTEL_TRACES_SAMPLER_ARG" => Some("1.5".into()),
    ///     _ => None,
    /// });
    /// assert_eq!(builder.warnings()[0].variable, "OTEL_TRACES_SAMPLER_ARG");
    /// let tracer = builder.build();
    /// assert_eq!(tracer.resource().service_name(), "checkout");
    /// ```
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut warnings = Vec::new();
        let mut builder = TracerBuilder {
            disabled: read_bool(&lookup, &mut warnings, "OTEL_SDK_DISABLED"),
            ..TracerBuilder::default()
        };
        for kv in read_resource_attributes(&lookup, &mut warnings) {
            builder.resource.set(kv);
        }
        if let Some(name) = lookup("OTEL_SERVICE_NAME").filter(|n| !n.trim().is_empty()) {
            builder.resource.set(KeyValue::new(
                semconv::SERVICE_NAME,
                name.trim().to_string(),
            ));
        }
        builder.sampler = read_sampler(&lookup, &mut warnings);

        let (propagator, propagator_warnings) = CompositePropagator::read_env(&lookup);
        builder.propagator = Box::new(propagator);
        warnings.extend(propagator_warnings);

        builder.limits = read_limits(&lookup, &mut warnings);
        let (batch, batch_warnings) = BatchConfig::read_env(&lookup);
        builder.batch = batch;
        warnings.extend(batch_warnings);
        // A disabled SDK records nothing: no exporter, so no background thread either.
        if !builder.disabled {
            let (exporters, unmet) = read_exporters(&lookup, &mut warnings, cfg!(feature = "otlp"));
            builder.env_exporters = exporters;
            builder.unmet_default_exporter = unmet;
            builder.env_chose_none = builder.env_exporters.is_empty()
                && lookup("OTEL_TRACES_EXPORTER")
                    .is_some_and(|v| v.split(',').any(|n| n.trim().eq_ignore_ascii_case("none")));
        }

        for warning in &warnings {
            crate::diagnostics::warning!("tracewire: {warning}");
        }
        builder.warnings = warnings;
        builder
    }
}

/// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, keys and values
/// percent-decoded ("The `,` and `=` characters in keys and values MUST be percent encoded").
/// On any malformed pair or escape the whole value is discarded with a warning: "In case of
/// any error, e.g. failure during the decoding process, the entire environment variable value
/// SHOULD be discarded and an error SHOULD be reported" (resource SDK).
fn read_resource_attributes(
    lookup: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<ConfigWarning>,
) -> Vec<KeyValue> {
    const NAME: &str = "OTEL_RESOURCE_ATTRIBUTES";
    let Some(raw) = lookup(NAME).filter(|v| !v.trim().is_empty()) else {
        return Vec::new();
    };
    let mut attributes = Vec::new();
    for pair in raw.split(',').filter(|p| !p.trim().is_empty()) {
        let parsed = pair
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, _)| !k.is_empty())
            .and_then(|(k, v)| Some((decode_strictly(k)?, decode_strictly(v)?)));
        match parsed {
            Some((key, value)) => attributes.push(KeyValue::new(key, value)),
            None => {
                warnings.push(ConfigWarning {
                    variable: NAME,
                    value: raw.clone(),
                    message: format!(
                        "\"{}\" is not key=value with valid percent-encoding (UTF-8); expected \
                         key1=value1,key2=value2; the whole variable is ignored",
                        crate::untrusted::Untrusted::new(pair)
                    ),
                });
                return Vec::new();
            }
        }
    }
    attributes
}

fn read_sampler(
    lookup: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<ConfigWarning>,
) -> Sampler {
    let default = || Sampler::parent_based(Sampler::always_on()).into();
    let name = lookup("OTEL_TRACES_SAMPLER")
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty());
    let Some(name) = name else {
        return default();
    };
    let ratio = |warnings: &mut Vec<ConfigWarning>| read_ratio(lookup, warnings);
    match name.as_str() {
        "always_on" => Sampler::always_on(),
        "always_off" => Sampler::always_off(),
        "traceidratio" => Sampler::ratio(ratio(warnings)),
        "parentbased_always_on" => default(),
        "parentbased_always_off" => Sampler::parent_based(Sampler::always_off()).into(),
        "parentbased_traceidratio" => Sampler::parent_based(Sampler::ratio(ratio(warnings))).into(),
        _ => {
            let supported_elsewhere = matches!(
                name.as_str(),
                "jaeger_remote" | "parentbased_jaeger_remote" | "xray"
            );
            warnings.push(ConfigWarning {
                variable: "OTEL_TRACES_SAMPLER",
                value: name.clone(),
                message: format!(
                    "{}; accepted values: {SAMPLERS}; using parentbased_always_on",
                    if supported_elsewhere {
                        "a sampler tracewire does not provide"
                    } else {
                        "unknown sampler"
                    }
                ),
            });
            default()
        }
    }
}

/// `OTEL_TRACES_SAMPLER_ARG` for the ratio samplers: a number from 0 to 1, default 1.0.
fn read_ratio(lookup: &impl Fn(&str) -> Option<String>, warnings: &mut Vec<ConfigWarning>) -> f64 {
    const NAME: &str = "OTEL_TRACES_SAMPLER_ARG";
    let Some(raw) = lookup(NAME).filter(|v| !v.trim().is_empty()) else {
        return 1.0;
    };
    match raw.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => ratio,
        _ => {
            warnings.push(ConfigWarning {
                variable: NAME,
                value: raw,
                message: "expected a sampling ratio from 0 to 1; using 1.0".into(),
            });
            1.0
        }
    }
}

fn read_limits(
    lookup: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<ConfigWarning>,
) -> SpanLimits {
    let defaults = SpanLimits::default();
    let mut count = |name: &'static str, default: u32| {
        read_number(lookup, warnings, name, default.into(), 0).min(u32::MAX.into()) as u32
    };
    // The general limit applies to every kind of attribute whose own limit is not set
    // (common specification, "Attribute Limits": model-specific limits take precedence).
    let general_count = count("OTEL_ATTRIBUTE_COUNT_LIMIT", defaults.attribute_count);
    let attribute_count = count("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", general_count);
    let event_count = count("OTEL_SPAN_EVENT_COUNT_LIMIT", defaults.event_count);
    let link_count = count("OTEL_SPAN_LINK_COUNT_LIMIT", defaults.link_count);
    let attributes_per_event = count("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", general_count);
    let attributes_per_link = count("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", general_count);
    let mut length = |name: &'static str, default: Option<u32>| {
        let Some(raw) = lookup(name).filter(|v| !v.trim().is_empty()) else {
            return default;
        };
        match raw.trim().parse::<u64>() {
            Ok(value) => Some(value.min(u32::MAX.into()) as u32),
            Err(_) => {
                let fallback = match default {
                    Some(limit) => format!("{limit} characters"),
                    None => "no limit".to_string(),
                };
                warnings.push(ConfigWarning {
                    variable: name,
                    value: raw,
                    message: format!("expected a whole number of characters; using {fallback}"),
                });
                default
            }
        }
    };
    let general_length = length("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", None);
    let attribute_value_length = length("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", general_length);
    SpanLimits {
        attribute_count,
        attribute_value_length,
        event_count,
        link_count,
        attributes_per_event,
        attributes_per_link,
    }
}

/// `text` percent-decoded, or `None` if an escape is not `%` and two hex digits or the result
/// is not UTF-8.
fn decode_strictly(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let digits = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(digits, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With default features (no `otlp`) and `OTEL_TRACES_EXPORTER` unset, OpenTelemetry's
    /// default exporter cannot be honoured: strict mode says so and names the feature, unless
    /// a sink is set in code.
    #[test]
    fn strict_mode_refuses_a_default_exporter_this_build_cannot_provide() {
        let mut warnings = Vec::new();
        let (exporters, unmet) = read_exporters(&|_: &str| None, &mut warnings, false);
        assert!(exporters.is_empty() && warnings.is_empty());
        let builder = TracerBuilder {
            unmet_default_exporter: unmet,
            ..TracerBuilder::default()
        };
        let error = builder.strict().unwrap_err().to_string();
        assert!(error.contains("OTEL_TRACES_EXPORTER"), "{error}");
        assert!(error.contains("`otlp` feature"), "{error}");

        let (_, unmet) = read_exporters(&|_: &str| None, &mut Vec::new(), false);
        let with_sink = TracerBuilder {
            unmet_default_exporter: unmet,
            ..TracerBuilder::default()
        }
        .sink(crate::sink::MemorySink::new());
        assert!(with_sink.strict().is_ok());
        // With the feature, the default is honoured.
        let (_, unmet) = read_exporters(&|_: &str| None, &mut Vec::new(), true);
        assert!(unmet.is_none());
    }
}
