//! Approvals in the table: holding a request for approvers (with the workflow's task token,
//! kept beside the approval and never read into it), listing what waits, votes, approval,
//! denial and timeout. Each change is one audited transaction with the request it governs.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use clavis_core::approval::{Approval, ApprovalStatus, Outcome, Vote};
use clavis_core::audit::{AuditEntry, AuditRecord};
use clavis_core::events::OutboxEvent;
use clavis_core::ids::ApprovalId;
use clavis_core::request::{IssuanceRequest, RequestProblem};
use clavis_core::{Error, SystemFault, UserError};
use time::OffsetDateTime;

use super::audited::{AuditedChange, ConditionalWrite, build_fault};
use super::items::{self, Item};
use super::keys;
use super::{Repository, Versioned};
use crate::fault;

/// Entity tag of approval items.
pub const ENTITY: &str = "approval";
/// The sparse index of pending approvals, soonest deadline first.
pub const PENDING_INDEX: &str = "approvals-pending";
/// Its partition attribute: present (`pending`) only while an approval waits.
pub const QUEUE: &str = "approval_queue";
/// Where the task token is kept on the approval item.
const TASK_TOKEN: &str = "task_token";

/// One page of pending approvals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalPage {
    /// The approvals, soonest deadline first.
    pub items: Vec<Approval>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

fn entry(actor: &str, action: &str, subject: String, detail: Vec<(&str, String)>) -> AuditEntry {
    AuditEntry {
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject,
        detail: detail
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn text(s: &str) -> AttributeValue {
    AttributeValue::S(s.to_owned())
}

fn number(n: u32) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

impl Repository {
    /// Holds the approval's request for approvers: the approval (with `task_token` beside it)
    /// waits in the pending index, the request becomes `pending_approval`, `events` are queued,
    /// all in one audited transaction. A retried hold of the same approval only refreshes the
    /// token (the execution that waits now is the one to resume) and queues nothing again.
    pub async fn hold_for_approval(
        &self,
        approval: &Approval,
        task_token: &str,
        events: &[OutboxEvent],
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<Option<AuditRecord>, Error> {
        let mut item = items::to_item(approval, keys::approval(&approval.approval_id), ENTITY, 1)?;
        item.insert(TASK_TOKEN.into(), text(task_token));
        item.insert(QUEUE.into(), text("pending"));
        let exists = UserError::Conflict(format!("approval {} exists", approval.approval_id));
        let mut writes = vec![
            self.put_new(item, exists)?,
            self.update_request(
                &approval.request_id,
                "SET #status = :held",
                "#status = :pending",
                &[
                    (":held", text("pending_approval")),
                    (":pending", text("pending")),
                ],
                UserError::Conflict(format!("request {} is not pending", approval.request_id)),
                false,
            )?,
        ];
        for event in events {
            writes.push(self.queue_event(event, at)?);
        }
        let event_ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        let result = self
            .commit(AuditedChange {
                client_id: approval.client_id,
                writes,
                entry: entry(
                    actor,
                    "credential.held",
                    approval.request_id.to_string(),
                    vec![
                        ("approval_id", approval.approval_id.to_string()),
                        ("risk_score", approval.risk_score.to_string()),
                        ("policies", approval.policies.join(" ")),
                        ("reasons", approval.reasons.join("; ")),
                        (
                            "approvals_required",
                            approval.approvals_required.to_string(),
                        ),
                        ("deadline", items::timestamp(approval.deadline)?),
                        ("policy_version", approval.policy_version.clone()),
                        ("event_ids", event_ids.join(" ")),
                    ],
                ),
                at,
            })
            .await;
        match result {
            Ok(record) => Ok(Some(record)),
            Err(Error::User(UserError::Conflict(_))) => {
                self.refresh_task_token(&approval.approval_id, task_token)
                    .await?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn refresh_task_token(&self, id: &ApprovalId, task_token: &str) -> Result<(), Error> {
        let result = self
            .db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::approval(id))))
            .update_expression("SET #token = :token")
            .condition_expression("#status = :pending")
            .expression_attribute_names("#token", TASK_TOKEN)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":token", text(task_token))
            .expression_attribute_values(":pending", text("pending"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                // Not a retried hold: the request moved on, or its approval was decided.
                Err(UserError::Conflict(format!(
                    "approval {id} cannot hold its request again: it was decided, or the request is no longer pending"
                ))
                .into())
            }
            Err(e) => Err(fault::from_sdk("dynamodb", &e).into()),
        }
    }

    /// Reads an approval (never its task token); `None` if unknown.
    pub async fn get_approval(
        &self,
        id: &ApprovalId,
        consistent: bool,
    ) -> Result<Option<Versioned<Approval>>, Error> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::approval(id))))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        match out.item {
            Some(mut item) => {
                item.remove(TASK_TOKEN);
                let (value, version) = items::from_item(item, ENTITY)?;
                Ok(Some(Versioned { value, version }))
            }
            None => Ok(None),
        }
    }

    /// The task token of an approval, for resuming its execution (never answered).
    pub async fn task_token(&self, id: &ApprovalId) -> Result<String, Error> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::approval(id))))
            .projection_expression("#token")
            .expression_attribute_names("#token", TASK_TOKEN)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        out.item
            .as_ref()
            .and_then(|i| items::string(i, TASK_TOKEN))
            .map(str::to_owned)
            .ok_or_else(|| SystemFault::Internal(format!("approval {id} has no task token")).into())
    }

    /// Pending approvals, soonest deadline first, `limit` per page, from the sparse index.
    pub async fn pending_approvals(
        &self,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<ApprovalPage, Error> {
        let start = cursor.map(decode_cursor).transpose()?;
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .index_name(PENDING_INDEX)
            .key_condition_expression("#queue = :pending")
            .expression_attribute_names("#queue", QUEUE)
            .expression_attribute_values(":pending", text("pending"))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        let mut approvals = Vec::new();
        for mut item in out.items.unwrap_or_default() {
            item.remove(TASK_TOKEN);
            approvals.push(items::from_item(item, ENTITY)?.0);
        }
        let next = super::cursor::encode(out.last_evaluated_key)?;
        Ok(ApprovalPage {
            items: approvals,
            next,
        })
    }

    /// Records `vote` on a pending approval (read at `version`). When the votes are enough the
    /// approval is approved, leaves the pending index and its request is pending again (so
    /// minting may go on); the answer is then the task token to resume the execution with.
    pub async fn vote(
        &self,
        approval: &Versioned<Approval>,
        vote: &Vote,
        at: OffsetDateTime,
    ) -> Result<(Approval, Option<String>), Error> {
        let mut updated = approval.value.clone();
        updated.approvals.push(vote.clone());
        let satisfied = updated.is_satisfied_by(updated.approvals.len());
        let votes = serde_dynamo::to_attribute_value(&updated.approvals)
            .map_err(|e| SystemFault::Internal(format!("cannot encode votes: {e}")))?;
        let mut writes = Vec::new();
        if satisfied {
            updated.status = ApprovalStatus::Approved;
            updated.outcome = Some(Outcome {
                by: vote.approver.clone(),
                at,
                reason: vote.reason.clone(),
            });
            let outcome = serde_dynamo::to_attribute_value(&updated.outcome)
                .map_err(|e| SystemFault::Internal(format!("cannot encode outcome: {e}")))?;
            writes.push(self.approval_update(
                approval,
                "SET approvals = :votes, #status = :approved, outcome = :outcome REMOVE #queue",
                vec![
                    (":votes", votes),
                    (":approved", text("approved")),
                    (":outcome", outcome),
                ],
            )?);
            writes.push(self.update_request(
                &updated.request_id,
                "SET #status = :pending",
                // This approval's attempt: a stale approval of an attempt replay restarted
                // cannot release the new one.
                "#status = :held AND attempt = :attempt",
                &[
                    (":pending", text("pending")),
                    (":held", text("pending_approval")),
                    (":attempt", number(updated.attempt)),
                ],
                UserError::Conflict(format!(
                    "request {} is no longer waiting for approval",
                    updated.request_id
                )),
                false,
            )?);
        } else {
            writes.push(self.approval_update(
                approval,
                "SET approvals = :votes",
                vec![(":votes", votes)],
            )?);
        }
        self.commit(AuditedChange {
            client_id: updated.client_id,
            writes,
            entry: entry(
                &vote.approver,
                if satisfied {
                    "approval.approved"
                } else {
                    "approval.voted"
                },
                updated.approval_id.to_string(),
                vec![
                    ("request_id", updated.request_id.to_string()),
                    ("reason", vote.reason.clone()),
                    ("approvals", updated.approvals.len().to_string()),
                    ("approvals_required", updated.approvals_required.to_string()),
                    (
                        "approvers",
                        updated
                            .approvers()
                            .into_iter()
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                ],
            ),
            at,
        })
        .await?;
        let token = if satisfied {
            Some(self.task_token(&updated.approval_id).await?)
        } else {
            None
        };
        Ok((updated, token))
    }

    /// Denies a pending approval (read at `version`): the approval and its request end
    /// `denied` with the approver's reason, together; answers the task token to fail the
    /// execution with.
    pub async fn deny_approval(
        &self,
        approval: &Versioned<Approval>,
        outcome: &Outcome,
        problem: &RequestProblem,
        at: OffsetDateTime,
    ) -> Result<(Approval, String), Error> {
        let mut updated = approval.value.clone();
        updated.status = ApprovalStatus::Denied;
        updated.outcome = Some(outcome.clone());
        let encoded = serde_dynamo::to_attribute_value(&updated.outcome)
            .map_err(|e| SystemFault::Internal(format!("cannot encode outcome: {e}")))?;
        let problem_item = serde_dynamo::to_attribute_value(problem)
            .map_err(|e| SystemFault::Internal(format!("cannot encode problem: {e}")))?;
        let writes = vec![
            self.approval_update(
                approval,
                "SET #status = :denied, outcome = :outcome REMOVE #queue",
                vec![(":denied", text("denied")), (":outcome", encoded)],
            )?,
            self.update_request(
                &updated.request_id,
                "SET #status = :denied, problem = :problem",
                "#status = :held AND attempt = :attempt",
                &[
                    (":denied", text("denied")),
                    (":problem", problem_item),
                    (":held", text("pending_approval")),
                    (":attempt", number(updated.attempt)),
                ],
                UserError::Conflict(format!(
                    "request {} is no longer waiting for approval",
                    updated.request_id
                )),
                true,
            )?,
        ];
        self.commit(AuditedChange {
            client_id: updated.client_id,
            writes,
            entry: entry(
                &outcome.by,
                "approval.denied",
                updated.approval_id.to_string(),
                vec![
                    ("request_id", updated.request_id.to_string()),
                    ("reason", outcome.reason.clone()),
                ],
            ),
            at,
        })
        .await?;
        let token = self.task_token(&updated.approval_id).await?;
        Ok((updated, token))
    }

    /// Ends a request `denied` with `problem` (policy denied it, or its approval was denied or
    /// timed out); a still pending approval of it expires with it. A request already denied is
    /// left as it is (a retried or repeated denial), and answers `None`.
    pub async fn deny_request(
        &self,
        request: &IssuanceRequest,
        approval: Option<&Versioned<Approval>>,
        problem: &RequestProblem,
        detail: Vec<(&str, String)>,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<Option<AuditRecord>, Error> {
        let request_id = &request.request_id;
        if request.status == clavis_core::request::RequestStatus::Denied {
            return Ok(None);
        }
        let problem_item = serde_dynamo::to_attribute_value(problem)
            .map_err(|e| SystemFault::Internal(format!("cannot encode problem: {e}")))?;
        let mut writes = vec![self.update_request(
            request_id,
            "SET #status = :denied, problem = :problem",
            "#status IN (:pending, :held)",
            &[
                (":denied", text("denied")),
                (":problem", problem_item),
                (":pending", text("pending")),
                (":held", text("pending_approval")),
            ],
            UserError::Conflict(format!("request {request_id} is already final")),
            true,
        )?];
        if let Some(a) = approval.filter(|a| a.value.status == ApprovalStatus::Pending) {
            let outcome = Outcome {
                by: actor.to_owned(),
                at,
                reason: problem.detail.clone(),
            };
            let encoded = serde_dynamo::to_attribute_value(&outcome)
                .map_err(|e| SystemFault::Internal(format!("cannot encode outcome: {e}")))?;
            writes.push(self.approval_update(
                a,
                "SET #status = :expired, outcome = :outcome REMOVE #queue",
                vec![(":expired", text("expired")), (":outcome", encoded)],
            )?);
        }
        let mut detail = detail;
        detail.push(("problem_type", problem.type_.clone()));
        detail.push(("detail", problem.detail.clone()));
        self.commit(AuditedChange {
            client_id: request.client_id,
            writes,
            entry: entry(actor, "credential.denied", request_id.to_string(), detail),
            at,
        })
        .await
        .map(Some)
    }

    /// The write that expires a still pending approval (for the transaction that ends its
    /// request some other way, e.g. as failed).
    pub fn expire_approval(
        &self,
        approval: &Versioned<Approval>,
        by: &str,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<ConditionalWrite, Error> {
        let outcome = Outcome {
            by: by.to_owned(),
            at,
            reason: reason.to_owned(),
        };
        let encoded = serde_dynamo::to_attribute_value(&outcome)
            .map_err(|e| SystemFault::Internal(format!("cannot encode outcome: {e}")))?;
        self.approval_update(
            approval,
            "SET #status = :expired, outcome = :outcome REMOVE #queue",
            vec![(":expired", text("expired")), (":outcome", encoded)],
        )
    }

    fn approval_update(
        &self,
        approval: &Versioned<Approval>,
        set: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<ConditionalWrite, Error> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::approval(
                &approval.value.approval_id,
            ))))
            .update_expression(set.replacen("SET ", "SET #version = :next, ", 1))
            .condition_expression("#version = :version AND #status = :was")
            .expression_attribute_names("#version", keys::VERSION)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(
                ":version",
                AttributeValue::N(approval.version.to_string()),
            )
            .expression_attribute_values(
                ":next",
                AttributeValue::N((approval.version + 1).to_string()),
            )
            .expression_attribute_values(":was", text("pending"));
        if set.contains("#queue") {
            update = update.expression_attribute_names("#queue", QUEUE);
        }
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        Ok(ConditionalWrite {
            item: TransactWriteItem::builder()
                .update(update.build().map_err(build_fault)?)
                .build(),
            on_conflict: UserError::Conflict(format!(
                "approval {} was decided or changed meanwhile",
                approval.value.approval_id
            )),
        })
    }
}

/// The index key of a cursor; anything but one this API issued is the caller's mistake.
fn decode_cursor(cursor: &str) -> Result<Item, UserError> {
    // Only what the index can hold: a forged key would be DynamoDB's validation error (a 5xx).
    super::cursor::decode(
        cursor,
        &[keys::PK, keys::SK, QUEUE, "deadline"],
        |k, v| match k {
            QUEUE => v == "pending",
            keys::SK => v == "APPROVAL",
            keys::PK => v
                .strip_prefix("APPROVAL#")
                .is_some_and(|id| id.parse::<ApprovalId>().is_ok()),
            _ => OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).is_ok(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let key: Item = [
            (keys::PK, "APPROVAL#apr_01KBZ3G5Q6M8N0P2R4T6V8X0Y2"),
            (keys::SK, "APPROVAL"),
            (QUEUE, "pending"),
            ("deadline", "2026-12-03T10:00:00Z"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), AttributeValue::S(v.to_owned())))
        .collect();
        let cursor = super::super::cursor::encode(Some(key.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(decode_cursor(&cursor).unwrap(), key);
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let forged = URL_SAFE_NO_PAD.encode(
            r#"{"pk":"APPROVAL#apr_01KBZ3G5Q6M8N0P2R4T6V8X0Y2","sk":"APPROVAL","approval_queue":"x","deadline":"2026-12-03T10:00:00Z"}"#,
        );
        for bad in [
            "",
            "!!",
            "e30",
            &URL_SAFE_NO_PAD.encode(r#"{"pk":"x"}"#),
            &forged,
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
