//! What the API answers: views of stored values that leave out what callers must not see
//! (hashes, versions) and name fields as openapi.yaml does.

use std::collections::BTreeSet;

use clavis_core::credential::Credential;
use clavis_core::delivery::{DeliveryTarget, version_id_for};
use clavis_core::ids::{ClientId, CredentialId, RequestId};
use clavis_core::lifecycle::CredentialState;
use clavis_core::request::{IssuanceRequest, RequestProblem, RequestStatus};
use clavis_core::secret::ClientSecret;
use serde::Serialize;
use time::OffsetDateTime;

/// A credential's metadata: never its secret, nor its hash.
#[derive(Debug, Serialize)]
pub struct CredentialView {
    /// Its id.
    pub credential_id: CredentialId,
    /// Its client.
    pub client_id: ClientId,
    /// Lifecycle state; `expired` from its expiry on, before the sweep records it.
    pub status: CredentialState,
    /// Scopes.
    pub scopes: BTreeSet<String>,
    /// Audiences.
    pub audiences: BTreeSet<String>,
    /// When it became active.
    #[serde(with = "time::serde::rfc3339::option")]
    pub issued_at: Option<OffsetDateTime>,
    /// When it expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// From when a successor should be issued.
    #[serde(with = "time::serde::rfc3339::option")]
    pub renew_after: Option<OffsetDateTime>,
    /// The rules that allowed it.
    pub policy_version: String,
    /// The request that created it.
    pub request_id: Option<RequestId>,
    /// The credential it replaced.
    pub rotated_from: Option<CredentialId>,
    /// The credential that replaced it.
    pub rotated_to: Option<CredentialId>,
    /// When it last authenticated (to the hour; to the use resolution while a successor
    /// waits for it to drain), if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl CredentialView {
    /// The view of `c` at `now` (its status as callers should see it then).
    pub fn at(c: Credential, now: OffsetDateTime) -> Self {
        Self {
            credential_id: c.credential_id,
            client_id: c.client_id,
            status: c.status_at(now),
            scopes: c.scopes,
            audiences: c.audiences,
            issued_at: c.issued_at,
            expires_at: c.expires_at,
            renew_after: c.renew_after,
            policy_version: c.policy_version,
            request_id: c.request_id,
            rotated_from: c.rotated_from,
            last_used_at: c.last_used_at,
            rotated_to: c.rotated_to,
        }
    }
}

/// A request's progress.
#[derive(Debug, Serialize)]
pub struct RequestView {
    /// Its id.
    pub request_id: RequestId,
    /// Its client.
    pub client_id: ClientId,
    /// Progress.
    pub status: RequestStatus,
    /// The credential, once issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<CredentialId>,
    /// Why it failed or was denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<RequestProblem>,
    /// The approval it waits for, while it is `pending_approval`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<clavis_core::ids::ApprovalId>,
    /// The vault the secret goes to instead of an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryView>,
}

/// Where a secret was (or will be) delivered instead of being answered.
#[derive(Debug, Serialize)]
pub struct DeliveryView {
    /// The vault.
    #[serde(flatten)]
    pub target: DeliveryTarget,
    /// The version that holds the credential's secret, once a credential is named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

impl DeliveryView {
    /// The delivery of `request`, if its client has a vault.
    pub fn of(request: &IssuanceRequest) -> Option<Self> {
        request.delivery.clone().map(|target| Self {
            target,
            version_id: (request.status == RequestStatus::Completed)
                .then_some(request.credential_id)
                .flatten()
                .map(|c| version_id_for(&c)),
        })
    }
}

impl From<&IssuanceRequest> for RequestView {
    fn from(r: &IssuanceRequest) -> Self {
        Self {
            request_id: r.request_id,
            client_id: r.client_id,
            status: r.status,
            credential_id: if r.status == RequestStatus::Completed {
                r.credential_id
            } else {
                None
            },
            problem: r.problem.clone(),
            approval_id: (r.status == RequestStatus::PendingApproval)
                .then(|| clavis_core::approval::approval_id_for(&r.request_id, r.attempt)),
            delivery: DeliveryView::of(r),
        }
    }
}

/// The answer that hands a secret over: at issuance (201) or at pickup (200), once.
#[derive(Debug, Serialize)]
pub struct IssuedView {
    /// The request.
    pub request_id: RequestId,
    /// Progress (`completed` when a credential is named).
    pub status: RequestStatus,
    /// The credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<CredentialId>,
    /// The secret, only in the one answer that delivers it, and never for a client whose
    /// secrets go into a vault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// Where the secret went instead, for a client with a vault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryView>,
    /// When the credential expires.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
}
