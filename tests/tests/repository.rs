//! The DynamoDB repository against the local cloud: conditional writes, transactions, the
//! audit chain, the batch read authentication makes.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use clavis_aws::dynamo::audited::AuditedChange;
use clavis_aws::dynamo::items;
use clavis_core::audit::{AuditEntry, ChainBreak, ChainHead, verify_chain};
use clavis_core::client::{Client, ClientStatus, Environment, Tier};
use clavis_core::ids::{ClientId, CredentialId};
use clavis_core::{Error, UserError};
use clavis_tests::{issue_credential, register_client, repository, sdk, stack};
use time::OffsetDateTime;

fn client() -> Client {
    Client {
        client_id: ClientId::generate(),
        name: "repo-test".into(),
        owner: "tests".into(),
        environment: Environment::Dev,
        tier: Tier::Standard,
        allowed_scopes: BTreeSet::from(["a:read".to_owned()]),
        allowed_audiences: BTreeSet::from(["https://a.example".to_owned()]),
        status: ClientStatus::Active,
        created_at: OffsetDateTime::now_utc(),
        revocation: None,
        suspension: None,
        auto_rotate: false,
        delivery: None,
    }
}

fn is_conflict(e: &Error) -> bool {
    matches!(e, Error::User(UserError::Conflict(_)))
}

#[tokio::test]
async fn a_stale_version_is_a_typed_conflict() {
    let repo = repository().await;
    let c = client();
    repo.register_client(&c, "tests").await.unwrap();
    let v = repo
        .get_client(&c.client_id, true)
        .await
        .unwrap()
        .unwrap()
        .version;
    let now = OffsetDateTime::now_utc();
    repo.set_client_status(&c.client_id, v, ClientStatus::Suspended, "tests", now)
        .await
        .unwrap();
    let err = repo
        .set_client_status(&c.client_id, v, ClientStatus::Revoked, "tests", now)
        .await
        .unwrap_err();
    assert!(is_conflict(&err), "{err:?}");
    assert_eq!(err.http_status(), 409);
    let stored = repo.get_client(&c.client_id, true).await.unwrap().unwrap();
    assert_eq!(stored.value.status, ClientStatus::Suspended);
    assert_eq!(stored.version, v + 1);
}

#[tokio::test]
async fn concurrent_writers_of_one_version_have_exactly_one_winner() {
    let repo = repository().await;
    let c = client();
    repo.register_client(&c, "tests").await.unwrap();
    let now = OffsetDateTime::now_utc();
    let attempts = (0..8).map(|_| {
        let repo = repo.clone();
        async move {
            repo.set_client_status(&c.client_id, 1, ClientStatus::Suspended, "tests", now)
                .await
        }
    });
    let results = futures_join_all(attempts).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(is_conflict)
    );
    // The chain holds the registration and the one change, nothing else.
    let trail = repo.audit_trail(&c.client_id, 0).await.unwrap();
    assert_eq!(trail.len(), 2);
    verify_chain(&trail).unwrap();
}

#[tokio::test]
async fn registering_the_same_client_twice_conflicts() {
    let repo = repository().await;
    let c = client();
    repo.register_client(&c, "tests").await.unwrap();
    let err = repo.register_client(&c, "tests").await.unwrap_err();
    assert!(is_conflict(&err), "{err:?}");
    assert_eq!(repo.audit_trail(&c.client_id, 0).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_cancelled_transaction_leaves_nothing_behind() {
    let repo = repository().await;
    let existing = client();
    repo.register_client(&existing, "tests").await.unwrap();
    let existing_before = repo.get_client(&existing.client_id, true).await.unwrap();

    // A fresh client item that could be written, plus a second Put of the existing one: the
    // second condition fails, so the first write and the audit record must not land either.
    let fresh = client();
    let writes = vec![
        repo.put_new(
            items::to_item(
                &fresh,
                clavis_aws::dynamo::keys::client(&fresh.client_id),
                "client",
                1,
            )
            .unwrap(),
            UserError::Conflict("fresh exists".into()),
        )
        .unwrap(),
        repo.put_new(
            items::to_item(
                &existing,
                clavis_aws::dynamo::keys::client(&existing.client_id),
                "client",
                1,
            )
            .unwrap(),
            UserError::Conflict("existing exists".into()),
        )
        .unwrap(),
    ];
    let err = repo
        .commit(AuditedChange {
            client_id: fresh.client_id,
            writes,
            entry: AuditEntry {
                actor: "tests".into(),
                action: "test.cancelled".into(),
                subject: fresh.client_id.to_string(),
                detail: BTreeMap::new(),
            },
            at: OffsetDateTime::now_utc(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::User(UserError::Conflict("existing exists".into()))
    );
    // Neither the fresh item, nor its chain head, nor its audit record landed; the existing
    // client is untouched. (Other tests write concurrently, so whole-table snapshots would lie.)
    assert!(
        repo.get_client(&fresh.client_id, true)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        repo.chain_head(&fresh.client_id).await.unwrap(),
        ChainHead::genesis()
    );
    assert!(
        repo.audit_trail(&fresh.client_id, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        repo.get_client(&existing.client_id, true).await.unwrap(),
        existing_before
    );
}

#[tokio::test]
async fn the_audit_chain_verifies_and_detects_an_edited_record() {
    let repo = repository().await;
    let c = client();
    repo.register_client(&c, "tests").await.unwrap();
    let now = OffsetDateTime::now_utc();
    repo.set_client_status(&c.client_id, 1, ClientStatus::Suspended, "tests", now)
        .await
        .unwrap();
    repo.set_client_status(&c.client_id, 2, ClientStatus::Active, "tests", now)
        .await
        .unwrap();
    let trail = repo.audit_trail(&c.client_id, 0).await.unwrap();
    assert_eq!(verify_chain(&trail).unwrap().seq, 3);

    // Someone with table access rewrites who did it.
    let db = aws_sdk_dynamodb::Client::new(&sdk().await);
    db.update_item()
        .table_name(&stack().audit_table_name)
        .key("client_id", AttributeValue::S(c.client_id.to_string()))
        .key("seq", AttributeValue::N("2".into()))
        .update_expression("SET actor = :a")
        .expression_attribute_values(":a", AttributeValue::S("innocent".into()))
        .send()
        .await
        .unwrap();
    let edited = repo.audit_trail(&c.client_id, 0).await.unwrap();
    assert_eq!(verify_chain(&edited), Err(ChainBreak::Altered { seq: 2 }));
}

async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_credential_and_its_client_are_read_in_one_batch_each_found_or_not() {
    let repo = repository().await;
    let client_id = register_client("standard", &["b:read"], &["https://b.example"]).await;
    let (credential_id, _) =
        issue_credential(&client_id, &["b:read"], &["https://b.example"]).await;
    let credential_id: CredentialId = credential_id.parse().unwrap();
    let client_id: ClientId = client_id.parse().unwrap();

    let (credential, client) = repo
        .get_credential_and_client(&credential_id, &client_id)
        .await
        .unwrap();
    let (credential, client) = (credential.unwrap().value, client.unwrap().value);
    assert_eq!(credential.credential_id, credential_id);
    assert_eq!(credential.client_id, client_id);
    assert_eq!(client.client_id, client_id);
    assert!(credential.is_usable_for(&client, OffsetDateTime::now_utc()));

    let stranger = ClientId::generate();
    let (credential, client) = repo
        .get_credential_and_client(&credential_id, &stranger)
        .await
        .unwrap();
    assert!(credential.is_some() && client.is_none());
    let (credential, client) = repo
        .get_credential_and_client(&CredentialId::generate(), &client_id)
        .await
        .unwrap();
    assert!(credential.is_none() && client.is_some());
}
