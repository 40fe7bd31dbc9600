//! The reaper on the local cloud: a request must settle. One whose workflow never started is
//! started under its own name (so the queued start replay makes later does nothing); one whose
//! execution ended without recording it (its `RecordFailure` failed too, which parks the input
//! as an unrecorded dead letter) is failed as the reaper's, parked, and completed by replay.
//! Both run one at a time with the replay tests' queues in mind: they drain the shared DLQs.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use clavis_tests::{
    audit_export, closed_execution, credential_request, execution_names, function_name, get_json,
    inject_fault, invoke, register_client, replay, run_stack_script, sdk, settled_request, stack,
};
use serde_json::{Value, json};
use tokio::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::const_new(());

const SCOPE: &str = "reap:read";
const AUDIENCE: &str = "https://reap.example";

/// Runs the reaper over every unsettled request, however young; its report.
async fn reap() -> Value {
    let answer = invoke(
        &function_name("reap-requests"),
        &json!({"older_than_seconds": 0}),
    )
    .await;
    assert!(
        answer.function_error.is_none(),
        "reaper failed: {}",
        answer.body
    );
    answer.body
}

/// A request whose workflow start Step Functions refused (queued on the intake queue): its id.
async fn queued_request() -> (String, String) {
    let client_id = register_client("standard", &[SCOPE], &[AUDIENCE]).await;
    let issue = &stack().state_machines["issue"];
    let fault = inject_fault("states", "StartExecution", issue).await;
    let key = format!("reap-{}", clavis_core::ids::RequestId::generate().ulid());
    let resp = credential_request(
        &client_id,
        Some(&key),
        &json!({"ttl_seconds": 3600, "scopes": [SCOPE], "audiences": [AUDIENCE], "justification": "reaper test"}),
    )
    .send()
    .await
    .unwrap();
    drop(fault);
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    (client_id, body["request_id"].as_str().unwrap().to_owned())
}

fn request_key(request_id: &str) -> std::collections::HashMap<String, AttributeValue> {
    let id: clavis_core::ids::RequestId = request_id.parse().unwrap();
    let (pk, sk) = clavis_aws::dynamo::keys::request(&id);
    std::collections::HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk)),
    ])
}

/// The request item's `unsettled` shard, if it has one.
async fn unsettled_of(request_id: &str) -> Option<String> {
    aws_sdk_dynamodb::Client::new(&sdk().await)
        .get_item()
        .table_name(&stack().table_name)
        .set_key(Some(request_key(request_id)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item?
        .get("unsettled")
        .and_then(|v| v.as_s().ok().cloned())
}

fn status_of(request: &Value) -> &str {
    request["status"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_request_whose_workflow_never_started_is_started_once() {
    let _serial = SERIAL.lock().await;
    let (_, request_id) = queued_request().await;
    let issue = &stack().state_machines["issue"];
    assert_eq!(
        status_of(&get_json(&format!("/v1/requests/{request_id}")).await),
        "pending"
    );

    // A request from before the reaper (no `unsettled`) is put back in its shard by the
    // backfill, the same shard the repository gives it.
    let shard = unsettled_of(&request_id).await.expect("in the index");
    let db = aws_sdk_dynamodb::Client::new(&sdk().await);
    db.update_item()
        .table_name(&stack().table_name)
        .set_key(Some(request_key(&request_id)))
        .update_expression("REMOVE unsettled")
        .send()
        .await
        .unwrap();
    let backfilled = run_stack_script("backfill-indexes");
    assert!(
        backfilled["requests_unsettled"].as_u64().unwrap() >= 1,
        "{backfilled}"
    );
    assert_eq!(unsettled_of(&request_id).await, Some(shard));

    let report = reap().await;
    assert!(report["started"].as_u64().unwrap() >= 1, "{report}");
    let settled = settled_request(&request_id).await;
    assert_eq!(status_of(&settled), "completed", "{settled}");

    // The queued start finds the execution there and runs nothing twice.
    let replayed = replay(json!({"queues": ["intake"]})).await;
    assert_eq!(replayed["intake"]["still_failing"], 0, "{replayed}");
    let runs: Vec<String> = execution_names(issue)
        .await
        .into_iter()
        .filter(|n| n.starts_with(&request_id))
        .collect();
    assert_eq!(runs, vec![request_id.clone()], "one execution");
    assert_eq!(
        status_of(&get_json(&format!("/v1/requests/{request_id}")).await),
        "completed"
    );
}

#[tokio::test]
async fn a_request_whose_execution_died_unrecorded_is_failed_parked_and_replayed() {
    let _serial = SERIAL.lock().await;
    let (client_id, request_id) = queued_request().await;
    let issue = &stack().state_machines["issue"];

    // Every write and read of the request fails: the mint cannot commit (the request travels
    // with the input, so no step reads it before), and RecordFailure cannot record it either;
    // its Catch parks the execution's input as an unrecorded dead letter.
    let write_fault = inject_fault("dynamodb", "TransactWriteItems", &request_id).await;
    let fault = inject_fault("dynamodb", "GetItem", &request_id).await;
    let started = replay(json!({"queues": ["intake"]})).await;
    assert!(
        started["intake"]["replayed"].as_u64().unwrap() >= 1,
        "{started}"
    );
    let status = closed_execution(issue, &request_id, Duration::from_secs(90)).await;
    assert_eq!(status, "FAILED");
    drop(fault);
    drop(write_fault);
    assert_eq!(
        status_of(&get_json(&format!("/v1/requests/{request_id}")).await),
        "pending",
        "nothing recorded it"
    );
    // Replay keeps an unrecorded letter until the request has settled.
    let kept = replay(json!({"queues": ["workflow"]})).await;
    assert!(kept["workflow"]["waiting"].as_u64().unwrap() >= 1, "{kept}");

    // The reaper settles it, as a fault, so it is parked for replay.
    let report = reap().await;
    assert!(report["resolved"].as_u64().unwrap() >= 1, "{report}");
    let failed = get_json(&format!("/v1/requests/{request_id}")).await;
    assert_eq!(status_of(&failed), "failed", "{failed}");
    assert_eq!(failed["problem"]["status"], 503, "{failed}");
    let reaped = audit_export(&client_id)
        .await
        .into_iter()
        .filter(|r| r.entry.actor == "reaper")
        .count();
    assert!(reaped >= 1, "the reaper's failure is audited");

    // Replay restarts it under its next attempt; it completes, and the letters go.
    let restarted = replay(json!({"queues": ["workflow"]})).await;
    assert!(
        restarted["workflow"]["replayed"].as_u64().unwrap() >= 1,
        "{restarted}"
    );
    let settled = settled_request(&request_id).await;
    assert_eq!(status_of(&settled), "completed", "{settled}");
    // The unrecorded letter goes too, in whichever run sees its request settled (it restarts
    // the same attempt as the reaper's letter, or finds the request completed).
    let cleared = replay(json!({"queues": ["workflow"]})).await;
    let handled = |run: &Value| {
        run["workflow"]["replayed"].as_u64().unwrap()
            + run["workflow"]["obsolete"].as_u64().unwrap()
    };
    assert!(
        handled(&restarted) + handled(&cleared) >= 2,
        "both letters are gone: {restarted} {cleared}"
    );
    assert_eq!(cleared["workflow"]["waiting"], 0, "{cleared}");
    reap().await;
    assert_eq!(
        status_of(&get_json(&format!("/v1/requests/{request_id}")).await),
        "completed"
    );
}
