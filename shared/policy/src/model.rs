//! What a decision is about, in domain terms: who asks ([`Operator`]) and what for ([`Action`],
//! carrying the resource and the facts the schema's context names for it). Each action holds
//! exactly what its Cedar `appliesTo` declares, so a question the schema does not describe
//! cannot be asked.

use std::collections::BTreeSet;

use clavis_core::approval::Approval;
use clavis_core::client::{Client, Environment, Tier};
use clavis_core::credential::Credential;
use clavis_core::ids::{ClientId, CredentialId};
use clavis_core::issuance::{IssuanceParams, max_ttl_seconds};
use clavis_core::request::IssuanceRequest;
use clavis_core::risk::RiskFactors;

pub use clavis_core::risk::OPERATOR_SCOPE_PREFIX;

/// Who sponsored the two sides of an approval: the operators that registered each one's client
/// or requested the credential it acts with (`bootstrap` for the first operators).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sponsors {
    /// The approver's sponsors.
    pub approver: BTreeSet<String>,
    /// The requester's sponsors.
    pub requester: BTreeSet<String>,
}

/// The caller a decision is about: one operator credential, with the scopes it holds now.
#[derive(Debug, Clone, Copy)]
pub struct Operator<'a> {
    /// The operator's client.
    pub client_id: &'a ClientId,
    /// The credential it authenticated with.
    pub credential_id: &'a CredentialId,
    /// The scopes it holds (a token's within its credential's).
    pub scopes: &'a BTreeSet<String>,
}

/// What the operator asks to do, to what.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// Register this (validated, not yet stored) client.
    RegisterClient(&'a Client),
    /// Read a client.
    ReadClient(&'a Client),
    /// Change a client's settings: the client as it is, and as it would be.
    UpdateClient(&'a Client, &'a Client),
    /// Revoke a client and all its credentials.
    RevokeClient(&'a Client),
    /// Suspend a client: its credentials stop authenticating until it is resumed.
    SuspendClient(&'a Client),
    /// Resume a suspended client.
    ResumeClient(&'a Client),
    /// Request a credential for a client.
    RequestIssuance(&'a Client, &'a IssuanceParams),
    /// Read an issuance request.
    ReadRequest(&'a IssuanceRequest),
    /// Collect the one-time secret of a request.
    PickUpSecret(&'a IssuanceRequest),
    /// Read a credential's metadata.
    ReadCredential(&'a Credential),
    /// Revoke a credential.
    RevokeCredential(&'a Credential),
    /// Export a client's audit chain (or the stack's).
    ExportAudit(&'a ClientId),
    /// Introspect a secret or token (RFC 7662).
    Introspect,
    /// Read the revocation registry.
    ReadRegistry,
    /// Read how the stack stands: its queues, alarms and replay runs.
    ReadStatus,
    /// Start a replay run.
    Replay,
    /// May this issuance (of the requester, with these risk factors) happen at all?
    Issue(&'a Client, &'a IssuanceParams, &'a RiskFactors),
    /// May it happen without an approver?
    IssueWithoutApproval(&'a Client, &'a IssuanceParams, &'a RiskFactors),
    /// Read a held issuance's approval.
    ReadApproval(&'a Approval),
    /// Approve it, knowing who sponsored whom.
    Approve(&'a Approval, &'a Sponsors),
    /// Deny it.
    Deny(&'a Approval, &'a Sponsors),
}

impl Action<'_> {
    /// The Cedar action name (`Clavis::Action::"<name>"`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::RegisterClient(_) => "RegisterClient",
            Self::ReadClient(_) => "ReadClient",
            Self::UpdateClient(..) => "UpdateClient",
            Self::RevokeClient(_) => "RevokeClient",
            Self::SuspendClient(_) => "SuspendClient",
            Self::ResumeClient(_) => "ResumeClient",
            Self::RequestIssuance(..) => "RequestIssuance",
            Self::ReadRequest(_) => "ReadRequest",
            Self::PickUpSecret(_) => "PickUpSecret",
            Self::ReadCredential(_) => "ReadCredential",
            Self::RevokeCredential(_) => "RevokeCredential",
            Self::ExportAudit(_) => "ExportAudit",
            Self::Introspect => "Introspect",
            Self::ReadRegistry => "ReadRegistry",
            Self::ReadStatus => "ReadStatus",
            Self::Replay => "Replay",
            Self::Issue(..) => "Issue",
            Self::IssueWithoutApproval(..) => "IssueWithoutApproval",
            Self::ReadApproval(_) => "ReadApproval",
            Self::Approve(..) => "Approve",
            Self::Deny(..) => "Deny",
        }
    }
}

/// The `clavis.*` scopes of a set: what the scope ceiling compares with the caller's.
pub fn operator_scopes<'s>(scopes: impl IntoIterator<Item = &'s String>) -> BTreeSet<String> {
    scopes
        .into_iter()
        .filter(|s| s.starts_with(OPERATOR_SCOPE_PREFIX))
        .cloned()
        .collect()
}

/// A value of an entity attribute or context field, before it becomes Cedar's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Text(String),
    Number(i64),
    Flag(bool),
    Texts(BTreeSet<String>),
}

/// An entity: type (without namespace), id and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entity {
    pub(crate) kind: &'static str,
    pub(crate) id: String,
    pub(crate) attrs: Vec<(&'static str, Value)>,
}

fn text(s: impl ToString) -> Value {
    Value::Text(s.to_string())
}

fn environment(e: Environment) -> &'static str {
    e.as_str()
}

fn tier(t: Tier) -> &'static str {
    match t {
        Tier::Standard => "standard",
        Tier::Privileged => "privileged",
    }
}

impl Operator<'_> {
    pub(crate) fn entity(&self) -> Entity {
        Entity {
            kind: "Operator",
            id: self.client_id.to_string(),
            attrs: vec![
                ("client_id", text(self.client_id)),
                ("credential_id", text(self.credential_id)),
                ("scopes", Value::Texts(self.scopes.clone())),
            ],
        }
    }
}

fn client_entity(c: &Client) -> Entity {
    Entity {
        kind: "Client",
        id: c.client_id.to_string(),
        attrs: vec![
            ("client_id", text(c.client_id)),
            ("owner", text(&c.owner)),
            ("environment", text(environment(c.environment))),
            ("tier", text(tier(c.tier))),
            ("status", text(c.status.as_str())),
            ("allowed_scopes", Value::Texts(c.allowed_scopes.clone())),
        ],
    }
}

fn request_entity(r: &IssuanceRequest) -> Entity {
    Entity {
        kind: "Request",
        id: r.request_id.to_string(),
        attrs: vec![
            ("request_id", text(r.request_id)),
            ("client_id", text(r.client_id)),
            ("requested_by", text(&r.requested_by)),
            ("status", text(r.status.as_str())),
        ],
    }
}

fn approval_entity(a: &Approval) -> Entity {
    Entity {
        kind: "Approval",
        id: a.approval_id.to_string(),
        attrs: vec![
            ("approval_id", text(a.approval_id)),
            ("request_id", text(a.request_id)),
            ("client_id", text(a.client_id)),
            ("requested_by", text(&a.requested_by)),
            ("environment", text(environment(a.environment))),
            ("tier", text(tier(a.tier))),
            ("status", text(a.status.as_str())),
            ("approvers", Value::Texts(a.approvers())),
        ],
    }
}

/// The issuance context: what is asked, the tier's limit, and whether it is a rotation.
fn issuance_context(c: &Client, p: &IssuanceParams) -> Vec<(&'static str, Value)> {
    vec![
        ("scopes", Value::Texts(p.scopes.clone())),
        ("operator_scopes", Value::Texts(operator_scopes(&p.scopes))),
        (
            "ttl_seconds",
            Value::Number(i64::try_from(p.ttl_seconds).unwrap_or(i64::MAX)),
        ),
        (
            "max_ttl_seconds",
            Value::Number(i64::try_from(max_ttl_seconds(c.tier)).unwrap_or(i64::MAX)),
        ),
        ("rotation", Value::Flag(p.rotation.is_some())),
    ]
}

fn credential_entity(c: &Credential) -> Entity {
    Entity {
        kind: "Credential",
        id: c.credential_id.to_string(),
        attrs: vec![
            ("credential_id", text(c.credential_id)),
            ("client_id", text(c.client_id)),
            ("status", text(c.status.as_str())),
        ],
    }
}

impl Action<'_> {
    /// The resource entity.
    pub(crate) fn resource(&self) -> Entity {
        match self {
            Self::RegisterClient(c)
            | Self::ReadClient(c)
            | Self::UpdateClient(c, _)
            | Self::RevokeClient(c)
            | Self::SuspendClient(c)
            | Self::ResumeClient(c)
            | Self::RequestIssuance(c, _)
            | Self::Issue(c, ..)
            | Self::IssueWithoutApproval(c, ..) => client_entity(c),
            Self::ReadApproval(a) | Self::Approve(a, _) | Self::Deny(a, _) => approval_entity(a),
            Self::ReadRequest(r) | Self::PickUpSecret(r) => request_entity(r),
            Self::ReadCredential(c) | Self::RevokeCredential(c) => credential_entity(c),
            Self::ExportAudit(id) => Entity {
                kind: "AuditChain",
                id: id.to_string(),
                attrs: vec![("client_id", text(id))],
            },
            Self::Introspect | Self::ReadRegistry => Entity {
                kind: "Registry",
                id: "registry".into(),
                attrs: Vec::new(),
            },
            Self::ReadStatus | Self::Replay => Entity {
                kind: "Stack",
                id: "stack".into(),
                attrs: Vec::new(),
            },
        }
    }

    /// The context fields besides `stage`.
    pub(crate) fn context(&self) -> Vec<(&'static str, Value)> {
        match self {
            Self::RegisterClient(c) => vec![(
                "operator_scopes",
                Value::Texts(operator_scopes(&c.allowed_scopes)),
            )],
            Self::UpdateClient(before, after) => vec![
                (
                    "operator_scopes",
                    Value::Texts(operator_scopes(
                        after.allowed_scopes.difference(&before.allowed_scopes),
                    )),
                ),
                ("tier", text(tier(after.tier))),
            ],
            Self::RequestIssuance(c, p) => issuance_context(c, p),
            Self::Issue(c, p, f) | Self::IssueWithoutApproval(c, p, f) => {
                let mut context = issuance_context(c, p);
                let long = |n: u64| Value::Number(i64::try_from(n).unwrap_or(i64::MAX));
                context.push(("risk_score", Value::Number(i64::from(f.score()))));
                context.push(("recent_requests", long(f.rate.recent)));
                context.push(("baseline_requests", long(f.rate.baseline)));
                context
            }
            Self::Approve(_, sponsors) | Self::Deny(_, sponsors) => vec![
                ("approver_sponsors", Value::Texts(sponsors.approver.clone())),
                (
                    "requester_sponsors",
                    Value::Texts(sponsors.requester.clone()),
                ),
            ],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clavis_scopes_are_operator_scopes() {
        let scopes: BTreeSet<String> = ["clavis.admin", "billing:read", "clavis.x", "clavisx"]
            .map(String::from)
            .into();
        assert_eq!(
            operator_scopes(&scopes),
            BTreeSet::from(["clavis.admin".to_owned(), "clavis.x".to_owned()])
        );
    }
}
