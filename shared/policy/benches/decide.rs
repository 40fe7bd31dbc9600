//! Decisions per second on one core, with the shipped policies: an issuance that is allowed,
//! one the scope ceiling refuses, and a registry read (the smallest request).
//!
//! `cargo bench -p clavis-policy --bench decide -- --warm-up-time 1 --measurement-time 3`

use std::collections::BTreeSet;
use std::hint::black_box;

use clavis_core::client::{Client, ClientStatus, Environment, Tier};
use clavis_core::ids::{ClientId, CredentialId};
use clavis_core::issuance::CredentialRequest;
use clavis_policy::{Action, Operator, PolicyEngine};
use criterion::{Criterion, criterion_group, criterion_main};

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn bench(c: &mut Criterion) {
    let engine = match PolicyEngine::shipped("dev") {
        Ok(e) => e,
        Err(e) => panic!("the shipped policies load: {e}"),
    };
    let (operator_id, credential_id) = (ClientId::generate(), CredentialId::generate());
    let issuer_scopes = set(&["clavis.issuer"]);
    let operator = Operator {
        client_id: &operator_id,
        credential_id: &credential_id,
        scopes: &issuer_scopes,
    };
    let client = Client {
        client_id: ClientId::generate(),
        name: "billing".into(),
        owner: operator_id.to_string(),
        environment: Environment::Dev,
        tier: Tier::Standard,
        allowed_scopes: set(&["billing:read", "clavis.admin"]),
        allowed_audiences: set(&["https://billing.example"]),
        status: ClientStatus::Active,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        revocation: None,
        suspension: None,
        auto_rotate: false,
        delivery: None,
    };
    let request = |scopes: &[&str]| {
        CredentialRequest {
            ttl_seconds: 3600,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            audiences: vec!["https://billing.example".into()],
            justification: "benchmark".into(),
            approval_window_seconds: None,
        }
        .validate()
        .unwrap_or_else(|e| panic!("valid request: {e}"))
    };
    let allowed = request(&["billing:read"]);
    let escalation = request(&["clavis.admin"]);

    let mut group = c.benchmark_group("decide");
    group.bench_function("issuance allowed", |b| {
        b.iter(|| {
            engine.decide(
                black_box(operator),
                Action::RequestIssuance(&client, &allowed),
            )
        })
    });
    group.bench_function("issuance refused by the scope ceiling", |b| {
        b.iter(|| {
            engine.decide(
                black_box(operator),
                Action::RequestIssuance(&client, &escalation),
            )
        })
    });
    group.bench_function("registry read", |b| {
        b.iter(|| engine.decide(black_box(operator), Action::ReadRegistry))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
