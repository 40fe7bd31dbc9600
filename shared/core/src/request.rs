//! Issuance requests: the unit of idempotency and of one workflow execution.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{ClientId, CredentialId, RequestId};

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

/// An issuance request as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuanceRequest {
    /// Its id: derived from client and idempotency key; the execution name.
    pub request_id: RequestId,
    /// The client asked for.
    pub client_id: ClientId,
    /// Progress.
    pub status: RequestStatus,
    /// The credential, once one is minted.
    #[serde(default)]
    pub credential_id: Option<CredentialId>,
    /// Who asked.
    pub requested_by: String,
    /// When it was asked.
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
}
