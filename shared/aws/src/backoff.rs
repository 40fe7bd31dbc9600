//! Backoff between attempts of a loop that retries a conflict (the audit chain head, the
//! revocation counter): full jitter, so writers that lost together do not retry together.

use std::time::Duration;

/// A pause drawn uniformly from zero to `base · 2^attempt`, capped at `cap`.
pub fn full_jitter(attempt: usize, base: Duration, cap: Duration) -> Duration {
    let ceiling = base
        .saturating_mul(1u32 << attempt.min(16))
        .min(cap)
        .as_micros();
    let Ok(ceiling) = u64::try_from(ceiling) else {
        return cap;
    };
    if ceiling == 0 {
        return Duration::ZERO;
    }
    let mut bytes = [0u8; 8];
    // Without OS randomness the pause is half the ceiling: still bounded, merely less spread.
    let draw = match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes) % ceiling,
        Err(_) => ceiling / 2,
    };
    Duration::from_micros(draw)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(5);
    const CAP: Duration = Duration::from_millis(320);

    #[test]
    fn pauses_stay_under_a_ceiling_that_doubles_up_to_the_cap() {
        for attempt in 0..20 {
            let ceiling = (BASE * (1 << attempt.min(16))).min(CAP);
            for _ in 0..200 {
                assert!(
                    full_jitter(attempt, BASE, CAP) < ceiling,
                    "attempt {attempt}"
                );
            }
        }
    }

    #[test]
    fn pauses_are_spread_not_fixed() {
        let draws: std::collections::BTreeSet<Duration> =
            (0..50).map(|_| full_jitter(4, BASE, CAP)).collect();
        assert!(draws.len() > 10, "{draws:?}");
    }

    #[test]
    fn a_zero_base_never_pauses() {
        assert_eq!(full_jitter(3, Duration::ZERO, CAP), Duration::ZERO);
    }
}
