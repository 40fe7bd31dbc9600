//! Renewal windows on the local cloud: the expiry sweep announces `Credential Expiring` once
//! per credential whose window opened; for a client that rotates automatically it asks for the
//! rotation first (once, however many sweeps overlap), and the client fetches its successor's
//! secret itself, authenticated with the credential being rotated.
//!
//! Time cannot pass faster, so a test opens a credential's renewal window by writing the item as
//! time would have left it (`renew_after` in the past, and its bucket). The tests here run one
//! at a time: they share the sweep's checkpoints.

use std::time::Duration;

use clavis_aws::dynamo::renewal::RENEWAL_BUCKET;
use clavis_tests::{
    audit_export, basic, function_name, get_json, http, invoke, issue_credential, operator_auth,
    register_client, stack, token_request, url, vault,
};
use serde_json::{Value, json};
use time::{OffsetDateTime, Time};
use tokio::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::const_new(());

const SCOPE: &str = "ren:read";
const AUDIENCE: &str = "https://ren.example";

/// Runs the sweep; its report.
async fn sweep() -> Value {
    let event: Value =
        serde_json::from_str(include_str!("../../events/expiry-sweep.json")).unwrap();
    let answer = invoke(&function_name("expiry-sweep"), &event).await;
    assert!(
        answer.function_error.is_none(),
        "sweep failed: {}",
        answer.body
    );
    answer.body
}

/// Opens the credential's renewal window a moment ago, as time would have.
async fn open_renewal_window(credential_id: &str) {
    let now = OffsetDateTime::now_utc();
    let at = (now - time::Duration::seconds(1)).max(now.replace_time(Time::MIDNIGHT));
    clavis_tests::backdate(credential_id, "renew_after", RENEWAL_BUCKET, at).await;
}

/// The `Credential Expiring` events of `credential_id` within a few seconds.
async fn expiring_events(credential_id: &str) -> Vec<Value> {
    clavis_tests::subscriber_events(
        |b| b.contains("Credential Expiring") && b.contains(credential_id),
        Duration::from_secs(6),
    )
    .await
    .iter()
    .map(|e| e["detail"].clone())
    .collect()
}

async fn register_auto_rotating() -> String {
    register_auto_rotating_into(None).await
}

/// An auto-rotating client; with `vault`, its secrets are delivered there.
async fn register_auto_rotating_into(vault: Option<&str>) -> String {
    let mut body = json!({
        "name": "auto-rotating", "environment": "dev", "tier": "standard",
        "allowed_scopes": [SCOPE], "allowed_audiences": [AUDIENCE], "auto_rotate": true,
    });
    if let Some(arn) = vault {
        body["delivery"] = json!({"kind": "aws_secrets_manager", "secret_arn": arn});
    }
    let resp = http()
        .post(url("/v1/clients"))
        .header("authorization", operator_auth())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let client: Value = resp.json().await.unwrap();
    assert_eq!(client["auto_rotate"], true);
    client["client_id"].as_str().unwrap().to_owned()
}

/// `POST /v1/credentials/{id}/successor` as `authorization`.
async fn successor_of(credential_id: &str, authorization: &str) -> (u16, Value) {
    let resp = http()
        .post(url(&format!("/v1/credentials/{credential_id}/successor")))
        .header("authorization", authorization)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_credential_entering_its_renewal_window_is_announced_once() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", &[SCOPE], &[AUDIENCE]).await;
    let (credential_id, _) = issue_credential(&client_id, &[SCOPE], &[AUDIENCE]).await;
    open_renewal_window(&credential_id).await;
    let report = sweep().await;
    assert!(report["renewals"].as_u64().unwrap() >= 1, "{report}");
    let again = sweep().await;
    assert_eq!(again["renewals"], 0, "{again}");
    let events = expiring_events(&credential_id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["rotation_request_id"], Value::Null);
    assert_eq!(events[0]["client_id"], client_id.as_str());
    let chain = audit_export(&client_id).await;
    assert_eq!(
        chain
            .iter()
            .filter(|r| r.entry.action == "credential.expiring")
            .count(),
        1
    );
    let meta = get_json(&format!("/v1/credentials/{credential_id}")).await;
    assert_eq!(meta["status"], "active", "announcing changes nothing else");
}

#[tokio::test]
async fn an_auto_rotating_client_renews_without_a_human() {
    let _serial = SERIAL.lock().await;
    let client_id = register_auto_rotating().await;
    let (predecessor, old_secret) = issue_credential(&client_id, &[SCOPE], &[AUDIENCE]).await;
    open_renewal_window(&predecessor).await;
    // Two sweeps at once (a schedule overlapping a manual run): one rotation.
    let (a, b) = tokio::join!(sweep(), sweep());
    assert_eq!(
        a["rotations"].as_u64().unwrap() + b["rotations"].as_u64().unwrap(),
        1,
        "{a} {b}"
    );
    let events = expiring_events(&predecessor).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let request_id = events[0]["rotation_request_id"]
        .as_str()
        .expect("the rotation asked for")
        .to_owned();
    let settled = clavis_tests::settled_request(&request_id).await;
    assert_eq!(settled["status"], "completed", "{settled}");
    let rotate = &stack().state_machines["rotate"];
    assert!(
        clavis_tests::execution_names(rotate)
            .await
            .contains(&request_id),
        "the rotate execution is named after the request"
    );

    // The machine fetches its successor with the credential it rotates away from, once.
    let (status, fetched) = successor_of(&predecessor, &basic(&client_id, &old_secret)).await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched["credential_id"], settled["credential_id"]);
    let new_secret = fetched["client_secret"].as_str().unwrap().to_owned();
    let (status, _) = successor_of(&predecessor, &basic(&client_id, &old_secret)).await;
    assert_eq!(status, 410, "once");
    let grant = [("grant_type", "client_credentials")];
    assert_eq!(token_request(&client_id, &new_secret, &grant).await.0, 200);
    assert_eq!(
        token_request(&client_id, &old_secret, &grant).await.0,
        200,
        "both work during the overlap"
    );
    let pred = get_json(&format!("/v1/credentials/{predecessor}")).await;
    assert_eq!(pred["rotated_to"], settled["credential_id"]);
}

#[tokio::test]
async fn an_auto_rotating_client_with_a_vault_renews_into_it() {
    let _serial = SERIAL.lock().await;
    let arn = vault::new_secret().await;
    let client_id = register_auto_rotating_into(Some(&arn)).await;
    let resp = clavis_tests::credential_request(
        &client_id,
        Some("vault-renewal"),
        &json!({"ttl_seconds": 3600, "scopes": [SCOPE], "audiences": [AUDIENCE], "justification": "test"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 201);
    let predecessor = resp.json::<Value>().await.unwrap()["credential_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_secret = vault::read(&arn, "AWSCURRENT").await["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    open_renewal_window(&predecessor).await;
    let report = sweep().await;
    assert_eq!(report["rotations"], 1, "{report}");
    let events = expiring_events(&predecessor).await;
    let request_id = events[0]["rotation_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let settled = clavis_tests::settled_request(&request_id).await;
    assert_eq!(settled["status"], "completed", "{settled}");
    let successor = settled["credential_id"].as_str().unwrap();

    // Nobody fetches anything: the vault already offers the successor, and the predecessor
    // as the previous version through the overlap.
    assert_eq!(
        vault::holder(&arn, "AWSCURRENT").await,
        Some(vault::version(successor))
    );
    assert_eq!(
        vault::holder(&arn, "AWSPREVIOUS").await,
        Some(vault::version(&predecessor))
    );
    let (status, problem) = successor_of(&predecessor, &basic(&client_id, &old_secret)).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains(&arn),
        "{problem}"
    );
    let new_secret = vault::read(&arn, "AWSCURRENT").await["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let grant = [("grant_type", "client_credentials")];
    assert_eq!(token_request(&client_id, &new_secret, &grant).await.0, 200);
}

#[tokio::test]
async fn only_the_rotated_credential_fetches_a_successor_of_its_own_rotation() {
    let client_id = register_client("standard", &[SCOPE], &[AUDIENCE]).await;
    let (credential_id, secret) = issue_credential(&client_id, &[SCOPE], &[AUDIENCE]).await;
    let (other_id, other_secret) = issue_credential(&client_id, &[SCOPE], &[AUDIENCE]).await;
    let (status, _) = successor_of(&credential_id, &basic(&client_id, &secret)).await;
    assert_eq!(status, 404, "no successor yet");
    // An operator rotates it and lets the secret wait for its own pickup.
    let resp = http()
        .post(url(&format!("/v1/credentials/{credential_id}/rotate")))
        .header("authorization", operator_auth())
        .header("idempotency-key", format!("op-{other_id}"))
        .header("prefer", "respond-async")
        .json(&json!({"overlap_seconds": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let request_id = resp.json::<Value>().await.unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        clavis_tests::settled_request(&request_id).await["status"],
        "completed"
    );
    let (status, _) = successor_of(&credential_id, &basic(&client_id, &other_secret)).await;
    assert_eq!(status, 403, "another credential of the same client");
    let (status, problem) = successor_of(&credential_id, &basic(&client_id, &secret)).await;
    assert_eq!(
        status, 403,
        "the operator's rotation is the operator's: {problem}"
    );
    let (status, _) = successor_of(&credential_id, "Basic bm9ib2R5Om5vdGhpbmc=").await;
    assert_eq!(status, 401);
}

/// The stored credential item's `attribute`, if it has it.
async fn attribute(credential_id: &str, attribute: &str) -> Option<String> {
    let id: clavis_core::ids::CredentialId = credential_id.parse().unwrap();
    aws_sdk_dynamodb::Client::new(&clavis_tests::sdk().await)
        .get_item()
        .table_name(&stack().table_name)
        .set_key(Some(clavis_aws::dynamo::items::key(
            clavis_aws::dynamo::keys::credential(&id),
        )))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .and_then(|i| clavis_aws::dynamo::items::string(&i, attribute).map(str::to_owned))
}

#[tokio::test]
async fn a_suspended_auto_rotating_client_gets_its_rotation_once_resumed() {
    let _serial = SERIAL.lock().await;
    let client_id = register_auto_rotating().await;
    let (credential_id, _) = issue_credential(&client_id, &[SCOPE], &[AUDIENCE]).await;
    let standing = |action: &'static str| {
        let client_id = client_id.clone();
        async move {
            let resp = http()
                .post(url(&format!("/v1/clients/{client_id}/{action}")))
                .header("authorization", operator_auth())
                .json(&json!({"reason": "renewal test"}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{action}");
        }
    };
    standing("suspend").await;
    open_renewal_window(&credential_id).await;
    let report = sweep().await;
    assert!(report["deferred"].as_u64().unwrap() >= 1, "{report}");
    assert!(
        attribute(&credential_id, RENEWAL_BUCKET).await.is_some(),
        "left in the index while its client is suspended"
    );
    standing("resume").await;
    let report = sweep().await;
    assert!(report["rotations"].as_u64().unwrap() >= 1, "{report}");
    let events = expiring_events(&credential_id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0]["rotation_request_id"].is_string());
}

#[tokio::test]
async fn credentials_from_before_renewal_windows_are_backfilled_but_never_announced_twice() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", &[SCOPE], &[AUDIENCE]).await;
    let (old, _) = issue_credential(&client_id, &[SCOPE], &[AUDIENCE]).await;
    let (announced, _) = issue_credential(&client_id, &[SCOPE], &[AUDIENCE]).await;
    open_renewal_window(&announced).await;
    sweep().await;
    assert!(
        attribute(&announced, "renewal_announced_at")
            .await
            .is_some()
    );
    // As the release before renewal windows left it: an expiry bucket, no renewal bucket.
    let id: clavis_core::ids::CredentialId = old.parse().unwrap();
    aws_sdk_dynamodb::Client::new(&clavis_tests::sdk().await)
        .update_item()
        .table_name(&stack().table_name)
        .set_key(Some(clavis_aws::dynamo::items::key(
            clavis_aws::dynamo::keys::credential(&id),
        )))
        .update_expression("REMOVE #bucket")
        .expression_attribute_names("#bucket", RENEWAL_BUCKET)
        .send()
        .await
        .unwrap();
    let report = clavis_tests::run_stack_script("backfill-indexes");
    assert!(report["renewals_listed"].as_u64().unwrap() >= 1, "{report}");
    assert!(attribute(&old, RENEWAL_BUCKET).await.is_some());
    assert_eq!(
        attribute(&announced, RENEWAL_BUCKET).await,
        None,
        "an announced renewal is not listed again"
    );
}
