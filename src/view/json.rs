//! A trace as JSON: the same tree as the text, with every figure the analysis computed.

use serde_json::{Map, Value, json};

use super::trace::{Node, Trace, Warning};
use crate::span::{SpanKind, Status};

/// Span levels nested in JSON. Each level is two JSON levels (the span object and its
/// `children` array), and parsers limit nesting (serde_json to 128 levels), so deeper spans are
/// listed flat under `descendants` of the span at this depth, each naming its parent.
const MAX_NESTED_DEPTH: usize = 50;

impl Trace {
    /// The trace as JSON: the same tree as [`render`](Self::render), with self times, the
    /// critical path and the marks.
    ///
    /// ```json
    /// {
    ///   "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
    ///   "startTimeUnixNano": 1700000000000000000, "endTimeUnixNano": …, "durationNanos": 812000000,
    ///   "spanCount": 7, "rootCause": "<span id>", "errorOrigin": null,
    ///   "spans": [{
    ///     "service": "api-gateway", "name": "POST /checkout", "kind": "server",
    ///     "spanId": "…", "parentSpanId": null,
    ///     "startTimeUnixNano": …, "endTimeUnixNano": …, "durationNanos": 812000000,
    ///     "selfNanos": 6000000, "criticalPath": true, "criticalPathNanos": 6000000,
    ///     "criticalPathShare": 0.0074, "status": {"code": "unset"},
    ///     "marks": [], "orphan": false,
    ///     "children": [ … ]
    ///   }],
    ///   "orphans": ["<span id>", …],
    ///   "warnings": [{"kind": "duplicateSpanId", "spanId": "…", "message": "…"}]
    /// }
    /// ```
    ///
    /// `marks` holds `"rootCause"`, `"slow"` and `"errorOrigin"`; a span outside its parent
    /// has `startsBeforeParentNanos` / `endsAfterParentNanos`. Times are integers in
    /// nanoseconds. Spans more than 50 levels deep are listed flat in the `descendants` of
    /// their ancestor at depth 50, so that any JSON parser reads the document.
    ///
    /// # Example
    ///
    /// ```
    /// use tracewire::view;
    ///
    /// let line = r#"{"service":"api","name":"GET /","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","startTimeUnixNano":0,"endTimeUnixNano":5000}"#;
    /// let json = view::assemble(view::read_spans(line).spans)[0].to_json();
    /// assert_eq!(json["spans"][0]["service"], "api");
    /// assert_eq!(json["spans"][0]["selfNanos"], 5000);
    /// assert_eq!(json["spans"][0]["criticalPath"], true);
    /// ```
    pub fn to_json(&self) -> Value {
        let nodes = &self.nodes;
        // Built bottom-up (children come after their parent in tree order), so that no
        // recursion follows the depth of the tree.
        let mut built: Vec<Option<Map<String, Value>>> = vec![None; nodes.len()];
        for at in (0..nodes.len()).rev() {
            let node = &nodes[at];
            let mut object = span_json(node);
            if node.depth < MAX_NESTED_DEPTH {
                let children: Vec<Value> = node
                    .children
                    .iter()
                    .filter_map(|&c| built[c].take().map(Value::Object))
                    .collect();
                object.insert("children".into(), children.into());
            } else if node.depth == MAX_NESTED_DEPTH && node.subtree_len > 1 {
                let below = nodes.get(at + 1..at + node.subtree_len).unwrap_or_default();
                let descendants: Vec<Value> =
                    below.iter().map(|n| Value::Object(span_json(n))).collect();
                object.insert("descendants".into(), descendants.into());
            }
            built[at] = Some(object);
        }
        let roots: Vec<Value> = (0..nodes.len())
            .filter(|&i| nodes[i].parent.is_none())
            .filter_map(|i| built[i].take().map(Value::Object))
            .collect();
        let id = |n: &Node| Value::from(n.span_id().to_string());
        let orphans: Vec<Value> = nodes.iter().filter(|n| n.orphan).map(id).collect();
        let warnings: Vec<Value> = self.warnings.iter().map(warning_json).collect();
        // Put together by hand: `json!` would copy the whole tree through `Serialize`.
        let mut trace = Map::new();
        trace.insert("traceId".into(), self.trace_id.to_string().into());
        trace.insert("startTimeUnixNano".into(), self.start.into());
        trace.insert("endTimeUnixNano".into(), self.end.into());
        trace.insert("durationNanos".into(), self.duration_nanos().into());
        trace.insert("spanCount".into(), nodes.len().into());
        trace.insert("rootCause".into(), self.root_cause().map(id).into());
        trace.insert("errorOrigin".into(), self.error_origin().map(id).into());
        trace.insert("spans".into(), roots.into());
        trace.insert("orphans".into(), orphans.into());
        trace.insert("warnings".into(), warnings.into());
        Value::Object(trace)
    }
}

fn span_json(node: &Node) -> Map<String, Value> {
    let span = &node.span;
    let status = match &span.status {
        Status::Unset => json!({"code": "unset"}),
        Status::Ok => json!({"code": "ok"}),
        Status::Error { message } => json!({"code": "error", "message": message}),
    };
    let marks: Vec<&str> = [
        (node.root_cause, "rootCause"),
        (node.slow, "slow"),
        (node.error_origin, "errorOrigin"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    let kind = match span.kind {
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    };
    let mut object = Map::new();
    let mut put = |key: &str, value: Value| {
        object.insert(key.into(), value);
    };
    put("service", span.resource.service_name().into());
    put("name", span.name.as_ref().into());
    put("kind", kind.into());
    put("spanId", node.span_id().to_string().into());
    // The parent as the span named it, found or not (an orphan's is the missing one).
    put(
        "parentSpanId",
        span.parent_span_id.map(|p| p.to_string()).into(),
    );
    if node.depth > MAX_NESTED_DEPTH {
        // Listed flat: found under its parent by id; the depth says where it sits.
        put("depth", node.depth.into());
    }
    put("startTimeUnixNano", span.start_unix_nanos.into());
    put("endTimeUnixNano", span.end_unix_nanos.into());
    put("durationNanos", span.duration_nanos().into());
    put("selfNanos", node.self_nanos.into());
    put("criticalPath", node.on_critical_path.into());
    put("criticalPathNanos", node.critical_nanos.into());
    put("criticalPathShare", node.critical_share.into());
    put("status", status);
    put("marks", marks.into());
    put("orphan", node.orphan.into());
    if node.starts_before_parent > 0 {
        put("startsBeforeParentNanos", node.starts_before_parent.into());
    }
    if node.ends_after_parent > 0 {
        put("endsAfterParentNanos", node.ends_after_parent.into());
    }
    object
}

fn warning_json(warning: &Warning) -> Value {
    let (kind, span_id) = match warning {
        Warning::OutsideParent { span_id, .. } => ("outsideParent", span_id),
        Warning::DuplicateSpanId { span_id, .. } => ("duplicateSpanId", span_id),
        Warning::ParentCycle { span_id } => ("parentCycle", span_id),
    };
    json!({"kind": kind, "spanId": span_id.to_string(), "message": warning.to_string()})
}

#[cfg(test)]
mod tests {
    use super::super::assemble;
    use super::super::test_spans::{MS, checkout, span};
    use super::*;

    #[test]
    fn the_checkout_tree_with_its_figures() {
        let mut spans = checkout();
        spans[0].status = Status::Error {
            message: "card declined".into(),
        };
        spans.push(span("audit", "record", 8, Some(99), 100, 900));
        let json = assemble(spans)[0].to_json();
        assert_eq!(json["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(json["durationNanos"], 900 * MS);
        assert_eq!(json["spanCount"], 8);
        let gateway = &json["spans"][0];
        assert_eq!(gateway["service"], "api-gateway");
        assert_eq!(gateway["durationNanos"], 812 * MS);
        assert_eq!(gateway["selfNanos"], 6 * MS);
        let order = &gateway["children"][1];
        assert_eq!(order["name"], "createOrder");
        let payment = &order["children"][1];
        assert_eq!(payment["marks"], json!(["slow"]));
        let stripe = &payment["children"][0];
        assert_eq!(stripe["marks"], json!(["rootCause", "errorOrigin"]));
        assert_eq!(stripe["status"]["message"], "card declined");
        assert_eq!(stripe["criticalPath"], true);
        assert_eq!(stripe["criticalPathNanos"], 748 * MS);
        assert_eq!(stripe["criticalPathShare"], 748.0 / 900.0);
        assert_eq!(json["rootCause"], stripe["spanId"]);
        assert_eq!(json["errorOrigin"], stripe["spanId"]);
        let audit = &json["spans"][1];
        assert_eq!(
            (&audit["orphan"], &audit["criticalPath"]),
            (&json!(true), &json!(false))
        );
        assert_eq!(json["orphans"], json!([audit["spanId"]]));
        assert_eq!(audit["parentSpanId"], "0000000000000063");
    }

    #[test]
    fn warnings_are_listed() {
        let spans = vec![
            span("s", "root", 1, None, 10, 100),
            span("s", "early", 2, Some(1), 0, 50),
            span("s", "again", 2, Some(1), 0, 50),
        ];
        let json = assemble(spans)[0].to_json();
        let kinds: Vec<_> = json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["duplicateSpanId", "outsideParent"]);
        assert_eq!(
            json["spans"][0]["children"][0]["startsBeforeParentNanos"],
            10 * MS
        );
    }

    #[test]
    fn deep_trees_stay_readable_by_json_parsers() {
        let chain: Vec<_> = (1..=300u64)
            .map(|i| span("s", "level", i, (i > 1).then(|| i - 1), i, 1_000 - i))
            .collect();
        let json = assemble(chain)[0].to_json();
        let text = json.to_string();
        let back: Value = serde_json::from_str(&text).unwrap();
        let mut at = &back["spans"][0];
        for _ in 0..MAX_NESTED_DEPTH {
            at = &at["children"][0];
        }
        assert_eq!(at["descendants"].as_array().unwrap().len(), 300 - 51);
        assert_eq!(at["descendants"][0]["depth"], 51);
    }
}
