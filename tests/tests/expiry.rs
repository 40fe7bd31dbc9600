//! The expiry sweep against the local cloud: a due credential is marked expired once, with its
//! audit record and a schema-valid `Credential Expired`; what is not due, or revoked, is left
//! alone; the sparse index holds exactly the active credentials; a run stops at its bound and
//! the next goes on; days missed since the checkpoint are caught up; bad input changes nothing.
//!
//! Schedules do not fire locally, so the tests invoke `expiry-sweep` as the schedule would.
//! Time cannot pass faster, so a test moves a credential's expiry into the past by writing the
//! item as time would have left it (`expires_at` and its bucket).
//!
//! The tests here run one at a time: they share the sweep's checkpoint.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use clavis_aws::dynamo::expiry::EXPIRY_BUCKET;
use clavis_aws::dynamo::items;
use clavis_aws::dynamo::keys;
use clavis_core::audit::verify_chain;
use clavis_core::expiry::{bucket_name, bucket_of, today};
use clavis_core::ids::{ClientId, CredentialId};
use clavis_tests::{
    function_name, get_json, introspect, invoke, issue_credentials, register_client, repository,
    revoke_request, sdk, snapshot, stack,
};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, Time};
use tokio::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::const_new(());

const SCOPES: &[&str] = &["x:read"];
const AUDIENCES: &[&str] = &["https://x.example"];

fn scheduled_event() -> Value {
    serde_json::from_str(include_str!("../../events/expiry-sweep.json")).unwrap()
}

/// Runs the sweep with `input`; its report.
async fn sweep(input: Value) -> Value {
    let answer = invoke(&function_name("expiry-sweep"), &input).await;
    assert!(
        answer.function_error.is_none(),
        "sweep failed: {}",
        answer.body
    );
    answer.body
}

/// The stored credential item.
async fn item(credential_id: &str) -> items::Item {
    let id: CredentialId = credential_id.parse().unwrap();
    aws_sdk_dynamodb::Client::new(&sdk().await)
        .get_item()
        .table_name(&stack().table_name)
        .set_key(Some(items::key(keys::credential(&id))))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

/// Leaves the credential as time would have: expiring at `at`, in `at`'s bucket.
async fn expire_at(credential_id: &str, at: OffsetDateTime) {
    clavis_tests::backdate(credential_id, "expires_at", EXPIRY_BUCKET, at).await;
}

/// A moment just past, inside today's bucket.
fn just_now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    (now - time::Duration::seconds(1)).max(now.replace_time(Time::MIDNIGHT))
}

/// Puts the sweep's checkpoint at `day` (moving it back, which the sweep itself never does).
async fn set_checkpoint(day: time::Date) {
    let mut checkpoint = items::key(keys::expiry_checkpoint());
    checkpoint.insert("entity".into(), AttributeValue::S("checkpoint".into()));
    checkpoint.insert("day".into(), AttributeValue::S(bucket_name(day)));
    aws_sdk_dynamodb::Client::new(&sdk().await)
        .put_item()
        .table_name(&stack().table_name)
        .set_item(Some(checkpoint))
        .send()
        .await
        .unwrap();
}

/// The `Credential Expired` events of `credential_id` that reach the subscriber queue.
async fn expired_events(credential_id: &str) -> Vec<Value> {
    clavis_tests::subscriber_events(
        |b| b.contains("Credential Expired") && b.contains(credential_id),
        Duration::from_secs(5),
    )
    .await
}

/// The audit actions recorded about `subject` for `client_id`, oldest first, after the chain
/// verified.
async fn audited(client_id: &str, subject: &str) -> Vec<String> {
    let client: ClientId = client_id.parse().unwrap();
    let records = repository().await.audit_trail(&client, 0).await.unwrap();
    verify_chain(&records).expect("the audit chain verifies");
    records
        .into_iter()
        .filter(|r| r.entry.subject == subject)
        .map(|r| r.entry.action)
        .collect()
}

#[tokio::test]
async fn a_due_credential_is_expired_once_with_its_audit_record_and_event() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let issued = issue_credentials(&client_id, 3, SCOPES, AUDIENCES).await;
    let (due, _) = &issued[0];
    let (live, _) = &issued[1];
    let (revoked, _) = &issued[2];

    // The index holds active credentials, under the day they expire; a revocation takes one out.
    let live_item = item(live).await;
    let live_expiry = items::string(&live_item, "expires_at").unwrap();
    let live_expiry = OffsetDateTime::parse(live_expiry, &Rfc3339).unwrap();
    assert_eq!(
        items::string(&live_item, EXPIRY_BUCKET),
        Some(bucket_of(live_expiry).as_str())
    );
    let revoked_id = revoked.clone();
    let resp = revoke_request(&revoked_id, "operator_request")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(items::string(&item(revoked).await, EXPIRY_BUCKET), None);

    let expired_at = just_now();
    expire_at(due, expired_at).await;
    // Callers see it expired at once; the sweep has not recorded it yet.
    let meta = get_json(&format!("/v1/credentials/{due}")).await;
    assert_eq!(meta["status"], "expired", "{meta}");
    assert!(items::string(&item(due).await, EXPIRY_BUCKET).is_some());
    let report = sweep(scheduled_event()).await;
    assert!(report["expired"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["more"], false, "{report}");
    assert_eq!(
        report["checkpoint"],
        bucket_name(today(OffsetDateTime::now_utc()))
    );

    let stored = item(due).await;
    assert_eq!(items::string(&stored, "status"), Some("expired"));
    assert_eq!(items::string(&stored, EXPIRY_BUCKET), None);
    assert_eq!(
        get_json(&format!("/v1/credentials/{live}")).await["status"],
        "active"
    );
    assert_eq!(
        get_json(&format!("/v1/credentials/{revoked}")).await["status"],
        "revoked"
    );
    assert_eq!(introspect(&issued[0].1).await, json!({"active": false}));
    assert_eq!(introspect(&issued[1].1).await["active"], true);

    // One event, valid against its schema, saying when the lifetime ended.
    let events = expired_events(due).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let detail = &events[0]["detail"];
    let schema: Value =
        serde_json::from_str(include_str!("../../events/schemas/credential-expired.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(detail)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(detail["client_id"], client_id.as_str());
    let announced =
        OffsetDateTime::parse(detail["expired_at"].as_str().unwrap(), &Rfc3339).unwrap();
    assert_eq!(announced, expired_at);
    let actions = audited(&client_id, due).await;
    assert_eq!(
        actions.last().map(String::as_str),
        Some("credential.expired"),
        "{actions:?}"
    );

    // A second sweep finds nothing: no second record, no second event.
    let again = sweep(scheduled_event()).await;
    assert_eq!(again["expired"], 0, "{again}");
    assert_eq!(
        audited(&client_id, due).await,
        actions,
        "nothing more recorded"
    );
    assert!(expired_events(due).await.is_empty());
}

#[tokio::test]
async fn a_sweep_stops_at_its_bound_and_the_next_one_goes_on() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let issued = issue_credentials(&client_id, 5, SCOPES, AUDIENCES).await;
    for (credential_id, _) in &issued {
        expire_at(credential_id, just_now()).await;
    }
    let first = sweep(json!({"max_expirations": 2})).await;
    assert_eq!(
        (&first["expired"], &first["more"]),
        (&json!(2), &json!(true)),
        "{first}"
    );
    let second = sweep(json!({"max_expirations": 2})).await;
    assert_eq!(
        (&second["expired"], &second["more"]),
        (&json!(2), &json!(true)),
        "{second}"
    );
    let last = sweep(scheduled_event()).await;
    assert_eq!(
        (&last["expired"], &last["more"]),
        (&json!(1), &json!(false)),
        "{last}"
    );
    for (credential_id, _) in &issued {
        let stored = item(credential_id).await;
        assert_eq!(items::string(&stored, "status"), Some("expired"));
    }
}

#[tokio::test]
async fn days_missed_since_the_checkpoint_are_caught_up() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let issued = issue_credentials(&client_id, 1, SCOPES, AUDIENCES).await;
    let (credential_id, _) = &issued[0];
    // As if the schedule had been off for three days, and the credential expired in them.
    let now = OffsetDateTime::now_utc();
    set_checkpoint(today(now) - time::Duration::days(3)).await;
    let expired_at =
        (now - time::Duration::days(2)).replace_time(Time::from_hms(12, 0, 0).unwrap());
    expire_at(credential_id, expired_at).await;

    let report = sweep(scheduled_event()).await;
    assert_eq!(report["days_read"], 4, "{report}");
    assert!(report["expired"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["checkpoint"], bucket_name(today(now)));
    let stored = item(credential_id).await;
    assert_eq!(items::string(&stored, "status"), Some("expired"));
    let checkpoint = repository().await.expiry_checkpoint().await.unwrap();
    assert_eq!(checkpoint, Some(today(now)));
}

#[tokio::test]
async fn a_bad_bound_is_refused_and_changes_nothing() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let issued = issue_credentials(&client_id, 1, SCOPES, AUDIENCES).await;
    expire_at(&issued[0].0, just_now()).await;
    let before = snapshot(&stack().table_name).await;
    for bad in [
        json!({"max_expirations": 0}),
        json!({"max_expirations": "all"}),
    ] {
        let answer = invoke(&function_name("expiry-sweep"), &bad).await;
        assert!(answer.function_error.is_some(), "{bad} was accepted");
        let error_type = answer.body["errorType"].as_str().unwrap_or_default();
        assert!(error_type.starts_with("Clavis.User."), "{}", answer.body);
    }
    assert_eq!(snapshot(&stack().table_name).await, before);
    // The well-formed run that follows does the work.
    let report = sweep(scheduled_event()).await;
    assert!(report["expired"].as_u64().unwrap() >= 1, "{report}");
}

#[tokio::test]
async fn the_checkpoint_never_moves_back() {
    let _serial = SERIAL.lock().await;
    let repo = repository().await;
    let today = today(OffsetDateTime::now_utc());
    repo.set_expiry_checkpoint(today).await.unwrap();
    repo.set_expiry_checkpoint(today - time::Duration::days(5))
        .await
        .expect("an older day is not an error");
    assert_eq!(repo.expiry_checkpoint().await.unwrap(), Some(today));
}

#[tokio::test]
async fn a_credential_that_cannot_be_expired_holds_up_nothing_but_its_day() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let issued = issue_credentials(&client_id, 1, SCOPES, AUDIENCES).await;
    let now = OffsetDateTime::now_utc();
    let yesterday = today(now) - time::Duration::days(1);
    set_checkpoint(yesterday - time::Duration::days(1)).await;
    // A corrupt credential item, due yesterday; and a sound one, due today.
    let broken = CredentialId::generate();
    let due = (now - time::Duration::days(1)).replace_time(Time::from_hms(12, 0, 0).unwrap());
    let mut corrupt = items::key(keys::credential(&broken));
    for (name, value) in [
        ("entity", "credential".to_owned()),
        ("credential_id", broken.to_string()),
        ("status", "active".to_owned()),
        ("expires_at", due.format(&Rfc3339).unwrap()),
        (EXPIRY_BUCKET, bucket_of(due)),
    ] {
        corrupt.insert(name.to_owned(), AttributeValue::S(value));
    }
    let db = aws_sdk_dynamodb::Client::new(&sdk().await);
    db.put_item()
        .table_name(&stack().table_name)
        .set_item(Some(corrupt))
        .send()
        .await
        .unwrap();
    expire_at(&issued[0].0, just_now()).await;

    let report = sweep(scheduled_event()).await;
    assert_eq!(report["failed"], 1, "{report}");
    assert!(report["expired"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["checkpoint"], bucket_name(yesterday), "{report}");
    let stored = item(&issued[0].0).await;
    assert_eq!(items::string(&stored, "status"), Some("expired"));

    // Once the item is dealt with, the next run gets past its day.
    db.delete_item()
        .table_name(&stack().table_name)
        .set_key(Some(items::key(keys::credential(&broken))))
        .send()
        .await
        .unwrap();
    let report = sweep(scheduled_event()).await;
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["checkpoint"], bucket_name(today(now)), "{report}");
}

#[tokio::test]
async fn credentials_from_before_the_sweep_are_backfilled_into_its_index() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let issued = issue_credentials(&client_id, 2, SCOPES, AUDIENCES).await;
    let (old, _) = &issued[0];
    let (revoked, _) = &issued[1];
    let resp = revoke_request(revoked, "operator_request")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // As an upgraded stack has it: an active credential without a bucket.
    let id: CredentialId = old.parse().unwrap();
    aws_sdk_dynamodb::Client::new(&sdk().await)
        .update_item()
        .table_name(&stack().table_name)
        .set_key(Some(items::key(keys::credential(&id))))
        .update_expression("REMOVE #bucket, renewal_bucket")
        .expression_attribute_names("#bucket", EXPIRY_BUCKET)
        .send()
        .await
        .unwrap();

    let report = clavis_tests::run_stack_script("backfill-indexes");
    assert!(report["updated"].as_u64().unwrap() >= 1, "{report}");

    let stored = item(old).await;
    let expires_at =
        OffsetDateTime::parse(items::string(&stored, "expires_at").unwrap(), &Rfc3339).unwrap();
    assert_eq!(
        items::string(&stored, EXPIRY_BUCKET),
        Some(bucket_of(expires_at).as_str())
    );
    let renew_after =
        OffsetDateTime::parse(items::string(&stored, "renew_after").unwrap(), &Rfc3339).unwrap();
    assert_eq!(
        items::string(&stored, "renewal_bucket"),
        Some(bucket_of(renew_after).as_str()),
        "and into the renewal index"
    );
    assert_eq!(
        items::string(&item(revoked).await, EXPIRY_BUCKET),
        None,
        "only active ones"
    );
}
