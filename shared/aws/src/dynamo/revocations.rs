//! The revocation registry: revoking a credential is one transaction — credential revoked,
//! the next `seq` taken from the counter, the registry entry, its copy filed under the month
//! its credential expires (what snapshots read), the audit record and the outbox event — so the
//! registry says "revoked" the moment the caller is answered, and `seq` is strictly increasing
//! without gaps or duplicates however many revoke at once.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use clavis_core::audit::AuditEntry;
use clavis_core::credential::{Credential, Revocation};
use clavis_core::events::{ClavisEvent, CredentialRevoked, EventMeta};
use clavis_core::ids::CredentialId;
use clavis_core::lifecycle::{LifecycleEvent, transition};
use clavis_core::revocation::{RELEVANCE_GRACE, RevocationEntry, RevocationReason, expiry_month};
use clavis_core::{Error, SystemFault, UserError};
use time::OffsetDateTime;

use super::Repository;
use super::audited::{AuditedChange, ConditionalWrite, build_fault};
use super::items::{self, Item};
use super::keys;
use crate::fault;

/// Entity tag of registry entries.
pub const ENTITY: &str = "revocation";
/// Entity tag of the copies of entries filed by expiry month.
pub const EXPIRING_ENTITY: &str = "revocation_by_expiry";
/// The numeric attribute of those copies a snapshot filters on (the credential's expiry, in
/// seconds since the epoch).
pub const LIVE_UNTIL: &str = "live_until";
/// Seconds the copies stay after they stopped mattering, before the table's TTL removes them.
const EXPIRING_COPY_RETENTION_SECONDS: i64 = 24 * 3600;
/// Attempts at taking a `seq` before contention is reported as a fault.
const ATTEMPTS: u32 = 40;

/// The counter attribute naming the first `seq` whose entry has a copy by expiry month (entries
/// before it were written before the registry carried expiries).
const FILED_FROM: &str = "filed_from";

/// The registry counter's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RegistryCounter {
    /// The last `seq` handed out (0 before the first revocation).
    pub last: u64,
    /// The first `seq` filed by expiry month; `None` until one was.
    pub filed_from: Option<u64>,
}

/// The items a registry entry is stored as: the entry in `seq` order, and its copy filed under
/// its credential's expiry month when it has one.
pub fn entry_items(entry: &RevocationEntry) -> Result<Vec<Item>, Error> {
    let mut stored = vec![items::to_item(
        entry,
        keys::revocation(entry.seq),
        ENTITY,
        1,
    )?];
    if let Some(expires_at) = entry.expires_at {
        stored.push(expiring_copy(entry, expires_at)?);
    }
    Ok(stored)
}

/// The copy of `entry` filed under its credential's expiry month, with the expiry as a number
/// for the snapshot's filter and the table's TTL a day after it stopped mattering.
fn expiring_copy(entry: &RevocationEntry, expires_at: OffsetDateTime) -> Result<Item, Error> {
    let key = (
        keys::revocations_expiring(&expiry_month(expires_at)),
        keys::revocation_sort_key(entry.seq),
    );
    let mut item = items::to_item(entry, key, EXPIRING_ENTITY, 1)?;
    let until = expires_at.unix_timestamp();
    item.insert(LIVE_UNTIL.into(), AttributeValue::N(until.to_string()));
    let gone = until + RELEVANCE_GRACE.whole_seconds() + EXPIRING_COPY_RETENTION_SECONDS;
    item.insert("ttl".into(), AttributeValue::N(gone.to_string()));
    Ok(item)
}

/// What a revoke call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// The registry entry (the same on every repeat).
    pub entry: RevocationEntry,
    /// Whether this call revoked it (false: it already was).
    pub now: bool,
}

impl Repository {
    /// Revokes `credential_id`, or answers the revocation it already has. `permit` sees the
    /// credential as read, before anything is answered or written: the caller's policy check,
    /// without a read of its own.
    pub async fn revoke_credential(
        &self,
        credential_id: &CredentialId,
        reason: RevocationReason,
        actor: &str,
        at: OffsetDateTime,
        permit: &(dyn Fn(&Credential) -> Result<(), Error> + Sync),
    ) -> Result<Revoked, Error> {
        for attempt in 0..ATTEMPTS {
            let stored = self
                .get_credential(credential_id, true)
                .await?
                .ok_or_else(|| UserError::NotFound("credential".into()))?;
            let credential = stored.value;
            permit(&credential)?;
            if let Some(r) = credential.revocation {
                return Ok(Revoked {
                    entry: RevocationEntry {
                        seq: r.seq,
                        credential_id: credential.credential_id,
                        client_id: credential.client_id,
                        reason: r.reason,
                        revoked_at: r.revoked_at,
                        revoked_by: r.revoked_by,
                        expires_at: Some(credential.expires_at),
                    },
                    now: false,
                });
            }
            // Past its expiry it is expired, whether or not a sweep has marked it yet.
            if credential.expires_at <= at {
                return Err(UserError::IllegalTransition(format!(
                    "credential {credential_id} has expired; there is nothing to revoke"
                ))
                .into());
            }
            transition(credential.status, LifecycleEvent::Revoke).map_err(UserError::from)?;
            let last = self.revocation_counter().await?.last;
            let entry = RevocationEntry {
                seq: last + 1,
                credential_id: credential.credential_id,
                client_id: credential.client_id,
                reason,
                revoked_at: at,
                revoked_by: actor.to_owned(),
                expires_at: Some(credential.expires_at),
            };
            let event = CredentialRevoked {
                meta: EventMeta::new(at),
                seq: entry.seq,
                credential_id: entry.credential_id,
                client_id: entry.client_id,
                reason,
                revoked_at: at,
                expires_at: entry.expires_at,
            };
            let mut writes = vec![
                self.revoke_write(&entry, stored.version)?,
                self.counter_write(last)?,
                self.queue_event(&event.to_outbox(), at)?,
            ];
            for item in entry_items(&entry)? {
                writes.push(self.put_new(item, UserError::Conflict("seq taken".into()))?);
            }
            let result = self
                .commit(AuditedChange {
                    client_id: entry.client_id,
                    writes,
                    entry: AuditEntry {
                        actor: actor.to_owned(),
                        action: "credential.revoked".into(),
                        subject: entry.credential_id.to_string(),
                        detail: BTreeMap::from([
                            ("seq".to_owned(), entry.seq.to_string()),
                            ("reason".to_owned(), reason.as_str().to_owned()),
                            ("event_id".to_owned(), event.meta.event_id.clone()),
                        ]),
                    },
                    at,
                })
                .await;
            match result {
                Ok(_) => return Ok(Revoked { entry, now: true }),
                // Another revocation took this seq, or revoked this credential: read again.
                Err(Error::User(UserError::Conflict(_))) => {
                    // Full jitter: revokers that lost one seq together do not retry together.
                    tokio::time::sleep(crate::backoff::full_jitter(
                        attempt as usize,
                        super::audited::BACKOFF_BASE,
                        super::audited::BACKOFF_CAP,
                    ))
                    .await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(SystemFault::Unavailable {
            service: "dynamodb",
            detail: "revocation seq contention".into(),
        }
        .into())
    }

    /// Registry entries with `seq > since`, in order, at most `limit`.
    pub async fn revocations_since(
        &self,
        since: u64,
        limit: u32,
    ) -> Result<Vec<RevocationEntry>, Error> {
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND sk > :since")
            .expression_attribute_values(":p", AttributeValue::S(keys::REVOCATIONS.into()))
            .expression_attribute_values(
                ":since",
                AttributeValue::S(keys::revocation_sort_key(since)),
            )
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .filter(|item| items::string(item, keys::SK).is_some_and(|sk| sk.starts_with("SEQ#")))
            .map(|item| {
                items::from_item(item, ENTITY)
                    .map(|(e, _)| e)
                    .map_err(Error::from)
            })
            .collect()
    }

    /// The registry's counter, read consistently.
    pub(super) async fn revocation_counter(&self) -> Result<RegistryCounter, Error> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::revocation_counter())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        let item = out.item.unwrap_or_default();
        Ok(RegistryCounter {
            last: items::number(&item, "seq").unwrap_or(0),
            filed_from: items::number(&item, FILED_FROM),
        })
    }

    fn counter_write(&self, last: u64) -> Result<ConditionalWrite, Error> {
        let taken = || UserError::Conflict("seq taken".into());
        if last == 0 {
            let mut item: Item = items::key(keys::revocation_counter());
            item.insert(
                keys::ENTITY.into(),
                AttributeValue::S("revocation_counter".into()),
            );
            item.insert("seq".into(), AttributeValue::N("1".into()));
            item.insert(FILED_FROM.into(), AttributeValue::N("1".into()));
            return self.put_new(item, taken());
        }
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::revocation_counter())))
            // The first entry written with a copy by expiry month says where copies begin.
            .update_expression("SET #seq = :next, #filed = if_not_exists(#filed, :next)")
            .expression_attribute_names("#filed", FILED_FROM)
            .condition_expression("#seq = :last")
            .expression_attribute_names("#seq", "seq")
            .expression_attribute_values(":last", AttributeValue::N(last.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((last + 1).to_string()))
            .build()
            .map_err(build_fault)?;
        Ok(ConditionalWrite {
            item: TransactWriteItem::builder().update(update).build(),
            on_conflict: taken(),
        })
    }

    fn revoke_write(
        &self,
        entry: &RevocationEntry,
        version: u64,
    ) -> Result<ConditionalWrite, Error> {
        let revocation = serde_dynamo::to_attribute_value(Revocation {
            seq: entry.seq,
            reason: entry.reason,
            revoked_at: entry.revoked_at,
            revoked_by: entry.revoked_by.clone(),
        })
        .map_err(|e| SystemFault::Internal(format!("cannot encode revocation: {e}")))?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::credential(&entry.credential_id))))
            .update_expression(
                "SET #status = :revoked, revocation = :revocation, #version = :next \
                 REMOVE #bucket, renewal_bucket",
            )
            .condition_expression("#version = :version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", keys::VERSION)
            .expression_attribute_names("#bucket", super::expiry::EXPIRY_BUCKET)
            .expression_attribute_values(":revoked", AttributeValue::S("revoked".into()))
            .expression_attribute_values(":revocation", revocation)
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((version + 1).to_string()))
            .build()
            .map_err(build_fault)?;
        Ok(ConditionalWrite {
            item: TransactWriteItem::builder().update(update).build(),
            on_conflict: UserError::Conflict("credential changed".into()),
        })
    }
}
