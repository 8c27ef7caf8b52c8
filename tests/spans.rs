//! What a span records and hands to sinks.

use std::time::Duration;

use tracewire::sink::{FanOut, MemorySink};
use tracewire::span::{Link, SpanKind, SpanLimits, Status, Value};
use tracewire::{SpanContext, Tracer};

fn tracer() -> (Tracer, MemorySink) {
    let sink = MemorySink::new();
    let tracer = Tracer::builder()
        .service_name("span-test")
        .service_version("1.2.3")
        .deployment_environment("test")
        .sink(sink.clone())
        .build();
    (tracer, sink)
}

#[test]
fn a_span_records_everything_and_ends_once() {
    let (tracer, sink) = tracer();
    let link = SpanContext::new_root(true);
    let span = tracer
        .span("POST /orders")
        .kind(SpanKind::Server)
        .attr("http.request.method", "POST")
        .attr("retries", 2_i64)
        .attr("ratio", 0.5)
        .attr("cached", false)
        .attr("tags", vec!["a", "b"])
        .link(Link::new(link.clone()))
        .start();
    span.set_attribute("http.response.status_code", 201_i64);
    span.set_attribute("retries", 3_i64);
    span.add_event(
        "validated",
        vec![tracewire::span::KeyValue::new("items", 4_i64)],
    );
    span.update_name("POST /orders/{id}");
    span.set_status(Status::Ok);
    span.set_status(Status::Error {
        message: "ignored: Ok is final".into(),
    });
    let handle = span.handle();
    std::thread::sleep(Duration::from_millis(2));
    span.end();
    handle.set_attribute("after.end", true);

    let spans = sink.spans();
    assert_eq!(spans.len(), 1, "ended exactly once");
    let data = &spans[0];
    assert_eq!(data.name, "POST /orders/{id}");
    assert_eq!(data.kind, SpanKind::Server);
    assert_eq!(data.attribute("retries"), Some(&Value::I64(3)));
    assert_eq!(data.attribute("ratio"), Some(&Value::F64(0.5)));
    assert_eq!(data.attribute("cached"), Some(&Value::Bool(false)));
    assert_eq!(data.attribute("tags"), Some(&Value::from(vec!["a", "b"])));
    assert_eq!(
        data.attribute("http.response.status_code"),
        Some(&Value::I64(201))
    );
    assert_eq!(data.attribute("after.end"), None);
    assert_eq!(data.events[0].name, "validated");
    assert!(data.events[0].time_unix_nanos >= data.start_unix_nanos);
    assert_eq!(data.links[0].span_context, link);
    assert_eq!(data.status, Status::Ok);
    assert!(data.duration_nanos() >= 2_000_000);
    assert!(
        data.start_unix_nanos > 1_700_000_000_000_000_000,
        "Unix nanoseconds"
    );
    assert_eq!(
        data.resource.get("service.version"),
        Some(&Value::from("1.2.3"))
    );
    assert_eq!(
        data.resource.get("deployment.environment.name"),
        Some(&Value::from("test"))
    );
    assert_eq!(data.scope.name, "tracewire");
    assert_eq!(data.parent_span_id, None);
    let flags = data.span_context.flags();
    assert!(
        flags.is_sampled() && flags.is_random(),
        "new traces set the random flag"
    );
    let stats = tracer.stats();
    assert_eq!((stats.spans_started, stats.spans_ended), (1, 1));
}

#[test]
fn record_error_adds_an_exception_event_and_error_status() {
    let (tracer, sink) = tracer();
    let span = tracer.span("parse").start();
    let error = "x".parse::<i32>().unwrap_err();
    span.record_error(&error);
    span.end();
    // Behind `dyn Error` the type is unknown: the Debug form's leading name.
    let boxed: Box<dyn std::error::Error> = Box::new("x".parse::<i32>().unwrap_err());
    let other = tracer.span("parse boxed").start();
    other.record_error(&*boxed);
    other.end();
    let boxed_event = &sink.spans()[1].events[0];
    assert_eq!(
        boxed_event.attributes[0],
        tracewire::span::KeyValue::new("exception.type", "ParseIntError")
    );
    let data = &sink.spans()[0];
    let event = &data.events[0];
    assert_eq!(event.name, "exception");
    assert_eq!(
        event.attributes[0],
        tracewire::span::KeyValue::new("exception.type", "core::num::error::ParseIntError")
    );
    assert_eq!(
        event.attributes[1],
        tracewire::span::KeyValue::new("exception.message", "invalid digit found in string")
    );
    assert_eq!(
        data.status,
        Status::Error {
            message: "invalid digit found in string".into()
        }
    );
}

#[test]
fn remote_parents_and_children_keep_the_trace() {
    let (tracer, sink) = tracer();
    let remote = SpanContext::new_root(true).with_remote(true);
    let server = tracer
        .span("server")
        .kind(SpanKind::Server)
        .parent(Some(&remote))
        .start();
    let child = server.child("child").start();
    child.end();
    server.end();
    let spans = sink.spans();
    let (child, server) = (&spans[0], &spans[1]);
    assert_eq!(server.parent_span_id, Some(remote.span_id()));
    assert!(server.parent_is_remote);
    assert_eq!(server.span_context.trace_id(), remote.trace_id());
    assert_eq!(child.parent_span_id, Some(server.span_context.span_id()));
    assert!(!child.parent_is_remote);

    // A random flag that arrived unset stays unset on the trace.
    let no_random = SpanContext::new_root(true)
        .with_flags(tracewire::TraceFlags::SAMPLED)
        .with_remote(true);
    let span = tracer.span("x").parent(Some(&no_random)).start();
    assert!(!span.span_context().unwrap().flags().is_random());
}

#[test]
fn limits_count_what_they_drop() {
    let sink = MemorySink::new();
    let tracer = Tracer::builder()
        .sink(sink.clone())
        .span_limits(SpanLimits {
            attribute_count: 2,
            event_count: 1,
            link_count: 1,
            attributes_per_event: 1,
            attributes_per_link: 0,
            attribute_value_length: Some(3),
        })
        .build();
    let span = tracer
        .span("limited")
        .attr("a", "abcdef")
        .attr("b", 1_i64)
        .attr("c", 2_i64)
        .link(Link::new(SpanContext::new_root(true)))
        .link(Link::new(SpanContext::new_root(true)))
        .start();
    span.add_event(
        "one",
        vec![
            tracewire::span::KeyValue::new("x", 1_i64),
            tracewire::span::KeyValue::new("y", 2_i64),
        ],
    );
    span.add_event("two", vec![]);
    span.end();
    let data = &sink.spans()[0];
    assert_eq!(data.attributes.len(), 2);
    assert_eq!(data.attribute("a"), Some(&Value::from("abc")));
    assert_eq!(data.dropped_attributes, 1);
    assert_eq!((data.events.len(), data.dropped_events), (1, 1));
    assert_eq!(data.events[0].dropped_attributes, 1);
    assert_eq!((data.links.len(), data.dropped_links), (1, 1));
}

#[test]
fn record_only_spans_reach_only_the_sinks_that_ask() {
    let exported = MemorySink::new();
    let tail = MemorySink::new().with_record_only(true);
    let tracer = Tracer::builder()
        .sampler(tracewire::sampling::Sampler::always_record(
            tracewire::sampling::Sampler::always_off(),
        ))
        .sink(FanOut::new().with(exported.clone()).with(tail.clone()))
        .build();
    let span = tracer.span("head says no").start();
    assert!(span.is_recording());
    assert!(!span.span_context().unwrap().flags().is_sampled());
    span.end();
    assert!(
        exported.spans().is_empty(),
        "exporters see sampled spans only"
    );
    assert_eq!(tail.spans().len(), 1);
}

#[test]
fn built_in_samplers_say_whether_they_decide_from_the_parent_alone() {
    use tracewire::sampling::{Rule, Sampler, ShouldSample};
    let parent_only = [
        Sampler::always_on(),
        Sampler::always_off(),
        Sampler::ratio(0.5),
        Sampler::consistent_probability(0.25),
        Sampler::parent_based(Sampler::ratio(0.1)).into(),
        Sampler::always_record(Sampler::parent_based(Sampler::always_on())),
    ];
    for sampler in parent_only {
        assert!(!sampler.uses_span_details(), "{sampler:?}");
    }
    let detailed = [
        Sampler::rate_limited(10.0),
        Sampler::rules(Sampler::always_on())
            .rule(Rule::route("/health"), Sampler::always_off())
            .into(),
        Sampler::parent_based(Sampler::rate_limited(1.0)).into(),
        Sampler::always_record(Sampler::rate_limited(1.0)),
    ];
    for sampler in detailed {
        assert!(sampler.uses_span_details(), "{sampler:?}");
    }
}

#[test]
fn a_builder_takes_a_parent_that_lives_only_as_long_as_the_builder() {
    let (tracer, sink) = tracer();
    let request = tracer.span("request").start();
    let _entered = request.enter();
    // A parent made here, borrowed by a builder from `tracewire::span` (which is 'static).
    let upstream = SpanContext::new_root(true).with_remote(true);
    tracewire::span("retry")
        .parent(Some(&upstream))
        .start()
        .end();
    let spans = sink.spans();
    assert_eq!(spans[0].parent_span_id, Some(upstream.span_id()));
}

/// A sink that says when it is dropped.
#[derive(Debug)]
struct DropFlag(std::sync::Arc<std::sync::atomic::AtomicBool>, MemorySink);

impl tracewire::sink::SpanSink for DropFlag {
    fn on_end(&self, span: tracewire::span::SpanData) {
        self.1.on_end(span);
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn spans_that_reuse_an_ended_spans_memory_record_only_their_own_data() {
    let (tracer, sink) = tracer();
    let parent = SpanContext::new_root(true).with_remote(true);
    // Each span ends before the next starts on this thread, so the later ones reuse the
    // memory of the earlier ones.
    for i in 0..20_i64 {
        let mut builder = tracer.span(format!("span {i}"));
        if i % 2 == 0 {
            builder
                .kind(SpanKind::Server)
                .parent(Some(&parent))
                .attr("even", i);
        }
        let span = builder.start();
        if i % 3 == 0 {
            span.add_event("third", Vec::new());
            span.set_status(Status::Error {
                message: "boom".into(),
            });
        }
    }
    let spans = sink.spans();
    assert_eq!(spans.len(), 20);
    for (i, span) in (0_i64..).zip(&spans) {
        assert_eq!(span.name, format!("span {i}"));
        let even = i % 2 == 0;
        assert_eq!(
            span.kind,
            if even {
                SpanKind::Server
            } else {
                SpanKind::Internal
            }
        );
        assert_eq!(span.parent_span_id.is_some(), even, "{i}");
        assert_eq!(span.parent_is_remote, even, "{i}");
        assert_eq!(span.attributes.len(), usize::from(even), "{i}");
        assert_eq!(span.events.len(), usize::from(i % 3 == 0), "{i}");
        assert_eq!(
            matches!(span.status, Status::Error { .. }),
            i % 3 == 0,
            "{i}"
        );
        if even {
            assert_eq!(span.span_context.trace_id(), parent.trace_id());
        }
    }
    let ids: std::collections::HashSet<_> =
        spans.iter().map(|s| s.span_context.span_id()).collect();
    assert_eq!(ids.len(), 20);
}

#[test]
fn memory_kept_for_later_spans_does_not_keep_the_tracer_and_its_sink_alive() {
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let memory = MemorySink::new();
    let tracer = Tracer::builder()
        .sink(DropFlag(dropped.clone(), memory.clone()))
        .build();
    tracer.span("kept for reuse").start().end();
    assert_eq!(memory.spans().len(), 1);
    drop(tracer);
    // The last tracer is gone: its sink goes too (a batch sink then sends what it holds).
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
}

/// A sampler that counts its calls (in a count its clones share) and records everything.
#[derive(Debug, Default, Clone)]
struct Counting(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl tracewire::sampling::ShouldSample for Counting {
    fn should_sample(
        &self,
        params: &tracewire::sampling::SamplingParams<'_>,
    ) -> tracewire::sampling::SamplingResult {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tracewire::sampling::SamplingResult::with_parent_state(
            tracewire::sampling::SamplingDecision::RecordOnly,
            params,
        )
    }
}

#[test]
fn children_get_the_decision_their_sampler_would_give_for_their_parent() {
    use tracewire::sampling::{ParentBased, Sampler};
    let sampled_child = |sampler: Sampler, parent: &SpanContext| {
        let tracer = Tracer::builder()
            .sampler(sampler)
            .sink(MemorySink::new())
            .build();
        let span = tracer.span("child").parent(Some(parent)).start();
        let context = span.span_context().cloned();
        (span.is_recording(), context)
    };
    let local = SpanContext::new_root(true);
    let remote = SpanContext::new_root(true).with_remote(true);

    // The default: recorded and sampled, without a trace state.
    let default = || -> Sampler { Sampler::parent_based(Sampler::always_on()).into() };
    let (recording, child) = sampled_child(default(), &local);
    assert!(recording && child.as_ref().unwrap().flags().is_sampled());
    assert!(child.unwrap().state().is_empty());

    // Delegates for sampled parents that drop: dropped, for local and remote parents alike.
    let local_drops =
        ParentBased::new(Sampler::always_on()).local_parent_sampled(Sampler::always_off());
    assert!(!sampled_child(local_drops.into(), &local).0);
    let remote_drops =
        ParentBased::new(Sampler::always_on()).remote_parent_sampled(Sampler::always_off());
    assert!(!sampled_child(remote_drops.into(), &remote).0);

    // A parent with a trace state: the sampler is asked, and the state carries on.
    let mut with_state = local.clone();
    with_state
        .state_mut()
        .insert("rojo", "00f067aa0ba902b7")
        .unwrap();
    let (_, child) = sampled_child(default(), &with_state);
    assert_eq!(child.unwrap().state().get("rojo"), Some("00f067aa0ba902b7"));

    // An unsampled parent: dropped, its trace state carried on for propagation; unless the
    // delegate for such parents samples, or an always-record wrapper turns the drop into a
    // recording.
    let mut unsampled = SpanContext::new_root(false);
    unsampled
        .state_mut()
        .insert("rojo", "00f067aa0ba902b7")
        .unwrap();
    unsampled
        .state_mut()
        .insert("ot", "th:8;rv:01234567890abc")
        .unwrap();
    let (recording, child) = sampled_child(default(), &unsampled);
    let child = child.unwrap();
    assert!(!recording && !child.flags().is_sampled());
    assert_eq!(child.state().get("rojo"), Some("00f067aa0ba902b7"));
    // Not sampled: no threshold is claimed (a negative decision removes `th`).
    assert_eq!(child.state().get("ot"), Some("rv:01234567890abc"));
    // Known at `parent()`: what the span would record is not even gathered.
    let gathered = std::cell::Cell::new(false);
    let tracer = Tracer::builder().sampler(default()).build();
    let span = tracer
        .span("dropped")
        .parent(Some(&unsampled))
        .attributes(std::iter::from_fn(|| {
            gathered.set(true);
            None
        }))
        .start();
    assert!(!span.is_recording() && !gathered.get());
    let samples_anyway =
        ParentBased::new(Sampler::always_on()).local_parent_not_sampled(Sampler::always_on());
    let (recording, child) = sampled_child(samples_anyway.into(), &unsampled);
    assert!(recording && child.unwrap().flags().is_sampled());
    let record_only = tracewire::sampling::AlwaysRecord::new(default());
    let (recording, child) = sampled_child(record_only.into(), &unsampled);
    assert!(recording && !child.unwrap().flags().is_sampled());
    // A parent that left the decision to us (B3 without a sampling state): the root sampler.
    let deferred = SpanContext::new_root(false).with_sampling_deferred(true);
    let (recording, child) = sampled_child(default(), &deferred);
    assert!(recording && child.unwrap().flags().is_sampled());

    // A sampler of the user's own is always asked.
    let counting = Counting::default();
    let custom =
        ParentBased::new(Sampler::always_on()).local_parent_sampled(Sampler::new(counting.clone()));
    let (recording, child) = sampled_child(custom.into(), &local);
    assert!(
        recording && !child.unwrap().flags().is_sampled(),
        "record-only, as it said"
    );
    assert_eq!(counting.0.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn dropping_one_tracer_leaves_a_sink_it_shares_open_for_the_others() {
    let sink = MemorySink::new();
    let first = Tracer::builder().sink(sink.clone()).build();
    let second = Tracer::builder().sink(sink.clone()).build();
    first.span("first").start().end();
    // The last handle of `first`: its sink is flushed, not shut down.
    drop(first);
    second.span("second").start().end();
    let names: Vec<_> = sink.spans().iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["first", "second"]);
}
