//! Out-of-band approval of a held issuance: the approval record approvers see and decide on,
//! its votes and its end. The workflow's task token lives beside it in the table and is never
//! part of it: it never leaves the server side.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use ulid::Ulid;

use crate::client::{Environment, Tier};
use crate::error::{FieldViolation, UserError};
use crate::ids::{ApprovalId, ClientId, RequestId};

/// Longest reason an approver may give, in characters.
pub const MAX_REASON_LEN: usize = 500;

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for (more) approvers.
    Pending,
    /// Enough distinct approvers approved; issuance goes on.
    Approved,
    /// An approver denied it.
    Denied,
    /// Nobody decided before the deadline; the request was denied (`timeout`).
    Expired,
}

impl ApprovalStatus {
    /// The snake_case name used in JSON and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
        }
    }
}

/// One approver's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// The approver (operator client id).
    pub approver: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why.
    pub reason: String,
}

/// How an approval ended, if it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Who ended it (an approver, or `clavis` for a timeout).
    pub by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why.
    pub reason: String,
}

/// A held issuance waiting for approvers, as stored and as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Its id.
    pub approval_id: ApprovalId,
    /// The held request.
    pub request_id: RequestId,
    /// The request's attempt it holds (a replayed request is held again, by its own approval).
    #[serde(default)]
    pub attempt: u32,
    /// The client the credential is for.
    pub client_id: ClientId,
    /// Who asked (operator client id).
    pub requested_by: String,
    /// The client's environment.
    pub environment: Environment,
    /// The client's tier.
    pub tier: Tier,
    /// Scopes asked for.
    pub scopes: BTreeSet<String>,
    /// Audiences asked for.
    pub audiences: BTreeSet<String>,
    /// Lifetime asked for, in seconds.
    pub ttl_seconds: u64,
    /// The requester's justification.
    pub justification: String,
    /// The risk score.
    pub risk_score: u32,
    /// Why it was held (policy reasons).
    pub reasons: Vec<String>,
    /// The policies that held it.
    pub policies: Vec<String>,
    /// The version of the policy set that held it.
    pub policy_version: String,
    /// How many distinct approvers must approve.
    pub approvals_required: u32,
    /// The approvals so far.
    pub approvals: Vec<Vote>,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// When it was held.
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    /// When it times out.
    #[serde(with = "time::serde::rfc3339")]
    pub deadline: OffsetDateTime,
    /// How it ended.
    #[serde(default)]
    pub outcome: Option<Outcome>,
}

impl Approval {
    /// The approvers so far.
    pub fn approvers(&self) -> BTreeSet<String> {
        self.approvals.iter().map(|v| v.approver.clone()).collect()
    }

    /// Whether `votes` approvals are enough.
    pub fn is_satisfied_by(&self, votes: usize) -> bool {
        votes >= usize::try_from(self.approvals_required.max(1)).unwrap_or(usize::MAX)
    }
}

/// The approval of attempt `attempt` of a request: derived, so a retried RequestApproval finds
/// its own record, and a replayed attempt gets a record of its own.
pub fn approval_id_for(request_id: &RequestId, attempt: u32) -> ApprovalId {
    let ulid = request_id.ulid();
    if attempt == 0 {
        return ApprovalId::from_ulid(ulid);
    }
    let mut h = Sha256::new();
    h.update(b"approval");
    h.update(ulid.to_bytes());
    h.update(attempt.to_be_bytes());
    let digest = h.finalize();
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    ApprovalId::from_ulid(Ulid::from_parts(
        ulid.timestamp_ms(),
        u128::from_be_bytes(random),
    ))
}

/// The body of `POST /v1/approvals/{approval_id}/approve|deny`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Why the approver decides so; recorded in the audit trail.
    pub reason: String,
}

impl DecisionBody {
    /// The trimmed reason: 1 to 500 characters, no control characters.
    pub fn validate(self) -> Result<String, UserError> {
        let reason = self.reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_LEN {
            return Err(UserError::Invalid(vec![FieldViolation::new(
                "reason",
                format!("must be 1 to {MAX_REASON_LEN} characters"),
            )]));
        }
        if reason.chars().any(char::is_control) {
            return Err(UserError::Invalid(vec![FieldViolation::new(
                "reason",
                "must not contain control characters",
            )]));
        }
        Ok(reason.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_attempt_has_its_own_approval() {
        let r = RequestId::generate();
        assert_eq!(approval_id_for(&r, 0).ulid(), r.ulid());
        assert_eq!(approval_id_for(&r, 2), approval_id_for(&r, 2));
        assert_ne!(approval_id_for(&r, 1), approval_id_for(&r, 2));
        assert!(approval_id_for(&r, 1).to_string().starts_with("apr_"));
    }

    #[test]
    fn reasons_are_bounded_and_clean() {
        let ok = DecisionBody {
            reason: "  looks right ".into(),
        };
        assert_eq!(ok.validate().unwrap(), "looks right");
        for bad in ["", "   ", "a\u{0}b"] {
            assert!(
                DecisionBody { reason: bad.into() }.validate().is_err(),
                "{bad:?}"
            );
        }
        let long = DecisionBody {
            reason: "x".repeat(MAX_REASON_LEN + 1),
        };
        assert_eq!(long.validate().unwrap_err().code(), "invalid-request");
        assert!(serde_json::from_str::<DecisionBody>(r#"{"reason":"x","approve":true}"#).is_err());
    }
}
