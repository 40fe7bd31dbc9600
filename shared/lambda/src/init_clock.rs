//! Where a function's init goes: named laps from the start of its init, logged as one line
//! (with `init_us` and each lap in microseconds) when the shared part is built (`deps ready`)
//! and, for the api, when it is about to serve (`init done`). Cold starts are paid once per
//! container and billed, so they are worth seeing.

use std::fmt::Write;
use std::time::{Duration, Instant};

/// Laps of one init.
#[derive(Debug, Clone)]
pub struct InitClock {
    started: Instant,
    last: Instant,
    laps: Vec<(&'static str, Duration)>,
}

impl InitClock {
    /// Starts timing now.
    pub fn start() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last: now,
            laps: Vec::new(),
        }
    }

    /// Ends the lap `name`: the time since the previous lap (or the start).
    pub fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps.push((name, now - self.last));
        self.last = now;
    }

    /// The laps as `name=µs` pairs, in order.
    pub fn laps(&self) -> String {
        let mut out = String::new();
        for (name, took) in &self.laps {
            let sep = if out.is_empty() { "" } else { " " };
            let _ = write!(out, "{sep}{name}={}", took.as_micros());
        }
        out
    }

    /// Logs the init so far as `message`: its total and its laps.
    pub fn log(&self, message: &str) {
        tracing::info!(
            init_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            laps = %self.laps(),
            "{message}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laps_are_named_in_order_and_add_up_to_no_more_than_the_total() {
        let mut clock = InitClock::start();
        clock.lap("settings");
        std::thread::sleep(Duration::from_millis(2));
        clock.lap("sdk");
        let laps = clock.laps();
        assert!(laps.starts_with("settings="), "{laps}");
        let sdk: u128 = laps
            .split(' ')
            .find_map(|l| l.strip_prefix("sdk="))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(sdk >= 2000, "{laps}");
        assert!(clock.started.elapsed().as_micros() >= sdk);
    }
}
