//! Signing-key rotation, end to end against the local cloud's KMS and table: the next key is
//! published before it signs, then signs while the previous key stays published (its tokens
//! keep verifying, here and at resource servers), then the previous key is retired and its
//! tokens stop verifying.
//!
//! The running stack's configuration is fixed for its lifetime (one environment for every
//! function), so each phase of the rotation is the api's own handler, configured as that
//! deployment would be, over the same table and KMS.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use clavis_api::App;
use clavis_api::client_revocation::RevokeClientConfig;
use clavis_api::issuance::IssueConfig;
use clavis_api::oauth::OAuthConfig;
use clavis_aws::clients::OnFirstUse;
use clavis_aws::dynamo::Repository;
use clavis_aws::kms::{Kms, key_id_of};
use clavis_aws::sqs::QueueSender;
use clavis_aws::workflows::{Launcher, Workflows};
use clavis_lambda::governance::Governance;
use clavis_tests::{basic, issue_credential, register_client, sdk, stack, token_request};
use clavis_verify::{KeySet, RevocationSet, Validation, VerifyError};
use jsonwebtoken::{Algorithm, DecodingKey, decode, decode_header, jwk::JwkSet};
use lambda_http::Body;
use serde_json::Value;

const SCOPES: &[&str] = &["ledger:read"];

/// The tests here count the process's KMS calls: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const AUDIENCE: &str = "https://ledger.example";
const FORM: &[(&str, &str)] = &[("grant_type", "client_credentials")];

/// A fresh ES256 signing key in the local cloud's KMS, as an operator would create it.
async fn new_signing_key() -> String {
    let kms = aws_sdk_kms::Client::new(&sdk().await);
    let created = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .description("clavis test: the next signing key")
        .send()
        .await
        .unwrap();
    created.key_metadata().unwrap().arn().unwrap().to_owned()
}

/// The api as deployed with `signing` as `SigningKeyArn` and `published` as
/// `PublishedSigningKeyIds`.
async fn api_signing_with(signing: &str, published: &[&str]) -> App {
    let sdk = sdk().await;
    let s = stack();
    App::new(
        Repository::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &s.table_name,
            &s.audit_table_name,
        ),
        // Counted, like the api's own client: the KMS calls of a container can be read.
        Kms::new(clavis_aws::clients::kms(&sdk)),
        Launcher::new(
            Workflows::new(aws_sdk_sfn::Client::new(&sdk)),
            QueueSender::new(OnFirstUse::new(&sdk, clavis_aws::clients::sqs)),
            &s.queues["intake"],
        ),
        IssueConfig {
            state_machine_arn: s.state_machines["issue"].clone(),
            wait: Duration::from_secs(5),
            secrets_key_id: s.secrets_key_id.clone(),
            rotate_state_machine_arn: s.state_machines["rotate"].clone(),
            delivery_prefix: s.delivery_prefix.clone(),
        },
        RevokeClientConfig {
            state_machine_arn: s.state_machines["revoke-client"].clone(),
        },
        OAuthConfig {
            issuer: s.issuer.clone(),
            signing_key_id: signing.to_owned(),
            published_key_ids: published.iter().map(|k| (*k).to_owned()).collect(),
            token_ttl_seconds: clavis_core::token::DEFAULT_TOKEN_TTL_SECONDS,
            use_resolution: time::Duration::minutes(1),
        },
        Governance::shipped(&s.stage, "api").expect("the shipped policies load"),
    )
}

/// Status and body of one request to `app`.
async fn call(
    app: &App,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (u16, String) {
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = app.handle(builder.body(Body::from(body)).unwrap()).await;
    let text = match response.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8(b.clone()).unwrap(),
        _ => String::new(),
    };
    (response.status().as_u16(), text)
}

/// The JWKS `app` serves.
async fn jwks(app: &App) -> String {
    let (status, text) = call(app, "GET", "/.well-known/jwks.json", &[], String::new()).await;
    assert_eq!(status, 200, "{text}");
    text
}

fn kids(jwks: &str) -> BTreeSet<String> {
    let set: JwkSet = serde_json::from_str(jwks).unwrap();
    set.keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect()
}

fn kid(token: &str) -> String {
    decode_header(token).unwrap().kid.unwrap()
}

/// A token from `app` for the client's credential.
async fn token_from(app: &App, client_id: &str, secret: &str) -> String {
    let (status, text) = call(
        app,
        "POST",
        "/oauth2/token",
        &[
            ("authorization", &basic(client_id, secret)),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "grant_type=client_credentials".into(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str::<Value>(&text).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Whether `app`'s introspection calls `token` active.
async fn active_at(app: &App, token: &str) -> bool {
    let auth = basic(&stack().operator_client_id, &stack().operator_client_secret);
    let (status, text) = call(
        app,
        "POST",
        "/oauth2/introspect",
        &[
            ("authorization", &auth),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        format!("token={token}"),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str::<Value>(&text).unwrap()["active"] == true
}

/// `token` checked by an independent JOSE implementation against `jwks`.
fn jsonwebtoken_accepts(token: &str, jwks: &str) -> bool {
    let set: JwkSet = serde_json::from_str(jwks).unwrap();
    let Some(jwk) = set.find(&kid(token)) else {
        return false;
    };
    let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&stack().issuer]);
    validation.set_audience(&[AUDIENCE]);
    decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).is_ok()
}

/// `token` checked by clavis-verify against `jwks`, as a resource server would.
fn clavis_verify(token: &str, jwks: &str) -> Result<(), VerifyError> {
    let keys = KeySet::from_jwks_json(jwks.as_bytes()).unwrap();
    let validation = Validation::new(stack().issuer.clone(), AUDIENCE);
    // Nothing is revoked here; keys are what this test is about.
    let mut revocations = RevocationSet::new();
    revocations.mark_synced(SystemTime::now());
    clavis_verify::verify(token, &keys, &revocations, &validation, SystemTime::now()).map(|_| ())
}

#[tokio::test]
async fn a_signing_key_rotation_keeps_unexpired_tokens_valid_until_the_old_key_retires() {
    let _one = SERIAL.lock().await;
    let client_id = register_client("standard", SCOPES, &[AUDIENCE]).await;
    let (_, secret) = issue_credential(&client_id, SCOPES, &[AUDIENCE]).await;
    let old_key = stack().signing_key_id.clone();
    let next_key = new_signing_key().await;
    let (old_kid, next_kid) = (key_id_of(&old_key), key_id_of(&next_key));

    // Before: the running stack signs with its own key.
    let (status, answer) = token_request(&client_id, &secret, FORM).await;
    assert_eq!(status, 200, "{answer}");
    let old_token = answer["access_token"].as_str().unwrap().to_owned();
    assert_eq!(kid(&old_token), old_kid);

    // 1. The next key is published before it signs, so cached JWKS learn it in time.
    let prepublished = api_signing_with(&old_key, &[&next_key]).await;
    let jwks_1 = jwks(&prepublished).await;
    assert_eq!(
        kids(&jwks_1),
        BTreeSet::from([old_kid.into(), next_kid.into()])
    );
    let token_1 = token_from(&prepublished, &client_id, &secret).await;
    assert_eq!(kid(&token_1), old_kid, "the next key does not sign yet");

    // 2. The next key signs; the old one stays published, and every token verifies.
    let switched = api_signing_with(&next_key, &[&old_key]).await;
    let jwks_2 = jwks(&switched).await;
    assert_eq!(kids(&jwks_2), kids(&jwks_1));
    let new_token = token_from(&switched, &client_id, &secret).await;
    assert_eq!(kid(&new_token), next_kid);
    for token in [&old_token, &token_1, &new_token] {
        assert!(active_at(&switched, token).await);
        assert!(jsonwebtoken_accepts(token, &jwks_2));
        assert_eq!(clavis_verify(token, &jwks_2), Ok(()));
        // A resource server that fetched the JWKS in phase 1 already knows both keys.
        assert_eq!(clavis_verify(token, &jwks_1), Ok(()));
    }

    // 3. Once the old key's tokens have expired it is retired: its tokens no longer verify.
    let retired = api_signing_with(&next_key, &[]).await;
    let jwks_3 = jwks(&retired).await;
    assert_eq!(kids(&jwks_3), BTreeSet::from([next_kid.into()]));
    assert!(active_at(&retired, &new_token).await);
    assert!(jsonwebtoken_accepts(&new_token, &jwks_3));
    for token in [&old_token, &token_1] {
        assert!(!active_at(&retired, token).await);
        assert!(!jsonwebtoken_accepts(token, &jwks_3));
        assert_eq!(clavis_verify(token, &jwks_3), Err(VerifyError::UnknownKey));
    }
    // The running stack never learnt the next key: a token it did not sign is inactive there.
    assert!(
        !clavis_tests::introspect(&new_token).await["active"]
            .as_bool()
            .unwrap()
    );
}

#[tokio::test]
async fn a_new_api_container_serves_the_jwks_and_verifies_tokens_without_asking_kms() {
    let _one = SERIAL.lock().await;
    let signing = new_signing_key().await;
    let operator = (&stack().operator_client_id, &stack().operator_client_secret);
    let get_public_key = |calls: &std::collections::BTreeMap<String, u64>| {
        calls.get("KMS.GetPublicKey").copied().unwrap_or(0)
    };

    // The first container after a change of keys asks KMS, once per key, and stores the set.
    let first = api_signing_with(&signing, &[]).await;
    clavis_aws::calls::drain();
    let served = jwks(&first).await;
    let calls = clavis_aws::calls::drain();
    assert_eq!(get_public_key(&calls), 1, "{calls:?}");
    assert_eq!(
        kids(&served),
        BTreeSet::from([key_id_of(&signing).to_owned()])
    );

    // Every container after it reads the stored set: the JWKS, and its own bearer tokens
    // verified, without a single GetPublicKey.
    let second = api_signing_with(&signing, &[]).await;
    let token = token_from(&second, operator.0, operator.1).await;
    clavis_aws::calls::drain();
    assert_eq!(jwks(&second).await, served);
    let bearer = format!("Bearer {token}");
    let (status, text) = call(
        &second,
        "GET",
        &format!("/v1/clients/{}", operator.0),
        &[("authorization", &bearer)],
        String::new(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let calls = clavis_aws::calls::drain();
    assert_eq!(get_public_key(&calls), 0, "{calls:?}");

    // Another key set is another document: publishing a next key asks KMS again.
    let next = new_signing_key().await;
    let third = api_signing_with(&signing, &[&next]).await;
    clavis_aws::calls::drain();
    assert_eq!(kids(&jwks(&third).await).len(), 2);
    assert_eq!(get_public_key(&clavis_aws::calls::drain()), 2);
}
