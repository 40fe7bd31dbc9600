//! Issuance in the table: requests, minting with the pickup copy, activation with its outbox
//! event, failure, and the one-time pickup. Every step is one conditional transaction with its
//! audit record, and each is safe to retry.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, TransactWriteItem, Update};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clavis_core::audit::{AuditEntry, AuditRecord, ChainHead};
use clavis_core::credential::Credential;
use clavis_core::delivery::{DeliveryTarget, version_id_for};
use clavis_core::events::OutboxEvent;
use clavis_core::expiry;
use clavis_core::ids::{ClientId, CredentialId, RequestId};
use clavis_core::request::{IssuanceRequest, RequestProblem};
use clavis_core::secret::ClientSecret;
use clavis_core::workflow::MintedCredential;
use clavis_core::{Error, SystemFault, UserError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::audited::{AuditedChange, ConditionalWrite, build_fault};
use super::items;
use super::keys;
use super::{Repository, Versioned};
use crate::kms::{EncryptionContext, Kms};

/// Entity tag of request items.
pub const REQUEST: &str = "request";
/// Entity tag of pickup copies.
pub const PICKUP: &str = "pickup";
/// How long an unpicked secret copy is kept.
pub const PICKUP_TTL_SECONDS: i64 = 24 * 3600;

/// A KMS-encrypted copy of a new secret, bound to its request and credential, deleted on the
/// first pickup. The plaintext never touches the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickupCopy {
    /// The request it answers.
    pub request_id: RequestId,
    /// The credential whose secret it is.
    pub credential_id: CredentialId,
    /// KMS ciphertext, base64.
    pub ciphertext: String,
    /// When it stops being offered.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl PickupCopy {
    /// Opens the copy with KMS: the ciphertext only opens under its own request and
    /// credential. Anything unexpected inside is our fault, never echoed.
    pub async fn open(&self, kms: &Kms, key_id: &str) -> Result<ClientSecret, Error> {
        let ciphertext = STANDARD
            .decode(&self.ciphertext)
            .map_err(|_| SystemFault::Internal("pickup copy is not base64".into()))?;
        let context = pickup_context(&self.request_id, &self.credential_id);
        let plain = kms.decrypt(key_id, &ciphertext, &context).await?;
        let text = std::str::from_utf8(&plain)
            .map_err(|_| SystemFault::Internal("pickup copy is not text".into()))?;
        Ok(ClientSecret::parse(text)
            .map_err(|_| SystemFault::Internal("pickup copy is not a secret".into()))?)
    }
}

/// The encryption context that binds a pickup copy to its request and credential: decrypting
/// it under any other ids fails in KMS.
pub fn pickup_context(request_id: &RequestId, credential_id: &CredentialId) -> EncryptionContext {
    BTreeMap::from([
        ("request_id".to_owned(), request_id.to_string()),
        ("credential_id".to_owned(), credential_id.to_string()),
    ])
}

/// What [`Repository::issuance_outcome`] read.
#[derive(Debug, Clone)]
pub struct IssuanceOutcome {
    /// The request.
    pub request: IssuanceRequest,
    /// Its pickup copy, while it is there.
    pub pickup: Option<PickupCopy>,
    /// The credential its attempt mints, once minted.
    pub credential: Option<Credential>,
    /// The client's audit chain head.
    pub head: ChainHead,
}

/// What `create_request` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// This call created it; the client's audit chain now ends here.
    New(ChainHead),
    /// It existed already (a repeated or concurrent request).
    Existing(Box<IssuanceRequest>),
}

fn entry(actor: &str, action: &str, subject: String, detail: &[(&str, String)]) -> AuditEntry {
    AuditEntry {
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject,
        detail: detail
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn join(set: &std::collections::BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(" ")
}

impl Repository {
    /// Stores a new request with its audit record, or returns the one already stored. `head`
    /// is the client's chain head if the caller read it already.
    pub async fn create_request(
        &self,
        request: &IssuanceRequest,
        head: Option<ChainHead>,
    ) -> Result<Created, Error> {
        let mut item = items::to_item(request, keys::request(&request.request_id), REQUEST, 1)?;
        // Until it settles it sits in `requests-unsettled`, where the reaper looks.
        item.insert(
            super::unsettled::UNSETTLED.into(),
            AttributeValue::S(super::unsettled::shard_of(&request.request_id)),
        );
        let write = self.put_new(item, UserError::Conflict("request exists".into()))?;
        // Counted with the request: a repeated request (same id) is cancelled whole and counts
        // nothing.
        let counted = self.count_request(&request.client_id, request.requested_at)?;
        let result = self
            .commit_after(
                AuditedChange {
                    client_id: request.client_id,
                    writes: vec![write, counted],
                    entry: entry(
                        &request.requested_by,
                        "credential.requested",
                        request.request_id.to_string(),
                        &[
                            ("ttl_seconds", request.params.ttl_seconds.to_string()),
                            ("scopes", join(&request.params.scopes)),
                            ("audiences", join(&request.params.audiences)),
                            ("justification", request.params.justification.clone()),
                        ],
                    ),
                    at: request.requested_at,
                },
                head,
            )
            .await;
        match result {
            Ok(record) => Ok(Created::New(ChainHead::after(&record))),
            Err(Error::User(UserError::Conflict(_))) => {
                let existing = self.get_request(&request.request_id, true).await?;
                existing
                    .map(|v| Created::Existing(Box::new(v.value)))
                    .ok_or_else(|| SystemFault::Internal("request vanished".into()).into())
            }
            Err(e) => Err(e),
        }
    }

    /// What an issuance's requester waits for, in one consistent read: the request and, for
    /// when it has completed, the pickup copy (not taken), the credential `credential_id` (the
    /// one its attempt mints) and the client's chain head. `None` if the request is unknown.
    pub async fn issuance_outcome(
        &self,
        request_id: &RequestId,
        client_id: &ClientId,
        credential_id: &CredentialId,
    ) -> Result<Option<IssuanceOutcome>, Error> {
        let request_key = keys::request(request_id);
        let pickup_key = keys::pickup(request_id);
        let credential_key = keys::credential(credential_id);
        let head_key = keys::chain_head(client_id);
        let mut read = self
            .read_together(&[
                request_key.clone(),
                pickup_key.clone(),
                credential_key.clone(),
                head_key.clone(),
            ])
            .await?;
        let Some(request) = read.get::<IssuanceRequest>(&request_key, REQUEST)? else {
            return Ok(None);
        };
        Ok(Some(IssuanceOutcome {
            request: request.value,
            pickup: read.get(&pickup_key, PICKUP)?.map(|v| v.value),
            credential: read
                .get(&credential_key, super::credentials::ENTITY)?
                .map(|v| v.value),
            head: super::audited::head_of(client_id, read.take_item(&head_key).as_ref())?,
        }))
    }

    /// Reads a request; `None` if unknown.
    pub async fn get_request(
        &self,
        id: &RequestId,
        consistent: bool,
    ) -> Result<Option<Versioned<IssuanceRequest>>, Error> {
        self.get_versioned(keys::request(id), REQUEST, consistent)
            .await
    }

    /// Stores the minted credential (approved, with its hash) and the pickup copy, and links
    /// the request to it. Fails with a conflict if the request is no longer pending or the
    /// credential exists.
    pub async fn mint(
        &self,
        credential: &Credential,
        pickup: &PickupCopy,
        risk_score: Option<u32>,
        actor: &str,
        at: OffsetDateTime,
        head: Option<ChainHead>,
    ) -> Result<AuditRecord, Error> {
        let request_id = pickup.request_id;
        let mut pickup_item = items::to_item(pickup, keys::pickup(&request_id), PICKUP, 1)?;
        pickup_item.insert(
            "ttl".into(),
            AttributeValue::N(pickup.expires_at.unix_timestamp().to_string()),
        );
        let writes = vec![
            self.put_new(
                items::to_item(
                    credential,
                    keys::credential(&credential.credential_id),
                    super::credentials::ENTITY,
                    1,
                )?,
                UserError::Conflict(format!("credential {} exists", credential.credential_id)),
            )?,
            self.put_new(
                pickup_item,
                UserError::Conflict("pickup copy exists".into()),
            )?,
            self.update_request(
                &request_id,
                "SET credential_id = :c",
                "#status = :pending",
                &[
                    (
                        ":c",
                        AttributeValue::S(credential.credential_id.to_string()),
                    ),
                    (":pending", AttributeValue::S("pending".into())),
                ],
                UserError::Conflict(format!("request {request_id} is no longer pending")),
                false,
            )?,
        ];
        self.commit_after(
            AuditedChange {
                client_id: credential.client_id,
                writes,
                entry: entry(
                    actor,
                    "credential.minted",
                    credential.credential_id.to_string(),
                    &[
                        ("request_id", request_id.to_string()),
                        ("scopes", join(&credential.scopes)),
                        ("audiences", join(&credential.audiences)),
                        ("expires_at", rfc3339(credential.expires_at)),
                        ("policy_version", credential.policy_version.clone()),
                        (
                            "risk_score",
                            risk_score.map(|s| s.to_string()).unwrap_or_default(),
                        ),
                    ],
                ),
                at,
            },
            head,
        )
        .await
    }

    /// Activates a minted credential, completes its request and queues its events, together.
    /// The credential enters the `by-expiry` index under the day it expires. A successor
    /// (`rotated_from` set) links its predecessor in the same transaction, on condition that
    /// the predecessor is still active, of the same client and not rotated already: of two
    /// rotations of one credential, only one can activate.
    pub async fn activate(
        &self,
        credential: &MintedCredential,
        request_id: &RequestId,
        events: &[OutboxEvent],
        actor: &str,
        at: OffsetDateTime,
        head: Option<ChainHead>,
    ) -> Result<AuditRecord, Error> {
        let (client_id, credential_id) = (credential.client_id, &credential.credential_id);
        // A credential whose renewal window opens before it expires waits in `by-renewal`.
        let renewal_bucket = credential
            .renew_after
            .filter(|r| *r < credential.expires_at)
            .map(expiry::bucket_of);
        let mut credential_update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::credential(credential_id))))
            .update_expression(if renewal_bucket.is_some() {
                "SET #status = :active, issued_at = :now, #version = #version + :one, \
                 #bucket = :bucket, renewal_bucket = :renewal"
            } else {
                "SET #status = :active, issued_at = :now, #version = #version + :one, #bucket = :bucket"
            })
            .condition_expression("#status = :approved")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", keys::VERSION)
            .expression_attribute_names("#bucket", super::expiry::EXPIRY_BUCKET)
            .expression_attribute_values(":bucket", AttributeValue::S(expiry::bucket_of(credential.expires_at)),
            )
            .expression_attribute_values(":active", AttributeValue::S("active".into()))
            .expression_attribute_values(":approved", AttributeValue::S("approved".into()))
            .expression_attribute_values(":now", AttributeValue::S(rfc3339(at)))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        if let Some(bucket) = renewal_bucket {
            credential_update = credential_update
                .expression_attribute_values(":renewal", AttributeValue::S(bucket));
        }
        let credential_update = credential_update.build().map_err(build_fault)?;
        let mut writes = vec![
            ConditionalWrite {
                item: TransactWriteItem::builder()
                    .update(credential_update)
                    .build(),
                on_conflict: UserError::IllegalTransition(format!(
                    "credential {credential_id} is not approved"
                )),
            },
            self.update_request(
                request_id,
                "SET #status = :completed",
                "#status = :pending",
                &[
                    (":completed", AttributeValue::S("completed".into())),
                    (":pending", AttributeValue::S("pending".into())),
                ],
                UserError::Conflict(format!("request {request_id} is no longer pending")),
                true,
            )?,
            // A client revoked after its request was verified must not get a credential that
            // its revoke-client workflow has already looked for and missed.
            self.client_is_active(&client_id)?,
        ];
        for event in events {
            writes.push(self.queue_event(event, at)?);
        }
        let mut detail = vec![
            ("request_id", request_id.to_string()),
            (
                "event_id",
                events
                    .iter()
                    .map(|e| e.event_id.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ];
        if let Some(predecessor) = &credential.rotated_from {
            writes.push(self.link_successor(predecessor, credential, at)?);
            detail.push(("rotated_from", predecessor.to_string()));
        }
        self.commit_after(
            AuditedChange {
                client_id,
                writes,
                entry: entry(
                    actor,
                    "credential.issued",
                    credential_id.to_string(),
                    &detail,
                ),
                at,
            },
            head,
        )
        .await
    }

    /// Sets the predecessor's `rotated_to`: it must be an active, unexpired credential of the
    /// successor's client without a successor yet.
    fn link_successor(
        &self,
        predecessor: &CredentialId,
        successor: &MintedCredential,
        at: OffsetDateTime,
    ) -> Result<ConditionalWrite, Error> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::credential(predecessor))))
            .update_expression("SET rotated_to = :successor, #version = #version + :one")
            .condition_expression(
                "#status = :active AND client_id = :client AND expires_at > :now \
                 AND (attribute_not_exists(rotated_to) OR attribute_type(rotated_to, :null))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", keys::VERSION)
            .expression_attribute_values(
                ":successor",
                AttributeValue::S(successor.credential_id.to_string()),
            )
            .expression_attribute_values(":active", AttributeValue::S("active".into()))
            .expression_attribute_values(
                ":client",
                AttributeValue::S(successor.client_id.to_string()),
            )
            .expression_attribute_values(":now", AttributeValue::S(rfc3339(at)))
            // A stored credential without a successor has `rotated_to` as a NULL attribute.
            .expression_attribute_values(":null", AttributeValue::S("NULL".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .build()
            .map_err(build_fault)?;
        Ok(ConditionalWrite {
            item: TransactWriteItem::builder().update(update).build(),
            on_conflict: UserError::Conflict(format!(
                "credential {predecessor} is no longer active or was rotated already"
            )),
        })
    }

    /// A condition that the client is still active.
    fn client_is_active(&self, client_id: &ClientId) -> Result<ConditionalWrite, Error> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::client(client_id))))
            .condition_expression("#status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", AttributeValue::S("active".into()))
            .build()
            .map_err(build_fault)?;
        Ok(ConditionalWrite {
            item: TransactWriteItem::builder().condition_check(check).build(),
            on_conflict: UserError::Forbidden(format!("client {client_id} is not active")),
        })
    }

    /// Ends a request as failed with its problem; a minted, not yet active credential fails
    /// with it and its pickup copy is deleted, and a pending approval of it expires (`held`,
    /// see [`Repository::expire_approval`]), so nothing half-issued or half-held remains.
    pub async fn fail_request(
        &self,
        request: &IssuanceRequest,
        minted: Option<&CredentialId>,
        held: Option<ConditionalWrite>,
        problem: &RequestProblem,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<AuditRecord, Error> {
        let problem_item = serde_dynamo::to_attribute_value(problem)
            .map_err(|e| SystemFault::Internal(format!("cannot encode problem: {e}")))?;
        let mut writes = vec![self.update_request(
            &request.request_id,
            "SET #status = :failed, problem = :problem",
            "#status IN (:pending, :held)",
            &[
                (":failed", AttributeValue::S("failed".into())),
                (":problem", problem_item),
                (":pending", AttributeValue::S("pending".into())),
                (":held", AttributeValue::S("pending_approval".into())),
            ],
            UserError::Conflict(format!("request {} is already final", request.request_id)),
            true,
        )?];
        writes.extend(held);
        if let Some(credential_id) = minted {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(items::key(keys::credential(credential_id))))
                .update_expression("SET #status = :failed, #version = #version + :one")
                .condition_expression("#status = :approved")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#version", keys::VERSION)
                .expression_attribute_values(":failed", AttributeValue::S("failed".into()))
                .expression_attribute_values(":approved", AttributeValue::S("approved".into()))
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .build()
                .map_err(build_fault)?;
            writes.push(ConditionalWrite {
                item: TransactWriteItem::builder().update(update).build(),
                on_conflict: UserError::IllegalTransition(format!(
                    "credential {credential_id} is not approved"
                )),
            });
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(items::key(keys::pickup(&request.request_id))))
                .build()
                .map_err(build_fault)?;
            writes.push(ConditionalWrite {
                item: TransactWriteItem::builder().delete(delete).build(),
                on_conflict: UserError::Conflict("pickup copy changed".into()),
            });
        }
        self.commit(AuditedChange {
            client_id: request.client_id,
            writes,
            entry: entry(
                actor,
                "credential.failed",
                request.request_id.to_string(),
                &[
                    ("problem_type", problem.type_.clone()),
                    (
                        "credential_id",
                        minted.map(ToString::to_string).unwrap_or_default(),
                    ),
                ],
            ),
            at,
        })
        .await
    }

    /// The pickup copy of `request`, if it is still there and not expired: read, not taken.
    /// The caller opens it first and then [`Repository::picked_up`] takes it, so a failed
    /// decrypt leaves it for a retry.
    pub async fn pickup_copy(
        &self,
        request: &IssuanceRequest,
        at: OffsetDateTime,
    ) -> Result<PickupCopy, Error> {
        self.sealed_copy(&request.request_id)
            .await?
            .filter(|copy| copy.expires_at > at)
            .ok_or_else(|| UserError::Gone(format!("the secret of {}", request.request_id)).into())
    }

    /// Takes the pickup copy once, audited (`secret.picked_up`): the first caller whose delete
    /// commits may hand the secret out; every later (or concurrent, losing) caller gets
    /// `Gone`. The commit carries a request token, so a retry of a commit whose answer was
    /// lost succeeds instead of answering `Gone` for a secret nobody received.
    pub async fn picked_up(
        &self,
        request: &IssuanceRequest,
        copy: &PickupCopy,
        actor: &str,
        at: OffsetDateTime,
        head: Option<ChainHead>,
    ) -> Result<(), Error> {
        let gone = || UserError::Gone(format!("the secret of {}", request.request_id));
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::pickup(&request.request_id))))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_fault)?;
        self.commit_after(
            AuditedChange {
                client_id: request.client_id,
                writes: vec![ConditionalWrite {
                    item: TransactWriteItem::builder().delete(delete).build(),
                    on_conflict: gone(),
                }],
                entry: entry(
                    actor,
                    "secret.picked_up",
                    copy.credential_id.to_string(),
                    &[("request_id", request.request_id.to_string())],
                ),
                at,
            },
            head,
        )
        .await?;
        Ok(())
    }

    /// The sealed copy of request `request_id`'s secret, read without taking it: delivery
    /// takes it only once the vault holds the secret.
    pub async fn sealed_copy(&self, request_id: &RequestId) -> Result<Option<PickupCopy>, Error> {
        Ok(self
            .get_versioned(keys::pickup(request_id), PICKUP, true)
            .await?
            .map(|v| v.value))
    }

    /// The vault holds the secret of `copy`: the sealed copy is deleted and the delivery
    /// audited (`credential.delivered`), once. A repeat finds the copy gone (`Gone`).
    pub async fn delivered(
        &self,
        client_id: ClientId,
        copy: &PickupCopy,
        target: &DeliveryTarget,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<(), Error> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::pickup(&copy.request_id))))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_fault)?;
        self.commit(AuditedChange {
            client_id,
            writes: vec![ConditionalWrite {
                item: TransactWriteItem::builder().delete(delete).build(),
                on_conflict: UserError::Gone(format!("the sealed copy of {}", copy.request_id)),
            }],
            entry: entry(
                actor,
                "credential.delivered",
                copy.credential_id.to_string(),
                &[
                    ("request_id", copy.request_id.to_string()),
                    ("target", target.address().to_owned()),
                    ("version_id", version_id_for(&copy.credential_id)),
                ],
            ),
            at,
        })
        .await?;
        Ok(())
    }

    /// A conditional update of request `id` (`set` gains the version bump). A request that
    /// `settles` (completed, failed, denied) leaves the `requests-unsettled` index.
    pub(crate) fn update_request(
        &self,
        id: &RequestId,
        set: &str,
        condition: &str,
        values: &[(&str, AttributeValue)],
        on_conflict: UserError,
        settles: bool,
    ) -> Result<ConditionalWrite, Error> {
        let remove = if settles { " REMOVE unsettled" } else { "" };
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::request(id))))
            .update_expression(format!("{set}, #version = #version + :one{remove}"))
            .condition_expression(condition)
            .expression_attribute_names("#version", keys::VERSION)
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        if set.contains("#status") || condition.contains("#status") {
            update = update.expression_attribute_names("#status", "status");
        }
        for (name, value) in values {
            update = update.expression_attribute_values(*name, value.clone());
        }
        Ok(ConditionalWrite {
            item: TransactWriteItem::builder()
                .update(update.build().map_err(build_fault)?)
                .build(),
            on_conflict,
        })
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    items::timestamp(t).unwrap_or_default()
}
