//! Issuance requests before they become credentials: the body an operator sends, its checks
//! against the client, the idempotency derivations, and the grant passed to minting.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ulid::Ulid;

use crate::client::{
    Client, ClientStatus, Environment, Tier, checked_set, is_audience, is_scope_token,
};
use crate::error::{FieldViolation, UserError};
use crate::ids::{ClientId, CredentialId, RequestId};
use crate::rotation::Rotation;

/// Shortest credential lifetime, in seconds.
pub const MIN_TTL_SECONDS: u64 = 300;
/// Longest justification, in characters.
pub const MAX_JUSTIFICATION_LEN: usize = 500;
/// Longest approval window a request may ask for, in seconds (policy may allow less).
pub const MAX_APPROVAL_WINDOW_SECONDS: u64 = 7 * 24 * 3600;
/// Longest `Idempotency-Key`, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// Longest lifetime a client of `tier` may get: privileged credentials live shorter.
pub fn max_ttl_seconds(tier: Tier) -> u64 {
    match tier {
        Tier::Standard => 90 * 24 * 3600,
        Tier::Privileged => 7 * 24 * 3600,
    }
}

/// The body of `POST /v1/clients/{client_id}/credentials`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRequest {
    /// Requested lifetime in seconds.
    pub ttl_seconds: u64,
    /// Scopes the credential's tokens may carry.
    pub scopes: Vec<String>,
    /// Audiences they may target.
    pub audiences: Vec<String>,
    /// Why it is needed; recorded in the audit trail.
    pub justification: String,
    /// If the request is held for approval, how long it may wait at most, in seconds (policy's
    /// deadline applies when it is shorter); past it the request is denied (`timeout`).
    #[serde(default)]
    pub approval_window_seconds: Option<u64>,
}

/// A well-formed issuance request: what is stored and what the workflow decides on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuanceParams {
    /// Requested lifetime in seconds.
    pub ttl_seconds: u64,
    /// Scopes, deduplicated and sorted.
    pub scopes: BTreeSet<String>,
    /// Audiences, deduplicated and sorted.
    pub audiences: BTreeSet<String>,
    /// Why it is needed.
    pub justification: String,
    /// The longest the requester will wait for an approval, if it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_window_seconds: Option<u64>,
    /// Set when the request rotates a credential: the successor replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
}

impl CredentialRequest {
    /// Checks the shape of every field (not yet against the client), listing every violation.
    pub fn validate(self) -> Result<IssuanceParams, UserError> {
        let mut violations = Vec::new();
        if self.ttl_seconds < MIN_TTL_SECONDS {
            violations.push(FieldViolation::new(
                "ttl_seconds",
                format!("must be at least {MIN_TTL_SECONDS}"),
            ));
        }
        let scopes = checked_set(
            "scopes",
            self.scopes,
            is_scope_token,
            "must be an RFC 6749 scope token of at most 128 characters",
            &mut violations,
        );
        let audiences = checked_set(
            "audiences",
            self.audiences,
            is_audience,
            "must be 1 to 256 visible characters without spaces",
            &mut violations,
        );
        let justification = self.justification.trim().to_owned();
        if justification.is_empty() || justification.chars().count() > MAX_JUSTIFICATION_LEN {
            violations.push(FieldViolation::new(
                "justification",
                format!("must be 1 to {MAX_JUSTIFICATION_LEN} characters"),
            ));
        }
        if let Some(window) = self.approval_window_seconds
            && !(1..=MAX_APPROVAL_WINDOW_SECONDS).contains(&window)
        {
            violations.push(FieldViolation::new(
                "approval_window_seconds",
                format!("must be 1 to {MAX_APPROVAL_WINDOW_SECONDS}"),
            ));
        }
        if !violations.is_empty() {
            return Err(UserError::Invalid(violations));
        }
        Ok(IssuanceParams {
            ttl_seconds: self.ttl_seconds,
            scopes,
            audiences,
            justification,
            approval_window_seconds: self.approval_window_seconds,
            rotation: None,
        })
    }
}

impl IssuanceParams {
    /// SHA-256 of the canonical form: two bodies that mean the same have the same fingerprint.
    pub fn fingerprint(&self) -> String {
        // Plain strings, integers and sorted sets: serialising cannot fail.
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(canonical))
    }

    /// Checks the request against what the client may have. Every violation is listed.
    pub fn check_against(&self, client: &Client) -> Result<(), UserError> {
        match client.status {
            ClientStatus::Active => {}
            ClientStatus::Suspended | ClientStatus::Revoked => {
                return Err(UserError::Forbidden(format!(
                    "client {} is {} and cannot receive credentials",
                    client.client_id,
                    match client.status {
                        ClientStatus::Suspended => "suspended",
                        _ => "revoked",
                    }
                )));
            }
        }
        let mut violations = Vec::new();
        let max = max_ttl_seconds(client.tier);
        if self.ttl_seconds > max {
            violations.push(FieldViolation::new(
                "ttl_seconds",
                format!("exceeds the limit of {max} for this client's tier"),
            ));
        }
        for scope in self.scopes.difference(&client.allowed_scopes) {
            violations.push(FieldViolation::new(
                "scopes",
                format!("{scope} is not allowed for this client"),
            ));
        }
        for audience in self.audiences.difference(&client.allowed_audiences) {
            violations.push(FieldViolation::new(
                "audiences",
                format!("{audience} is not allowed for this client"),
            ));
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(UserError::Invalid(violations))
        }
    }
}

/// Checks an `Idempotency-Key` header value: 1 to 128 visible ASCII characters.
pub fn check_idempotency_key(key: Option<&str>) -> Result<&str, UserError> {
    let bad = |reason: &str| UserError::BadHeader {
        header: "Idempotency-Key",
        reason: reason.to_owned(),
    };
    let key = key.ok_or_else(|| bad("is required"))?;
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(bad("must be 1 to 128 characters"));
    }
    if !key.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
        return Err(bad("must be visible ASCII characters"));
    }
    Ok(key)
}

/// The request id of `client_id` + `requester` + `idempotency_key`: the same triple always
/// gives the same id, which is also the execution name, so a repeated request can never start a
/// second workflow. The requester is part of it, so one operator's key can never collide with,
/// or squat, another's.
pub fn request_id_for(
    client_id: &ClientId,
    requester: &ClientId,
    idempotency_key: &str,
) -> RequestId {
    derived_request_id(&[
        client_id.to_string().as_bytes(),
        requester.to_string().as_bytes(),
        idempotency_key.as_bytes(),
    ])
}

/// A request id derived from `parts`: the first 16 bytes of SHA-256 over them joined by NULs
/// (ids and keys hold no NUL, so no two lists of parts give the same input). Stored requests
/// were named this way: changing it would orphan every idempotency key in flight.
pub(crate) fn derived_request_id(parts: &[&[u8]]) -> RequestId {
    let mut h = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0u8]);
        }
        h.update(part);
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    RequestId::from_ulid(Ulid::from_bytes(bytes))
}

/// The credential attempt `attempt` of a request mints: derived from the request, so a retried
/// mint finds its own earlier work instead of creating a second credential. Attempt 0 shares
/// the request's ULID; a replayed attempt (after a fault failed the first) gets its own, since
/// the failed attempt's credential is final.
pub fn credential_id_for(request_id: &RequestId, attempt: u32) -> CredentialId {
    let ulid = request_id.ulid();
    if attempt == 0 {
        return CredentialId::from_ulid(ulid);
    }
    let mut h = Sha256::new();
    h.update(ulid.to_bytes());
    h.update(attempt.to_be_bytes());
    let digest = h.finalize();
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    CredentialId::from_ulid(Ulid::from_parts(
        ulid.timestamp_ms(),
        u128::from_be_bytes(random),
    ))
}

/// What identity verification passes on to minting: only what issuance needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuanceGrant {
    /// The request.
    pub request_id: RequestId,
    /// The client the credential is for.
    pub client_id: ClientId,
    /// Its environment (decides `live` or `test` secrets).
    pub environment: Environment,
    /// Granted scopes.
    pub scopes: BTreeSet<String>,
    /// Granted audiences.
    pub audiences: BTreeSet<String>,
    /// Granted lifetime in seconds.
    pub ttl_seconds: u64,
    /// The rules that allowed it.
    pub policy_version: String,
    /// The request's attempt (decides the credential id).
    #[serde(default)]
    pub attempt: u32,
    /// The risk score AssessRisk gave it (recorded with the minted credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_score: Option<u32>,
    /// Set when the credential is a successor: what it replaces, and the overlap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    /// Set when the secret goes into a vault instead of a pickup copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<crate::delivery::DeliveryTarget>,
    /// When the request was accepted (for the issuance latency measured when it settles).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub requested_at: Option<time::OffsetDateTime>,
    /// Whether it waited for an approval (its latency is then the approvers', not Clavis's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
    /// The client's audit chain head as the request left it: the mint appends to it without
    /// reading it (and reads it if it has moved since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<crate::audit::ChainHead>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn client(tier: Tier) -> Client {
        Client {
            client_id: ClientId::generate(),
            name: "c".into(),
            owner: "o".into(),
            environment: Environment::Dev,
            tier,
            allowed_scopes: BTreeSet::from(["a:read".to_owned(), "a:write".to_owned()]),
            allowed_audiences: BTreeSet::from(["https://a".to_owned()]),
            status: ClientStatus::Active,
            created_at: OffsetDateTime::UNIX_EPOCH,
            revocation: None,
            suspension: None,
            auto_rotate: false,
            delivery: None,
        }
    }

    fn body() -> CredentialRequest {
        CredentialRequest {
            ttl_seconds: 3600,
            scopes: vec!["a:read".into()],
            audiences: vec!["https://a".into()],
            justification: "nightly billing export".into(),
            approval_window_seconds: None,
        }
    }

    #[test]
    fn a_request_within_the_clients_limits_passes() {
        let p = body().validate().unwrap();
        p.check_against(&client(Tier::Standard)).unwrap();
    }

    #[test]
    fn scopes_audiences_and_lifetime_beyond_the_client_are_listed() {
        let mut b = body();
        b.ttl_seconds = max_ttl_seconds(Tier::Privileged) + 1;
        b.scopes.push("admin".into());
        b.audiences = vec!["https://b".into()];
        let err = b
            .validate()
            .unwrap()
            .check_against(&client(Tier::Privileged))
            .unwrap_err();
        let fields: Vec<_> = err.violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["ttl_seconds", "scopes", "audiences"]);
    }

    #[test]
    fn a_revoked_client_is_forbidden() {
        let mut c = client(Tier::Standard);
        c.status = ClientStatus::Revoked;
        let err = body().validate().unwrap().check_against(&c).unwrap_err();
        assert_eq!(err.code(), "forbidden");
    }

    #[test]
    fn the_same_meaning_has_the_same_fingerprint() {
        let a = body().validate().unwrap();
        let mut reordered = body();
        reordered.scopes = vec!["a:read".into()];
        reordered.justification = "  nightly billing export ".into();
        assert_eq!(a.fingerprint(), reordered.validate().unwrap().fingerprint());
        let mut other = body();
        other.ttl_seconds = 3601;
        assert_ne!(a.fingerprint(), other.validate().unwrap().fingerprint());
    }

    #[test]
    fn request_ids_are_stable_per_client_requester_and_key() {
        let (c, op) = (ClientId::generate(), ClientId::generate());
        assert_eq!(request_id_for(&c, &op, "k1"), request_id_for(&c, &op, "k1"));
        assert_ne!(request_id_for(&c, &op, "k1"), request_id_for(&c, &op, "k2"));
        assert_ne!(
            request_id_for(&c, &op, "k1"),
            request_id_for(&ClientId::generate(), &op, "k1")
        );
        assert_ne!(
            request_id_for(&c, &op, "k1"),
            request_id_for(&c, &ClientId::generate(), "k1"),
            "another operator's key names another request"
        );
        let r = request_id_for(&c, &op, "k1");
        assert_eq!(credential_id_for(&r, 0).ulid(), r.ulid());
    }

    #[test]
    fn request_ids_keep_the_derivation_stored_requests_were_named_with() {
        let c: ClientId = "cli_01KBZ3F9A1B2C3D4E5F6G7H8J9".parse().unwrap();
        let op: ClientId = "cli_01KBZ2X7K9M1N3P5R7T9V1X3Z5".parse().unwrap();
        let mut h = Sha256::new();
        h.update(b"cli_01KBZ3F9A1B2C3D4E5F6G7H8J9\0cli_01KBZ2X7K9M1N3P5R7T9V1X3Z5\0order-42");
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&h.finalize()[..16]);
        assert_eq!(
            request_id_for(&c, &op, "order-42"),
            RequestId::from_ulid(Ulid::from_bytes(bytes))
        );
    }

    #[test]
    fn each_attempt_mints_its_own_credential() {
        let r = RequestId::generate();
        let ids: BTreeSet<_> = (0..50).map(|n| credential_id_for(&r, n)).collect();
        assert_eq!(ids.len(), 50);
        assert_eq!(credential_id_for(&r, 3), credential_id_for(&r, 3));
        assert_eq!(
            credential_id_for(&r, 3).ulid().timestamp_ms(),
            r.ulid().timestamp_ms()
        );
    }

    #[test]
    fn idempotency_keys_are_checked() {
        assert!(check_idempotency_key(None).is_err());
        assert!(check_idempotency_key(Some("")).is_err());
        assert!(check_idempotency_key(Some("has space")).is_err());
        assert!(check_idempotency_key(Some(&"k".repeat(129))).is_err());
        assert_eq!(check_idempotency_key(Some("order-42")), Ok("order-42"));
    }
}
