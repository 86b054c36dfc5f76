//! The one clock of the data: how times are written into text columns and read back.
//!
//! Stored times are RFC 3339 UTC with microseconds and a `Z` (`2026-11-27T09:30:00.000000Z`):
//! fixed width, so text order is time order on every database. Queue columns that the engine
//! compares on every claim (`work_queue.run_at`, `lease_until`) are epoch milliseconds instead.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a time the way every text column stores it.
pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Now, as stored.
pub fn now_string() -> String {
    format(Utc::now())
}

/// Reads a stored (or any RFC 3339) time.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Milliseconds since the Unix epoch.
pub fn epoch_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    epoch_ms(Utc::now())
}

/// Milliseconds from `since` (a stored time) until now; `None` when it does not parse.
pub fn millis_since(since: &str) -> Option<i64> {
    parse(since).map(|t| (Utc::now() - t).num_milliseconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_sort_as_text() {
        let a = parse("2026-11-27T09:30:00Z").expect("parses");
        let b = a + chrono::Duration::microseconds(1);
        assert!(format(a) < format(b));
        assert_eq!(format(a), "2026-11-27T09:30:00.000000Z");
        assert_eq!(parse(&format(b)), Some(b));
    }
}
