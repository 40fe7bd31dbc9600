//! The claims of a Clavis access token: parsed from a verified payload into a [`VerifiedToken`].

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::error::VerifyError;

/// A token whose signature, header and claims have all been checked. Built only by verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) client_id: String,
    pub(crate) credential_id: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) scopes: BTreeSet<String>,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    pub(crate) nbf: Option<i64>,
    pub(crate) jti: String,
}

impl VerifiedToken {
    /// `iss`: the issuer URL.
    pub fn iss(&self) -> &str {
        &self.iss
    }

    /// `sub`: the client the token was issued to.
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// `client_id`: the client (`cli_…`), the same as `sub` for Clavis tokens.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// `credential_id`: the credential (`crd_…`) the token was minted from.
    pub fn credential_id(&self) -> &str {
        &self.credential_id
    }

    /// `aud`: every audience the token names (one of them is the configured one).
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// `scope`, split on spaces.
    pub fn scopes(&self) -> &BTreeSet<String> {
        &self.scopes
    }

    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// `iat`: issue time, seconds since the epoch.
    pub fn iat(&self) -> i64 {
        self.iat
    }

    /// `exp`: expiry, seconds since the epoch.
    pub fn exp(&self) -> i64 {
        self.exp
    }

    /// `nbf`: start of validity, seconds since the epoch, if the token has one.
    pub fn nbf(&self) -> Option<i64> {
        self.nbf
    }

    /// `jti`: the token's unique id.
    pub fn jti(&self) -> &str {
        &self.jti
    }
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Claims as sent; presence is checked after parsing so a missing claim is named.
#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    sub: Option<String>,
    client_id: Option<String>,
    aud: Option<Audience>,
    scope: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
    credential_id: Option<String>,
}

/// Parses a verified payload. Only shape and presence: [`crate::Validation`] judges the values.
pub(crate) fn parse(payload: &[u8]) -> Result<VerifiedToken, VerifyError> {
    // serde's messages quote values, so they are dropped: no token text in errors.
    let raw: RawClaims = serde_json::from_slice(payload).map_err(|_| {
        VerifyError::Malformed("claims are not a JSON object of the expected types")
    })?;
    let audiences = match raw.aud.ok_or(VerifyError::MissingClaim("aud"))? {
        Audience::One(aud) => vec![aud],
        Audience::Many(auds) => auds,
    };
    let scopes = raw
        .scope
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(VerifiedToken {
        iss: raw.iss.ok_or(VerifyError::MissingClaim("iss"))?,
        sub: raw.sub.ok_or(VerifyError::MissingClaim("sub"))?,
        client_id: raw
            .client_id
            .ok_or(VerifyError::MissingClaim("client_id"))?,
        credential_id: raw
            .credential_id
            .ok_or(VerifyError::MissingClaim("credential_id"))?,
        audiences,
        scopes,
        iat: raw.iat.ok_or(VerifyError::MissingClaim("iat"))?,
        exp: raw.exp.ok_or(VerifyError::MissingClaim("exp"))?,
        nbf: raw.nbf,
        jti: raw.jti.ok_or(VerifyError::MissingClaim("jti"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> serde_json::Value {
        json!({
            "iss": "https://issuer.test", "sub": "cli_1", "client_id": "cli_1",
            "aud": "orders", "scope": "orders:read  orders:write", "iat": 10, "exp": 20,
            "jti": "j", "credential_id": "crd_1"
        })
    }

    #[test]
    fn audience_is_a_string_or_an_array() {
        let one = parse(claims().to_string().as_bytes()).unwrap();
        assert_eq!(one.audiences(), ["orders"]);
        let mut c = claims();
        c["aud"] = json!(["a", "b"]);
        assert_eq!(
            parse(c.to_string().as_bytes()).unwrap().audiences(),
            ["a", "b"]
        );
        c["aud"] = json!(7);
        assert!(matches!(
            parse(c.to_string().as_bytes()),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn scopes_split_on_spaces() {
        let t = parse(claims().to_string().as_bytes()).unwrap();
        assert!(t.has_scope("orders:read") && t.has_scope("orders:write"));
        assert!(!t.has_scope("orders"));
        assert_eq!(t.scopes().len(), 2);
        let mut c = claims();
        c.as_object_mut().unwrap().remove("scope");
        assert!(parse(c.to_string().as_bytes()).unwrap().scopes().is_empty());
    }

    #[test]
    fn each_required_claim_is_named_when_missing() {
        for name in [
            "iss",
            "sub",
            "client_id",
            "aud",
            "iat",
            "exp",
            "jti",
            "credential_id",
        ] {
            let mut c = claims();
            c.as_object_mut().unwrap().remove(name);
            assert_eq!(
                parse(c.to_string().as_bytes()),
                Err(VerifyError::MissingClaim(name))
            );
        }
    }

    #[test]
    fn a_repeated_claim_is_malformed() {
        let doubled = br#"{"iss":"a","iss":"b"}"#;
        assert!(matches!(parse(doubled), Err(VerifyError::Malformed(_))));
    }
}
