//! Test support: the running local cloud as described by its `stack.json`.
//!
//! `make test` starts a local cloud of its own and points `CLAVIS_STACK` at its `stack.json`;
//! without it the tests use the one `make dev` started. No stack → the tests fail and say how
//! to start one: a test that silently skips cannot fail.

pub mod vault;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

/// What the local cloud wrote about itself.
#[derive(Debug, Clone, Deserialize)]
pub struct Stack {
    /// Base URL of the HTTP API.
    pub api_url: String,
    /// The AWS endpoint (moto).
    pub endpoint_url: String,
    /// Region.
    pub region: String,
    /// The stack's `Stage`.
    pub stage: String,
    /// The bootstrap administrator's client (every operator scope).
    pub operator_client_id: String,
    /// Its secret.
    pub operator_client_secret: String,
    /// The bootstrap approver's client (`clavis.approver` only).
    pub approver_client_id: String,
    /// Its secret.
    pub approver_client_secret: String,
    /// The state table.
    pub table_name: String,
    /// The audit table.
    pub audit_table_name: String,
    /// The event bus.
    pub event_bus_name: String,
    /// Queue of the example lifecycle-event subscriber.
    pub subscriber_queue_url: String,
    /// The ES256 signing key.
    pub signing_key_id: String,
    /// The `iss` of access tokens.
    pub issuer: String,
    /// The symmetric secrets key.
    pub secrets_key_id: String,
    /// The ARN prefix of the vault secrets clients may deliver into.
    pub delivery_prefix: String,
    /// State machine ARNs by name.
    pub state_machines: BTreeMap<String, String>,
    /// Queue URLs by name.
    pub queues: BTreeMap<String, String>,
    /// Lambda function name → binary.
    pub functions: BTreeMap<String, String>,
}

/// Where the stack under test described itself: `$CLAVIS_STACK`, else `make dev`'s.
pub fn stack_path() -> PathBuf {
    std::env::var_os("CLAVIS_STACK")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local/dev/stack.json")
        })
}

/// Every log file the stack under test wrote (moto, the bridge, every function), as text.
pub fn stack_logs() -> Vec<(PathBuf, String)> {
    let dir = stack_path().with_file_name("logs");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned();
            (p, text)
        })
        .collect()
}

/// The stack under test, read once.
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let path = stack_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "no local cloud at {} ({e}): run `make test`, or `make dev` first",
                path.display()
            )
        });
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad {}: {e}", path.display()))
    })
}

/// SDK configuration pointing at the local cloud.
pub async fn sdk() -> SdkConfig {
    let s = stack();
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&s.endpoint_url)
        .region(Region::new(s.region.clone()))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "clavis-tests",
        ))
        .load()
        .await
}

/// A repository over the stack's tables.
pub async fn repository() -> clavis_aws::dynamo::Repository {
    let s = stack();
    clavis_aws::dynamo::Repository::new(
        aws_sdk_dynamodb::Client::new(&sdk().await),
        &s.table_name,
        &s.audit_table_name,
    )
}

/// The API URL for `path`.
pub fn url(path: &str) -> String {
    format!("{}{}", stack().api_url.trim_end_matches('/'), path)
}

/// `Authorization` value of a bearer token of the bootstrap operator, narrowed to `scope`
/// and the audience `clavis`.
pub async fn operator_bearer(scope: &str) -> String {
    let (status, answer) = token_request(
        &stack().operator_client_id,
        &stack().operator_client_secret,
        &[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("audience", "clavis"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    format!(
        "Bearer {}",
        answer["access_token"].as_str().unwrap_or_default()
    )
}

/// `Authorization` value of the bootstrap operator.
pub fn operator_auth() -> String {
    basic(&stack().operator_client_id, &stack().operator_client_secret)
}

/// An HTTP Basic `Authorization` value.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// `GET path` as the operator, answered as JSON.
pub async fn get_json(path: &str) -> serde_json::Value {
    http()
        .get(url(path))
        .header("authorization", operator_auth())
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json answer")
}

/// `method path` with `authorization` and no body: the answer, whatever its status.
pub async fn call(method: reqwest::Method, path: &str, authorization: &str) -> reqwest::Response {
    http()
        .request(method, url(path))
        .header("authorization", authorization)
        .send()
        .await
        .expect("request")
}

/// `POST /v1/requests/{request_id}/secret` with `authorization`: the answer, whatever its status.
pub async fn pickup_secret(request_id: &str, authorization: &str) -> reqwest::Response {
    call(
        reqwest::Method::POST,
        &format!("/v1/requests/{request_id}/secret"),
        authorization,
    )
    .await
}

/// The status of `GET /v1/revocations?limit=1` with `authorization`.
pub async fn registry_status(authorization: &str) -> u16 {
    call(
        reqwest::Method::GET,
        "/v1/revocations?limit=1",
        authorization,
    )
    .await
    .status()
    .as_u16()
}

/// A client's audit chain, exported by the bootstrap administrator (`GET /v1/audit`).
pub async fn audit_export(client_id: &str) -> Vec<clavis_core::audit::AuditRecord> {
    let text = call(
        reqwest::Method::GET,
        &format!("/v1/audit?client_id={client_id}"),
        &operator_auth(),
    )
    .await
    .text()
    .await
    .expect("ndjson");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("an audit record"))
        .collect()
}

/// An HTTP client for the API.
pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Every item of a table, sorted, for before/after comparisons. The publisher's own
/// bookkeeping on outbox entries (marking them handed off, asynchronously, moments after
/// they were queued) is left out: it is not a change the request under test made; nor is a
/// credential's `last_used_at`.
pub async fn snapshot(table: &str) -> Vec<String> {
    let db = aws_sdk_dynamodb::Client::new(&sdk().await);
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = db
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for mut item in out.items.unwrap_or_default() {
            item.remove(clavis_aws::dynamo::outbox::PENDING_SHARD);
            item.remove("handed_off_at");
            // Use is an observation written by authentication (at most hourly), not a change
            // a request makes: the caller's own credential may record it on any call.
            item.remove("last_used_at");
            items.push(canonical_map(&item));
        }
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    items.sort();
    items
}

/// A map of attributes printed with its keys sorted, at every depth (DynamoDB maps are
/// unordered, so `Debug` of the SDK's `HashMap` is not stable).
fn canonical_map(map: &std::collections::HashMap<String, AttributeValue>) -> String {
    let sorted: BTreeMap<_, _> = map.iter().map(|(k, v)| (k, canonical(v))).collect();
    format!("{sorted:?}")
}

fn canonical(value: &AttributeValue) -> String {
    match value {
        AttributeValue::M(m) => canonical_map(m),
        AttributeValue::L(l) => format!("{:?}", l.iter().map(canonical).collect::<Vec<_>>()),
        other => format!("{other:?}"),
    }
}

/// Invokes a function through the local cloud's Lambda API (and so through its bridge).
pub async fn invoke(function_name: &str, payload: &serde_json::Value) -> Invocation {
    let url = format!(
        "{}/2015-03-31/functions/{function_name}/invocations",
        stack().endpoint_url
    );
    let resp = http().post(url).json(payload).send().await.expect("invoke");
    let function_error = resp
        .headers()
        .get("x-amz-function-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    Invocation {
        status,
        function_error,
        body,
    }
}

/// The answer of a Lambda Invoke.
#[derive(Debug)]
pub struct Invocation {
    /// HTTP status of the Invoke call.
    pub status: u16,
    /// `x-amz-function-error`, if the function failed.
    pub function_error: Option<String>,
    /// The function's answer (or its error document).
    pub body: serde_json::Value,
}

/// The Lambda function name serving `binary`.
pub fn function_name(binary: &str) -> String {
    stack()
        .functions
        .iter()
        .find(|(_, bin)| bin.as_str() == binary)
        .map(|(name, _)| name.clone())
        .unwrap_or_else(|| panic!("no function serves {binary}"))
}

/// Registers a client through the API and returns its id.
pub async fn register_client(tier: &str, scopes: &[&str], audiences: &[&str]) -> String {
    let resp = http()
        .post(url("/v1/clients"))
        .header("authorization", operator_auth())
        .json(&serde_json::json!({
            "name": "test-client",
            "environment": "dev",
            "tier": tier,
            "allowed_scopes": scopes,
            "allowed_audiences": audiences,
        }))
        .send()
        .await
        .expect("register");
    assert_eq!(resp.status(), 201, "registering a test client");
    let body: serde_json::Value = resp.json().await.expect("client json");
    body["client_id"].as_str().expect("client_id").to_owned()
}

/// `POST /v1/clients/{client_id}/credentials` as the operator.
pub fn credential_request(
    client_id: &str,
    idempotency_key: Option<&str>,
    body: &serde_json::Value,
) -> reqwest::RequestBuilder {
    let mut req = http()
        .post(url(&format!("/v1/clients/{client_id}/credentials")))
        .header("authorization", operator_auth())
        .json(body);
    if let Some(key) = idempotency_key {
        req = req.header("idempotency-key", key);
    }
    req
}

/// The ARN of the state machine whose logical id or name contains `part`.
pub fn state_machine(part: &str) -> String {
    stack()
        .state_machines
        .iter()
        .find(|(name, _)| name.to_lowercase().contains(&part.to_lowercase()))
        .map(|(_, arn)| arn.clone())
        .unwrap_or_else(|| panic!("no state machine like {part}"))
}

/// Names of every execution of `state_machine_arn`.
pub async fn execution_names(state_machine_arn: &str) -> Vec<String> {
    let sfn = aws_sdk_sfn::Client::new(&sdk().await);
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let out = sfn
            .list_executions()
            .state_machine_arn(state_machine_arn)
            .set_next_token(token)
            .send()
            .await
            .expect("list executions");
        names.extend(out.executions().iter().map(|e| e.name().to_owned()));
        match out.next_token {
            Some(t) => token = Some(t),
            None => return names,
        }
    }
}

/// `POST /v1/approvals/{approval_id}/approve` as the bootstrap approver; the answer's status
/// and body.
pub async fn approve_as_approver(approval_id: &str, reason: &str) -> (u16, serde_json::Value) {
    let resp = http()
        .post(url(&format!("/v1/approvals/{approval_id}/approve")))
        .header(
            "authorization",
            basic(&stack().approver_client_id, &stack().approver_client_secret),
        )
        .json(&serde_json::json!({"reason": reason}))
        .send()
        .await
        .expect("approve");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// Polls the request until it is final, and has the bootstrap approver approve it if it is
/// held for approval on the way.
pub async fn settled_approving(request_id: &str) -> serde_json::Value {
    let held = settled_or_held(request_id).await;
    if held["status"] == "pending_approval" {
        let approval_id = held["approval_id"].as_str().expect("approval_id");
        let (status, answer) = approve_as_approver(approval_id, "test fixture").await;
        assert_eq!(status, 200, "the bootstrap approver approves: {answer}");
    }
    settled_request(request_id).await
}

/// Polls `GET /v1/requests/{id}` until the request is final or held for approval (at most
/// 30 s).
pub async fn settled_or_held(request_id: &str) -> serde_json::Value {
    poll_request(
        request_id,
        &["completed", "failed", "denied", "pending_approval"],
    )
    .await
}

/// Polls `GET /v1/requests/{id}` until the request is final (at most 30 s).
pub async fn settled_request(request_id: &str) -> serde_json::Value {
    poll_request(request_id, &["completed", "failed", "denied"]).await
}

/// Polls `GET /v1/requests/{id}` until its status is one of `wanted` (at most 30 s).
async fn poll_request(request_id: &str, wanted: &[&str]) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let body: serde_json::Value = http()
            .get(url(&format!("/v1/requests/{request_id}")))
            .header("authorization", operator_auth())
            .send()
            .await
            .expect("get request")
            .json()
            .await
            .expect("request json");
        let status = body["status"].as_str().unwrap_or_default();
        if wanted.contains(&status) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "request {request_id} still {status} after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Messages this test process received, by queue, not yet claimed by a test. Every receive
/// deletes what it got and parks it here, so concurrent tests never bump each other's receive
/// counts (which would redrive their messages to a DLQ).
static INBOX: std::sync::Mutex<Vec<(String, aws_sdk_sqs::types::Message)>> =
    std::sync::Mutex::new(Vec::new());

fn claim(queue_url: &str, wanted: &dyn Fn(&str) -> bool) -> Vec<aws_sdk_sqs::types::Message> {
    let mut inbox = INBOX.lock().unwrap_or_else(|e| e.into_inner());
    let (mine, rest): (Vec<_>, Vec<_>) = inbox
        .drain(..)
        .partition(|(q, m)| q == queue_url && m.body().is_some_and(wanted));
    *inbox = rest;
    mine.into_iter().map(|(_, m)| m).collect()
}

async fn drain_once(queue_url: &str) {
    let sqs = aws_sdk_sqs::Client::new(&sdk().await);
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    for m in out.messages.unwrap_or_default() {
        sqs.delete_message()
            .queue_url(queue_url)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .send()
            .await
            .expect("delete");
        INBOX
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((queue_url.to_owned(), m));
    }
}

/// Waits (up to 10 s) for a message on `queue_url` whose body satisfies `wanted`.
pub async fn await_message(
    queue_url: &str,
    wanted: impl Fn(&str) -> bool,
) -> aws_sdk_sqs::types::Message {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(m) = claim(queue_url, &wanted).into_iter().next() {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no wanted message on {queue_url} within 10 s"
        );
        drain_once(queue_url).await;
    }
}

/// Every message on `queue_url` whose body satisfies `wanted` that arrives within `window`.
pub async fn collect_messages(
    queue_url: &str,
    wanted: impl Fn(&str) -> bool,
    window: std::time::Duration,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + window;
    let mut bodies = Vec::new();
    loop {
        bodies.extend(
            claim(queue_url, &wanted)
                .into_iter()
                .map(|m| m.body().unwrap_or_default().to_owned()),
        );
        if tokio::time::Instant::now() >= deadline {
            return bodies;
        }
        drain_once(queue_url).await;
    }
}

/// Every event of one execution's history, as text (for searching it for secrets).
pub async fn execution_history_text(execution_arn: &str) -> String {
    let sfn = aws_sdk_sfn::Client::new(&sdk().await);
    let mut text = String::new();
    let mut token = None;
    loop {
        let out = sfn
            .get_execution_history()
            .execution_arn(execution_arn)
            .set_next_token(token)
            .send()
            .await
            .expect("history");
        for e in out.events() {
            // The SDK's Debug redacts inputs, outputs, errors and causes (they are marked
            // sensitive), so every payload field is read out explicitly.
            let fields = [
                e.execution_started_event_details().and_then(|d| d.input()),
                e.execution_succeeded_event_details()
                    .and_then(|d| d.output()),
                e.execution_failed_event_details().and_then(|d| d.error()),
                e.execution_failed_event_details().and_then(|d| d.cause()),
                e.state_entered_event_details().and_then(|d| d.input()),
                e.state_entered_event_details().map(|d| d.name()),
                e.state_exited_event_details().and_then(|d| d.output()),
                e.task_scheduled_event_details().map(|d| d.parameters()),
                e.task_succeeded_event_details().and_then(|d| d.output()),
                e.task_failed_event_details().and_then(|d| d.error()),
                e.task_failed_event_details().and_then(|d| d.cause()),
                e.lambda_function_scheduled_event_details()
                    .and_then(|d| d.input()),
                e.lambda_function_succeeded_event_details()
                    .and_then(|d| d.output()),
                e.lambda_function_failed_event_details()
                    .and_then(|d| d.error()),
                e.lambda_function_failed_event_details()
                    .and_then(|d| d.cause()),
            ];
            text.push_str(&format!("{:?}", e.r#type()));
            for field in fields.into_iter().flatten() {
                text.push(' ');
                text.push_str(field);
            }
            text.push('\n');
        }
        match out.next_token {
            Some(t) => token = Some(t),
            None => return text,
        }
    }
}

/// The execution ARN of execution `name` of `state_machine_arn`.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    clavis_aws::workflows::execution_arn(state_machine_arn, name)
}

/// Issues a credential for `client_id` through the API; returns its id and secret.
pub async fn issue_credential(
    client_id: &str,
    scopes: &[&str],
    audiences: &[&str],
) -> (String, String) {
    let key = format!("issue-{}", clavis_core::ids::RequestId::generate().ulid());
    let resp = credential_request(
        client_id,
        Some(&key),
        &serde_json::json!({
            "ttl_seconds": 3600,
            "scopes": scopes,
            "audiences": audiences,
            "justification": "test",
        }),
    )
    .send()
    .await
    .expect("issue");
    let status = resp.status().as_u16();
    let mut body: serde_json::Value = resp.json().await.expect("issued json");
    if status == 202 {
        // Held for approval (privileged clients, operator scopes: the bootstrap approver
        // releases it), or slower than the API's wait (a loaded machine): wait here, then pick
        // the secret up.
        let request_id = body["request_id"].as_str().expect("request_id").to_owned();
        let settled = settled_approving(&request_id).await;
        assert_eq!(settled["status"], "completed", "issuing a test credential");
        body = pickup_secret(&request_id, &operator_auth())
            .await
            .json()
            .await
            .expect("pickup json");
    } else {
        assert_eq!(status, 201, "issuing a test credential: {body}");
    }
    (
        body["credential_id"]
            .as_str()
            .expect("credential_id")
            .to_owned(),
        body["client_secret"]
            .as_str()
            .expect("client_secret")
            .to_owned(),
    )
}

/// A new operator: a privileged client allowed `scopes` for the audience `clavis`, registered
/// by the bootstrap administrator, with a credential it issued; returns its id and secret.
pub async fn new_operator(scopes: &[&str]) -> (String, String) {
    let client_id = register_client("privileged", scopes, &["clavis"]).await;
    let (_, secret) = issue_credential(&client_id, scopes, &["clavis"]).await;
    (client_id, secret)
}

/// Issues `n` credentials of `client_id`, at most 8 at a time; their ids and secrets.
pub async fn issue_credentials(
    client_id: &str,
    n: usize,
    scopes: &'static [&'static str],
    audiences: &'static [&'static str],
) -> Vec<(String, String)> {
    let mut issued = Vec::with_capacity(n);
    let all: Vec<usize> = (0..n).collect();
    for chunk in all.chunks(8) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|_| {
                let client_id = client_id.to_owned();
                tokio::spawn(async move { issue_credential(&client_id, scopes, audiences).await })
            })
            .collect();
        for handle in handles {
            issued.push(handle.await.expect("issuing task"));
        }
    }
    issued
}

/// `POST /oauth2/introspect` of `token` as the operator.
pub async fn introspect(token: &str) -> serde_json::Value {
    let form = format!("token={}", token);
    http()
        .post(url("/oauth2/introspect"))
        .header("authorization", operator_auth())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("introspect")
        .json()
        .await
        .expect("introspection json")
}

/// `POST /v1/credentials/{id}/revoke` as the operator.
pub fn revoke_request(credential_id: &str, reason: &str) -> reqwest::RequestBuilder {
    http()
        .post(url(&format!("/v1/credentials/{credential_id}/revoke")))
        .header("authorization", operator_auth())
        .json(&serde_json::json!({ "reason": reason }))
}

/// The whole revocation registry, paged through `GET /v1/revocations`.
pub async fn registry() -> Vec<serde_json::Value> {
    let mut items = Vec::new();
    let mut since = 0u64;
    loop {
        let (status, page) = registry_page(since).await;
        assert_eq!(status, 200, "registry page since {since}: {page}");
        items.extend(page["items"].as_array().cloned().expect("a page's items"));
        match page["next"].as_u64() {
            Some(next) => since = next,
            None => return items,
        }
    }
}

/// One registry page. A 500 that is not the api's (`cargo lambda watch` answers with its own
/// problem type when it loses an invocation; the api never logged the request) is asked once
/// more, a second later: twice in CI, a registry page got that answer while the api served
/// every other request.
async fn registry_page(since: u64) -> (reqwest::StatusCode, serde_json::Value) {
    let fetch = || async {
        let resp = http()
            .get(url(&format!("/v1/revocations?since={since}&limit=1000")))
            .header("authorization", operator_auth())
            .send()
            .await
            .expect("registry");
        let status = resp.status();
        let page: serde_json::Value = resp.json().await.expect("registry json");
        (status, page)
    };
    let (status, page) = fetch().await;
    if status != 500 || page["type"] != "https://httpstatuses.com/500" {
        return (status, page);
    }
    eprintln!("registry page since {since}: the local cloud answered {page}; asking again");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    fetch().await
}

/// `POST /v1/clients/{id}/revoke` as the operator.
pub fn revoke_client_request(client_id: &str, reason: &str) -> reqwest::RequestBuilder {
    http()
        .post(url(&format!("/v1/clients/{client_id}/revoke")))
        .header("authorization", operator_auth())
        .json(&serde_json::json!({ "reason": reason }))
}

/// Runs the `replay` function with `payload` and answers its report.
pub async fn replay(payload: serde_json::Value) -> serde_json::Value {
    let answer = invoke(&function_name("replay"), &payload).await;
    assert!(
        answer.function_error.is_none(),
        "replay failed: {}",
        answer.body
    );
    answer.body
}

/// Waits (up to `within`) until execution `name` of `state_machine_arn` has closed; answers
/// its status (`SUCCEEDED`, `FAILED`…).
pub async fn closed_execution(
    state_machine_arn: &str,
    name: &str,
    within: std::time::Duration,
) -> String {
    let sfn = aws_sdk_sfn::Client::new(&sdk().await);
    let arn = execution_arn(state_machine_arn, name);
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(out) = sfn.describe_execution().execution_arn(&arn).send().await {
            let status = out.status().as_str().to_owned();
            if status != "RUNNING" {
                return status;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "execution {name} did not close within {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// An injected fault of the local cloud (`infra/local/moto_faults.py`): matching AWS calls
/// fail until this is dropped (also when the test panics).
pub struct Fault {
    id: String,
}

/// Makes `service`'s `action` calls whose body contains `matching` fail with a 503.
pub async fn inject_fault(service: &str, action: &str, matching: &str) -> Fault {
    inject_fault_rule(serde_json::json!({"service": service, "action": action, "match": matching}))
        .await
}

/// Injects a fault rule as the local cloud takes it (`infra/local/faulting/rules.py`: error,
/// status, count, a transaction's cancellation reasons, ...).
pub async fn inject_fault_rule(rule: serde_json::Value) -> Fault {
    let rule: serde_json::Value = http()
        .post(format!("{}/_clavis/faults", stack().endpoint_url))
        .json(&rule)
        .send()
        .await
        .expect("inject fault")
        .json()
        .await
        .expect("fault json");
    Fault {
        id: rule["id"].as_str().expect("fault id").to_owned(),
    }
}

impl Fault {
    /// How many calls the fault has failed so far.
    pub async fn hits(&self) -> u64 {
        let rule: serde_json::Value = http()
            .get(format!(
                "{}/_clavis/faults/{}",
                stack().endpoint_url,
                self.id
            ))
            .send()
            .await
            .expect("fault rule")
            .json()
            .await
            .expect("fault json");
        rule["hits"].as_u64().expect("hits")
    }
}

impl Drop for Fault {
    fn drop(&mut self) {
        // Drop cannot await: one plain HTTP/1.1 DELETE over a blocking socket.
        use std::io::{Read, Write};
        let host = stack()
            .endpoint_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        if let Ok(mut socket) = std::net::TcpStream::connect(&host) {
            let request = format!(
                "DELETE /_clavis/faults/{} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.id
            );
            let _ = socket.write_all(request.as_bytes());
            let _ = socket.read_to_end(&mut Vec::new());
        }
    }
}

/// Visible messages on `queue_url` (approximate, as SQS counts).
pub async fn queue_depth(queue_url: &str) -> u64 {
    let sqs = aws_sdk_sqs::Client::new(&sdk().await);
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("queue attributes");
    out.attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `POST /oauth2/token` with `form`, authenticated by HTTP Basic as `client_id:secret`.
pub async fn token_request(
    client_id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let resp = http()
        .post(url("/oauth2/token"))
        .header("authorization", basic(client_id, secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded_form(form))
        .send()
        .await
        .expect("token request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub fn serde_urlencoded_form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("form pairs encode")
}

/// Asserts that `answer` is a problem with `status` whose `detail` names `needle`.
pub fn assert_refused(answer: &(u16, serde_json::Value), status: u16, needle: &str) {
    let (got, problem) = answer;
    assert_eq!(*got, status, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains(needle)),
        "the problem should name {needle}: {problem}"
    );
}

/// The rows of `table` that mention `id`: what to compare when other tests write concurrently.
pub async fn rows_mentioning(table: &str, id: &str) -> Vec<String> {
    snapshot(table)
        .await
        .into_iter()
        .filter(|row| row.contains(id))
        .collect()
}

/// Runs `scripts/<name>` against the stack under test and answers its JSON report.
pub fn run_stack_script(name: &str) -> serde_json::Value {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = std::process::Command::new(format!("{root}/.local/venv/bin/python"))
        .arg(format!("{root}/scripts/{name}"))
        .args(["--stack", stack_path().to_str().expect("a UTF-8 path")])
        .output()
        .expect("the script runs");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

/// `GET path` as `authorization`: the status and the JSON body (`Null` if none).
pub async fn get_as(path: &str, authorization: &str) -> (u16, serde_json::Value) {
    let resp = http()
        .get(url(path))
        .header("authorization", authorization)
        .send()
        .await
        .expect("get");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// The lifecycle events (EventBridge envelopes) on the subscriber queue whose body satisfies
/// `wanted` within `window`, once per `event_id`, as a subscriber sees them after the dedupe
/// the contract asks of it: delivery is at least once (a retried stream batch, a replay or the
/// reconciler may put an event again, always with its `event_id`).
pub async fn subscriber_events(
    wanted: impl Fn(&str) -> bool,
    window: std::time::Duration,
) -> Vec<serde_json::Value> {
    let mut seen = std::collections::BTreeSet::new();
    collect_messages(&stack().subscriber_queue_url, wanted, window)
        .await
        .iter()
        .map(|b| serde_json::from_str::<serde_json::Value>(b).expect("an event envelope"))
        .filter(|e| seen.insert(e["detail"]["event_id"].to_string()))
        .collect()
}

/// Leaves an active credential as time would have: its time `attribute` (`expires_at`,
/// `renew_after`) at `at`, and in `at`'s day of the sparse index whose bucket is `bucket`.
pub async fn backdate(
    credential_id: &str,
    attribute: &str,
    bucket: &str,
    at: time::OffsetDateTime,
) {
    let id: clavis_core::ids::CredentialId = credential_id.parse().expect("a credential id");
    aws_sdk_dynamodb::Client::new(&sdk().await)
        .update_item()
        .table_name(&stack().table_name)
        .set_key(Some(clavis_aws::dynamo::items::key(
            clavis_aws::dynamo::keys::credential(&id),
        )))
        .update_expression("SET #at = :at, #bucket = :bucket")
        .condition_expression("#status = :active")
        .expression_attribute_names("#at", attribute)
        .expression_attribute_names("#bucket", bucket)
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(
            ":at",
            AttributeValue::S(clavis_aws::dynamo::items::timestamp(at).expect("a time")),
        )
        .expression_attribute_values(
            ":bucket",
            AttributeValue::S(clavis_core::expiry::bucket_of(at)),
        )
        .expression_attribute_values(":active", AttributeValue::S("active".into()))
        .send()
        .await
        .expect("backdate");
}
