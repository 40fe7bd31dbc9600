//! Suspending and resuming a client: one audited transaction each, with its outbox event. The
//! client's status decides authentication at once ([`clavis_core::credential::Credential::is_usable_for`]),
//! so nothing is written to its credentials and resuming restores exactly what was there.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use clavis_core::audit::{AuditEntry, AuditRecord};
use clavis_core::client::{Client, Suspension};
use clavis_core::events::OutboxEvent;
use clavis_core::{Error, SystemFault, UserError};
use time::OffsetDateTime;

use super::Repository;
use super::audited::{AuditedChange, ConditionalWrite, build_fault};
use super::items;
use super::keys;

impl Repository {
    /// Suspends `client` (read at `version`, active): status `suspended` with its
    /// [`Suspension`], audit record `client.suspended`, `event` queued.
    pub async fn suspend_client(
        &self,
        client: &Client,
        version: u64,
        suspension: &Suspension,
        event: &OutboxEvent,
    ) -> Result<AuditRecord, Error> {
        let value = serde_dynamo::to_attribute_value(suspension)
            .map_err(|e| SystemFault::Internal(format!("cannot encode suspension: {e}")))?;
        let update = self.standing_update(
            client,
            version,
            "SET #status = :to, suspension = :suspension, #version = #version + :one",
            "active",
            "suspended",
            Some(value),
        )?;
        let change = Change {
            action: "client.suspended",
            reason: &suspension.reason,
            actor: &suspension.suspended_by,
            at: suspension.suspended_at,
        };
        self.commit_standing(client, update, event, change).await
    }

    /// Resumes `client` (read at `version`, suspended): status `active`, the suspension
    /// removed, audit record `client.resumed`, `event` queued.
    pub async fn resume_client(
        &self,
        client: &Client,
        version: u64,
        reason: &str,
        event: &OutboxEvent,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<AuditRecord, Error> {
        let update = self.standing_update(
            client,
            version,
            "SET #status = :to, #version = #version + :one REMOVE suspension",
            "suspended",
            "active",
            None,
        )?;
        let change = Change {
            action: "client.resumed",
            reason,
            actor,
            at,
        };
        self.commit_standing(client, update, event, change).await
    }

    fn standing_update(
        &self,
        client: &Client,
        version: u64,
        expression: &str,
        from: &str,
        to: &str,
        suspension: Option<AttributeValue>,
    ) -> Result<ConditionalWrite, Error> {
        let id = client.client_id;
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::client(&id))))
            .update_expression(expression)
            .condition_expression("#status = :from AND #version = :version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", keys::VERSION)
            .expression_attribute_values(":from", AttributeValue::S(from.into()))
            .expression_attribute_values(":to", AttributeValue::S(to.into()))
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        if let Some(value) = suspension {
            update = update.expression_attribute_values(":suspension", value);
        }
        Ok(ConditionalWrite {
            item: TransactWriteItem::builder()
                .update(update.build().map_err(build_fault)?)
                .build(),
            on_conflict: UserError::Conflict(format!("client {id} changed; read it again")),
        })
    }

    async fn commit_standing(
        &self,
        client: &Client,
        update: ConditionalWrite,
        event: &OutboxEvent,
        change: Change<'_>,
    ) -> Result<AuditRecord, Error> {
        self.commit(AuditedChange {
            client_id: client.client_id,
            writes: vec![update, self.queue_event(event, change.at)?],
            entry: AuditEntry {
                actor: change.actor.to_owned(),
                action: change.action.to_owned(),
                subject: client.client_id.to_string(),
                detail: BTreeMap::from([
                    ("reason".to_owned(), change.reason.to_owned()),
                    ("event_id".to_owned(), event.event_id.clone()),
                ]),
            },
            at: change.at,
        })
        .await
    }
}

/// What a change of standing records: its audit action, why, who, when.
struct Change<'a> {
    action: &'a str,
    reason: &'a str,
    actor: &'a str,
    at: OffsetDateTime,
}
