//! OAuth 2.0 access tokens (openapi.yaml): the client credentials grant's request (RFC 6749 §4.4)
//! and errors (§5.2), narrowing what a token carries to what its credential allows, and the
//! RFC 9068 JWT (`typ: at+jwt`, ES256) up to the signing input. Signing itself is KMS's.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use time::OffsetDateTime;
use ulid::Ulid;

use crate::client::is_audience;
use crate::client::is_scope_token;
use crate::credential::Credential;
use crate::ids::{ClientId, CredentialId};

/// The JOSE `typ` of access tokens (RFC 9068 §2.1).
pub const TOKEN_TYPE: &str = "at+jwt";
/// Access token lifetime unless configured otherwise: short, revocation does the rest.
pub const DEFAULT_TOKEN_TTL_SECONDS: i64 = 900;
/// The only grant Clavis serves.
pub const CLIENT_CREDENTIALS: &str = "client_credentials";

/// An RFC 6749 §5.2 error. The description never echoes a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// Malformed request: missing or repeated parameter, two authentication methods…
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// Client authentication failed (unknown, wrong secret, revoked, expired). Always the same
    /// description, so the answer tells an attacker nothing.
    #[error("invalid_client")]
    InvalidClient,
    /// A grant other than `client_credentials`.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// A scope the credential does not hold.
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// An audience (`audience` or RFC 8707 `resource`) the credential may not target.
    #[error("invalid_target: {0}")]
    InvalidTarget(String),
}

impl OAuthError {
    /// The `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
        }
    }

    /// The HTTP status: 401 for client authentication, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient => 401,
            _ => 400,
        }
    }

    /// The `error_description`.
    pub fn description(&self) -> String {
        match self {
            Self::InvalidRequest(d) | Self::InvalidScope(d) | Self::InvalidTarget(d) => d.clone(),
            Self::InvalidClient => "client authentication failed".to_owned(),
            Self::UnsupportedGrantType => "only client_credentials is supported".to_owned(),
        }
    }
}

/// The form of `POST /oauth2/token`, each parameter at most once (RFC 6749 §3.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenForm {
    /// `grant_type`.
    pub grant_type: Option<String>,
    /// `scope`: space-separated.
    pub scope: Option<String>,
    /// `audience` or RFC 8707 `resource`: one audience.
    pub audience: Option<String>,
    /// `client_id` (client_secret_post).
    pub client_id: Option<String>,
    /// `client_secret` (client_secret_post).
    pub client_secret: Option<String>,
}

impl TokenForm {
    /// Reads the decoded form pairs: unknown parameters are ignored (RFC 6749 §3.2), repeated
    /// ones are an error, and `audience` and `resource` name the same thing.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, OAuthError> {
        let mut form = Self::default();
        for (name, value) in pairs {
            let slot = match name.as_str() {
                "grant_type" => &mut form.grant_type,
                "scope" => &mut form.scope,
                "audience" | "resource" => &mut form.audience,
                "client_id" => &mut form.client_id,
                "client_secret" => &mut form.client_secret,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(OAuthError::InvalidRequest(format!(
                    "{name} is given more than once (audience and resource count as one)"
                )));
            }
        }
        match form.grant_type.as_deref() {
            None => Err(OAuthError::InvalidRequest("grant_type is required".into())),
            Some(CLIENT_CREDENTIALS) => Ok(form),
            Some(_) => Err(OAuthError::UnsupportedGrantType),
        }
    }
}

/// What a token may carry: the requested scopes and audience, each within the credential's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Scopes in the token.
    pub scopes: BTreeSet<String>,
    /// Audiences in the token.
    pub audiences: BTreeSet<String>,
}

/// Narrows `credential`'s scopes and audiences to what was asked: nothing asked, everything
/// it holds; anything it does not hold is refused, never silently dropped.
pub fn narrow(
    credential: &Credential,
    scope: Option<&str>,
    audience: Option<&str>,
) -> Result<Grant, OAuthError> {
    let scopes = match scope.map(str::trim).filter(|s| !s.is_empty()) {
        None => credential.scopes.clone(),
        Some(text) => {
            let mut asked = BTreeSet::new();
            for token in text.split(' ').filter(|t| !t.is_empty()) {
                if !is_scope_token(token) || !credential.scopes.contains(token) {
                    return Err(OAuthError::InvalidScope(format!(
                        "the credential does not hold the scope {token:?}"
                    )));
                }
                asked.insert(token.to_owned());
            }
            asked
        }
    };
    let audiences = match audience {
        None => credential.audiences.clone(),
        Some(aud) if is_audience(aud) && credential.audiences.contains(aud) => {
            BTreeSet::from([aud.to_owned()])
        }
        Some(aud) => {
            return Err(OAuthError::InvalidTarget(format!(
                "the credential may not target {aud:?}"
            )));
        }
    };
    // A credential confined by a narrowed client may have nothing left: no token then.
    if scopes.is_empty() {
        return Err(OAuthError::InvalidScope(
            "the client no longer allows any scope of this credential".into(),
        ));
    }
    if audiences.is_empty() {
        return Err(OAuthError::InvalidTarget(
            "the client no longer allows any audience of this credential".into(),
        ));
    }
    Ok(Grant { scopes, audiences })
}

/// The claims of an access token (RFC 9068 §2.2, plus the credential id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessTokenClaims {
    /// The issuer URL.
    pub iss: String,
    /// The client.
    pub sub: ClientId,
    /// The client again (RFC 9068 requires both).
    pub client_id: ClientId,
    /// One audience as a string, several as an array.
    pub aud: Audience,
    /// Space-separated scopes.
    pub scope: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// `tok_<ulid>`: unique per token.
    pub jti: String,
    /// The credential it was issued against: revoking it invalidates the token everywhere.
    pub credential_id: CredentialId,
}

/// `aud`: a string when there is one audience, an array otherwise (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Audience {
    /// Exactly one.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl AccessTokenClaims {
    /// The claims of a token for `credential` with `grant`, issued at `now` for at most
    /// `ttl_seconds` and never past the credential's own expiry; `None` if the credential has
    /// no time left.
    pub fn new(
        issuer: &str,
        credential: &Credential,
        grant: Grant,
        now: OffsetDateTime,
        ttl_seconds: i64,
    ) -> Option<Self> {
        let iat = now.unix_timestamp();
        let exp = (iat + ttl_seconds).min(credential.expires_at.unix_timestamp());
        if exp <= iat {
            return None;
        }
        let mut audiences: Vec<String> = grant.audiences.into_iter().collect();
        let aud = if audiences.len() == 1 {
            Audience::One(audiences.remove(0))
        } else {
            Audience::Many(audiences)
        };
        Some(Self {
            iss: issuer.to_owned(),
            sub: credential.client_id,
            client_id: credential.client_id,
            aud,
            scope: grant.scopes.into_iter().collect::<Vec<_>>().join(" "),
            iat,
            exp,
            jti: format!("tok_{}", Ulid::generate()),
            credential_id: credential.credential_id,
        })
    }

    /// Seconds from `iat` to `exp`.
    pub fn expires_in(&self) -> i64 {
        self.exp - self.iat
    }

    /// The JWS signing input `base64url(header).base64url(claims)` for key `kid`.
    pub fn signing_input(&self, kid: &str) -> String {
        let header = serde_json::json!({"alg": "ES256", "typ": TOKEN_TYPE, "kid": kid});
        // Strings, numbers and ids only: serialising cannot fail.
        let claims = serde_json::to_vec(self).unwrap_or_default();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }
}

/// The compact JWS: the signing input and the 64-byte JOSE (`r || s`) signature.
pub fn compact(signing_input: &str, signature: &[u8; 64]) -> String {
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::tests_support::credential;
    use time::Duration;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_form_takes_each_parameter_once_and_only_client_credentials() {
        let form = TokenForm::from_pairs(pairs(&[
            ("grant_type", "client_credentials"),
            ("scope", "a:read"),
            ("resource", "https://a"),
            ("unknown", "ignored"),
        ]))
        .unwrap();
        assert_eq!(form.audience.as_deref(), Some("https://a"));
        let repeated = TokenForm::from_pairs(pairs(&[
            ("grant_type", "client_credentials"),
            ("audience", "https://a"),
            ("resource", "https://b"),
        ]));
        assert!(matches!(repeated, Err(OAuthError::InvalidRequest(_))));
        assert_eq!(
            TokenForm::from_pairs(pairs(&[("grant_type", "password")])),
            Err(OAuthError::UnsupportedGrantType)
        );
        assert!(matches!(
            TokenForm::from_pairs(pairs(&[("scope", "a")])),
            Err(OAuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn a_token_carries_at_most_what_its_credential_holds() {
        let c = credential();
        let all = narrow(&c, None, None).unwrap();
        assert_eq!(all.scopes, c.scopes);
        assert_eq!(all.audiences, c.audiences);
        let one = narrow(&c, Some("a:read"), Some("https://a")).unwrap();
        assert_eq!(one.scopes, BTreeSet::from(["a:read".to_owned()]));
        assert!(matches!(
            narrow(&c, Some("a:read admin"), None),
            Err(OAuthError::InvalidScope(_))
        ));
        assert!(matches!(
            narrow(&c, None, Some("https://elsewhere")),
            Err(OAuthError::InvalidTarget(_))
        ));
    }

    #[test]
    fn a_credential_left_with_nothing_gets_no_token() {
        let mut c = credential();
        c.audiences.clear();
        assert!(matches!(
            narrow(&c, None, None),
            Err(OAuthError::InvalidTarget(_))
        ));
        c.scopes.clear();
        assert!(matches!(
            narrow(&c, None, None),
            Err(OAuthError::InvalidScope(_))
        ));
    }

    #[test]
    fn a_token_never_outlives_its_credential() {
        let mut c = credential();
        let now = OffsetDateTime::now_utc();
        c.expires_at = now + Duration::seconds(60);
        let grant = narrow(&c, None, None).unwrap();
        let claims = AccessTokenClaims::new("https://i", &c, grant.clone(), now, 900).unwrap();
        assert_eq!(claims.expires_in(), 60);
        c.expires_at = now;
        assert!(AccessTokenClaims::new("https://i", &c, grant, now, 900).is_none());
    }

    #[test]
    fn the_signing_input_is_an_at_jwt_header_and_the_claims() {
        let c = credential();
        let grant = narrow(&c, None, Some("https://a")).unwrap();
        let claims =
            AccessTokenClaims::new("https://i", &c, grant, OffsetDateTime::now_utc(), 900).unwrap();
        let input = claims.signing_input("kid-1");
        let (header, payload) = input.split_once('.').unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "kid-1");
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(payload["aud"], "https://a", "one audience is a string");
        assert_eq!(payload["sub"], payload["client_id"]);
        assert!(payload["jti"].as_str().unwrap().starts_with("tok_"));
        let token = compact(&input, &[7u8; 64]);
        assert_eq!(token.split('.').count(), 3);
    }
}
