//! The issuer's public keys: a JWKS (RFC 7517) parsed into ES256 verifying keys by `kid`.

use std::collections::HashMap;
use std::fmt;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::VerifyingKey;
use p256::{EncodedPoint, FieldBytes};
use serde::Deserialize;

use crate::error::JwksError;

/// The issuer's ES256 verifying keys by key id. Several keys are normal during a rotation.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, Key>,
    skipped: usize,
}

/// One key: checked on the curve once (`p256`), verified with by `aws-lc-rs`.
#[derive(Clone)]
struct Key {
    checked: VerifyingKey,
    fast: UnparsedPublicKey<Vec<u8>>,
}

impl Key {
    fn new(checked: VerifyingKey) -> Self {
        let sec1 = checked.to_encoded_point(false).as_bytes().to_vec();
        Self {
            checked,
            fast: UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, sec1),
        }
    }
}

/// A JWK as published; every member optional so one odd key cannot spoil the set.
#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Parses a JWKS document, keeping its EC P-256 keys meant for ES256 signatures.
    ///
    /// Keys of another type, curve, `alg` or `use`, without a `kid`, or whose point is not on
    /// the curve are skipped (counted in [`KeySet::skipped`]): a future key type must not break
    /// verification with today's keys. A set with no usable key is an error.
    pub fn from_jwks_json(json: &[u8]) -> Result<Self, JwksError> {
        let raw: RawJwks = serde_json::from_slice(json).map_err(|_| JwksError::NotAKeySet)?;
        let mut set = KeySet::default();
        for value in raw.keys {
            match serde_json::from_value::<RawJwk>(value)
                .ok()
                .and_then(|jwk| usable(&jwk))
            {
                // The first key with a kid wins; a repeated kid is ambiguous and skipped.
                Some((kid, key)) if !set.keys.contains_key(&kid) => {
                    set.keys.insert(kid, Key::new(key));
                }
                _ => set.skipped += 1,
            }
        }
        if set.keys.is_empty() {
            return Err(JwksError::NoUsableKey {
                skipped: set.skipped,
            });
        }
        Ok(set)
    }

    /// A key set from keys already in hand (pinned keys, tests).
    pub fn from_keys(keys: impl IntoIterator<Item = (String, VerifyingKey)>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|(kid, key)| (kid, Key::new(key)))
                .collect(),
            skipped: 0,
        }
    }

    /// The key with this id.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid).map(|k| &k.checked)
    }

    /// Whether `signature` (64 bytes, `r || s`) is an ES256 signature of `message` by the key
    /// `kid` (`aws-lc-rs`; the caller refuses the high-S spelling first).
    pub(crate) fn verifies(&self, kid: &str, message: &[u8], signature: &[u8]) -> bool {
        self.keys
            .get(kid)
            .is_some_and(|k| k.fast.verify(message, signature).is_ok())
    }

    /// Whether a key with this id is present.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The key ids, in no particular order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys of the parsed document were not usable.
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&str> = self.kids().collect();
        kids.sort_unstable();
        f.debug_struct("KeySet")
            .field("kids", &kids)
            .field("skipped", &self.skipped)
            .finish()
    }
}

fn usable(jwk: &RawJwk) -> Option<(String, VerifyingKey)> {
    let is = |v: &Option<String>, want: &str| v.as_deref() == Some(want);
    let absent_or = |v: &Option<String>, want: &str| v.as_deref().is_none_or(|v| v == want);
    if !is(&jwk.kty, "EC") || !is(&jwk.crv, "P-256") {
        return None;
    }
    if !absent_or(&jwk.alg, "ES256") || !absent_or(&jwk.use_, "sig") {
        return None;
    }
    let kid = jwk.kid.clone().filter(|k| !k.is_empty())?;
    let x = coordinate(jwk.x.as_deref()?)?;
    let y = coordinate(jwk.y.as_deref()?)?;
    let point = EncodedPoint::from_affine_coordinates(&x, &y, false);
    let key = VerifyingKey::from_encoded_point(&point).ok()?;
    Some((kid, key))
}

fn coordinate(b64: &str) -> Option<FieldBytes> {
    let bytes = URL_SAFE_NO_PAD.decode(b64).ok()?;
    (bytes.len() == 32).then(|| FieldBytes::clone_from_slice(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestIssuer;
    use serde_json::json;

    #[test]
    fn parses_the_issuers_key() {
        let issuer = TestIssuer::new("https://issuer.test", "key-1");
        let set = KeySet::from_jwks_json(issuer.jwks_json().as_bytes()).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.get("key-1"), Some(issuer.verifying_key()));
    }

    #[test]
    fn keeps_every_key_of_a_rotation() {
        let old = TestIssuer::new("https://issuer.test", "old");
        let new = TestIssuer::new("https://issuer.test", "new");
        let doc = json!({"keys": [old.jwk(), new.jwk()]}).to_string();
        let set = KeySet::from_jwks_json(doc.as_bytes()).unwrap();
        assert!(set.contains("old") && set.contains("new"));
    }

    #[test]
    fn skips_keys_it_cannot_use_and_keeps_the_rest() {
        let issuer = TestIssuer::new("https://issuer.test", "good");
        let mut wrong_curve = issuer.jwk();
        wrong_curve["crv"] = json!("P-384");
        wrong_curve["kid"] = json!("p384");
        let mut encryption = issuer.jwk();
        encryption["use"] = json!("enc");
        encryption["kid"] = json!("enc");
        let mut off_curve = issuer.jwk();
        off_curve["y"] = off_curve["x"].clone();
        off_curve["kid"] = json!("off");
        let mut no_kid = issuer.jwk();
        no_kid.as_object_mut().unwrap().remove("kid");
        let rsa = json!({"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"});
        let doc = json!({"keys": [wrong_curve, encryption, off_curve, no_kid, rsa, issuer.jwk()]});
        let set = KeySet::from_jwks_json(doc.to_string().as_bytes()).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), vec!["good"]);
        assert_eq!(set.skipped(), 5);
    }

    #[test]
    fn a_set_without_usable_keys_is_an_error() {
        assert_eq!(
            KeySet::from_jwks_json(br#"{"keys":[]}"#).unwrap_err(),
            JwksError::NoUsableKey { skipped: 0 }
        );
        assert_eq!(
            KeySet::from_jwks_json(b"<html>").unwrap_err(),
            JwksError::NotAKeySet
        );
    }
}
