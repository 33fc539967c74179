//! Timestamps as the store writes them: RFC 3339, UTC, with milliseconds
//! (`2026-11-25T09:00:00.123Z`). Fixed width, so they sort as text.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as an RFC 3339 UTC string with milliseconds.
pub fn now() -> String {
    rfc3339(SystemTime::now())
}

/// An upper time bound as the store compares it (as text): a bare date (`2026-12-03`) means
/// the whole day, so it becomes `2026-12-03T~`, which sorts after every time of that day.
pub fn until_bound(until: String) -> String {
    if until.len() == 10 {
        format!("{until}T~")
    } else {
        until
    }
}

/// `time` as an RFC 3339 UTC string with milliseconds, e.g. `2026-11-25T09:00:00.123Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let millis: i128 = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_millis()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_millis()).unwrap_or(i128::MAX),
    };
    let seconds = millis.div_euclid(1000);
    let millis = millis.rem_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097; // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March is 0
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i128::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[track_caller]
    fn check(millis_since_epoch: i64, expected: &str) {
        let offset = Duration::from_millis(millis_since_epoch.unsigned_abs());
        let time = if millis_since_epoch >= 0 {
            UNIX_EPOCH + offset
        } else {
            UNIX_EPOCH - offset
        };
        assert_eq!(rfc3339(time), expected);
    }

    #[test]
    fn formats_known_epochs() {
        check(0, "1970-01-01T00:00:00.000Z");
        check(1, "1970-01-01T00:00:00.001Z");
        check(951_782_400_000, "2000-02-29T00:00:00.000Z");
        check(1_795_597_200_123, "2026-11-25T09:00:00.123Z");
        check(4_102_444_799_999, "2099-12-31T23:59:59.999Z");
        check(-1, "1969-12-31T23:59:59.999Z");
        check(-1000, "1969-12-31T23:59:59.000Z");
    }

    #[test]
    fn now_has_the_fixed_width_shape() {
        let now = now();
        assert_eq!(now.len(), "2026-11-25T09:00:00.123Z".len(), "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
    }
}
