//! A circuit breaker for calls to a dependency that fails for a while at a time: after
//! `threshold` consecutive failures it opens for `cool_off`, during which callers take their
//! fallback at once instead of calling; then one call probes, and a success closes it.

use time::{Duration, OffsetDateTime};

/// The breaker's state; the caller keeps one per dependency (per process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitBreaker {
    threshold: u32,
    cool_off: Duration,
    failures: u32,
    open_until: Option<OffsetDateTime>,
}

impl CircuitBreaker {
    /// Opens after `threshold` (at least 1) consecutive failures, for `cool_off`.
    pub fn new(threshold: u32, cool_off: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_off,
            failures: 0,
            open_until: None,
        }
    }

    /// Whether a call may be made at `now` (closed, or the cool-off is over: a probe).
    pub fn allows(&self, now: OffsetDateTime) -> bool {
        self.open_until.is_none_or(|until| now >= until)
    }

    /// The call succeeded: closed, the count starts over.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.open_until = None;
    }

    /// The call failed at `now`; answers whether this failure opened the circuit. A failed
    /// probe (the circuit had opened before and no success closed it) reopens it at once.
    pub fn failed(&mut self, now: OffsetDateTime) -> bool {
        if self.open_until.is_some() {
            self.open_until = Some(now + self.cool_off);
            return true;
        }
        self.failures += 1;
        if self.failures >= self.threshold {
            self.failures = 0;
            self.open_until = Some(now + self.cool_off);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    #[test]
    fn it_opens_after_the_threshold_and_probes_after_the_cool_off() {
        let mut b = CircuitBreaker::new(3, Duration::seconds(30));
        assert!(b.allows(T0));
        assert!(!b.failed(T0));
        assert!(!b.failed(T0));
        assert!(b.allows(T0), "two failures are not yet an outage");
        assert!(b.failed(T0), "the third opens it");
        assert!(!b.allows(T0 + Duration::seconds(29)));
        assert!(
            b.allows(T0 + Duration::seconds(30)),
            "a probe after the cool-off"
        );
        // The probe fails: open again at once, for another cool-off.
        assert!(b.failed(T0 + Duration::seconds(30)));
        assert!(!b.allows(T0 + Duration::seconds(59)));
        assert!(b.allows(T0 + Duration::seconds(60)));
        b.succeeded();
        assert!(
            !b.failed(T0 + Duration::seconds(61)),
            "closed: counting from zero"
        );
    }

    #[test]
    fn a_success_closes_it_and_forgets_earlier_failures() {
        let mut b = CircuitBreaker::new(2, Duration::seconds(10));
        b.failed(T0);
        b.succeeded();
        assert!(!b.failed(T0), "the count started over");
        assert!(b.failed(T0));
        b.succeeded();
        assert!(b.allows(T0));
    }

    #[test]
    fn a_zero_threshold_still_needs_one_failure() {
        let mut b = CircuitBreaker::new(0, Duration::seconds(1));
        assert!(b.allows(T0));
        assert!(b.failed(T0));
        assert!(!b.allows(T0));
    }
}
