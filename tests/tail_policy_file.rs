//! Tail-sampling policy files: a good file gives the rules and settings; a malformed one
//! gives an error naming the line and the key, and no input panics.

use std::time::Duration;

use proptest::prelude::*;
use tracewire::sink::tail::{PolicyError, TailFile, TailPolicy};

const GOOD: &str = r#"# Keep every error and slow trace, and 2% of the rest.
[settings]
decision_wait_ms = 10000
on_shutdown = "decide"

[[rule]]
name = "errors"
type = "errors"
http_status = ["5xx", 429]

[[rule]]
name = "slow"
type = "latency"
threshold_ms = 500

[[rule]]
name = "baseline"
type = "probabilistic"
probability = 0.02
"#;

#[test]
fn a_good_file_read_from_disk() {
    let path = std::env::temp_dir().join(format!("tracewire-tail-{}.toml", std::process::id()));
    std::fs::write(&path, GOOD).unwrap();
    let file = TailFile::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        file.policy.rule_names().collect::<Vec<_>>(),
        ["errors", "slow", "baseline"]
    );
    assert_eq!(file.config.decision_wait, Duration::from_secs(10));

    let missing = TailFile::read("/nonexistent/tail.toml").unwrap_err();
    assert_eq!((missing.line, missing.key.as_str()), (0, ""));
    assert!(missing.to_string().contains("cannot read"), "{missing}");
}

/// Each malformed file: the line and the key the error names.
#[test]
fn malformed_files_name_the_line_and_the_key() {
    let cases = [
        // A typo in a key.
        (
            GOOD.replace("threshold_ms", "treshold_ms"),
            14,
            "rule[2].treshold_ms",
        ),
        // A probability out of range.
        (GOOD.replace("0.02", "1.5"), 19, "rule[3].probability"),
        // A value of the wrong type.
        (GOOD.replace("500", "\"500ms\""), 14, "rule[2].threshold_ms"),
        // An unknown setting.
        (
            GOOD.replace("on_shutdown", "on_exit"),
            4,
            "settings.on_exit",
        ),
        // A bad setting value.
        (
            GOOD.replace("\"decide\"", "\"maybe\""),
            4,
            "settings.on_shutdown",
        ),
        // A bad status class.
        (
            GOOD.replace("\"5xx\"", "\"9xx\""),
            9,
            "rule[1].http_status[1]",
        ),
        // An unknown type.
        (
            GOOD.replace("\"latency\"", "\"latencies\""),
            13,
            "rule[2].type",
        ),
        // Broken TOML: the key on the line.
        (
            GOOD.replace("probability = 0.02", "probability = = 0.02"),
            19,
            "probability",
        ),
        // An unclosed string.
        (GOOD.replace("\"slow\"", "\"slow"), 12, "name"),
    ];
    for (text, line, key) in cases {
        let error: PolicyError = TailFile::parse(&text).unwrap_err();
        assert_eq!((error.line, error.key.as_str()), (line, key), "{error}");
        let shown = error.to_string();
        assert!(
            shown.starts_with(&format!("line {line}, {key}: ")),
            "{shown}"
        );
    }
    let empty = TailPolicy::from_toml("").unwrap_err();
    assert!(empty.message.contains("no [[rule]]"), "{empty}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A good file cut, spliced or sprinkled with other bytes: an error or a policy, never a
    /// panic; an error always names a line within the file.
    #[test]
    fn no_input_panics(cut in 0..GOOD.len(), junk in "[\\[\\]{}=\",.#a-z0-9_ \\n-]{0,24}", at in 0..GOOD.len()) {
        let mut text = GOOD[..cut].to_owned();
        let at = at.min(text.len());
        if text.is_char_boundary(at) {
            text.insert_str(at, &junk);
        }
        if let Err(error) = TailFile::parse(&text) {
            prop_assert!(error.line >= 1 && error.line <= text.lines().count().max(1) + 1, "{error}");
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = TailFile::parse(&text);
    }
}
