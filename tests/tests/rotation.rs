//! Rotation with overlap on the local cloud: the successor answers like issuance, both secrets
//! get tokens during the overlap and only the successor after it; subscribers see `Credential
//! Rotated` and then `Credential Revoked` (`superseded`) with its `seq`; repeated calls make one
//! successor; revoking either credential during the overlap ends the rotation cleanly; and no
//! caller rotates its way to more than it holds.

use std::time::Duration;

use clavis_tests::{
    assert_refused, basic, closed_execution, execution_arn, execution_history_text, get_json, http,
    inject_fault, issue_credential, new_operator, operator_auth, register_client, replay,
    revoke_request, rows_mentioning, snapshot, stack, token_request, url,
};
use serde_json::{Value, json};

const SCOPE: &str = "rot:read";
const AUDIENCE: &str = "https://rot.example";

async fn client_with_credential() -> (String, String, String) {
    let client_id = register_client("standard", &[SCOPE], &[AUDIENCE]).await;
    let (credential_id, secret) = issue_credential(&client_id, &[SCOPE], &[AUDIENCE]).await;
    (client_id, credential_id, secret)
}

/// `POST /v1/credentials/{id}/rotate` as `authorization` with `key` and `body`.
async fn rotate(
    credential_id: &str,
    authorization: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut request = http()
        .post(url(&format!("/v1/credentials/{credential_id}/rotate")))
        .header("authorization", authorization)
        .json(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let resp = request.send().await.expect("rotate");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn key() -> String {
    format!("rotate-{}", clavis_core::ids::RequestId::generate().ulid())
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

/// Polls the credential's metadata until `status` (at most `within`).
async fn credential_reaches(credential_id: &str, status: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let meta = get_json(&format!("/v1/credentials/{credential_id}")).await;
        if meta["status"] == status {
            return meta;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{credential_id} still {} after {within:?}",
            meta["status"]
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn rotate_machine() -> String {
    stack().state_machines["rotate"].clone()
}

#[tokio::test]
async fn both_secrets_work_during_the_overlap_and_only_the_successor_after_it() {
    let (client_id, predecessor, old_secret) = client_with_credential().await;
    let (status, rotated) = rotate(
        &predecessor,
        &operator_auth(),
        Some(&key()),
        &json!({"overlap_seconds": 6}),
    )
    .await;
    assert_eq!(status, 201, "{rotated}");
    let successor = rotated["credential_id"]
        .as_str()
        .expect("successor")
        .to_owned();
    let new_secret = rotated["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_ne!(successor, predecessor);
    let request_id = rotated["request_id"].as_str().unwrap().to_owned();

    let succ = get_json(&format!("/v1/credentials/{successor}")).await;
    assert_eq!(succ["rotated_from"], predecessor.as_str());
    assert_eq!(succ["scopes"], json!([SCOPE]));
    assert_eq!(succ["audiences"], json!([AUDIENCE]));
    let pred = get_json(&format!("/v1/credentials/{predecessor}")).await;
    assert_eq!(pred["rotated_to"], successor.as_str());
    assert_eq!(pred["status"], "active");

    // The overlap: both authenticate.
    assert_eq!(token_status(&client_id, &old_secret).await, 200);
    assert_eq!(token_status(&client_id, &new_secret).await, 200);

    credential_reaches(&predecessor, "revoked", Duration::from_secs(40)).await;
    assert_eq!(token_status(&client_id, &old_secret).await, 401);
    assert_eq!(token_status(&client_id, &new_secret).await, 200);
    let entry: Vec<Value> = clavis_tests::registry()
        .await
        .into_iter()
        .filter(|e| e["credential_id"] == predecessor.as_str())
        .collect();
    assert_eq!(entry.len(), 1, "one registry entry");
    assert_eq!(entry[0]["reason"], "superseded");

    // Subscribers: Credential Rotated, then Credential Revoked (superseded) with its seq.
    let details =
        clavis_tests::subscriber_events(|b| b.contains(&predecessor), Duration::from_secs(6)).await;
    let events = &details;
    let of_type = |t: &str| -> Vec<&Value> {
        details
            .iter()
            .filter(|d| d["detail-type"] == t)
            .map(|d| &d["detail"])
            .collect()
    };
    let rotated_events = of_type("Credential Rotated");
    assert_eq!(rotated_events.len(), 1, "{events:?}");
    assert_eq!(rotated_events[0]["credential_id"], successor.as_str());
    assert_eq!(rotated_events[0]["rotated_from"], predecessor.as_str());
    let revoked_events = of_type("Credential Revoked");
    assert_eq!(revoked_events.len(), 1, "{events:?}");
    assert_eq!(revoked_events[0]["reason"], "superseded");
    assert_eq!(revoked_events[0]["seq"], entry[0]["seq"]);
    assert!(rotated_events[0]["occurred_at"].as_str() <= revoked_events[0]["occurred_at"].as_str());

    // The execution carried ids only.
    let history = execution_history_text(&execution_arn(&rotate_machine(), &request_id)).await;
    assert!(!history.contains(&new_secret) && !history.contains(&old_secret));
    assert_eq!(
        closed_execution(&rotate_machine(), &request_id, Duration::from_secs(10)).await,
        "SUCCEEDED"
    );
}

#[tokio::test]
async fn twenty_identical_rotations_make_one_successor() {
    let (_, predecessor, _) = client_with_credential().await;
    let key = key();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (predecessor, key) = (predecessor.clone(), key.clone());
            tokio::spawn(async move {
                rotate(
                    &predecessor,
                    &operator_auth(),
                    Some(&key),
                    &json!({"overlap_seconds": 30}),
                )
                .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.expect("rotate task"));
    }
    let request_ids: std::collections::BTreeSet<_> = answers
        .iter()
        .map(|(s, b)| {
            assert!(*s == 201 || *s == 202, "{s} {b}");
            b["request_id"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(request_ids.len(), 1, "{answers:?}");
    let request_id = request_ids.into_iter().next().unwrap();
    let settled = clavis_tests::settled_request(&request_id).await;
    assert_eq!(settled["status"], "completed");
    let with_secret = answers
        .iter()
        .filter(|(_, b)| b["client_secret"].is_string())
        .count();
    assert!(with_secret <= 1, "the secret was shown {with_secret} times");
    let pred = get_json(&format!("/v1/credentials/{predecessor}")).await;
    assert_eq!(pred["rotated_to"], settled["credential_id"]);
}

#[tokio::test]
async fn rotating_a_revoked_or_already_rotated_credential_is_a_conflict_that_changes_nothing() {
    let (_, revoked, _) = client_with_credential().await;
    let resp = revoke_request(&revoked, "operator_request").send().await;
    assert_eq!(resp.unwrap().status(), 200);
    let before = rows_mentioning(&stack().table_name, &revoked).await;
    let answer = rotate(&revoked, &operator_auth(), Some(&key()), &json!({})).await;
    assert_refused(&answer, 409, "revoked");
    assert_eq!(answer.1["type"], "urn:clavis:problem:conflict");
    assert_eq!(
        rows_mentioning(&stack().table_name, &revoked).await,
        before,
        "the refused rotation wrote state"
    );

    let (_, rotated, _) = client_with_credential().await;
    let (status, first) = rotate(
        &rotated,
        &operator_auth(),
        Some(&key()),
        &json!({"overlap_seconds": 30}),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let before = rows_mentioning(&stack().table_name, &rotated).await;
    let answer = rotate(&rotated, &operator_auth(), Some(&key()), &json!({})).await;
    assert_refused(&answer, 409, "already rotated");
    assert_eq!(
        rows_mentioning(&stack().table_name, &rotated).await,
        before,
        "the second rotation wrote state"
    );
}

#[tokio::test]
async fn bad_rotation_input_is_a_problem_and_changes_nothing() {
    let (_, predecessor, _) = client_with_credential().await;
    let before = snapshot(&stack().table_name).await;
    let mentioning = |rows: &[String]| -> Vec<String> {
        rows.iter()
            .filter(|r| r.contains(&predecessor))
            .cloned()
            .collect()
    };
    let (status, problem) = rotate(&predecessor, &operator_auth(), None, &json!({})).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["type"], "urn:clavis:problem:invalid-header");
    for (body, field) in [
        (json!({"overlap_seconds": 0}), "overlap_seconds"),
        (json!({"overlap_seconds": 86401}), "overlap_seconds"),
        (json!({"justification": ""}), "justification"),
    ] {
        let (status, problem) = rotate(&predecessor, &operator_auth(), Some(&key()), &body).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, problem) = rotate(
        &predecessor,
        &operator_auth(),
        Some(&key()),
        &json!({"retire_at": "never"}),
    )
    .await;
    assert_eq!(status, 422, "unknown fields are refused: {problem}");
    let (status, _) = rotate(
        "crd_01KBZ3G5Q6M8N0P2R4T6V8X0Y2",
        &operator_auth(),
        Some(&key()),
        &json!({}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = rotate("not-an-id", &operator_auth(), Some(&key()), &json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(
        mentioning(&snapshot(&stack().table_name).await),
        mentioning(&before),
        "a refused rotation wrote state"
    );
}

#[tokio::test]
async fn no_operator_rotates_its_way_to_more_than_it_holds() {
    // An issuer without clavis.admin cannot rotate the administrator's credential (it would
    // get an administrator's secret), nor can a revoker rotate an ordinary one.
    let (issuer_id, issuer_secret) = new_operator(&["clavis.issuer"]).await;
    let admin_credential = stack()
        .operator_client_secret
        .split('_')
        .nth(2)
        .map(|ulid| format!("crd_{ulid}"))
        .expect("the secret names its credential");
    let answer = rotate(
        &admin_credential,
        &basic(&issuer_id, &issuer_secret),
        Some(&key()),
        &json!({}),
    )
    .await;
    assert_refused(&answer, 403, "scope-ceiling");
    let (revoker_id, revoker_secret) = new_operator(&["clavis.revoker"]).await;
    let (_, ordinary, _) = client_with_credential().await;
    let (status, problem) = rotate(
        &ordinary,
        &basic(&revoker_id, &revoker_secret),
        Some(&key()),
        &json!({}),
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    let pred = get_json(&format!("/v1/credentials/{ordinary}")).await;
    assert_eq!(pred["rotated_to"], Value::Null);
}

#[tokio::test]
async fn an_operator_rotates_its_own_credential_and_keeps_working() {
    let (operator_id, old_secret) = new_operator(&["clavis.revoker"]).await;
    let own_credential = format!(
        "crd_{}",
        old_secret.split('_').nth(2).expect("credential id")
    );
    let (status, rotated) = rotate(
        &own_credential,
        &basic(&operator_id, &old_secret),
        Some(&key()),
        &json!({"overlap_seconds": 5}),
    )
    .await;
    assert_eq!(status, 201, "a self-rotation needs no approver: {rotated}");
    let new_secret = rotated["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let (_, victim, _) = client_with_credential().await;
    // The new secret works at once, for what the operator may do.
    let resp = http()
        .post(url(&format!("/v1/credentials/{victim}/revoke")))
        .header("authorization", basic(&operator_id, &new_secret))
        .json(&json!({"reason": "operator_request"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    credential_reaches(&own_credential, "revoked", Duration::from_secs(40)).await;
    let refused = http()
        .get(url(&format!("/v1/credentials/{victim}")))
        .header("authorization", basic(&operator_id, &old_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401, "the predecessor stopped working");
}

/// Rotates a fresh credential (15 s overlap), revokes the predecessor (`which` = 0) or the
/// successor (1) during the overlap, and waits for the rotation to end; the client, the
/// predecessor, its secret and the rotation's answer.
async fn rotate_then_revoke(which: usize) -> (String, String, String, Value) {
    let (client_id, predecessor, old_secret) = client_with_credential().await;
    let (status, rotated) = rotate(
        &predecessor,
        &operator_auth(),
        Some(&key()),
        &json!({"overlap_seconds": 15}),
    )
    .await;
    assert_eq!(status, 201, "{rotated}");
    let successor = rotated["credential_id"].as_str().unwrap().to_owned();
    let revoked = [&predecessor, &successor][which];
    let resp = revoke_request(revoked, "key_compromise").send().await;
    assert_eq!(resp.unwrap().status(), 200);
    let request_id = rotated["request_id"].as_str().unwrap();
    assert_eq!(
        closed_execution(&rotate_machine(), request_id, Duration::from_secs(40)).await,
        "SUCCEEDED"
    );
    (client_id, predecessor, old_secret, rotated)
}

#[tokio::test]
async fn revoking_the_successor_during_the_overlap_keeps_the_predecessor() {
    let (client_id, predecessor, old_secret, _) = rotate_then_revoke(1).await;
    let pred = get_json(&format!("/v1/credentials/{predecessor}")).await;
    assert_eq!(pred["status"], "active", "{pred}");
    assert_eq!(pred["rotated_to"], Value::Null, "unlinked: {pred}");
    assert_eq!(token_status(&client_id, &old_secret).await, 200);
    // ... and it can be rotated again.
    let (status, again) = rotate(
        &predecessor,
        &operator_auth(),
        Some(&key()),
        &json!({"overlap_seconds": 30}),
    )
    .await;
    assert_eq!(status, 201, "{again}");
}

#[tokio::test]
async fn revoking_the_predecessor_during_the_overlap_revokes_it_once() {
    let (_, predecessor, _, rotated) = rotate_then_revoke(0).await;
    let entries: Vec<Value> = clavis_tests::registry()
        .await
        .into_iter()
        .filter(|e| e["credential_id"] == predecessor.as_str())
        .collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["reason"], "key_compromise",
        "the first reason stays"
    );
    let succ = get_json(&format!(
        "/v1/credentials/{}",
        rotated["credential_id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(succ["status"], "active");
}

/// Asks for a token with `secret` every second until `stop` (the predecessor kept in use);
/// every answer must be a token, so a retirement while in use names the moment it happened.
async fn keep_using(client_id: &str, secret: &str, stop: tokio::time::Instant) {
    let start = tokio::time::Instant::now();
    while tokio::time::Instant::now() < stop {
        let status = token_status(client_id, secret).await;
        assert_eq!(
            status,
            200,
            "refused {:?} into its use",
            tokio::time::Instant::now() - start
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn on_drain_the_predecessor_retires_once_the_successor_took_over() {
    let (client_id, predecessor, old_secret) = client_with_credential().await;
    let (status, rotated) = rotate(
        &predecessor,
        &operator_auth(),
        Some(&key()),
        // The drain period is wide enough for a loaded local cloud: a use is written at most
        // every resolution (5 s here), and a token call under load can take several seconds.
        &json!({"overlap_seconds": 600, "retire": "on_drain", "drain_seconds": 15}),
    )
    .await;
    assert_eq!(status, 201, "{rotated}");
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(token_status(&client_id, &new_secret).await, 200);
    // While the old secret stays in use, it is not retired.
    keep_using(
        &client_id,
        &old_secret,
        tokio::time::Instant::now() + Duration::from_secs(30),
    )
    .await;
    let pred = get_json(&format!("/v1/credentials/{predecessor}")).await;
    assert_eq!(pred["status"], "active", "retired while in use: {pred}");
    assert!(pred["last_used_at"].is_string(), "{pred}");
    // Once it is left alone for the drain period, it is retired long before the overlap ends.
    credential_reaches(&predecessor, "revoked", Duration::from_secs(90)).await;
    let entry: Vec<Value> = clavis_tests::registry()
        .await
        .into_iter()
        .filter(|e| e["credential_id"] == predecessor.as_str())
        .collect();
    assert_eq!(entry[0]["reason"], "superseded");
    assert_eq!(token_status(&client_id, &new_secret).await, 200);
}

#[tokio::test]
async fn on_drain_an_unused_successor_keeps_the_predecessor() {
    let (_, predecessor, _) = client_with_credential().await;
    let (status, rotated) = rotate(
        &predecessor,
        &operator_auth(),
        Some(&key()),
        &json!({"overlap_seconds": 600, "retire": "on_drain", "drain_seconds": 1}),
    )
    .await;
    assert_eq!(status, 201, "{rotated}");
    // Nobody has used the successor yet: however idle the predecessor, it stays.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let pred = get_json(&format!("/v1/credentials/{predecessor}")).await;
    assert_eq!(pred["status"], "active", "{pred}");
    let request_id = rotated["request_id"].as_str().unwrap();
    let history = execution_history_text(&execution_arn(&rotate_machine(), request_id)).await;
    assert!(history.contains("CheckDrain"), "the rotation is draining");
}

#[tokio::test]
async fn an_issuer_cannot_take_over_another_operator_by_rotating_its_credential() {
    // A standard-tier operator, and an issuer holding the same operator scope: rotating the
    // operator's credential would hand the issuer the operator's identity, so it waits for an
    // approver like any issuance of that scope.
    let operator_id = register_client("standard", &["clavis.issuer"], &["clavis"]).await;
    let (victim, _) = issue_credential(&operator_id, &["clavis.issuer"], &["clavis"]).await;
    let (issuer_id, issuer_secret) = new_operator(&["clavis.issuer"]).await;
    let (status, answer) = rotate(
        &victim,
        &basic(&issuer_id, &issuer_secret),
        Some(&key()),
        &json!({"overlap_seconds": 60}),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "pending_approval", "{answer}");
    assert!(answer.get("client_secret").is_none(), "{answer}");
    let pred = get_json(&format!("/v1/credentials/{victim}")).await;
    assert_eq!(pred["rotated_to"], Value::Null);
}

#[tokio::test]
async fn a_retirement_whose_failure_went_unrecorded_is_run_again_by_replay() {
    let (_, predecessor, _) = client_with_credential().await;
    let (status, rotated) = rotate(
        &predecessor,
        &operator_auth(),
        Some(&key()),
        &json!({"overlap_seconds": 4}),
    )
    .await;
    assert_eq!(status, 201, "{rotated}");
    let request_id = rotated["request_id"].as_str().unwrap().to_owned();
    let successor = rotated["credential_id"].as_str().unwrap().to_owned();
    // The retirement cannot revoke the predecessor, and RecordFailure cannot park the
    // retirement (its letter names the successor); the execution's own Catch parks only its
    // input, as an unrecorded letter about a request that reads `completed`.
    let retire = inject_fault("dynamodb", "TransactWriteItems", &predecessor).await;
    let park = inject_fault("sqs", "SendMessage", &successor).await;
    let ended = closed_execution(&rotate_machine(), &request_id, Duration::from_secs(240)).await;
    assert_eq!(ended, "FAILED");
    assert!(retire.hits().await > 0 && park.hits().await > 0);
    drop(retire);
    drop(park);
    let meta = get_json(&format!("/v1/credentials/{predecessor}")).await;
    assert_eq!(meta["status"], "active", "nothing retired it yet");

    let run = replay(json!({"queues": ["workflow"]})).await;
    assert!(run["workflow"]["replayed"].as_u64().unwrap() >= 1, "{run}");
    credential_reaches(&predecessor, "revoked", Duration::from_secs(60)).await;
    let entries: Vec<Value> = clavis_tests::registry()
        .await
        .into_iter()
        .filter(|e| e["credential_id"] == predecessor.as_str())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["reason"], "superseded");
    assert_eq!(
        get_json(&format!("/v1/credentials/{successor}")).await["status"],
        "active"
    );
}
