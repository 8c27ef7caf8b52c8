//! Extracts a `traceparent`, makes a child context, and prints what would be sent downstream
//! in every propagation format tracewire speaks.
//!
//! ```text
//! cargo run --example propagation
//! cargo run --example propagation -- 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 'rojo=00f067aa0ba902b7'
//! cargo run --example propagation -- 00-not-a-traceparent
//! ```
//!
//! Arguments: a `traceparent`, then optionally a `tracestate` and a `baggage` value.

use http::{HeaderMap, HeaderName, HeaderValue};
use tracewire::propagation::{
    B3Propagator, BaggagePropagator, JaegerPropagator, PropagationContext, Propagator,
    TraceContextPropagator, XRayPropagator,
};

const SAMPLE_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03";
const SAMPLE_TRACESTATE: &str = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
const SAMPLE_BAGGAGE: &str = "userId=alice,serverNode=DF%2028;zone=eu";

fn main() {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let traceparent = args.first().map_or(SAMPLE_TRACEPARENT, String::as_str);
    let tracestate = args.get(1).map_or(SAMPLE_TRACESTATE, String::as_str);
    let baggage = args.get(2).map_or(SAMPLE_BAGGAGE, String::as_str);

    println!("incoming headers");
    println!("  traceparent: {traceparent}");
    println!("  tracestate:  {tracestate}");
    println!("  baggage:     {baggage}");
    println!();

    let mut incoming = HeaderMap::new();
    for (name, value) in [
        ("traceparent", traceparent),
        ("tracestate", tracestate),
        ("baggage", baggage),
    ] {
        match HeaderValue::from_str(value) {
            Ok(value) => {
                incoming.insert(HeaderName::from_static(name), value);
            }
            Err(_) => eprintln!(
                "note: the {name} argument is not a valid HTTP header value (control characters?); \
                 it is left out as an HTTP server would refuse it"
            ),
        }
    }

    // Say exactly why an invalid traceparent is refused, as the spec's section names it.
    if let Err(why) = TraceContextPropagator::parse_traceparent(traceparent.as_bytes()) {
        eprintln!("invalid traceparent {traceparent:?}: {why}");
        eprintln!(
            "→ as W3C Trace Context requires, it is ignored (with tracestate) and a new trace is started"
        );
        println!();
    }

    let trace_context = TraceContextPropagator::new();
    let mut cx = trace_context.extract(&incoming);
    BaggagePropagator.extract_into(&incoming, &mut cx);

    match &cx.span_context {
        Some(parent) => {
            println!("extracted parent");
            println!("  trace-id   {}", parent.trace_id());
            println!("  parent-id  {}", parent.span_id());
            println!(
                "  flags      {:02x} (sampled: {}, random: {})",
                parent.flags().bits(),
                parent.flags().is_sampled(),
                parent.flags().is_random()
            );
            println!("  tracestate {} member(s)", parent.state().len());
        }
        None => println!("no valid parent: this service starts a new trace"),
    }
    println!("  baggage    {} member(s)", cx.baggage.len());
    println!();

    let child = cx.child();
    print_downstream(&child);
}

fn print_downstream(child: &PropagationContext) {
    let Some(span) = &child.span_context else {
        return;
    };
    println!("child span {} → sent downstream:", span.span_id());
    let formats: [(&str, Box<dyn Propagator>); 6] = [
        ("tracecontext", Box::new(TraceContextPropagator::new())),
        ("baggage", Box::new(BaggagePropagator)),
        ("b3", Box::new(B3Propagator::single())),
        ("b3multi", Box::new(B3Propagator::multi())),
        ("jaeger", Box::new(JaegerPropagator)),
        ("xray", Box::new(XRayPropagator)),
    ];
    for (name, propagator) in formats {
        let mut headers = HeaderMap::new();
        propagator.inject(child, &mut headers);
        let mut first = true;
        for (header, value) in &headers {
            let label = if first { name } else { "" };
            first = false;
            println!(
                "  {label:<13} {header}: {}",
                String::from_utf8_lossy(value.as_bytes())
            );
        }
        if first {
            println!("  {name:<13} (nothing to send)");
        }
    }
}
