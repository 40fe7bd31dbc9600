//! The OAuth 2.0 authorization server: `POST /oauth2/token` (client credentials, RFC 6749
//! §4.4, `client_secret_basic` and `client_secret_post`), the JWKS and the RFC 8414 metadata.
//!
//! Tokens are RFC 9068 JWTs signed ES256 by the KMS signing key. The public keys are read from
//! KMS once per container and served from memory. A rotation publishes the next key before it
//! signs and keeps the previous one published (and verifiable here) until every token it
//! signed has expired.

use std::time::SystemTime;

use clavis_core::jwk::JwkSet;
use clavis_core::secret::ClientSecret;
use clavis_core::token::{self, AccessTokenClaims, OAuthError, TokenForm};
use clavis_core::{Error, SystemFault};
use clavis_verify::{KeySet, RevocationPolicy, RevocationSet, Validation, VerifiedToken};
use lambda_http::http::HeaderValue;
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use crate::app::{App, json};
use crate::auth;

/// How the authorization server is set up.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// `iss` of every token, and the base of the metadata URLs.
    pub issuer: String,
    /// The key that signs new tokens (id or ARN).
    pub signing_key_id: String,
    /// Keys published and accepted besides the signing key: the next one of a rotation before
    /// it signs, the previous one until every token it signed has expired.
    pub published_key_ids: Vec<String>,
    /// Access token lifetime (capped by the credential's expiry).
    pub token_ttl_seconds: i64,
    /// How precisely the use of a predecessor in an overlap is written down (otherwise hourly).
    pub use_resolution: time::Duration,
}

/// The published keys, read once per container: from the table where the first container
/// after a change of keys stored them, or from KMS when nobody has yet.
#[derive(Debug, Default)]
pub struct PublishedKeys {
    cell: OnceCell<(String, KeySet)>,
}

/// The token answer (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
struct TokenAnswer {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    scope: String,
}

/// The error answer (RFC 6749 §5.2).
#[derive(Debug, Serialize)]
struct ErrorAnswer {
    error: &'static str,
    error_description: String,
}

impl App {
    /// The JWKS JSON and its parsed key set: from memory; the first time in a container, from
    /// the document stored for this key set (one `GetItem`), or else from KMS (one
    /// `GetPublicKey` per key), then stored for the containers after this one.
    pub(crate) async fn published_keys(&self) -> Result<&(String, KeySet), Error> {
        self.keys
            .cell
            .get_or_try_init(|| async {
                let ids: Vec<&str> = std::iter::once(self.oauth.signing_key_id.as_str())
                    .chain(self.oauth.published_key_ids.iter().map(String::as_str))
                    .collect();
                let fingerprint = clavis_core::jwk::key_set_fingerprint(ids.iter().copied());
                if let Some(stored) = self.stored_keys(&fingerprint, &ids).await {
                    return Ok(stored);
                }
                let mut keys = Vec::new();
                for id in &ids {
                    keys.push(self.kms.public_jwk(id).await?);
                }
                let text = serde_json::to_string(&JwkSet { keys })
                    .map_err(|e| SystemFault::Internal(format!("cannot encode JWKS: {e}")))?;
                let set = KeySet::from_jwks_json(text.as_bytes())
                    .map_err(|e| SystemFault::Internal(format!("own JWKS unreadable: {e}")))?;
                if let Err(e) = self.repo.put_published_jwks(&fingerprint, &text).await {
                    // The next container asks KMS again; nothing is wrong with this one.
                    tracing::warn!(error = %e, "the JWKS was not stored");
                }
                Ok::<_, Error>((text, set))
            })
            .await
    }

    /// The stored document of this key set, if there is one that holds every key of `ids`. A
    /// failed read is only logged: KMS can still answer.
    async fn stored_keys(&self, fingerprint: &str, ids: &[&str]) -> Option<(String, KeySet)> {
        let text = match self.repo.get_published_jwks(fingerprint).await {
            Ok(found) => found?,
            Err(e) => {
                tracing::warn!(error = %e, "the stored JWKS could not be read");
                return None;
            }
        };
        let set = KeySet::from_jwks_json(text.as_bytes()).ok()?;
        let complete = ids
            .iter()
            .all(|id| set.contains(clavis_aws::kms::key_id_of(id)));
        complete.then_some((text, set))
    }

    /// Verifies one of Clavis's own access tokens meant for `audience` (any audience when
    /// `None`): signature, `typ`, issuer, lifetime. Revocation is the caller's check, against
    /// the registry itself.
    pub(crate) async fn verify_own_token(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<Option<VerifiedToken>, Error> {
        let (_, keys) = self.published_keys().await?;
        let mut validation = Validation::new(self.oauth.issuer.clone(), "");
        // Introspection answers for any audience.
        validation.audience = audience.map(str::to_owned);
        validation.revocation_policy = RevocationPolicy::FailOpen;
        Ok(clavis_verify::verify(
            token,
            keys,
            &RevocationSet::new(),
            &validation,
            SystemTime::now(),
        )
        .ok())
    }

    /// `GET /.well-known/jwks.json`.
    pub(crate) async fn jwks(&self) -> Result<Response<Body>, Error> {
        let (text, _) = self.published_keys().await?;
        Response::builder()
            .status(200)
            .header(CONTENT_TYPE, "application/jwk-set+json")
            .header(CACHE_CONTROL, "public, max-age=300")
            .body(Body::Text(text.clone()))
            .map_err(|e| SystemFault::Internal(format!("cannot build answer: {e}")).into())
    }

    /// `GET /.well-known/oauth-authorization-server` (RFC 8414).
    pub(crate) fn metadata(&self) -> Result<Response<Body>, Error> {
        let issuer = self.oauth.issuer.trim_end_matches('/');
        json(
            200,
            &serde_json::json!({
                "issuer": self.oauth.issuer,
                "token_endpoint": format!("{issuer}/oauth2/token"),
                "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
                "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
                "grant_types_supported": [token::CLIENT_CREDENTIALS],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
                "response_types_supported": [],
                "scopes_supported": clavis_core::scopes::ALL,
                "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
            }),
        )
    }

    /// `POST /oauth2/token`: every refusal is an RFC 6749 §5.2 error; only faults are problems.
    pub(crate) async fn token(
        &self,
        req: &Request,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        match self.grant(req, now).await {
            Ok(answer) => token_response(200, &answer, false),
            Err(TokenFailure::OAuth(e)) => {
                tracing::info!(error = e.code(), "token refused");
                token_response(
                    e.status(),
                    &ErrorAnswer {
                        error: e.code(),
                        error_description: e.description(),
                    },
                    e == OAuthError::InvalidClient,
                )
            }
            Err(TokenFailure::Fault(e)) => Err(e),
        }
    }

    async fn grant(&self, req: &Request, now: OffsetDateTime) -> Result<TokenAnswer, TokenFailure> {
        let form = token_form(req)?;
        let (client_id, secret) = match (auth::basic_credentials(req.headers()), &form.client_id) {
            (Ok(_), Some(_)) => {
                return Err(OAuthError::InvalidRequest(
                    "use one client authentication method, not two".into(),
                )
                .into());
            }
            (Ok(pair), None) => pair,
            (Err(_), Some(id)) => {
                let id = id.parse().map_err(|_| OAuthError::InvalidClient)?;
                let secret = form
                    .client_secret
                    .as_deref()
                    .ok_or(OAuthError::InvalidClient)?;
                (
                    id,
                    ClientSecret::parse(secret).map_err(|_| OAuthError::InvalidClient)?,
                )
            }
            (Err(_), None) => return Err(OAuthError::InvalidClient.into()),
        };
        // One consistent read by the id inside the secret (with the client, in the same
        // BatchGetItem); the hash compare is constant-time.
        let credential =
            auth::usable_credential(&self.repo, &secret.credential_id(), Some(&client_id), now)
                .await?
                .filter(|c| c.secret_hash.verifies(&secret))
                .ok_or(OAuthError::InvalidClient)?;
        let grant = token::narrow(&credential, form.scope.as_deref(), form.audience.as_deref())?;
        let claims = AccessTokenClaims::new(
            &self.oauth.issuer,
            &credential,
            grant,
            now,
            self.oauth.token_ttl_seconds,
        )
        .ok_or(OAuthError::InvalidClient)?;
        let kid = clavis_aws::kms::key_id_of(&self.oauth.signing_key_id);
        let input = claims.signing_input(kid);
        let signature = self
            .kms
            .sign_es256(&self.oauth.signing_key_id, input.as_bytes())
            .await?;
        auth::record_use(&self.repo, &credential, now, self.oauth.use_resolution).await;
        tracing::info!(client_id = %claims.client_id, credential_id = %claims.credential_id, jti = %claims.jti, expires_in = claims.expires_in(), "token issued");
        Ok(TokenAnswer {
            access_token: token::compact(&input, &signature),
            token_type: "Bearer",
            expires_in: claims.expires_in(),
            scope: claims.scope,
        })
    }
}

/// Why a token request ended without a token.
enum TokenFailure {
    /// The client's mistake: an RFC 6749 error.
    OAuth(OAuthError),
    /// Ours: a problem response.
    Fault(Error),
}

impl From<OAuthError> for TokenFailure {
    fn from(e: OAuthError) -> Self {
        Self::OAuth(e)
    }
}

impl From<Error> for TokenFailure {
    fn from(e: Error) -> Self {
        Self::Fault(e)
    }
}

/// The form of a token request, strictly `application/x-www-form-urlencoded`.
fn token_form(req: &Request) -> Result<TokenForm, OAuthError> {
    if !clavis_lambda::body::is_form(req.headers()) {
        return Err(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > clavis_lambda::body::DEFAULT_LIMIT {
        return Err(OAuthError::InvalidRequest("the body is too large".into()));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|_| OAuthError::InvalidRequest("the form cannot be read".into()))?;
    TokenForm::from_pairs(pairs)
}

fn token_response<T: Serialize>(
    status: u16,
    body: &T,
    challenge: bool,
) -> Result<Response<Body>, Error> {
    let mut response = json(status, body)?;
    let headers = response.headers_mut();
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    if challenge {
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="clavis""#),
        );
    }
    Ok(response)
}
