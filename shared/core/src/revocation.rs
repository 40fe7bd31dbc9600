//! Revocation registry entries: one per revoked credential, numbered without gaps.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{FieldViolation, UserError};
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

impl RevocationReason {
    /// The snake_case name used in JSON, events and the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyCompromise => "key_compromise",
            Self::Superseded => "superseded",
            Self::ClientRevoked => "client_revoked",
            Self::PolicyViolation => "policy_violation",
            Self::OperatorRequest => "operator_request",
            Self::Expired => "expired",
        }
    }
}

/// The body of `POST /v1/credentials/{credential_id}/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why.
    pub reason: RevocationReason,
}

impl RevokeRequest {
    /// The reason, if an operator may give it: `superseded`, `client_revoked` and `expired` are
    /// Clavis's own (rotation, client revocation, expiry), never an operator's.
    pub fn operator_reason(&self) -> Result<RevocationReason, UserError> {
        match self.reason {
            RevocationReason::KeyCompromise
            | RevocationReason::PolicyViolation
            | RevocationReason::OperatorRequest => Ok(self.reason),
            other => Err(UserError::Invalid(vec![FieldViolation::new(
                "reason",
                format!(
                    "{} is set by Clavis itself; use key_compromise, policy_violation or operator_request",
                    other.as_str()
                ),
            )])),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_give_only_their_own_reasons() {
        for (json, ok) in [
            (r#"{"reason":"key_compromise"}"#, true),
            (r#"{"reason":"operator_request"}"#, true),
            (r#"{"reason":"superseded"}"#, false),
            (r#"{"reason":"expired"}"#, false),
        ] {
            let r: RevokeRequest = serde_json::from_str(json).unwrap();
            assert_eq!(r.operator_reason().is_ok(), ok, "{json}");
        }
        assert!(serde_json::from_str::<RevokeRequest>(r#"{"reason":"bored"}"#).is_err());
        assert!(
            serde_json::from_str::<RevokeRequest>(r#"{"reason":"key_compromise","x":1}"#).is_err()
        );
    }
}
