//! What the mail says: subject, text part and HTML part, from a `conversation.complete`.

use chronicle_plugin_api::JsonMap;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime as Zoned};
use serde_json::Value;

use crate::text::{cut, text_of};

/// The longest fallback summary, in characters.
const FALLBACK_SUMMARY_CHARS: usize = 1_000;

/// Where the mail's summary came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Summary {
    /// The conversation's own, written by the language model.
    Model(String),
    /// Its first sentences, when it has no summary.
    FirstSentences(String),
}

impl Summary {
    fn text(&self) -> &str {
        match self {
            Summary::Model(text) | Summary::FirstSentences(text) => text,
        }
    }

    fn heading(&self) -> &'static str {
        match self {
            Summary::Model(_) => "Summary",
            Summary::FirstSentences(_) => "How it began",
        }
    }
}

/// The parts of a `conversation.complete` the mail shows.
#[derive(Clone, Debug)]
pub struct Conversation {
    pub id: String,
    pub title: Option<String>,
    pub summary: Summary,
    pub transcript: String,
    /// Seconds of audio.
    pub duration: f64,
    /// When it began, in the mail's time zone.
    pub began: Option<Zoned>,
    /// The account's address, when the event names one.
    pub user_email: Option<String>,
}

impl Conversation {
    /// Reads `data`; `None` when there are no words to write about.
    pub fn from_event(data: &JsonMap, max_sentences: usize, zone: &TimeZone) -> Option<Self> {
        let transcript = text_of(data.get("transcript"))?.to_owned();
        let conversation = data.get("conversation");
        let field = |key: &str| text_of(conversation.and_then(|c| c.get(key)));
        let summary = match field("summary") {
            Some(summary) => Summary::Model(summary.to_owned()),
            None => Summary::FirstSentences(fallback_summary(&transcript, max_sentences)),
        };
        let began = field("created_at")
            .and_then(|text| text.parse::<Timestamp>().ok())
            .map(|instant| instant.to_zoned_datetime(zone.clone()));
        Some(Self {
            id: text_of(data.get("conversation_id"))
                .unwrap_or("unknown")
                .to_owned(),
            title: field("title").map(str::to_owned),
            summary,
            transcript,
            duration: data.get("duration").and_then(Value::as_f64).unwrap_or(0.0),
            began,
            user_email: field("user_email").map(str::to_owned),
        })
    }
}

/// The first `max_sentences` sentences of `transcript` (a sentence ends at `.`, `!`, `?` or
/// `…` before a space or the end), at most 1,000 characters.
pub fn fallback_summary(transcript: &str, max_sentences: usize) -> String {
    let text = transcript.trim();
    let mut sentences = 0;
    let mut end = text.len();
    let mut chars = text.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        let at_boundary = chars.peek().is_none_or(|(_, next)| next.is_whitespace());
        if matches!(c, '.' | '!' | '?' | '…') && at_boundary {
            sentences += 1;
            if sentences >= max_sentences.max(1) {
                end = index + c.len_utf8();
                break;
            }
        }
    }
    let taken = &text[..end];
    if taken.chars().count() > FALLBACK_SUMMARY_CHARS {
        let cut: String = taken.chars().take(FALLBACK_SUMMARY_CHARS).collect();
        format!("{}…", cut.trim_end())
    } else if end < text.len() {
        format!("{taken} …")
    } else {
        taken.to_owned()
    }
}

/// The date as the subject and body show it: `Jan 15, 2025 at 02:30 PM`.
fn date(began: &Zoned) -> String {
    began.strftime("%b %d, %Y at %I:%M %p").to_string()
}

/// `prefix - date`, or the prefix alone without a date.
pub fn subject(prefix: &str, began: Option<&Zoned>) -> String {
    match began {
        Some(began) => format!("{prefix} - {}", date(began)),
        None => prefix.to_owned(),
    }
}

/// `42 s`, `12 min 5 s`, `1 h 2 min`.
pub fn duration(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    match (hours, minutes) {
        (0, 0) => format!("{seconds} s"),
        (0, _) => format!("{minutes} min {seconds} s"),
        _ => format!("{hours} h {minutes} min"),
    }
}

/// What the mail shows besides the words: (label, value) lines.
fn details(
    conversation: &Conversation,
    include_id: bool,
    include_duration: bool,
) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if let Some(began) = &conversation.began {
        lines.push(("Recorded", date(began)));
    }
    if include_duration {
        lines.push(("Duration", duration(conversation.duration)));
    }
    if include_id {
        lines.push(("Conversation", conversation.id.clone()));
    }
    lines
}

/// Options of the body that come from the settings.
#[derive(Clone, Copy, Debug)]
pub struct BodyOptions {
    pub include_conversation_id: bool,
    pub include_duration: bool,
    pub transcript_chars: usize,
}

/// The transcript as quoted: at most `chars` characters, none with 0.
fn quoted_transcript(transcript: &str, chars: usize) -> Option<String> {
    (chars > 0).then(|| cut(transcript, chars))
}

/// The text part.
pub fn text_body(conversation: &Conversation, options: BodyOptions) -> String {
    let mut body = String::new();
    if let Some(title) = &conversation.title {
        body.push_str(title);
        body.push_str("\n\n");
    }
    body.push_str(conversation.summary.heading());
    body.push('\n');
    body.push_str(conversation.summary.text());
    body.push_str("\n\n");
    if let Some(transcript) = quoted_transcript(&conversation.transcript, options.transcript_chars)
    {
        body.push_str("Transcript\n");
        body.push_str(&transcript);
        body.push_str("\n\n");
    }
    for (label, value) in details(
        conversation,
        options.include_conversation_id,
        options.include_duration,
    ) {
        body.push_str(&format!("{label}: {value}\n"));
    }
    body.push_str("\n-- \nSent by Chronicle after the conversation ended.\n");
    body
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// The HTML part: the same content, escaped, with inline styles (mail clients drop style
/// sheets).
pub fn html_body(conversation: &Conversation, options: BodyOptions) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n\
         <body style=\"font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; \
         color: #222; max-width: 640px; margin: 0 auto; padding: 16px;\">\n",
    );
    if let Some(title) = &conversation.title {
        html.push_str(&format!(
            "<h1 style=\"font-size: 20px;\">{}</h1>\n",
            escape(title)
        ));
    }
    html.push_str(&format!(
        "<h2 style=\"font-size: 16px;\">{}</h2>\n<p style=\"line-height: 1.5;\">{}</p>\n",
        conversation.summary.heading(),
        escape(conversation.summary.text())
    ));
    if let Some(transcript) = quoted_transcript(&conversation.transcript, options.transcript_chars)
    {
        html.push_str(&format!(
            "<h2 style=\"font-size: 16px;\">Transcript</h2>\n<blockquote style=\"margin: 0; \
             padding: 8px 12px; border-left: 3px solid #ccc; color: #555; white-space: \
             pre-wrap;\">{}</blockquote>\n",
            escape(&transcript)
        ));
    }
    let details = details(
        conversation,
        options.include_conversation_id,
        options.include_duration,
    );
    if !details.is_empty() {
        html.push_str("<table style=\"margin-top: 16px; color: #666; font-size: 13px;\">\n");
        for (label, value) in details {
            html.push_str(&format!(
                "<tr><td style=\"padding-right: 12px;\">{label}</td><td>{}</td></tr>\n",
                escape(&value)
            ));
        }
        html.push_str("</table>\n");
    }
    html.push_str(
        "<p style=\"margin-top: 24px; color: #999; font-size: 12px;\">Sent by Chronicle after \
         the conversation ended.</p>\n</body></html>\n",
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_summary_takes_whole_sentences() {
        let transcript = "We met at nine. Then what? Lunch at 12.30 was fine! The rest is noise.";
        assert_eq!(
            fallback_summary(transcript, 3),
            "We met at nine. Then what? Lunch at 12.30 was fine! …"
        );
        assert_eq!(
            fallback_summary(transcript, 9),
            transcript,
            "fewer sentences than asked"
        );
        assert_eq!(
            fallback_summary("no punctuation at all", 3),
            "no punctuation at all"
        );
        let long = "word ".repeat(400);
        let summary = fallback_summary(&long, 3);
        assert_eq!(
            summary.chars().count(),
            1_000 - 1 + 1,
            "cut at 1,000 and marked"
        );
        assert!(summary.ends_with("word…"), "{summary}");
    }

    #[test]
    fn subjects_carry_the_date_in_the_zone_asked_for() {
        let began: Timestamp = "2025-01-15T14:30:00Z".parse().expect("timestamp");
        let utc = began.to_zoned_datetime(TimeZone::UTC);
        assert_eq!(
            subject("Conversation Summary", Some(&utc)),
            "Conversation Summary - Jan 15, 2025 at 02:30 PM"
        );
        let tokyo = began.to_zoned_datetime(TimeZone::get("Asia/Tokyo").expect("zone"));
        assert_eq!(
            subject("Daily", Some(&tokyo)),
            "Daily - Jan 15, 2025 at 11:30 PM"
        );
        assert_eq!(subject("Daily", None), "Daily");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(42.4), "42 s");
        assert_eq!(duration(725.0), "12 min 5 s");
        assert_eq!(duration(3720.0), "1 h 2 min");
        assert_eq!(duration(-3.0), "0 s");
    }

    #[test]
    fn bodies_escape_what_was_said() {
        let data = serde_json::json!({
            "conversation_id": "c1",
            "transcript": "Use <b>bold</b> & \"quotes\".",
            "duration": 5.0,
            "conversation": {"title": "Tags & <things>"},
        });
        let conversation =
            Conversation::from_event(data.as_object().expect("object"), 3, &TimeZone::UTC)
                .expect("words");
        let options = BodyOptions {
            include_conversation_id: true,
            include_duration: false,
            transcript_chars: 100,
        };
        let html = html_body(&conversation, options);
        assert!(
            html.contains("<h1 style=\"font-size: 20px;\">Tags &amp; &lt;things&gt;</h1>"),
            "{html}"
        );
        assert!(
            html.contains("Use &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quotes&quot;."),
            "{html}"
        );
        assert!(!html.contains("Duration"));
        let text = text_body(&conversation, options);
        assert!(
            text.starts_with("Tags & <things>\n\nHow it began\nUse <b>bold</b>"),
            "{text}"
        );
        assert!(text.contains("Conversation: c1\n"), "{text}");
    }
}
