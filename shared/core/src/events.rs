//! The events Clavis emits on its bus (docs/architecture.md, "Events"; docs/subscribers.md), as
//! typed `detail` payloads.
//!
//! Every detail carries `event_id` (subscribers dedupe on it), `occurred_at` and
//! `schema_version`; the JSON Schemas in `events/schemas/` describe exactly these structs, and
//! tests hold the emitted events to them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use ulid::Ulid;

use crate::access_review::ReviewSummary;
use crate::client::Environment;
use crate::client_update::ClientSettings;
use crate::ids::{ClientId, CredentialId, RequestId};
use crate::revocation::RevocationReason;

/// Version of every detail schema below.
pub const SCHEMA_VERSION: &str = "1";

/// Fields every event detail starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    /// `evt_<ulid>`: unique per event, stable across re-publication.
    pub event_id: String,
    /// When the change it reports committed.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The detail schema's version.
    pub schema_version: String,
}

impl EventMeta {
    /// Metadata for an event that happens at `occurred_at`.
    pub fn new(occurred_at: OffsetDateTime) -> Self {
        Self {
            event_id: format!("evt_{}", Ulid::generate()),
            occurred_at,
            schema_version: SCHEMA_VERSION.to_owned(),
        }
    }
}

/// `Credential Issued`: a credential became active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialIssued {
    /// Event metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The new credential.
    pub credential_id: CredentialId,
    /// Its client.
    pub client_id: ClientId,
    /// The request that asked for it.
    pub request_id: RequestId,
    /// The client's environment.
    pub environment: Environment,
    /// Granted scopes.
    pub scopes: BTreeSet<String>,
    /// Granted audiences.
    pub audiences: BTreeSet<String>,
    /// When it expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// An event ready for the outbox: its `detail-type` and `detail` JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// The event id (also inside `detail`).
    pub event_id: String,
    /// EventBridge `detail-type`.
    pub detail_type: &'static str,
    /// The `detail` as JSON text.
    pub detail: String,
}

/// An outbox entry as stored (and as the table's stream carries it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// Event id (subscribers dedupe on it).
    pub event_id: String,
    /// EventBridge `detail-type`.
    pub detail_type: String,
    /// The `detail` JSON text.
    pub detail: String,
}

impl OutboxRecord {
    /// Whether it announces a credential's revocation (what the propagation SLO measures).
    pub fn is_revocation(&self) -> bool {
        self.detail_type == CredentialRevoked::DETAIL_TYPE
    }

    /// When the change it reports committed (`occurred_at` of its detail), if it says.
    pub fn occurred_at(&self) -> Option<OffsetDateTime> {
        #[derive(Deserialize)]
        struct Occurred {
            #[serde(with = "time::serde::rfc3339")]
            occurred_at: OffsetDateTime,
        }
        serde_json::from_str::<Occurred>(&self.detail)
            .ok()
            .map(|o| o.occurred_at)
    }
}

/// An outbox entry that could not be published, as parked in the events DLQ; replay re-puts
/// it unchanged (same `event_id`), so subscribers that saw it already drop the copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedEvent {
    /// The outbox entry.
    pub record: OutboxRecord,
    /// The last error code EventBridge gave.
    pub error: String,
}

/// An event type: its `detail-type`, and how it goes into the outbox.
pub trait ClavisEvent: Serialize {
    /// EventBridge `detail-type`.
    const DETAIL_TYPE: &'static str;

    /// The event's metadata.
    fn meta(&self) -> &EventMeta;

    /// This event, ready for the outbox.
    fn to_outbox(&self) -> OutboxEvent {
        OutboxEvent {
            event_id: self.meta().event_id.clone(),
            detail_type: Self::DETAIL_TYPE,
            // Ids, enums, strings and timestamps only: serialising cannot fail.
            detail: serde_json::to_string(self).unwrap_or_default(),
        }
    }
}

impl ClavisEvent for CredentialIssued {
    const DETAIL_TYPE: &'static str = "Credential Issued";

    fn meta(&self) -> &EventMeta {
        &self.meta
    }
}

/// `Credential Rotated`: a successor became active in place of its predecessor. Both
/// authenticate until `overlap_ends_at`; then the predecessor is revoked (`superseded`, its own
/// `Credential Revoked` with the next `seq`), sooner if someone revokes it first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRotated {
    /// Event metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The successor.
    pub credential_id: CredentialId,
    /// The predecessor it replaces.
    pub rotated_from: CredentialId,
    /// Their client.
    pub client_id: ClientId,
    /// The rotation request.
    pub request_id: RequestId,
    /// When the predecessor is retired at the latest.
    #[serde(with = "time::serde::rfc3339")]
    pub overlap_ends_at: OffsetDateTime,
    /// When the successor expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl ClavisEvent for CredentialRotated {
    const DETAIL_TYPE: &'static str = "Credential Rotated";

    fn meta(&self) -> &EventMeta {
        &self.meta
    }
}

/// `Client Suspended`: a client's credentials stopped authenticating (access tokens already
/// issued stay valid until they expire, 15 minutes at most) until it is resumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSuspended {
    /// Event metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The client.
    pub client_id: ClientId,
    /// Why (the operator's words).
    pub reason: String,
    /// Since when.
    #[serde(with = "time::serde::rfc3339")]
    pub suspended_at: OffsetDateTime,
}

impl ClavisEvent for ClientSuspended {
    const DETAIL_TYPE: &'static str = "Client Suspended";

    fn meta(&self) -> &EventMeta {
        &self.meta
    }
}

/// `Client Updated`: an operator changed a client's settings. Narrowed scopes or audiences
/// bind its live credentials at once (secrets; access tokens already issued keep theirs until
/// they expire, 15 minutes at most); widening gives no live credential anything new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientUpdated {
    /// Event metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The client.
    pub client_id: ClientId,
    /// Why (the operator's words).
    pub reason: String,
    /// The names of the settings that changed.
    pub changed: Vec<String>,
    /// The settings before.
    pub before: ClientSettings,
    /// The settings after.
    pub after: ClientSettings,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl ClavisEvent for ClientUpdated {
    const DETAIL_TYPE: &'static str = "Client Updated";

    fn meta(&self) -> &EventMeta {
        &self.meta
    }
}

/// `Client Resumed`: a suspended client's credentials authenticate again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientResumed {
    /// Event metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The client.
    pub client_id: ClientId,
    /// Why (the operator's words).
    pub reason: String,
    /// Since when.
    #[serde(with = "time::serde::rfc3339")]
    pub resumed_at: OffsetDateTime,
}

impl ClavisEvent for ClientResumed {
    const DETAIL_TYPE: &'static str = "Client Resumed";

    fn meta(&self) -> &EventMeta {
        &self.meta
    }
}

/// `Access Review Due`: the scheduled access review ran; its counts say what reviewers should
/// look at (`GET /v1/access-review` lists it client by client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessReviewDue {
    /// Event metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The review window: credentials unused for this many days count as unused.
    pub unused_days: u32,
    /// The counts.
    #[serde(flatten)]
    pub summary: ReviewSummary,
    /// Whether every client was reviewed (false: the run hit its time budget).
    pub complete: bool,
}

impl ClavisEvent for AccessReviewDue {
    const DETAIL_TYPE: &'static str = "Access Review Due";

    fn meta(&self) -> &EventMeta {
        &self.meta
    }
}

/// `Credential Expiring`: a credential entered its renewal window (once per credential). When
/// its client rotates automatically, the rotation has been asked for: `rotation_request_id`
/// names it, and the client fetches its successor's secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialExpiring {
    /// Event metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The credential.
    pub credential_id: CredentialId,
    /// Its client.
    pub client_id: ClientId,
    /// When its renewal window opened.
    #[serde(with = "time::serde::rfc3339")]
    pub renew_after: OffsetDateTime,
    /// When it expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The automatic rotation asked for, if its client rotates automatically.
    pub rotation_request_id: Option<RequestId>,
}

impl ClavisEvent for CredentialExpiring {
    const DETAIL_TYPE: &'static str = "Credential Expiring";

    fn meta(&self) -> &EventMeta {
        &self.meta
    }
}

/// `Operators Recovered`: someone with direct AWS permissions on the stack broke the glass and
/// created new operators (the old ones lost or expired). Every subscriber that watches for
/// abuse should page someone: it is legitimate only when the people responsible know of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorsRecovered {
    /// Event metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The new operator clients (administrator first).
    pub operators: Vec<ClientId>,
    /// Why (the invoker's words).
    pub reason: String,
}

impl ClavisEvent for OperatorsRecovered {
    const DETAIL_TYPE: &'static str = "Operators Recovered";

    fn meta(&self) -> &EventMeta {
        &self.meta
    }
}

/// `Credential Revoked`: a credential stopped being valid before its expiry. `seq` is its
/// position in the registry: a subscriber that sees a gap backfills from
/// `/v1/revocations?since=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRevoked {
    /// Event metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// Registry position.
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
    /// When the credential would have expired: a subscriber may forget the revocation after it.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
}

impl ClavisEvent for CredentialRevoked {
    const DETAIL_TYPE: &'static str = "Credential Revoked";

    fn meta(&self) -> &EventMeta {
        &self.meta
    }
}

/// `Client Revoked`: a client was revoked and every credential it had is now revoked too
/// (each also announced by its own `Credential Revoked`). Emitted once, when the
/// `revoke-client` workflow has finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRevoked {
    /// Event metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The revoked client.
    pub client_id: ClientId,
    /// Why the operator revoked it.
    pub reason: RevocationReason,
    /// When the client itself was revoked (no issuance from that moment).
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// How many of its credentials were revoked because of it.
    pub revoked_credentials: u64,
}

impl ClavisEvent for ClientRevoked {
    const DETAIL_TYPE: &'static str = "Client Revoked";

    fn meta(&self) -> &EventMeta {
        &self.meta
    }
}

/// `Approval Requested`: an issuance is held until approvers decide (for notification channels:
/// ids, client, scopes, reasons; never a secret or a task token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequested {
    /// Event metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The approval to decide (`POST /v1/approvals/{approval_id}/approve|deny`).
    pub approval_id: crate::ids::ApprovalId,
    /// The held request.
    pub request_id: RequestId,
    /// The client the credential would be for.
    pub client_id: ClientId,
    /// Who asked.
    pub requested_by: String,
    /// The client's environment.
    pub environment: Environment,
    /// Scopes asked for.
    pub scopes: BTreeSet<String>,
    /// Audiences asked for.
    pub audiences: BTreeSet<String>,
    /// The risk score.
    pub risk_score: u32,
    /// Why it was held.
    pub reasons: Vec<String>,
    /// How many distinct approvers must approve.
    pub approvals_required: u32,
    /// When it times out (then it is denied).
    #[serde(with = "time::serde::rfc3339")]
    pub deadline: OffsetDateTime,
}

impl ClavisEvent for ApprovalRequested {
    const DETAIL_TYPE: &'static str = "Approval Requested";

    fn meta(&self) -> &EventMeta {
        &self.meta
    }
}

/// `Issuance Anomaly Detected`: a client's issuance requests spiked over its own baseline and a
/// request was held for approval because of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuanceAnomalyDetected {
    /// Event metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The client whose requests spiked.
    pub client_id: ClientId,
    /// The request that was held.
    pub request_id: RequestId,
    /// Its approval.
    pub approval_id: crate::ids::ApprovalId,
    /// Who asked.
    pub requested_by: String,
    /// The client's requests in the recent window, this one included.
    pub recent_requests: u64,
    /// Its baseline per window.
    pub baseline_requests: u64,
    /// The window, in seconds.
    pub window_seconds: u32,
    /// The anomaly policies that held it.
    pub policies: Vec<String>,
}

impl ClavisEvent for IssuanceAnomalyDetected {
    const DETAIL_TYPE: &'static str = "Issuance Anomaly Detected";

    fn meta(&self) -> &EventMeta {
        &self.meta
    }
}

/// `Credential Expired`: a credential reached the end of its lifetime and the expiry sweep
/// marked it expired. Verifiers need nothing from it (tokens never outlive their credential);
/// it is for inventories and for owners who did not rotate in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialExpired {
    /// Event metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The expired credential.
    pub credential_id: CredentialId,
    /// Its client.
    pub client_id: ClientId,
    /// When its lifetime ended (the sweep notices it later).
    #[serde(with = "time::serde::rfc3339")]
    pub expired_at: OffsetDateTime,
}

impl ClavisEvent for CredentialExpired {
    const DETAIL_TYPE: &'static str = "Credential Expired";

    fn meta(&self) -> &EventMeta {
        &self.meta
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn issued() -> CredentialIssued {
        let now = OffsetDateTime::now_utc();
        CredentialIssued {
            meta: EventMeta::new(now),
            credential_id: CredentialId::generate(),
            client_id: ClientId::generate(),
            request_id: RequestId::generate(),
            environment: Environment::Staging,
            scopes: BTreeSet::from(["a:read".to_owned()]),
            audiences: BTreeSet::from(["https://a".to_owned()]),
            expires_at: now + Duration::hours(1),
        }
    }

    /// The validator of a published schema, and the detail of `outbox` as JSON.
    fn checked(schema: &str, outbox: &OutboxEvent) -> (jsonschema::Validator, serde_json::Value) {
        let schema: serde_json::Value = serde_json::from_str(schema).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        (validator, serde_json::from_str(&outbox.detail).unwrap())
    }

    fn errors(validator: &jsonschema::Validator, detail: &serde_json::Value) -> Vec<String> {
        validator
            .iter_errors(detail)
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn credential_revoked_matches_its_published_schema() {
        let now = OffsetDateTime::now_utc();
        let outbox = CredentialRevoked {
            meta: EventMeta::new(now),
            seq: 7,
            credential_id: CredentialId::generate(),
            client_id: ClientId::generate(),
            reason: RevocationReason::KeyCompromise,
            revoked_at: now,
            expires_at: Some(now + time::Duration::hours(1)),
        }
        .to_outbox();
        assert_eq!(outbox.detail_type, "Credential Revoked");
        let (validator, detail) = checked(
            include_str!("../../../events/schemas/credential-revoked.json"),
            &outbox,
        );
        assert_eq!(errors(&validator, &detail), Vec::<String>::new());
    }

    #[test]
    fn an_outbox_record_says_when_its_change_committed_and_whether_it_revokes() {
        let committed = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let event = CredentialRevoked {
            meta: EventMeta::new(committed),
            seq: 1,
            credential_id: CredentialId::generate(),
            client_id: ClientId::generate(),
            reason: RevocationReason::Superseded,
            revoked_at: committed,
            expires_at: None,
        }
        .to_outbox();
        let record = OutboxRecord {
            event_id: event.event_id,
            detail_type: event.detail_type.to_owned(),
            detail: event.detail,
        };
        assert!(record.is_revocation());
        assert_eq!(record.occurred_at(), Some(committed));
        let other = OutboxRecord {
            detail_type: "Credential Issued".into(),
            detail: "not json".into(),
            ..record
        };
        assert!(!other.is_revocation());
        assert_eq!(other.occurred_at(), None);
    }

    #[test]
    fn credential_expired_matches_its_published_schema() {
        let now = OffsetDateTime::now_utc();
        let outbox = CredentialExpired {
            meta: EventMeta::new(now),
            credential_id: CredentialId::generate(),
            client_id: ClientId::generate(),
            expired_at: now - Duration::minutes(3),
        }
        .to_outbox();
        assert_eq!(outbox.detail_type, "Credential Expired");
        let (validator, detail) = checked(
            include_str!("../../../events/schemas/credential-expired.json"),
            &outbox,
        );
        assert_eq!(errors(&validator, &detail), Vec::<String>::new());
        let mut broken = detail.clone();
        broken["credential_id"] = serde_json::json!("cli_nope");
        assert!(!validator.is_valid(&broken));
    }

    #[test]
    fn client_revoked_matches_its_published_schema() {
        let now = OffsetDateTime::now_utc();
        let outbox = ClientRevoked {
            meta: EventMeta::new(now),
            client_id: ClientId::generate(),
            reason: RevocationReason::PolicyViolation,
            revoked_at: now,
            revoked_credentials: 3,
        }
        .to_outbox();
        assert_eq!(outbox.detail_type, "Client Revoked");
        let (validator, detail) = checked(
            include_str!("../../../events/schemas/client-revoked.json"),
            &outbox,
        );
        assert_eq!(errors(&validator, &detail), Vec::<String>::new());
        let mut broken = detail.clone();
        broken["revoked_credentials"] = serde_json::json!(-1);
        assert!(!validator.is_valid(&broken));
    }

    #[test]
    fn approval_requested_matches_its_published_schema() {
        let now = OffsetDateTime::now_utc();
        let outbox = ApprovalRequested {
            meta: EventMeta::new(now),
            approval_id: crate::ids::ApprovalId::generate(),
            request_id: RequestId::generate(),
            client_id: ClientId::generate(),
            requested_by: ClientId::generate().to_string(),
            environment: Environment::Prod,
            scopes: BTreeSet::from(["clavis.admin".to_owned()]),
            audiences: BTreeSet::from(["clavis".to_owned()]),
            risk_score: 80,
            reasons: vec!["credentials carrying clavis.* scopes wait for an approver".into()],
            approvals_required: 2,
            deadline: now + Duration::hours(1),
        }
        .to_outbox();
        assert_eq!(outbox.detail_type, "Approval Requested");
        let (validator, detail) = checked(
            include_str!("../../../events/schemas/approval-requested.json"),
            &outbox,
        );
        assert_eq!(errors(&validator, &detail), Vec::<String>::new());
        let mut broken = detail.clone();
        broken["task_token"] = serde_json::json!("AAAA");
        assert!(!validator.is_valid(&broken), "no token may ever be added");
    }

    #[test]
    fn issuance_anomaly_detected_matches_its_published_schema() {
        let outbox = IssuanceAnomalyDetected {
            meta: EventMeta::new(OffsetDateTime::now_utc()),
            client_id: ClientId::generate(),
            request_id: RequestId::generate(),
            approval_id: crate::ids::ApprovalId::generate(),
            requested_by: ClientId::generate().to_string(),
            recent_requests: 21,
            baseline_requests: 0,
            window_seconds: 300,
            policies: vec!["issuance-spike-is-held".into()],
        }
        .to_outbox();
        assert_eq!(outbox.detail_type, "Issuance Anomaly Detected");
        let (validator, detail) = checked(
            include_str!("../../../events/schemas/issuance-anomaly-detected.json"),
            &outbox,
        );
        assert_eq!(errors(&validator, &detail), Vec::<String>::new());
        let mut broken = detail.clone();
        broken["recent_requests"] = serde_json::json!(-1);
        assert!(!validator.is_valid(&broken));
    }

    #[test]
    fn credential_rotated_matches_its_published_schema() {
        let now = OffsetDateTime::now_utc();
        let event = CredentialRotated {
            meta: EventMeta::new(now),
            credential_id: CredentialId::generate(),
            rotated_from: CredentialId::generate(),
            client_id: ClientId::generate(),
            request_id: RequestId::generate(),
            overlap_ends_at: now + Duration::hours(1),
            expires_at: now + Duration::days(1),
        };
        let (validator, mut detail) = checked(
            include_str!("../../../events/schemas/credential-rotated.json"),
            &event.to_outbox(),
        );
        assert!(errors(&validator, &detail).is_empty());
        detail["rotated_from"] = serde_json::Value::String("cli_x".into());
        assert!(!errors(&validator, &detail).is_empty());
    }

    #[test]
    fn client_suspension_events_match_their_published_schemas() {
        let now = OffsetDateTime::now_utc();
        let suspended = ClientSuspended {
            meta: EventMeta::new(now),
            client_id: ClientId::generate(),
            reason: "leaked in a build log".into(),
            suspended_at: now,
        };
        let (validator, mut detail) = checked(
            include_str!("../../../events/schemas/client-suspended.json"),
            &suspended.to_outbox(),
        );
        assert!(errors(&validator, &detail).is_empty());
        detail["reason"] = serde_json::Value::String(String::new());
        assert!(!errors(&validator, &detail).is_empty());
        let resumed = ClientResumed {
            meta: EventMeta::new(now),
            client_id: ClientId::generate(),
            reason: "rotated everything".into(),
            resumed_at: now,
        };
        let (validator, mut detail) = checked(
            include_str!("../../../events/schemas/client-resumed.json"),
            &resumed.to_outbox(),
        );
        assert!(errors(&validator, &detail).is_empty());
        detail["suspended_at"] = detail["resumed_at"].clone();
        assert!(!errors(&validator, &detail).is_empty());
    }

    #[test]
    fn client_updated_matches_its_published_schema() {
        let now = OffsetDateTime::now_utc();
        let before = crate::client::tests_support::client().settings();
        let mut after = before.clone();
        after.allowed_scopes.insert("billing:write".into());
        after.tier = crate::client::Tier::Privileged;
        let event = ClientUpdated {
            meta: EventMeta::new(now),
            client_id: ClientId::generate(),
            reason: "needs to write invoices".into(),
            changed: before
                .differences(&after)
                .into_iter()
                .map(String::from)
                .collect(),
            before,
            after,
            updated_at: now,
        };
        let (validator, mut detail) = checked(
            include_str!("../../../events/schemas/client-updated.json"),
            &event.to_outbox(),
        );
        assert!(errors(&validator, &detail).is_empty());
        assert_eq!(
            detail["changed"],
            serde_json::json!(["tier", "allowed_scopes"])
        );
        detail["after"]["environment"] = serde_json::Value::String("prod".into());
        assert!(!errors(&validator, &detail).is_empty());
        detail["after"]
            .as_object_mut()
            .unwrap()
            .remove("environment");
        detail["changed"] = serde_json::json!(["owner"]);
        assert!(!errors(&validator, &detail).is_empty());
    }

    #[test]
    fn access_review_due_matches_its_published_schema() {
        let event = AccessReviewDue {
            meta: EventMeta::new(OffsetDateTime::now_utc()),
            unused_days: 30,
            summary: ReviewSummary {
                clients: 3,
                credentials: 5,
                unused_credentials: 2,
                unused_clients: 1,
                over_privileged_clients: 1,
            },
            complete: true,
        };
        let (validator, mut detail) = checked(
            include_str!("../../../events/schemas/access-review-due.json"),
            &event.to_outbox(),
        );
        assert!(errors(&validator, &detail).is_empty());
        detail["clients"] = serde_json::Value::from(-1);
        assert!(!errors(&validator, &detail).is_empty());
    }

    #[test]
    fn credential_expiring_matches_its_published_schema() {
        let now = OffsetDateTime::now_utc();
        let mut event = CredentialExpiring {
            meta: EventMeta::new(now),
            credential_id: CredentialId::generate(),
            client_id: ClientId::generate(),
            renew_after: now,
            expires_at: now + Duration::hours(1),
            rotation_request_id: None,
        };
        let schema = include_str!("../../../events/schemas/credential-expiring.json");
        let (validator, detail) = checked(schema, &event.to_outbox());
        assert!(errors(&validator, &detail).is_empty());
        event.rotation_request_id = Some(RequestId::generate());
        let (validator, mut detail) = checked(schema, &event.to_outbox());
        assert!(errors(&validator, &detail).is_empty());
        detail["rotation_request_id"] = serde_json::Value::String("crd_x".into());
        assert!(!errors(&validator, &detail).is_empty());
    }

    #[test]
    fn operators_recovered_matches_its_published_schema() {
        let event = OperatorsRecovered {
            meta: EventMeta::new(OffsetDateTime::now_utc()),
            operators: vec![ClientId::generate(), ClientId::generate()],
            reason: "every operator credential expired over the holidays".into(),
        };
        let (validator, mut detail) = checked(
            include_str!("../../../events/schemas/operators-recovered.json"),
            &event.to_outbox(),
        );
        assert!(errors(&validator, &detail).is_empty());
        detail["operators"] = serde_json::json!([]);
        assert!(!errors(&validator, &detail).is_empty());
    }

    #[test]
    fn credential_issued_matches_its_published_schema() {
        let outbox = issued().to_outbox();
        let (validator, detail) = checked(
            include_str!("../../../events/schemas/credential-issued.json"),
            &outbox,
        );
        assert_eq!(errors(&validator, &detail), Vec::<String>::new());
        assert_eq!(detail["event_id"], outbox.event_id.as_str());
        // And the schema is not vacuous: a detail missing its id fails it.
        let mut broken = detail.clone();
        broken.as_object_mut().unwrap().remove("event_id");
        assert!(!validator.is_valid(&broken));
    }
}
