//! `MintCredential`: generates the secret, stores only its hash plus a KMS-sealed pickup copy
//! (encryption context = request id + credential id, expiring), and answers ids only.
//!
//! The credential id is derived from the request id, so a retried mint finds its own earlier
//! work and answers the same ids instead of minting a second credential. What activation needs
//! of the credential (never its secret or hash) and the audit chain head after the mint go on
//! with the ids, so activation reads nothing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clavis_aws::dynamo::Repository;
use clavis_aws::dynamo::issuance::{PICKUP_TTL_SECONDS, PickupCopy, pickup_context};
use clavis_aws::kms::Kms;
use clavis_core::audit::ChainHead;
use clavis_core::credential::Credential;
use clavis_core::ids::CredentialId;
use clavis_core::issuance::{IssuanceGrant, credential_id_for};
use clavis_core::lifecycle::{CredentialState, LifecycleEvent};
use clavis_core::secret::{ClientSecret, SecretMode};
use clavis_core::workflow::{Minted, MintedCredential};
use clavis_core::{Error, SystemFault, UserError};
use time::{Duration, OffsetDateTime};

/// The actor recorded for minting.
pub const ACTOR: &str = "workflow:issue";

/// The credential a grant describes, approved and not yet active.
pub fn credential_for(
    grant: &IssuanceGrant,
    secret: &ClientSecret,
    now: OffsetDateTime,
) -> Result<Credential, UserError> {
    let ttl = Duration::seconds(i64::try_from(grant.ttl_seconds).unwrap_or(i64::MAX));
    let mut credential = Credential {
        credential_id: secret.credential_id(),
        client_id: grant.client_id,
        status: CredentialState::Requested,
        scopes: grant.scopes.clone(),
        audiences: grant.audiences.clone(),
        issued_at: None,
        expires_at: now + ttl,
        renew_after: Some(now + ttl * 2 / 3),
        policy_version: grant.policy_version.clone(),
        request_id: Some(grant.request_id),
        rotated_from: grant.rotation.map(|r| r.predecessor),
        rotated_to: None,
        secret_hash: secret.hash(),
        revocation: None,
        last_used_at: None,
    };
    credential.apply(LifecycleEvent::Approve)?;
    Ok(credential)
}

/// Mints the credential of `grant`, or finds the one an earlier attempt minted.
pub async fn mint_credential(
    repo: &Repository,
    kms: &Kms,
    secrets_key_id: &str,
    grant: IssuanceGrant,
    now: OffsetDateTime,
) -> Result<Minted, Error> {
    let credential_id = credential_id_for(&grant.request_id, grant.attempt);
    let mut minted = Minted {
        request_id: grant.request_id,
        client_id: grant.client_id,
        credential_id,
        environment: grant.environment,
        rotation: grant.rotation,
        delivery: grant.delivery.clone(),
        requested_at: grant.requested_at,
        held: grant.held,
        credential: None,
        audit_head: None,
    };
    // No read first: the mint's own conditions find a credential an earlier attempt of this
    // step minted, and only then is it read (a retry costs an Encrypt; a mint costs no read).
    let secret = ClientSecret::generate(
        credential_id,
        SecretMode::for_environment(grant.environment),
    )?;
    let credential = credential_for(&grant, &secret, now)?;
    let context = pickup_context(&grant.request_id, &credential_id);
    let ciphertext = kms
        .encrypt(secrets_key_id, secret.expose().as_bytes(), &context)
        .await?;
    drop(secret);
    let pickup = PickupCopy {
        request_id: grant.request_id,
        credential_id,
        ciphertext: STANDARD.encode(ciphertext),
        expires_at: now + Duration::seconds(PICKUP_TTL_SECONDS),
    };
    match repo
        .mint(
            &credential,
            &pickup,
            grant.risk_score,
            ACTOR,
            now,
            grant.audit_head.clone(),
        )
        .await
    {
        Ok(record) => {
            minted.credential = Some(MintedCredential::of(&credential));
            minted.audit_head = Some(ChainHead::after(&record));
        }
        // A concurrent or earlier attempt won the race: its secret is the one that counts.
        Err(Error::User(UserError::Conflict(_)))
            if already_minted(repo, &grant, &credential_id).await? => {}
        Err(e) => return Err(e),
    }
    tracing::info!(request_id = %grant.request_id, %credential_id, "credential minted");
    Ok(minted)
}

async fn already_minted(
    repo: &Repository,
    grant: &IssuanceGrant,
    credential_id: &CredentialId,
) -> Result<bool, Error> {
    match repo.get_credential(credential_id, true).await? {
        None => Ok(false),
        Some(existing) if existing.value.request_id == Some(grant.request_id) => {
            if existing.value.status == CredentialState::Failed {
                return Err(
                    UserError::Conflict(format!("credential {credential_id} failed")).into(),
                );
            }
            Ok(true)
        }
        Some(_) => Err(SystemFault::Internal(format!(
            "credential {credential_id} belongs to another request"
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_core::client::Environment;
    use clavis_core::ids::{ClientId, RequestId};
    use std::collections::BTreeSet;

    #[test]
    fn a_minted_credential_is_approved_with_its_hash_and_lifetime() {
        let request_id = RequestId::generate();
        let grant = IssuanceGrant {
            request_id,
            client_id: ClientId::generate(),
            environment: Environment::Prod,
            scopes: BTreeSet::from(["a".to_owned()]),
            audiences: BTreeSet::from(["b".to_owned()]),
            ttl_seconds: 3000,
            policy_version: "p".into(),
            attempt: 0,
            risk_score: Some(12),
            rotation: None,
            delivery: None,
            requested_at: None,
            held: false,
            audit_head: None,
        };
        let secret =
            ClientSecret::generate(credential_id_for(&request_id, 0), SecretMode::Live).unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        let c = credential_for(&grant, &secret, now).unwrap();
        assert_eq!(c.status, CredentialState::Approved);
        assert!(c.secret_hash.verifies(&secret));
        assert_eq!(c.expires_at - now, Duration::seconds(3000));
        assert_eq!(c.renew_after, Some(now + Duration::seconds(2000)));
        assert_eq!(c.request_id, Some(request_id));
    }
}

#[cfg(test)]
mod samples {
    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/mint-credential.json");
        clavis_lambda::step::decode::<clavis_core::issuance::IssuanceGrant>(
            serde_json::from_str(text).unwrap(),
        )
        .expect("events/mint-credential.json");
    }
}
