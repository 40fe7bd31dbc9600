//! `ReapRequests` (every 5 minutes): a request must settle (completed, failed, denied). One still
//! unsettled past a deadline (15 minutes by default) whose execution is not running is resolved:
//!
//! - never started (the api's start and its queued retry were both lost): started now, under the
//!   name it would have had, so a late start from the intake queue finds it and does nothing;
//! - ended without recording the request (its `RecordFailure` died too): failed like
//!   `RecordFailure` would have, audited as the reaper's, and parked for replay, which restarts
//!   it under its next attempt;
//! - stopped by an operator (`ABORTED`): failed as a conflict, and not parked.
//!
//! A request still running (or waiting for approvers) is left alone, and so is any request whose
//! execution cannot be looked up (Step Functions is down: the next run tries again).

use clavis_aws::dynamo::Repository;
use clavis_aws::dynamo::unsettled::Unsettled;
use clavis_aws::sqs::QueueSender;
use clavis_aws::workflows::{ExecutionState, Workflows};
use clavis_core::Error;
use clavis_core::request::RequestStatus;
use clavis_core::workflow::{CaughtError, FailedTask, RequestRef, WorkflowKind};
use clavis_lambda::failure::record_failure;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// The actor recorded for what the reaper resolves.
pub const ACTOR: &str = "reaper";
/// How long a request may stay unsettled before the reaper looks at it.
pub const DEFAULT_DEADLINE_SECONDS: u64 = 900;
/// Most requests one run looks at.
pub const MAX_PER_RUN: usize = 200;

/// The input: the scheduled event (its fields are ignored), or an operator's choice.
#[derive(Debug, Default, Deserialize)]
pub struct ReapInput {
    /// Look at requests unsettled for longer than this (default 900 seconds).
    #[serde(default)]
    pub older_than_seconds: Option<u64>,
}

/// What one run did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct ReapReport {
    /// Unsettled requests past the deadline.
    pub examined: u32,
    /// Of those, still running or waiting for approvers.
    pub running: u32,
    /// Never started: started now.
    pub started: u32,
    /// Ended without settling: failed and parked for replay.
    pub resolved: u32,
    /// Could not be looked at or resolved now (the next run tries again).
    pub deferred: u32,
}

/// The reaper's dependencies beyond the repository.
#[derive(Debug, Clone)]
pub struct Reaper {
    /// Step Functions.
    pub workflows: Workflows,
    /// Sends parked inputs to the workflow DLQ.
    pub dlq: QueueSender,
    /// The issue state machine.
    pub issue_arn: String,
    /// The rotate state machine.
    pub rotate_arn: String,
}

/// What to do with one unsettled request, from where its execution stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Leave it: it is still working.
    Leave,
    /// Start it under its own name.
    Start,
    /// Fail it (as a fault, so replay restarts it), naming how its execution ended.
    Resolve(String),
}

/// The verdict for an execution in `state`.
pub fn verdict(state: &ExecutionState) -> Verdict {
    match state {
        ExecutionState::Running => Verdict::Leave,
        ExecutionState::Missing => Verdict::Start,
        ExecutionState::Ended(status) => Verdict::Resolve(status.clone()),
    }
}

/// One run at `now`.
pub async fn reap(
    repo: &Repository,
    reaper: &Reaper,
    workflow_dlq_url: &str,
    input: ReapInput,
    now: OffsetDateTime,
) -> Result<ReapReport, Error> {
    let older_than = input.older_than_seconds.unwrap_or(DEFAULT_DEADLINE_SECONDS);
    let deadline = now - Duration::seconds(i64::try_from(older_than).unwrap_or(i64::MAX));
    let mut report = ReapReport::default();
    for request in repo.unsettled_requests(deadline, MAX_PER_RUN).await? {
        report.examined += 1;
        match reap_one(repo, reaper, workflow_dlq_url, &request, now).await {
            Ok(Verdict::Leave) => report.running += 1,
            Ok(Verdict::Start) => report.started += 1,
            Ok(Verdict::Resolve(_)) => report.resolved += 1,
            Err(e) => {
                tracing::warn!(request_id = %request.request_id, error = %e, "not reaped now");
                report.deferred += 1;
            }
        }
    }
    clavis_lambda::metrics::reaped("started", u64::from(report.started));
    clavis_lambda::metrics::reaped("resolved", u64::from(report.resolved));
    clavis_lambda::metrics::reaped("deferred", u64::from(report.deferred));
    match oldest_pending_approval(repo, now).await {
        Ok(age) => clavis_lambda::metrics::pending_approval_age(age),
        Err(e) => tracing::warn!(error = %e, "pending approvals not measured"),
    }
    tracing::info!(
        examined = report.examined,
        running = report.running,
        started = report.started,
        resolved = report.resolved,
        deferred = report.deferred,
        "reaped"
    );
    Ok(report)
}

/// Pages of pending approvals read to find the oldest (pending approvals are few; past this
/// the age reported is that of the oldest read).
const APPROVAL_PAGES: usize = 10;

/// How long the oldest pending approval has waited at `now` (zero when none waits): what the
/// `PendingApprovalAge` metric reports, so approvers who are not answering show.
async fn oldest_pending_approval(
    repo: &Repository,
    now: OffsetDateTime,
) -> Result<std::time::Duration, Error> {
    let mut oldest = Duration::ZERO;
    let mut cursor: Option<String> = None;
    for _ in 0..APPROVAL_PAGES {
        let page = repo.pending_approvals(100, cursor.as_deref()).await?;
        for approval in &page.items {
            oldest = oldest.max(now - approval.requested_at);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(oldest.max(Duration::ZERO).unsigned_abs())
}

async fn reap_one(
    repo: &Repository,
    reaper: &Reaper,
    workflow_dlq_url: &str,
    request: &Unsettled,
    now: OffsetDateTime,
) -> Result<Verdict, Error> {
    let (workflow, arn) = if request.params.rotation.is_some() {
        (WorkflowKind::Rotate, &reaper.rotate_arn)
    } else {
        (WorkflowKind::Issue, &reaper.issue_arn)
    };
    let name = WorkflowKind::execution_name(&request.request_id.to_string(), request.attempt);
    let state = reaper.workflows.state_of(arn, &name).await?;
    let verdict = verdict(&state);
    match &verdict {
        Verdict::Leave => {}
        Verdict::Start => {
            let input = RequestRef::of(request.request_id, request.client_id);
            let input = serde_json::to_string(&input).map_err(|e| {
                clavis_core::SystemFault::Internal(format!("cannot encode input: {e}"))
            })?;
            reaper.workflows.start(arn, &name, &input).await?;
            tracing::warn!(request_id = %request.request_id, ?workflow, execution = %name, "never started: started by the reaper");
        }
        Verdict::Resolve(status) => {
            // The index is eventually consistent: a request that settled a moment ago (its
            // execution SUCCEEDED) must not be failed.
            let settled = repo
                .get_request(&request.request_id, true)
                .await?
                .is_none_or(|r| {
                    !matches!(
                        r.value.status,
                        RequestStatus::Pending | RequestStatus::PendingApproval
                    ) || r.value.attempt != request.attempt
                });
            if settled {
                return Ok(Verdict::Leave);
            }
            // An operator who stopped the execution meant it: failed, not parked for replay.
            let error = if status == "ABORTED" {
                "Clavis.User.conflict".to_owned()
            } else {
                format!("Clavis.Reaper.{status}")
            };
            let task = FailedTask {
                request_id: request.request_id,
                client_id: request.client_id,
                error: CaughtError {
                    error,
                    cause: format!(
                        r#"{{"errorMessage":"execution {name} ended {status} without settling the request"}}"#
                    ),
                },
            };
            record_failure(repo, &reaper.dlq, workflow_dlq_url, task, ACTOR, now).await?;
            tracing::warn!(request_id = %request.request_id, ?workflow, execution = %name, status, "execution ended unsettled: failed by the reaper and parked");
        }
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_running_execution_is_left_alone() {
        assert_eq!(verdict(&ExecutionState::Running), Verdict::Leave);
        assert_eq!(verdict(&ExecutionState::Missing), Verdict::Start);
        for status in ["FAILED", "TIMED_OUT", "ABORTED", "SUCCEEDED"] {
            assert_eq!(
                verdict(&ExecutionState::Ended(status.into())),
                Verdict::Resolve(status.into())
            );
        }
    }

    #[test]
    fn the_scheduled_event_is_a_valid_input() {
        let input: ReapInput = clavis_lambda::step::decode(serde_json::json!({
            "version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-12-03T00:00:00Z", "region": "us-east-1",
            "resources": [], "detail": {}
        }))
        .unwrap();
        assert_eq!(input.older_than_seconds, None);
    }
}
