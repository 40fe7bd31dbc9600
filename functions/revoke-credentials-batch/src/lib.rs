//! `RevokeCredentialsBatch`: revokes up to [`BATCH_SIZE`] active credentials of a revoked
//! client (reason `client_revoked`), each in its own registry transaction with its own
//! `Credential Revoked` event, and says whether another batch must run. Bounded work per
//! invocation keeps every task far inside its timeout whatever the client's size; a retried
//! batch finds the credentials it already revoked gone from the index and goes on.

use clavis_aws::dynamo::Repository;
use clavis_core::client::ClientStatus;
use clavis_core::revocation::RevocationReason;
use clavis_core::workflow::{ClientRef, RevocationBatch};
use clavis_core::{Error, UserError};
use time::OffsetDateTime;

/// Credentials one invocation revokes at most.
pub const BATCH_SIZE: usize = 25;
/// The actor recorded for these revocations.
pub const ACTOR: &str = "workflow:revoke-client";

/// Revokes the next batch of `client`'s active credentials.
pub async fn revoke_batch(
    repo: &Repository,
    client: ClientRef,
    now: OffsetDateTime,
) -> Result<RevocationBatch, Error> {
    let stored = repo
        .get_client(&client.client_id, true)
        .await?
        .ok_or_else(|| UserError::NotFound(format!("client {}", client.client_id)))?
        .value;
    if stored.status != ClientStatus::Revoked {
        return Err(UserError::IllegalTransition(format!(
            "client {} is not revoked",
            client.client_id
        ))
        .into());
    }
    let due = repo
        .active_credentials_of(&client.client_id, BATCH_SIZE, now)
        .await?;
    let mut revoked = 0;
    for credential_id in &due {
        match repo
            // The client's revocation was decided by policy when it was asked for.
            .revoke_credential(
                credential_id,
                RevocationReason::ClientRevoked,
                ACTOR,
                now,
                &|_| Ok(()),
            )
            .await
        {
            Ok(outcome) => revoked += u64::from(outcome.now),
            // Expired between the query and now: nothing left to revoke.
            Err(Error::User(UserError::IllegalTransition(_))) => {}
            Err(e) => return Err(e),
        }
    }
    tracing::info!(client_id = %client.client_id, found = due.len(), revoked, "batch revoked");
    Ok(RevocationBatch {
        client_id: client.client_id,
        attempt: client.attempt,
        revoked,
        more: more_after(due.len()),
    })
}

/// Whether another batch must run after one that found `found` credentials: only a full batch
/// can have left some behind.
pub fn more_after(found: usize) -> bool {
    found >= BATCH_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_full_batch_asks_for_another() {
        assert!(!more_after(0));
        assert!(!more_after(BATCH_SIZE - 1));
        assert!(more_after(BATCH_SIZE));
    }

    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/revoke-credentials-batch.json");
        let input: ClientRef =
            clavis_lambda::step::decode(serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(input.attempt, 0);
    }
}
