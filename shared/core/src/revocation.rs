//! Revocation registry entries: one per revoked credential, numbered without gaps.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{ClientId, CredentialId};

/// Why a credential was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// The secret leaked or may have.
    KeyCompromise,
    /// Replaced by a rotation.
    Superseded,
    /// Its client was revoked.
    ClientRevoked,
    /// It broke policy.
    PolicyViolation,
    /// An operator asked.
    OperatorRequest,
    /// Its lifetime ended.
    Expired,
}

/// One entry of the revocation registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationEntry {
    /// Position in the registry: strictly increasing, no gaps.
    pub seq: u64,
    /// The revoked credential.
    pub credential_id: CredentialId,
    /// Its client.
    pub client_id: ClientId,
    /// Why.
    pub reason: RevocationReason,
    /// When the revocation committed.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// Who revoked it.
    pub revoked_by: String,
}
