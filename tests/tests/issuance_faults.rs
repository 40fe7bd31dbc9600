//! Faults during issuance: a transient one is retried and the request completes; a permanent
//! one ends the request `failed` with a problem, parks the input and error in the workflow DLQ,
//! and leaves no half-issued credential; a pickup whose decrypt fails leaves the secret for a
//! retry. They toggle the shared secrets key, so they run one at a time.

use std::time::Duration;

use clavis_core::ids::{CredentialId, RequestId};
use clavis_tests::{
    audit_export, await_message, credential_request, execution_arn, execution_history_text,
    inject_fault, operator_auth, pickup_secret, register_client, repository, sdk, settled_request,
    stack, state_machine,
};
use serde_json::{Value, json};
use tokio::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::const_new(());

/// Disables the secrets key until dropped (re-enables it even if the test panics).
struct KeyDisabled {
    kms: aws_sdk_kms::Client,
    key: String,
}

impl KeyDisabled {
    async fn new() -> Self {
        let kms = aws_sdk_kms::Client::new(&sdk().await);
        // moto's DisableKey takes the bare key id, not the ARN.
        let key = clavis_aws::kms::key_id_of(&stack().secrets_key_id).to_owned();
        kms.disable_key().key_id(&key).send().await.unwrap();
        Self { kms, key }
    }

    async fn enable(&self) {
        self.kms
            .enable_key()
            .key_id(&self.key)
            .send()
            .await
            .unwrap();
    }
}

impl Drop for KeyDisabled {
    fn drop(&mut self) {
        let (kms, key) = (self.kms.clone(), self.key.clone());
        // Drop cannot await; a blocking thread with its own runtime finishes the call.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Runtime::new() {
                let _ = rt.block_on(kms.enable_key().key_id(key).send());
            }
        })
        .join();
    }
}

async fn start_async_request() -> (String, String) {
    let client_id = register_client("standard", &["a:read"], &["https://a.example"]).await;
    let key = format!("fault-{}", RequestId::generate().ulid());
    let resp = credential_request(
        &client_id,
        Some(&key),
        &json!({"ttl_seconds": 3600, "scopes": ["a:read"], "audiences": ["https://a.example"], "justification": "fault test"}),
    )
    .header("prefer", "respond-async")
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    (client_id, body["request_id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_transient_fault_is_retried_and_the_request_completes() {
    let _serial = SERIAL.lock().await;
    let disabled = KeyDisabled::new().await;
    let (_, request_id) = start_async_request().await;
    // Lift the fault as soon as the mint has failed once.
    let execution = execution_arn(&state_machine("issue"), &request_id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !execution_history_text(&execution)
        .await
        .contains("Clavis.Transient")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the mint never failed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    disabled.enable().await;
    let settled = settled_request(&request_id).await;
    assert_eq!(settled["status"], "completed", "{settled}");
    // The same execution failed, retried and finished: no second run, no failure recorded.
    let history = execution_history_text(&execution).await;
    assert!(
        history.contains("Clavis.Transient.unavailable"),
        "{history}"
    );
    assert!(!history.contains("RecordFailure"), "{history}");
}

#[tokio::test]
async fn a_permanent_fault_fails_the_request_parks_it_and_issues_nothing() {
    let _serial = SERIAL.lock().await;
    let _disabled = KeyDisabled::new().await;
    let (_, request_id) = start_async_request().await;
    let settled = settled_request(&request_id).await;
    assert_eq!(settled["status"], "failed", "{settled}");
    assert_eq!(settled["problem"]["type"], "urn:clavis:problem:unavailable");
    assert_eq!(settled["problem"]["status"], 503);
    assert!(settled.get("credential_id").is_none());

    // The workflow DLQ holds the execution input and the error.
    let letter = await_message(
        stack()
            .queues
            .iter()
            .find(|(n, _)| n.contains("workflow-dlq") || n.contains("WorkflowDlq"))
            .map(|(_, u)| u.as_str())
            .expect("workflow DLQ"),
        |b| b.contains(&request_id),
    )
    .await;
    let letter: Value = serde_json::from_str(letter.body().unwrap()).unwrap();
    assert_eq!(letter["execution_input"]["request_id"], request_id.as_str());
    assert!(
        letter["error"]["Error"]
            .as_str()
            .unwrap()
            .starts_with("Clavis.Transient.")
    );

    // No half-issued credential: none was minted (the key was off), nothing is active.
    let request: RequestId = request_id.parse().unwrap();
    let credential = CredentialId::from_ulid(request.ulid());
    let stored = repository()
        .await
        .get_credential(&credential, true)
        .await
        .unwrap();
    assert!(stored.is_none_or(|c| c.value.status.as_str() == "failed"));
}

#[tokio::test]
async fn a_pickup_whose_decrypt_fails_can_be_retried_and_hands_the_secret_out_once() {
    let _serial = SERIAL.lock().await;
    let (client_id, request_id) = start_async_request().await;
    let settled = settled_request(&request_id).await;
    assert_eq!(settled["status"], "completed", "{settled}");

    // KMS fails this request's decrypt (its encryption context names the request).
    let fault = inject_fault("kms", "Decrypt", &request_id).await;
    let resp = pickup_secret(&request_id, &operator_auth()).await;
    assert_eq!(resp.status(), 503, "{:?}", resp.text().await);
    drop(fault);

    // The copy is still there: the retry gets the secret, and only once.
    let resp = pickup_secret(&request_id, &operator_auth()).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let secret = body["client_secret"].as_str().expect("the secret");
    assert!(secret.starts_with("clv_test_"));
    let resp = pickup_secret(&request_id, &operator_auth()).await;
    assert_eq!(resp.status(), 410);
    let picked: Vec<_> = audit_export(&client_id)
        .await
        .into_iter()
        .filter(|r| r.entry.action == "secret.picked_up")
        .collect();
    assert_eq!(picked.len(), 1, "one pickup recorded");
}
