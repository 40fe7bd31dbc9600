//! The outbox publisher (DESIGN §4, "Publishing"): stream records of outbox inserts become
//! EventBridge events. Entries the bus refuses are retried; when a call fails as a whole (the
//! bus unreachable, after the SDK's own retries) the rest of the batch is not tried. What still
//! fails goes to the events DLQ with its record, for `replay`; only a record that cannot even be
//! parked is reported as a batch item failure, so the stream delivers it again. Nothing between
//! a committed change and its broadcast is lost.

use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use clavis_aws::events::{EventPublisher, MAX_BATCH, OutboundEvent, PublishError};
use clavis_aws::sqs::QueueSender;
pub use clavis_core::events::{OutboxRecord, ParkedEvent};

/// Attempts per entry before it is parked in the DLQ.
pub const ATTEMPTS: usize = 3;

/// One outbox entry of the batch, with the stream position it came from.
struct Pending {
    sequence_number: Option<String>,
    outbox: OutboxRecord,
    last_error: String,
}

/// The outbox entry a stream record inserted, if it is one.
pub fn outbox_of(record: &EventRecord) -> Option<OutboxRecord> {
    if record.event_name != "INSERT" {
        return None;
    }
    let entity: Option<String> = record
        .change
        .new_image
        .get("entity")
        .and_then(|v| serde_dynamo::from_attribute_value(v.clone()).ok());
    if entity.as_deref() != Some("outbox") {
        return None;
    }
    serde_dynamo::from_item(record.change.new_image.clone()).ok()
}

/// One pass over `pending` in PutEvents-sized chunks: what was refused, and whether a call
/// failed as a whole (then the chunks after it are not tried, only handed back).
async fn publish_once(publisher: &EventPublisher, pending: Vec<Pending>) -> (Vec<Pending>, bool) {
    let mut still = Vec::new();
    let mut unreachable: Option<String> = None;
    for chunk in pending.chunks(MAX_BATCH) {
        if let Some(code) = &unreachable {
            still.extend(chunk.iter().map(|p| p.failed_with(code)));
            continue;
        }
        let events: Vec<OutboundEvent> = chunk
            .iter()
            .map(|p| OutboundEvent {
                detail_type: p.outbox.detail_type.clone(),
                detail: serde_json::from_str(&p.outbox.detail).unwrap_or(serde_json::Value::Null),
            })
            .collect();
        match publisher.publish(&events).await {
            Ok(()) => {}
            Err(PublishError::Partial(partial)) => {
                for (i, code) in partial.failed {
                    if let Some(p) = chunk.get(i) {
                        still.push(p.failed_with(&code));
                    }
                }
            }
            Err(PublishError::Call(e)) => {
                let code = e.code().to_owned();
                still.extend(chunk.iter().map(|p| p.failed_with(&code)));
                unreachable = Some(code);
            }
        }
    }
    (still, unreachable.is_some())
}

impl Pending {
    fn failed_with(&self, code: &str) -> Self {
        Self {
            sequence_number: self.sequence_number.clone(),
            outbox: self.outbox.clone(),
            last_error: code.to_owned(),
        }
    }
}

/// Publishes the batch; answers the records the stream must deliver again.
pub async fn publish_batch(
    publisher: &EventPublisher,
    dlq: &QueueSender,
    events_dlq_url: &str,
    event: Event,
) -> DynamoDbEventResponse {
    let mut pending: Vec<Pending> = event
        .records
        .iter()
        .filter_map(|r| {
            outbox_of(r).map(|outbox| Pending {
                sequence_number: r.change.sequence_number.clone(),
                outbox,
                last_error: String::new(),
            })
        })
        .collect();
    let total = pending.len();
    for attempt in 0..ATTEMPTS {
        if pending.is_empty() {
            break;
        }
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
        let (still, unreachable) = publish_once(publisher, pending).await;
        pending = still;
        if unreachable {
            // The call itself failed after the SDK's own retries: the bus is unreachable, and
            // more attempts would only hold up the stream. Park everything; replay re-puts it.
            break;
        }
    }

    let mut response = DynamoDbEventResponse::default();
    let parked = pending.len();
    for p in &pending {
        let letter = ParkedEvent {
            record: p.outbox.clone(),
            error: p.last_error.clone(),
        };
        let body = serde_json::to_string(&letter).unwrap_or_default();
        if let Err(e) = dlq.send(events_dlq_url, &body, Some(&p.last_error)).await {
            tracing::error!(event_id = %p.outbox.event_id, error = %e, "event neither published nor parked; the stream will redeliver it");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = p.sequence_number.clone();
            response.batch_item_failures.push(failure);
        }
    }
    tracing::info!(
        records = event.records.len(),
        outbox = total,
        published = total - parked,
        parked,
        redeliver = response.batch_item_failures.len(),
        aws_calls = %clavis_lambda::telemetry::aws_calls(),
        "outbox batch"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_outbox_inserts_are_published() {
        let event: Event =
            serde_json::from_str(include_str!("../../../events/publish-events.json")).unwrap();
        let outbox: Vec<_> = event.records.iter().filter_map(outbox_of).collect();
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox[0].detail_type, "Credential Issued");
        let detail: serde_json::Value = serde_json::from_str(&outbox[0].detail).unwrap();
        assert_eq!(detail["event_id"], outbox[0].event_id.as_str());
    }
}
