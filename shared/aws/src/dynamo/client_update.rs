//! Changing a client's settings: the client item replaced at the version that was read, with
//! its audit record (`client.updated`, each changed setting before and after) and its outbox
//! event, in one transaction.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use clavis_core::audit::{AuditEntry, AuditRecord};
use clavis_core::client::Client;
use clavis_core::client_update::ClientUpdate;
use clavis_core::events::OutboxEvent;
use clavis_core::{Error, UserError};
use time::OffsetDateTime;

use super::Repository;
use super::audited::{AuditedChange, ConditionalWrite, build_fault};
use super::clients::client_item;
use super::keys;

impl Repository {
    /// Replaces `client` (read at `version`) by `client` with the update's settings, if nobody
    /// changed it since; records `client.updated` and queues `event`. Answers the client as
    /// stored.
    pub async fn update_client(
        &self,
        client: &Client,
        version: u64,
        update: &ClientUpdate,
        event: &OutboxEvent,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<(Client, AuditRecord), Error> {
        let updated = client.with_settings(&update.after);
        let mut item = client_item(&updated)?;
        item.insert(
            keys::VERSION.into(),
            AttributeValue::N((version + 1).to_string()),
        );
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#version = :version")
            .expression_attribute_names("#version", keys::VERSION)
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .build()
            .map_err(build_fault)?;
        let id = client.client_id;
        let replace = ConditionalWrite {
            item: TransactWriteItem::builder().put(put).build(),
            on_conflict: UserError::Conflict(format!("client {id} changed; read it again")),
        };
        let record = self
            .commit(AuditedChange {
                client_id: id,
                writes: vec![replace, self.queue_event(event, at)?],
                entry: updated_entry(update, actor, &id.to_string(), &event.event_id),
                at,
            })
            .await?;
        Ok((updated, record))
    }
}

/// The audit entry of a change: why, what changed, and each changed setting before and after.
fn updated_entry(update: &ClientUpdate, actor: &str, subject: &str, event_id: &str) -> AuditEntry {
    let changed = update.changed();
    let mut detail = BTreeMap::from([
        ("reason".to_owned(), update.reason.clone()),
        ("event_id".to_owned(), event_id.to_owned()),
        ("changed".to_owned(), changed.join(" ")),
    ]);
    for field in changed {
        for (side, settings) in [("before", &update.before), ("after", &update.after)] {
            if let Some(text) = settings.text(field) {
                detail.insert(format!("{side}.{field}"), text);
            }
        }
    }
    AuditEntry {
        actor: actor.to_owned(),
        action: "client.updated".into(),
        subject: subject.to_owned(),
        detail,
    }
}
