//! Revoking a client: revoked at once (no issuance from that moment), every credential revoked
//! by the `revoke-client` workflow in bounded batches, one `Client Revoked` with the count, and
//! repeat-safe.

use std::collections::BTreeSet;
use std::time::Duration;

use clavis_tests::{
    closed_execution, collect_messages, credential_request, get_json, http, introspect,
    issue_credential, operator_auth, register_client, registry, revoke_client_request, snapshot,
    stack, url,
};
use serde_json::{Value, json};

const SCOPES: &[&str] = &["c:read"];
const AUDIENCES: &[&str] = &["https://c.example"];

async fn client() -> String {
    register_client("standard", SCOPES, AUDIENCES).await
}

/// Issues `n` credentials of `client_id`.
async fn credentials(client_id: &str, n: usize) -> Vec<(String, String)> {
    clavis_tests::issue_credentials(client_id, n, SCOPES, AUDIENCES).await
}

#[tokio::test]
async fn revoking_a_client_revokes_every_credential_in_batches_and_announces_it_once() {
    let client_id = client().await;
    // More than one batch (25), so the workflow must loop.
    let issued = credentials(&client_id, 27).await;
    let ids: BTreeSet<String> = issued.iter().map(|(id, _)| id.clone()).collect();

    let resp = revoke_client_request(&client_id, "policy_violation")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let first: Value = resp.json().await.unwrap();
    assert_eq!(first["status"], "revoked");
    assert_eq!(first["credentials"], "revoking");
    assert_eq!(first["reason"], "policy_violation");
    assert_eq!(first["execution_name"], client_id.as_str());

    // Revoked from the answer on: no new issuance.
    let refused = credential_request(
        &client_id,
        Some("after-revocation"),
        &json!({"ttl_seconds": 3600, "scopes": SCOPES, "audiences": AUDIENCES, "justification": "x"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(refused.status(), 403, "a revoked client got a credential");
    let client = get_json(&format!("/v1/clients/{client_id}")).await;
    assert_eq!(client["status"], "revoked");
    assert_eq!(client["revocation"]["reason"], "policy_violation");

    let status = closed_execution(
        &stack().state_machines["revoke-client"],
        &client_id,
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(status, "SUCCEEDED");

    for (credential_id, secret) in &issued {
        assert_eq!(introspect(secret).await, json!({"active": false}));
        let meta = get_json(&format!("/v1/credentials/{credential_id}")).await;
        assert_eq!(meta["status"], "revoked", "{credential_id}");
    }
    let entries: Vec<Value> = registry()
        .await
        .into_iter()
        .filter(|e| e["client_id"] == client_id.as_str())
        .collect();
    assert_eq!(entries.len(), 27, "one registry entry per credential");
    assert!(entries.iter().all(|e| e["reason"] == "client_revoked"));
    let listed: BTreeSet<String> = entries
        .iter()
        .map(|e| e["credential_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids);

    let announced = collect_messages(
        &stack().subscriber_queue_url,
        |b| b.contains("\"Client Revoked\"") && b.contains(client_id.as_str()),
        Duration::from_secs(6),
    )
    .await;
    let details: BTreeSet<String> = announced
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).unwrap()["detail"].to_string())
        .collect();
    assert_eq!(details.len(), 1, "exactly one Client Revoked: {details:?}");
    let detail: Value = serde_json::from_str(details.iter().next().unwrap()).unwrap();
    assert_eq!(detail["revoked_credentials"], 27);
    assert_eq!(detail["reason"], "policy_violation");

    // A repeat answers the same and revokes nothing more.
    let table_before = mentioning(&client_id, snapshot(&stack().table_name).await);
    let again: Value = revoke_client_request(&client_id, "key_compromise")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(
        mentioning(&client_id, snapshot(&stack().table_name).await),
        table_before,
        "the repeat wrote state"
    );
}

fn mentioning(id: &str, items: Vec<String>) -> Vec<String> {
    items.into_iter().filter(|i| i.contains(id)).collect()
}

#[tokio::test]
async fn bad_client_revocations_are_problems_that_change_nothing() {
    let client_id = client().await;
    let (_, secret) = issue_credential(&client_id, SCOPES, AUDIENCES).await;
    let before = mentioning(&client_id, snapshot(&stack().table_name).await);

    for (body, status) in [
        (json!({"reason": "client_revoked"}), 422),
        (json!({"reason": "bored"}), 422),
        (json!({}), 422),
        (json!({"reason": "key_compromise", "extra": 1}), 422),
    ] {
        let resp = http()
            .post(url(&format!("/v1/clients/{client_id}/revoke")))
            .header("authorization", operator_auth())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{body}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/problem+json",
            "{body}"
        );
    }
    let unknown = revoke_client_request("cli_01HZZZZZZZZZZZZZZZZZZZZZZZ", "key_compromise")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let own = revoke_client_request(&stack().operator_client_id, "key_compromise")
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 403, "an operator revoked its own client");
    let unauthenticated = http()
        .post(url(&format!("/v1/clients/{client_id}/revoke")))
        .json(&json!({"reason": "key_compromise"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    assert_eq!(
        mentioning(&client_id, snapshot(&stack().table_name).await),
        before
    );
    assert_eq!(introspect(&secret).await["active"], true);
    assert_eq!(
        get_json(&format!("/v1/clients/{}", stack().operator_client_id)).await["status"],
        "active"
    );
}
