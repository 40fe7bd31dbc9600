//! `expiry-sweep` (docs/architecture.md, "Workflows"), run by an EventBridge schedule: marks every
//! credential whose lifetime has ended expired, each with its audit record and
//! `Credential Expired` event in one transaction; then announces every renewal window that
//! opened ([`renewal`]).
//!
//! It reads only what is due: the sparse `by-expiry` index, one UTC day at a time from its
//! checkpoint (the first day not yet drained) through today, so its cost grows with the number
//! of credentials due, not with the table. Work per run is bounded; a run that stops at the
//! bound says `more` and leaves the checkpoint where it stopped, so the next run goes on.
//! Expiring is idempotent (a credential no longer active is left alone), so overlapping or
//! repeated runs change nothing twice. A credential that cannot be expired (a fault that
//! outlasts its retries, a corrupt item) is logged and counted, and the run goes on; the
//! checkpoint stays at its day, so the next run tries it again. A credential stops authenticating at its `expires_at`
//! whether or not a sweep has run: the sweep records it, it does not enforce it.

pub mod renewal;

use clavis_aws::dynamo::Repository;
use clavis_core::expiry;
use clavis_core::{Error, UserError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The actor recorded in audit records.
pub const ACTOR: &str = "schedule:expiry-sweep";
/// Credentials read from the index per query.
pub const PAGE: usize = 25;
/// Credentials one run expires at most, unless the input asks for fewer.
pub const DEFAULT_MAX_EXPIRATIONS: u64 = 1000;
/// The largest bound an input may ask for.
pub const MAX_EXPIRATIONS: u64 = 10_000;

/// The input: the scheduled event (whose fields are ignored), or an operator's bound.
#[derive(Debug, Default, Deserialize)]
pub struct SweepInput {
    /// Expire at most this many credentials in this run (1 to [`MAX_EXPIRATIONS`]).
    #[serde(default)]
    pub max_expirations: Option<u64>,
}

impl SweepInput {
    /// The bound of this run, checked.
    pub fn bound(&self) -> Result<u64, UserError> {
        clavis_lambda::step::bounded(
            "max_expirations",
            self.max_expirations,
            DEFAULT_MAX_EXPIRATIONS,
            MAX_EXPIRATIONS,
        )
    }
}

/// What one run did.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    /// Credentials this run marked expired.
    pub expired: u64,
    /// Days (index buckets) it read.
    pub days_read: u64,
    /// The first day not yet drained, after this run.
    pub checkpoint: String,
    /// Whether it stopped at its bound with due credentials left.
    pub more: bool,
    /// Due credentials it could not expire (a fault, a corrupt item): logged, left for the
    /// next run; the checkpoint does not pass their day.
    pub failed: u64,
    /// Credentials this run announced `Credential Expiring` for (their renewal window opened).
    pub renewals: u64,
    /// Automatic rotations this run asked for.
    pub rotations: u64,
    /// Renewals of suspended auto-rotating clients left for a run after they resume.
    pub deferred: u64,
}

/// One sweep at `now`: expiries first, then renewal windows.
pub async fn sweep(
    repo: &Repository,
    renewer: &renewal::Renewer,
    input: SweepInput,
    now: OffsetDateTime,
) -> Result<SweepReport, Error> {
    let bound = input.bound()?;
    let saved = repo.expiry_checkpoint().await?;
    let days = expiry::days_to_sweep(saved, now);
    let mut checkpoint =
        saved.unwrap_or_else(|| days.first().copied().unwrap_or(expiry::today(now)));
    let mut report = SweepReport {
        expired: 0,
        days_read: 0,
        checkpoint: String::new(),
        more: false,
        failed: 0,
        renewals: 0,
        rotations: 0,
        deferred: 0,
    };
    // Once a day keeps a failure, later days are still swept but the checkpoint stays there.
    let mut stuck = false;
    'days: for day in days {
        report.days_read += 1;
        let mut start = None;
        loop {
            let page = repo.due_credentials(day, now, PAGE, start).await?;
            for credential_id in &page.credential_ids {
                if report.expired >= bound {
                    report.more = true;
                    break 'days;
                }
                match repo.expire_credential(credential_id, ACTOR, now).await {
                    Ok(Some(event_id)) => {
                        report.expired += 1;
                        tracing::info!(%credential_id, event_id, "credential expired");
                    }
                    Ok(None) => {}
                    // One credential must not hold up every other: count it, go on, and keep
                    // the checkpoint at its day so the next run tries it again.
                    Err(e) => {
                        report.failed += 1;
                        stuck = true;
                        tracing::error!(%credential_id, error = %e, "credential not expired; the next sweep retries it");
                    }
                }
            }
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        if !stuck {
            checkpoint = expiry::checkpoint_after(day, now);
        }
    }
    if saved != Some(checkpoint) {
        repo.set_expiry_checkpoint(checkpoint).await?;
    }
    report.checkpoint = expiry::bucket_name(checkpoint);
    let renewed = renewal::renew(repo, renewer, bound, now).await?;
    report.renewals = renewed.announced;
    report.rotations = renewed.rotations;
    report.failed += renewed.failed;
    report.deferred = renewed.deferred;
    report.more |= renewed.more;
    for (action, n) in [
        ("expired", report.expired),
        ("renewal_announced", report.renewals),
        ("rotation_started", report.rotations),
        ("renewal_deferred", report.deferred),
        ("failed", report.failed),
    ] {
        clavis_lambda::metrics::swept(action, n);
    }
    tracing::info!(
        renewals = report.renewals,
        rotations = report.rotations,
        expired = report.expired,
        days_read = report.days_read,
        checkpoint = report.checkpoint,
        more = report.more,
        failed = report.failed,
        aws_calls = %clavis_lambda::telemetry::aws_calls(),
        "expiry sweep"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheduled_event_is_a_valid_input_with_the_default_bound() {
        let text = include_str!("../../../events/expiry-sweep.json");
        let input: SweepInput =
            clavis_lambda::step::decode(serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(input.bound(), Ok(DEFAULT_MAX_EXPIRATIONS));
    }

    #[test]
    fn an_operator_bound_is_checked() {
        for (asked, ok) in [
            (1, true),
            (MAX_EXPIRATIONS, true),
            (0, false),
            (MAX_EXPIRATIONS + 1, false),
        ] {
            let input = SweepInput {
                max_expirations: Some(asked),
            };
            assert_eq!(input.bound().is_ok(), ok, "{asked}");
        }
        let text = serde_json::json!({"max_expirations": "lots"});
        assert!(clavis_lambda::step::decode::<SweepInput>(text).is_err());
    }
}
