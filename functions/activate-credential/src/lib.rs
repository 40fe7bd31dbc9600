//! `ActivateCredential`: one conditional transaction makes the credential active, completes the
//! request, writes the audit record and queues `Credential Issued` in the outbox; a successor
//! also links its predecessor and queues `Credential Rotated`. For a client with a vault, the
//! credential's version becomes the current one there first (the one before stays as the
//! previous one), and goes back if the activation is refused. A retry after a commit whose
//! answer was lost finds the work done and answers the same. What it needs of the credential
//! comes from the mint, so an activation is one transaction and no read.

use clavis_aws::dynamo::Repository;
use clavis_core::delivery::SecretVault;
use clavis_core::events::{ClavisEvent, CredentialIssued, CredentialRotated, EventMeta};
use clavis_core::lifecycle::CredentialState;
use clavis_core::request::RequestStatus;
use clavis_core::workflow::{Issued, Minted, MintedCredential};
use clavis_core::{Error, SystemFault, UserError};
use clavis_lambda::metrics::Settled;
use time::{Duration, OffsetDateTime};

/// The actor recorded for activation.
pub const ACTOR: &str = "workflow:issue";

/// Activates the minted credential of `minted`, then makes it current in its vault, if any.
pub async fn activate_credential(
    repo: &Repository,
    vault: &impl SecretVault,
    minted: Minted,
    now: OffsetDateTime,
) -> Result<Issued, Error> {
    let Some(target) = minted.delivery.clone() else {
        return activate(repo, minted, now).await;
    };
    let credential_id = minted.credential_id;
    // Current in the vault before the request says `completed`: whoever sees it completed
    // reads the new secret. A refused activation (a concurrent rotation won, the client was
    // suspended) puts the version before back; a retry after a lost answer finds the
    // credential active and its version current.
    vault.promote(&target, &credential_id).await?;
    match activate(repo, minted, now).await {
        Ok(issued) => Ok(issued),
        // Refused for good: the version before is current again. A fault leaves it (the
        // commit may have happened; the retry finds out, and promotes or is refused).
        Err(Error::User(refusal)) => {
            if let Err(undo) = vault.demote(&target, &credential_id).await {
                tracing::error!(%credential_id, error = %undo, "activation refused and the vault still offers its version");
            }
            Err(Error::User(refusal))
        }
        Err(e) => Err(e),
    }
}

async fn activate(repo: &Repository, minted: Minted, now: OffsetDateTime) -> Result<Issued, Error> {
    let issued = Issued {
        request_id: minted.request_id,
        client_id: minted.client_id,
        credential_id: minted.credential_id,
        status: RequestStatus::Completed.as_str().to_owned(),
        rotation: minted.rotation,
        delivery: minted.delivery.clone(),
    };
    // What the mint wrote comes with its ids; an input without it (a credential minted by an
    // earlier attempt) reads the credential.
    let credential = match minted.credential.clone() {
        Some(c) if c.credential_id == minted.credential_id => c,
        _ => {
            let stored = repo
                .get_credential(&minted.credential_id, true)
                .await?
                .ok_or_else(|| {
                    SystemFault::Internal(format!("{} was never minted", minted.credential_id))
                })?
                .value;
            if stored.status == CredentialState::Active
                && stored.request_id == Some(minted.request_id)
            {
                return Ok(issued);
            }
            MintedCredential::of(&stored)
        }
    };
    let event = CredentialIssued {
        meta: EventMeta::new(now),
        credential_id: credential.credential_id,
        client_id: credential.client_id,
        request_id: minted.request_id,
        environment: minted.environment,
        scopes: credential.scopes.clone(),
        audiences: credential.audiences.clone(),
        expires_at: credential.expires_at,
    };
    let mut events = vec![event.to_outbox()];
    if let (Some(rotation), Some(predecessor)) = (minted.rotation, credential.rotated_from) {
        let overlap =
            Duration::seconds(i64::try_from(rotation.overlap_seconds).unwrap_or(i64::MAX));
        events.push(
            CredentialRotated {
                meta: EventMeta::new(now),
                credential_id: credential.credential_id,
                rotated_from: predecessor,
                client_id: credential.client_id,
                request_id: minted.request_id,
                overlap_ends_at: now.saturating_add(overlap),
                expires_at: credential.expires_at,
            }
            .to_outbox(),
        );
    }
    match repo
        .activate(
            &credential,
            &minted.request_id,
            &events,
            ACTOR,
            now,
            minted.audit_head.clone(),
        )
        .await
    {
        Ok(_) => clavis_lambda::metrics::issuance_settled(
            Settled::Completed,
            None,
            minted.held,
            minted.requested_at,
            OffsetDateTime::now_utc(),
        ),
        // A retry after a commit whose answer was lost: counted when it committed.
        Err(Error::User(UserError::IllegalTransition(_))) if is_active(repo, &minted).await? => {}
        Err(e) => return Err(e),
    }
    tracing::info!(request_id = %minted.request_id, credential_id = %minted.credential_id, event_id = %event.meta.event_id, "credential issued");
    Ok(issued)
}

async fn is_active(repo: &Repository, minted: &Minted) -> Result<bool, Error> {
    Ok(repo
        .get_credential(&minted.credential_id, true)
        .await?
        .is_some_and(|c| c.value.status == CredentialState::Active))
}

#[cfg(test)]
mod samples {
    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/activate-credential.json");
        clavis_lambda::step::decode::<clavis_core::workflow::Minted>(
            serde_json::from_str(text).unwrap(),
        )
        .expect("events/activate-credential.json");
    }
}
