//! Local spans: children of the current span on one thread, handed to the sink in batches.

use std::time::Duration;

use tracewire::sampling::Sampler;
use tracewire::sink::MemorySink;
use tracewire::span::{SpanData, SpanKind, Status, Value};
use tracewire::{Context, FutureExt, SpanContext, Tracer};

fn tracer() -> (Tracer, MemorySink) {
    let sink = MemorySink::new();
    let tracer = Tracer::builder()
        .service_name("local-test")
        .sampler(Sampler::parent_based(Sampler::always_on()))
        .sink(sink.clone())
        .build();
    (tracer, sink)
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|span| span.name == name)
        .unwrap_or_else(|| panic!("no span {name:?} in {spans:#?}"))
}

fn id(span: &SpanData) -> Option<tracewire::SpanId> {
    Some(span.span_context.span_id())
}

#[test]
fn a_local_span_is_a_timed_child_of_the_current_span_with_what_was_set_on_it() {
    let (tracer, sink) = tracer();
    let request = tracer.span("GET /report").kind(SpanKind::Server).start();
    {
        let _entered = request.enter();
        let parse = tracewire::local_span("parse rows");
        assert!(parse.is_recording());
        parse.set_attribute("rows", 3_i64);
        parse.set_attribute("rows", 4_i64);
        parse.set_status(Status::Error {
            message: "bad row".into(),
        });
        parse.set_status(Status::Unset);
        std::thread::sleep(Duration::from_millis(2));
        parse.end();
        assert!(
            sink.spans().is_empty(),
            "kept on the thread until the scope ends"
        );
    }
    assert_eq!(sink.spans().len(), 1, "handed over when the scope ended");
    request.end();

    let spans = sink.spans();
    let (parse, request) = (named(&spans, "parse rows"), named(&spans, "GET /report"));
    assert_eq!(parse.parent_span_id, id(request));
    assert!(!parse.parent_is_remote);
    assert_eq!(
        parse.span_context.trace_id(),
        request.span_context.trace_id()
    );
    assert_ne!(parse.span_context.span_id(), request.span_context.span_id());
    assert!(parse.span_context.flags().is_sampled());
    assert_eq!(parse.kind, SpanKind::Internal);
    assert_eq!(parse.attributes.len(), 1);
    assert_eq!(parse.attribute("rows"), Some(&Value::I64(4)));
    assert_eq!(
        parse.status,
        Status::Error {
            message: "bad row".into()
        }
    );
    assert!(parse.duration_nanos() >= 2_000_000);
    assert!(parse.start_unix_nanos >= request.start_unix_nanos);
    assert!(parse.end_unix_nanos <= request.end_unix_nanos);
    assert_eq!(parse.resource.service_name(), "local-test");
    let stats = tracer.stats();
    assert_eq!((stats.spans_started, stats.spans_ended), (2, 2));
}

#[test]
fn nested_local_spans_and_spans_started_inside_them_have_the_innermost_as_parent() {
    let (tracer, sink) = tracer();
    let request = tracer.span("request").start();
    {
        let _entered = request.enter();
        let outer = tracewire::local_span("outer");
        let inner = tracewire::local_span("inner");
        tracewire::span("a span inside").start().end();
        drop(inner);
        let sibling = tracewire::local_span("sibling");
        drop(sibling);
        drop(outer);
        let after = tracewire::local_span("after");
        drop(after);
    }
    request.end();
    let spans = sink.spans();
    let parent_of = |name| named(&spans, name).parent_span_id;
    assert_eq!(parent_of("outer"), id(named(&spans, "request")));
    assert_eq!(parent_of("inner"), id(named(&spans, "outer")));
    assert_eq!(parent_of("a span inside"), id(named(&spans, "inner")));
    assert_eq!(parent_of("sibling"), id(named(&spans, "outer")));
    assert_eq!(parent_of("after"), id(named(&spans, "request")));
}

#[test]
fn local_spans_that_end_out_of_order_are_each_recorded_once() {
    let (tracer, sink) = tracer();
    let request = tracer.span("request").start();
    {
        let _entered = request.enter();
        let first = tracewire::local_span("first");
        let second = tracewire::local_span("second");
        drop(first);
        // The first ended: a new local span is a child of the one still open.
        let third = tracewire::local_span("third");
        drop(third);
        drop(second);
        let fourth = tracewire::local_span("fourth");
        drop(fourth);
    }
    request.end();
    let spans = sink.spans();
    assert_eq!(spans.len(), 5);
    let parent_of = |name| named(&spans, name).parent_span_id;
    assert_eq!(parent_of("second"), id(named(&spans, "first")));
    assert_eq!(parent_of("third"), id(named(&spans, "second")));
    assert_eq!(parent_of("fourth"), id(named(&spans, "request")));
    for name in ["first", "second", "third", "fourth"] {
        assert!(named(&spans, name).end_unix_nanos >= named(&spans, name).start_unix_nanos);
    }
}

#[test]
fn a_local_span_left_open_by_another_context_is_not_the_parent_here() {
    let (tracer, sink) = tracer();
    let (a, b) = (tracer.span("a").start(), tracer.span("b").start());
    let guard_a = a.enter();
    let under_a = tracewire::local_span("under a");
    {
        // Another context on this thread (another task's poll, say) while it is open.
        let _guard_b = b.enter();
        drop(tracewire::local_span("under b"));
    }
    drop(under_a);
    drop(guard_a);
    a.end();
    b.end();
    let spans = sink.spans();
    assert_eq!(
        named(&spans, "under b").parent_span_id,
        id(named(&spans, "b"))
    );
    assert_eq!(
        named(&spans, "under a").parent_span_id,
        id(named(&spans, "a"))
    );
}

#[test]
fn without_a_recording_current_span_a_local_span_records_nothing() {
    let (tracer, sink) = tracer();
    assert!(!tracewire::local_span("no current span").is_recording());

    let unsampled = SpanContext::new_root(false);
    let request = tracer.span("unsampled").parent(Some(&unsampled)).start();
    {
        let _entered = request.enter();
        let local = tracewire::local_span("under an unsampled span");
        assert!(!local.is_recording());
        local.set_attribute("ignored", true);
    }
    request.end();
    tracer.force_flush(Duration::from_secs(1)).unwrap();
    assert!(sink.spans().is_empty());
    assert_eq!(tracer.stats().spans_started, 0);
}

#[test]
fn a_sampler_that_decides_for_itself_is_asked() {
    let sink = MemorySink::new();
    // Children of local sampled parents are dropped: the local span follows the sampler.
    let tracer = Tracer::builder()
        .sampler(
            Sampler::parent_based(Sampler::always_on()).local_parent_sampled(Sampler::always_off()),
        )
        .sink(sink.clone())
        .build();
    let request = tracer.span("request").start();
    {
        let _entered = request.enter();
        assert!(!tracewire::local_span("dropped").is_recording());
    }
    request.end();
    assert_eq!(sink.spans().len(), 1);
    assert_eq!(tracer.stats().sampled_out, 1);
}

#[test]
fn every_64_spans_go_to_the_sink_without_waiting_for_the_scope() {
    let (tracer, sink) = tracer();
    let request = tracer.span("request").start();
    let _entered = request.enter();
    for _ in 0..63 {
        drop(tracewire::local_span("step"));
    }
    assert!(sink.spans().is_empty());
    drop(tracewire::local_span("step"));
    assert_eq!(sink.spans().len(), 64);
    drop(tracewire::local_span("step"));
    assert_eq!(sink.spans().len(), 64);
    tracer.force_flush(Duration::from_secs(1)).unwrap();
    assert_eq!(
        sink.spans().len(),
        65,
        "force_flush hands this thread's over"
    );
}

#[test]
fn a_thread_that_ends_hands_its_local_spans_over() {
    let (tracer, sink) = tracer();
    let request = tracer.span("request").start();
    let context = Context::from_span(&request);
    std::thread::spawn(move || {
        // The context stays attached: only the thread's end can hand the span over.
        std::mem::forget(context.attach());
        drop(tracewire::local_span("on a thread"));
        std::mem::forget(tracewire::local_span("leaked, never ends"));
    })
    .join()
    .unwrap();
    request.end();
    let spans = sink.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    assert_eq!(
        named(&spans, "on a thread").parent_span_id,
        id(named(&spans, "request"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_spans_in_a_poll_reach_the_sink_when_the_poll_ends() {
    let (tracer, sink) = tracer();
    let request = tracer.span("GET /orders").start();
    let request_id = request.span_context().map(SpanContext::span_id);
    let task = tokio::spawn(
        async move {
            drop(tracewire::local_span("before await"));
            tokio::task::yield_now().await;
            drop(tracewire::local_span("after await"));
        }
        .with_context(Context::from_span(&request)),
    );
    task.await.unwrap();
    let spans = sink.spans();
    assert_eq!(spans.len(), 2, "handed over before the request ended");
    assert!(spans.iter().all(|span| span.parent_span_id == request_id));
    drop(request);
}

#[test]
fn local_spans_of_two_tracers_go_to_their_own_sinks() {
    let (first, first_sink) = tracer();
    let (second, second_sink) = tracer();
    let a = first.span("a").start();
    let b = second.span("b").start();
    {
        let _a = a.enter();
        drop(tracewire::local_span("of the first"));
        let _b = b.enter();
        drop(tracewire::local_span("of the second"));
    }
    a.end();
    b.end();
    let names = |sink: &MemorySink| {
        let mut names: Vec<String> = sink.spans().iter().map(|s| s.name.to_string()).collect();
        names.sort();
        names
    };
    assert_eq!(names(&first_sink), ["a", "of the first"]);
    assert_eq!(names(&second_sink), ["b", "of the second"]);
}

/// Sets a flag when dropped: tells whether anything still holds the tracer's sink.
#[derive(Debug)]
struct DropFlagSink(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl tracewire::sink::SpanSink for DropFlagSink {
    fn on_end(&self, _span: SpanData) {}
}

impl Drop for DropFlagSink {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_local_span_the_sampler_dropped_leaves_nothing_holding_the_sink() {
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tracer = Tracer::builder()
        .sampler(
            Sampler::parent_based(Sampler::always_on()).local_parent_sampled(Sampler::always_off()),
        )
        .sink(DropFlagSink(dropped.clone()))
        .build();
    let request = tracer.span("request").start();
    {
        let _entered = request.enter();
        assert!(!tracewire::local_span("dropped").is_recording());
    }
    request.end();
    drop(tracer);
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
}

/// Makes a context current while it takes a span, as a sink tracing its own work might.
#[derive(Debug)]
struct AttachingSink(MemorySink);

impl tracewire::sink::SpanSink for AttachingSink {
    fn on_end(&self, span: SpanData) {
        let _entered = Context::default().attach();
        self.0.on_end(span);
    }
}

#[test]
fn a_sink_may_use_the_current_context_when_local_spans_are_handed_to_it() {
    let first_sink = MemorySink::new();
    let first = Tracer::builder()
        .sink(AttachingSink(first_sink.clone()))
        .build();
    let (second, second_sink) = tracer();
    let (a, b) = (first.span("a").start(), second.span("b").start());
    let _a = a.enter();
    drop(tracewire::local_span("of the first"));
    let _b = b.enter();
    // Another tracer's span: the first's ended one is handed to its sink now.
    drop(tracewire::local_span("of the second"));
    assert_eq!(first_sink.spans()[0].name, "of the first");
    drop(_b);
    assert_eq!(second_sink.spans()[0].name, "of the second");
}

#[test]
fn the_parent_is_the_innermost_local_span_open_under_the_current_span() {
    let (tracer, sink) = tracer();
    let x = tracer.span("x").start();
    let x_entered = x.enter();
    let a = tracewire::local_span("a");
    let y = tracewire::span("y").start();
    let y_entered = y.enter();
    let b = tracewire::local_span("b");
    // Back to x while b, under y, is still open (a local span held across another context).
    drop(y_entered);
    let c = tracewire::local_span("c");
    drop((c, b, a));
    drop(x_entered);
    drop((y, x));
    let spans = sink.spans();
    assert_eq!(named(&spans, "c").parent_span_id, id(named(&spans, "a")));
    assert_eq!(named(&spans, "b").parent_span_id, id(named(&spans, "y")));
}

#[test]
fn under_a_context_attached_for_long_spans_go_over_once_they_have_waited() {
    // A job's root span, entered for the whole run: no scope ends while it works.
    let (tracer, sink) = tracer();
    let job = tracer.span("nightly job").start();
    let _entered = job.enter();
    drop(tracewire::local_span("step 1"));
    assert!(sink.spans().is_empty());
    std::thread::sleep(Duration::from_millis(150));
    drop(tracewire::local_span("step 2"));
    assert_eq!(sink.spans().len(), 2, "the first had waited 150 ms");
}
