//! `ValidateRequest`: the request (carried in the execution input as the api stored it, or read
//! when an input does not carry it) belongs to the execution's client, is still pending, and
//! its parameters are well-formed; it passes the request on so later steps do not read it.

use clavis_aws::dynamo::Repository;
use clavis_core::issuance::CredentialRequest;
use clavis_core::request::RequestStatus;
use clavis_core::workflow::RequestRef;
use clavis_core::{Error, FieldViolation, UserError};

/// Checks the request named by the execution input; passes the input on unchanged.
pub async fn validate_request(repo: &Repository, input: RequestRef) -> Result<RequestRef, Error> {
    // The request as the api stored it travels with the input; an input without it (from a
    // restart that did not carry it) reads it. Whether it is still pending when it matters is
    // the mint's condition either way.
    let request = match input.request {
        Some(request) if request.request_id == input.request_id => *request,
        Some(_) => {
            return Err(UserError::Invalid(vec![FieldViolation::new(
                "request",
                "is not the request the input names",
            )])
            .into());
        }
        None => {
            repo.get_request(&input.request_id, true)
                .await?
                .ok_or_else(|| UserError::NotFound(format!("request {}", input.request_id)))?
                .value
        }
    };
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
        scopes: request.params.scopes.iter().cloned().collect(),
        audiences: request.params.audiences.iter().cloned().collect(),
        justification: request.params.justification.clone(),
        approval_window_seconds: request.params.approval_window_seconds,
    }
    .validate()?;
    tracing::info!(request_id = %input.request_id, client_id = %input.client_id, "request valid");
    Ok(RequestRef {
        request: Some(Box::new(request)),
        ..input
    })
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
