//! Rotation in the table: what is left to write when a rotation ends without retiring its
//! predecessor (the successor was revoked during the overlap). Linking the two happens at
//! activation ([`Repository::activate`]); retiring the predecessor is a registry revocation
//! ([`Repository::revoke_credential`]).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use clavis_core::audit::{AuditEntry, AuditRecord};
use clavis_core::ids::{ClientId, CredentialId};
use clavis_core::{Error, UserError};
use time::OffsetDateTime;

use super::Repository;
use super::audited::{AuditedChange, ConditionalWrite, build_fault};
use super::items;
use super::keys;

impl Repository {
    /// Unlinks `predecessor` from a `successor` that will not replace it: `rotated_to` is
    /// removed (so it can be rotated again) if it still names `successor` and the predecessor
    /// is still active, with an audit record `credential.rotation_abandoned`.
    pub async fn abandon_rotation(
        &self,
        client_id: &ClientId,
        predecessor: &CredentialId,
        successor: &CredentialId,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<AuditRecord, Error> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::credential(predecessor))))
            .update_expression("REMOVE rotated_to SET #version = #version + :one")
            .condition_expression("#status = :active AND rotated_to = :successor")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", keys::VERSION)
            .expression_attribute_values(":active", AttributeValue::S("active".into()))
            .expression_attribute_values(":successor", AttributeValue::S(successor.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .build()
            .map_err(build_fault)?;
        self.commit(AuditedChange {
            client_id: *client_id,
            writes: vec![ConditionalWrite {
                item: TransactWriteItem::builder().update(update).build(),
                on_conflict: UserError::Conflict(format!(
                    "credential {predecessor} is no longer active or no longer rotated to {successor}"
                )),
            }],
            entry: AuditEntry {
                actor: actor.to_owned(),
                action: "credential.rotation_abandoned".into(),
                subject: predecessor.to_string(),
                detail: BTreeMap::from([("successor".to_owned(), successor.to_string())]),
            },
            at,
        })
        .await
    }
}
