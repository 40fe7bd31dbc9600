//! Operator authentication: HTTP Basic `client_id:secret`, checked against the stored hash, or
//! a bearer access token whose credential is still usable.
//!
//! Every failure (no header, bad format, typo caught by the checksum, unknown, revoked or expired
//! credential, wrong or revoked client) is the same 401, so the answer tells an attacker
//! nothing. The checksum rejects typos before any read; a well-formed secret costs one
//! consistent read of its credential (by the id inside it) together with its client.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clavis_aws::dynamo::Repository;
use clavis_aws::dynamo::together::ReadTogether;
use clavis_core::client::Client;
use clavis_core::credential::Credential;
use clavis_core::ids::{ClientId, CredentialId, RequestId};
use clavis_core::secret::ClientSecret;
use clavis_core::{Error, UserError};
use lambda_http::http::HeaderMap;
use lambda_http::http::header::AUTHORIZATION;
use time::OffsetDateTime;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The caller's client.
    pub client_id: ClientId,
    /// The credential it authenticated with.
    pub credential_id: CredentialId,
    /// What it may do.
    pub scopes: BTreeSet<String>,
    /// The operator that registered the caller's client (`bootstrap` for the first ones).
    pub registered_by: String,
    /// The issuance request that created the caller's credential (none for the bootstrap's).
    pub credential_request: Option<RequestId>,
}

impl Principal {
    /// Succeeds if the caller holds `scope`; 403 otherwise.
    pub fn require(&self, scope: &str) -> Result<(), UserError> {
        self.require_any(&[scope])
    }

    /// Succeeds if the caller holds one of `scopes`; 403 otherwise. The route's coarse gate:
    /// the decision itself is the policy engine's.
    pub fn require_any(&self, scopes: &[&str]) -> Result<(), UserError> {
        if scopes.iter().any(|s| self.scopes.contains(*s)) {
            Ok(())
        } else {
            Err(UserError::Forbidden(format!(
                "requires the scope {}",
                scopes.join(" or ")
            )))
        }
    }

    /// The caller as the policy engine sees it.
    pub fn operator(&self) -> clavis_policy::Operator<'_> {
        clavis_policy::Operator {
            client_id: &self.client_id,
            credential_id: &self.credential_id,
            scopes: &self.scopes,
        }
    }

    /// The actor name recorded in audit records.
    pub fn actor(&self) -> String {
        self.client_id.to_string()
    }
}

/// The client id and secret of an `Authorization: Basic` header. Needs no I/O.
pub fn basic_credentials(headers: &HeaderMap) -> Result<(ClientId, ClientSecret), UserError> {
    let value = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(UserError::Unauthenticated)?;
    let (scheme, encoded) = value
        .trim()
        .split_once(' ')
        .ok_or(UserError::Unauthenticated)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(UserError::Unauthenticated);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| UserError::Unauthenticated)?;
    let text = String::from_utf8(decoded).map_err(|_| UserError::Unauthenticated)?;
    let (id, secret) = text.split_once(':').ok_or(UserError::Unauthenticated)?;
    let client_id = id.parse().map_err(|_| UserError::Unauthenticated)?;
    let secret = ClientSecret::parse(secret)?;
    Ok((client_id, secret))
}

/// The token of an `Authorization: Bearer` header, if that is the scheme.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The credential `id`, if it may authenticate at `now`: active, unexpired, and its client
/// (`claimed`, when the caller named one) active; confined to what its client allows now
/// ([`Credential::confined_to`]). Both are read consistently, so a revocation,
/// of the credential or of its whole client, takes effect the moment it commits; with a
/// `claimed` client both come in one `BatchGetItem`.
pub async fn usable_credential(
    repo: &Repository,
    id: &CredentialId,
    claimed: Option<&ClientId>,
    now: OffsetDateTime,
) -> Result<Option<Credential>, Error> {
    Ok(usable(repo, id, claimed, now, &[])
        .await?
        .map(|(c, _, _)| c))
}

/// The same, with the credential's client, and the items at `also` read in the same
/// `BatchGetItem` when the client is claimed (what the route needs next).
async fn usable(
    repo: &Repository,
    id: &CredentialId,
    claimed: Option<&ClientId>,
    now: OffsetDateTime,
    also: &[(String, String)],
) -> Result<Option<(Credential, Client, ReadTogether)>, Error> {
    let (credential, client, read) = match claimed {
        Some(client_id) => {
            repo.get_credential_and_client_with(id, client_id, also)
                .await?
        }
        None => match repo.get_credential(id, true).await? {
            None => return Ok(None),
            Some(c) => {
                let client = repo.get_client(&c.value.client_id, true).await?;
                let read = if also.is_empty() {
                    ReadTogether::default()
                } else {
                    repo.read_together(also).await?
                };
                (Some(c), client, read)
            }
        },
    };
    Ok(match (credential, client) {
        (Some(c), Some(k)) if c.value.is_usable_for(&k.value, now) => {
            Some((c.value.confined_to(&k.value), k.value, read))
        }
        _ => None,
    })
}

/// The caller a verified access token stands for: its credential must still be usable, and it
/// may do what the token's scopes say, within the credential's.
pub async fn token_principal(
    repo: &Repository,
    token: &clavis_verify::VerifiedToken,
    now: OffsetDateTime,
    also: &[(String, String)],
) -> Result<(Principal, ReadTogether), Error> {
    let credential_id: CredentialId = token
        .credential_id()
        .parse()
        .map_err(|_| UserError::Unauthenticated)?;
    let client_id: ClientId = token
        .client_id()
        .parse()
        .map_err(|_| UserError::Unauthenticated)?;
    let (stored, client, read) = usable(repo, &credential_id, Some(&client_id), now, also)
        .await?
        .ok_or(UserError::Unauthenticated)?;
    let principal = Principal {
        client_id: stored.client_id,
        credential_id,
        scopes: token
            .scopes()
            .intersection(&stored.scopes)
            .cloned()
            .collect(),
        registered_by: client.owner,
        credential_request: stored.request_id,
    };
    Ok((principal, read))
}

/// Authenticates the request against the registry (see [`usable_credential`]).
pub async fn authenticate(
    repo: &Repository,
    headers: &HeaderMap,
    now: OffsetDateTime,
    use_resolution: time::Duration,
    also: &[(String, String)],
) -> Result<(Principal, ReadTogether), Error> {
    let (client_id, secret) = basic_credentials(headers)?;
    let (stored, client, read) = usable(repo, &secret.credential_id(), Some(&client_id), now, also)
        .await?
        .filter(|(c, _, _)| c.secret_hash.verifies(&secret))
        .ok_or(UserError::Unauthenticated)?;
    record_use(repo, &stored, now, use_resolution).await;
    let principal = Principal {
        client_id,
        credential_id: stored.credential_id,
        scopes: stored.scopes,
        registered_by: client.owner,
        credential_request: stored.request_id,
    };
    Ok((principal, read))
}

/// Writes down a use of `credential` when one is due. A failure is logged, never answered:
/// tracking use must not cost anyone a token.
pub async fn record_use(
    repo: &Repository,
    credential: &Credential,
    now: OffsetDateTime,
    resolution: time::Duration,
) {
    if let Err(e) = repo.record_use(credential, now, resolution).await {
        tracing::warn!(credential_id = %credential.credential_id, error = %e, "use not recorded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_core::secret::SecretMode;
    use lambda_http::http::HeaderValue;

    fn header(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn a_well_formed_basic_header_is_read() {
        let client = ClientId::generate();
        let secret = ClientSecret::generate(CredentialId::generate(), SecretMode::Test).unwrap();
        let value = format!(
            "Basic {}",
            STANDARD.encode(format!("{client}:{}", secret.expose()))
        );
        let (id, parsed) = basic_credentials(&header(&value)).unwrap();
        assert_eq!(id, client);
        assert_eq!(parsed.credential_id(), secret.credential_id());
    }

    #[test]
    fn anything_else_is_unauthenticated() {
        let client = ClientId::generate();
        let secret = ClientSecret::generate(CredentialId::generate(), SecretMode::Test).unwrap();
        let mut typo = secret.expose().to_owned();
        typo.pop();
        typo.push('#');
        for value in [
            "Bearer abc".to_owned(),
            "Basic !!!".to_owned(),
            format!("Basic {}", STANDARD.encode("no-colon")),
            format!(
                "Basic {}",
                STANDARD.encode(format!("nobody:{}", secret.expose()))
            ),
            format!("Basic {}", STANDARD.encode(format!("{client}:{typo}"))),
        ] {
            assert_eq!(
                basic_credentials(&header(&value)).unwrap_err(),
                UserError::Unauthenticated,
                "{value}"
            );
        }
        assert!(basic_credentials(&HeaderMap::new()).is_err());
    }
}
