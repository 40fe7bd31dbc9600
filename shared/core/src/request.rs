//! Issuance requests: the unit of idempotency and of one workflow execution.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::Error;
use crate::ids::{ClientId, CredentialId, RequestId};
use crate::issuance::IssuanceParams;

/// What the requester sees of a request's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Accepted; the workflow is running.
    Pending,
    /// Waiting for an approver.
    PendingApproval,
    /// A credential was issued.
    Completed,
    /// Refused by policy or an approver.
    Denied,
    /// Failed for good; the problem says why.
    Failed,
}

impl RequestStatus {
    /// Whether the request will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Denied | Self::Failed)
    }

    /// The snake_case name used in JSON and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::PendingApproval => "pending_approval",
            Self::Completed => "completed",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// Why a request failed, as its requester may see it (RFC 9457 fields, no internal detail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestProblem {
    /// `urn:clavis:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short title.
    pub title: String,
    /// The HTTP status the problem is answered with.
    pub status: u16,
    /// What went wrong.
    pub detail: String,
}

impl RequestProblem {
    /// The problem a workflow error stands for. Faults never reveal their detail.
    pub fn from_error(err: &Error) -> Self {
        let (title, detail) = match err {
            Error::User(e) => (e.title(), e.to_string()),
            Error::Fault(f) => (
                f.title(),
                "issuance failed on a dependency after retries; it was parked for replay".into(),
            ),
        };
        Self {
            type_: format!("urn:clavis:problem:{}", err.code()),
            title: title.into(),
            status: err.http_status(),
            detail,
        }
    }
}

/// An issuance request as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuanceRequest {
    /// Its id: derived from client and idempotency key; the execution name.
    pub request_id: RequestId,
    /// The client asked for.
    pub client_id: ClientId,
    /// Progress.
    pub status: RequestStatus,
    /// What was asked for.
    pub params: IssuanceParams,
    /// Fingerprint of `params`: a repeated key with another body is refused.
    pub fingerprint: String,
    /// The credential, once one is minted.
    #[serde(default)]
    pub credential_id: Option<CredentialId>,
    /// Why it failed, if it did.
    #[serde(default)]
    pub problem: Option<RequestProblem>,
    /// Who asked (the operator client id).
    pub requested_by: String,
    /// The credential the requester authenticated with (re-checked by identity verification).
    pub requested_with: CredentialId,
    /// The scopes the requester held when it asked (a token's, within its credential's):
    /// identity verification decides again with no more than these. Absent on requests stored
    /// before it was recorded; those are decided with the credential's scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_scopes: Option<BTreeSet<String>>,
    /// When it was asked.
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    /// 0, or how often replay has restarted it after a fault (each attempt mints its own
    /// credential, see [`crate::issuance::credential_id_for`]).
    #[serde(default)]
    pub attempt: u32,
    /// The client's vault when it was asked: the secret goes there, never over HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<crate::delivery::DeliveryTarget>,
}
