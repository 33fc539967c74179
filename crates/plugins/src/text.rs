//! Small text helpers the plugins share when they read event data and quote answers.

use serde_json::Value;

/// A non-blank string value, trimmed.
pub(crate) fn text_of(value: Option<&Value>) -> Option<&str> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// At most `chars` characters of `text`, with `…` when something was cut.
pub(crate) fn cut(text: &str, chars: usize) -> String {
    let mut shown: String = text.chars().take(chars).collect();
    if text.chars().nth(chars).is_some() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_counts_characters_and_marks_the_cut() {
        assert_eq!(cut("héllo", 5), "héllo");
        assert_eq!(cut("héllo!", 5), "héllo…");
        assert_eq!(cut("", 0), "");
        assert_eq!(cut("ab", 0), "…");
    }
}
