//! The outbox's safety net against the local cloud: every event a publisher hands off leaves
//! the pending index; an entry whose stream record never reached a publisher is re-published
//! by `reconcile-outbox`, once, unchanged; a bad bound is refused and changes nothing.
//!
//! A lost stream record is made the way it could happen: the entry is written so that the
//! publisher skips its insert (the stream's MODIFY of it is not an insert either), as if its
//! record had expired before a publisher ran. The tests here run one at a time (they share the
//! reconciler).

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use clavis_aws::dynamo::items;
use clavis_aws::dynamo::keys;
use clavis_aws::dynamo::outbox::{PENDING_SHARD, pending_shard};
use clavis_core::events::{ClavisEvent, CredentialExpired, EventMeta};
use clavis_core::ids::{ClientId, CredentialId};
use clavis_tests::{
    collect_messages, function_name, invoke, issue_credential, register_client, repository, sdk,
    stack,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::const_new(());

async fn outbox_item(event_id: &str) -> Option<items::Item> {
    aws_sdk_dynamodb::Client::new(&sdk().await)
        .get_item()
        .table_name(&stack().table_name)
        .set_key(Some(items::key(keys::outbox(event_id))))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

/// The bus events with `event_id` that reach the subscriber queue within a few seconds.
async fn delivered(event_id: &str) -> Vec<Value> {
    collect_messages(
        &stack().subscriber_queue_url,
        |b| b.contains(event_id),
        Duration::from_secs(4),
    )
    .await
    .iter()
    .map(|b| serde_json::from_str(b).unwrap())
    .collect()
}

async fn reconcile(input: Value) -> clavis_tests::Invocation {
    invoke(&function_name("reconcile-outbox"), &input).await
}

#[tokio::test]
async fn a_published_event_leaves_the_pending_index() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", &["o:read"], &["https://o.example"]).await;
    let (credential_id, _) =
        issue_credential(&client_id, &["o:read"], &["https://o.example"]).await;
    let client: ClientId = client_id.parse().unwrap();
    let trail = repository().await.audit_trail(&client, 0).await.unwrap();
    let issued = trail
        .iter()
        .find(|r| r.entry.action == "credential.issued" && r.entry.subject == credential_id)
        .expect("the issuance is audited");
    let event_id = issued.entry.detail["event_id"].clone();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let item = outbox_item(&event_id)
            .await
            .expect("the outbox entry exists");
        if !item.contains_key(PENDING_SHARD) {
            assert!(items::string(&item, "handed_off_at").is_some());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{event_id} still pending after its publisher ran"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn an_event_no_publisher_saw_is_republished_once() {
    let _serial = SERIAL.lock().await;
    let queued_at = OffsetDateTime::now_utc() - time::Duration::minutes(10);
    let event = CredentialExpired {
        meta: EventMeta::new(queued_at),
        credential_id: CredentialId::generate(),
        client_id: ClientId::generate(),
        expired_at: queued_at,
    }
    .to_outbox();
    let event_id = event.event_id.clone();
    let db = aws_sdk_dynamodb::Client::new(&sdk().await);
    // Queued ten minutes ago, and never seen by a publisher.
    let mut entry = items::key(keys::outbox(&event_id));
    for (name, value) in [
        ("entity", "lost-in-test".to_owned()),
        ("event_id", event_id.clone()),
        ("detail_type", event.detail_type.to_owned()),
        ("detail", event.detail.clone()),
        ("occurred_at", queued_at.format(&Rfc3339).unwrap()),
        (PENDING_SHARD, pending_shard(&event_id)),
    ] {
        entry.insert(name.to_owned(), AttributeValue::S(value));
    }
    db.put_item()
        .table_name(&stack().table_name)
        .set_item(Some(entry))
        .send()
        .await
        .unwrap();
    db.update_item()
        .table_name(&stack().table_name)
        .set_key(Some(items::key(keys::outbox(&event_id))))
        .update_expression("SET entity = :outbox")
        .expression_attribute_values(":outbox", AttributeValue::S("outbox".into()))
        .send()
        .await
        .unwrap();
    assert!(delivered(&event_id).await.is_empty(), "a publisher saw it");

    // A bad bound is refused and changes nothing.
    for bad in [json!({"max_events": 0}), json!({"max_events": "all"})] {
        let answer = reconcile(bad.clone()).await;
        assert!(answer.function_error.is_some(), "{bad} was accepted");
        let error_type = answer.body["errorType"].as_str().unwrap_or_default();
        assert!(error_type.starts_with("Clavis.User."), "{}", answer.body);
    }
    let item = outbox_item(&event_id).await.unwrap();
    assert!(item.contains_key(PENDING_SHARD));

    let answer = reconcile(
        serde_json::from_str(include_str!("../../events/reconcile-outbox.json")).unwrap(),
    )
    .await;
    assert!(answer.function_error.is_none(), "{}", answer.body);
    assert!(
        answer.body["republished"].as_u64().unwrap() >= 1,
        "{}",
        answer.body
    );
    assert_eq!(answer.body["still_pending"], 0, "{}", answer.body);
    let events = delivered(&event_id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail-type"], "Credential Expired");
    assert_eq!(events[0]["source"], "clavis");
    assert_eq!(
        serde_json::to_string(&events[0]["detail"]).unwrap(),
        serde_json::to_string(&serde_json::from_str::<Value>(&event.detail).unwrap()).unwrap(),
        "re-put unchanged"
    );
    let item = outbox_item(&event_id).await.unwrap();
    assert!(!item.contains_key(PENDING_SHARD));

    // Handed off now: the next run leaves it alone.
    let again = reconcile(json!({})).await;
    assert!(again.function_error.is_none(), "{}", again.body);
    assert!(delivered(&event_id).await.is_empty(), "published twice");
}

#[tokio::test]
async fn marking_an_entry_that_is_gone_creates_nothing() {
    let _serial = SERIAL.lock().await;
    let event_id = EventMeta::new(OffsetDateTime::now_utc()).event_id;
    repository()
        .await
        .mark_handed_off(&event_id, OffsetDateTime::now_utc())
        .await
        .expect("an entry past its TTL is not an error");
    assert!(outbox_item(&event_id).await.is_none());
}
