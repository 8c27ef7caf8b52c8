//! Choosing exporters with `OTEL_TRACES_EXPORTER` (SDK environment variables, "Exporter
//! Selection"): a comma-separated list of `otlp`, `zipkin`, `console` (`logging`, its deprecated
//! name, too) and `none`; unset means `otlp`.
//!
//! This file is built without the `otlp` feature as well: `console` needs no feature, and a
//! build without a backend's feature still has to name the feature a requested exporter needs.
//! Each backend has two arms in `exporter`'s match: with its feature, it reads the backend's
//! own variables and starts the exporter; without it, it warns.

#[cfg(feature = "otlp")]
use super::otlp::{OtlpConfig, OtlpExporter};
#[cfg(feature = "zipkin")]
use super::zipkin::{ZipkinConfig, ZipkinExporter};
use crate::config::ConfigWarning;
#[cfg(feature = "otlp")]
use crate::config::FromEnv;
use crate::sink::{BoxFuture, ExportError, Exporter, StdoutExporter};
use crate::span::SpanData;

const NAME: &str = "OTEL_TRACES_EXPORTER";

/// An exporter chosen by `OTEL_TRACES_EXPORTER`, made when the tracer is built.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // made once per tracer; boxing buys nothing
pub(crate) enum EnvExporter {
    Console(StdoutExporter),
    #[cfg(feature = "otlp")]
    Otlp(OtlpExporter),
    #[cfg(feature = "zipkin")]
    Zipkin(ZipkinExporter),
}

impl EnvExporter {
    /// The exporter itself: every method of the trait goes to it (forwarding them one by one
    /// once forgot `take_failed`, and counted failed spans as exported).
    fn inner(&self) -> &dyn Exporter {
        match self {
            EnvExporter::Console(e) => e,
            #[cfg(feature = "otlp")]
            EnvExporter::Otlp(e) => e,
            #[cfg(feature = "zipkin")]
            EnvExporter::Zipkin(e) => e,
        }
    }
}

impl Exporter for EnvExporter {
    fn export<'a>(&'a self, batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        self.inner().export(batch)
    }

    fn take_rejected(&self) -> u64 {
        self.inner().take_rejected()
    }

    fn take_failed(&self) -> u64 {
        self.inner().take_failed()
    }

    fn shutdown(&self) {
        self.inner().shutdown()
    }
}

/// The exporters `OTEL_TRACES_EXPORTER` names, and, when it is unset and `otlp_built` is
/// false, why its default cannot be honoured.
pub(crate) fn read_exporters(
    lookup: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<ConfigWarning>,
    otlp_built: bool,
) -> (Vec<EnvExporter>, Option<ConfigWarning>) {
    let names: Vec<String> = match lookup(NAME).filter(|v| !v.trim().is_empty()) {
        Some(raw) => raw
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect(),
        None if otlp_built => vec!["otlp".to_string()],
        // The specification's default is `otlp`, which this build cannot honour. Not a warning
        // yet: a sink set in code is what most services without the feature use. Strict mode
        // refuses it when no sink is set (and `build` warns of a tracer without a sink).
        None => {
            let unmet = warning(
                "",
                "unset, so OpenTelemetry's default `otlp` applies, but tracewire was built \
                 without its `otlp` feature: enable the feature, set a sink in code, or set \
                 OTEL_TRACES_EXPORTER to console or none",
            );
            return (Vec::new(), Some(unmet));
        }
    };
    if names.iter().any(|n| n == "none") {
        return (Vec::new(), None);
    }
    let exporters = names
        .iter()
        .filter_map(|name| exporter(name, lookup, warnings))
        .collect();
    (exporters, None)
}

/// The exporter `name` (lowercase) stands for, or `None` with a warning saying why not.
#[cfg_attr(not(feature = "otlp"), expect(unused_variables))] // `lookup`: no backend to read for
fn exporter(
    name: &str,
    lookup: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<ConfigWarning>,
) -> Option<EnvExporter> {
    match name {
        "console" | "logging" => Some(EnvExporter::Console(StdoutExporter::pretty())),
        #[cfg(feature = "otlp")]
        "otlp" => start(lookup, warnings, name, "OTLP", |config: OtlpConfig| {
            OtlpExporter::new(config).map(EnvExporter::Otlp)
        }),
        #[cfg(not(feature = "otlp"))]
        "otlp" => missing(warnings, name),
        #[cfg(feature = "zipkin")]
        "zipkin" => start(lookup, warnings, name, "Zipkin", |config: ZipkinConfig| {
            ZipkinExporter::new(config).map(EnvExporter::Zipkin)
        }),
        #[cfg(not(feature = "zipkin"))]
        "zipkin" => missing(warnings, name),
        _ => {
            warnings.push(warning(
                name,
                "unknown exporter; accepted values: otlp, zipkin, console, none; this one is \
                 skipped",
            ));
            None
        }
    }
}

/// The exporter `name` made from its configuration, read with `C`'s own variables (their
/// warnings kept), or `None` with a warning saying why the `backend` exporter cannot start.
#[cfg(feature = "otlp")]
fn start<C: FromEnv>(
    lookup: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<ConfigWarning>,
    name: &str,
    backend: &str,
    make: impl FnOnce(C) -> Result<EnvExporter, ExportError>,
) -> Option<EnvExporter> {
    let (config, config_warnings) = C::read_env(lookup);
    warnings.extend(config_warnings);
    make(config)
        .map_err(|error| {
            let message = format!("the {backend} exporter cannot start: {error}");
            warnings.push(warning(name, &message));
        })
        .ok()
}

/// `None`, with a warning that this build lacks the feature the exporter `name` needs (the
/// feature has the exporter's name).
#[cfg(not(all(feature = "otlp", feature = "zipkin")))]
fn missing(warnings: &mut Vec<ConfigWarning>, name: &str) -> Option<EnvExporter> {
    warnings.push(warning(
        name,
        &format!("tracewire was built without its `{name}` feature; this exporter is skipped"),
    ));
    None
}

fn warning(value: &str, message: &str) -> ConfigWarning {
    ConfigWarning {
        variable: NAME,
        value: value.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exporters(value: &str) -> (Vec<EnvExporter>, Vec<ConfigWarning>) {
        let mut warnings = Vec::new();
        let lookup = |name: &str| (name == "OTEL_TRACES_EXPORTER").then(|| value.to_string());
        let (exporters, _) = read_exporters(&lookup, &mut warnings, cfg!(feature = "otlp"));
        (exporters, warnings)
    }

    /// The batch sink reads an exporter's failed parts through `take_failed`: an exporter
    /// chosen from the environment must pass it on, or failed spans count as exported.
    #[cfg(feature = "otlp")]
    #[test]
    fn an_exporter_from_the_environment_passes_its_counts_on() {
        let config = crate::export::otlp::OtlpConfig::default();
        let otlp = crate::export::otlp::OtlpExporter::new(config).unwrap();
        otlp.count_failed(3);
        let chosen = EnvExporter::Otlp(otlp);
        assert_eq!(chosen.take_failed(), 3);
        assert_eq!(chosen.take_failed(), 0);
    }

    #[test]
    fn exporter_selection() {
        let (chosen, warnings) = exporters("console");
        assert!(matches!(chosen[..], [EnvExporter::Console(_)]) && warnings.is_empty());
        let (chosen, warnings) = exporters("console,none");
        assert!(chosen.is_empty() && warnings.is_empty());
        let (chosen, warnings) = exporters("carrier-pigeon");
        assert!(chosen.is_empty());
        assert_eq!(warnings[0].value, "carrier-pigeon");
        let (chosen, warnings) = exporters("otlp");
        if cfg!(feature = "otlp") {
            assert_eq!((chosen.len(), warnings.len()), (1, 0));
        } else {
            assert!(chosen.is_empty());
            assert!(
                warnings[0].message.contains("`otlp` feature"),
                "{warnings:?}"
            );
        }
        let (_, warnings) = exporters("zipkin");
        assert_eq!(
            warnings.is_empty(),
            cfg!(feature = "zipkin"),
            "{warnings:?}"
        );
    }
}
