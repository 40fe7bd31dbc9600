//! How the api waits for an issuance's workflow: not a blind poll. Each container learns how
//! long its issuances take (a moving average of request-to-activation times, as the credentials
//! themselves record them), looks first when one should be done, then at short steps, and at
//! most [`MAX_LOOKS`] times in one wait. Each look is one consistent read of the request with
//! what answering it needs.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The expectation before a container has seen an issuance complete.
pub const FIRST_GUESS: Duration = Duration::from_millis(400);
/// The shortest step between two looks.
pub const MIN_STEP: Duration = Duration::from_millis(50);
/// The longest step between two looks.
pub const MAX_STEP: Duration = Duration::from_millis(750);
/// Most looks in one wait (the last at its end).
pub const MAX_LOOKS: usize = 12;
/// Weight of the newest observation in the moving average.
const WEIGHT: f64 = 0.2;

/// The moving average of how long this container's issuances took.
#[derive(Debug)]
pub struct IssuanceTiming {
    expected_ms: Mutex<f64>,
}

impl Default for IssuanceTiming {
    fn default() -> Self {
        Self {
            expected_ms: Mutex::new(FIRST_GUESS.as_secs_f64() * 1000.0),
        }
    }
}

impl IssuanceTiming {
    /// How long an issuance is expected to take now.
    pub fn expected(&self) -> Duration {
        let ms = *self
            .expected_ms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Duration::from_secs_f64(ms / 1000.0)
    }

    /// Learns that an issuance took `took` (from request to activation). Observations beyond
    /// a few seconds (a slow moment, a held request) are clamped so one cannot skew the rest.
    pub fn observe(&self, took: Duration) {
        let ms = (took.as_secs_f64() * 1000.0).clamp(10.0, 5000.0);
        let mut expected = self
            .expected_ms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *expected = *expected * (1.0 - WEIGHT) + ms * WEIGHT;
    }
}

/// When to look, as offsets from the start of a wait of `wait` for an issuance expected to take
/// `expected`: first a quarter after it should be done, then at steps that start at a quarter
/// of the expectation (at least [`MIN_STEP`]) and grow by half each time up to [`MAX_STEP`], so
/// a slow workflow is still seen soon after it ends; the last look at the end of the wait,
/// never more than [`MAX_LOOKS`]. A wait of zero (the caller prefers an asynchronous answer)
/// looks once, now.
pub fn schedule(expected: Duration, wait: Duration) -> Vec<Duration> {
    if wait.is_zero() {
        return vec![Duration::ZERO];
    }
    let first = (expected + expected / 4).min(wait);
    let mut step = (expected / 4).clamp(MIN_STEP, MAX_STEP);
    let mut looks = vec![first];
    let mut at = first;
    while at < wait && looks.len() < MAX_LOOKS - 1 {
        at = (at + step).min(wait);
        looks.push(at);
        step = (step * 3 / 2).min(MAX_STEP);
    }
    if at < wait {
        looks.push(wait);
    }
    looks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_first_look_comes_a_quarter_after_the_expected_end_then_growing_steps() {
        let looks = schedule(400 * MS, 5000 * MS);
        assert_eq!(&looks[..4], &[500 * MS, 600 * MS, 750 * MS, 975 * MS]);
        assert!(looks.len() <= MAX_LOOKS);
        assert_eq!(looks.last(), Some(&(5000 * MS)), "the last look at the end");
        let gaps = looks.windows(2).map(|w| w[1] - w[0]);
        assert!(
            gaps.clone().all(|g| g <= MAX_STEP),
            "a slow workflow is seen within a step of ending: {looks:?}"
        );
    }

    #[test]
    fn an_asynchronous_request_looks_once_at_once() {
        assert_eq!(schedule(400 * MS, Duration::ZERO), vec![Duration::ZERO]);
    }

    #[test]
    fn a_wait_shorter_than_the_expectation_looks_at_its_end() {
        assert_eq!(schedule(400 * MS, 100 * MS), vec![100 * MS]);
    }

    #[test]
    fn the_average_follows_what_issuances_take() {
        let timing = IssuanceTiming::default();
        assert_eq!(timing.expected(), FIRST_GUESS);
        for _ in 0..50 {
            timing.observe(200 * MS);
        }
        let expected = timing.expected();
        assert!(expected > 195 * MS && expected < 205 * MS, "{expected:?}");
        timing.observe(Duration::from_secs(600));
        assert!(
            timing.expected() < 1200 * MS,
            "one held request does not teach the container to wait minutes"
        );
    }

    proptest! {
        #[test]
        fn looks_are_few_ordered_and_within_the_wait(
            expected_ms in 0u32..10_000,
            wait_ms in 0u32..10_000,
        ) {
            let (expected, wait) = (expected_ms * MS, wait_ms * MS);
            let looks = schedule(expected, wait);
            prop_assert!(!looks.is_empty() && looks.len() <= MAX_LOOKS);
            prop_assert!(looks.windows(2).all(|w| w[0] < w[1]), "{looks:?}");
            prop_assert!(looks.iter().all(|l| *l <= wait));
            prop_assert_eq!(looks.last().copied(), Some(wait), "the last look at the end");
        }
    }
}
