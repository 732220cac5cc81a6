//! Unix-seconds helpers. Token claims are attacker-shaped numbers, so every
//! conversion here is total: out-of-range values become `None`, never a panic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Last second RFC 3339 can write with a four-digit year (9999-12-31T23:59:59Z).
const MAX_RFC3339: i64 = 253_402_300_799;

/// Whole Unix seconds of `t` (negative before 1970).
pub fn unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Unix seconds of `t` with sub-second precision, for metrics.
pub fn unix_f64(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// RFC 3339 UTC (`2026-11-23T10:00:00Z`) of Unix seconds; `None` outside years 1970 to 9999.
pub fn rfc3339(secs: i64) -> Option<String> {
    if !(0..=MAX_RFC3339).contains(&secs) {
        return None;
    }
    let t = UNIX_EPOCH + Duration::from_secs(secs as u64);
    Some(humantime::format_rfc3339_seconds(t).to_string())
}

/// RFC 3339 UTC of a `SystemTime`.
pub fn rfc3339_time(t: SystemTime) -> Option<String> {
    rfc3339(unix(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_total() {
        let cases = [
            (0, Some("1970-01-01T00:00:00Z")),
            (1_795_428_000, Some("2026-11-23T10:00:00Z")),
            (MAX_RFC3339, Some("9999-12-31T23:59:59Z")),
            (MAX_RFC3339 + 1, None),
            (-1, None),
            (i64::MIN, None),
            (i64::MAX, None),
        ];
        for (secs, want) in cases {
            assert_eq!(rfc3339(secs).as_deref(), want, "{secs}");
        }
    }

    #[test]
    fn unix_round_trips_both_sides_of_the_epoch() {
        assert_eq!(unix(UNIX_EPOCH + Duration::from_secs(5)), 5);
        assert_eq!(unix(UNIX_EPOCH - Duration::from_secs(5)), -5);
    }
}
