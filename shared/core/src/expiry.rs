//! Expiry buckets (docs/architecture.md, "Workflows"): every active credential carries the UTC day
//! its lifetime ends in, so a sweep reads the `by-expiry` index one due day at a time and its cost
//! grows with what is due, never with the table. The sweep keeps a checkpoint: the first day
//! it has not yet drained.

use time::{Date, Duration, OffsetDateTime};

/// How far back the very first sweep looks (no checkpoint yet): longer than any credential
/// lives, so nothing active can lie before it.
pub const FIRST_SWEEP_LOOKBACK_DAYS: i64 = 366;

/// The bucket of a credential expiring at `expires_at`: its UTC day, `YYYY-MM-DD`.
pub fn bucket_of(expires_at: OffsetDateTime) -> String {
    bucket_name(today(expires_at))
}

/// The bucket name of `day`.
pub fn bucket_name(day: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// The UTC day of `now`.
pub fn today(now: OffsetDateTime) -> Date {
    now.to_offset(time::UtcOffset::UTC).date()
}

/// The days a sweep at `now` reads, oldest first: from the checkpoint (or the first-sweep
/// lookback) through today. Empty if the checkpoint is ahead of today (a clock step back).
pub fn days_to_sweep(checkpoint: Option<Date>, now: OffsetDateTime) -> Vec<Date> {
    let today = today(now);
    let first = checkpoint.unwrap_or_else(|| today - Duration::days(FIRST_SWEEP_LOOKBACK_DAYS));
    let mut days = Vec::new();
    let mut day = first;
    while day <= today {
        days.push(day);
        match day.next_day() {
            Some(next) => day = next,
            None => break,
        }
    }
    days
}

/// The checkpoint after `day` was drained at `now`: the next day, but never past today, whose
/// bucket still fills as credentials are issued.
pub fn checkpoint_after(day: Date, now: OffsetDateTime) -> Date {
    let today = today(now);
    match day.next_day() {
        Some(next) if next <= today => next,
        _ => today,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn a_bucket_is_the_utc_day() {
        assert_eq!(bucket_of(datetime!(2026-11-27 23:59:59 UTC)), "2026-11-27");
        assert_eq!(bucket_of(datetime!(2026-11-28 00:30 +01:00)), "2026-11-27");
        assert_eq!(bucket_of(datetime!(2027-01-01 00:00 UTC)), "2027-01-01");
    }

    #[test]
    fn a_sweep_reads_from_its_checkpoint_through_today() {
        let now = datetime!(2026-11-27 10:00 UTC);
        let days = days_to_sweep(Some(datetime!(2026-11-25 0:00 UTC).date()), now);
        let names: Vec<String> = days.into_iter().map(bucket_name).collect();
        assert_eq!(names, ["2026-11-25", "2026-11-26", "2026-11-27"]);
        let first = days_to_sweep(None, now);
        assert_eq!(first.len(), FIRST_SWEEP_LOOKBACK_DAYS as usize + 1);
        assert!(days_to_sweep(Some(datetime!(2026-11-28 0:00 UTC).date()), now).is_empty());
    }

    #[test]
    fn the_checkpoint_never_passes_today() {
        let now = datetime!(2026-11-27 10:00 UTC);
        let yesterday = datetime!(2026-11-26 0:00 UTC).date();
        assert_eq!(checkpoint_after(yesterday, now), today(now));
        assert_eq!(checkpoint_after(today(now), now), today(now));
    }

    proptest! {
        /// Sweeps at arbitrary moments, each draining every day it reads; a credential activated
        /// at any moment among them: the first sweep at or after its expiry reads its bucket
        /// (the checkpoint never passed a day that could still fill).
        #[test]
        fn the_first_sweep_after_an_expiry_reads_its_bucket(
            start in 1_700_000_000i64..1_900_000_000,
            gaps in proptest::collection::vec(60i64..(3 * 86_400), 1..60),
            activated_after in 0i64..(20 * 86_400),
            ttl in 300i64..(7 * 86_400),
        ) {
            let at = |s: i64| OffsetDateTime::from_unix_timestamp(s).unwrap();
            let activated = start + activated_after;
            let expires = activated + ttl;
            let mut checkpoint = None;
            let mut now = start;
            for gap in gaps {
                let days = days_to_sweep(checkpoint, at(now));
                if now >= expires {
                    prop_assert!(days.iter().any(|d| bucket_name(*d) == bucket_of(at(expires))));
                    break;
                }
                if let Some(last) = days.last() {
                    checkpoint = Some(checkpoint_after(*last, at(now)));
                }
                now += gap;
            }
        }
    }
}
