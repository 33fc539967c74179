//! Times said in a question ("yesterday", "6 hours ago", "last Tuesday", "in the past 3 days")
//! read as a time window in the asker's time zone, and taken out of the words searched for:
//! "what did I discuss 6 hours ago?" searches what was said between 7 and 5 hours ago.
//!
//! English only, and only phrases that cannot be a conversation's own words about another time:
//! a weekday alone ("the dentist is on Tuesday") is content; "last Tuesday" is a window.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

/// A window read from the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeWindow {
    /// The words that said it, as written.
    pub phrase: String,
    /// RFC 3339 in UTC, milliseconds, as the store writes times.
    pub since: String,
    pub until: String,
}

/// Words that frame a question rather than say what it is about: a query of only these (and a
/// time) asks for everything in the window.
const FRAMING: &[&str] = &[
    "a",
    "about",
    "an",
    "and",
    "any",
    "anything",
    "at",
    "did",
    "discuss",
    "discussed",
    "do",
    "does",
    "during",
    "for",
    "from",
    "happen",
    "happened",
    "how",
    "i",
    "in",
    "is",
    "it",
    "me",
    "my",
    "of",
    "on",
    "or",
    "say",
    "said",
    "since",
    "something",
    "talk",
    "talked",
    "tell",
    "that",
    "the",
    "this",
    "to",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "who",
    "with",
    "you",
];

/// Whether `text` has a word beyond the framing of a question.
pub fn has_content_words(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|word| word.trim_matches('\'').to_lowercase())
        .any(|word| !word.is_empty() && !FRAMING.contains(&word.as_str()))
}

/// `text` without the framing of a question ("what did I want to buy" → "want buy"): what the
/// words' ranking should match, so a question's "I" and "did" do not rank every sentence. The
/// text itself when nothing else is left.
pub fn content_words(text: &str) -> String {
    let kept: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|word| {
            let bare = word.trim_matches('\'').to_lowercase();
            !bare.is_empty() && !FRAMING.contains(&bare.as_str())
        })
        .collect();
    if kept.is_empty() {
        text.to_owned()
    } else {
        kept.join(" ")
    }
}

fn utc(timestamp: Timestamp) -> String {
    timestamp.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Midnight starting `date` in `tz`.
fn day_start(date: Date, tz: &TimeZone) -> Option<Timestamp> {
    date.to_zoned_datetime(tz.clone())
        .ok()
        .map(|zoned| zoned.timestamp())
}

/// `hour` o'clock on `date` in `tz`.
fn at_hour(date: Date, hour: i8, tz: &TimeZone) -> Option<Timestamp> {
    date.at(hour, 0, 0, 0)
        .to_zoned_datetime(tz.clone())
        .ok()
        .map(|zoned| zoned.timestamp())
}

fn days(date: Date, count: i64, tz: &TimeZone) -> Option<(Timestamp, Timestamp)> {
    let end = date.checked_add(count.days()).ok()?;
    Some((day_start(date, tz)?, day_start(end, tz)?))
}

fn number(word: &str) -> Option<i64> {
    const NAMES: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    match word {
        "a" | "an" => Some(1),
        _ => word
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .or_else(|| {
                NAMES
                    .iter()
                    .position(|name| *name == word)
                    .map(|n| n as i64)
            }),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

fn unit(word: &str) -> Option<Unit> {
    Some(match word.trim_end_matches('s') {
        "minute" | "min" => Unit::Minute,
        "hour" | "hr" => Unit::Hour,
        "day" => Unit::Day,
        "week" => Unit::Week,
        "month" => Unit::Month,
        _ => return None,
    })
}

fn weekday(word: &str) -> Option<Weekday> {
    Some(match word {
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

/// The Monday starting the week of `date`.
fn monday_of(date: Date) -> Option<Date> {
    date.checked_sub(i64::from(date.weekday().to_monday_zero_offset()).days())
        .ok()
}

/// The window the words at the start of `words` say, and how many words said it.
fn window_at(
    words: &[String],
    now: Timestamp,
    tz: &TimeZone,
) -> Option<(usize, Timestamp, Timestamp)> {
    let today = now.to_zoned_datetime(tz.clone()).date();
    let word = |i: usize| words.get(i).map(String::as_str);
    let span = |unit: Unit, n: i64| -> Option<SignedDuration> {
        match unit {
            Unit::Minute => Some(SignedDuration::from_mins(n)),
            Unit::Hour => Some(SignedDuration::from_hours(n)),
            _ => None,
        }
    };
    match (word(0)?, word(1), word(2), word(3)) {
        ("day", Some("before"), Some("yesterday"), _) => {
            let (since, until) = days(today.checked_sub(2.days()).ok()?, 1, tz)?;
            Some((3, since, until))
        }
        ("yesterday", ..) => {
            let (since, until) = days(today.yesterday().ok()?, 1, tz)?;
            Some((1, since, until))
        }
        ("today", ..) => Some((1, day_start(today, tz)?, now)),
        ("last", Some("night"), ..) => {
            let since = at_hour(today.yesterday().ok()?, 18, tz)?;
            Some((2, since, at_hour(today, 6, tz)?))
        }
        ("this", Some("morning"), ..) => Some((2, at_hour(today, 5, tz)?, at_hour(today, 12, tz)?)),
        ("this", Some("afternoon"), ..) => {
            Some((2, at_hour(today, 12, tz)?, at_hour(today, 18, tz)?))
        }
        ("this", Some("evening"), ..) | ("tonight", ..) => {
            let said = if word(0) == Some("tonight") { 1 } else { 2 };
            let (_, midnight) = days(today, 1, tz)?;
            Some((said, at_hour(today, 18, tz)?, midnight))
        }
        ("this", Some("week"), ..) => Some((2, day_start(monday_of(today)?, tz)?, now)),
        ("this", Some("month"), ..) => Some((2, day_start(today.first_of_month(), tz)?, now)),
        ("last", Some("week"), ..) => {
            let monday = monday_of(today)?.checked_sub(7.days()).ok()?;
            let (since, until) = days(monday, 7, tz)?;
            Some((2, since, until))
        }
        ("last", Some("month"), ..) => {
            let first = today.first_of_month().checked_sub(1.months()).ok()?;
            let until = day_start(today.first_of_month(), tz)?;
            Some((2, day_start(first, tz)?, until))
        }
        ("last", Some(day), ..) if weekday(day).is_some() => {
            let wanted = weekday(day)?;
            let mut date = today.yesterday().ok()?;
            while date.weekday() != wanted {
                date = date.yesterday().ok()?;
            }
            let (since, until) = days(date, 1, tz)?;
            Some((2, since, until))
        }
        // "in the last 3 days", "the past hour", "past 2 weeks": from then until now.
        ("in", Some("the"), Some("last" | "past"), _) => {
            let (said, since, until) = window_at(&words[1..], now, tz)?;
            Some((said + 1, since, until))
        }
        ("the", Some("last" | "past"), ..) | ("past" | "last", ..) => {
            let skip = usize::from(word(0) == Some("the"));
            let after = |i: usize| word(skip + i);
            let (n, unit_word, said) = match (after(1).and_then(number), after(1), after(2)) {
                (Some(n), _, Some(u)) if unit(u).is_some() => (n, u, skip + 3),
                (None, Some(u), _) if unit(u).is_some() => (1, u, skip + 2),
                _ => return None,
            };
            let unit = unit(unit_word)?;
            let since = match span(unit, n) {
                Some(duration) => now.checked_sub(duration).ok()?,
                None => {
                    let back = match unit {
                        Unit::Day => n.days(),
                        Unit::Week => (7 * n).days(),
                        _ => n.months(),
                    };
                    now.to_zoned_datetime(tz.clone())
                        .checked_sub(back)
                        .ok()?
                        .timestamp()
                }
            };
            Some((said, since, now))
        }
        // "6 hours ago": around then, an hour either side; "3 days ago": that day; "2 weeks
        // ago": that week; "a month ago": that month.
        (first, Some(u), Some("ago"), _) if number(first).is_some() && unit(u).is_some() => {
            let n = number(first)?;
            let unit = unit(u)?;
            if let Some(duration) = span(unit, n) {
                let margin = span(unit, 1)?;
                let at = now.checked_sub(duration).ok()?;
                return Some((
                    3,
                    at.checked_sub(margin).ok()?,
                    at.checked_add(margin).ok()?.min(now),
                ));
            }
            let (since, until) = match unit {
                Unit::Day => days(today.checked_sub(n.days()).ok()?, 1, tz)?,
                Unit::Week => {
                    let monday = monday_of(today.checked_sub((7 * n).days()).ok()?)?;
                    days(monday, 7, tz)?
                }
                _ => {
                    let first = today.first_of_month().checked_sub(n.months()).ok()?;
                    let next = first.checked_add(1.months()).ok()?;
                    (day_start(first, tz)?, day_start(next, tz)?)
                }
            };
            Some((3, since, until))
        }
        _ => None,
    }
}

/// The first time phrase of `text` as a window (in `tz`, relative to `now`), and `text`
/// without it (and without a `from`/`on`/`in`/`during`/`since` just before it).
pub fn extract(text: &str, now: Timestamp, tz: &TimeZone) -> (String, Option<TimeWindow>) {
    // Each word with where it is in the text.
    let mut words: Vec<(usize, usize, String)> = Vec::new();
    let mut start = None;
    for (at, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        let part_of_word = c.is_alphanumeric();
        match (start, part_of_word) {
            (None, true) => start = Some(at),
            (Some(from), false) => {
                words.push((from, at, text[from..at].to_lowercase()));
                start = None;
            }
            _ => {}
        }
    }
    let lower: Vec<String> = words.iter().map(|(_, _, word)| word.clone()).collect();
    for i in 0..lower.len() {
        let Some((said, since, until)) = window_at(&lower[i..], now, tz) else {
            continue;
        };
        let mut first = i;
        if i > 0 && ["from", "on", "in", "during", "since", "over"].contains(&lower[i - 1].as_str())
        {
            first = i - 1;
        }
        let last = i + said - 1;
        let (cut_from, cut_to) = (words[first].0, words[last].1);
        let rest = format!("{} {}", &text[..cut_from], &text[cut_to..]);
        let rest = rest.split_whitespace().collect::<Vec<_>>().join(" ");
        let window = TimeWindow {
            phrase: text[words[i].0..cut_to].to_owned(),
            since: utc(since),
            until: utc(until),
        };
        return (rest, Some(window));
    }
    (text.to_owned(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thursday 3 December 2026, 15:30 in Berlin (14:30 UTC).
    fn now() -> (Timestamp, TimeZone) {
        let tz = TimeZone::get("Europe/Berlin").expect("the tz database has Berlin");
        let now = jiff::civil::date(2026, 12, 3)
            .at(15, 30, 0, 0)
            .to_zoned_datetime(tz.clone())
            .expect("a time in Berlin")
            .timestamp();
        (now, tz)
    }

    fn read(text: &str) -> (String, Option<(String, String, String)>) {
        let (now, tz) = now();
        let (rest, window) = extract(text, now, &tz);
        (rest, window.map(|w| (w.phrase, w.since, w.until)))
    }

    fn window(since: &str, until: &str) -> Option<(String, String)> {
        Some((since.to_owned(), until.to_owned()))
    }

    fn times(text: &str) -> Option<(String, String)> {
        read(text).1.map(|(_, since, until)| (since, until))
    }

    #[test]
    fn days_are_the_askers_calendar_days() {
        let (rest, found) = read("What did I promise Anna yesterday?");
        assert_eq!(rest, "What did I promise Anna ?");
        let (phrase, since, until) = found.unwrap();
        assert_eq!(phrase, "yesterday");
        // Berlin is UTC+1 in December: its day starts at 23:00 UTC the day before.
        assert_eq!(
            (since.as_str(), until.as_str()),
            ("2026-12-01T23:00:00.000Z", "2026-12-02T23:00:00.000Z")
        );
        assert_eq!(
            times("today"),
            window("2026-12-02T23:00:00.000Z", "2026-12-03T14:30:00.000Z")
        );
        assert_eq!(
            times("the day before yesterday"),
            window("2026-11-30T23:00:00.000Z", "2026-12-01T23:00:00.000Z")
        );
        assert_eq!(
            times("3 days ago"),
            window("2026-11-29T23:00:00.000Z", "2026-11-30T23:00:00.000Z")
        );
        // Thursday: last Tuesday is two days back, last Thursday a week.
        assert_eq!(
            times("last Tuesday"),
            window("2026-11-30T23:00:00.000Z", "2026-12-01T23:00:00.000Z")
        );
        assert_eq!(
            times("last thursday"),
            window("2026-11-25T23:00:00.000Z", "2026-11-26T23:00:00.000Z")
        );
        assert_eq!(
            times("last night"),
            window("2026-12-02T17:00:00.000Z", "2026-12-03T05:00:00.000Z")
        );
    }

    #[test]
    fn hours_ago_is_around_then_and_the_past_n_is_until_now() {
        let (rest, found) = read("what did I discuss 6 hours ago?");
        assert_eq!(rest, "what did I discuss ?");
        let (_, since, until) = found.unwrap();
        assert_eq!(
            (since.as_str(), until.as_str()),
            ("2026-12-03T07:30:00.000Z", "2026-12-03T09:30:00.000Z")
        );
        assert!(!has_content_words(&rest));
        assert_eq!(
            times("an hour ago"),
            window("2026-12-03T12:30:00.000Z", "2026-12-03T14:30:00.000Z")
        );
        assert_eq!(
            times("milk in the last 3 days"),
            window("2026-11-30T14:30:00.000Z", "2026-12-03T14:30:00.000Z")
        );
        assert_eq!(
            times("the past hour"),
            window("2026-12-03T13:30:00.000Z", "2026-12-03T14:30:00.000Z")
        );
        assert_eq!(read("dentist from last week").0, "dentist");
        assert_eq!(
            times("last week"),
            window("2026-11-22T23:00:00.000Z", "2026-11-29T23:00:00.000Z")
        );
        assert_eq!(
            times("last month"),
            window("2026-10-31T23:00:00.000Z", "2026-11-30T23:00:00.000Z")
        );
        assert_eq!(
            times("this week"),
            window("2026-11-29T23:00:00.000Z", "2026-12-03T14:30:00.000Z")
        );
    }

    #[test]
    fn words_about_another_time_are_left_as_words() {
        for text in [
            "the dentist is on Tuesday",
            "last",
            "past tense",
            "six ago",
            "a week",
            "",
        ] {
            let (rest, found) = read(text);
            assert_eq!((rest.as_str(), found), (text, None), "{text}");
        }
        assert!(has_content_words("what did I say about milk"));
        assert_eq!(content_words("What did I want to buy?"), "want buy");
        assert_eq!(content_words("what did I say"), "what did I say");
    }
}
