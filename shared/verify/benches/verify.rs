//! Verifications per second on one core: a valid ES256 token checked against a revocation set of
//! 10 000 revoked credentials, against an empty one, the same token again through the
//! [`TokenCache`] (hash, lookup, claim times, revocation check), and the revocation lookup alone.
//!
//! `CARGO_TARGET_DIR=/work/target-verify cargo bench -p clavis-verify --bench verify -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use clavis_verify::testing::TestIssuer;
use clavis_verify::{
    RevocationEntry, RevocationPage, RevocationSet, TokenCache, Validation, verify,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ISSUER: &str = "http://127.0.0.1:9000/lambda-url/api";
const AUDIENCE: &str = "https://orders.example";
const REVOKED: u64 = 10_000;

fn revocations(count: u64, now: SystemTime) -> RevocationSet {
    let page = RevocationPage {
        items: (1..=count)
            .map(|seq| RevocationEntry {
                seq,
                credential_id: format!("crd_01JDXYZABCDEFGHJKM{seq:08}"),
                client_id: "cli_01JDXYZABCDEFGHJKMNPQRSTVW".into(),
                reason: "key_compromise".into(),
                revoked_at: "2026-11-27T16:00:00Z".into(),
                expires_at: None,
            })
            .collect(),
        next: None,
    };
    let mut set = RevocationSet::new();
    set.mark_synced(now);
    if let Err(e) = set.apply_page(&page, now) {
        panic!("benchmark registry is contiguous: {e}");
    }
    set
}

fn bench(c: &mut Criterion) {
    let now = SystemTime::now();
    let issuer = TestIssuer::new(ISSUER, "key-1");
    let keys = issuer.key_set();
    let validation = Validation::new(ISSUER, AUDIENCE);
    let token = issuer.mint(&issuer.claims(AUDIENCE, "crd_01JDXYZABCDEFGHJKMNPQRSTVW", now));
    let many = revocations(REVOKED, now);
    let none = revocations(0, now);
    assert!(verify(&token, &keys, &many, &validation, now).is_ok());

    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    group.bench_function("valid_token_10k_revoked", |b| {
        b.iter(|| verify(black_box(&token), &keys, &many, &validation, now))
    });
    group.bench_function("valid_token_no_revocations", |b| {
        b.iter(|| verify(black_box(&token), &keys, &none, &validation, now))
    });
    let mut cache = TokenCache::default();
    assert!(cache.verify(&token, &keys, &many, &validation, now).is_ok());
    group.bench_function("repeated_token_cached_10k_revoked", |b| {
        b.iter(|| cache.verify(black_box(&token), &keys, &many, &validation, now))
    });
    group.bench_function("revocation_check_10k", |b| {
        b.iter(|| {
            many.check(
                black_box("crd_01JDXYZABCDEFGHJKM00005000"),
                now,
                &validation,
            )
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
