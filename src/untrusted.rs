//! Text that came from outside (a broker message, a file, a camera's error), made safe to echo in
//! a log line, an alert or a status: printable, on one line, and short.
//!
//! Whatever an unauthenticated party sends can only ever reach the world through [`summary`], so
//! no message can grow an alert past a packet limit, forge a log line, or smuggle control codes
//! to a terminal.

/// The most characters of untrusted text ever echoed.
pub const SUMMARY_CHARS: usize = 100;

/// `text` cut to [`SUMMARY_CHARS`] characters, with anything outside printable ASCII replaced by
/// `?`, and `...` added when something was cut.
pub fn summary(text: &str) -> String {
    let mut out = String::with_capacity(SUMMARY_CHARS + 3);
    for (i, c) in text.chars().enumerate() {
        if i == SUMMARY_CHARS {
            out.push_str("...");
            break;
        }
        out.push(if c == ' ' || c.is_ascii_graphic() { c } else { '?' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_is_short_printable_and_one_line() {
        assert_eq!(summary("plain words"), "plain words");
        assert_eq!(summary("two\nlines\x1b[31m\u{202e}é"), "two?lines?[31m??");
        let long = summary(&"x".repeat(2 << 20));
        assert_eq!(long.len(), SUMMARY_CHARS + 3);
        assert!(long.ends_with("..."));
    }
}
