//! `openapi.yaml` against what the API really answers: each route's answers, successes and
//! problems, are validated against the response schema the spec declares for their status, so
//! the spec cannot drift from the code (the router's test only checks the set of routes).

use std::sync::OnceLock;

use clavis_tests::{basic, http, operator_auth, register_client, stack, url};
use serde_json::{Value, json};

/// The spec as JSON.
fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = include_str!("../../openapi.yaml");
        serde_yaml_ng::from_str(text).expect("openapi.yaml parses")
    })
}

/// The schema of the answer `status` of `method path_template`, with the spec's components
/// beside it so its `#/components/...` references resolve.
fn response_schema(path_template: &str, method: &str, status: u16) -> Value {
    let op = &spec()["paths"][path_template][method];
    assert!(
        op.is_object(),
        "openapi.yaml has no {method} {path_template}"
    );
    let mut response = &op["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "openapi.yaml declares no {status} for {method} {path_template}"
    );
    if let Some(reference) = response["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/responses/");
        response = &spec()["components"]["responses"][name];
    }
    let content = response["content"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path_template} {status} declares no content"));
    let schema = content
        .values()
        .next()
        .map(|media| media["schema"].clone())
        .expect("a media type with a schema");
    let mut root = json!({ "allOf": [schema] });
    root["components"] = spec()["components"].clone();
    root
}

/// Asserts that `answer` is what the spec says `method path_template` answers with `status`.
fn conforms(path_template: &str, method: &str, status: u16, answer: &Value) {
    let schema = response_schema(path_template, method, status);
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("the schema of {method} {path_template} {status}: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(answer)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path_template} answered {status} unlike openapi.yaml:\n  {}\nanswer: {answer}",
        errors.join("\n  ")
    );
}

/// Sends a request as the operator; answers its status and JSON body.
async fn send(method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = http()
        .request(method, url(path))
        .header("authorization", operator_auth());
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Sends, checks the status, and checks the answer against the spec.
async fn check(
    method: reqwest::Method,
    path: &str,
    template: &str,
    body: Option<Value>,
    expected: &[u16],
) -> (u16, Value) {
    let verb = method.as_str().to_lowercase();
    let (status, answer) = send(method, path, body).await;
    assert!(
        expected.contains(&status),
        "{verb} {path}: {status} {answer}"
    );
    conforms(template, &verb, status, &answer);
    (status, answer)
}

#[tokio::test]
async fn the_client_and_credential_routes_answer_as_the_spec_says() {
    use reqwest::Method;
    let name = format!("spec-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let (_, client) = check(
        Method::POST,
        "/v1/clients",
        "/v1/clients",
        Some(json!({
            "name": name, "environment": "dev", "tier": "standard",
            "allowed_scopes": ["billing:read"], "allowed_audiences": ["https://billing.example.com"],
        })),
        &[201],
    )
    .await;
    let client_id = client["client_id"].as_str().expect("client_id").to_owned();
    let one = "/v1/clients/{client_id}";
    check(
        Method::GET,
        &format!("/v1/clients/{client_id}"),
        one,
        None,
        &[200],
    )
    .await;
    let (_, updated) = check(
        Method::PATCH,
        &format!("/v1/clients/{client_id}"),
        one,
        Some(json!({"reason": "spec", "name": format!("{name}-2"), "auto_rotate": true})),
        &[200],
    )
    .await;
    assert_eq!(updated["auto_rotate"], true);
    check(
        Method::PATCH,
        &format!("/v1/clients/{client_id}"),
        one,
        Some(json!({"reason": "spec", "environment": "prod"})),
        &[422],
    )
    .await;
    check(
        Method::GET,
        "/v1/clients?limit=5",
        "/v1/clients",
        None,
        &[200],
    )
    .await;

    let issue = "/v1/clients/{client_id}/credentials";
    let (status, issued) = http()
        .post(url(&format!("/v1/clients/{client_id}/credentials")))
        .header("authorization", operator_auth())
        .header("idempotency-key", format!("spec-{name}"))
        .json(&json!({
            "ttl_seconds": 3600, "scopes": ["billing:read"],
            "audiences": ["https://billing.example.com"], "justification": "spec",
        }))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .expect("issue");
    let issued: Value = issued.json().await.expect("issued json");
    assert!(status == 201 || status == 202, "{status} {issued}");
    conforms(issue, "post", status, &issued);
    let request_id = issued["request_id"]
        .as_str()
        .expect("request_id")
        .to_owned();
    let settled = clavis_tests::settled_request(&request_id).await;
    conforms("/v1/requests/{request_id}", "get", 200, &settled);
    let credential_id = settled["credential_id"]
        .as_str()
        .expect("credential_id")
        .to_owned();

    check(
        Method::GET,
        &format!("/v1/credentials/{credential_id}"),
        "/v1/credentials/{credential_id}",
        None,
        &[200],
    )
    .await;
    check(
        Method::GET,
        &format!("/v1/clients/{client_id}/credentials"),
        issue,
        None,
        &[200],
    )
    .await;
    for standing in ["suspend", "resume"] {
        check(
            Method::POST,
            &format!("/v1/clients/{client_id}/{standing}"),
            &format!("/v1/clients/{{client_id}}/{standing}"),
            Some(json!({"reason": "spec"})),
            &[200],
        )
        .await;
    }
    let (_, revoked) = check(
        Method::POST,
        &format!("/v1/credentials/{credential_id}/revoke"),
        "/v1/credentials/{credential_id}/revoke",
        Some(json!({"reason": "operator_request"})),
        &[200],
    )
    .await;
    let since = revoked["seq"].as_u64().expect("seq") - 1;
    check(
        Method::GET,
        &format!("/v1/revocations?since={since}&limit=1"),
        "/v1/revocations",
        None,
        &[200],
    )
    .await;
    check(
        Method::GET,
        "/v1/revocations/snapshot?limit=2",
        "/v1/revocations/snapshot",
        None,
        &[200],
    )
    .await;
    check(
        Method::POST,
        &format!("/v1/clients/{client_id}/revoke"),
        "/v1/clients/{client_id}/revoke",
        Some(json!({"reason": "operator_request"})),
        &[200, 202],
    )
    .await;
    check(Method::GET, "/v1/approvals", "/v1/approvals", None, &[200]).await;
    check(
        Method::GET,
        "/v1/access-review?limit=5",
        "/v1/access-review",
        None,
        &[200],
    )
    .await;
}

#[tokio::test]
async fn problems_answer_as_the_spec_says() {
    use reqwest::Method;
    // 404: an unknown client.
    check(
        Method::GET,
        "/v1/clients/cli_00000000000000000000000001",
        "/v1/clients/{client_id}",
        None,
        &[404],
    )
    .await;
    // 422: a body with an unknown field.
    check(
        Method::POST,
        "/v1/clients",
        "/v1/clients",
        Some(json!({"name": "x", "oops": 1})),
        &[422],
    )
    .await;
    // 401: no credentials at all.
    let resp = http()
        .get(url("/v1/clients"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 401);
    conforms(
        "/v1/clients",
        "get",
        401,
        &resp.json().await.expect("problem json"),
    );
    // 409: suspending a revoked client.
    let client_id = register_client(
        "standard",
        &["billing:read"],
        &["https://billing.example.com"],
    )
    .await;
    check(
        Method::POST,
        &format!("/v1/clients/{client_id}/revoke"),
        "/v1/clients/{client_id}/revoke",
        Some(json!({"reason": "operator_request"})),
        &[200, 202],
    )
    .await;
    check(
        Method::POST,
        &format!("/v1/clients/{client_id}/suspend"),
        "/v1/clients/{client_id}/suspend",
        Some(json!({"reason": "spec"})),
        &[409],
    )
    .await;
}

#[tokio::test]
async fn the_operations_routes_answer_as_the_spec_says() {
    use reqwest::Method;
    check(Method::GET, "/v1/status", "/v1/status", None, &[200]).await;
    check(
        Method::POST,
        "/v1/replays",
        "/v1/replays",
        Some(json!({"max_messages": 0})),
        &[422],
    )
    .await;
    check(
        Method::GET,
        "/v1/replays/rpl_01KBZ3F9A1B2C3D4E5F6G7H8J9",
        "/v1/replays/{replay_id}",
        None,
        &[404],
    )
    .await;
}

#[tokio::test]
async fn the_oauth_and_discovery_routes_answer_as_the_spec_says() {
    let form = |pairs: &[(&str, &str)]| clavis_tests::serde_urlencoded_form(pairs);
    let stack = stack();
    let token = http()
        .post(url("/oauth2/token"))
        .header(
            "authorization",
            basic(&stack.operator_client_id, &stack.operator_client_secret),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "client_credentials"),
            ("audience", "clavis"),
        ]))
        .send()
        .await
        .expect("token");
    assert_eq!(token.status().as_u16(), 200);
    let token: Value = token.json().await.expect("token json");
    conforms("/oauth2/token", "post", 200, &token);
    let refused = http()
        .post(url("/oauth2/token"))
        .header(
            "authorization",
            basic(&stack.operator_client_id, "clv_test_wrong"),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("grant_type", "client_credentials")]))
        .send()
        .await
        .expect("token");
    let status = refused.status().as_u16();
    conforms(
        "/oauth2/token",
        "post",
        status,
        &refused.json().await.expect("error json"),
    );

    let access_token = token["access_token"].as_str().expect("access_token");
    let introspected = http()
        .post(url("/oauth2/introspect"))
        .header("authorization", operator_auth())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", access_token)]))
        .send()
        .await
        .expect("introspect");
    assert_eq!(introspected.status().as_u16(), 200);
    conforms(
        "/oauth2/introspect",
        "post",
        200,
        &introspected.json().await.expect("json"),
    );

    for path in [
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
        "/healthz",
    ] {
        let resp = http().get(url(path)).send().await.expect("get");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        conforms(path, "get", 200, &resp.json().await.expect("json"));
    }
}

#[test]
#[should_panic(expected = "unlike openapi.yaml")]
fn an_answer_unlike_the_spec_is_caught() {
    // A client without its required fields and with a number for an id.
    conforms(
        "/v1/clients/{client_id}",
        "get",
        200,
        &json!({"client_id": 5}),
    );
}

#[test]
#[should_panic(expected = "declares no 418")]
fn a_status_the_spec_does_not_declare_is_caught() {
    conforms("/v1/clients/{client_id}", "get", 418, &json!({}));
}
