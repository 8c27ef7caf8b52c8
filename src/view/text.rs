//! A trace as a text tree: box-drawing lines, `[service] name duration` per span, the marks,
//! optional colours, long runs of siblings collapsed and deep subtrees summarised.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::IsTerminal as _;

use super::trace::{Node, Trace, Warning, call_answered_by};
use crate::semconv::HTTP_RESPONSE_STATUS_CODE as HTTP_STATUS;
use crate::span::{SpanData, Status};
use crate::untrusted::{needs_escape, push_escaped};

/// How [`Trace::render`] draws a trace.
///
/// # Example
///
/// ```
/// use tracewire::view::TextOptions;
///
/// // Colours when standard output is a terminal and NO_COLOR is unset; at most 8 levels.
/// let options = TextOptions { max_depth: Some(8), ..TextOptions::for_terminal() };
/// assert_eq!(options.collapse_after, TextOptions::default().collapse_after);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextOptions {
    /// ANSI colours: the critical path in bold, the root cause and errors in red, `slow` in
    /// yellow. Off by default.
    pub color: bool,
    /// Spans deeper than this (roots are at depth 0) are summarised as `… N spans below`.
    /// `None` (the default) draws every level up to 100; deeper levels are always summarised,
    /// so that the text stays in proportion to the number of spans.
    pub max_depth: Option<usize>,
    /// Of a run of siblings with the same service and name, this many are drawn and the rest
    /// summarised in one line (`… 40 more GET /item spans, 2.1ms total`); a span with a mark
    /// or an error is always drawn. 10 by default; `usize::MAX` never collapses.
    pub collapse_after: usize,
    /// Draws a call between services, a CLIENT span and the SERVER span that answered it, as
    /// one line: the server's service, name and duration, the marks and errors of both, and
    /// the caller's wait when it is notably longer (`(45ms at the caller)`: connecting,
    /// queueing, the network). On by default; the JSON always holds both spans.
    pub fold_calls: bool,
}

impl Default for TextOptions {
    fn default() -> Self {
        Self {
            color: false,
            max_depth: None,
            collapse_after: 10,
            fold_calls: true,
        }
    }
}

impl TextOptions {
    /// The defaults, with colours on when standard output is a terminal and `NO_COLOR` is
    /// unset or empty (<https://no-color.org>).
    pub fn for_terminal() -> Self {
        let color = color_wanted(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR"),
        );
        Self {
            color,
            ..Self::default()
        }
    }
}

fn color_wanted(terminal: bool, no_color: Option<OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Levels drawn whatever the options say: a prefix is four columns per level, so a chain of
/// thousands of spans from the network would otherwise make text quadratic in its length.
const MAX_DRAWN_DEPTH: usize = 100;

/// Names, services and messages are cut to this many characters.
const MAX_TEXT_CHARS: usize = 200;

/// Whose view a rendering is: a whole trace read from files, or the part of a trace one process
/// printed (the tree sink), first or continued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Heading {
    /// A whole trace: `Trace: <id> (total: <duration>)`; a span whose parent is missing is an
    /// orphan.
    Trace,
    /// The first part of a trace printed by one process: as `Trace`, but a span whose parent is
    /// in another process shows `(remote parent <id>)`, as it should.
    Local,
    /// More spans of a trace printed before: `Trace: <id> (continued)`, and a span whose
    /// parent is missing was printed before shows `(under <id>)`.
    Continued,
}

impl Trace {
    /// The trace as a text tree, one span per line.
    ///
    /// ```text
    /// Trace: 4bf92f3577b34da6a3ce929d0e0e4736 (total: 812ms)
    /// ├── [api-gateway] POST /checkout 812ms
    /// │   ├── [auth] validateToken 8ms
    /// │   ├── [order] createOrder 780ms
    /// │   │   ├── [inventory] reserveItem 12ms
    /// │   │   └── [payment] chargeCard 762ms  ← slow
    /// │   │       └── [stripe] POST /charges 748ms  ← root cause
    /// │   └── [notify] sendEmail 18ms
    /// └── 7 spans, 7 services; root cause: [stripe] POST /charges (748ms self, 92% of the trace)
    /// ```
    ///
    /// A call between services, a CLIENT span and the SERVER span that answered it, is drawn as
    /// one line in the server's name, with the caller's wait when it is notably longer
    /// ([`TextOptions::fold_calls`]). A failed span shows `✗` and its status message (or the
    /// HTTP status code when it has none), the span where the error started
    /// `← error starts here`, an orphan `(orphan: parent … not found)`, a span outside its
    /// parent `⚠ starts 30ms before parent`. Duplicate ids and parent cycles are listed after
    /// the spans. Control characters in names and messages (which come from the network) are
    /// escaped, and long ones cut.
    ///
    /// # Example
    ///
    /// ```
    /// use tracewire::view::{self, TextOptions};
    ///
    /// let line = r#"{"service":"db","name":"SELECT\nFROM t","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","startTimeUnixNano":0,"endTimeUnixNano":340000,"status":{"code":"error","message":"timeout"}}"#;
    /// let trace = &view::assemble(view::read_spans(line).spans)[0];
    /// let text = trace.render(&TextOptions::default());
    /// assert!(text.contains("├── [db] SELECT\\nFROM t 340µs ✗ timeout  ← error starts here\n"));
    /// ```
    pub fn render(&self, options: &TextOptions) -> String {
        self.render_with(options, Heading::Trace)
    }

    pub(crate) fn render_with(&self, options: &TextOptions, heading: Heading) -> String {
        Renderer {
            trace: self,
            options,
            heading,
            paint: Paint(options.color),
            max_depth: options
                .max_depth
                .unwrap_or(MAX_DRAWN_DEPTH)
                .min(MAX_DRAWN_DEPTH),
        }
        .render()
    }
}

/// One line of the tree.
enum Item {
    Span(usize),
    /// `… 40 more GET /item spans, 2.1ms total`.
    Collapsed {
        count: usize,
        name: String,
        total: u64,
        below: usize,
    },
    /// `… 12 spans below`.
    Below(usize),
    Warning(String),
    Summary(String),
}

struct Renderer<'a> {
    trace: &'a Trace,
    options: &'a TextOptions,
    heading: Heading,
    paint: Paint,
    max_depth: usize,
}

impl Renderer<'_> {
    fn render(&self) -> String {
        let trace = self.trace;
        let mut out = String::with_capacity(64 * (trace.nodes.len() + 2));
        let _ = match self.heading {
            Heading::Trace | Heading::Local => writeln!(
                out,
                "Trace: {} (total: {})",
                trace.trace_id(),
                human_duration(trace.duration_nanos())
            ),
            Heading::Continued => writeln!(out, "Trace: {} (continued)", trace.trace_id()),
        };
        let roots: Vec<usize> = (0..trace.nodes.len())
            .filter(|&i| trace.nodes[i].parent.is_none())
            .collect();
        let mut top = self.siblings(&roots);
        for warning in &trace.warnings {
            // Spans outside their parent are flagged on their own line.
            if !matches!(warning, Warning::OutsideParent { .. }) {
                top.push(Item::Warning(warning.to_string()));
            }
        }
        top.push(Item::Summary(self.summary()));

        // Depth first with an explicit stack: (item, prefix, last among its siblings).
        let mut stack: Vec<(Item, String, bool)> = Vec::new();
        push_items(&mut stack, top, "");
        while let Some((item, prefix, last)) = stack.pop() {
            out.push_str(&self.paint.dim(&prefix));
            out.push_str(&self.paint.dim(if last { "└── " } else { "├── " }));
            match item {
                Item::Span(at) => {
                    let (caller, node) = match self.answered_by(at) {
                        Some(server) => (Some(&trace.nodes[at]), &trace.nodes[server]),
                        None => (None, &trace.nodes[at]),
                    };
                    self.span_line(&mut out, node, caller);
                    let children = if node.children.is_empty() {
                        Vec::new()
                    } else if node.depth >= self.max_depth {
                        vec![Item::Below(node.subtree_len - 1)]
                    } else {
                        self.siblings(&node.children)
                    };
                    let prefix = prefix + if last { "    " } else { "│   " };
                    push_items(&mut stack, children, &prefix);
                }
                Item::Collapsed {
                    count,
                    name,
                    total,
                    below,
                } => {
                    let below = match below {
                        0 => String::new(),
                        1 => " (1 span below)".to_string(),
                        n => format!(" ({n} spans below)"),
                    };
                    let text = format!(
                        "… {count} more {name} spans{below}, {} total",
                        human_duration(total)
                    );
                    out.push_str(&self.paint.dim(&text));
                }
                Item::Below(count) => {
                    let spans = if count == 1 { "span" } else { "spans" };
                    out.push_str(&self.paint.dim(&format!("… {count} {spans} below")));
                }
                Item::Warning(text) => out.push_str(&self.paint.yellow(&format!("⚠ {text}"))),
                Item::Summary(text) => out.push_str(&self.paint.dim(&text)),
            }
            out.push('\n');
        }
        out
    }

    /// The lines for a list of siblings: runs of the same service and name beyond
    /// `collapse_after` summarised, except the spans with a mark or an error.
    fn siblings(&self, indices: &[usize]) -> Vec<Item> {
        let nodes = &self.trace.nodes;
        // Siblings are alike by what their lines show (the server's side of a folded call).
        let shown = |i: usize| &nodes[self.answered_by(i).unwrap_or(i)];
        let same = |a: usize, b: usize| {
            let (a, b) = (shown(a), shown(b));
            a.span.name == b.span.name
                && a.span.resource.service_name() == b.span.resource.service_name()
        };
        let mut items = Vec::with_capacity(indices.len());
        let mut rest = indices;
        while let Some(&first) = rest.first() {
            let run_len = rest.iter().take_while(|&&i| same(i, first)).count();
            let (run, after) = rest.split_at(run_len);
            rest = after;
            let marked = |n: &Node| {
                n.root_cause
                    || n.slow
                    || n.error_origin
                    || matches!(n.span.status, Status::Error { .. })
            };
            let notable = |i: usize| marked(&nodes[i]) || marked(shown(i));
            let hidden: Vec<usize> = run
                .iter()
                .copied()
                .skip(self.options.collapse_after)
                .filter(|&i| !notable(i))
                .collect();
            // Collapsing one span into one line saves nothing.
            if hidden.len() < 2 {
                items.extend(run.iter().map(|&i| Item::Span(i)));
                continue;
            }
            items.extend(
                run.iter()
                    .enumerate()
                    .filter(|&(k, &i)| k < self.options.collapse_after || notable(i))
                    .map(|(_, &i)| Item::Span(i)),
            );
            items.push(Item::Collapsed {
                count: hidden.len(),
                name: clean(&shown(first).span.name).into_owned(),
                total: hidden
                    .iter()
                    .map(|&i| nodes[i].span.duration_nanos())
                    .fold(0u64, u64::saturating_add),
                below: hidden.iter().map(|&i| nodes[i].subtree_len - 1).sum(),
            });
        }
        items
    }

    /// The server span that answers the client span at `at`, when calls are folded.
    fn answered_by(&self, at: usize) -> Option<usize> {
        self.options
            .fold_calls
            .then(|| call_answered_by(&self.trace.nodes, at))
            .flatten()
    }

    /// The line of `node`; with `caller`, the line of a whole call: `node` is the server span
    /// that answered `caller`'s client span.
    fn span_line(&self, out: &mut String, node: &Node, caller: Option<&Node>) {
        let paint = self.paint;
        let span = &node.span;
        out.push_str(&paint.cyan(&format!("[{}]", clean(&span.resource.service_name()))));
        out.push(' ');
        let name = clean(&span.name);
        match node.on_critical_path || caller.is_some_and(|c| c.on_critical_path) {
            true => out.push_str(&paint.bold(&name)),
            false => out.push_str(&name),
        }
        out.push(' ');
        out.push_str(&human_duration(span.duration_nanos()));
        if let Some(caller) = caller {
            // What the caller waited beyond the server's time: connecting, queues, the network.
            let (waited, served) = (caller.span.duration_nanos(), span.duration_nanos());
            let extra = waited.saturating_sub(served);
            // Always when the caller's side is the root cause: its time is what the mark is for.
            if (extra >= 1_000_000 && extra >= waited / 10) || caller.root_cause {
                out.push_str(&paint.dim(&format!(" ({} at the caller)", human_duration(waited))));
            }
        }
        // The server's own error says most; else the caller's view of the call.
        let failed = [Some(node), caller]
            .into_iter()
            .flatten()
            .find(|n| matches!(n.span.status, Status::Error { .. }));
        if let Some(Node {
            span:
                failed @ SpanData {
                    status: Status::Error { message },
                    ..
                },
            ..
        }) = failed
        {
            let message = match (message.is_empty(), failed.attribute(HTTP_STATUS)) {
                (false, _) => clean(message),
                (true, Some(status)) => Cow::Owned(format!("HTTP {status}")),
                (true, None) => Cow::Borrowed("error"),
            };
            out.push_str(&paint.red(&format!(" ✗ {message}")));
        }
        if node.orphan {
            let parent = span
                .parent_span_id
                .map_or_else(|| "?".to_string(), |p| p.to_string());
            let text = match self.heading {
                Heading::Local | Heading::Continued if span.parent_is_remote => {
                    format!("  (remote parent {parent})")
                }
                Heading::Trace | Heading::Local => format!("  (orphan: parent {parent} not found)"),
                Heading::Continued => format!("  (under {parent})"),
            };
            out.push_str(&paint.dim(&text));
        }
        let (before, after) = (node.starts_before_parent, node.ends_after_parent);
        if before > 0 || after > 0 {
            let text = match (before, after) {
                (0, after) => format!("  ⚠ ends {} after parent", human_duration(after)),
                (before, 0) => format!("  ⚠ starts {} before parent", human_duration(before)),
                (before, after) => format!(
                    "  ⚠ starts {} before and ends {} after parent",
                    human_duration(before),
                    human_duration(after)
                ),
            };
            out.push_str(&paint.yellow(&text));
        }
        let either = |mark: fn(&Node) -> bool| mark(node) || caller.is_some_and(mark);
        let marks = [
            (either(|n| n.root_cause), "root cause", Color::BoldRed),
            (either(|n| n.slow), "slow", Color::Yellow),
            (either(|n| n.error_origin), "error starts here", Color::Red),
        ];
        let mut first = true;
        for (_, text, color) in marks.into_iter().filter(|m| m.0) {
            out.push_str(if std::mem::take(&mut first) {
                "  ← "
            } else {
                ", "
            });
            out.push_str(&paint.color(color, text));
        }
    }

    fn summary(&self) -> String {
        let trace = self.trace;
        let count = trace.nodes.len();
        let services: HashSet<Cow<'_, str>> = trace
            .nodes
            .iter()
            .map(|n| n.span.resource.service_name())
            .collect();
        let plural = |n: usize, word: &str| match n {
            1 => format!("1 {word}"),
            n => format!("{n} {word}s"),
        };
        let mut text = format!(
            "{}, {}",
            plural(count, "span"),
            plural(services.len(), "service")
        );
        let who = |n: &Node| {
            format!(
                "[{}] {}",
                clean(&n.span.resource.service_name()),
                clean(&n.span.name)
            )
        };
        if let Some(cause) = trace.root_cause() {
            let share = match trace.duration_nanos() {
                0 => 100,
                total => (cause.self_nanos as f64 * 100.0 / total as f64).round() as u64,
            };
            let _ = write!(
                text,
                "; root cause: {} ({} self, {share}% of the trace)",
                who(cause),
                human_duration(cause.self_nanos)
            );
        }
        if let Some(origin) = trace.error_origin() {
            let _ = write!(text, "; error starts at {}", who(origin));
        }
        text
    }
}

/// Pushes `items` so that they pop in order, each with `prefix`.
fn push_items(stack: &mut Vec<(Item, String, bool)>, items: Vec<Item>, prefix: &str) {
    let count = items.len();
    stack.extend(
        items
            .into_iter()
            .enumerate()
            .rev()
            .map(|(k, item)| (item, prefix.to_string(), k + 1 == count)),
    );
}

/// A duration for people: `340ns`, `2.1µs`, `340µs`, `8ms`, `812ms`, `1.2s`, `42s`, `2m5s`,
/// `1h2m`. Below 10 of a unit one decimal is kept (and dropped when it is 0).
pub(crate) fn human_duration(nanos: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1_000, "µs"), (1_000_000, "ms"), (1_000_000_000, "s")];
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    let nanos = u128::from(nanos);
    for (k, (unit, name)) in UNITS.into_iter().enumerate() {
        let unit = u128::from(unit);
        let tenths = (nanos * 10 + unit / 2) / unit;
        if tenths < 100 {
            return match tenths % 10 {
                0 => format!("{}{name}", tenths / 10),
                d => format!("{}.{d}{name}", tenths / 10),
            };
        }
        let whole = (nanos + unit / 2) / unit;
        let limit = if k + 1 == UNITS.len() { 60 } else { 1_000 };
        if whole < limit {
            return format!("{whole}{name}");
        }
    }
    let seconds = (nanos + 500_000_000) / 1_000_000_000;
    let (big, small, names) = match seconds < 3_600 {
        true => (seconds / 60, seconds % 60, ("m", "s")),
        false => {
            let minutes = (seconds + 30) / 60;
            (minutes / 60, minutes % 60, ("h", "m"))
        }
    };
    match small {
        0 => format!("{big}{}", names.0),
        small => format!("{big}{}{small}{}", names.0, names.1),
    }
}

/// `text` safe to print on one terminal line: control characters (newlines, ANSI escapes) and
/// the invisible characters that reorder or hide text (bidirectional overrides, zero-width
/// spaces) escaped, and cut to [`MAX_TEXT_CHARS`] characters.
pub(crate) fn clean(text: &str) -> Cow<'_, str> {
    let long = text.chars().nth(MAX_TEXT_CHARS).is_some();
    if !long && !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(4 * MAX_TEXT_CHARS));
    for c in text.chars().take(MAX_TEXT_CHARS) {
        push_escaped(&mut out, c);
    }
    if long {
        out.push('…');
    }
    Cow::Owned(out)
}

#[derive(Clone, Copy)]
enum Color {
    Bold,
    Dim,
    Red,
    BoldRed,
    Yellow,
    Cyan,
}

/// ANSI colours, or nothing.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn color<'a>(self, color: Color, text: &'a str) -> Cow<'a, str> {
        if !self.0 || text.is_empty() {
            return Cow::Borrowed(text);
        }
        let code = match color {
            Color::Bold => "1",
            Color::Dim => "2",
            Color::Red => "31",
            Color::BoldRed => "1;31",
            Color::Yellow => "33",
            Color::Cyan => "36",
        };
        Cow::Owned(format!("\x1b[{code}m{text}\x1b[0m"))
    }

    fn bold<'a>(self, text: &'a str) -> Cow<'a, str> {
        self.color(Color::Bold, text)
    }

    fn dim<'a>(self, text: &'a str) -> Cow<'a, str> {
        self.color(Color::Dim, text)
    }

    fn red<'a>(self, text: &'a str) -> Cow<'a, str> {
        self.color(Color::Red, text)
    }

    fn yellow<'a>(self, text: &'a str) -> Cow<'a, str> {
        self.color(Color::Yellow, text)
    }

    fn cyan<'a>(self, text: &'a str) -> Cow<'a, str> {
        self.color(Color::Cyan, text)
    }
}

#[cfg(test)]
mod tests {
    use super::super::assemble;
    use super::super::test_spans::{checkout, span};
    use super::*;
    use crate::span::SpanData;

    fn render(spans: Vec<SpanData>, options: &TextOptions) -> String {
        assemble(spans)[0].render(options)
    }

    #[test]
    fn the_checkout_picture_is_drawn_exactly() {
        let text = render(checkout(), &TextOptions::default());
        assert_eq!(
            text,
            "\
Trace: 4bf92f3577b34da6a3ce929d0e0e4736 (total: 812ms)
├── [api-gateway] POST /checkout 812ms
│   ├── [auth] validateToken 8ms
│   ├── [order] createOrder 780ms
│   │   ├── [inventory] reserveItem 12ms
│   │   └── [payment] chargeCard 762ms  ← slow
│   │       └── [stripe] POST /charges 748ms  ← root cause
│   └── [notify] sendEmail 18ms
└── 7 spans, 7 services; root cause: [stripe] POST /charges (748ms self, 92% of the trace)
"
        );
    }

    /// The checkout picture as services really record it: each call between services is a
    /// CLIENT span in the caller and a SERVER span in the callee.
    fn checkout_with_calls() -> Vec<SpanData> {
        use crate::span::{KeyValue, SpanKind};
        let server = |service, name, id, parent, start, end| {
            let mut s = span(service, name, id, parent, start, end);
            s.kind = SpanKind::Server;
            s.parent_is_remote = parent.is_some();
            s
        };
        let client = |service, name, id, parent, start, end| {
            let mut s = span(service, name, id, Some(parent), start, end);
            s.kind = SpanKind::Client;
            s
        };
        let mut declined = client("payment", "POST", 15, 5, 33, 783);
        declined.status = Status::Error { message: "".into() };
        declined
            .attributes
            .push(KeyValue::new("http.response.status_code", 402_i64));
        vec![
            server("api-gateway", "POST /checkout", 1, None, 0, 812),
            client("api-gateway", "POST", 12, 1, 1, 11),
            server("auth", "validateToken", 2, Some(12), 2, 10),
            client("api-gateway", "POST", 13, 1, 11, 793),
            server("order", "createOrder", 3, Some(13), 12, 792),
            client("order", "reserveItem", 14, 3, 13, 27),
            server("inventory", "reserveItem", 4, Some(14), 14, 26),
            client("order", "POST", 16, 3, 27, 791),
            server("payment", "chargeCard", 5, Some(16), 28, 790),
            declined,
            server("stripe", "POST /charges", 6, Some(15), 34, 782),
            client("api-gateway", "POST", 17, 1, 793, 812),
            server("notify", "sendEmail", 7, Some(17), 794, 811),
        ]
    }

    #[test]
    fn a_call_between_services_is_one_line() {
        let text = render(checkout_with_calls(), &TextOptions::default());
        assert_eq!(
            text,
            "\
Trace: 4bf92f3577b34da6a3ce929d0e0e4736 (total: 812ms)
├── [api-gateway] POST /checkout 812ms
│   ├── [auth] validateToken 8ms (10ms at the caller)
│   ├── [order] createOrder 780ms
│   │   ├── [inventory] reserveItem 12ms (14ms at the caller)
│   │   └── [payment] chargeCard 762ms  ← slow
│   │       └── [stripe] POST /charges 748ms ✗ HTTP 402  ← root cause, error starts here
│   └── [notify] sendEmail 17ms (19ms at the caller)
└── 13 spans, 7 services; root cause: [stripe] POST /charges (748ms self, 92% of the trace); error starts at [payment] POST
"
        );
        // Unfolded, each half has its line, and `slow` stays on the span that made the call.
        let options = TextOptions {
            fold_calls: false,
            ..TextOptions::default()
        };
        let text = render(checkout_with_calls(), &options);
        assert!(text.contains("│       └── [order] POST 764ms\n"), "{text}");
        assert!(
            text.contains("[payment] chargeCard 762ms  ← slow\n"),
            "{text}"
        );
        assert!(
            text.contains("[payment] POST 750ms ✗ HTTP 402  ← error starts here\n"),
            "{text}"
        );
    }

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        for (nanos, text) in [
            (0, "0ns"),
            (340, "340ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (2_100, "2.1µs"),
            (340_000, "340µs"),
            (999_400, "999µs"),
            (999_600, "1ms"),
            (2_100_000, "2.1ms"),
            (8_000_000, "8ms"),
            (9_960_000, "10ms"),
            (812_000_000, "812ms"),
            (1_200_000_000, "1.2s"),
            (42_000_000_000, "42s"),
            (59_600_000_000, "1m"),
            (125_000_000_000, "2m5s"),
            (3_720_000_000_000, "1h2m"),
            (u64::MAX, "5124095h35m"),
        ] {
            assert_eq!(human_duration(nanos), text, "{nanos}");
        }
    }

    #[test]
    fn errors_orphans_and_skew_are_shown() {
        let mut spans = checkout();
        spans[0].status = Status::Error {
            message: "card declined".into(),
        };
        spans[1].status = Status::Error {
            message: String::new().into(),
        };
        spans[5] = span("notify", "sendEmail", 7, Some(1), 793, 830);
        spans.push(span("audit", "record", 8, Some(99), 100, 110));
        let text = render(spans, &TextOptions::default());
        assert!(
            text.contains(
                "│   │   └── [payment] chargeCard 762ms ✗ error  ← slow\n\
                 │   │       └── [stripe] POST /charges 748ms ✗ card declined  ← root cause, error starts here\n\
                 │   └── [notify] sendEmail 37ms  ⚠ ends 18ms after parent\n\
                 ├── [audit] record 10ms  (orphan: parent 0000000000000063 not found)\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("; error starts at [stripe] POST /charges\n"),
            "{text}"
        );
    }

    #[test]
    fn control_characters_are_escaped_and_long_names_cut() {
        let evil = "\x1b[31mred\nline\u{202e}";
        let mut spans = vec![span("s\u{7}", evil, 1, None, 0, 1)];
        spans[0].status = Status::Error {
            message: "a\rb".into(),
        };
        let text = render(spans, &TextOptions::default());
        assert!(
            text.contains("[s\\u{7}] \\u{1b}[31mred\\nline\\u{202e} 1ms ✗ a\\rb"),
            "{text}"
        );
        assert!(!text.contains('\x1b') && !text.contains('\r'));
        assert_eq!(text.lines().count(), 3);
        let long = "x".repeat(1000);
        assert_eq!(clean(&long).chars().count(), MAX_TEXT_CHARS + 1);
    }

    #[test]
    fn runs_of_siblings_collapse_but_marked_ones_stay() {
        let mut spans = vec![span("api", "GET /cart", 1, None, 0, 1000)];
        for i in 0..50 {
            let start = 10 + 10 * i;
            spans.push(span("db", "GET /item", 10 + i, Some(1), start, start + 8));
        }
        // One of them is much slower: the root cause, drawn although it is in the run.
        spans.push(span("db", "GET /item", 100, Some(1), 510, 990));
        spans.push(span("db", "other", 101, Some(1), 995, 996));
        let options = TextOptions {
            collapse_after: 3,
            ..TextOptions::default()
        };
        let text = render(spans, &options);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[2..5].len(), 3);
        assert!(lines[2..5].iter().all(|l| l.ends_with("GET /item 8ms")));
        assert_eq!(lines[5], "│   ├── [db] GET /item 480ms  ← root cause");
        assert_eq!(lines[6], "│   ├── … 47 more GET /item spans, 376ms total");
        assert_eq!(lines[7], "│   └── [db] other 1ms");
        let all = render_all(&options, usize::MAX);
        assert!(!all.contains('…'));
    }

    fn render_all(options: &TextOptions, collapse_after: usize) -> String {
        let mut spans = vec![span("api", "GET /cart", 1, None, 0, 1000)];
        for i in 0..20 {
            spans.push(span("db", "GET /item", 10 + i, Some(1), 10 + i, 12 + i));
        }
        render(
            spans,
            &TextOptions {
                collapse_after,
                ..options.clone()
            },
        )
    }

    #[test]
    fn deep_subtrees_are_summarised() {
        let options = TextOptions {
            max_depth: Some(1),
            ..TextOptions::default()
        };
        let text = render(checkout(), &options);
        assert!(
            text.contains("│   ├── [order] createOrder 780ms\n│   │   └── … 3 spans below\n"),
            "{text}"
        );
        // A chain far deeper than anything drawn stays in proportion.
        let chain: Vec<_> = (1..=5_000u64)
            .map(|i| span("s", "level", i, (i > 1).then(|| i - 1), i, 20_000 - i))
            .collect();
        let text = render(chain, &TextOptions::default());
        assert!(text.len() < 200_000, "{}", text.len());
        assert!(text.contains(&format!("… {} spans below", 5_000 - 101)));
    }

    #[test]
    fn colours_only_when_asked() {
        let plain = render(checkout(), &TextOptions::default());
        assert!(!plain.contains('\x1b'));
        let options = TextOptions {
            color: true,
            ..TextOptions::default()
        };
        let colored = render(checkout(), &options);
        assert!(colored.contains("\x1b[1;31mroot cause\x1b[0m"));
        assert!(colored.contains("\x1b[33mslow\x1b[0m"));
        assert!(colored.contains("\x1b[36m[stripe]\x1b[0m"));
        assert!(color_wanted(true, None));
        assert!(color_wanted(true, Some(OsString::new())));
        assert!(!color_wanted(true, Some("1".into())));
        assert!(!color_wanted(false, None));
    }

    #[test]
    fn parts_printed_by_one_process_show_where_they_hang() {
        let spans = vec![span("worker", "flush", 9, Some(1), 900, 950)];
        let text = assemble(spans)[0].render_with(&TextOptions::default(), Heading::Continued);
        assert_eq!(
            text,
            "Trace: 4bf92f3577b34da6a3ce929d0e0e4736 (continued)\n\
             ├── [worker] flush 50ms  (under 0000000000000001)\n\
             └── 1 span, 1 service\n"
        );
        let mut server = span("payment", "POST /charge", 9, Some(1), 900, 950);
        server.parent_is_remote = true;
        let trace = &assemble(vec![server])[0];
        let local = trace.render_with(&TextOptions::default(), Heading::Local);
        assert!(
            local.contains("├── [payment] POST /charge 50ms  (remote parent 0000000000000001)\n")
        );
        let whole = trace.render(&TextOptions::default());
        assert!(
            whole.contains("(orphan: parent 0000000000000001 not found)"),
            "{whole}"
        );
    }
}
