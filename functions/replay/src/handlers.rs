//! What replaying one message of each queue means.

use clavis_aws::dynamo::request_replay::Reset;
use clavis_aws::events::{EventPublisher, OutboundEvent, PublishError};
use clavis_aws::sqs::Received;
use clavis_core::events::ParkedEvent;
use clavis_core::issuance::credential_id_for;
use clavis_core::lifecycle::CredentialState;
use clavis_core::request::RequestStatus;
use clavis_core::rotation::RetireMode;
use clavis_core::workflow::{
    ClientRef, Issued, Launch, RequestRef, WorkflowDeadLetter, WorkflowKind,
};
use time::{Duration, OffsetDateTime};

use crate::{ACTOR, Outcome, Replayer};

/// Re-puts a batch (at most 10) of parked events in one PutEvents call.
pub(crate) async fn republish(publisher: &EventPublisher, batch: &[Received]) -> Vec<Outcome> {
    let mut outcomes = vec![Outcome::Unreadable; batch.len()];
    let mut events = Vec::new();
    let mut records = Vec::new();
    let mut positions = Vec::new();
    for (i, message) in batch.iter().enumerate() {
        let parked = serde_json::from_str::<ParkedEvent>(&message.body).ok();
        let detail = parked
            .as_ref()
            .and_then(|p| serde_json::from_str::<serde_json::Value>(&p.record.detail).ok());
        if let (Some(parked), Some(detail)) = (parked, detail) {
            events.push(OutboundEvent {
                detail_type: parked.record.detail_type.clone(),
                detail,
            });
            records.push(parked.record);
            positions.push(i);
        }
    }
    if events.is_empty() {
        return outcomes;
    }
    let failed: Vec<usize> = match publisher.publish(&events).await {
        Ok(()) => Vec::new(),
        Err(PublishError::Partial(partial)) => partial.failed.into_iter().map(|(i, _)| i).collect(),
        Err(PublishError::Call(e)) => {
            tracing::warn!(error = %e, "events still not accepted");
            (0..events.len()).collect()
        }
    };
    for (k, &i) in positions.iter().enumerate() {
        outcomes[i] = if failed.contains(&k) {
            Outcome::StillFailing
        } else {
            Outcome::Replayed
        };
    }
    let published = records
        .iter()
        .enumerate()
        .filter(|(k, _)| !failed.contains(k))
        .map(|(_, r)| r);
    clavis_lambda::metrics::events_handled("replay", published, 0, OffsetDateTime::now_utc());
    outcomes
}

/// Starts a queued launch under its original name.
pub(crate) async fn start_launch(replayer: &Replayer, body: &str) -> Outcome {
    let Ok(launch) = serde_json::from_str::<Launch>(body) else {
        return Outcome::Unreadable;
    };
    start(replayer, launch.workflow, &launch.name, &launch.input).await
}

/// Restarts a parked execution under its next attempt.
pub(crate) async fn restart(replayer: &Replayer, body: &str, now: OffsetDateTime) -> Outcome {
    let Ok(letter) = serde_json::from_str::<WorkflowDeadLetter>(body) else {
        return Outcome::Unreadable;
    };
    match letter.workflow {
        WorkflowKind::RevokeClient => {
            let Ok(input) = serde_json::from_value::<ClientRef>(letter.execution_input) else {
                return Outcome::Unreadable;
            };
            // An unrecorded letter's attempt is unknown; its execution input names it.
            let failed_attempt = if letter.unrecorded {
                input.attempt
            } else {
                letter.attempt
            };
            let next = ClientRef {
                client_id: input.client_id,
                attempt: failed_attempt + 1,
            };
            let name = WorkflowKind::execution_name(&next.client_id.to_string(), next.attempt);
            match serde_json::to_value(&next) {
                Ok(value) => start(replayer, WorkflowKind::RevokeClient, &name, &value).await,
                Err(_) => Outcome::Unreadable,
            }
        }
        WorkflowKind::Rotate => {
            // A failed retirement: the successor is live; run only the retirement again.
            if let Ok(issued) = serde_json::from_value::<Issued>(letter.execution_input.clone())
                && issued.rotation.is_some()
            {
                return retire(replayer, &issued, now).await;
            }
            if letter.unrecorded {
                match unrecorded_retirement(replayer, &letter.execution_input, now).await {
                    Ok(Some(issued)) => return retire(replayer, &issued, now).await,
                    Ok(None) => {}
                    Err(outcome) => return outcome,
                }
            }
            restart_request(replayer, WorkflowKind::Rotate, letter, now).await
        }
        WorkflowKind::Issue => restart_request(replayer, WorkflowKind::Issue, letter, now).await,
    }
}

/// Runs only the retirement of a rotation whose successor is live (the rotate workflow's
/// `Route` goes straight to it); retiring twice is harmless, the second finds it done.
async fn retire(replayer: &Replayer, issued: &Issued, now: OffsetDateTime) -> Outcome {
    let name = format!("{}-retire-{}", issued.request_id, now.unix_timestamp());
    match serde_json::to_value(issued) {
        Ok(value) => start(replayer, WorkflowKind::Rotate, &name, &value).await,
        Err(_) => Outcome::Unreadable,
    }
}

/// An unrecorded rotation letter whose request completed: the step that failed came after
/// activation (the retirement, the drain check, or an activation whose answer was lost), and
/// the failure that would have parked the retirement was never recorded. Answers the
/// retirement to run again, `None` when the letter is about an earlier step, or `Waiting`
/// while the successor's overlap still runs (the retirement goes straight to revoking).
async fn unrecorded_retirement(
    replayer: &Replayer,
    execution_input: &serde_json::Value,
    now: OffsetDateTime,
) -> Result<Option<Issued>, Outcome> {
    let Ok(input) = serde_json::from_value::<RequestRef>(execution_input.clone()) else {
        return Ok(None);
    };
    let request = match replayer.repo.get_request(&input.request_id, true).await {
        Ok(Some(request)) => request.value,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::warn!(request_id = %input.request_id, error = %e, "request not read");
            return Err(Outcome::StillFailing);
        }
    };
    let Some(rotation) = request.params.rotation else {
        return Ok(None);
    };
    if request.status != RequestStatus::Completed {
        return Ok(None);
    }
    let successor = credential_id_for(&request.request_id, request.attempt);
    if rotation.retire == RetireMode::AtOverlapEnd {
        match replayer.repo.get_credential(&successor, true).await {
            Ok(Some(c)) if c.value.status == CredentialState::Active => {
                let overlap =
                    Duration::seconds(i64::try_from(rotation.overlap_seconds).unwrap_or(i64::MAX));
                if c.value
                    .issued_at
                    .is_none_or(|at| at.saturating_add(overlap) > now)
                {
                    tracing::info!(request_id = %input.request_id, "unrecorded failure during the overlap: the retirement waits for its end");
                    return Err(Outcome::Waiting);
                }
            }
            // Not active: the retirement finds the rotation ended and does nothing.
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(request_id = %input.request_id, error = %e, "successor not read");
                return Err(Outcome::StillFailing);
            }
        }
    }
    tracing::info!(request_id = %input.request_id, "unrecorded failure after activation: the retirement runs again");
    Ok(Some(Issued {
        request_id: request.request_id,
        client_id: request.client_id,
        credential_id: successor,
        status: RequestStatus::Completed.as_str().to_owned(),
        rotation: request.params.rotation,
        delivery: request.delivery,
    }))
}

/// Resets a failed request to its next attempt and starts `workflow` for it.
async fn restart_request(
    replayer: &Replayer,
    workflow: WorkflowKind,
    letter: WorkflowDeadLetter,
    now: OffsetDateTime,
) -> Outcome {
    let Ok(input) = serde_json::from_value::<RequestRef>(letter.execution_input) else {
        return Outcome::Unreadable;
    };
    let failed_attempt = if letter.unrecorded {
        match awaiting_the_reaper(replayer, &input).await {
            // RecordFailure failed it and then could not park it: this letter is the parked
            // one, at the request's own attempt.
            Ok(attempt) => attempt,
            Err(outcome) => return outcome,
        }
    } else {
        letter.attempt
    };
    let reset = replayer
        .repo
        .reset_failed_request(&input.request_id, failed_attempt, ACTOR, now)
        .await;
    let attempt = match reset {
        Ok(Reset::Pending(next)) => next,
        // An earlier replay reset it but could not start it: start that attempt.
        Ok(Reset::NotFailed(RequestStatus::Pending, current)) if current == failed_attempt + 1 => {
            current
        }
        Ok(Reset::NotFailed(status, _)) => {
            tracing::info!(request_id = %input.request_id, status = status.as_str(), "nothing to replay");
            return Outcome::Obsolete;
        }
        Err(e) => {
            tracing::warn!(request_id = %input.request_id, error = %e, "request not reset");
            return Outcome::StillFailing;
        }
    };
    let name = WorkflowKind::execution_name(&input.request_id.to_string(), attempt);
    match serde_json::to_value(&input) {
        Ok(value) => start(replayer, workflow, &name, &value).await,
        Err(_) => Outcome::Unreadable,
    }
}

/// An unrecorded letter (its `RecordFailure` died). Unsettled, the reaper settles it first
/// (failed and parked, so a later letter restarts it) and the letter stays queued; failed as a
/// fault, the failure was recorded but never parked, so this letter restarts it (`Ok` with the
/// request's attempt); otherwise there is nothing left to do.
async fn awaiting_the_reaper(replayer: &Replayer, input: &RequestRef) -> Result<u32, Outcome> {
    match replayer.repo.get_request(&input.request_id, true).await {
        Ok(Some(request)) => match request.value.status {
            RequestStatus::Pending | RequestStatus::PendingApproval => {
                tracing::info!(request_id = %input.request_id, "unrecorded failure: the reaper settles it first");
                Err(Outcome::Waiting)
            }
            RequestStatus::Failed
                if request
                    .value
                    .problem
                    .as_ref()
                    .is_some_and(|p| p.status >= 500) =>
            {
                Ok(request.value.attempt)
            }
            _ => Err(Outcome::Obsolete),
        },
        Ok(None) => Err(Outcome::Obsolete),
        Err(e) => {
            tracing::warn!(request_id = %input.request_id, error = %e, "request not read");
            Err(Outcome::StillFailing)
        }
    }
}

async fn start(
    replayer: &Replayer,
    workflow: WorkflowKind,
    name: &str,
    input: &serde_json::Value,
) -> Outcome {
    let arn = match workflow {
        WorkflowKind::Issue => &replayer.state_machines.issue,
        WorkflowKind::RevokeClient => &replayer.state_machines.revoke_client,
        WorkflowKind::Rotate => &replayer.state_machines.rotate,
    };
    match replayer
        .workflows
        .start(arn, name, &input.to_string())
        .await
    {
        // Already existing is success: an earlier run (or the API) started it.
        Ok(_) => Outcome::Replayed,
        Err(e) => {
            tracing::warn!(execution = name, error = %e, "workflow still not started");
            Outcome::StillFailing
        }
    }
}
