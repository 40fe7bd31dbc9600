//! Use and access review on the local cloud: a credential's use is written when due (never
//! once per token), the review lists per client its credentials, expiry and last use with the
//! unused and over-privileged flags, bad queries are 400 problems, only administrators and
//! auditors read it, and the scheduled run records itself and announces `Access Review Due`.

use std::time::Duration;

use clavis_tests::{
    basic, get_json, invoke, issue_credential, new_operator, operator_auth, register_client, stack,
    token_request,
};
use serde_json::{Value, json};

use clavis_tests::get_as as get;

async fn token(client_id: &str, secret: &str) {
    let (status, body) =
        token_request(client_id, secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200, "{body}");
}

/// The review entry of `client_id`, paging through the whole review.
async fn reviewed(client_id: &str, authorization: &str) -> Value {
    let mut cursor: Option<String> = None;
    for _ in 0..400 {
        let path = match &cursor {
            Some(c) => format!("/v1/access-review?limit=50&cursor={c}"),
            None => "/v1/access-review?limit=50".to_owned(),
        };
        let (status, page) = get(&path, authorization).await;
        assert_eq!(status, 200, "{page}");
        if let Some(found) = page["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["client_id"] == client_id))
        {
            return found.clone();
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    panic!("{client_id} is not in the review");
}

#[tokio::test]
async fn use_is_written_when_due_and_not_once_per_token() {
    let client_id = register_client("standard", &["use:read"], &["https://use.example"]).await;
    let (credential_id, secret) =
        issue_credential(&client_id, &["use:read"], &["https://use.example"]).await;
    let path = format!("/v1/credentials/{credential_id}");
    assert_eq!(get_json(&path).await["last_used_at"], Value::Null);
    token(&client_id, &secret).await;
    let first = get_json(&path).await["last_used_at"].clone();
    assert!(first.is_string(), "the first use is written: {first}");
    for _ in 0..3 {
        token(&client_id, &secret).await;
    }
    assert_eq!(
        get_json(&path).await["last_used_at"],
        first,
        "within the hour, further tokens write nothing"
    );
}

#[tokio::test]
async fn the_review_shows_last_use_and_flags_what_to_look_at() {
    let client_id = register_client(
        "standard",
        &["rev:read", "rev:write"],
        &["https://rev.example"],
    )
    .await;
    let (credential_id, secret) =
        issue_credential(&client_id, &["rev:read"], &["https://rev.example"]).await;
    token(&client_id, &secret).await;
    let (auditor_id, auditor_secret) = new_operator(&["clavis.auditor"]).await;
    let entry = reviewed(&client_id, &basic(&auditor_id, &auditor_secret)).await;
    assert_eq!(entry["owner"], stack().operator_client_id.as_str());
    assert_eq!(
        entry["credentials"][0]["credential_id"],
        credential_id.as_str()
    );
    assert!(
        entry["credentials"][0]["last_used_at"].is_string(),
        "{entry}"
    );
    assert_eq!(entry["credentials"][0]["unused"], false);
    assert_eq!(entry["unused_scopes"], json!(["rev:write"]));
    assert_eq!(entry["flags"], json!(["over_privileged"]), "{entry}");
}

#[tokio::test]
async fn only_administrators_and_auditors_review_and_bad_queries_are_problems() {
    let (issuer_id, issuer_secret) = new_operator(&["clavis.issuer"]).await;
    let (status, _) = get("/v1/access-review", &basic(&issuer_id, &issuer_secret)).await;
    assert_eq!(status, 403);
    for (query, field) in [
        ("unused_days=0", "unused_days"),
        ("unused_days=366", "unused_days"),
        ("unused_days=x", "unused_days"),
        ("limit=51", "limit"),
        ("cursor=e30", "cursor"),
    ] {
        let (status, problem) = get(&format!("/v1/access-review?{query}"), &operator_auth()).await;
        assert_eq!(status, 400, "{query}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{query}");
    }
}

#[tokio::test]
async fn the_scheduled_review_records_itself_and_announces_what_is_due() {
    let client_id = register_client("standard", &["sched:read"], &["https://sched.example"]).await;
    let out = invoke(
        &clavis_tests::function_name("access-review"),
        &json!({"unused_days": 7}),
    )
    .await;
    assert_eq!(out.function_error, None, "{}", out.body);
    let report = out.body;
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["unused_days"], 7);
    assert!(report["clients"].as_u64().unwrap() >= 2, "{report}");
    assert!(
        report["over_privileged_clients"].as_u64().unwrap() >= 1,
        "{client_id} may carry a scope no credential carries: {report}"
    );
    let event_id = report["event_id"].as_str().unwrap().to_owned();
    let events =
        clavis_tests::subscriber_events(|b| b.contains(&event_id), Duration::from_secs(6)).await;
    assert_eq!(events.len(), 1, "one Access Review Due");
    let detail = &events[0]["detail"];
    assert_eq!(detail["clients"], report["clients"]);
    let chain = clavis_tests::audit_export(&clavis_core::audit::stack_chain().to_string()).await;
    assert!(
        chain
            .iter()
            .any(|r| r.entry.action == "access_review.completed" && r.entry.subject == event_id),
        "the run is in the stack's chain"
    );
    let bad = invoke(
        &clavis_tests::function_name("access-review"),
        &json!({"unused_days": 0}),
    )
    .await;
    assert!(
        bad.function_error.is_some(),
        "a bad window is refused: {}",
        bad.body
    );
}
