//! Revocation: immediate at the registry and at introspection, repeat-safe, gapless `seq`
//! under concurrency, and every revocation broadcast once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use clavis_tests::{
    collect_messages, get_json, http, inject_fault_rule, introspect, issue_credential,
    register_client, registry, revoke_request, snapshot, stack, url,
};
use serde_json::{Value, json};

async fn client() -> String {
    register_client("standard", &["r:read"], &["https://r.example"]).await
}

async fn credential(client_id: &str) -> (String, String) {
    issue_credential(client_id, &["r:read"], &["https://r.example"]).await
}

#[tokio::test]
async fn a_revoked_secret_is_refused_at_once_and_revoking_again_changes_nothing() {
    let client_id = client().await;
    let (credential_id, secret) = credential(&client_id).await;
    let before = introspect(&secret).await;
    assert_eq!(before["active"], true, "{before}");
    assert_eq!(before["client_id"], client_id.as_str());
    assert_eq!(before["scope"], "r:read");
    assert_eq!(before["aud"], json!(["https://r.example"]));
    assert!(before["exp"].as_i64().is_some() && before["iat"].as_i64().is_some());

    let resp = revoke_request(&credential_id, "key_compromise")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let first: Value = resp.json().await.unwrap();
    assert_eq!(first["status"], "revoked");
    assert_eq!(first["credential_id"], credential_id.as_str());
    // From the moment the answer arrived: inactive, and exactly `{"active": false}`.
    assert_eq!(introspect(&secret).await, json!({"active": false}));

    // Other tests write concurrently: compare only what mentions this credential.
    let mentioning = |items: Vec<String>| -> Vec<String> {
        items
            .into_iter()
            .filter(|i| i.contains(&credential_id))
            .collect()
    };
    let table_before = mentioning(snapshot(&stack().table_name).await);
    let audit_before = mentioning(snapshot(&stack().audit_table_name).await);
    let again: Value = revoke_request(&credential_id, "operator_request")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again, first, "a repeat answers the same seq and revoked_at");
    let all = registry().await;
    let entries: Vec<_> = all
        .iter()
        .filter(|e| e["credential_id"] == credential_id.as_str())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "seq {} in a registry of {} entries, the last {:?}",
        first["seq"],
        all.len(),
        all.last().map(|e| &e["seq"])
    );
    assert_eq!(entries[0]["seq"], first["seq"]);
    assert_eq!(entries[0]["reason"], "key_compromise");
    assert_eq!(
        mentioning(snapshot(&stack().table_name).await),
        table_before,
        "the repeat wrote state"
    );
    assert_eq!(
        mentioning(snapshot(&stack().audit_table_name).await),
        audit_before,
        "the repeat wrote audit"
    );
    let meta = get_json(&format!("/v1/credentials/{credential_id}")).await;
    assert_eq!(meta["status"], "revoked");
}

#[tokio::test]
async fn concurrent_revocations_get_gapless_seqs_and_one_event_each() {
    let client_id = client().await;
    let issued: Vec<(String, String)> = {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let c = client_id.clone();
                tokio::spawn(async move { credential(&c).await })
            })
            .collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    };
    let ids: BTreeSet<String> = issued.iter().map(|(id, _)| id.clone()).collect();

    // 100 revocations, five per credential, started at once. At most 20 are in flight: the
    // local `cargo lambda watch` (one process per function) stalls for good with ~100 open
    // invocations of one function; in AWS, Lambda scales out instead.
    let reasons = ["key_compromise", "operator_request", "policy_violation"];
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(20));
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let id = issued[i % 20].0.clone();
            let req = revoke_request(&id, reasons[i % 3]);
            let in_flight = in_flight.clone();
            tokio::spawn(async move {
                let _slot = in_flight.acquire().await.unwrap();
                let resp = req.send().await.unwrap();
                (
                    id,
                    resp.status().as_u16(),
                    resp.json::<Value>().await.unwrap(),
                )
            })
        })
        .collect();
    let mut seq_of: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for call in calls {
        let (id, status, body) = call.await.unwrap();
        assert_eq!(status, 200, "{body}");
        seq_of
            .entry(id)
            .or_default()
            .insert(body["seq"].as_u64().unwrap());
    }
    assert!(
        seq_of.values().all(|s| s.len() == 1),
        "repeats disagreed: {seq_of:?}"
    );

    // The registry: every seq from 1 to the last exactly once, ours among them once each.
    let all = registry().await;
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "gap or duplicate"
    );
    let ours: Vec<&Value> = all
        .iter()
        .filter(|e| ids.contains(e["credential_id"].as_str().unwrap()))
        .collect();
    assert_eq!(ours.len(), 20);

    // Twenty Credential Revoked events, one per credential (deduped by event_id, and no more).
    let events = collect_messages(
        &stack().subscriber_queue_url,
        |b| b.contains("Credential Revoked") && ids.iter().any(|id| b.contains(id.as_str())),
        Duration::from_secs(8),
    )
    .await;
    let unique: BTreeSet<String> = events
        .iter()
        .map(|b| {
            serde_json::from_str::<Value>(b).unwrap()["detail"]["event_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(unique.len(), 20, "{} events", events.len());
    for body in &events {
        let event: Value = serde_json::from_str(body).unwrap();
        let id = event["detail"]["credential_id"].as_str().unwrap();
        assert_eq!(
            Some(&event["detail"]["seq"].as_u64().unwrap()),
            seq_of[id].iter().next()
        );
    }
}

#[tokio::test]
async fn what_cannot_be_revoked_gets_a_problem_and_nothing_changes() {
    let client_id = client().await;
    let (credential_id, secret) = credential(&client_id).await;
    for (id, reason, status, problem) in [
        (
            "crd_01HZZZZZZZZZZZZZZZZZZZZZZZ",
            "key_compromise",
            404,
            "not-found",
        ),
        ("not-an-id", "key_compromise", 404, "not-found"),
        (credential_id.as_str(), "superseded", 422, "invalid-request"),
        (credential_id.as_str(), "expired", 422, "invalid-request"),
        (credential_id.as_str(), "bored", 422, "invalid-request"),
    ] {
        let resp = revoke_request(id, reason).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{id} {reason}");
        let p: Value = resp.json().await.unwrap();
        assert_eq!(p["type"], format!("urn:clavis:problem:{problem}"), "{p}");
    }
    assert_eq!(
        introspect(&secret).await["active"],
        true,
        "a refused revoke revoked"
    );
    assert!(
        registry()
            .await
            .iter()
            .all(|e| e["credential_id"] != credential_id.as_str())
    );
}

#[tokio::test]
async fn introspection_of_anything_but_an_active_secret_is_inactive() {
    for token in ["", "garbage", "clv_test_01HZZZZZZZZZZZZZZZZZZZZZZZ_x_y"] {
        assert_eq!(
            introspect(token).await,
            json!({"active": false}),
            "{token:?}"
        );
    }
    let resp = http()
        .post(url("/oauth2/introspect"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "introspection requires authentication");
}

#[tokio::test]
async fn a_bad_registry_query_is_a_problem() {
    for query in ["since=abc", "since=-1", "limit=0", "limit=5000", "limit=x"] {
        let resp = http()
            .get(url(&format!("/v1/revocations?{query}")))
            .header("authorization", clavis_tests::operator_auth())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{query}");
        let p: Value = resp.json().await.unwrap();
        assert_eq!(p["type"], "urn:clavis:problem:invalid-query", "{query}");
    }
    let resp = http().get(url("/v1/revocations")).send().await.unwrap();
    assert_eq!(resp.status(), 401, "the registry requires authentication");
}

#[tokio::test]
async fn expired_and_failed_credentials_cannot_be_revoked() {
    use clavis_aws::dynamo::{items, keys};
    use clavis_core::credential::Credential;
    use clavis_core::ids::{ClientId, CredentialId};
    use clavis_core::lifecycle::CredentialState;
    use clavis_core::secret::{ClientSecret, SecretMode};

    let db = aws_sdk_dynamodb::Client::new(&clavis_tests::sdk().await);
    let now = time::OffsetDateTime::now_utc();
    for (status, expires_at) in [
        (CredentialState::Active, now - time::Duration::minutes(1)),
        (CredentialState::Failed, now + time::Duration::hours(1)),
        (CredentialState::Denied, now + time::Duration::hours(1)),
    ] {
        let id = CredentialId::generate();
        let credential = Credential {
            credential_id: id,
            client_id: ClientId::generate(),
            status,
            scopes: BTreeSet::new(),
            audiences: BTreeSet::new(),
            issued_at: None,
            expires_at,
            renew_after: None,
            policy_version: "test".into(),
            request_id: None,
            rotated_from: None,
            rotated_to: None,
            secret_hash: ClientSecret::generate(id, SecretMode::Test).unwrap().hash(),
            revocation: None,
            last_used_at: None,
        };
        db.put_item()
            .table_name(&stack().table_name)
            .set_item(Some(
                items::to_item(&credential, keys::credential(&id), "credential", 1).unwrap(),
            ))
            .send()
            .await
            .unwrap();
        let resp = revoke_request(&id.to_string(), "operator_request")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 409, "{status:?}");
        let p: Value = resp.json().await.unwrap();
        assert_eq!(p["type"], "urn:clavis:problem:illegal-transition", "{p}");
        assert!(
            registry()
                .await
                .iter()
                .all(|e| e["credential_id"] != id.to_string().as_str())
        );
    }
}

/// A revocation's transaction cancelled by DynamoDB for throttling (as AWS reports it: a
/// `TransactionCanceledException` whose reasons name `ThrottlingError`).
fn throttled_revocation(credential_id: &str, count: Option<u32>) -> Value {
    let mut rule = json!({
        "service": "dynamodb",
        "action": "TransactWriteItems",
        "match": credential_id,
        "status": 400,
        "error": "TransactionCanceledException",
        "reasons": ["None", "None", "ThrottlingError"],
    });
    if let Some(count) = count {
        rule["count"] = json!(count);
    }
    rule
}

#[tokio::test]
async fn a_throttled_revocation_is_tried_again_and_reported_as_a_throttle_not_contention() {
    let client_id = client().await;
    let (credential_id, secret) = credential(&client_id).await;
    let revoked_records = |items: Vec<String>| {
        items
            .into_iter()
            .filter(|i| i.contains(&credential_id) && i.contains("credential.revoked"))
            .count()
    };

    // Throttled to the last attempt: a 503 that says so, and nothing changed.
    {
        let _fault = inject_fault_rule(throttled_revocation(&credential_id, None)).await;
        let resp = revoke_request(&credential_id, "key_compromise")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 503);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        let problem: Value = resp.json().await.unwrap();
        assert_eq!(problem["type"], "urn:clavis:problem:throttled", "{problem}");
        assert_eq!(introspect(&secret).await["active"], true);
        assert!(
            registry()
                .await
                .iter()
                .all(|e| e["credential_id"] != credential_id.as_str())
        );
        assert_eq!(
            revoked_records(snapshot(&stack().audit_table_name).await),
            0
        );
    }

    // Throttled twice: the commit tries the same chain head again and goes through, once.
    let _fault = inject_fault_rule(throttled_revocation(&credential_id, Some(2))).await;
    let resp = revoke_request(&credential_id, "key_compromise")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(introspect(&secret).await, json!({"active": false}));
    assert_eq!(
        revoked_records(snapshot(&stack().audit_table_name).await),
        1
    );
    let entries = registry()
        .await
        .into_iter()
        .filter(|e| e["credential_id"] == credential_id.as_str())
        .count();
    assert_eq!(entries, 1);
}
