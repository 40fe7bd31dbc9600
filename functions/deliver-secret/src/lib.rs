//! `DeliverSecret`: for a client that registered a vault, opens the sealed copy MintCredential
//! left, writes the secret into the vault as the credential's own version (staged, not yet
//! current: ActivateCredential makes it current), then deletes the sealed copy with an audit
//! record. Nothing is ever answered over HTTP for such a client.
//!
//! Every part is safe to retry: the vault version is named after the credential (the same
//! secret written again changes nothing), and a retry after the sealed copy was consumed only
//! checks that the vault holds the version.

use clavis_aws::dynamo::Repository;
use clavis_aws::dynamo::items::timestamp;
use clavis_aws::kms::Kms;
use clavis_core::delivery::{SecretVault, contents_of};
use clavis_core::workflow::Minted;
use clavis_core::{Error, SystemFault, UserError};
use time::OffsetDateTime;

/// The actor recorded for deliveries.
pub const ACTOR: &str = "workflow:deliver";

/// Delivers the secret of `minted` into its client's vault; a credential without a vault
/// passes through untouched.
pub async fn deliver_secret(
    repo: &Repository,
    kms: &Kms,
    vault: &impl SecretVault,
    secrets_key_id: &str,
    mut minted: Minted,
    now: OffsetDateTime,
) -> Result<Minted, Error> {
    let Some(target) = minted.delivery.clone() else {
        return Ok(minted);
    };
    let target = &target;
    let credential_id = minted.credential_id;
    match repo.sealed_copy(&minted.request_id).await? {
        Some(copy) if copy.credential_id == credential_id => {
            let expires_at = match minted.credential.as_ref() {
                Some(c) if c.credential_id == credential_id => c.expires_at,
                _ => {
                    repo.get_credential(&credential_id, true)
                        .await?
                        .ok_or_else(|| {
                            SystemFault::Internal(format!("{credential_id} was never minted"))
                        })?
                        .value
                        .expires_at
                }
            };
            let secret = copy.open(kms, secrets_key_id).await?;
            let contents = contents_of(minted.client_id, &secret, timestamp(expires_at)?);
            vault.stage(target, &credential_id, &contents).await?;
            drop(secret);
            match repo
                .delivered(minted.client_id, &copy, target, ACTOR, now)
                .await
            {
                // A concurrent retry consumed it first: the vault holds the same version.
                Ok(()) | Err(Error::User(UserError::Gone(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Some(copy) => {
            return Err(SystemFault::Internal(format!(
                "the sealed copy of {} is of {}, not {credential_id}",
                minted.request_id, copy.credential_id
            ))
            .into());
        }
        None => {
            if !vault.holds(target, &credential_id).await? {
                return Err(SystemFault::Internal(format!(
                    "the sealed copy of {} is gone and {} does not hold {credential_id}",
                    minted.request_id,
                    target.address()
                ))
                .into());
            }
        }
    }
    tracing::info!(request_id = %minted.request_id, %credential_id, target = target.address(), "secret delivered");
    // The delivery's audit record moved the chain on: activation reads the head.
    minted.audit_head = None;
    Ok(minted)
}

#[cfg(test)]
mod samples {
    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/deliver-secret.json");
        clavis_lambda::step::decode::<clavis_core::workflow::Minted>(
            serde_json::from_str(text).unwrap(),
        )
        .expect("events/deliver-secret.json");
    }
}
