//! Renewal windows in the table: the sparse `by-renewal` index (an active credential carries a
//! `renewal_bucket`, the UTC day of its `renew_after`, until its renewal is announced, it
//! expires or it is revoked), the announcement (bucket removed, audit record, `Credential
//! Expiring` queued, in one transaction: once per credential; `renewal_announced_at` stays as
//! the mark of it), and the phase's checkpoint.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use clavis_core::audit::AuditEntry;
use clavis_core::credential::Credential;
use clavis_core::events::OutboxEvent;
use clavis_core::{Error, UserError};
use time::{Date, OffsetDateTime};

use super::Repository;
use super::audited::{AuditedChange, ConditionalWrite, build_fault};
use super::expiry::{DayIndex, DuePage};
use super::items::{self, Item};
use super::keys;

/// The sparse index of active credentials by the day their renewal window opens.
pub const BY_RENEWAL: &str = "by-renewal";
/// The attribute that puts a credential in [`BY_RENEWAL`].
pub const RENEWAL_BUCKET: &str = "renewal_bucket";

const RENEWAL_INDEX: DayIndex = DayIndex {
    name: BY_RENEWAL,
    bucket: RENEWAL_BUCKET,
    at: "renew_after",
};

impl Repository {
    /// A page of credentials of `day`'s renewal bucket whose window opened by `now` (from the
    /// index: the sweep re-reads each).
    pub async fn due_renewals(
        &self,
        day: Date,
        now: OffsetDateTime,
        limit: usize,
        start: Option<Item>,
    ) -> Result<DuePage, Error> {
        self.due_in(&RENEWAL_INDEX, day, now, limit, start).await
    }

    /// Announces that `credential` entered its renewal window: it leaves the index, with the
    /// audit record `credential.expiring` and `event`, on condition that it is still active
    /// and not yet announced. Whether this call announced it.
    pub async fn announce_renewal(
        &self,
        credential: &Credential,
        event: &OutboxEvent,
        rotation_request: Option<String>,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<bool, Error> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::credential(
                &credential.credential_id,
            ))))
            .update_expression("SET renewal_announced_at = :at REMOVE #bucket")
            .condition_expression("attribute_exists(#bucket) AND #status = :active")
            .expression_attribute_names("#bucket", RENEWAL_BUCKET)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", AttributeValue::S("active".into()))
            .expression_attribute_values(":at", AttributeValue::S(items::timestamp(at)?))
            .build()
            .map_err(build_fault)?;
        let mut detail = BTreeMap::from([
            ("event_id".to_owned(), event.event_id.clone()),
            (
                "renew_after".to_owned(),
                credential
                    .renew_after
                    .and_then(|t| items::timestamp(t).ok())
                    .unwrap_or_default(),
            ),
        ]);
        if let Some(request) = rotation_request {
            detail.insert("rotation_request_id".to_owned(), request);
        }
        let result = self
            .commit(AuditedChange {
                client_id: credential.client_id,
                writes: vec![
                    ConditionalWrite {
                        item: TransactWriteItem::builder().update(update).build(),
                        on_conflict: UserError::Conflict("renewal already announced".into()),
                    },
                    self.queue_event(event, at)?,
                ],
                entry: AuditEntry {
                    actor: actor.to_owned(),
                    action: "credential.expiring".into(),
                    subject: credential.credential_id.to_string(),
                    detail,
                },
                at,
            })
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(Error::User(UserError::Conflict(_))) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The first day whose renewals are not all announced; `None` before the first sweep.
    pub async fn renewal_checkpoint(&self) -> Result<Option<Date>, Error> {
        self.checkpoint(keys::renewal_checkpoint()).await
    }

    /// Records that every renewal of the days before `day` is announced.
    pub async fn set_renewal_checkpoint(&self, day: Date) -> Result<(), Error> {
        self.set_checkpoint(keys::renewal_checkpoint(), day).await
    }
}
