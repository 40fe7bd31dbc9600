//! `RequestApproval` (`.waitForTaskToken`): a held request gets its approval record: who asked,
//! what for, why it was held, how many approvers it needs and until when. The task token is
//! stored beside it, server side, for the api to resume the execution with; `Approval
//! Requested` is queued for notification channels (with `Issuance Anomaly Detected` when a spike
//! held it); the request shows `pending_approval`. The
//! execution then waits until approvers decide (the api sends the outcome) or the deadline
//! passes (`States.Timeout`).

use clavis_aws::dynamo::Repository;
use clavis_core::approval::{Approval, ApprovalStatus, approval_id_for};
use clavis_core::events::{ApprovalRequested, ClavisEvent, EventMeta, IssuanceAnomalyDetected};
use clavis_core::ids::ApprovalId;
use clavis_core::risk::RATE_WINDOW_MINUTES;
use clavis_core::workflow::ApprovalTask;
use clavis_core::{Error, UserError};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// The actor recorded for holds.
pub const ACTOR: &str = "request-approval";

/// What the task answers (Step Functions waits for the token, not for this).
#[derive(Debug, Serialize)]
pub struct Held {
    /// The approval that waits.
    pub approval_id: ApprovalId,
    /// `pending_approval`.
    pub status: &'static str,
}

/// The approval's deadline: Step Functions started the task's timer a moment before this step
/// ran, so the deadline shown to approvers (and enforced by the api) ends a little earlier, by
/// a tenth of the window (at most 30 s), in whole seconds (so the index sorts as time does).
pub fn deadline(now: OffsetDateTime, timeout_seconds: i64) -> OffsetDateTime {
    let margin = (timeout_seconds / 10).min(30);
    let at = now + Duration::seconds(timeout_seconds - margin);
    at.replace_nanosecond(0).unwrap_or(at)
}

/// Stores the approval of a held request and queues its event.
pub async fn request_approval(
    repo: &Repository,
    task: ApprovalTask,
    now: OffsetDateTime,
) -> Result<Held, Error> {
    let assessed = &task.assessed;
    let request = repo
        .get_request(&assessed.request_id, true)
        .await?
        .ok_or_else(|| UserError::NotFound(format!("request {}", assessed.request_id)))?
        .value;
    let client = repo
        .get_client(&assessed.client_id, true)
        .await?
        .ok_or_else(|| UserError::NotFound(format!("client {}", assessed.client_id)))?
        .value;
    let risk = &assessed.assessment;
    let timeout = i64::try_from(risk.approval_timeout_seconds).unwrap_or(i64::MAX);
    let approval = Approval {
        approval_id: approval_id_for(&request.request_id, request.attempt),
        request_id: request.request_id,
        attempt: request.attempt,
        client_id: client.client_id,
        requested_by: request.requested_by.clone(),
        environment: client.environment,
        tier: client.tier,
        scopes: request.params.scopes.clone(),
        audiences: request.params.audiences.clone(),
        ttl_seconds: request.params.ttl_seconds,
        justification: request.params.justification.clone(),
        risk_score: risk.score,
        reasons: risk.reasons.clone(),
        policies: risk.policies.clone(),
        policy_version: risk.policy_version.clone(),
        approvals_required: risk.approvals_required.max(1),
        approvals: Vec::new(),
        status: ApprovalStatus::Pending,
        requested_at: now,
        deadline: deadline(now, timeout),
        outcome: None,
    };
    let event = ApprovalRequested {
        meta: EventMeta::new(now),
        approval_id: approval.approval_id,
        request_id: approval.request_id,
        client_id: approval.client_id,
        requested_by: approval.requested_by.clone(),
        environment: approval.environment,
        scopes: approval.scopes.clone(),
        audiences: approval.audiences.clone(),
        risk_score: approval.risk_score,
        reasons: approval.reasons.clone(),
        approvals_required: approval.approvals_required,
        deadline: approval.deadline,
    }
    .to_outbox();
    let mut events = vec![event];
    if risk.anomaly {
        events.push(
            IssuanceAnomalyDetected {
                meta: EventMeta::new(now),
                client_id: approval.client_id,
                request_id: approval.request_id,
                approval_id: approval.approval_id,
                requested_by: approval.requested_by.clone(),
                recent_requests: risk.factors.rate.recent,
                baseline_requests: risk.factors.rate.baseline,
                window_seconds: RATE_WINDOW_MINUTES * 60,
                policies: risk.policies.clone(),
            }
            .to_outbox(),
        );
    }
    repo.hold_for_approval(&approval, &task.task_token, &events, ACTOR, now)
        .await?;
    tracing::info!(request_id = %approval.request_id, approval_id = %approval.approval_id, approvals_required = approval.approvals_required, "held for approval");
    Ok(Held {
        approval_id: approval.approval_id,
        status: "pending_approval",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_ends_before_the_step_functions_timer_in_whole_seconds() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::milliseconds(1_500);
        assert_eq!(
            deadline(now, 3600),
            OffsetDateTime::UNIX_EPOCH + Duration::seconds(3571)
        );
        assert_eq!(
            deadline(now, 3),
            OffsetDateTime::UNIX_EPOCH + Duration::seconds(4)
        );
        assert_eq!(deadline(now, 86_400).nanosecond(), 0);
    }
}

#[cfg(test)]
mod samples {
    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/request-approval.json");
        clavis_lambda::step::decode::<clavis_core::workflow::ApprovalTask>(
            serde_json::from_str(text).unwrap(),
        )
        .expect("events/request-approval.json");
    }
}
