//! Issuance end to end, through the real API, the real state machine and the real functions.

use std::time::Duration;

use clavis_core::ids::CredentialId;
use clavis_core::secret::ClientSecret;
use clavis_tests::{
    credential_request, execution_arn, execution_history_text, execution_names, get_json, http,
    operator_auth, register_client, repository, settled_request, snapshot, stack, stack_logs,
    state_machine, url,
};
use serde_json::{Value, json};

fn body() -> Value {
    json!({
        "ttl_seconds": 3600,
        "scopes": ["billing:read"],
        "audiences": ["https://billing.example.com"],
        "justification": "nightly export"
    })
}

async fn client() -> String {
    register_client(
        "standard",
        &["billing:read", "billing:write"],
        &["https://billing.example.com"],
    )
    .await
}

fn key() -> String {
    format!("key-{}", clavis_core::ids::RequestId::generate().ulid())
}

fn random_part(secret: &str) -> String {
    secret.split('_').nth(3).expect("secret format").to_owned()
}

fn credential_issued_schema() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(include_str!("../../events/schemas/credential-issued.json")).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[tokio::test]
async fn a_request_issues_a_credential_whose_secret_verifies_and_never_leaks() {
    let client_id = client().await;
    let resp = credential_request(&client_id, Some(&key()), &body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "issued within the wait window");
    let issued: Value = resp.json().await.unwrap();
    let secret_text = issued["client_secret"].as_str().expect("secret shown once");
    let request_id = issued["request_id"].as_str().unwrap().to_owned();
    let credential_id: CredentialId = issued["credential_id"].as_str().unwrap().parse().unwrap();

    // The secret verifies against the stored hash, and nothing else about it is stored.
    let secret = ClientSecret::parse(secret_text).unwrap();
    assert_eq!(secret.credential_id(), credential_id);
    let stored = repository()
        .await
        .get_credential(&credential_id, true)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert!(stored.secret_hash.verifies(&secret));
    assert_eq!(stored.status.as_str(), "active");
    assert_eq!(stored.client_id.to_string(), client_id);

    // Metadata and status answer without it; the secret cannot be picked up again.
    let meta = get_json(&format!("/v1/credentials/{credential_id}")).await;
    assert_eq!(meta["status"], "active");
    assert_eq!(meta["scopes"], json!(["billing:read"]));
    assert!(meta.get("secret_hash").is_none());
    let status: Value = settled_request(&request_id).await;
    assert_eq!(status["status"], "completed");
    assert_eq!(status["credential_id"], credential_id.to_string());
    let again = pickup(&request_id).send().await.unwrap();
    assert_eq!(again.status(), 410);

    // Nowhere else: not in the execution history, the tables, or any log.
    let random = random_part(secret_text);
    let history =
        execution_history_text(&execution_arn(&state_machine("issue"), &request_id)).await;
    // Not vacuous: the history holds the payloads (ids, grant, outputs), only not the secret.
    assert!(history.contains("ActivateCredential"), "{history}");
    assert!(history.contains(&credential_id.to_string()), "{history}");
    assert!(history.contains("billing:read"), "{history}");
    assert!(
        !history.contains(&random),
        "secret in the execution history"
    );
    // The steps pass each other the request and what was minted, but never the secret's hash
    // or its sealed copy.
    let hash = String::from(stored.secret_hash);
    assert!(
        !history.contains(&hash),
        "secret hash in the execution history"
    );
    assert!(
        !history.contains("ciphertext"),
        "the sealed copy in the execution history"
    );
    assert!(
        history.contains("audit_head") && history.contains("expires_at"),
        "not vacuous: the history holds what the steps pass on"
    );
    for table in [&stack().table_name, &stack().audit_table_name] {
        assert!(
            !snapshot(table)
                .await
                .iter()
                .any(|item| item.contains(&random))
        );
    }
    for (path, text) in stack_logs() {
        assert!(!text.contains(&random), "secret in {}", path.display());
    }

    // Its Credential Issued event reaches the subscriber queue, valid against its schema.
    let events = clavis_tests::subscriber_events(
        |b| b.contains(&credential_id.to_string()),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        !events[0].to_string().contains(&random),
        "secret in an event"
    );
    let event = events[0].clone();
    assert_eq!(event["detail-type"], "Credential Issued");
    assert_eq!(event["source"], "clavis");
    let errors: Vec<String> = credential_issued_schema()
        .iter_errors(&event["detail"])
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test]
async fn twenty_concurrent_identical_requests_issue_one_credential() {
    let client_id = client().await;
    let key = key();
    let calls = (0..20).map(|_| {
        let req = credential_request(&client_id, Some(&key), &body());
        tokio::spawn(async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        })
    });
    let mut answers = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        answers.push(call.await.unwrap());
    }
    let request_id = answers[0].1["request_id"].as_str().unwrap().to_owned();
    assert!(
        answers
            .iter()
            .all(|(_, b)| b["request_id"] == request_id.as_str())
    );
    let with_secret = answers
        .iter()
        .filter(|(_, b)| b.get("client_secret").is_some())
        .count();
    assert!(with_secret <= 1, "the secret was shown {with_secret} times");

    let settled = settled_request(&request_id).await;
    assert_eq!(settled["status"], "completed");
    let credential_id = settled["credential_id"].as_str().unwrap().to_owned();
    for (status, b) in &answers {
        assert!(matches!(status, 201 | 202), "{status} {b}");
        if *status == 201 {
            assert_eq!(b["credential_id"], credential_id.as_str());
        }
    }

    let runs = execution_names(&state_machine("issue")).await;
    assert_eq!(runs.iter().filter(|n| **n == request_id).count(), 1);
    let credentials = snapshot(&stack().table_name)
        .await
        .into_iter()
        .filter(|item| item.contains("CREDENTIAL#") && item.contains(&client_id))
        .count();
    assert_eq!(credentials, 1);
    let events =
        clavis_tests::subscriber_events(|b| b.contains(&credential_id), Duration::from_secs(5))
            .await;
    assert_eq!(events.len(), 1, "{events:?}");
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused() {
    let client_id = client().await;
    let key = key();
    let first = credential_request(&client_id, Some(&key), &body())
        .send()
        .await
        .unwrap();
    assert!(first.status().is_success());
    let mut other = body();
    other["ttl_seconds"] = json!(7200);
    let resp = credential_request(&client_id, Some(&key), &other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let p: Value = resp.json().await.unwrap();
    assert_eq!(p["type"], "urn:clavis:problem:idempotency-key-reused");
}

#[tokio::test]
async fn concurrent_pickups_hand_the_secret_out_once() {
    let client_id = client().await;
    let resp = credential_request(&client_id, Some(&key()), &body())
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert!(resp.headers().contains_key("location"));
    let accepted: Value = resp.json().await.unwrap();
    assert!(accepted.get("client_secret").is_none());
    let request_id = accepted["request_id"].as_str().unwrap().to_owned();
    assert_eq!(settled_request(&request_id).await["status"], "completed");

    let pickups: Vec<_> = (0..10)
        .map(|_| {
            let req = pickup(&request_id);
            tokio::spawn(async move {
                let resp = req.send().await.unwrap();
                (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    let mut secrets = Vec::new();
    for p in pickups {
        let (status, body) = p.await.unwrap();
        statuses.push(status);
        if let Some(s) = body["client_secret"].as_str() {
            secrets.push(s.to_owned());
        }
    }
    statuses.sort();
    assert_eq!(statuses, [200, 410, 410, 410, 410, 410, 410, 410, 410, 410]);
    assert_eq!(secrets.len(), 1);
    ClientSecret::parse(&secrets[0]).unwrap();
}

#[tokio::test]
async fn unknown_requests_and_early_pickups_are_problems() {
    let unknown = clavis_core::ids::RequestId::generate();
    for (method, path, status) in [
        ("GET", format!("/v1/requests/{unknown}"), 404),
        ("GET", "/v1/requests/req_nope".to_owned(), 404),
        ("POST", format!("/v1/requests/{unknown}/secret"), 404),
        (
            "GET",
            format!("/v1/credentials/{}", CredentialId::generate()),
            404,
        ),
    ] {
        let req = if method == "GET" {
            http().get(url(&path))
        } else {
            http().post(url(&path))
        };
        let resp = req
            .header("authorization", operator_auth())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{method} {path}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
    }
    // A request still running has no secret to pick up yet: 409, and the copy stays for later.
    let client_id = client().await;
    let resp = credential_request(&client_id, Some(&key()), &body())
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    let request_id = resp.json::<Value>().await.unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let early = pickup(&request_id).send().await.unwrap();
    if early.status() != 200 {
        assert_eq!(early.status(), 409, "a pending request");
        assert_eq!(settled_request(&request_id).await["status"], "completed");
        let later = pickup(&request_id).send().await.unwrap();
        assert_eq!(later.status(), 200, "the copy waited for its pickup");
    }
}

/// `POST /v1/requests/{request_id}/secret` as the operator.
fn pickup(request_id: &str) -> reqwest::RequestBuilder {
    http()
        .post(url(&format!("/v1/requests/{request_id}/secret")))
        .header("authorization", operator_auth())
}
