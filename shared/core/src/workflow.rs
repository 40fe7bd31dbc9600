//! What the issuance workflow's tasks pass each other: ids and decisions, never a secret.
//!
//! Readers ignore fields they do not know (no `deny_unknown_fields` here, unlike request
//! bodies): during a gradual deploy or its rollback, a step of one version reads what a step of
//! the other wrote, so a field can be added in one release. Removing or renaming a field takes
//! two (stop reading it, then stop writing it).

use serde::{Deserialize, Serialize};

use crate::audit::ChainHead;
use crate::client::{Client, Environment};
use crate::credential::Credential;
use crate::delivery::DeliveryTarget;
use crate::ids::{ClientId, CredentialId, RequestId};
use crate::issuance::IssuanceGrant;
use crate::request::IssuanceRequest;
use crate::risk::RiskAssessment;
use crate::rotation::{DrainVerdict, Rotation};

/// The Step Functions error name of an approver's denial (`SendTaskFailure`).
pub const APPROVAL_DENIED: &str = "Clavis.Approval.denied";

/// The execution input, and the output of `ValidateRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRef {
    /// The request (also the execution name).
    pub request_id: RequestId,
    /// Its client.
    pub client_id: ClientId,
    /// The request as stored (ids and parameters, never a secret), so the workflow does not
    /// read it back. Absent in inputs that do not carry it: `ValidateRequest` then reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Box<IssuanceRequest>>,
    /// The client's audit chain head as the request left it: the first audited step of the
    /// workflow appends to it without reading it (and reads it if it has moved since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<ChainHead>,
}

impl RequestRef {
    /// The ids alone: the workflow reads the rest.
    pub fn of(request_id: RequestId, client_id: ClientId) -> Self {
        Self {
            request_id,
            client_id,
            request: None,
            audit_head: None,
        }
    }
}

/// The output of `VerifyIdentity`, the input of `AssessRisk`: the grant, and what was read to
/// decide it (the request and the client), so the assessment does not read them again.
/// A plain grant (an input from before) reads as one without them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// What issuance may do.
    #[serde(flatten)]
    pub grant: IssuanceGrant,
    /// The request and its client as verified; absent: read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Box<VerifiedReads>>,
}

/// The items `VerifyIdentity` read (none of them secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedReads {
    /// The request.
    pub request: IssuanceRequest,
    /// The client the credential is for.
    pub client: Client,
}

/// What `MintCredential` wrote that activation needs: the credential's public attributes (never
/// its secret or hash), so `ActivateCredential` does not read it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintedCredential {
    /// The credential.
    pub credential_id: CredentialId,
    /// Its client.
    pub client_id: ClientId,
    /// Granted scopes.
    pub scopes: std::collections::BTreeSet<String>,
    /// Granted audiences.
    pub audiences: std::collections::BTreeSet<String>,
    /// When it expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
    /// When its renewal window opens.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub renew_after: Option<time::OffsetDateTime>,
    /// The credential it succeeds, for a rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_from: Option<CredentialId>,
}

impl MintedCredential {
    /// The public attributes of `credential`.
    pub fn of(credential: &Credential) -> Self {
        Self {
            credential_id: credential.credential_id,
            client_id: credential.client_id,
            scopes: credential.scopes.clone(),
            audiences: credential.audiences.clone(),
            expires_at: credential.expires_at,
            renew_after: credential.renew_after,
            rotated_from: credential.rotated_from,
        }
    }
}

/// The output of `AssessRisk`: the grant, and what policy made of its risk. The ids are at the
/// top as in every task input, so `RecordFailure` finds them whatever failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessed {
    /// The request.
    pub request_id: RequestId,
    /// Its client.
    pub client_id: ClientId,
    /// What minting will get if it goes on.
    pub grant: IssuanceGrant,
    /// The decision and why.
    pub assessment: RiskAssessment,
}

/// The input of `RequestApproval`: the held request and the token that resumes its execution.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalTask {
    /// The held request, as assessed.
    pub assessed: Assessed,
    /// Step Functions' task token: stored server side, never answered, never logged.
    pub task_token: String,
}

impl std::fmt::Debug for ApprovalTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovalTask")
            .field("assessed", &self.assessed)
            .field("task_token", &"[redacted]")
            .finish()
    }
}

/// The input of `RecordDenial`: a request policy denied (with its assessment), or one whose
/// approval was denied or timed out (with the caught error). Other fields of the execution
/// state are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    /// The request.
    pub request_id: RequestId,
    /// Its client.
    pub client_id: ClientId,
    /// The assessment, when there was one.
    #[serde(default)]
    pub assessment: Option<RiskAssessment>,
    /// What ended the approval, when one was asked for.
    #[serde(default)]
    pub error: Option<CaughtError>,
}

/// The output of `MintCredential`, the input of `ActivateCredential`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Minted {
    /// The request.
    pub request_id: RequestId,
    /// Its client.
    pub client_id: ClientId,
    /// The minted (approved, not yet active) credential.
    pub credential_id: CredentialId,
    /// The client's environment (for the issued event).
    pub environment: Environment,
    /// Set when the credential is a successor (passed on to the overlap and retirement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    /// Set when the secret goes into a vault (staged by `DeliverSecret`, made current at
    /// activation, the predecessor's version retired with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryTarget>,
    /// When the request was accepted (for the issuance latency measured at activation).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub requested_at: Option<time::OffsetDateTime>,
    /// Whether it waited for an approval.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
    /// What was minted, when this execution minted it; absent: activation reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<MintedCredential>,
    /// The client's audit chain head after the mint: activation appends to it without reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<ChainHead>,
}

/// The output of `ActivateCredential`: the execution's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// The request.
    pub request_id: RequestId,
    /// Its client.
    pub client_id: ClientId,
    /// The active credential.
    pub credential_id: CredentialId,
    /// Always `completed`.
    pub status: String,
    /// Set when the credential is a successor: the rotate workflow waits out the overlap, then
    /// retires the predecessor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    /// Set when the secret goes into a vault (staged by `DeliverSecret`, made current at
    /// activation, the predecessor's version retired with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryTarget>,
}

/// The output of `CheckDrain`: the activated rotation, and what to do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainCheck {
    /// The activated rotation (passed on to the next look, or to `RetirePredecessor`).
    #[serde(flatten)]
    pub issued: Issued,
    /// Retire now, or look again after some seconds.
    pub drain: DrainVerdict,
}

/// How a rotation ended for its predecessor (the output of `RetirePredecessor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetireOutcome {
    /// Revoked now with reason `superseded`.
    Superseded,
    /// Someone revoked it during the overlap (or its client was revoked): nothing left to do.
    AlreadyRevoked,
    /// It expired during the overlap: nothing left to do.
    Expired,
    /// The successor was revoked during the overlap: the predecessor stays active and may be
    /// rotated again.
    Abandoned,
}

/// The output of `RetirePredecessor`: the rotate execution's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retired {
    /// The rotation request.
    pub request_id: RequestId,
    /// The successor.
    pub credential_id: CredentialId,
    /// The predecessor.
    pub rotated_from: CredentialId,
    /// What became of it.
    pub outcome: RetireOutcome,
    /// Its registry position, when this step revoked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// The error Step Functions `Catch` puts at `$.error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    /// The error name (`Clavis.User.conflict`, `Clavis.Transient.timeout`, `States.Timeout`…).
    #[serde(rename = "Error")]
    pub error: String,
    /// For Lambda errors a JSON text `{"errorType","errorMessage"}`; free text otherwise.
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

impl CaughtError {
    /// Whether this is the caller's mistake (not retried, not parked for replay).
    pub fn is_user_error(&self) -> bool {
        self.error.starts_with("Clavis.User.")
    }

    /// The stable code after `Clavis.User.`/`Clavis.Transient.`, if it is a Clavis error.
    pub fn code(&self) -> Option<&str> {
        self.error
            .strip_prefix("Clavis.User.")
            .or_else(|| self.error.strip_prefix("Clavis.Transient."))
    }

    /// The `errorMessage` inside a Lambda error's cause, or the cause itself.
    pub fn message(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.cause)
            .ok()
            .and_then(|v| {
                v.get("errorMessage")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| self.cause.clone())
    }
}

/// The input of `RecordFailure`: whatever the failed task had, plus the caught error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedTask {
    /// The request.
    pub request_id: RequestId,
    /// Its client.
    pub client_id: ClientId,
    /// What went wrong.
    pub error: CaughtError,
}

/// The input of the `revoke-client` workflow and of each of its tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRef {
    /// The revoked client.
    pub client_id: ClientId,
    /// 0 for the first execution, n for the n-th replay (the execution is named after it).
    #[serde(default)]
    pub attempt: u32,
}

/// The output of one `RevokeCredentialsBatch` task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationBatch {
    /// The client.
    pub client_id: ClientId,
    /// Passed through from [`ClientRef`].
    pub attempt: u32,
    /// Credentials this batch revoked.
    pub revoked: u64,
    /// Whether another batch must run (this one was full).
    pub more: bool,
}

/// The input of `RecordFailure` when `RetirePredecessor` failed for good: the successor is
/// live and its request completed; only the predecessor's retirement is left, for replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedRetirement {
    /// What the retirement was given.
    #[serde(flatten)]
    pub issued: Issued,
    /// What went wrong.
    pub error: CaughtError,
}

/// The input of `RecordFailure` when a `revoke-client` task failed for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedClientRevocation {
    /// The client.
    pub client_id: ClientId,
    /// The failed execution's attempt.
    #[serde(default)]
    pub attempt: u32,
    /// What went wrong.
    pub error: CaughtError,
}

/// A workflow Clavis starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowKind {
    /// `issue`: one issuance request.
    Issue,
    /// `revoke-client`: every credential of a revoked client.
    RevokeClient,
    /// `rotate`: one rotation request, or (input [`Issued`]) the retirement of its predecessor.
    Rotate,
}

impl WorkflowKind {
    /// The execution name of `base` (a request or client id) at `attempt`: the id itself
    /// first, `<id>-r<n>` for the n-th replay (Standard execution names cannot be reused after
    /// an execution closed, so a replay of a failed execution needs a new one).
    pub fn execution_name(base: &str, attempt: u32) -> String {
        if attempt == 0 {
            base.to_owned()
        } else {
            format!("{base}-r{attempt}")
        }
    }
}

/// A workflow start that could not be made (Step Functions unavailable or throttled), queued
/// on the intake queue; replay starts it later under the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    /// Which state machine.
    pub workflow: WorkflowKind,
    /// The execution name (the idempotency key: a start under a taken name runs nothing).
    pub name: String,
    /// The execution input: ids only.
    pub input: serde_json::Value,
}

/// A workflow that failed for good on a fault, parked in the workflow DLQ for replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowDeadLetter {
    /// Which state machine.
    pub workflow: WorkflowKind,
    /// The failed execution's input: ids only.
    pub execution_input: serde_json::Value,
    /// The failed execution's attempt.
    #[serde(default)]
    pub attempt: u32,
    /// The error that ended it.
    pub error: CaughtError,
    /// Parked by the state machine itself because `RecordFailure` failed: the request was not
    /// recorded as failed (the reaper settles it), and `attempt` is unknown (0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unrecorded: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_causes_yield_their_message() {
        let e = CaughtError {
            error: "Clavis.User.forbidden".into(),
            cause: r#"{"errorType":"Clavis.User.forbidden","errorMessage":"not allowed: x"}"#
                .into(),
        };
        assert!(e.is_user_error());
        assert_eq!(e.code(), Some("forbidden"));
        assert_eq!(e.message(), "not allowed: x");
        let t = CaughtError {
            error: "States.Timeout".into(),
            cause: "task timed out".into(),
        };
        assert!(!t.is_user_error());
        assert_eq!(t.code(), None);
        assert_eq!(t.message(), "task timed out");
    }

    #[test]
    fn a_failed_task_keeps_the_ids_of_any_task_input() {
        let json = r#"{"request_id":"req_01HZZZZZZZZZZZZZZZZZZZZZZZ","client_id":"cli_01HZZZZZZZZZZZZZZZZZZZZZZZ","scopes":["a"],"error":{"Error":"States.Timeout","Cause":""}}"#;
        let f: FailedTask = serde_json::from_str(json).unwrap();
        assert_eq!(f.error.error, "States.Timeout");
    }

    #[test]
    fn an_approval_task_never_shows_its_token() {
        let text = include_str!("../../../events/request-approval.json");
        let task: ApprovalTask = serde_json::from_str(text).expect("events/request-approval.json");
        assert!(task.task_token.starts_with("AQCE"));
        let shown = format!("{task:?}");
        assert!(!shown.contains(&task.task_token), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn replays_get_names_of_their_own() {
        assert_eq!(WorkflowKind::execution_name("cli_x", 0), "cli_x");
        assert_eq!(WorkflowKind::execution_name("cli_x", 2), "cli_x-r2");
    }

    #[test]
    fn a_failed_client_revocation_reads_the_state_it_failed_in() {
        let json = r#"{"client_id":"cli_01HZZZZZZZZZZZZZZZZZZZZZZZ","attempt":1,"more":true,"revoked":25,"error":{"Error":"States.Timeout","Cause":""}}"#;
        let f: FailedClientRevocation = serde_json::from_str(json).unwrap();
        assert_eq!(f.attempt, 1);
    }
}
