//! Every `OTEL_*` variable the tracer reads, with good and bad values.

use std::collections::HashMap;

use http::HeaderMap;
use tracewire::propagation::PropagationContext;
use tracewire::sink::MemorySink;
use tracewire::span::{SpanLimits, Value};
use tracewire::{Tracer, TracerBuilder};

fn from_env(pairs: &[(&str, &str)]) -> TracerBuilder {
    let env: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    TracerBuilder::from_env_with(move |name| env.get(name).cloned())
}

fn warned_variables(pairs: &[(&str, &str)]) -> Vec<&'static str> {
    from_env(pairs)
        .warnings()
        .iter()
        .map(|w| w.variable)
        .collect()
}

fn build(pairs: &[(&str, &str)]) -> (Tracer, MemorySink) {
    let sink = MemorySink::new().with_record_only(true);
    let tracer = from_env(pairs).sink(sink.clone()).build();
    (tracer, sink)
}

#[test]
fn nothing_set_gives_the_defaults_without_warnings() {
    let configured = from_env(&[]);
    assert!(configured.warnings().is_empty());
    let (tracer, sink) = build(&[]);
    assert!(!tracer.is_disabled());
    assert_eq!(tracer.resource().service_name(), "unknown_service");
    tracer.span("root").start().end();
    assert!(
        sink.spans()[0].span_context.flags().is_sampled(),
        "parentbased_always_on"
    );
}

#[test]
fn service_name_and_resource_attributes() {
    let (tracer, _) = build(&[
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-attrs, deployment.environment.name=prod,team=a%20b%2Cc",
        ),
        ("OTEL_SERVICE_NAME", "checkout"),
    ]);
    let resource = tracer.resource();
    assert_eq!(
        resource.service_name(),
        "checkout",
        "OTEL_SERVICE_NAME wins"
    );
    assert_eq!(
        resource.get("deployment.environment.name"),
        Some(&Value::from("prod"))
    );
    assert_eq!(resource.get("team"), Some(&Value::from("a b,c")));
    // Keys are percent-decoded too.
    let (tracer, _) = build(&[("OTEL_RESOURCE_ATTRIBUTES", "my%3Dkey=v")]);
    assert_eq!(tracer.resource().get("my=key"), Some(&Value::from("v")));
    // A broken escape discards the whole value, with a warning.
    let broken = from_env(&[("OTEL_RESOURCE_ATTRIBUTES", "team=a,k=%zz")]);
    assert_eq!(broken.warnings()[0].variable, "OTEL_RESOURCE_ATTRIBUTES");
    assert_eq!(broken.build().resource().get("team"), None);
    assert_eq!(
        resource.get("telemetry.sdk.name"),
        Some(&Value::from("tracewire"))
    );

    let bad = from_env(&[("OTEL_RESOURCE_ATTRIBUTES", "team=a,broken")]);
    assert_eq!(bad.warnings()[0].variable, "OTEL_RESOURCE_ATTRIBUTES");
    assert!(bad.warnings()[0].message.contains("\"broken\""));
    let tracer = bad.build();
    assert_eq!(
        tracer.resource().get("team"),
        None,
        "the whole value is discarded"
    );
}

#[test]
fn sdk_disabled_is_true_only_for_true() {
    for (value, disabled, warns) in [
        ("true", true, false),
        ("TRUE", true, false),
        ("false", false, false),
        ("", false, false),
        ("1", false, true),
        ("yes", false, true),
    ] {
        let configured = from_env(&[("OTEL_SDK_DISABLED", value)]);
        assert_eq!(configured.warnings().len(), usize::from(warns), "{value:?}");
        assert_eq!(configured.build().is_disabled(), disabled, "{value:?}");
    }
}

#[test]
fn a_disabled_tracer_records_nothing_but_passes_the_incoming_context_on() {
    let (tracer, sink) = build(&[("OTEL_SDK_DISABLED", "true")]);
    let mut incoming = HeaderMap::new();
    incoming.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    let remote = tracer.propagator().extract(&incoming);
    let span = tracer
        .span("server")
        .parent(remote.span_context.as_ref())
        .start();
    assert!(!span.is_recording());
    let mut outgoing = HeaderMap::new();
    let cx = PropagationContext {
        span_context: span.span_context().cloned(),
        baggage: remote.baggage.clone(),
    };
    tracer.propagator().inject(&cx, &mut outgoing);
    assert_eq!(outgoing["traceparent"], incoming["traceparent"]);
    span.end();
    assert!(sink.spans().is_empty());
    assert_eq!(tracer.stats().spans_started, 0);
}

#[test]
fn samplers_and_their_argument() {
    let sampled = |pairs: &[(&str, &str)]| {
        let (tracer, sink) = build(pairs);
        tracer.span("root").start().end();
        sink.spans()
            .first()
            .is_some_and(|s| s.span_context.flags().is_sampled())
    };
    assert!(sampled(&[("OTEL_TRACES_SAMPLER", "always_on")]));
    assert!(!sampled(&[("OTEL_TRACES_SAMPLER", "always_off")]));
    assert!(sampled(&[("OTEL_TRACES_SAMPLER", "parentbased_always_on")]));
    assert!(!sampled(&[(
        "OTEL_TRACES_SAMPLER",
        "parentbased_always_off"
    )]));
    assert!(!sampled(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0")
    ]));
    assert!(sampled(&[
        ("OTEL_TRACES_SAMPLER", "TraceIdRatio"),
        ("OTEL_TRACES_SAMPLER_ARG", "1")
    ]));
    assert!(!sampled(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.0"),
    ]));
    // The argument defaults to 1.0.
    assert!(sampled(&[("OTEL_TRACES_SAMPLER", "traceidratio")]));

    for bad_arg in ["-0.1", "1.5", "half", "NaN"] {
        let pairs = [
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", bad_arg),
        ];
        let configured = from_env(&pairs);
        assert_eq!(configured.warnings().len(), 1, "{bad_arg}");
        assert_eq!(configured.warnings()[0].variable, "OTEL_TRACES_SAMPLER_ARG");
        assert_eq!(configured.warnings()[0].value, bad_arg);
        assert!(sampled(&pairs), "a bad argument means 1.0");
    }
    for unknown in ["sometimes", "xray", "jaeger_remote"] {
        let configured = from_env(&[("OTEL_TRACES_SAMPLER", unknown)]);
        let warning = &configured.warnings()[0];
        assert_eq!(warning.variable, "OTEL_TRACES_SAMPLER");
        assert!(
            warning.message.contains("parentbased_traceidratio"),
            "lists the accepted values"
        );
        assert!(
            sampled(&[("OTEL_TRACES_SAMPLER", unknown)]),
            "falls back to parentbased_always_on"
        );
    }
}

#[test]
fn propagators_come_from_otel_propagators() {
    let (tracer, _) = build(&[("OTEL_PROPAGATORS", "b3multi")]);
    let fields: Vec<String> = tracer
        .propagator()
        .fields()
        .iter()
        .map(|f| f.to_string())
        .collect();
    assert!(fields.contains(&"x-b3-traceid".to_string()));
    assert!(!fields.contains(&"traceparent".to_string()));
    assert_eq!(
        warned_variables(&[("OTEL_PROPAGATORS", "tracecontext,w3c")]),
        ["OTEL_PROPAGATORS"]
    );
}

#[test]
fn span_limits_with_precedence_and_bad_values() {
    let limits = |pairs: &[(&str, &str)]| {
        let (tracer, sink) = build(pairs);
        let span = tracer.span("limited").start();
        for i in 0..200 {
            span.set_attribute(format!("k{i}"), "0123456789");
        }
        for _ in 0..200 {
            span.add_event("e", vec![]);
        }
        span.end();
        let data = sink.spans().remove(0);
        (
            data.attributes.len(),
            data.dropped_attributes,
            data.events.len(),
            data.attributes[0].value.clone(),
        )
    };
    assert_eq!(limits(&[]), (128, 72, 128, Value::from("0123456789")));
    assert_eq!(
        limits(&[
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4")
        ]),
        (10, 190, 128, Value::from("0123"))
    );
    assert_eq!(
        limits(&[
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "20"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4"),
            ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "6"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "3"),
        ]),
        (20, 180, 3, Value::from("012345"))
    );
    let warned = warned_variables(&[
        ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "many"),
        ("OTEL_SPAN_EVENT_COUNT_LIMIT", "-1"),
        ("OTEL_SPAN_LINK_COUNT_LIMIT", "x"),
        ("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "1e3"),
        ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", " "),
        ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "long"),
    ]);
    assert_eq!(
        warned,
        [
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
            "OTEL_SPAN_EVENT_COUNT_LIMIT",
            "OTEL_SPAN_LINK_COUNT_LIMIT",
            "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        ]
    );
    assert_eq!(
        limits(&[("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "many")]).0,
        SpanLimits::default().attribute_count as usize
    );
    // A bad span length limit falls back to the general one, and the warning says so.
    let fallback = &[
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4"),
        ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "long"),
    ];
    assert_eq!(limits(fallback).3, Value::from("0123"));
    let warning = from_env(fallback).warnings()[0].to_string();
    assert!(warning.contains("using 4 characters"), "{warning}");
}

#[test]
fn bsp_variables_reach_the_exporter_sink() {
    let configured = from_env(&[
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
        ("OTEL_BSP_SCHEDULE_DELAY", "10"),
    ]);
    assert_eq!(configured.warnings()[0].variable, "OTEL_BSP_MAX_QUEUE_SIZE");
}

#[test]
fn strict_mode_turns_every_warning_into_one_error() {
    let error = from_env(&[
        ("OTEL_TRACES_SAMPLER", "nope"),
        ("OTEL_SDK_DISABLED", "maybe"),
    ])
    .strict()
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("OTEL_TRACES_SAMPLER=\"nope\""),
        "{message}"
    );
    assert!(message.contains("OTEL_SDK_DISABLED=\"maybe\""), "{message}");
    assert!(from_env(&[("OTEL_SERVICE_NAME", "ok")]).strict().is_ok());
}

/// A disabled SDK, or `OTEL_TRACES_EXPORTER=none`, gets no exporter (so no background thread
/// and no connection attempts); without either, the default exporter is built.
#[cfg(feature = "otlp")]
#[test]
fn disabled_or_none_builds_no_exporter() {
    let sink_of = |pairs: &[(&str, &str)]| format!("{:?}", from_env(pairs).build());
    assert!(sink_of(&[]).contains("BatchSink"), "{}", sink_of(&[]));
    for pairs in [
        &[("OTEL_SDK_DISABLED", "true")][..],
        &[("OTEL_TRACES_EXPORTER", "none")][..],
    ] {
        let tracer = sink_of(pairs);
        assert!(!tracer.contains("BatchSink"), "{pairs:?}: {tracer}");
    }
}

#[test]
fn the_general_attribute_limit_also_bounds_event_and_link_attributes() {
    use tracewire::span::{KeyValue, Link};
    let (tracer, sink) = build(&[("OTEL_ATTRIBUTE_COUNT_LIMIT", "2")]);
    let five = || {
        (0..5_i64)
            .map(|i| KeyValue::new(format!("k{i}"), i))
            .collect()
    };
    let mut link = Link::new(tracewire::SpanContext::new_root(true));
    link.attributes = five();
    let span = tracer.span("limited").link(link).start();
    span.add_event("e", five());
    span.end();
    let data = &sink.spans()[0];
    assert_eq!(
        (
            data.events[0].attributes.len(),
            data.events[0].dropped_attributes
        ),
        (2, 3)
    );
    assert_eq!(
        (
            data.links[0].attributes.len(),
            data.links[0].dropped_attributes
        ),
        (2, 3)
    );
    // Their own variables win over the general one.
    let (tracer, sink) = build(&[
        ("OTEL_ATTRIBUTE_COUNT_LIMIT", "2"),
        ("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "4"),
    ]);
    let span = tracer.span("limited").start();
    span.add_event("e", five());
    span.end();
    assert_eq!(sink.spans()[0].events[0].attributes.len(), 4);
}

#[test]
fn from_env_chains_like_builder_and_keeps_its_warnings_for_strict_mode() {
    let sink = MemorySink::new();
    let tracer = from_env(&[("OTEL_SERVICE_NAME", "orders")])
        .service_version("1.0.0")
        .sink(sink.clone())
        .strict()
        .unwrap()
        .build();
    assert_eq!(tracer.resource().service_name(), "orders");
    tracer.span("work").start().end();
    assert_eq!(sink.spans().len(), 1);

    let bad = from_env(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "lots"),
    ])
    .sink(MemorySink::new());
    assert_eq!(bad.warnings()[0].variable, "OTEL_TRACES_SAMPLER_ARG");
    let error = bad.strict().unwrap_err().to_string();
    assert!(
        error.contains("OTEL_TRACES_SAMPLER_ARG=\"lots\""),
        "{error}"
    );
}

#[test]
fn health_names_every_reason_spans_are_lost() {
    let tracer = from_env(&[("OTEL_TRACES_SAMPLER", "sometimes")]).build();
    let health = tracer.health();
    assert!(!health.is_ok());
    let text = health.to_string();
    assert!(text.contains("OTEL_TRACES_SAMPLER=\"sometimes\""), "{text}");
}
