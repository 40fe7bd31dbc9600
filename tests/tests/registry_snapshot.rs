//! A new verifier starts from the registry's snapshot of the entries still relevant, not from
//! `seq` 0: after 10,000 revocations of which 9,000 are of credentials already expired, its first
//! sync receives the 1,000 that matter (and what the stack had revoked before), then follows the
//! registry from the snapshot's `seq`. Also: every revocation now says when it stops mattering,
//! and the snapshot route refuses bad input and callers without `clavis.registry`.
//!
//! The 10,000 entries make the local cloud's table about ten times larger, and the emulator
//! answers index queries by reading the whole table, so that test is `#[ignore]`d here and
//! `scripts/test` runs it after every other test binary.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use clavis_aws::dynamo::items::Item;
use clavis_aws::dynamo::keys;
use clavis_aws::dynamo::revocations::entry_items;
use clavis_core::ids::{ClientId, CredentialId};
use clavis_core::revocation::{RevocationEntry, RevocationReason};
use clavis_tests::{
    basic, get_as, issue_credential, new_operator, operator_auth, register_client, revoke_request,
    sdk, stack,
};
use clavis_verify::{Authorization, Verifier, VerifierConfig};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

const LIVE: usize = 1_000;
const EXPIRED: usize = 9_000;

/// The whole snapshot through the API: its `seq` (the same on every page), the credential ids,
/// and how many pages it took.
async fn snapshot(limit: u32) -> (u64, Vec<String>, usize) {
    let mut path = format!("/v1/revocations/snapshot?limit={limit}");
    let (mut seq, mut ids, mut pages) = (None, Vec::new(), 0);
    loop {
        let (status, page) = get_as(&path, &operator_auth()).await;
        assert_eq!(status, 200, "{path}: {page}");
        pages += 1;
        let at = page["seq"].as_u64().expect("seq");
        assert_eq!(
            *seq.get_or_insert(at),
            at,
            "every page has the snapshot's seq"
        );
        for item in page["items"].as_array().expect("items") {
            ids.push(item["credential_id"].as_str().expect("id").to_owned());
        }
        match page["next"].as_str() {
            Some(cursor) => {
                path = format!("/v1/revocations/snapshot?limit={limit}&cursor={cursor}")
            }
            None => return (at, ids, pages),
        }
    }
}

/// The registry's counter: the last `seq` handed out.
async fn counter(db: &aws_sdk_dynamodb::Client) -> u64 {
    let out = db
        .get_item()
        .table_name(&stack().table_name)
        .set_key(Some(clavis_aws::dynamo::items::key(
            keys::revocation_counter(),
        )))
        .consistent_read(true)
        .send()
        .await
        .expect("counter");
    out.item
        .and_then(|i| i.get("seq").and_then(|v| v.as_n().ok()).cloned())
        .map_or(0, |n| n.parse().expect("a number"))
}

/// Appends `entries` (seqs following `after`, the counter) as a burst of revocations would have
/// left them, with the items a revocation writes. The counter moves first, so a revocation the
/// stack makes meanwhile (a rotation retiring its predecessor) takes the seq after the burst
/// instead of colliding with it.
async fn append(db: &aws_sdk_dynamodb::Client, entries: &[RevocationEntry], after: u64) {
    let last = after + entries.len() as u64;
    db.update_item()
        .table_name(&stack().table_name)
        .set_key(Some(clavis_aws::dynamo::items::key(
            keys::revocation_counter(),
        )))
        .update_expression("SET #seq = :last")
        .condition_expression("#seq = :after")
        .expression_attribute_names("#seq", "seq")
        .expression_attribute_values(":after", AttributeValue::N(after.to_string()))
        .expression_attribute_values(":last", AttributeValue::N(last.to_string()))
        .send()
        .await
        .expect("the counter moved since it was read: run the test again");
    // What DynamoDB's TTL would have removed already (copies a day past mattering) is left out,
    // as it would be gone from a real table.
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let items: Vec<Item> = entries
        .iter()
        .flat_map(|e| entry_items(e).expect("items"))
        .filter(|item| {
            item.get("ttl")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
                .is_none_or(|ttl| ttl > now)
        })
        .collect();
    for chunk in items.chunks(25) {
        let mut pending: Vec<WriteRequest> = chunk
            .iter()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect();
        while !pending.is_empty() {
            let out = db
                .batch_write_item()
                .request_items(&stack().table_name, pending)
                .send()
                .await
                .expect("batch write");
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&stack().table_name))
                .unwrap_or_default();
        }
    }
}

#[tokio::test]
#[ignore = "grows the shared table tenfold: scripts/test runs it after every other test"]
async fn a_new_verifier_receives_the_thousand_live_entries_of_ten_thousand() {
    let db = aws_sdk_dynamodb::Client::new(&sdk().await);
    // The counter exists once anything was revoked; make sure something was.
    let client_id = register_client("standard", &["snap:read"], &["https://snap.example"]).await;
    let (first, _) = issue_credential(&client_id, &["snap:read"], &["https://snap.example"]).await;
    let answer = revoke_request(&first, "operator_request")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let (before_seq, before, _) = snapshot(1000).await;

    let now = OffsetDateTime::now_utc();
    let after = counter(&db).await;
    let client = ClientId::generate();
    let entries: Vec<RevocationEntry> = (0..LIVE + EXPIRED)
        .map(|i| {
            let n = i64::try_from(i).unwrap();
            // One in ten is live (expiring over the next 80 days, across months); the rest
            // expired over the past 60 days, some this month, some before.
            let expires_at = if i % 10 == 0 {
                now + Duration::hours(1) + Duration::minutes(n * 11)
            } else {
                now - Duration::hours(1) - Duration::minutes(n * 9)
            };
            RevocationEntry {
                seq: after + 1 + i as u64,
                credential_id: CredentialId::generate(),
                client_id: client,
                reason: RevocationReason::KeyCompromise,
                revoked_at: expires_at.min(now) - Duration::hours(1),
                revoked_by: "registry-snapshot-test".into(),
                expires_at: Some(expires_at),
            }
        })
        .collect();
    append(&db, &entries, after).await;
    let live: BTreeSet<String> = entries
        .iter()
        .filter(|e| e.expires_at.is_some_and(|t| t > now))
        .map(|e| e.credential_id.to_string())
        .collect();
    assert_eq!(live.len(), LIVE);

    let (seq, ids, pages) = snapshot(1000).await;
    let burst_end = after + (LIVE + EXPIRED) as u64;
    assert!(seq >= burst_end, "consistent at the counter: {seq}");
    let received: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(received.len(), ids.len(), "no entry twice");
    assert!(
        live.is_subset(&received),
        "{} live entries missing",
        live.difference(&received).count()
    );
    let seeded: BTreeSet<String> = entries
        .iter()
        .map(|e| e.credential_id.to_string())
        .collect();
    let expired_received = seeded
        .difference(&live)
        .filter(|id| received.contains(*id))
        .count();
    assert_eq!(expired_received, 0, "no expired entry is handed out");
    // Besides the burst's live entries, only what the stack revoked itself can be there: what
    // the snapshot before the burst held, and what was revoked around the burst.
    let others = before.len() as u64 + (after - before_seq) + (seq - burst_end);
    assert!(
        ids.len() as u64 <= LIVE as u64 + others,
        "received {} (others at most {others})",
        ids.len()
    );
    println!(
        "snapshot after {} revocations ({EXPIRED} expired): {} entries in {pages} pages",
        LIVE + EXPIRED,
        ids.len()
    );

    // A small page size pages through a snapshot as whole (the stack may revoke meanwhile).
    let (small_seq, small_ids, small_pages) = snapshot(300).await;
    assert!(small_seq >= seq);
    let small: BTreeSet<String> = small_ids.iter().cloned().collect();
    assert_eq!(
        small.intersection(&seeded).collect::<BTreeSet<_>>(),
        live.iter().collect::<BTreeSet<_>>()
    );
    assert!(small_pages > pages);

    // clavis-verify starts from the snapshot and follows the registry from its seq.
    let config = VerifierConfig::new(&stack().issuer, "https://snap.example").with_authorization(
        Authorization::basic(&stack().operator_client_id, &stack().operator_client_secret).unwrap(),
    );
    let verifier = Verifier::new(config).unwrap();
    let report = verifier.sync().await.unwrap();
    assert!(
        report.from_snapshot >= LIVE && report.from_snapshot <= ids.len() + 10,
        "{report:?}"
    );
    assert!(report.last_seq >= seq, "{report:?}");
    assert!(report.revoked < LIVE + EXPIRED, "{report:?}");
    println!("clavis-verify's first sync: {report:?}");
}

#[tokio::test]
async fn a_revocation_says_until_when_it_matters_and_leaves_the_snapshot_when_it_stops() {
    let audiences = &["https://snap.example"];
    let client_id = register_client("standard", &["snap:read"], audiences).await;
    let (credential_id, _) = issue_credential(&client_id, &["snap:read"], audiences).await;
    let (_, credential) = get_as(
        &format!("/v1/credentials/{credential_id}"),
        &operator_auth(),
    )
    .await;
    let answer = revoke_request(&credential_id, "key_compromise")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let revoked: Value = answer.json().await.unwrap();
    let seq = revoked["seq"].as_u64().unwrap();
    let (_, page) = get_as(
        &format!("/v1/revocations?since={}&limit=1", seq - 1),
        &operator_auth(),
    )
    .await;
    let entry = &page["items"][0];
    assert_eq!(entry["credential_id"], credential_id.as_str());
    let at = |v: &Value| {
        OffsetDateTime::parse(
            v.as_str().expect("a time"),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert_eq!(
        at(&entry["expires_at"]),
        at(&credential["expires_at"]),
        "the entry carries its credential's expiry: {entry}"
    );
    let (snap_seq, ids, _) = snapshot(1000).await;
    assert!(snap_seq >= seq);
    assert!(ids.contains(&credential_id));
}

#[tokio::test]
async fn bad_snapshot_input_is_a_problem_and_other_scopes_are_refused() {
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=x", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        // A well-formed JSON cursor naming a part of the table that is not the registry's.
        (
            "cursor=eyJzZXEiOjUsImxlZ2FjeV91bnRpbCI6MCwicGFydCI6IkNMSUVOVCIsImFmdGVyIjowfQ",
            "cursor",
        ),
    ] {
        let (status, problem) = get_as(
            &format!("/v1/revocations/snapshot?{query}"),
            &operator_auth(),
        )
        .await;
        assert_eq!(status, 400, "{query}: {problem}");
        assert!(problem.to_string().contains(field), "{query}: {problem}");
    }
    let (issuer_id, issuer_secret) = new_operator(&["clavis.issuer"]).await;
    let (status, problem) = get_as(
        "/v1/revocations/snapshot",
        &basic(&issuer_id, &issuer_secret),
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    let (status, _) = get_as("/v1/revocations/snapshot", "Basic bm9ib2R5Om5vdGhpbmc=").await;
    assert_eq!(status, 401);
}
