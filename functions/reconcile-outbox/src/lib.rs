//! `reconcile-outbox` (docs/architecture.md, "Events"), run by an EventBridge schedule:
//! re-publishes every outbox entry that no publisher handed off within [`DEADLINE_SECONDS`] of
//! being queued. Normally there is none: `publish-events` takes each entry out of the pending index
//! once it is on the bus or parked in the events DLQ. An entry left there means its stream
//! record never reached a publisher (the mapping disabled, or failing for longer than the
//! stream keeps records), and without this it would be lost.
//!
//! Entries are re-put unchanged (same `event_id`, so a subscriber that did see one drops the
//! copy). What the bus refuses stays pending for the next run; nothing is deleted.

use clavis_aws::dynamo::Repository;
use clavis_aws::events::{EventPublisher, MAX_BATCH, OutboundEvent, PublishError};
use clavis_core::events::OutboxRecord;
use clavis_core::{Error, UserError};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// The `Publisher` dimension of this publisher's metrics.
const PUBLISHER: &str = "reconciler";

/// How long an entry may wait for its publisher before the reconciler takes over: well past
/// the stream's normal delivery (seconds), so the two rarely both publish one event.
pub const DEADLINE_SECONDS: i64 = 300;
/// Entries one run re-publishes at most, unless the input asks for fewer.
pub const DEFAULT_MAX_EVENTS: usize = 1000;
/// The largest bound an input may ask for.
pub const MAX_EVENTS: usize = 10_000;

/// The input: the scheduled event (whose fields are ignored), or an operator's bound.
#[derive(Debug, Default, Deserialize)]
pub struct ReconcileInput {
    /// Re-publish at most this many entries in this run (1 to [`MAX_EVENTS`]).
    #[serde(default)]
    pub max_events: Option<usize>,
}

impl ReconcileInput {
    /// The bound of this run, checked.
    pub fn bound(&self) -> Result<usize, UserError> {
        clavis_lambda::step::bounded(
            "max_events",
            self.max_events,
            DEFAULT_MAX_EVENTS,
            MAX_EVENTS,
        )
    }
}

/// What one run did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Entries found past the deadline.
    pub stale: usize,
    /// Re-put on the bus and taken out of the pending index.
    pub republished: usize,
    /// Refused by the bus (or not marked): still pending, for the next run.
    pub still_pending: usize,
}

/// One reconciliation at `now`.
pub async fn reconcile(
    repo: &Repository,
    publisher: &EventPublisher,
    input: ReconcileInput,
    now: OffsetDateTime,
) -> Result<ReconcileReport, Error> {
    let bound = input.bound()?;
    let stale = repo
        .stale_outbox(now - Duration::seconds(DEADLINE_SECONDS), bound)
        .await?;
    let mut report = ReconcileReport {
        stale: stale.len(),
        ..ReconcileReport::default()
    };
    for chunk in stale.chunks(MAX_BATCH) {
        let mut published: Vec<&OutboxRecord> = Vec::new();
        let refused = match publisher.publish(&outbound(chunk)).await {
            Ok(()) => Vec::new(),
            Err(PublishError::Partial(partial)) => partial.failed.iter().map(|(i, _)| *i).collect(),
            Err(PublishError::Call(e)) => {
                // The bus is unreachable: the rest waits for the next run.
                tracing::warn!(error = %e, "bus unreachable; stale events stay pending");
                report.still_pending = report.stale - report.republished;
                break;
            }
        };
        for (i, record) in chunk.iter().enumerate() {
            if refused.contains(&i) {
                report.still_pending += 1;
                continue;
            }
            published.push(record);
            match repo.mark_handed_off(&record.event_id, now).await {
                Ok(()) => {
                    report.republished += 1;
                    tracing::info!(
                        event_id = record.event_id,
                        detail_type = record.detail_type,
                        "stale event re-published"
                    );
                }
                Err(e) => {
                    report.still_pending += 1;
                    tracing::warn!(event_id = record.event_id, error = %e, "re-published event still marked pending");
                }
            }
        }
        // Measured as each chunk goes out. Some of these are copies of events the stream did
        // publish but could not mark (their lag counts from the commit, so they look late).
        clavis_lambda::metrics::events_handled(PUBLISHER, published, 0, OffsetDateTime::now_utc());
    }
    tracing::info!(
        stale = report.stale,
        republished = report.republished,
        still_pending = report.still_pending,
        aws_calls = %clavis_lambda::telemetry::aws_calls(),
        "outbox reconciled"
    );
    Ok(report)
}

/// The bus events of outbox entries, unchanged.
fn outbound(records: &[OutboxRecord]) -> Vec<OutboundEvent> {
    records.iter().map(OutboundEvent::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheduled_event_is_a_valid_input_with_the_default_bound() {
        let text = include_str!("../../../events/reconcile-outbox.json");
        let input: ReconcileInput =
            clavis_lambda::step::decode(serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(input.bound(), Ok(DEFAULT_MAX_EVENTS));
    }

    #[test]
    fn an_operator_bound_is_checked() {
        for (asked, ok) in [
            (1, true),
            (MAX_EVENTS, true),
            (0, false),
            (MAX_EVENTS + 1, false),
        ] {
            let input = ReconcileInput {
                max_events: Some(asked),
            };
            assert_eq!(input.bound().is_ok(), ok, "{asked}");
        }
    }

    #[test]
    fn entries_go_on_the_bus_unchanged() {
        let record = OutboxRecord {
            event_id: "evt_01".into(),
            detail_type: "Credential Revoked".into(),
            detail: r#"{"event_id":"evt_01","seq":7}"#.into(),
        };
        let events = outbound(std::slice::from_ref(&record));
        assert_eq!(events[0].detail_type, "Credential Revoked");
        assert_eq!(events[0].detail["seq"], 7);
    }
}
