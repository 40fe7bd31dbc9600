//! `ValidateRequest`: the stored request exists, belongs to the execution's client, is still
//! pending, and its parameters are well-formed. Cheap checks first, so a bad execution input
//! fails before anything else is read.

use clavis_aws::dynamo::Repository;
use clavis_core::issuance::CredentialRequest;
use clavis_core::request::RequestStatus;
use clavis_core::workflow::RequestRef;
use clavis_core::{Error, FieldViolation, UserError};

/// Checks the request named by the execution input; passes the input on unchanged.
pub async fn validate_request(repo: &Repository, input: RequestRef) -> Result<RequestRef, Error> {
    let request = repo
        .get_request(&input.request_id, true)
        .await?
        .ok_or_else(|| UserError::NotFound(format!("request {}", input.request_id)))?
        .value;
    if request.client_id != input.client_id {
        return Err(UserError::Invalid(vec![FieldViolation::new(
            "client_id",
            "does not match the request",
        )])
        .into());
    }
    if request.status != RequestStatus::Pending {
        return Err(UserError::Conflict(format!(
            "request {} is {}, not pending",
            request.request_id,
            request.status.as_str()
        ))
        .into());
    }
    // The API validated the body; re-validating the stored form guards against a corrupt or
    // hand-edited item reaching the mint.
    CredentialRequest {
        ttl_seconds: request.params.ttl_seconds,
        scopes: request.params.scopes.into_iter().collect(),
        audiences: request.params.audiences.into_iter().collect(),
        justification: request.params.justification,
        approval_window_seconds: request.params.approval_window_seconds,
    }
    .validate()?;
    tracing::info!(request_id = %input.request_id, client_id = %input.client_id, "request valid");
    Ok(input)
}

#[cfg(test)]
mod samples {
    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/validate-request.json");
        clavis_lambda::step::decode::<clavis_core::workflow::RequestRef>(
            serde_json::from_str(text).unwrap(),
        )
        .expect("events/validate-request.json");
    }
}
