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
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;

    /// Each state's successors in the `revoke-client` workflow, and the state machine itself.
    fn workflow() -> (Value, BTreeMap<String, Vec<String>>) {
        let asl: Value = serde_json::from_str(include_str!(
            "../../../infra/statemachines/revoke-client.asl.json"
        ))
        .unwrap();
        let mut next = BTreeMap::new();
        for (name, state) in asl["States"].as_object().unwrap() {
            let mut successors: Vec<String> = Vec::new();
            for key in ["Next", "Default"] {
                if let Some(n) = state[key].as_str() {
                    successors.push(n.into());
                }
            }
            for list in ["Choices", "Catch"] {
                for branch in state[list].as_array().into_iter().flatten() {
                    successors.push(branch["Next"].as_str().unwrap().into());
                }
            }
            next.insert(name.clone(), successors);
        }
        (asl, next)
    }

    /// Whether `to` is reachable from `from` without entering a state `avoid` accepts.
    fn reachable(
        next: &BTreeMap<String, Vec<String>>,
        from: &str,
        to: &str,
        avoid: impl Fn(&str) -> bool,
    ) -> bool {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(state) = todo.pop() {
            if state == to {
                return true;
            }
            if seen.insert(state.clone()) {
                todo.extend(next[&state].iter().filter(|s| !avoid(s)).cloned());
            }
        }
        false
    }

    #[test]
    fn the_workflow_finishes_only_after_a_batch_over_a_settled_index() {
        let (asl, next) = workflow();
        let state = |name: &str| asl["States"][name].clone();
        let is_wait = |name: &str| state(name)["Type"] == "Wait";
        let is_batch = |name: &str| {
            state(name)["Parameters"]["FunctionName"] == "${RevokeCredentialsBatchFunctionArn}"
        };
        let start = asl["StartAt"].as_str().unwrap();
        let finish = "FinishClientRevocation";
        assert!(reachable(&next, start, finish, |_| false));
        assert!(
            !reachable(&next, start, finish, is_wait),
            "every path to {finish} waits for the index"
        );
        let waits: Vec<&String> = next.keys().filter(|n| is_wait(n)).collect();
        assert!(!waits.is_empty());
        for wait in waits {
            assert!(state(wait)["Seconds"].as_u64().unwrap() >= 1);
            assert!(
                !reachable(&next, wait, finish, is_batch),
                "after {wait} a batch runs again before {finish}"
            );
        }
    }

    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/finish-client-revocation.json");
        let input: clavis_core::workflow::ClientRef =
            clavis_lambda::step::decode(serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(input.client_id.to_string().len(), 30);
    }
}
