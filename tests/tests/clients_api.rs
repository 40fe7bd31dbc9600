//! The first slice through the real HTTP API: operators register and read clients.

use clavis_core::audit::verify_chain;
use clavis_core::ids::ClientId;
use clavis_tests::{basic, get_json, http, operator_auth, repository, stack, url};
use serde_json::{Value, json};

fn billing() -> Value {
    json!({
        "name": "billing-service",
        "environment": "dev",
        "tier": "standard",
        "allowed_scopes": ["billing:read", "billing:write"],
        "allowed_audiences": ["https://billing.example.com"]
    })
}

#[tokio::test]
async fn healthz_answers_without_credentials() {
    let resp = http().get(url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn an_operator_registers_a_client_and_reads_it_back() {
    let resp = http()
        .post(url("/v1/clients"))
        .header("authorization", operator_auth())
        .json(&billing())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = resp.json().await.unwrap();
    let id = created["client_id"].as_str().unwrap();
    assert!(id.starts_with("cli_"));
    assert_eq!(location, format!("/v1/clients/{id}"));
    assert_eq!(created["status"], "active");
    assert_eq!(created["owner"], stack().operator_client_id.as_str());
    assert_eq!(
        created["allowed_scopes"],
        json!(["billing:read", "billing:write"])
    );

    let read = get_json(&format!("/v1/clients/{id}")).await;
    assert_eq!(read, created);

    // The registration left its audit record, and the chain verifies.
    let client_id: ClientId = id.parse().unwrap();
    let trail = repository().await.audit_trail(&client_id, 0).await.unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].entry.action, "client.registered");
    assert_eq!(trail[0].entry.actor, stack().operator_client_id);
    verify_chain(&trail).unwrap();
}

#[tokio::test]
async fn an_unknown_client_is_a_404_problem() {
    for id in [ClientId::generate().to_string(), "not-an-id".to_owned()] {
        let resp = http()
            .get(url(&format!("/v1/clients/{id}")))
            .header("authorization", operator_auth())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{id}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let p: Value = resp.json().await.unwrap();
        assert_eq!(p["type"], "urn:clavis:problem:not-found");
    }
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_401_with_a_challenge() {
    let s = stack();
    let mut tampered = s.operator_client_secret.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'a' { 'b' } else { 'a' });
    let other_client = ClientId::generate().to_string();
    let cases = [
        None,
        Some("Bearer nothing".to_owned()),
        Some(basic(&s.operator_client_id, "clv_test_nope")),
        Some(basic(&s.operator_client_id, &tampered)),
        Some(basic(&other_client, &s.operator_client_secret)),
    ];
    for auth in cases {
        let mut req = http().get(url(&format!("/v1/clients/{}", s.operator_client_id)));
        if let Some(a) = &auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{auth:?}");
        assert!(resp.headers().contains_key("www-authenticate"));
        let p: Value = resp.json().await.unwrap();
        assert_eq!(p["type"], "urn:clavis:problem:unauthenticated");
        assert!(p["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let resp = http().get(url("/v1/nothing")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = http().delete(url("/v1/clients")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
}
