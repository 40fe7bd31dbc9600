//! Revoking a client: the client item becomes `revoked` at once (no issuance from that moment),
//! then the `revoke-client` workflow revokes its active credentials in bounded batches, found
//! through the `by-client` index, and finally queues one `Client Revoked` event with the count.
//! Every step is idempotent, so a retried or replayed execution repeats nothing.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use clavis_core::audit::AuditEntry;
use clavis_core::client::{Client, ClientRevocation};
use clavis_core::events::{ClavisEvent, ClientRevoked, EventMeta};
use clavis_core::ids::{ClientId, CredentialId};
use clavis_core::revocation::RevocationReason;
use clavis_core::{Error, SystemFault, UserError};
use time::OffsetDateTime;

use super::Repository;
use super::audited::{AuditedChange, ConditionalWrite, build_fault};
use super::items::{self, Item};
use super::keys;
use crate::fault;

/// The index of credentials by client and status.
pub const BY_CLIENT_INDEX: &str = "by-client";
/// Attempts at revoking the client item before contention is reported as a fault.
const ATTEMPTS: u32 = 8;

/// What a client revoke call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRevocationOutcome {
    /// The revocation (the same on every repeat).
    pub revocation: ClientRevocation,
    /// Whether this call revoked it (false: it already was).
    pub now: bool,
}

/// What finishing a client revocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRevocationDone {
    /// How many of the client's credentials were revoked because of it.
    pub revoked_credentials: u64,
    /// The `Client Revoked` event id (the same on every repeat).
    pub event_id: String,
    /// Whether this call queued the event (false: an earlier one did).
    pub now: bool,
}

impl Repository {
    /// Revokes the client itself (not yet its credentials), or answers its earlier revocation.
    /// `permit` sees the client as read, before anything is answered or written.
    pub async fn revoke_client(
        &self,
        client_id: &ClientId,
        reason: RevocationReason,
        actor: &str,
        at: OffsetDateTime,
        permit: &(dyn Fn(&Client) -> Result<(), Error> + Sync),
    ) -> Result<ClientRevocationOutcome, Error> {
        for _ in 0..ATTEMPTS {
            let stored = self
                .get_client(client_id, true)
                .await?
                .ok_or_else(|| UserError::NotFound(format!("client {client_id}")))?;
            permit(&stored.value)?;
            if let Some(revocation) = stored.value.revocation {
                return Ok(ClientRevocationOutcome {
                    revocation,
                    now: false,
                });
            }
            let revocation = ClientRevocation {
                reason,
                revoked_at: at,
                revoked_by: actor.to_owned(),
            };
            let encoded = serde_dynamo::to_attribute_value(&revocation)
                .map_err(|e| SystemFault::Internal(format!("cannot encode revocation: {e}")))?;
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(items::key(keys::client(client_id))))
                .update_expression(
                    "SET #status = :revoked, revocation = :revocation, #version = :next",
                )
                .condition_expression("#version = :version")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#version", keys::VERSION)
                .expression_attribute_values(":revoked", AttributeValue::S("revoked".into()))
                .expression_attribute_values(":revocation", encoded)
                .expression_attribute_values(":version", number(stored.version))
                .expression_attribute_values(":next", number(stored.version + 1))
                .build()
                .map_err(build_fault)?;
            let result = self
                .commit(AuditedChange {
                    client_id: *client_id,
                    writes: vec![ConditionalWrite {
                        item: TransactWriteItem::builder().update(update).build(),
                        on_conflict: UserError::Conflict("client changed".into()),
                    }],
                    entry: AuditEntry {
                        actor: actor.to_owned(),
                        action: "client.revoked".into(),
                        subject: client_id.to_string(),
                        detail: BTreeMap::from([
                            ("reason".to_owned(), reason.as_str().to_owned()),
                            (
                                "previous_status".to_owned(),
                                stored.value.status.as_str().to_owned(),
                            ),
                        ]),
                    },
                    at,
                })
                .await;
            match result {
                Ok(_) => {
                    return Ok(ClientRevocationOutcome {
                        revocation,
                        now: true,
                    });
                }
                // Changed under us (another revoke, a status change): read it again.
                Err(Error::User(UserError::Conflict(_))) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(SystemFault::Unavailable {
            service: "dynamodb",
            detail: "client revocation contention".into(),
        }
        .into())
    }

    /// Up to `limit` credentials of `client_id` that are active and not yet past their expiry,
    /// read from the `by-client` index page by page (expired ones are filtered out, so a page
    /// may be short; the scan goes on until `limit` are found or the index has no more).
    pub async fn active_credentials_of(
        &self,
        client_id: &ClientId,
        limit: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<CredentialId>, Error> {
        let now = items::timestamp(now)?;
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .credentials_by_client(client_id, "active", "expires_at > :now")
                .expression_attribute_values(":now", AttributeValue::S(now.clone()))
                .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| fault::from_sdk("dynamodb", &e))?;
            for item in page.items.unwrap_or_default() {
                found.push(items::credential_id_in(&item, "by-client")?);
                if found.len() == limit {
                    return Ok(found);
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(found),
            }
        }
    }

    /// Queues the one `Client Revoked` event of a revoked client, with the count of credentials
    /// revoked because of it; a repeat answers the first call's event and queues nothing.
    pub async fn finish_client_revocation(
        &self,
        client_id: &ClientId,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<ClientRevocationDone, Error> {
        if let Some(done) = self.client_revocation_marker(client_id).await? {
            return Ok(done);
        }
        let client = self
            .get_client(client_id, true)
            .await?
            .ok_or_else(|| UserError::NotFound(format!("client {client_id}")))?
            .value;
        let revocation = client.revocation.ok_or_else(|| {
            UserError::IllegalTransition(format!("client {client_id} is not revoked"))
        })?;
        let count = self.count_revoked_with_client(client_id).await?;
        let event = ClientRevoked {
            meta: EventMeta::new(at),
            client_id: *client_id,
            reason: revocation.reason,
            revoked_at: revocation.revoked_at,
            revoked_credentials: count,
        };
        let mut marker = items::key(keys::client_revocation_done(client_id));
        marker.insert(
            keys::ENTITY.into(),
            AttributeValue::S("client_revocation_done".into()),
        );
        marker.insert(
            "event_id".into(),
            AttributeValue::S(event.meta.event_id.clone()),
        );
        marker.insert("revoked_credentials".into(), number(count));
        let writes = vec![
            self.put_new(marker, UserError::Conflict("already finished".into()))?,
            self.queue_event(&event.to_outbox(), at)?,
        ];
        let result = self
            .commit(AuditedChange {
                client_id: *client_id,
                writes,
                entry: AuditEntry {
                    actor: actor.to_owned(),
                    action: "client.credentials_revoked".into(),
                    subject: client_id.to_string(),
                    detail: BTreeMap::from([
                        ("revoked_credentials".to_owned(), count.to_string()),
                        ("event_id".to_owned(), event.meta.event_id.clone()),
                    ]),
                },
                at,
            })
            .await;
        match result {
            Ok(_) => Ok(ClientRevocationDone {
                revoked_credentials: count,
                event_id: event.meta.event_id,
                now: true,
            }),
            Err(Error::User(UserError::Conflict(_))) => self
                .client_revocation_marker(client_id)
                .await?
                .ok_or_else(|| {
                    SystemFault::Internal("client revocation marker vanished".into()).into()
                }),
            Err(e) => Err(e),
        }
    }

    async fn client_revocation_marker(
        &self,
        client_id: &ClientId,
    ) -> Result<Option<ClientRevocationDone>, Error> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::client_revocation_done(client_id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        Ok(out.item.map(|item| ClientRevocationDone {
            revoked_credentials: items::number(&item, "revoked_credentials").unwrap_or(0),
            event_id: items::string(&item, "event_id")
                .unwrap_or_default()
                .to_owned(),
            now: false,
        }))
    }

    /// A query of the `by-client` index for the client's credentials in `status`, filtered
    /// further by `filter` (whose values the caller adds).
    fn credentials_by_client(
        &self,
        client_id: &ClientId,
        status: &str,
        filter: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.db
            .query()
            .table_name(&self.table)
            .index_name(BY_CLIENT_INDEX)
            .key_condition_expression("client_id = :client AND #status = :status")
            .filter_expression(format!("#entity = :credential AND {filter}"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#entity", keys::ENTITY)
            .expression_attribute_values(":client", AttributeValue::S(client_id.to_string()))
            .expression_attribute_values(":status", AttributeValue::S(status.into()))
            .expression_attribute_values(
                ":credential",
                AttributeValue::S(super::credentials::ENTITY.into()),
            )
    }

    /// How many of the client's credentials carry a `client_revoked` revocation.
    async fn count_revoked_with_client(&self, client_id: &ClientId) -> Result<u64, Error> {
        let mut count = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .credentials_by_client(client_id, "revoked", "revocation.reason = :reason")
                .expression_attribute_values(
                    ":reason",
                    AttributeValue::S(RevocationReason::ClientRevoked.as_str().into()),
                )
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| fault::from_sdk("dynamodb", &e))?;
            count += u64::try_from(page.count).unwrap_or(0);
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(count),
            }
        }
    }
}

fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}
