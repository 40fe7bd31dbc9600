//! Operator recovery (break glass) on the local cloud: with direct AWS permissions (invoking the
//! bootstrap function), a stack whose operators are lost gets a new administrator and approver
//! that work at once; the act is in the stack's audit chain and announced; a bad reason changes
//! nothing. An operator can also rotate its own credential and keep working
//! (`tests/tests/rotation.rs`).

use std::time::Duration;

use clavis_tests::{
    audit_export, basic, function_name, get_as, invoke, rows_mentioning, stack, subscriber_events,
};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// One at a time: the refusal test compares what break-glass rows exist.
static SERIAL: Mutex<()> = Mutex::const_new(());

#[tokio::test]
async fn breaking_the_glass_makes_new_operators_audited_and_announced() {
    let _serial = SERIAL.lock().await;
    let reason = format!(
        "every operator credential expired over the holidays ({})",
        clavis_core::ids::RequestId::generate().ulid()
    );
    let reason = reason.as_str();
    let inv = invoke(
        &function_name("bootstrap-operator"),
        &json!({"break_glass": reason, "name": "recovered-admin", "ttl_days": 1}),
    )
    .await;
    assert_eq!(inv.function_error, None, "{}", inv.body["errorType"]);
    let admin_id = inv.body["client_id"].as_str().unwrap().to_owned();
    let admin_secret = inv.body["client_secret"].as_str().unwrap().to_owned();
    let approver_id = inv.body["approver"]["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(admin_id, stack().operator_client_id);

    // The new administrator works at once (every operator scope).
    let (status, me) = get_as(
        &format!("/v1/clients/{admin_id}"),
        &basic(&admin_id, &admin_secret),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["owner"], "break-glass");

    let chain = audit_export(&clavis_core::audit::stack_chain().to_string()).await;
    let record = chain
        .iter()
        .find(|r| r.entry.action == "operator.break_glass" && r.entry.detail["reason"] == reason)
        .expect("the break glass is in the stack's chain");
    assert_eq!(
        record.entry.detail["operators"],
        format!("{admin_id} {approver_id}")
    );
    let own = audit_export(&admin_id).await;
    assert_eq!(own[0].entry.action, "operator.recovered");
    let events = subscriber_events(
        |b| b.contains("Operators Recovered") && b.contains(&admin_id),
        Duration::from_secs(6),
    )
    .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail"]["reason"], reason);
    assert!(
        !events[0].to_string().contains(&admin_secret),
        "no secret in the event"
    );
    assert!(!inv.body["approver"]["client_secret"].is_null());
}

#[tokio::test]
async fn a_break_glass_without_a_reason_changes_nothing() {
    let _serial = SERIAL.lock().await;
    let before = rows_mentioning(&stack().table_name, "break-glass").await;
    for reason in [json!(""), json!("  "), json!(42)] {
        let inv = invoke(
            &function_name("bootstrap-operator"),
            &json!({ "break_glass": reason }),
        )
        .await;
        assert!(inv.function_error.is_some(), "{reason}: {}", inv.body);
        let text: Value = inv.body.clone();
        assert!(!text.to_string().contains("clv_"), "{text}");
    }
    assert_eq!(
        rows_mentioning(&stack().table_name, "break-glass").await,
        before
    );
}
