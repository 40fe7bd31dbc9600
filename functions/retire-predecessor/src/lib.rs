//! `RetirePredecessor`: the rotate workflow's last step, after the overlap. Revokes the
//! predecessor with reason `superseded` (registry entry with the next `seq`, `Credential
//! Revoked`), unless the rotation already ended: the predecessor was revoked or expired during
//! the overlap (nothing to do), or the successor was revoked (the predecessor stays and is
//! unlinked, so it can be rotated again). A retry finds its own revocation and answers the same.
//!
//! For a client with a vault, the predecessor's version stops being offered as the previous
//! one; when the rotation was abandoned, the predecessor becomes the current version again.

use clavis_aws::dynamo::Repository;
use clavis_core::credential::Credential;
use clavis_core::delivery::SecretVault;
use clavis_core::lifecycle::CredentialState;
use clavis_core::revocation::RevocationReason;
use clavis_core::workflow::{Issued, RetireOutcome, Retired};
use clavis_core::{Error, UserError};
use time::OffsetDateTime;

/// The actor recorded for retirements.
pub const ACTOR: &str = "workflow:rotate";

/// Ends the rotation `issued` describes, in the table and then in the client's vault.
pub async fn retire_predecessor(
    repo: &Repository,
    vault: &impl SecretVault,
    issued: Issued,
    now: OffsetDateTime,
) -> Result<Retired, Error> {
    let delivery = issued.delivery.clone();
    let retired = retire(repo, issued, now).await?;
    if let Some(target) = &delivery {
        let abandoned = retired.outcome == RetireOutcome::Abandoned;
        vault
            .retire(
                target,
                &retired.rotated_from,
                &retired.credential_id,
                abandoned,
            )
            .await?;
    }
    Ok(retired)
}

async fn retire(repo: &Repository, issued: Issued, now: OffsetDateTime) -> Result<Retired, Error> {
    let rotation = issued.rotation.ok_or_else(|| {
        UserError::IllegalTransition(format!("request {} is not a rotation", issued.request_id))
    })?;
    let (predecessor, successor) = (rotation.predecessor, issued.credential_id);
    let retired = |outcome, seq| Retired {
        request_id: issued.request_id,
        credential_id: successor,
        rotated_from: predecessor,
        outcome,
        seq,
    };
    let current = repo
        .get_credential(&successor, true)
        .await?
        .ok_or_else(|| UserError::NotFound(format!("credential {successor}")))?
        .value;
    if current.status == CredentialState::Revoked {
        return abandon(repo, &current, retired(RetireOutcome::Abandoned, None), now).await;
    }
    let superseded_by_this = |c: &Credential| -> Result<(), Error> {
        if c.rotated_to == Some(successor) || c.revocation.is_some() {
            Ok(())
        } else {
            Err(UserError::Conflict(format!(
                "credential {predecessor} is not rotated to {successor}"
            ))
            .into())
        }
    };
    let outcome = repo
        .revoke_credential(
            &predecessor,
            RevocationReason::Superseded,
            ACTOR,
            now,
            &superseded_by_this,
        )
        .await;
    let result = match outcome {
        Ok(r) if r.now => retired(RetireOutcome::Superseded, Some(r.entry.seq)),
        // A retry of this step after its commit, or a revocation during the overlap.
        Ok(r) if r.entry.reason == RevocationReason::Superseded && r.entry.revoked_by == ACTOR => {
            retired(RetireOutcome::Superseded, Some(r.entry.seq))
        }
        Ok(_) => retired(RetireOutcome::AlreadyRevoked, None),
        Err(Error::User(UserError::IllegalTransition(_))) => retired(RetireOutcome::Expired, None),
        Err(e) => return Err(e),
    };
    tracing::info!(request_id = %issued.request_id, %predecessor, %successor, outcome = ?result.outcome, "rotation ended");
    Ok(result)
}

/// The successor was revoked during the overlap: the predecessor keeps working, unlinked.
async fn abandon(
    repo: &Repository,
    successor: &Credential,
    result: Retired,
    now: OffsetDateTime,
) -> Result<Retired, Error> {
    match repo
        .abandon_rotation(
            &successor.client_id,
            &result.rotated_from,
            &successor.credential_id,
            ACTOR,
            now,
        )
        .await
    {
        // Already unlinked by an earlier attempt, or the predecessor ended too: nothing to do.
        Ok(_) | Err(Error::User(UserError::Conflict(_))) => {}
        Err(e) => return Err(e),
    }
    tracing::info!(request_id = %result.request_id, predecessor = %result.rotated_from, successor = %successor.credential_id, "rotation abandoned: successor revoked");
    Ok(result)
}

#[cfg(test)]
mod samples {
    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/retire-predecessor.json");
        let issued: clavis_core::workflow::Issued =
            clavis_lambda::step::decode(serde_json::from_str(text).unwrap())
                .expect("events/retire-predecessor.json");
        assert!(issued.rotation.is_some());
    }
}
