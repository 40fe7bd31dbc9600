//! Public signing keys as JSON Web Keys (RFC 7517), as served in the JWKS.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An EC P-256 public key for ES256 verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Always `EC`.
    pub kty: String,
    /// Always `P-256`.
    pub crv: String,
    /// The x coordinate, base64url without padding.
    pub x: String,
    /// The y coordinate, base64url without padding.
    pub y: String,
    /// Key id: the KMS key id.
    pub kid: String,
    /// Always `ES256`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

/// A JSON Web Key Set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// What names one published key set: the SHA-256 (hex) of its key ids in order (the signing key
/// first). A stored JWKS is found by it, so a change of keys never reads a stale set.
pub fn key_set_fingerprint<'a>(key_ids: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = Sha256::new();
    for id in key_ids {
        hasher.update(id.as_bytes());
        hasher.update(b"\n");
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_different_key_set_has_a_different_fingerprint() {
        let one = key_set_fingerprint(["k1", "k2"]);
        assert_eq!(one.len(), 64);
        assert_eq!(one, key_set_fingerprint(["k1", "k2"]));
        assert_ne!(
            one,
            key_set_fingerprint(["k2", "k1"]),
            "the signing key comes first"
        );
        assert_ne!(one, key_set_fingerprint(["k1"]));
        assert_ne!(
            key_set_fingerprint(["k1k2"]),
            key_set_fingerprint(["k1", "k2"])
        );
    }
}
