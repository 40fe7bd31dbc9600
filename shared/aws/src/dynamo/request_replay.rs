//! Replaying a failed issuance: the request goes back from `failed` to `pending` under its next
//! attempt (which mints a credential of its own), audited, so its workflow can run again.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use clavis_core::audit::AuditEntry;
use clavis_core::ids::RequestId;
use clavis_core::request::RequestStatus;
use clavis_core::{Error, UserError};
use time::OffsetDateTime;

use super::Repository;
use super::audited::{AuditedChange, ConditionalWrite, build_fault};
use super::items;
use super::keys;

/// What a reset did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reset {
    /// The request is pending again under this attempt.
    Pending(u32),
    /// It is not failed at that attempt (completed, pending, reset already): its status and
    /// attempt now.
    NotFailed(RequestStatus, u32),
}

impl Repository {
    /// Puts a failed request back to pending under `attempt + 1`, if it is still failed at
    /// `attempt`; two replays of the same dead letter cannot both reset it.
    pub async fn reset_failed_request(
        &self,
        request_id: &RequestId,
        attempt: u32,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<Reset, Error> {
        let request = self
            .get_request(request_id, true)
            .await?
            .ok_or_else(|| UserError::NotFound(format!("request {request_id}")))?
            .value;
        if request.status != RequestStatus::Failed || request.attempt != attempt {
            return Ok(Reset::NotFailed(request.status, request.attempt));
        }
        let next = attempt + 1;
        let attempt_condition = if attempt == 0 {
            "(attribute_not_exists(attempt) OR attempt = :attempt)"
        } else {
            "attempt = :attempt"
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::request(request_id))))
            .update_expression(
                "SET #status = :pending, attempt = :next, #version = #version + :one, \
                 unsettled = :unsettled REMOVE problem, credential_id",
            )
            .condition_expression(format!("#status = :failed AND {attempt_condition}"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", keys::VERSION)
            .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
            .expression_attribute_values(":failed", AttributeValue::S("failed".into()))
            .expression_attribute_values(":attempt", AttributeValue::N(attempt.to_string()))
            .expression_attribute_values(":next", AttributeValue::N(next.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(
                ":unsettled",
                AttributeValue::S(super::unsettled::shard_of(request_id)),
            )
            .build()
            .map_err(build_fault)?;
        let result = self
            .commit(AuditedChange {
                client_id: request.client_id,
                writes: vec![ConditionalWrite {
                    item: TransactWriteItem::builder().update(update).build(),
                    on_conflict: UserError::Conflict(format!(
                        "request {request_id} changed during replay"
                    )),
                }],
                entry: AuditEntry {
                    actor: actor.to_owned(),
                    action: "request.replayed".into(),
                    subject: request_id.to_string(),
                    detail: std::collections::BTreeMap::from([(
                        "attempt".to_owned(),
                        next.to_string(),
                    )]),
                },
                at,
            })
            .await;
        match result {
            Ok(_) => Ok(Reset::Pending(next)),
            Err(Error::User(UserError::Conflict(_))) => {
                let now = self
                    .get_request(request_id, true)
                    .await?
                    .map_or((RequestStatus::Failed, attempt), |r| {
                        (r.value.status, r.value.attempt)
                    });
                Ok(Reset::NotFailed(now.0, now.1))
            }
            Err(e) => Err(e),
        }
    }
}
