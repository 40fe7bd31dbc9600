//! The outbox publisher (docs/architecture.md, "Events"): stream records of outbox inserts become
//! EventBridge events. Entries the bus refuses are retried; when a call fails as a whole (the
//! bus unreachable, after the SDK's own retries) the rest of the batch is not tried. What still
//! fails goes to the events DLQ with its record, for `replay`; only a record that cannot even be
//! parked is reported as a batch item failure, so the stream delivers it again. Every entry
//! put on the bus or parked then leaves the outbox's pending index; what a publisher never saw
//! stays there for `reconcile-outbox`. Nothing between a committed change and its broadcast is
//! lost.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use clavis_aws::dynamo::Repository;
use clavis_aws::events::{EventPublisher, MAX_BATCH, OutboundEvent, PublishError};
use clavis_aws::sqs::QueueSender;
pub use clavis_core::events::{OutboxRecord, ParkedEvent};

/// The `Publisher` dimension of this publisher's metrics.
const PUBLISHER: &str = "stream";

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
            .map(|p| OutboundEvent::from(&p.outbox))
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

/// Publishes the batch; answers the records the stream must deliver again. Every entry that
/// was put on the bus or parked leaves the outbox's pending index, so the reconciler does not
/// publish it again.
pub async fn publish_batch(
    repo: &Repository,
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
    let records: Vec<OutboxRecord> = pending.iter().map(|p| p.outbox.clone()).collect();
    let event_ids: Vec<String> = records.iter().map(|r| r.event_id.clone()).collect();
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
    let mut redeliver = BTreeSet::new();
    for p in &pending {
        let letter = ParkedEvent {
            record: p.outbox.clone(),
            error: p.last_error.clone(),
        };
        let body = serde_json::to_string(&letter).unwrap_or_default();
        if let Err(e) = dlq.send(events_dlq_url, &body, Some(&p.last_error)).await {
            tracing::error!(event_id = %p.outbox.event_id, error = %e, "event neither published nor parked; the stream will redeliver it");
            redeliver.insert(p.outbox.event_id.clone());
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = p.sequence_number.clone();
            response.batch_item_failures.push(failure);
        }
    }
    let refused: BTreeSet<&str> = pending.iter().map(|p| p.outbox.event_id.as_str()).collect();
    // Parked means in the DLQ: what could not even be parked is redelivered, not counted.
    clavis_lambda::metrics::events_handled(
        PUBLISHER,
        records
            .iter()
            .filter(|r| !refused.contains(r.event_id.as_str())),
        parked - redeliver.len(),
        time::OffsetDateTime::now_utc(),
    );
    let handed_off: Vec<String> = event_ids
        .into_iter()
        .filter(|id| !redeliver.contains(id))
        .collect();
    let unmarked = mark_handed_off(repo, handed_off).await;
    tracing::info!(
        records = event.records.len(),
        outbox = total,
        published = total - parked,
        parked,
        redeliver = response.batch_item_failures.len(),
        unmarked,
        aws_calls = %clavis_lambda::telemetry::aws_calls(),
        "outbox batch"
    );
    response
}

/// Most marks one transaction takes (DynamoDB's limit of actions per transaction).
const MARKS_PER_TRANSACTION: usize = 100;

/// Takes the handed-off entries out of the pending index: the whole batch in one transaction,
/// or, if that fails, one by one and concurrently. Answers how many could not be marked. Those
/// stay pending, so the reconciler publishes them a second time: a duplicate subscribers drop
/// by `event_id`, never a loss.
async fn mark_handed_off(repo: &Repository, event_ids: Vec<String>) -> usize {
    let now = time::OffsetDateTime::now_utc();
    if event_ids.len() <= MARKS_PER_TRANSACTION {
        match repo.mark_all_handed_off(&event_ids, now).await {
            Ok(true) => return 0,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "batch mark failed; marking one by one"),
        }
    }
    let mut marks = tokio::task::JoinSet::new();
    for event_id in event_ids {
        let repo = repo.clone();
        marks.spawn(async move {
            let result = repo.mark_handed_off(&event_id, now).await;
            (event_id, result)
        });
    }
    let mut unmarked = 0;
    while let Some(joined) = marks.join_next().await {
        match joined {
            Ok((_, Ok(()))) => {}
            Ok((event_id, Err(e))) => {
                unmarked += 1;
                tracing::warn!(event_id, error = %e, "handed-off event still marked pending");
            }
            Err(e) => {
                unmarked += 1;
                tracing::warn!(error = %e, "marking task failed");
            }
        }
    }
    unmarked
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
