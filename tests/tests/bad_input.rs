//! Every bad input gets its problem response and changes nothing: both halves checked.

use clavis_tests::{http, operator_auth, snapshot, stack, url};
use serde_json::Value;

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

#[tokio::test]
async fn bad_client_registrations_get_problems_and_write_nothing() {
    let s = stack();
    for c in cases() {
        let table_before = snapshot(&s.table_name).await;
        let audit_before = snapshot(&s.audit_table_name).await;
        let mut req = http()
            .post(url("/v1/clients"))
            .header("authorization", operator_auth())
            .body(c.body.clone());
        if let Some(ct) = c.content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), c.status, "{}", c.name);
        assert_eq!(
            resp.headers()["content-type"],
            "application/problem+json",
            "{}",
            c.name
        );
        let p: Value = resp.json().await.unwrap();
        assert_eq!(
            p["type"],
            format!("urn:clavis:problem:{}", c.problem),
            "{}",
            c.name
        );
        assert_eq!(p["status"], c.status, "{}", c.name);
        assert_eq!(p["instance"], "/v1/clients", "{}", c.name);
        assert!(
            p["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            c.name
        );
        if c.status == 422 {
            assert!(
                p["errors"].as_array().is_some_and(|e| !e.is_empty()),
                "{}",
                c.name
            );
        }
        assert_eq!(
            snapshot(&s.table_name).await,
            table_before,
            "{} wrote state",
            c.name
        );
        assert_eq!(
            snapshot(&s.audit_table_name).await,
            audit_before,
            "{} wrote audit",
            c.name
        );
    }
}
