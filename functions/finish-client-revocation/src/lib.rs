//! `FinishClientRevocation`: once no active credential of the revoked client is left, queues
//! the one `Client Revoked` event with the number of credentials revoked because of it. A
//! repeat (retry, replay) finds the event already queued and answers the same.

use clavis_aws::dynamo::Repository;
use clavis_core::Error;
use clavis_core::ids::ClientId;
use clavis_core::workflow::ClientRef;
use serde::Serialize;
use time::OffsetDateTime;

/// The actor recorded.
pub const ACTOR: &str = "workflow:revoke-client";

/// The execution's result.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ClientRevocationResult {
    /// The client.
    pub client_id: ClientId,
    /// Always `revoked`.
    pub status: &'static str,
    /// Credentials revoked because of the client's revocation.
    pub revoked_credentials: u64,
    /// The `Client Revoked` event.
    pub event_id: String,
}

/// Finishes the revocation of `client`.
pub async fn finish(
    repo: &Repository,
    client: ClientRef,
    now: OffsetDateTime,
) -> Result<ClientRevocationResult, Error> {
    let done = repo
        .finish_client_revocation(&client.client_id, ACTOR, now)
        .await?;
    tracing::info!(client_id = %client.client_id, revoked_credentials = done.revoked_credentials, now = done.now, "client revocation finished");
    Ok(ClientRevocationResult {
        client_id: client.client_id,
        status: "revoked",
        revoked_credentials: done.revoked_credentials,
        event_id: done.event_id,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/finish-client-revocation.json");
        let input: clavis_core::workflow::ClientRef =
            clavis_lambda::step::decode(serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(input.client_id.to_string().len(), 30);
    }
}
