//! Delivery into a vault on the local cloud (Secrets Manager in moto): a client registered with
//! a delivery target gets each new secret as its own version there, current from activation,
//! the version before kept as `AWSPREVIOUS` through a rotation's overlap and unlabelled after
//! it; the secret never crosses HTTP; targets outside the stack's prefix, or claimed by
//! another client, are refused and change nothing; a vault that is not there fails the request
//! with a problem that says so.

use std::collections::BTreeMap;
use std::time::Duration;

use clavis_tests::vault::{holder, new_secret, read, stages, version};
use clavis_tests::{
    approve_as_approver, audit_export, credential_request, execution_arn, execution_history_text,
    get_json, http, operator_auth, pickup_secret, repository, revoke_request, rows_mentioning,
    settled_or_held, settled_request, stack, stack_logs, token_request, url,
};
use serde_json::{Value, json};

const SCOPE: &str = "vault:read";
const AUDIENCE: &str = "https://vault.example";

async fn register_with_vault(arn: &str) -> (u16, Value) {
    register_tier_with_vault("standard", arn).await
}

async fn register_tier_with_vault(tier: &str, arn: &str) -> (u16, Value) {
    let resp = http()
        .post(url("/v1/clients"))
        .header("authorization", operator_auth())
        .json(&json!({
            "name": "vault-client",
            "environment": "dev",
            "tier": tier,
            "allowed_scopes": [SCOPE],
            "allowed_audiences": [AUDIENCE],
            "delivery": {"kind": "aws_secrets_manager", "secret_arn": arn},
        }))
        .send()
        .await
        .expect("register");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn key(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        clavis_core::ids::RequestId::generate().ulid()
    )
}

/// Issues for `client_id` and answers the settled answer (201 body or settled request).
async fn issue(client_id: &str) -> Value {
    let resp = credential_request(
        client_id,
        Some(&key("vault")),
        &json!({"ttl_seconds": 3600, "scopes": [SCOPE], "audiences": [AUDIENCE], "justification": "test"}),
    )
    .send()
    .await
    .expect("issue");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("json");
    match status {
        201 => body,
        // Still running, or ended without a credential (answered as its problem).
        _ if body["request_id"].is_string() => {
            settled_request(body["request_id"].as_str().unwrap_or_default()).await
        }
        other => panic!("{other}: {body}"),
    }
}

/// A new vault, a client delivering into it, and its first credential: (ARN, client, credential).
async fn vault_client_with_credential() -> (String, String, String) {
    let arn = new_secret().await;
    let (status, client) = register_with_vault(&arn).await;
    assert_eq!(status, 201, "{client}");
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let issued = issue(&client_id).await;
    let credential_id = issued["credential_id"].as_str().expect("issued").to_owned();
    (arn, client_id, credential_id)
}

async fn token_status(client_id: &str, secret: &str) -> u16 {
    token_request(
        client_id,
        secret,
        &[("grant_type", "client_credentials"), ("scope", SCOPE)],
    )
    .await
    .0
}

async fn rotate(credential_id: &str, overlap_seconds: u64) -> Value {
    let resp = http()
        .post(url(&format!("/v1/credentials/{credential_id}/rotate")))
        .header("authorization", operator_auth())
        .header("idempotency-key", key("rotate"))
        .json(&json!({"overlap_seconds": overlap_seconds}))
        .send()
        .await
        .expect("rotate");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    body
}

/// Polls until `check` holds for the secret's labels (at most `within`).
async fn labels_become(
    arn: &str,
    within: Duration,
    what: &str,
    check: impl Fn(&BTreeMap<String, Vec<String>>) -> bool,
) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = stages(arn).await;
        if check(&now) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn the_secret_goes_into_the_vault_and_never_over_http() {
    let arn = new_secret().await;
    let (status, client) = register_with_vault(&arn).await;
    assert_eq!(status, 201, "{client}");
    assert_eq!(client["delivery"]["secret_arn"], arn.as_str());
    let client_id = client["client_id"].as_str().unwrap().to_owned();

    let issued = issue(&client_id).await;
    assert_eq!(issued["status"], "completed", "{issued}");
    assert!(issued.get("client_secret").is_none(), "{issued}");
    let credential_id = issued["credential_id"].as_str().unwrap().to_owned();
    let request_id = issued["request_id"].as_str().unwrap().to_owned();
    assert_eq!(issued["delivery"]["secret_arn"], arn.as_str());
    assert_eq!(issued["delivery"]["version_id"], version(&credential_id));

    // Current from activation; the staging label is gone.
    assert_eq!(
        holder(&arn, "AWSCURRENT").await,
        Some(version(&credential_id))
    );
    assert_eq!(holder(&arn, "AWSPENDING").await, None);
    let held = read(&arn, "AWSCURRENT").await;
    assert_eq!(held["client_id"], client_id.as_str());
    assert_eq!(held["credential_id"], credential_id.as_str());
    let secret = held["client_secret"].as_str().expect("secret").to_owned();
    assert_eq!(token_status(&client_id, &secret).await, 200);

    // No pickup: not by the request, not later; and no sealed copy is left behind.
    let resp = pickup_secret(&request_id, &operator_auth()).await;
    assert_eq!(resp.status(), 409);
    let problem: Value = resp.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("never answered over HTTP"),
        "{problem}"
    );
    let request_id_parsed = request_id.parse().unwrap();
    assert!(
        repository()
            .await
            .sealed_copy(&request_id_parsed)
            .await
            .unwrap()
            .is_none(),
        "the sealed copy outlived the delivery"
    );
    let view = get_json(&format!("/v1/requests/{request_id}")).await;
    assert_eq!(view["delivery"]["version_id"], version(&credential_id));

    // Audited, with where it went and never what.
    let delivered: Vec<_> = audit_export(&client_id)
        .await
        .into_iter()
        .filter(|r| r.entry.action == "credential.delivered")
        .collect();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].entry.detail["target"], arn);
    assert_eq!(
        delivered[0].entry.detail["version_id"],
        version(&credential_id)
    );
    let execution = execution_arn(&stack().state_machines["issue"], &request_id);
    assert!(
        !execution_history_text(&execution).await.contains(&secret),
        "the execution's payloads carry the secret"
    );
    for (path, text) in stack_logs() {
        assert!(
            !text.contains(&secret),
            "{} contains the delivered secret",
            path.display()
        );
    }
    for row in rows_mentioning(&stack().table_name, &client_id).await {
        assert!(!row.contains(&secret), "the table holds the secret: {row}");
    }
}

#[tokio::test]
async fn rotation_keeps_the_previous_version_through_the_overlap_only() {
    let (arn, client_id, predecessor) = vault_client_with_credential().await;
    let old_secret = read(&arn, "AWSCURRENT").await["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();

    let rotated = rotate(&predecessor, 6).await;
    assert!(rotated.get("client_secret").is_none(), "{rotated}");
    let successor = rotated["credential_id"].as_str().unwrap().to_owned();

    // The overlap: current is the successor, previous the predecessor; both authenticate.
    assert_eq!(holder(&arn, "AWSCURRENT").await, Some(version(&successor)));
    assert_eq!(
        holder(&arn, "AWSPREVIOUS").await,
        Some(version(&predecessor))
    );
    let new_secret = read(&arn, "AWSCURRENT").await["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        read(&arn, "AWSPREVIOUS").await["client_secret"],
        old_secret.as_str()
    );
    assert_eq!(token_status(&client_id, &old_secret).await, 200);
    assert_eq!(token_status(&client_id, &new_secret).await, 200);

    // After it: the predecessor is revoked and no longer offered as the previous version.
    let old_version = version(&predecessor);
    labels_become(&arn, Duration::from_secs(40), "AWSPREVIOUS retired", |s| {
        s.get(&old_version).is_some_and(|l| l.is_empty())
    })
    .await;
    assert_eq!(
        get_json(&format!("/v1/credentials/{predecessor}")).await["status"],
        "revoked"
    );
    assert_eq!(holder(&arn, "AWSCURRENT").await, Some(version(&successor)));
    assert_eq!(token_status(&client_id, &old_secret).await, 401);
    assert_eq!(token_status(&client_id, &new_secret).await, 200);
}

#[tokio::test]
async fn an_abandoned_rotation_puts_the_predecessor_back() {
    let (arn, client_id, predecessor) = vault_client_with_credential().await;
    let rotated = rotate(&predecessor, 4).await;
    let successor = rotated["credential_id"].as_str().unwrap().to_owned();
    let resp = revoke_request(&successor, "key_compromise")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // When the rotation ends, consumers read the predecessor again, and the revoked successor
    // is offered under no label.
    let (old_version, new_version) = (version(&predecessor), version(&successor));
    labels_become(&arn, Duration::from_secs(40), "predecessor current", |s| {
        s.get(&old_version)
            .is_some_and(|l| l == &vec!["AWSCURRENT".to_owned()])
            && s.get(&new_version).is_some_and(|l| l.is_empty())
    })
    .await;
    let held = read(&arn, "AWSCURRENT").await;
    assert_eq!(held["credential_id"], predecessor.as_str());
    assert_eq!(
        token_status(&client_id, held["client_secret"].as_str().unwrap()).await,
        200
    );
}

#[tokio::test]
async fn a_refused_activation_leaves_the_vault_as_it_was() {
    // A privileged client's issuance waits for an approver; the client is suspended while it
    // waits, so the approved request reaches activation and is refused there.
    let arn = new_secret().await;
    let (_, client) = register_tier_with_vault("privileged", &arn).await;
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let before = holder(&arn, "AWSCURRENT").await;
    let resp = credential_request(
        &client_id,
        Some(&key("held")),
        &json!({"ttl_seconds": 3600, "scopes": [SCOPE], "audiences": [AUDIENCE], "justification": "test"}),
    )
    .send()
    .await
    .unwrap();
    let body: Value = resp.json().await.unwrap();
    let request_id = body["request_id"].as_str().unwrap().to_owned();
    let held = settled_or_held(&request_id).await;
    assert_eq!(held["status"], "pending_approval", "{held}");
    let resp = http()
        .post(url(&format!("/v1/clients/{client_id}/suspend")))
        .header("authorization", operator_auth())
        .json(&json!({"reason": "incident"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (status, answer) = approve_as_approver(held["approval_id"].as_str().unwrap(), "test").await;
    assert_eq!(status, 200, "{answer}");
    let settled = settled_request(&request_id).await;
    assert_eq!(settled["status"], "failed", "{settled}");
    assert_eq!(
        holder(&arn, "AWSCURRENT").await,
        before,
        "the vault moved on"
    );
    let labelled: Vec<_> = stages(&arn)
        .await
        .into_iter()
        .filter(|(v, labels)| v.starts_with("clavis-") && !labels.is_empty())
        .collect();
    assert!(labelled.is_empty(), "{labelled:?}");
}

#[tokio::test]
async fn targets_outside_the_prefix_or_taken_are_refused_and_change_nothing() {
    let arn = new_secret().await;
    let (status, _) = register_with_vault(&arn).await;
    assert_eq!(status, 201);
    let elsewhere = arn.replace(":secret:clavis/", ":secret:payments/");
    let before = rows_mentioning(&stack().table_name, &arn).await;
    for (target, status, needle) in [
        (elsewhere.as_str(), 422, "delivery.secret_arn"),
        ("not-an-arn", 422, "delivery.secret_arn"),
        // One client per vault secret: a second would overwrite the first one's secrets.
        (arn.as_str(), 409, "delivery target of another client"),
    ] {
        let (got, problem) = register_with_vault(target).await;
        assert_eq!(got, status, "{target}: {problem}");
        assert!(problem.to_string().contains(needle), "{target}: {problem}");
    }
    let resp = http()
        .post(url("/v1/clients"))
        .header("authorization", operator_auth())
        .json(&json!({
            "name": "vault-client", "environment": "dev", "tier": "standard",
            "allowed_scopes": [SCOPE], "allowed_audiences": [AUDIENCE],
            "delivery": {"kind": "hashicorp_vault", "path": "x"},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    assert_eq!(
        rows_mentioning(&stack().table_name, &arn).await,
        before,
        "a refused registration wrote"
    );
    assert!(
        rows_mentioning(&stack().table_name, &elsewhere)
            .await
            .is_empty(),
        "a refused registration wrote"
    );
}

#[tokio::test]
async fn a_vault_that_is_not_there_fails_the_request_and_says_so() {
    let arn = format!(
        "{}missing-{}-AbCdEf",
        stack().delivery_prefix,
        clavis_core::ids::RequestId::generate().ulid()
    );
    let (status, client) = register_with_vault(&arn).await;
    assert_eq!(status, 201, "{client}");
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let settled = issue(&client_id).await;
    assert_eq!(settled["status"], "failed", "{settled}");
    assert_eq!(
        settled["problem"]["type"], "urn:clavis:problem:undeliverable",
        "{settled}"
    );
    assert_eq!(settled["problem"]["status"], 422, "{settled}");
    assert!(
        settled["problem"]["detail"]
            .as_str()
            .unwrap()
            .contains(&arn),
        "{settled}"
    );
    // Nothing usable was left: no credential of the client is active.
    let listed = get_json(&format!("/v1/clients/{client_id}/credentials")).await;
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] != "active"),
        "{listed}"
    );
}
