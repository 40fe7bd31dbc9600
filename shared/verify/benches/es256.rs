//! One ES256 verification, three implementations side by side: `p256` (pure Rust, what
//! clavis-verify used first), `ring` and `aws-lc-rs` (both already in the build through
//! rustls). Same key, same 300-byte signing input, same signature.
//!
//! `cargo bench -p clavis-verify --bench es256 -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey};

fn bench(c: &mut Criterion) {
    let key = SigningKey::from_slice(&[7u8; 32]).expect("a valid scalar");
    let message = vec![b'e'; 300];
    let signature: Signature = key.sign(&message);
    let fixed = signature.to_bytes();
    let sec1 = key.verifying_key().to_encoded_point(false);
    let public = sec1.as_bytes().to_vec();

    let ring_key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        public.clone(),
    );
    let lc_key = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
        public.clone(),
    );
    assert!(key.verifying_key().verify(&message, &signature).is_ok());
    assert!(ring_key.verify(&message, &fixed).is_ok());
    assert!(lc_key.verify(&message, &fixed).is_ok());

    let mut group = c.benchmark_group("es256_verify");
    group.throughput(Throughput::Elements(1));
    group.bench_function("p256", |b| {
        b.iter(|| key.verifying_key().verify(black_box(&message), &signature))
    });
    group.bench_function("ring", |b| {
        b.iter(|| ring_key.verify(black_box(&message), &fixed))
    });
    group.bench_function("aws_lc_rs", |b| {
        b.iter(|| lc_key.verify(black_box(&message), &fixed))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
