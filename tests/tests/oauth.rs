//! OAuth 2.0: the client credentials grant, KMS-signed RFC 9068 tokens verified by an
//! independent JOSE implementation and by clavis-verify, revocation reaching both the token
//! endpoint and the verifier, bearer tokens on the operator API, and RFC 6749 errors.

use std::collections::BTreeSet;

use clavis_tests::{
    basic, http, introspect, issue_credential, operator_auth, operator_bearer, register_client,
    registry_status, revoke_request, serde_urlencoded_form, stack, stack_logs, token_request, url,
};
use clavis_verify::{Authorization, Verifier, VerifierConfig, VerifyError};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde_json::{Value, json};

const SCOPES: &[&str] = &["orders:read", "orders:write"];
const AUDIENCES: &[&str] = &["https://orders.example", "https://billing.example"];
const CREDENTIALS: &[(&str, &str)] = &[("grant_type", "client_credentials")];

async fn jwks() -> JwkSet {
    let resp = http()
        .get(url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/jwk-set+json");
    resp.json().await.unwrap()
}

/// Verifies `token` with the `jsonwebtoken` crate against the served JWKS.
async fn independently_verified(token: &str, audience: &str) -> Value {
    let header = decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let keys = jwks().await;
    let jwk = keys
        .find(header.kid.as_deref().unwrap())
        .expect("the token's kid is in the JWKS");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&stack().issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("jsonwebtoken verifies the token")
        .claims
}

fn verifier(audience: &str) -> Verifier {
    let config = VerifierConfig::new(&stack().issuer, audience).with_authorization(
        Authorization::basic(&stack().operator_client_id, &stack().operator_client_secret).unwrap(),
    );
    Verifier::new(config).unwrap()
}

#[tokio::test]
async fn register_issue_token_verify_revoke_and_the_token_dies_everywhere() {
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let (credential_id, secret) = issue_credential(&client_id, SCOPES, AUDIENCES).await;

    let (status, answer) = token_request(
        &client_id,
        &secret,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "orders:read"),
            ("audience", "https://orders.example"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["scope"], "orders:read");
    let expires_in = answer["expires_in"].as_i64().unwrap();
    assert!((1..=900).contains(&expires_in), "{answer}");
    let token = answer["access_token"].as_str().unwrap().to_owned();
    assert!(!token.contains(&secret));

    // An independent JOSE implementation accepts it, with every RFC 9068 claim.
    let claims = independently_verified(&token, "https://orders.example").await;
    assert_eq!(claims["sub"], client_id.as_str());
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["credential_id"], credential_id.as_str());
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(claims["aud"], "https://orders.example");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        expires_in
    );
    assert!(claims["jti"].as_str().unwrap().starts_with("tok_"));

    // clavis-verify accepts it; the wrong audience does not.
    let orders = verifier("https://orders.example");
    orders.sync().await.unwrap();
    let verified = orders.verify(&token).await.unwrap();
    assert_eq!(verified.credential_id(), credential_id);
    assert!(verified.has_scope("orders:read") && !verified.has_scope("orders:write"));
    let billing = verifier("https://billing.example");
    billing.sync().await.unwrap();
    assert!(matches!(
        billing.verify(&token).await,
        Err(VerifyError::WrongAudience)
    ));
    assert_eq!(introspect(&token).await["active"], true);
    assert_eq!(introspect(&token).await["token_type"], "Bearer");

    let resp = revoke_request(&credential_id, "key_compromise")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // At once: no new token, and introspection says inactive.
    let (status, refused) = token_request(&client_id, &secret, CREDENTIALS).await;
    assert_eq!(status, 401);
    assert_eq!(refused["error"], "invalid_client");
    assert_eq!(introspect(&token).await, json!({"active": false}));
    // The verifier refuses the earlier token once it has synced (its staleness bound).
    orders.sync().await.unwrap();
    assert!(matches!(
        orders.verify(&token).await,
        Err(VerifyError::Revoked)
    ));
    // Neither the secret nor the token was ever logged.
    for (path, text) in stack_logs() {
        assert!(!text.contains(&secret), "the secret is in {path:?}");
        assert!(!text.contains(&token), "the token is in {path:?}");
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !text.contains(signature),
            "a token signature is in {path:?}"
        );
    }
}

#[tokio::test]
async fn a_token_carries_everything_its_credential_holds_when_nothing_narrower_is_asked() {
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let (_, secret) = issue_credential(&client_id, SCOPES, AUDIENCES).await;
    // client_secret_post this time.
    let form = serde_urlencoded_form(&[
        ("grant_type", "client_credentials"),
        ("client_id", &client_id),
        ("client_secret", &secret),
    ]);
    let resp = http()
        .post(url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["scope"], "orders:read orders:write");
    let claims =
        independently_verified(answer["access_token"].as_str().unwrap(), AUDIENCES[1]).await;
    let audiences: BTreeSet<&str> = claims["aud"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(audiences, AUDIENCES.iter().copied().collect());
}

/// A bad token request: form, Basic password, expected status and `error`.
type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, u16, &'a str);

#[tokio::test]
async fn bad_token_requests_get_rfc_6749_errors() {
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let (_, secret) = issue_credential(&client_id, SCOPES, AUDIENCES).await;
    let mut wrong = secret.clone();
    wrong.replace_range(12..13, if &secret[12..13] == "A" { "B" } else { "A" });

    let cases: Vec<Case> = vec![
        (
            vec![("grant_type", "password")],
            &secret,
            400,
            "unsupported_grant_type",
        ),
        (
            vec![("scope", "orders:read")],
            &secret,
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("scope", "orders:delete"),
            ],
            &secret,
            400,
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("resource", "https://evil.example"),
            ],
            &secret,
            400,
            "invalid_target",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("audience", "https://orders.example"),
                ("resource", "https://orders.example"),
            ],
            &secret,
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
            ],
            &secret,
            400,
            "invalid_request",
        ),
        (CREDENTIALS.to_vec(), &wrong, 401, "invalid_client"),
    ];
    for (form, password, status, error) in cases {
        let resp = http()
            .post(url("/oauth2/token"))
            .header("authorization", basic(&client_id, password))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded_form(&form))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{form:?}");
        if status == 401 {
            assert!(resp.headers().contains_key("www-authenticate"));
        }
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], error, "{form:?}: {body}");
        assert!(!body.to_string().contains(&secret));
    }
    // Not a form, or no client at all.
    let json_body = http()
        .post(url("/oauth2/token"))
        .header("authorization", basic(&client_id, &secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    let anonymous = http()
        .post(url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn the_operator_api_takes_bearer_tokens_and_each_route_its_scope() {
    let auditor = operator_bearer("clavis.auditor").await;
    let admin = operator_bearer("clavis.admin").await;
    let new_client = json!({
        "name": "bearer-made", "environment": "dev", "tier": "standard",
        "allowed_scopes": ["x:read"], "allowed_audiences": ["https://x.example"]
    });

    let forbidden = http()
        .post(url("/v1/clients"))
        .header("authorization", &auditor)
        .json(&new_client)
        .send()
        .await
        .unwrap();
    assert_eq!(
        forbidden.status(),
        403,
        "an auditor token registered a client"
    );
    let created = http()
        .post(url("/v1/clients"))
        .header("authorization", &admin)
        .json(&new_client)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // The registry needs clavis.registry: an auditor's token is authenticated, not entitled.
    assert_eq!(registry_status(&auditor).await, 403);
    let reader = operator_bearer("clavis.registry").await;
    assert_eq!(registry_status(&reader).await, 200);

    for garbage in ["Bearer nope", "Bearer a.b.c", &reader[..reader.len() - 3]] {
        let resp = http()
            .get(url("/v1/revocations"))
            .header("authorization", garbage)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{garbage}");
        let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("Bearer"), "{challenge}");
    }
    // A token for another audience is not an operator token.
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let (_, client_secret) = issue_credential(&client_id, SCOPES, AUDIENCES).await;
    let (_, other) = token_request(&client_id, &client_secret, CREDENTIALS).await;
    let resp = http()
        .get(url("/v1/revocations"))
        .header(
            "authorization",
            format!("Bearer {}", other["access_token"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Basic still works.
    let resp = http()
        .get(url("/v1/revocations?limit=1"))
        .header("authorization", operator_auth())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn the_metadata_names_the_endpoints_and_the_jwks_the_signing_key() {
    let meta: Value = http()
        .get(url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], stack().issuer.as_str());
    assert_eq!(
        meta["token_endpoint"],
        format!("{}/oauth2/token", stack().issuer)
    );
    assert_eq!(
        meta["jwks_uri"],
        format!("{}/.well-known/jwks.json", stack().issuer)
    );
    let keys = jwks().await;
    let kid = clavis_aws::kms::key_id_of(&stack().signing_key_id);
    assert!(
        keys.find(kid).is_some(),
        "the signing key {kid} is published"
    );
}
