//! When to try a failed delivery again: a fixed schedule of delays (default immediate, 5 s,
//! 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — eight attempts in all) with ±20 % jitter, stretched
//! to honour a destination's `Retry-After`. After the last attempt a delivery is dead-lettered.

use rand::Rng;
use std::time::Duration;

/// Delays before attempt 1, 2, …; its length is the number of attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule(pub Vec<Duration>);

impl Default for Schedule {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self(vec![
            s(0),
            s(5),
            s(5 * 60),
            s(30 * 60),
            s(2 * 3600),
            s(5 * 3600),
            s(10 * 3600),
            s(10 * 3600),
        ])
    }
}

impl Schedule {
    /// Parses `"0s,5s,5m,30m,2h"`; units ms, s, m, h.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (num, unit) = part
                .find(|c: char| !c.is_ascii_digit())
                .map_or((part, "s"), |i| part.split_at(i));
            let n: u64 = num
                .parse()
                .map_err(|_| format!("retry schedule: `{part}` is not a number with a unit"))?;
            let d = match unit {
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                "m" => Duration::from_secs(n * 60),
                "h" => Duration::from_secs(n * 3600),
                _ => {
                    return Err(format!(
                        "retry schedule: unit of `{part}` must be ms, s, m or h"
                    ));
                }
            };
            out.push(d);
        }
        if out.is_empty() {
            return Err("retry schedule: at least one attempt is needed".into());
        }
        Ok(Self(out))
    }

    pub fn attempts(&self) -> u32 {
        u32::try_from(self.0.len()).unwrap_or(u32::MAX)
    }

    /// Delay before attempt `next` (1-based), or `None` when attempts are exhausted. The
    /// scheduled delay gets ±20 % jitter; a longer `retry_after` from the destination wins.
    pub fn delay_before(&self, next: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let base = *self.0.get(usize::try_from(next.checked_sub(1)?).ok()?)?;
        let jittered = if base.is_zero() {
            base
        } else {
            let factor = rand::rng().random_range(0.8..1.2);
            base.mul_f64(factor)
        };
        Some(retry_after.map_or(jittered, |ra| ra.max(jittered)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_has_eight_attempts_ending_in_ten_hours() {
        let s = Schedule::default();
        assert_eq!(s.attempts(), 8);
        assert_eq!(s.delay_before(1, None), Some(Duration::ZERO));
        let last = s.delay_before(8, None).expect("eighth attempt exists");
        assert!(last >= Duration::from_secs(8 * 3600) && last <= Duration::from_secs(12 * 3600));
        assert_eq!(s.delay_before(9, None), None);
    }

    #[test]
    fn retry_after_stretches_the_delay() {
        let s = Schedule::parse("0s,10ms").expect("valid");
        let d = s
            .delay_before(2, Some(Duration::from_secs(3)))
            .expect("exists");
        assert_eq!(d, Duration::from_secs(3));
    }

    #[test]
    fn parse_names_the_bad_part() {
        let err = Schedule::parse("0s,5x").expect_err("bad unit");
        assert!(err.contains("5x"), "{err}");
    }
}
