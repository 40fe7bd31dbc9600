//! Revocation over HTTP: revoke one credential (committed before the answer, repeat-safe), read
//! the registry in `seq` order, and RFC 7662 introspection that sees a revocation at once.

use std::collections::BTreeSet;

use clavis_core::ids::{ClientId, CredentialId};
use clavis_core::revocation::{RevocationEntry, RevokeRequest};
use clavis_core::secret::ClientSecret;
use clavis_core::{Error, FieldViolation, UserError};
use clavis_lambda::body;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use clavis_aws::dynamo::revocation_snapshot::SnapshotCursor;

use crate::app::{App, json};
use crate::auth::{self, Principal};
use crate::query::Query;

/// Registry page size when the caller names none.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest registry page.
pub const MAX_LIMIT: u32 = 1000;

/// The answer to a revoke: the same on every repeat.
#[derive(Debug, Serialize)]
pub struct RevokedView {
    /// The credential.
    pub credential_id: CredentialId,
    /// Always `revoked`.
    pub status: &'static str,
    /// When the revocation committed.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// Its registry position.
    pub seq: u64,
}

/// One page of the registry.
#[derive(Debug, Serialize)]
pub struct RegistryPage {
    /// Entries in `seq` order.
    pub items: Vec<RegistryItem>,
    /// The `since` of the next page, if this one was full.
    pub next: Option<u64>,
}

/// A registry entry as published (who revoked it stays in the audit trail).
#[derive(Debug, Serialize)]
pub struct RegistryItem {
    /// Position.
    pub seq: u64,
    /// The revoked credential.
    pub credential_id: CredentialId,
    /// Its client.
    pub client_id: clavis_core::ids::ClientId,
    /// Why.
    pub reason: clavis_core::revocation::RevocationReason,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// When the credential would have expired: past it the entry no longer matters. Absent on
    /// entries written before the registry recorded it.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
}

impl From<RevocationEntry> for RegistryItem {
    fn from(e: RevocationEntry) -> Self {
        Self {
            seq: e.seq,
            credential_id: e.credential_id,
            client_id: e.client_id,
            reason: e.reason,
            revoked_at: e.revoked_at,
            expires_at: e.expires_at,
        }
    }
}

/// One page of a registry snapshot: the entries still relevant, consistent at `seq`.
#[derive(Debug, Serialize)]
pub struct SnapshotView {
    /// The registry position the snapshot is consistent at: follow `?since=` from there.
    pub seq: u64,
    /// Entries whose credentials have not expired.
    pub items: Vec<RegistryItem>,
    /// The cursor of the next page; `null` on the last.
    pub next: Option<String>,
}

/// The RFC 7662 request body.
#[derive(Debug, Deserialize)]
struct IntrospectionForm {
    token: String,
    #[serde(default)]
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

/// An RFC 7662 answer: `{"active": false}` and nothing else, or the active credential's facts.
#[derive(Debug, Serialize, Default)]
pub struct Introspection {
    /// Whether the presented secret is usable right now.
    pub active: bool,
    /// The client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Same as `client_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Space-separated scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Audiences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<BTreeSet<String>>,
    /// Expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// `Bearer` for an access token; absent for a client secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

impl App {
    /// `POST /v1/credentials/{credential_id}/revoke`.
    pub(crate) async fn revoke_credential(
        &self,
        req: &Request,
        principal: &Principal,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let not_found = || UserError::NotFound("credential".into());
        let id: CredentialId = id.parse().map_err(|_| not_found())?;
        let reason =
            body::parse_json::<RevokeRequest>(req.headers(), req.body(), body::DEFAULT_LIMIT)?
                .operator_reason()?;
        self.policy_in_force().await?;
        let permit = |credential: &clavis_core::credential::Credential| {
            self.decide(
                principal,
                clavis_policy::Action::RevokeCredential(credential),
            )
            .map(|_| ())
        };
        let revoked = self
            .repo
            .revoke_credential(&id, reason, &principal.actor(), now, &permit)
            .await?;
        tracing::info!(credential_id = %id, seq = revoked.entry.seq, first = revoked.now, "credential revoked");
        json(
            200,
            &RevokedView {
                credential_id: id,
                status: "revoked",
                revoked_at: revoked.entry.revoked_at,
                seq: revoked.entry.seq,
            },
        )
    }

    /// `GET /v1/revocations?since=SEQ&limit=N`.
    pub(crate) async fn list_revocations(&self, req: &Request) -> Result<Response<Body>, Error> {
        let query = req.query_string_parameters_ref();
        let number = |name: &str, default: u64| -> Result<u64, UserError> {
            match query.and_then(|q| q.first(name)) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| {
                    UserError::InvalidQuery(vec![FieldViolation::new(
                        name,
                        "must be a whole number",
                    )])
                }),
            }
        };
        let since = number("since", 0)?;
        let limit = number("limit", u64::from(DEFAULT_LIMIT))?;
        if limit == 0 || limit > u64::from(MAX_LIMIT) {
            return Err(UserError::InvalidQuery(vec![FieldViolation::new(
                "limit",
                format!("must be 1 to {MAX_LIMIT}"),
            )])
            .into());
        }
        let limit = u32::try_from(limit).unwrap_or(MAX_LIMIT);
        let entries = self.repo.revocations_since(since, limit).await?;
        let next = (entries.len() == limit as usize)
            .then(|| entries.last().map(|e| e.seq))
            .flatten();
        json(
            200,
            &RegistryPage {
                items: entries.into_iter().map(RegistryItem::from).collect(),
                next,
            },
        )
    }

    /// `GET /v1/revocations/snapshot?limit=N&cursor=C`: the entries a new verifier needs.
    pub(crate) async fn revocation_snapshot(
        &self,
        req: &Request,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let query = Query::of(req);
        let max = i32::try_from(MAX_LIMIT).unwrap_or(i32::MAX);
        let limit = query.limit(max, max)?;
        let from = query
            .text("cursor")?
            .map(|c| SnapshotCursor::decode(&c))
            .transpose()?;
        let page = self
            .repo
            .revocation_snapshot(from, u32::try_from(limit).unwrap_or(MAX_LIMIT), now)
            .await?;
        json(
            200,
            &SnapshotView {
                seq: page.seq,
                items: page.items.into_iter().map(RegistryItem::from).collect(),
                next: page.next.map(|c| c.encode()).transpose()?,
            },
        )
    }

    /// `POST /oauth2/introspect` (RFC 7662) for client secrets and access tokens; read
    /// consistently, so a revocation is seen from the moment its revoke call answered.
    pub(crate) async fn introspect(
        &self,
        req: &Request,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        if !body::is_form(req.headers()) {
            return Err(UserError::UnsupportedMediaType.into());
        }
        let bytes: &[u8] = req.body().as_ref();
        if bytes.len() > body::DEFAULT_LIMIT {
            return Err(UserError::PayloadTooLarge {
                limit: body::DEFAULT_LIMIT,
            }
            .into());
        }
        let form: IntrospectionForm = serde_urlencoded::from_bytes(bytes)
            .map_err(|_| UserError::Invalid(vec![FieldViolation::new("token", "is required")]))?;
        let answer = match ClientSecret::parse(&form.token) {
            Err(_) => self.introspect_access_token(&form.token, now).await?,
            Ok(secret) => {
                match auth::usable_credential(&self.repo, &secret.credential_id(), None, now)
                    .await?
                    .filter(|c| c.secret_hash.verifies(&secret))
                {
                    Some(c) => Introspection {
                        active: true,
                        client_id: Some(c.client_id.to_string()),
                        sub: Some(c.client_id.to_string()),
                        scope: Some(c.scopes.iter().cloned().collect::<Vec<_>>().join(" ")),
                        aud: Some(c.audiences),
                        exp: Some(c.expires_at.unix_timestamp()),
                        iat: c.issued_at.map(OffsetDateTime::unix_timestamp),
                        credential_id: Some(c.credential_id.to_string()),
                        token_type: None,
                    },
                    None => Introspection::default(),
                }
            }
        };
        json(200, &answer)
    }

    /// Introspection of an access token: active while its signature, issuer and lifetime hold
    /// and its credential is still usable (read consistently: a revoked credential or client
    /// means inactive at once).
    async fn introspect_access_token(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Introspection, Error> {
        let Some(verified) = self.verify_own_token(token, None).await? else {
            return Ok(Introspection::default());
        };
        let Ok(credential_id) = verified.credential_id().parse::<CredentialId>() else {
            return Ok(Introspection::default());
        };
        let Ok(client_id) = verified.client_id().parse::<ClientId>() else {
            return Ok(Introspection::default());
        };
        let usable = auth::usable_credential(&self.repo, &credential_id, Some(&client_id), now)
            .await?
            .is_some();
        if !usable {
            return Ok(Introspection::default());
        }
        Ok(Introspection {
            active: true,
            client_id: Some(verified.client_id().to_owned()),
            sub: Some(verified.sub().to_owned()),
            scope: Some(
                verified
                    .scopes()
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            aud: Some(verified.audiences().iter().cloned().collect()),
            exp: Some(verified.exp()),
            iat: Some(verified.iat()),
            credential_id: Some(credential_id.to_string()),
            token_type: Some("Bearer"),
        })
    }
}
