//! A stand-in Clavis issuer for tests (feature `testing`): a fresh P-256 key that publishes its
//! JWK and mints access tokens of the exact Clavis shape, so a resource server can test its own
//! handlers without the issuer. Test code only: it panics when the OS has no randomness.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_json::{Value, json};

use crate::jwks::KeySet;

/// Lifetime of the tokens [`TestIssuer::claims`] describes.
pub const TOKEN_TTL_SECONDS: i64 = 300;

/// A signing key with an issuer URL and key id, minting ES256 access tokens.
pub struct TestIssuer {
    key: SigningKey,
    verifying: VerifyingKey,
    issuer: String,
    kid: String,
}

impl TestIssuer {
    /// A fresh random key for `issuer` under key id `kid`.
    ///
    /// # Panics
    /// If the operating system cannot supply random bytes.
    pub fn new(issuer: &str, kid: &str) -> Self {
        let key = loop {
            let mut seed = [0u8; 32];
            if let Err(e) = getrandom::fill(&mut seed) {
                panic!("no OS randomness for a test key: {e}");
            }
            // Zero or at least the group order: vanishingly rare, draw again.
            if let Ok(key) = SigningKey::from_slice(&seed) {
                break key;
            }
        };
        let verifying = *key.verifying_key();
        Self {
            key,
            verifying,
            issuer: issuer.to_owned(),
            kid: kid.to_owned(),
        }
    }

    /// The issuer URL tokens carry in `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key id tokens carry in `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// The public key as a JWK, as the Clavis JWKS publishes it.
    pub fn jwk(&self) -> Value {
        let point = self.verifying.to_encoded_point(false);
        let coordinate =
            |c: Option<&p256::FieldBytes>| c.map(|c| URL_SAFE_NO_PAD.encode(c)).unwrap_or_default();
        json!({
            "kty": "EC", "crv": "P-256",
            "x": coordinate(point.x()), "y": coordinate(point.y()),
            "kid": self.kid, "alg": "ES256", "use": "sig",
        })
    }

    /// `{"keys":[<this key>]}` as JSON text.
    pub fn jwks_json(&self) -> String {
        json!({ "keys": [self.jwk()] }).to_string()
    }

    /// A key set holding only this key.
    pub fn key_set(&self) -> KeySet {
        KeySet::from_keys([(self.kid.clone(), self.verifying)])
    }

    /// The standard header: `{"alg":"ES256","typ":"at+jwt","kid":…}`.
    pub fn header(&self) -> Value {
        json!({ "alg": "ES256", "typ": "at+jwt", "kid": self.kid })
    }

    /// Valid claims for `audience` and `credential_id`, issued at `now`, expiring 5 min later,
    /// with scope `read write`.
    pub fn claims(&self, audience: &str, credential_id: &str, now: SystemTime) -> Value {
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        json!({
            "iss": self.issuer,
            "sub": "cli_01jdxyzabcdefghjkmnpqrstvw",
            "client_id": "cli_01jdxyzabcdefghjkmnpqrstvw",
            "aud": audience,
            "scope": "read write",
            "iat": iat,
            "exp": iat + TOKEN_TTL_SECONDS,
            "jti": format!("jti-{iat}"),
            "credential_id": credential_id,
        })
    }

    /// A token with the standard header and these claims.
    pub fn mint(&self, claims: &Value) -> String {
        self.mint_with_header(&self.header(), claims)
    }

    /// A token with this header and these claims, signed ES256 whatever the header says, in
    /// the low-S spelling (as Clavis signs).
    pub fn mint_with_header(&self, header: &Value, claims: &Value) -> String {
        let signature = self.sign_low_s(header, claims);
        let signing_input = format!("{}.{}", encode_part(header), encode_part(claims));
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    /// The same token in its other, high-S spelling `(r, n - s)`: a valid ECDSA signature
    /// that verifiers must refuse.
    pub fn mint_high_s(&self, claims: &Value) -> String {
        let header = self.header();
        let low = self.sign_low_s(&header, claims);
        let (r, s) = low.split_scalars();
        let high = match Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()) {
            Ok(high) => high,
            Err(e) => panic!("n - s of a valid s is valid: {e}"),
        };
        let signing_input = format!("{}.{}", encode_part(&header), encode_part(claims));
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(high.to_bytes())
        )
    }

    fn sign_low_s(&self, header: &Value, claims: &Value) -> Signature {
        let signing_input = format!("{}.{}", encode_part(header), encode_part(claims));
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        signature.normalize_s().unwrap_or(signature)
    }
}

/// A JSON value as a base64url token part (for crafting tokens by hand).
pub fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}
