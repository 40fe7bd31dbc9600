//! The transactional outbox (docs/architecture.md, "Events"): every lifecycle change queues its
//! event as an item in the same transaction; the table's stream hands it to `publish-events`.
//!
//! Until a publisher has handed an entry off (put it on the bus, or parked it in the events
//! DLQ) it carries a `pending_shard` and sits in the sparse `outbox-pending` index. The
//! reconciler reads only that index, so an entry whose stream record never reached a
//! publisher (a mapping disabled or failing past the stream's 24 h retention) is re-published
//! instead of lost. The index is sharded so that a high event rate does not make one hot
//! partition.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use clavis_core::events::{OutboxEvent, OutboxRecord};
use clavis_core::{Error, UserError};
use time::OffsetDateTime;

use super::Repository;
use super::audited::{ConditionalWrite, build_fault};
use super::items::{self, Item};
use super::keys;
use crate::fault;

/// Entity tag of outbox entries (the stream filter matches on it).
pub const OUTBOX: &str = "outbox";
/// How long an outbox entry is kept, for the reconciler and for audits.
pub const OUTBOX_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// The sparse index of entries no publisher has handed off yet.
pub const PENDING_INDEX: &str = "outbox-pending";
/// The attribute that puts an entry in [`PENDING_INDEX`].
pub const PENDING_SHARD: &str = "pending_shard";
/// Shards of [`PENDING_INDEX`].
pub const PENDING_SHARDS: u32 = 8;

/// The shard of event `event_id`: spread by the id's random characters.
pub fn pending_shard(event_id: &str) -> String {
    let spread = event_id.bytes().fold(0u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    format!("PENDING#{}", spread % PENDING_SHARDS)
}

/// The outbox entry of `event`: the stream delivers its insert to the publisher.
pub(crate) fn outbox_item(event: &OutboxEvent, at: OffsetDateTime) -> Item {
    let mut outbox: Item = items::key(keys::outbox(&event.event_id));
    outbox.insert(keys::ENTITY.into(), AttributeValue::S(OUTBOX.into()));
    outbox.insert("event_id".into(), AttributeValue::S(event.event_id.clone()));
    outbox.insert(
        "detail_type".into(),
        AttributeValue::S(event.detail_type.into()),
    );
    outbox.insert("detail".into(), AttributeValue::S(event.detail.clone()));
    outbox.insert(
        "occurred_at".into(),
        AttributeValue::S(items::timestamp(at).unwrap_or_default()),
    );
    outbox.insert(
        PENDING_SHARD.into(),
        AttributeValue::S(pending_shard(&event.event_id)),
    );
    outbox.insert(
        "ttl".into(),
        AttributeValue::N((at.unix_timestamp() + OUTBOX_TTL_SECONDS).to_string()),
    );
    outbox
}

impl Repository {
    /// The write that queues `event` in the outbox, as part of the transaction that makes the
    /// change it reports; a second copy of the same event is a conflict.
    pub(crate) fn queue_event(
        &self,
        event: &OutboxEvent,
        at: OffsetDateTime,
    ) -> Result<ConditionalWrite, Error> {
        self.put_new(
            outbox_item(event, at),
            UserError::Conflict("event already queued".into()),
        )
    }

    /// Takes `event_id` out of the pending index: a publisher put it on the bus or parked it.
    /// An entry already gone (its TTL passed) is fine.
    pub async fn mark_handed_off(&self, event_id: &str, at: OffsetDateTime) -> Result<(), Error> {
        let result = self
            .db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::outbox(event_id))))
            .update_expression("SET handed_off_at = :at REMOVE #shard")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#shard", PENDING_SHARD)
            .expression_attribute_values(
                ":at",
                AttributeValue::S(items::timestamp(at).unwrap_or_default()),
            )
            .send()
            .await;
        Ok(fault::unless_condition_failed(result)?)
    }

    /// Takes every one of `event_ids` (at most 100) out of the pending index in one
    /// transaction: one call for a publisher's whole batch. If any entry is gone (its TTL
    /// passed) the transaction marks nothing and answers `Ok(false)`: mark them one by one.
    pub async fn mark_all_handed_off(
        &self,
        event_ids: &[String],
        at: OffsetDateTime,
    ) -> Result<bool, Error> {
        if event_ids.is_empty() {
            return Ok(true);
        }
        let at = AttributeValue::S(items::timestamp(at).unwrap_or_default());
        let marks = event_ids
            .iter()
            .map(|event_id| {
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(items::key(keys::outbox(event_id))))
                    .update_expression("SET handed_off_at = :at REMOVE #shard")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_names("#shard", PENDING_SHARD)
                    .expression_attribute_values(":at", at.clone())
                    .build()
                    .map_err(build_fault)?;
                Ok(TransactWriteItem::builder().update(update).build())
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let result = self
            .db
            .transact_write_items()
            .set_transact_items(Some(marks))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => {
                let cancelled = matches!(
                    e.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(_))
                );
                if cancelled {
                    Ok(false)
                } else {
                    Err(fault::from_sdk("dynamodb", &e).into())
                }
            }
        }
    }

    /// At most `limit` entries no publisher handed off that were queued before `before`,
    /// oldest first within each shard.
    pub async fn stale_outbox(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, Error> {
        let scan = super::sharded::ShardedScan {
            index: PENDING_INDEX,
            shard_attribute: PENDING_SHARD,
            prefix: "PENDING",
            shards: PENDING_SHARDS,
            sort_attribute: "occurred_at",
            before: items::timestamp(before)?,
        };
        self.read_shards(&scan, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_spread_over_every_shard() {
        let shards: std::collections::BTreeSet<String> = (0..200)
            .map(|_| {
                let meta = clavis_core::events::EventMeta::new(OffsetDateTime::now_utc());
                pending_shard(&meta.event_id)
            })
            .collect();
        assert_eq!(shards.len(), PENDING_SHARDS as usize);
        assert_eq!(pending_shard("evt_x"), pending_shard("evt_x"));
    }
}
