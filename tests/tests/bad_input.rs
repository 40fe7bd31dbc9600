//! Every bad input gets its problem response and changes nothing: both halves checked.
//!
//! The tests compare whole-table snapshots, so they hold a lock: nothing else in this binary
//! writes while one runs (and cargo runs test binaries one at a time).

use clavis_core::client::ClientStatus;
use clavis_core::ids::ClientId;
use clavis_tests::{
    credential_request, execution_names, http, operator_auth, register_client, repository,
    snapshot, stack, state_machine, url,
};
use serde_json::{Value, json};
use tokio::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::const_new(());

struct Case {
    name: &'static str,
    content_type: Option<&'static str>,
    body: String,
    status: u16,
    problem: &'static str,
}

fn case(name: &'static str, body: &str, status: u16, problem: &'static str) -> Case {
    Case {
        name,
        content_type: Some("application/json"),
        body: body.to_owned(),
        status,
        problem,
    }
}

fn cases() -> Vec<Case> {
    let valid_tail = r#""tier":"standard","allowed_scopes":["a:read"],"allowed_audiences":["https://a.example"]"#;
    vec![
        case("malformed JSON", r#"{"name": "x", "#, 400, "malformed-body"),
        case("not an object", "[1,2]", 422, "invalid-request"),
        case("empty body", "", 400, "malformed-body"),
        case(
            "unknown field",
            &format!(r#"{{"name":"x","environment":"dev",{valid_tail},"owner":"me"}}"#),
            422,
            "invalid-request",
        ),
        case(
            "missing field",
            r#"{"name":"x","environment":"dev","tier":"standard","allowed_scopes":["a"]}"#,
            422,
            "invalid-request",
        ),
        case(
            "bad enum value",
            &format!(r#"{{"name":"x","environment":"qa",{valid_tail}}}"#),
            422,
            "invalid-request",
        ),
        case(
            "wrong type",
            &format!(r#"{{"name":42,"environment":"dev",{valid_tail}}}"#),
            422,
            "invalid-request",
        ),
        case(
            "invalid scope token",
            r#"{"name":"x","environment":"dev","tier":"standard","allowed_scopes":["has space"],"allowed_audiences":["a"]}"#,
            422,
            "invalid-request",
        ),
        case(
            "empty name",
            &format!(r#"{{"name":"","environment":"dev",{valid_tail}}}"#),
            422,
            "invalid-request",
        ),
        case(
            "oversized body",
            &format!(
                r#"{{"name":"{}","environment":"dev",{valid_tail}}}"#,
                "x".repeat(20_000)
            ),
            413,
            "payload-too-large",
        ),
        Case {
            name: "wrong media type",
            content_type: Some("text/plain"),
            body: format!(r#"{{"name":"x","environment":"dev",{valid_tail}}}"#),
            status: 415,
            problem: "unsupported-media-type",
        },
        Case {
            name: "no media type",
            content_type: None,
            body: format!(r#"{{"name":"x","environment":"dev",{valid_tail}}}"#),
            status: 415,
            problem: "unsupported-media-type",
        },
    ]
}

/// Sends `req`, checks it is refused with `status` and problem `code`, and that neither table
/// nor the issue workflow's executions changed. Returns the problem document.
async fn refused_without_effect(
    name: &str,
    req: reqwest::RequestBuilder,
    status: u16,
    code: &str,
) -> Value {
    let s = stack();
    let issue = state_machine("issue");
    let table_before = snapshot(&s.table_name).await;
    let audit_before = snapshot(&s.audit_table_name).await;
    let runs_before = execution_names(&issue).await;
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), status, "{name}");
    assert_eq!(
        resp.headers()["content-type"],
        "application/problem+json",
        "{name}"
    );
    let p: Value = resp.json().await.unwrap();
    assert_eq!(
        p["type"],
        format!("urn:clavis:problem:{code}"),
        "{name}: {p}"
    );
    assert_eq!(p["status"], status, "{name}");
    assert!(
        p["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{name}"
    );
    assert!(
        p["request_id"].as_str().is_some_and(|d| !d.is_empty()),
        "{name}"
    );
    if status == 422 {
        assert!(
            p["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{name}"
        );
    }
    assert_eq!(
        snapshot(&s.table_name).await,
        table_before,
        "{name} wrote state"
    );
    assert_eq!(
        snapshot(&s.audit_table_name).await,
        audit_before,
        "{name} wrote audit"
    );
    assert_eq!(
        execution_names(&issue).await,
        runs_before,
        "{name} started a workflow"
    );
    p
}

#[tokio::test]
async fn bad_client_registrations_get_problems_and_write_nothing() {
    let _serial = SERIAL.lock().await;
    for c in cases() {
        let mut req = http()
            .post(url("/v1/clients"))
            .header("authorization", operator_auth())
            .body(c.body.clone());
        if let Some(ct) = c.content_type {
            req = req.header("content-type", ct);
        }
        let p = refused_without_effect(c.name, req, c.status, c.problem).await;
        assert_eq!(p["instance"], "/v1/clients", "{}", c.name);
    }
}

struct CredentialCase {
    name: &'static str,
    client: String,
    key: Option<String>,
    body: Value,
    status: u16,
    problem: &'static str,
}

#[tokio::test]
async fn bad_credential_requests_get_problems_write_nothing_and_start_nothing() {
    let _serial = SERIAL.lock().await;
    let good = register_client("standard", &["a:read"], &["https://a.example"]).await;
    let revoked = register_client("standard", &["a:read"], &["https://a.example"]).await;
    let revoked_id: ClientId = revoked.parse().unwrap();
    let repo = repository().await;
    let version = repo
        .get_client(&revoked_id, true)
        .await
        .unwrap()
        .unwrap()
        .version;
    repo.set_client_status(
        &revoked_id,
        version,
        ClientStatus::Revoked,
        "tests",
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let valid = json!({"ttl_seconds": 3600, "scopes": ["a:read"], "audiences": ["https://a.example"], "justification": "test"});
    let with = |field: &str, value: Value| {
        let mut b = valid.clone();
        b[field] = value;
        b
    };
    let key = Some("bad-input-key".to_owned());
    let case = |name, client: &str, body: Value, status, problem| CredentialCase {
        name,
        client: client.to_owned(),
        key: key.clone(),
        body,
        status,
        problem,
    };
    let cases = vec![
        case(
            "unknown client",
            &ClientId::generate().to_string(),
            valid.clone(),
            404,
            "not-found",
        ),
        case(
            "malformed client id",
            "cli_nope",
            valid.clone(),
            404,
            "not-found",
        ),
        case("revoked client", &revoked, valid.clone(), 403, "forbidden"),
        case(
            "lifetime above the tier limit",
            &good,
            with("ttl_seconds", json!(91 * 24 * 3600)),
            422,
            "invalid-request",
        ),
        case(
            "lifetime below the minimum",
            &good,
            with("ttl_seconds", json!(10)),
            422,
            "invalid-request",
        ),
        case(
            "scope the client may not have",
            &good,
            with("scopes", json!(["a:read", "admin"])),
            422,
            "invalid-request",
        ),
        case(
            "audience the client may not have",
            &good,
            with("audiences", json!(["https://b.example"])),
            422,
            "invalid-request",
        ),
        case(
            "unknown field",
            &good,
            with("secret", json!("x")),
            422,
            "invalid-request",
        ),
        case(
            "missing field",
            &good,
            json!({"ttl_seconds": 3600, "scopes": ["a:read"]}),
            422,
            "invalid-request",
        ),
        CredentialCase {
            key: None,
            ..case(
                "missing Idempotency-Key",
                &good,
                valid.clone(),
                400,
                "invalid-header",
            )
        },
        CredentialCase {
            key: Some("k".repeat(129)),
            ..case(
                "oversized Idempotency-Key",
                &good,
                valid.clone(),
                400,
                "invalid-header",
            )
        },
        CredentialCase {
            key: Some("has space".into()),
            ..case(
                "Idempotency-Key with a space",
                &good,
                valid.clone(),
                400,
                "invalid-header",
            )
        },
    ];
    for c in cases {
        let req = credential_request(&c.client, c.key.as_deref(), &c.body);
        refused_without_effect(c.name, req, c.status, c.problem).await;
    }
    // A malformed body too (not JSON at all).
    let req = http()
        .post(url(&format!("/v1/clients/{good}/credentials")))
        .header("authorization", operator_auth())
        .header("idempotency-key", "k")
        .header("content-type", "application/json")
        .body("{not json");
    refused_without_effect("malformed body", req, 400, "malformed-body").await;
}
