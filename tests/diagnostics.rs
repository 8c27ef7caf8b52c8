//! tracewire's own warnings reach a service that logs with `tracing` (a subscriber, no `log`
//! bridge): as `tracing` events of target `tracewire`. (The `log` path, taken when no `tracing`
//! subscriber is installed, is what tests/logged_warnings.rs captures.)
#![cfg(feature = "tracing")]

use std::fmt;
use std::sync::Mutex;

use tracewire::{Tracer, TracerBuilder};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Keeps the message of every event of target `tracewire`, with its level.
#[derive(Default)]
struct Capture(Mutex<Vec<(Level, String)>>);

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for &'static Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if event.metadata().target() == "tracewire" {
            let mut message = Message(String::new());
            event.record(&mut message);
            let level = *event.metadata().level();
            self.0.lock().unwrap().push((level, message.0));
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn configuration_warnings_and_a_missing_sink_are_tracing_events() {
    let capture: &'static Capture = Box::leak(Box::default());
    tracing::subscriber::with_default(capture, || {
        let builder = TracerBuilder::from_env_with(|name| {
            (name == "OTEL_TRACES_SAMPLER").then(|| "sometimes".to_string())
        });
        let _from_env: Tracer = builder.build();
        let _without_sink: Tracer = Tracer::builder().build();
    });
    let events = capture.0.lock().unwrap();
    assert!(
        events.iter().any(|(level, message)| *level == Level::WARN
            && message.contains("OTEL_TRACES_SAMPLER=\"sometimes\"")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|(level, message)| *level == Level::WARN && message.contains("no sink configured")),
        "{events:?}"
    );
}
