//! [`Untrusted`]: the one way text from the network or the environment reaches a log line or
//! an error message.
//!
//! A receiver's partial-success message, a gRPC status message, the body of an error response,
//! a header value or a configuration value is written by somebody else. Logged as it came, it
//! can flood the logs (a 3.5 MB message became 60,000 lines), forge lines that look like the
//! service's own (`\n[ERROR] …`), or drive the reader's terminal (`ESC[2J`). Every such text is
//! shown through [`Untrusted`]: at most a bounded number of bytes, on one line, with control,
//! line-breaking and bidirectional-override characters escaped. Backslashes are left alone, so
//! showing a text twice changes nothing more than showing it once.

use std::fmt;

/// Bytes of an untrusted text shown at most, unless a caller asks for another bound.
pub(crate) const MAX_SHOWN: usize = 512;

/// Shows an untrusted text bounded, escaped and on one line.
///
/// `format!("{}", Untrusted::new(text))` writes `text` with every control, line-separating
/// and bidi-override character as an escape such as `\n` or `\u{1b}`, and stops before
/// [`MAX_SHOWN`] bytes are written, saying how many bytes of `text` were left out.
#[derive(Clone, Copy)]
pub(crate) struct Untrusted<'a> {
    text: &'a str,
    max_bytes: usize,
    /// Bytes of the original that come after `text` and were never read (see [`show_bytes`]).
    unread: usize,
}

impl<'a> Untrusted<'a> {
    /// `text`, shown with the default bound.
    pub(crate) fn new(text: &'a str) -> Self {
        Self::bounded(text, MAX_SHOWN)
    }

    /// `text`, of which at most `max_bytes` bytes are shown.
    pub(crate) fn bounded(text: &'a str, max_bytes: usize) -> Self {
        Self {
            text,
            max_bytes,
            unread: 0,
        }
    }
}

/// Characters that must not reach a reader (a log, a terminal) as themselves: C0 and C1
/// controls (newlines, `ESC`), the Unicode line and paragraph separators, the bidirectional
/// marks, overrides and isolates that reorder what a reader sees, and the zero-width
/// characters that hide text. The one definition for logs, the stdout exporter and the trace
/// view.
pub(crate) fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// Appends `c` as its escape (`\n`, `\r`, `\t`, else `\u{…}`) if [`needs_escape`] says so,
/// else as itself.
pub(crate) fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if needs_escape(c) => out.extend(c.escape_unicode()),
        c => out.push(c),
    }
}

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bound is on what is written, escapes included, so that a text of nothing but
        // control characters is no longer than any other.
        let mut written = 0;
        let mut plain_from = 0;
        let mut escape = String::new();
        for (i, c) in self.text.char_indices() {
            escape.clear();
            if needs_escape(c) {
                push_escaped(&mut escape, c);
            }
            let len = if escape.is_empty() {
                c.len_utf8()
            } else {
                escape.len()
            };
            if written + len > self.max_bytes {
                f.write_str(&self.text[plain_from..i])?;
                let left_out = self.text.len() - i + self.unread;
                return write!(f, "… ({left_out} more bytes)");
            }
            written += len;
            if !escape.is_empty() {
                f.write_str(&self.text[plain_from..i])?;
                f.write_str(&escape)?;
                plain_from = i + c.len_utf8();
            }
        }
        f.write_str(&self.text[plain_from..])?;
        match self.unread {
            0 => Ok(()),
            unread => write!(f, "… ({unread} more bytes)"),
        }
    }
}

impl fmt::Debug for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Untrusted bytes shown as [`Untrusted`] shows text: only the first [`MAX_SHOWN`] of them
/// are read (invalid UTF-8 replaced), so that a huge payload is never copied whole just to be
/// shown.
#[cfg(feature = "otlp")]
pub(crate) fn show_bytes(bytes: &[u8]) -> String {
    let cut = bytes.len().min(MAX_SHOWN);
    let text = String::from_utf8_lossy(&bytes[..cut]);
    Untrusted {
        unread: bytes.len() - cut,
        ..Untrusted::new(&text)
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bounded_escaped_line() {
        let hostile = "ok\n[ERROR forged] pwned\r\n\u{1b}[2J\u{2028}\u{202e}evil\tend";
        let shown = Untrusted::new(hostile).to_string();
        assert_eq!(
            shown,
            "ok\\n[ERROR forged] pwned\\r\\n\\u{1b}[2J\\u{2028}\\u{202e}evil\\tend"
        );
        assert!(!shown.chars().any(needs_escape));

        let huge = "é".repeat(1_000_000);
        let shown = Untrusted::new(&huge).to_string();
        assert!(shown.len() < MAX_SHOWN + 40, "{}", shown.len());
        assert!(shown.ends_with("… (1999488 more bytes)"), "{shown}");
        // Escapes count towards the bound.
        let escapes = "\u{1b}".repeat(10_000);
        let shown = Untrusted::new(&escapes).to_string();
        assert_eq!(
            shown,
            format!("{}… (9915 more bytes)", "\\u{1b}".repeat(85))
        );
        // Showing twice is showing once.
        let once = Untrusted::new(hostile).to_string();
        assert_eq!(Untrusted::new(&once).to_string(), once);
        assert_eq!(Untrusted::bounded("abc", 0).to_string(), "… (3 more bytes)");
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn bytes_are_shown_from_a_bounded_prefix() {
        assert_eq!(show_bytes(b"a\nb"), "a\\nb");
        assert_eq!(show_bytes(&[b'a', 0xff]), "a\u{fffd}");
        let shown = show_bytes(&vec![b'x'; 4_000_000]);
        assert_eq!(shown, format!("{}… (3999488 more bytes)", "x".repeat(512)));
    }
}
