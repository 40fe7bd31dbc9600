//! `RecordFailure`, the `Catch` target of every issuance task: the request ends `failed` with a
//! problem its requester can read; a minted credential fails with it and its pickup copy is
//! deleted; and a fault (anything but `Clavis.User.*`) is parked in the workflow DLQ with the
//! task input and the error, for replay.

use clavis_aws::dynamo::Repository;
use clavis_aws::sqs::QueueSender;
use clavis_core::issuance::credential_id_for;
use clavis_core::lifecycle::CredentialState;
use clavis_core::request::RequestProblem;
use clavis_core::workflow::{CaughtError, FailedTask};
use clavis_core::{Error, SystemFault, UserError};
use serde::Serialize;
use time::OffsetDateTime;

/// The actor recorded for failures.
pub const ACTOR: &str = "workflow:issue";

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

/// The message parked in the workflow DLQ: enough to restart the execution.
#[derive(Debug, Serialize)]
pub struct DeadLetter<'a> {
    /// The execution input to restart with.
    pub execution_input: clavis_core::workflow::RequestRef,
    /// The error that ended it.
    pub error: &'a CaughtError,
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

/// Records the failure of `task`.
pub async fn record_failure(
    repo: &Repository,
    dlq: &QueueSender,
    workflow_dlq_url: &str,
    task: FailedTask,
    now: OffsetDateTime,
) -> Result<Recorded, Error> {
    let problem = problem_of(&task.error);
    let request = repo
        .get_request(&task.request_id, true)
        .await?
        .ok_or_else(|| UserError::NotFound(format!("request {}", task.request_id)))?
        .value;
    let credential_id = credential_id_for(&task.request_id);
    let minted = repo
        .get_credential(&credential_id, true)
        .await?
        .is_some_and(|c| c.value.status == CredentialState::Approved);
    match repo
        .fail_request(
            &request,
            minted.then_some(&credential_id),
            &problem,
            ACTOR,
            now,
        )
        .await
    {
        // Already final: an earlier attempt of this step recorded it.
        Ok(_) | Err(Error::User(UserError::Conflict(_))) => {}
        Err(e) => return Err(e),
    }
    let parked = !task.error.is_user_error();
    if parked {
        let letter = DeadLetter {
            execution_input: clavis_core::workflow::RequestRef {
                request_id: task.request_id,
                client_id: task.client_id,
            },
            error: &task.error,
        };
        let body = serde_json::to_string(&letter)
            .map_err(|e| SystemFault::Internal(format!("cannot encode dead letter: {e}")))?;
        dlq.send(workflow_dlq_url, &body, Some(&task.error.error))
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

#[cfg(test)]
mod samples {
    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/record-failure.json");
        let task = clavis_lambda::step::decode::<clavis_core::workflow::FailedTask>(
            serde_json::from_str(text).unwrap(),
        )
        .expect("events/record-failure.json");
        assert!(!task.error.is_user_error());
    }
}
