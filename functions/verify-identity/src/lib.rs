//! `VerifyIdentity`: its own stage. The client must exist and be active and may have what is
//! asked; the requester's credential must still be usable and its client still active, and the
//! policy must still allow the requester this issuance, decided again now with no more than
//! the scopes it held when it asked. Passes on what minting needs ([`IssuanceGrant`]), and
//! the request and client it read for the risk assessment (never anything secret).

use std::collections::BTreeSet;

use clavis_aws::dynamo::{Repository, clients, keys};
use clavis_core::client::Client;
use clavis_core::ids::ClientId;
use clavis_core::issuance::IssuanceGrant;
use clavis_core::workflow::{RequestRef, Verified, VerifiedReads};
use clavis_core::{Error, UserError};
use clavis_lambda::governance::Governance;
use clavis_policy::{Action, Operator};
use time::OffsetDateTime;

/// Verifies client and requester for the request and answers the grant.
pub async fn verify_identity(
    repo: &Repository,
    governance: &Governance,
    input: RequestRef,
    now: OffsetDateTime,
) -> Result<Verified, Error> {
    let request = match input.request {
        Some(request) if request.request_id == input.request_id => *request,
        _ => {
            repo.get_request(&input.request_id, true)
                .await?
                .ok_or_else(|| UserError::NotFound(format!("request {}", input.request_id)))?
                .value
        }
    };
    let no_longer = || {
        UserError::Forbidden(format!(
            "{} may no longer request credentials",
            request.requested_by
        ))
    };
    let requester: ClientId = request.requested_by.parse().map_err(|_| no_longer())?;
    // The requester's credential and its client, read together (a requester whose client was
    // revoked or suspended after it asked may no longer have anything issued), and in the same
    // read the client asked for.
    let client_key = keys::client(&input.client_id);
    let (requester_credential, requester_client, read) = repo
        .get_credential_and_client_with(
            &request.requested_with,
            &requester,
            std::slice::from_ref(&client_key),
        )
        .await?;
    let client: Client = read
        .get(&client_key, clients::ENTITY)?
        .ok_or_else(|| UserError::NotFound(format!("client {}", input.client_id)))?
        .value;
    request.params.check_against(&client)?;
    let credential = match (requester_credential, requester_client) {
        (Some(c), Some(k)) if c.value.is_usable_for(&k.value, now) => c.value.confined_to(&k.value),
        _ => return Err(no_longer().into()),
    };
    // What it holds now (within what its client allows now), and never more than it held
    // when it asked.
    let held: BTreeSet<String> = match &request.requester_scopes {
        Some(asked_with) => credential
            .scopes
            .intersection(asked_with)
            .cloned()
            .collect(),
        None => credential.scopes.clone(),
    };
    governance.in_force(repo).await?;
    governance.decide(
        Operator {
            client_id: &requester,
            credential_id: &request.requested_with,
            scopes: &held,
        },
        Action::RequestIssuance(&client, &request.params),
    )?;
    tracing::info!(request_id = %input.request_id, client_id = %input.client_id, "identity verified");
    let grant = IssuanceGrant {
        request_id: request.request_id,
        client_id: client.client_id,
        environment: client.environment,
        scopes: request.params.scopes.clone(),
        audiences: request.params.audiences.clone(),
        ttl_seconds: request.params.ttl_seconds,
        policy_version: governance.version().to_owned(),
        attempt: request.attempt,
        risk_score: None,
        rotation: request.params.rotation,
        delivery: request.delivery.clone(),
        requested_at: Some(request.requested_at),
        held: false,
        audit_head: input.audit_head,
    };
    Ok(Verified {
        grant,
        read: Some(Box::new(VerifiedReads { request, client })),
    })
}

#[cfg(test)]
mod samples {
    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/verify-identity.json");
        clavis_lambda::step::decode::<clavis_core::workflow::RequestRef>(
            serde_json::from_str(text).unwrap(),
        )
        .expect("events/verify-identity.json");
    }
}
