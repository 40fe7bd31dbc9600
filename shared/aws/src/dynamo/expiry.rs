//! Expiry in the table: the sparse `by-expiry` index (only active credentials carry an
//! `expiry_bucket`), marking a due credential expired with its audit record and
//! `Credential Expired` event in one transaction, and the sweep's checkpoint.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use clavis_core::audit::AuditEntry;
use clavis_core::events::{ClavisEvent, CredentialExpired, EventMeta};
use clavis_core::expiry;
use clavis_core::ids::CredentialId;
use clavis_core::lifecycle::CredentialState;
use clavis_core::{Error, SystemFault, UserError};
use time::{Date, OffsetDateTime};

use super::audited::{AuditedChange, ConditionalWrite, build_fault};
use super::items::{self, Item};
use super::keys;
use super::{Repository, Versioned};
use crate::fault;

/// The sparse index of active credentials by the day they expire.
pub const BY_EXPIRY: &str = "by-expiry";
/// The attribute that puts a credential in [`BY_EXPIRY`]: set while active, removed by every
/// change that ends its life.
pub const EXPIRY_BUCKET: &str = "expiry_bucket";

/// A sparse index of credentials by the UTC day of a time, and that time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DayIndex {
    /// The index.
    pub(crate) name: &'static str,
    /// Its partition attribute (the day).
    pub(crate) bucket: &'static str,
    /// Its sort attribute (the time).
    pub(crate) at: &'static str,
}

/// [`BY_EXPIRY`].
pub(crate) const EXPIRY_INDEX: DayIndex = DayIndex {
    name: BY_EXPIRY,
    bucket: EXPIRY_BUCKET,
    at: "expires_at",
};

/// Reads and conditional writes of one expiry before contention is a fault.
const EXPIRE_ATTEMPTS: u32 = 4;

/// One page of due credentials, and where the next page starts.
#[derive(Debug, Default)]
pub struct DuePage {
    /// Active credentials of the bucket whose expiry is at or before the sweep's `now`.
    pub credential_ids: Vec<CredentialId>,
    /// The next page's start, if the index has more.
    pub next: Option<Item>,
}

impl Repository {
    /// A page of at most `limit` credentials of `day`'s bucket that are due at `now`, read from
    /// the index (eventually consistent: [`Repository::expire_credential`] re-reads each one).
    pub async fn due_credentials(
        &self,
        day: Date,
        now: OffsetDateTime,
        limit: usize,
        start: Option<Item>,
    ) -> Result<DuePage, Error> {
        self.due_in(&EXPIRY_INDEX, day, now, limit, start).await
    }

    /// A page of `day`'s bucket of `index` whose time is at or before `now`.
    pub(crate) async fn due_in(
        &self,
        index: &DayIndex,
        day: Date,
        now: OffsetDateTime,
        limit: usize,
        start: Option<Item>,
    ) -> Result<DuePage, Error> {
        let now = items::timestamp(now)?;
        let page = self
            .db
            .query()
            .table_name(&self.table)
            .index_name(index.name)
            .key_condition_expression("#bucket = :bucket AND #at <= :now")
            .expression_attribute_names("#bucket", index.bucket)
            .expression_attribute_names("#at", index.at)
            .expression_attribute_values(":bucket", AttributeValue::S(expiry::bucket_name(day)))
            .expression_attribute_values(":now", AttributeValue::S(now))
            .projection_expression("credential_id")
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        let credential_ids = page
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| items::credential_id_in(item, index.name))
            .collect::<Result<_, _>>()?;
        Ok(DuePage {
            credential_ids,
            next: page.last_evaluated_key.filter(|k| !k.is_empty()),
        })
    }

    /// Marks `credential_id` expired if it is active and its lifetime ended by `at`, together
    /// with its audit record and `Credential Expired` event. Answers the event id, or `None`
    /// when there was nothing to do (not active, not yet due, gone): a repeat changes nothing.
    /// A concurrent change (a revocation, another write to the client's audit chain) makes it
    /// read again; contention that outlasts the attempts is a fault, never a silent skip.
    pub async fn expire_credential(
        &self,
        credential_id: &CredentialId,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<Option<String>, Error> {
        for attempt in 0..EXPIRE_ATTEMPTS {
            match self.expire_once(credential_id, actor, at).await {
                Err(Error::User(UserError::Conflict(_))) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
                }
                done => return done,
            }
        }
        Err(SystemFault::Unavailable {
            service: "dynamodb",
            detail: format!("{credential_id} kept changing while it was being expired"),
        }
        .into())
    }

    /// One attempt at [`Repository::expire_credential`]; `Err(Conflict)` when the credential
    /// or its client's audit chain changed since the read.
    async fn expire_once(
        &self,
        credential_id: &CredentialId,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<Option<String>, Error> {
        let Some(Versioned {
            value: credential,
            version,
        }) = self.get_credential(credential_id, true).await?
        else {
            return Ok(None);
        };
        if credential.status != CredentialState::Active || credential.expires_at > at {
            return Ok(None);
        }
        let event = CredentialExpired {
            meta: EventMeta::new(at),
            credential_id: credential.credential_id,
            client_id: credential.client_id,
            expired_at: credential.expires_at,
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::credential(credential_id))))
            .update_expression(
                "SET #status = :expired, #version = :next REMOVE #bucket, renewal_bucket",
            )
            .condition_expression("#version = :version AND #status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", keys::VERSION)
            .expression_attribute_names("#bucket", EXPIRY_BUCKET)
            .expression_attribute_values(":expired", AttributeValue::S("expired".into()))
            .expression_attribute_values(":active", AttributeValue::S("active".into()))
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((version + 1).to_string()))
            .build()
            .map_err(build_fault)?;
        let writes = vec![
            ConditionalWrite {
                item: TransactWriteItem::builder().update(update).build(),
                on_conflict: UserError::Conflict("credential changed".into()),
            },
            self.queue_event(&event.to_outbox(), at)?,
        ];
        let result = self
            .commit(AuditedChange {
                client_id: credential.client_id,
                writes,
                entry: AuditEntry {
                    actor: actor.to_owned(),
                    action: "credential.expired".into(),
                    subject: credential_id.to_string(),
                    detail: BTreeMap::from([
                        (
                            "expires_at".to_owned(),
                            items::timestamp(credential.expires_at).unwrap_or_default(),
                        ),
                        ("event_id".to_owned(), event.meta.event_id.clone()),
                    ]),
                },
                at,
            })
            .await;
        result.map(|_| Some(event.meta.event_id))
    }

    /// The first day the expiry sweep has not drained yet; `None` before the first sweep.
    pub async fn expiry_checkpoint(&self) -> Result<Option<Date>, Error> {
        self.checkpoint(keys::expiry_checkpoint()).await
    }

    /// Records that every day before `day` is drained. Never moves the checkpoint back.
    pub async fn set_expiry_checkpoint(&self, day: Date) -> Result<(), Error> {
        self.set_checkpoint(keys::expiry_checkpoint(), day).await
    }

    /// The day a sweep checkpoint at `key` holds; `None` before the first sweep.
    pub(crate) async fn checkpoint(&self, key: (String, String)) -> Result<Option<Date>, Error> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(items::key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        let Some(day) = out.item.as_ref().and_then(|i| items::string(i, "day")) else {
            return Ok(None);
        };
        let format = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(day, &format).map(Some).map_err(|e| {
            SystemFault::Internal(format!("corrupt sweep checkpoint {day}: {e}")).into()
        })
    }

    /// Moves the sweep checkpoint at `key` to `day`, never back.
    pub(crate) async fn set_checkpoint(
        &self,
        key: (String, String),
        day: Date,
    ) -> Result<(), Error> {
        let name = expiry::bucket_name(day);
        let result = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some({
                let mut item = items::key(key);
                item.insert(keys::ENTITY.into(), AttributeValue::S("checkpoint".into()));
                item.insert("day".into(), AttributeValue::S(name.clone()));
                item
            }))
            .condition_expression("attribute_not_exists(#day) OR #day <= :day")
            .expression_attribute_names("#day", "day")
            .expression_attribute_values(":day", AttributeValue::S(name))
            .send()
            .await;
        Ok(fault::unless_condition_failed(result)?)
    }
}
