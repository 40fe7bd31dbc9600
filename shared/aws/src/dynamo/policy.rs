//! Which policy version decides: the stack's active version, and the `policy.activated` record
//! in the stack's audit chain each time a new version makes its first decision (change
//! management of policy: CM-3).

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use clavis_core::audit::{AuditEntry, AuditRecord, stack_chain};
use clavis_core::{Error, UserError};
use std::collections::BTreeMap;
use time::OffsetDateTime;

use super::Repository;
use super::audited::{AuditedChange, ConditionalWrite, build_fault};
use super::items;
use super::keys;

/// Entity tag of the active-policy item.
pub const ENTITY: &str = "policy";

impl Repository {
    /// The version that decided last, if any did.
    pub async fn active_policy_version(&self) -> Result<Option<String>, Error> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::active_policy())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| crate::fault::from_sdk("dynamodb", &e))?;
        Ok(out
            .item
            .and_then(|item| items::string(&item, "policy_version").map(str::to_owned)))
    }

    /// Makes `version` the active policy version if it is not already: the first decision of
    /// a new policy set writes `policy.activated` (version, previous version) into the stack's
    /// audit chain, in the same transaction. Returns the record if this call wrote it; `None`
    /// when the version was active already or another process activated something at the same
    /// moment (the next cold start looks again).
    pub async fn activate_policy(
        &self,
        version: &str,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<Option<AuditRecord>, Error> {
        let previous = self.active_policy_version().await?;
        if previous.as_deref() == Some(version) {
            return Ok(None);
        }
        let mut item = items::key(keys::active_policy());
        item.insert(keys::ENTITY.into(), AttributeValue::S(ENTITY.into()));
        item.insert("policy_version".into(), AttributeValue::S(version.into()));
        item.insert(
            "activated_at".into(),
            AttributeValue::S(items::timestamp(at)?),
        );
        let mut put = Put::builder().table_name(&self.table);
        put = match &previous {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(p) => {
                item.insert("previous_version".into(), AttributeValue::S(p.clone()));
                put.condition_expression("policy_version = :previous")
                    .expression_attribute_values(":previous", AttributeValue::S(p.clone()))
            }
        };
        let write = ConditionalWrite {
            item: TransactWriteItem::builder()
                .put(put.set_item(Some(item)).build().map_err(build_fault)?)
                .build(),
            on_conflict: UserError::Conflict("the active policy changed meanwhile".into()),
        };
        let detail = BTreeMap::from([
            ("policy_version".to_owned(), version.to_owned()),
            (
                "previous_version".to_owned(),
                previous.clone().unwrap_or_default(),
            ),
        ]);
        let result = self
            .commit(AuditedChange {
                client_id: stack_chain(),
                writes: vec![write],
                entry: AuditEntry {
                    actor: actor.to_owned(),
                    action: "policy.activated".into(),
                    subject: version.to_owned(),
                    detail,
                },
                at,
            })
            .await;
        match result {
            Ok(record) => {
                tracing::info!(
                    policy_version = version,
                    previous = previous.as_deref().unwrap_or(""),
                    "policy activated"
                );
                Ok(Some(record))
            }
            Err(Error::User(UserError::Conflict(_))) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
