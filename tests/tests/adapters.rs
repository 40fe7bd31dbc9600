//! The KMS, EventBridge and SQS adapters against the local cloud.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clavis_aws::clients::OnFirstUse;
use clavis_aws::events::{EventPublisher, OutboundEvent};
use clavis_aws::kms::{EncryptionContext, Kms};
use clavis_aws::sqs::QueueSender;
use clavis_tests::{await_message, sdk, stack};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::EncodedPoint;
use serde_json::json;

#[tokio::test]
async fn a_kms_signature_verifies_with_p256_against_the_served_jwk() {
    let kms = Kms::new(aws_sdk_kms::Client::new(&sdk().await));
    let key = &stack().signing_key_id;
    let message = b"header.payload";
    let jose = kms.sign_es256(key, message).await.unwrap();
    let jwk = kms.public_jwk(key).await.unwrap();
    assert_eq!(
        (jwk.kty.as_str(), jwk.crv.as_str(), jwk.alg.as_str()),
        ("EC", "P-256", "ES256")
    );

    let x = URL_SAFE_NO_PAD.decode(&jwk.x).unwrap();
    let y = URL_SAFE_NO_PAD.decode(&jwk.y).unwrap();
    let point = EncodedPoint::<p256::NistP256>::from_affine_coordinates(
        x.as_slice().into(),
        y.as_slice().into(),
        false,
    );
    let verifier = VerifyingKey::from_encoded_point(&point).unwrap();
    let signature = Signature::from_slice(&jose).unwrap();
    verifier.verify(message, &signature).unwrap();
    assert!(verifier.verify(b"header.other", &signature).is_err());
}

#[tokio::test]
async fn a_ciphertext_opens_only_under_its_own_context() {
    let kms = Kms::new(aws_sdk_kms::Client::new(&sdk().await));
    let key = &stack().secrets_key_id;
    let context: EncryptionContext = BTreeMap::from([
        ("request_id".to_owned(), "req_1".to_owned()),
        ("credential_id".to_owned(), "crd_1".to_owned()),
    ]);
    let ciphertext = kms.encrypt(key, b"pickup copy", &context).await.unwrap();
    assert!(!ciphertext.windows(11).any(|w| w == b"pickup copy"));
    let plain = kms.decrypt(key, &ciphertext, &context).await.unwrap();
    assert_eq!(plain.as_slice(), b"pickup copy");

    let mut other = context.clone();
    other.insert("credential_id".into(), "crd_2".into());
    let err = kms.decrypt(key, &ciphertext, &other).await.unwrap_err();
    assert!(err.is_retryable() || err.http_status() >= 500, "{err:?}");
}

#[tokio::test]
async fn an_event_put_on_the_bus_arrives_in_the_subscriber_queue() {
    let config = sdk().await;
    let s = stack();
    let publisher =
        EventPublisher::new(aws_sdk_eventbridge::Client::new(&config), &s.event_bus_name);
    let marker = format!("evt_{}", ulid_like());
    publisher
        .publish(&[OutboundEvent {
            detail_type: "Credential Revoked".into(),
            detail: json!({"event_id": marker, "schema_version": "1", "seq": 1}),
        }])
        .await
        .unwrap();

    let m = await_message(&s.subscriber_queue_url, |body| body.contains(&marker)).await;
    let body: serde_json::Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap();
    assert_eq!(body["detail"]["event_id"], marker.as_str());
    assert_eq!(body["source"], "clavis");
    assert_eq!(body["detail-type"], "Credential Revoked");
}

#[tokio::test]
async fn a_dead_letter_keeps_its_body_and_error_type() {
    let config = sdk().await;
    let queue = stack()
        .queues
        .iter()
        .find(|(name, _)| name.contains("workflow-dlq") || name.contains("WorkflowDlq"))
        .map(|(_, url)| url.clone())
        .expect("workflow DLQ");
    let marker = ulid_like();
    let body =
        json!({"input": {"request_id": marker}, "error": "Clavis.Transient.timeout"}).to_string();
    QueueSender::new(OnFirstUse::new(&config, clavis_aws::clients::sqs))
        .send(&queue, &body, Some("Clavis.Transient.timeout"))
        .await
        .unwrap();

    let m = await_message(&queue, |b| b.contains(&marker)).await;
    assert_eq!(m.body(), Some(body.as_str()));
    let kind = m.message_attributes().and_then(|a| a.get("error_type"));
    assert_eq!(
        kind.and_then(|v| v.string_value()),
        Some("Clavis.Transient.timeout")
    );
}

fn ulid_like() -> String {
    clavis_core::ids::RequestId::generate().ulid().to_string()
}
