//! The networked verifier against an in-process stand-in issuer: JWKS caching and bounded
//! refresh, key rotation, registry paging with the caller's credential, event-driven backfill,
//! and fail-closed behaviour when the registry cannot be read.

mod support;

use std::time::{Duration, SystemTime};

use clavis_verify::testing::TestIssuer;
use clavis_verify::{
    Authorization, EventOutcome, FetchError, RevocationEvent, Verifier, VerifierConfig, VerifyError,
};
use serde_json::json;
use support::FakeIssuer;

const AUDIENCE: &str = "https://orders.example";
const JWKS: &str = "/.well-known/jwks.json";
const REGISTRY: &str = "/v1/revocations";
const SNAPSHOT: &str = "/v1/revocations/snapshot";

fn credential(n: u32) -> String {
    format!("crd_01JDXYZABCDEFGHJKMNPQRS{n:03}")
}

async fn setup(kid: &str) -> (FakeIssuer, TestIssuer, VerifierConfig) {
    // The stand-in needs its address before the signing issuer knows its URL.
    let placeholder = TestIssuer::new("http://placeholder", kid);
    let server = FakeIssuer::start(placeholder.jwks_json()).await;
    let signer = TestIssuer::new(&server.base, kid);
    server.set_jwks(signer.jwks_json());
    let config = VerifierConfig::new(&server.base, AUDIENCE)
        .with_authorization(Authorization::basic("cli_rs", "s3cret").unwrap());
    (server, signer, config)
}

fn token(signer: &TestIssuer, credential_id: &str) -> String {
    signer.mint(&signer.claims(AUDIENCE, credential_id, SystemTime::now()))
}

#[tokio::test]
async fn keys_are_fetched_on_first_use_and_cached() {
    let (server, signer, config) = setup("key-1").await;
    let verifier = Verifier::new(config).unwrap();
    verifier.sync().await.unwrap();
    for _ in 0..3 {
        verifier
            .verify(&token(&signer, &credential(1)))
            .await
            .unwrap();
    }
    assert_eq!(server.seen(JWKS).len(), 1);
    assert_eq!(verifier.key_ids(), ["key-1"]);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_the_issuer_one_fetch_per_interval() {
    let (server, signer, config) = setup("key-1").await;
    let verifier = Verifier::new(config).unwrap();
    verifier.sync().await.unwrap();
    let claims = signer.claims(AUDIENCE, &credential(1), SystemTime::now());
    for kid in ["random-1", "random-2", "random-3"] {
        let forged = signer.mint_with_header(
            &json!({"alg": "ES256", "typ": "at+jwt", "kid": kid}),
            &claims,
        );
        assert_eq!(verifier.verify(&forged).await, Err(VerifyError::UnknownKey));
    }
    assert_eq!(
        server.seen(JWKS).len(),
        1,
        "a second unknown kid does not refetch"
    );
    // A token with a known kid is unaffected.
    verifier
        .verify(&token(&signer, &credential(1)))
        .await
        .unwrap();
    assert_eq!(server.seen(JWKS).len(), 1);
}

#[tokio::test]
async fn a_rotated_in_key_is_fetched_once_the_interval_has_passed() {
    let (server, old, mut config) = setup("key-old").await;
    config.jwks_min_refresh_interval = Duration::from_millis(200);
    let verifier = Verifier::new(config).unwrap();
    verifier.sync().await.unwrap();
    verifier.verify(&token(&old, &credential(1))).await.unwrap();

    let new = TestIssuer::new(&server.base, "key-new");
    server.set_jwks(json!({"keys": [old.jwk(), new.jwk()]}).to_string());
    tokio::time::sleep(Duration::from_millis(250)).await;
    verifier.verify(&token(&new, &credential(1))).await.unwrap();
    verifier.verify(&token(&old, &credential(1))).await.unwrap();
    assert_eq!(server.seen(JWKS).len(), 2);

    // The old key is retired: once the JWKS is refetched its tokens are refused.
    server.set_jwks(new.jwks_json());
    assert_eq!(verifier.refresh_keys().await.unwrap(), 1);
    assert_eq!(
        verifier.verify(&token(&old, &credential(1))).await,
        Err(VerifyError::UnknownKey)
    );
}

#[tokio::test]
async fn a_failed_jwks_fetch_keeps_the_cached_keys() {
    let (server, signer, config) = setup("key-1").await;
    let verifier = Verifier::new(config).unwrap();
    verifier.sync().await.unwrap();
    verifier.refresh_keys().await.unwrap();
    server.set_jwks_status(302);
    assert!(matches!(
        verifier.refresh_keys().await,
        Err(FetchError::Status { status: 302, .. })
    ));
    server.set_jwks_status(200);
    server.set_jwks(r#"{"keys":[]}"#.into());
    assert!(matches!(
        verifier.refresh_keys().await,
        Err(FetchError::Jwks(_))
    ));
    verifier
        .verify(&token(&signer, &credential(1)))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_sync_follows_next_pages_and_sends_the_callers_authorization() {
    let (server, signer, mut config) = setup("key-1").await;
    config.page_limit = 2;
    for n in 1..=5 {
        server.revoke(&credential(n));
    }
    let verifier = Verifier::new(config).unwrap();
    let report = verifier.sync().await.unwrap();
    assert_eq!((report.pages, report.last_seq, report.revoked), (3, 5, 5));
    let seen = server.seen(REGISTRY);
    let queries: Vec<_> = seen.iter().map(|s| s.query.as_str()).collect();
    assert_eq!(
        queries,
        ["since=0&limit=2", "since=2&limit=2", "since=4&limit=2"]
    );
    for request in &seen {
        assert_eq!(
            request.authorization.as_deref(),
            Some("Basic Y2xpX3JzOnMzY3JldA==")
        );
    }
    assert!(server.seen(JWKS).iter().all(|s| s.authorization.is_none()));

    assert_eq!(
        verifier.verify(&token(&signer, &credential(3))).await,
        Err(VerifyError::Revoked)
    );
    verifier
        .verify(&token(&signer, &credential(6)))
        .await
        .unwrap();

    // Incremental: the next sync asks only for what follows.
    server.revoke(&credential(6));
    let report = verifier.sync().await.unwrap();
    assert_eq!((report.pages, report.last_seq), (1, 6));
    assert_eq!(
        server.seen(REGISTRY).last().unwrap().query,
        "since=5&limit=2"
    );
    assert_eq!(
        verifier.verify(&token(&signer, &credential(6))).await,
        Err(VerifyError::Revoked)
    );
}

#[tokio::test]
async fn a_new_verifier_starts_from_the_snapshot_and_forgets_what_expires() {
    let (server, signer, mut config) = setup("key-1").await;
    config.page_limit = 2;
    server.enable_snapshot();
    for n in 1..=10 {
        let expires = if n <= 7 {
            "2020-01-01T00:00:00Z"
        } else {
            "2999-01-01T00:00:00Z"
        };
        server.revoke_expiring(&credential(n), expires);
    }
    let verifier = Verifier::new(config).unwrap();
    let report = verifier.sync().await.unwrap();
    assert_eq!(
        (report.from_snapshot, report.last_seq, report.revoked),
        (3, 10, 3),
        "{report:?}"
    );
    let cursors: Vec<_> = server
        .seen(SNAPSHOT)
        .iter()
        .map(|s| s.query.clone())
        .collect();
    assert_eq!(
        cursors,
        [
            "limit=2",
            "limit=2&cursor=2",
            "limit=2&cursor=4",
            "limit=2&cursor=6",
            "limit=2&cursor=8"
        ]
    );
    assert!(
        server
            .seen(SNAPSHOT)
            .iter()
            .all(|s| s.authorization.as_deref() == Some("Basic Y2xpX3JzOnMzY3JldA=="))
    );
    let registry: Vec<_> = server
        .seen(REGISTRY)
        .iter()
        .map(|s| s.query.clone())
        .collect();
    assert_eq!(
        registry,
        ["since=10&limit=2"],
        "followed from the snapshot's seq"
    );
    assert_eq!(
        verifier.verify(&token(&signer, &credential(9))).await,
        Err(VerifyError::Revoked)
    );

    // Later syncs follow the registry, and an entry that came with an expiry already past is
    // forgotten at the end of the sync.
    server.revoke_expiring(&credential(11), "2020-01-01T00:00:00Z");
    let report = verifier.sync().await.unwrap();
    assert_eq!(
        (report.last_seq, report.forgotten, report.revoked),
        (11, 1, 3)
    );
    assert_eq!(server.seen(SNAPSHOT).len(), 5, "one snapshot only");
}

#[tokio::test]
async fn an_issuer_without_snapshots_is_read_from_seq_zero() {
    let (server, _, config) = setup("key-1").await;
    server.revoke(&credential(1));
    let verifier = Verifier::new(config).unwrap();
    let report = verifier.sync().await.unwrap();
    assert_eq!((report.from_snapshot, report.last_seq), (0, 1));
    assert_eq!(server.seen(SNAPSHOT).len(), 1, "asked once, answered 404");
    assert_eq!(server.seen(REGISTRY)[0].query, "since=0&limit=1000");
    verifier.sync().await.unwrap();
    assert_eq!(server.seen(SNAPSHOT).len(), 1, "not asked again");
}

#[tokio::test]
async fn sync_if_due_asks_the_registry_only_once_a_poll_interval_has_passed() {
    let (server, _signer, mut config) = setup("key-1").await;
    config.poll_interval = Duration::from_millis(200);
    let verifier = Verifier::new(config).unwrap();
    assert!(
        verifier.sync_if_due().await.unwrap().is_some(),
        "never synced"
    );
    assert_eq!(verifier.sync_if_due().await.unwrap(), None);
    assert_eq!(server.seen(REGISTRY).len(), 1);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(verifier.sync_if_due().await.unwrap().is_some());
    assert_eq!(server.seen(REGISTRY).len(), 2);
}

#[tokio::test]
async fn tokens_are_refused_until_the_first_sync_and_after_max_staleness() {
    let (server, signer, config) = setup("key-1").await;
    let verifier = Verifier::new(config).unwrap();
    let t = token(&signer, &credential(1));
    assert_eq!(
        verifier.verify(&t).await,
        Err(VerifyError::RevocationStatusUnknown)
    );
    server.set_registry_status(503);
    assert!(matches!(
        verifier.sync().await,
        Err(FetchError::Status { status: 503, .. })
    ));
    assert_eq!(
        verifier.verify(&t).await,
        Err(VerifyError::RevocationStatusUnknown)
    );
    server.set_registry_status(200);
    verifier.sync().await.unwrap();
    assert!(verifier.revocation_status().fresh);
    verifier.verify(&t).await.unwrap();
    let later = SystemTime::now() + Duration::from_secs(121);
    assert_eq!(
        verifier.verify_at(&t, later).await,
        Err(VerifyError::RevocationStatusUnknown)
    );
}

#[tokio::test]
async fn events_are_refused_at_once_and_a_gap_wakes_the_background_sync() {
    let (server, signer, mut config) = setup("key-1").await;
    config.poll_interval = Duration::from_secs(3600);
    server.revoke(&credential(1));
    let verifier = Verifier::new(config).unwrap();
    let background = verifier.spawn_sync();
    wait_until(|| verifier.revocation_status().last_seq == 1).await;

    let event = |seq: u64, n: u32| RevocationEvent {
        event_id: format!("evt_{seq}"),
        seq,
        credential_id: credential(n),
        client_id: String::new(),
        reason: "key_compromise".into(),
        revoked_at: String::new(),
        expires_at: None,
    };
    server.revoke(&credential(2));
    assert_eq!(verifier.apply_event(&event(2, 2)), EventOutcome::Applied);
    assert_eq!(verifier.apply_event(&event(2, 2)), EventOutcome::Duplicate);
    assert_eq!(
        verifier.verify(&token(&signer, &credential(2))).await,
        Err(VerifyError::Revoked)
    );

    server.revoke(&credential(3));
    server.revoke(&credential(4));
    assert!(matches!(
        verifier.apply_event(&event(4, 4)),
        EventOutcome::Gap {
            missing_from: 3,
            seq: 4
        }
    ));
    assert_eq!(
        verifier.verify(&token(&signer, &credential(4))).await,
        Err(VerifyError::Revoked)
    );
    // The missed seq 3 arrives by backfill, long before the hour-long poll interval.
    wait_until(|| verifier.revocation_status().last_seq == 4).await;
    assert!(!verifier.revocation_status().needs_backfill);
    assert_eq!(
        server.seen(REGISTRY).last().unwrap().query,
        "since=2&limit=1000"
    );
    assert_eq!(
        verifier.verify(&token(&signer, &credential(3))).await,
        Err(VerifyError::Revoked)
    );
    background.abort();
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not reached within 5 s");
}
