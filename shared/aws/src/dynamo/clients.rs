//! Client items: register, read, change status.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use clavis_core::audit::{AuditEntry, AuditRecord};
use clavis_core::client::{Client, ClientStatus};
use clavis_core::ids::ClientId;
use clavis_core::{Error, UserError};
use time::OffsetDateTime;

use super::audited::{AuditedChange, ConditionalWrite, build_fault};
use super::items;
use super::keys;
use super::{Repository, Versioned};

/// Entity tag of client items.
pub const ENTITY: &str = "client";
/// The attribute that puts a client into the `client-directory` index (always `client`).
pub const DIRECTORY: &str = "directory";

/// A client as stored: its fields, and its place in the directory index.
pub(crate) fn client_item(client: &Client) -> Result<items::Item, Error> {
    let mut item = items::to_item(client, keys::client(&client.client_id), ENTITY, 1)?;
    item.insert(DIRECTORY.into(), AttributeValue::S(ENTITY.into()));
    Ok(item)
}

impl Repository {
    /// Stores a new client and its first audit record, or fails with a conflict if it exists.
    pub async fn register_client(
        &self,
        client: &Client,
        actor: &str,
    ) -> Result<AuditRecord, Error> {
        let item = client_item(client)?;
        let mut writes = vec![self.put_new(
            item,
            UserError::Conflict(format!("client {} already exists", client.client_id)),
        )?];
        if let Some(target) = &client.delivery {
            // Two clients writing one vault secret would overwrite each other's secrets.
            let mut claim = items::key(keys::delivery_target(target.address()));
            claim.insert(
                keys::ENTITY.into(),
                AttributeValue::S("delivery_target".into()),
            );
            claim.insert(
                "client_id".into(),
                AttributeValue::S(client.client_id.to_string()),
            );
            writes.push(self.put_new(
                claim,
                UserError::Conflict(format!(
                    "{} is the delivery target of another client",
                    target.address()
                )),
            )?);
        }
        self.commit(AuditedChange {
            client_id: client.client_id,
            writes,
            entry: registered_entry(client, actor),
            at: client.created_at,
        })
        .await
    }

    /// Reads a client; `None` if it does not exist.
    pub async fn get_client(
        &self,
        id: &ClientId,
        consistent: bool,
    ) -> Result<Option<Versioned<Client>>, Error> {
        self.get_versioned(keys::client(id), ENTITY, consistent)
            .await
    }

    /// Changes a client's status if it is still at `expected_version`; conflict otherwise.
    pub async fn set_client_status(
        &self,
        id: &ClientId,
        expected_version: u64,
        status: ClientStatus,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<AuditRecord, Error> {
        let status_name = status.as_str();
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::client(id))))
            .update_expression("SET #status = :status, #version = :next")
            .condition_expression("#version = :expected")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", keys::VERSION)
            .expression_attribute_values(":status", AttributeValue::S(status_name.into()))
            .expression_attribute_values(
                ":expected",
                AttributeValue::N(expected_version.to_string()),
            )
            .expression_attribute_values(
                ":next",
                AttributeValue::N((expected_version + 1).to_string()),
            )
            .build()
            .map_err(build_fault)?;
        self.commit(AuditedChange {
            client_id: *id,
            writes: vec![ConditionalWrite {
                item: TransactWriteItem::builder().update(update).build(),
                on_conflict: UserError::Conflict(format!(
                    "client {id} changed since version {expected_version}, or does not exist"
                )),
            }],
            entry: AuditEntry {
                actor: actor.to_owned(),
                action: format!("client.{status_name}"),
                subject: id.to_string(),
                detail: BTreeMap::from([(
                    "version".to_owned(),
                    (expected_version + 1).to_string(),
                )]),
            },
            at,
        })
        .await
    }
}

/// The audit entry of a client registration: every declared field, so the trail alone tells
/// what was registered.
pub(crate) fn registered_entry(client: &Client, actor: &str) -> AuditEntry {
    let list = |set: &std::collections::BTreeSet<String>| {
        set.iter().cloned().collect::<Vec<_>>().join(" ")
    };
    let environment = client.environment.as_str().to_owned();
    let tier = client.tier.as_str().to_owned();
    AuditEntry {
        actor: actor.to_owned(),
        action: "client.registered".into(),
        subject: client.client_id.to_string(),
        detail: BTreeMap::from([
            ("name".to_owned(), client.name.clone()),
            ("environment".to_owned(), environment),
            ("tier".to_owned(), tier),
            ("allowed_scopes".to_owned(), list(&client.allowed_scopes)),
            (
                "allowed_audiences".to_owned(),
                list(&client.allowed_audiences),
            ),
            ("auto_rotate".to_owned(), client.auto_rotate.to_string()),
            (
                "delivery".to_owned(),
                client
                    .delivery
                    .as_ref()
                    .map_or_else(|| "pickup".to_owned(), |t| t.address().to_owned()),
            ),
        ]),
    }
}
