//! Recording a workflow failure: what `RecordFailure` (the `Catch` target of every workflow task)
//! does, and what the reaper does for a request whose execution died without it.
//!
//! For `issue`: the request ends `failed` with a problem its requester can read; a minted
//! credential fails with it and its pickup copy is deleted. For `revoke-client`: the client stays
//! revoked (that committed before the workflow started) and nothing is undone. For `rotate`: as
//! for `issue` until the successor is active; after that only the predecessor's retirement can
//! fail, and the successor stays. In all, a fault
//! (anything but `Clavis.User.*`) is parked in the workflow DLQ with the execution input and the
//! error, for replay.

use crate::metrics::Settled;
use clavis_aws::dynamo::Repository;
use clavis_aws::sqs::QueueSender;
use clavis_core::approval::{ApprovalStatus, approval_id_for};
use clavis_core::issuance::credential_id_for;
use clavis_core::lifecycle::CredentialState;
use clavis_core::request::{RequestProblem, RequestStatus};
use clavis_core::workflow::{
    CaughtError, ClientRef, FailedClientRevocation, FailedRetirement, FailedTask, RequestRef,
    WorkflowDeadLetter, WorkflowKind,
};
use clavis_core::{Error, SystemFault, UserError};
use serde::Serialize;
use time::OffsetDateTime;

/// The actor recorded for failures.
pub const ACTOR: &str = "workflow:issue";

/// What failed: the state a task of either workflow failed in.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum Failure {
    /// `RetirePredecessor` of a `rotate` execution (its state is an activated rotation).
    Retirement(FailedRetirement),
    /// An `issue` or `rotate` task (its state has a `request_id`).
    Issue(FailedTask),
    /// A `revoke-client` task.
    ClientRevocation(FailedClientRevocation),
}

/// What was recorded.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Recorded {
    /// Always `failed`.
    pub status: &'static str,
    /// The problem type the requester sees.
    pub problem_type: String,
    /// Whether the input was parked in the workflow DLQ.
    pub parked: bool,
}

/// The problem a caught error stands for.
pub fn problem_of(error: &CaughtError) -> RequestProblem {
    if error.is_user_error() {
        let code = error.code().unwrap_or("invalid-request");
        let (title, status) = match code {
            "not-found" => ("Not found", 404),
            "forbidden" => ("Forbidden", 403),
            "invalid-request" => ("Invalid request", 422),
            "illegal-transition" => ("Illegal lifecycle transition", 409),
            "undeliverable" => ("Secret not delivered", 422),
            _ => ("Conflict", 409),
        };
        RequestProblem {
            type_: format!("urn:clavis:problem:{code}"),
            title: title.to_owned(),
            status,
            detail: error.message(),
        }
    } else {
        RequestProblem::from_error(&Error::Fault(SystemFault::Unavailable {
            service: "workflow",
            detail: error.error.clone(),
        }))
    }
}

/// Records a failure of either workflow.
pub async fn record(
    repo: &Repository,
    dlq: &QueueSender,
    workflow_dlq_url: &str,
    failure: Failure,
    now: OffsetDateTime,
) -> Result<Recorded, Error> {
    match failure {
        Failure::Retirement(failed) if failed.issued.rotation.is_some() => {
            let parked = !failed.error.is_user_error();
            if parked {
                park(
                    dlq,
                    workflow_dlq_url,
                    WorkflowKind::Rotate,
                    &failed.issued,
                    0,
                    &failed.error,
                )
                .await?;
            }
            tracing::warn!(request_id = %failed.issued.request_id, credential_id = %failed.issued.credential_id, error = %failed.error.error, parked, "retirement of the predecessor failed");
            Ok(Recorded {
                status: "failed",
                problem_type: problem_of(&failed.error).type_,
                parked,
            })
        }
        Failure::Retirement(failed) => {
            let task = FailedTask {
                request_id: failed.issued.request_id,
                client_id: failed.issued.client_id,
                error: failed.error,
            };
            record_failure(repo, dlq, workflow_dlq_url, task, ACTOR, now).await
        }
        Failure::Issue(task) => record_failure(repo, dlq, workflow_dlq_url, task, ACTOR, now).await,
        Failure::ClientRevocation(failed) => {
            let parked = !failed.error.is_user_error();
            if parked {
                let input = ClientRef {
                    client_id: failed.client_id,
                    attempt: failed.attempt,
                };
                park(
                    dlq,
                    workflow_dlq_url,
                    WorkflowKind::RevokeClient,
                    &input,
                    failed.attempt,
                    &failed.error,
                )
                .await?;
            }
            tracing::warn!(client_id = %failed.client_id, error = %failed.error.error, parked, "client revocation failed");
            Ok(Recorded {
                status: "failed",
                problem_type: problem_of(&failed.error).type_,
                parked,
            })
        }
    }
}

/// Parks a failed execution's input in the workflow DLQ.
async fn park<T: Serialize>(
    dlq: &QueueSender,
    workflow_dlq_url: &str,
    workflow: WorkflowKind,
    input: &T,
    attempt: u32,
    error: &CaughtError,
) -> Result<(), Error> {
    let letter = WorkflowDeadLetter {
        workflow,
        execution_input: serde_json::to_value(input)
            .map_err(|e| SystemFault::Internal(format!("cannot encode dead letter: {e}")))?,
        attempt,
        error: error.clone(),
        unrecorded: false,
    };
    let body = serde_json::to_string(&letter)
        .map_err(|e| SystemFault::Internal(format!("cannot encode dead letter: {e}")))?;
    dlq.send(workflow_dlq_url, &body, Some(&error.error))
        .await?;
    Ok(())
}

/// Records the failure of an issuance `task`, as `actor`.
pub async fn record_failure(
    repo: &Repository,
    dlq: &QueueSender,
    workflow_dlq_url: &str,
    task: FailedTask,
    actor: &str,
    now: OffsetDateTime,
) -> Result<Recorded, Error> {
    let problem = problem_of(&task.error);
    let request = repo
        .get_request(&task.request_id, true)
        .await?
        .ok_or_else(|| UserError::NotFound(format!("request {}", task.request_id)))?
        .value;
    let credential_id = credential_id_for(&task.request_id, request.attempt);
    let minted = repo
        .get_credential(&credential_id, true)
        .await?
        .is_some_and(|c| c.value.status == CredentialState::Approved);
    let waited = request.status == RequestStatus::PendingApproval;
    // A request that failed while held takes its pending approval with it (out of the list).
    let held = match request.status {
        RequestStatus::PendingApproval => repo
            .get_approval(&approval_id_for(&request.request_id, request.attempt), true)
            .await?
            .filter(|a| a.value.status == ApprovalStatus::Pending)
            .map(|a| repo.expire_approval(&a, actor, &problem.detail, now))
            .transpose()?,
        _ => None,
    };
    match repo
        .fail_request(
            &request,
            minted.then_some(&credential_id),
            held,
            &problem,
            actor,
            now,
        )
        .await
    {
        Ok(_) => {
            let settled = if task.error.is_user_error() {
                Settled::Refused
            } else {
                Settled::Failed
            };
            let reason = problem
                .type_
                .rsplit(':')
                .next()
                .unwrap_or(problem.type_.as_str());
            crate::metrics::issuance_settled(
                settled,
                Some(reason),
                waited,
                Some(request.requested_at),
                OffsetDateTime::now_utc(),
            );
        }
        // Already final: an earlier attempt of this step recorded it.
        Err(Error::User(UserError::Conflict(_))) => {}
        Err(e) => return Err(e),
    }
    let parked = !task.error.is_user_error();
    if parked {
        let input = RequestRef::of(task.request_id, task.client_id);
        let workflow = if request.params.rotation.is_some() {
            WorkflowKind::Rotate
        } else {
            WorkflowKind::Issue
        };
        park(
            dlq,
            workflow_dlq_url,
            workflow,
            &input,
            request.attempt,
            &task.error,
        )
        .await?;
    }
    tracing::warn!(request_id = %task.request_id, error = %task.error.error, parked, "issuance failed");
    Ok(Recorded {
        status: "failed",
        problem_type: problem.type_,
        parked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_errors_keep_their_type_and_message() {
        let p = problem_of(&CaughtError {
            error: "Clavis.User.forbidden".into(),
            cause: r#"{"errorMessage":"not allowed: client is revoked"}"#.into(),
        });
        assert_eq!(p.type_, "urn:clavis:problem:forbidden");
        assert_eq!(p.status, 403);
        assert_eq!(p.detail, "not allowed: client is revoked");
    }

    #[test]
    fn faults_reveal_nothing_of_their_cause() {
        let p = problem_of(&CaughtError {
            error: "Clavis.Transient.unavailable".into(),
            cause: r#"{"errorMessage":"arn:aws:kms:secret-internal"}"#.into(),
        });
        assert_eq!(p.status, 503);
        assert!(!p.detail.contains("secret-internal"));
    }
}
