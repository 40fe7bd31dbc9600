//! Credential items, and the bootstrap of the first operator.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use clavis_core::audit::{AuditEntry, AuditRecord};
use clavis_core::client::Client;
use clavis_core::credential::Credential;
use clavis_core::ids::{ClientId, CredentialId};
use clavis_core::{Error, SystemFault, UserError};

use super::audited::AuditedChange;
use super::clients::{self, registered_entry};
use super::items;
use super::keys;
use super::together::ReadTogether;
use super::{Repository, Versioned};

/// Entity tag of credential items.
pub const ENTITY: &str = "credential";

/// Rounds of a batch read before its unprocessed keys are a fault.
const BATCH_READ_ATTEMPTS: u32 = 3;

impl Repository {
    /// Reads a credential; `None` if it does not exist. Authentication reads consistently, so a
    /// revocation is seen the moment it committed.
    pub async fn get_credential(
        &self,
        id: &CredentialId,
        consistent: bool,
    ) -> Result<Option<Versioned<Credential>>, Error> {
        self.get_versioned(keys::credential(id), ENTITY, consistent)
            .await
    }

    /// A credential and a client, read consistently in one `BatchGetItem`: what authentication
    /// needs (is the credential usable, is its client still active) in one round trip. Keys
    /// DynamoDB leaves unprocessed are asked for again, a few times, before it is a fault.
    pub async fn get_credential_and_client(
        &self,
        credential_id: &CredentialId,
        client_id: &ClientId,
    ) -> Result<(Option<Versioned<Credential>>, Option<Versioned<Client>>), Error> {
        let (credential, client, _) = self
            .get_credential_and_client_with(credential_id, client_id, &[])
            .await?;
        Ok((credential, client))
    }

    /// The same, with the items at `also` read in the same `BatchGetItem` (what the caller
    /// needs next, e.g. the client a request is for and its chain head).
    pub async fn get_credential_and_client_with(
        &self,
        credential_id: &CredentialId,
        client_id: &ClientId,
        also: &[(String, String)],
    ) -> Result<
        (
            Option<Versioned<Credential>>,
            Option<Versioned<Client>>,
            ReadTogether,
        ),
        Error,
    > {
        let credential_key = keys::credential(credential_id);
        let client_key = keys::client(client_id);
        let mut wanted = vec![credential_key.clone(), client_key.clone()];
        wanted.extend_from_slice(also);
        let read = self.read_together(&wanted).await?;
        let credential = read.get(&credential_key, ENTITY)?;
        let client = read.get(&client_key, clients::ENTITY)?;
        Ok((credential, client, read))
    }

    /// The items of `keys` (at most 100), read consistently in `BatchGetItem` calls: keys
    /// DynamoDB leaves unprocessed are asked for again, a few times, before it is a fault.
    /// Missing items are simply absent; the order is DynamoDB's.
    pub(crate) async fn batch_get(
        &self,
        keys: Vec<items::Item>,
    ) -> Result<Vec<items::Item>, Error> {
        let mut wanted = keys;
        let mut found = Vec::with_capacity(wanted.len());
        for attempt in 0..BATCH_READ_ATTEMPTS {
            if wanted.is_empty() {
                return Ok(found);
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut wanted)))
                .consistent_read(true)
                .build()
                .map_err(|e| SystemFault::Internal(format!("cannot build BatchGetItem: {e}")))?;
            let out = self
                .db
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| crate::fault::from_sdk("dynamodb", &e))?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            wanted = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        if wanted.is_empty() {
            return Ok(found);
        }
        Err(SystemFault::Throttled {
            service: "dynamodb",
        }
        .into())
    }

    /// Creates the first operators (each a client with its active credential) in one
    /// transaction, once per deployment: the bootstrap marker makes a second attempt a
    /// conflict that writes nothing. Each operator's chain starts with its own
    /// `operator.bootstrapped` record.
    pub async fn bootstrap_operators(
        &self,
        operators: &[(Client, Credential)],
        actor: &str,
    ) -> Result<Vec<AuditRecord>, Error> {
        let first = operators
            .first()
            .ok_or_else(|| SystemFault::Internal("no operator to bootstrap".into()))?;
        let mut marker = items::key(keys::bootstrap_marker());
        marker.insert(
            "client_id".into(),
            AttributeValue::S(first.0.client_id.to_string()),
        );
        let conflict =
            || UserError::Conflict("the operator clients were already bootstrapped".into());
        let mut changes = Vec::with_capacity(operators.len());
        for (i, (client, credential)) in operators.iter().enumerate() {
            let mut writes = Vec::with_capacity(3);
            if i == 0 {
                writes.push(self.put_new(marker.clone(), conflict())?);
            }
            writes.push(self.put_new(clients::client_item(client)?, conflict())?);
            writes.push(self.put_new(credential_item(credential)?, conflict())?);
            let mut entry: AuditEntry = registered_entry(client, actor);
            entry.action = "operator.bootstrapped".into();
            entry.detail.extend(BTreeMap::from([
                (
                    "credential_id".to_owned(),
                    credential.credential_id.to_string(),
                ),
                (
                    "credential_status".to_owned(),
                    credential.status.to_string(),
                ),
                (
                    "scopes".to_owned(),
                    credential
                        .scopes
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
            ]));
            changes.push(AuditedChange {
                client_id: client.client_id,
                writes,
                entry,
                at: client.created_at,
            });
        }
        self.commit_all(&changes).await
    }
}

/// The item of a new credential; an active one is in the `by-expiry` index under its day.
fn credential_item(credential: &Credential) -> Result<items::Item, Error> {
    let mut item = items::to_item(
        credential,
        keys::credential(&credential.credential_id),
        ENTITY,
        1,
    )?;
    if credential.status == clavis_core::lifecycle::CredentialState::Active {
        item.insert(
            super::expiry::EXPIRY_BUCKET.into(),
            AttributeValue::S(clavis_core::expiry::bucket_of(credential.expires_at)),
        );
        if let Some(renew_after) = credential
            .renew_after
            .filter(|r| *r < credential.expires_at)
        {
            item.insert(
                super::renewal::RENEWAL_BUCKET.into(),
                AttributeValue::S(clavis_core::expiry::bucket_of(renew_after)),
            );
        }
    }
    Ok(item)
}

impl Repository {
    /// Break glass: adds `operators` (clients with active credentials) to a stack that was
    /// bootstrapped already, each with `operator.recovered` (and `reason`) in its own chain,
    /// and `operator.break_glass` in the stack's chain with `event` queued, all in one
    /// transaction. A stack never bootstrapped is a conflict: it needs the ordinary bootstrap.
    pub async fn recover_operators(
        &self,
        operators: &[(Client, Credential)],
        reason: &str,
        event: &clavis_core::events::OutboxEvent,
        actor: &str,
        at: time::OffsetDateTime,
    ) -> Result<Vec<AuditRecord>, Error> {
        let conflict = || UserError::Conflict("operator clients exist already".into());
        let mut changes = Vec::with_capacity(operators.len() + 1);
        for (client, credential) in operators {
            let mut entry: AuditEntry = registered_entry(client, actor);
            entry.action = "operator.recovered".into();
            entry.detail.extend(BTreeMap::from([
                (
                    "credential_id".to_owned(),
                    credential.credential_id.to_string(),
                ),
                ("reason".to_owned(), reason.to_owned()),
            ]));
            changes.push(AuditedChange {
                client_id: client.client_id,
                writes: vec![
                    self.put_new(clients::client_item(client)?, conflict())?,
                    self.put_new(credential_item(credential)?, conflict())?,
                ],
                entry,
                at,
            });
        }
        let bootstrapped = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::bootstrap_marker())))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(super::audited::build_fault)?;
        let operators_named: Vec<String> = operators
            .iter()
            .map(|(c, _)| c.client_id.to_string())
            .collect();
        changes.push(AuditedChange {
            client_id: clavis_core::audit::stack_chain(),
            writes: vec![
                super::audited::ConditionalWrite {
                    item: aws_sdk_dynamodb::types::TransactWriteItem::builder()
                        .condition_check(bootstrapped)
                        .build(),
                    on_conflict: UserError::Conflict(
                        "this stack was never bootstrapped: run the bootstrap without break_glass"
                            .into(),
                    ),
                },
                self.queue_event(event, at)?,
            ],
            entry: AuditEntry {
                actor: actor.to_owned(),
                action: "operator.break_glass".into(),
                subject: event.event_id.clone(),
                detail: BTreeMap::from([
                    ("reason".to_owned(), reason.to_owned()),
                    ("operators".to_owned(), operators_named.join(" ")),
                    ("event_id".to_owned(), event.event_id.clone()),
                ]),
            },
            at,
        });
        self.commit_all(&changes).await
    }
}
