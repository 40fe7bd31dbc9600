//! EventBridge publishing. A non-zero `FailedEntryCount` is a fault naming the failed entries,
//! never a success: the caller retries those or dead-letters them.

use aws_sdk_eventbridge::Client as EventBridgeClient;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use clavis_core::{Error, SystemFault};
use serde::Serialize;

use crate::fault;

/// The `source` of every event Clavis emits.
pub const SOURCE: &str = "clavis";
/// PutEvents accepts at most this many entries per call.
pub const MAX_BATCH: usize = 10;

/// One event to publish.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboundEvent {
    /// The `detail-type`, e.g. `Credential Revoked`.
    pub detail_type: String,
    /// The `detail` JSON object.
    pub detail: serde_json::Value,
}

impl From<&clavis_core::events::OutboxRecord> for OutboundEvent {
    /// An outbox entry as it goes on the bus, unchanged (its `detail` is JSON text we wrote).
    fn from(record: &clavis_core::events::OutboxRecord) -> Self {
        Self {
            detail_type: record.detail_type.clone(),
            detail: serde_json::from_str(&record.detail).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Entries EventBridge refused, by their index in the batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} of {total} events were not published", failed.len())]
pub struct PartialFailure {
    /// Size of the batch.
    pub total: usize,
    /// Index in the batch and error code of each refused entry.
    pub failed: Vec<(usize, String)>,
}

impl From<PartialFailure> for Error {
    fn from(p: PartialFailure) -> Self {
        SystemFault::Unavailable {
            service: "eventbridge",
            detail: p.to_string(),
        }
        .into()
    }
}

/// Publishes onto one bus.
#[derive(Debug, Clone)]
pub struct EventPublisher {
    client: EventBridgeClient,
    bus: String,
}

/// What a publish attempt did: either everything went out, or these entries did not.
#[derive(Debug)]
pub enum PublishError {
    /// The call itself failed; nothing is known to be published.
    Call(Error),
    /// Some entries were refused.
    Partial(PartialFailure),
}

impl From<PublishError> for Error {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Call(e) => e,
            PublishError::Partial(p) => p.into(),
        }
    }
}

impl EventPublisher {
    /// A publisher onto `bus`.
    pub fn new(client: EventBridgeClient, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }

    /// Publishes up to [`MAX_BATCH`] events in one call.
    pub async fn publish(&self, events: &[OutboundEvent]) -> Result<(), PublishError> {
        if events.len() > MAX_BATCH {
            return Err(PublishError::Call(
                SystemFault::Internal(format!("batch of {} exceeds {MAX_BATCH}", events.len()))
                    .into(),
            ));
        }
        let entries = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(SOURCE)
                    .detail_type(&e.detail_type)
                    .detail(e.detail.to_string())
                    .build()
            })
            .collect();
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| PublishError::Call(fault::from_sdk("eventbridge", &e).into()))?;
        if out.failed_entry_count == 0 {
            return Ok(());
        }
        let results = out.entries.unwrap_or_default();
        let mut failed: Vec<(usize, String)> = results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.error_code().map(|c| (i, c.to_owned())))
            .collect();
        if failed.is_empty() {
            // A count without per-entry results: every entry must be treated as failed.
            failed = (0..events.len())
                .map(|i| (i, "Unknown".to_owned()))
                .collect();
        }
        Err(PublishError::Partial(PartialFailure {
            total: events.len(),
            failed,
        }))
    }
}
