//! Test support: the running local cloud as described by its `stack.json`.
//!
//! `make test` starts a local cloud of its own and points `CLAVIS_STACK` at its `stack.json`;
//! without it the tests use the one `make dev` started. No stack → the tests fail and say how
//! to start one: a test that silently skips cannot fail.

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
    /// The bootstrap operator client.
    pub operator_client_id: String,
    /// Its secret.
    pub operator_client_secret: String,
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
    /// The symmetric secrets key.
    pub secrets_key_id: String,
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

/// `Authorization` value of the bootstrap operator.
pub fn operator_auth() -> String {
    basic(&stack().operator_client_id, &stack().operator_client_secret)
}

/// An HTTP Basic `Authorization` value.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// An HTTP client for the API.
pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Every item of a table, sorted, for before/after comparisons.
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
        for item in out.items.unwrap_or_default() {
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

/// Waits (up to 10 s) for a message on `queue_url` whose body satisfies `wanted`, deletes it
/// and returns it. Other messages are left for their own tests.
pub async fn await_message(
    queue_url: &str,
    wanted: impl Fn(&str) -> bool,
) -> aws_sdk_sqs::types::Message {
    let sqs = aws_sdk_sqs::Client::new(&sdk().await);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .visibility_timeout(1)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for m in out.messages.unwrap_or_default() {
            if m.body().is_some_and(&wanted) {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
                return m;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no wanted message on {queue_url} within 10 s"
        );
    }
}
