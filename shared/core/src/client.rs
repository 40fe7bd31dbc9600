//! API clients: who may hold credentials, in which environment, with which scopes and audiences.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{FieldViolation, UserError};
use crate::ids::ClientId;

/// Deployment environment a client belongs to; credentials never cross environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// Development.
    Dev,
    /// Pre-production.
    Staging,
    /// Production: the only environment whose secrets are `live`.
    Prod,
}

impl Environment {
    /// The snake_case name used in JSON and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Staging => "staging",
            Self::Prod => "prod",
        }
    }
}

/// How much a client is trusted; decides limits and approval needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Ordinary service-to-service client.
    Standard,
    /// Can reach sensitive scopes; issuance is scrutinised.
    Privileged,
}

impl Tier {
    /// The snake_case name used in JSON and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Privileged => "privileged",
        }
    }
}

/// Whether a client may receive new credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientStatus {
    /// May receive credentials.
    Active,
    /// Temporarily barred.
    Suspended,
    /// Barred for good; its credentials are revoked.
    Revoked,
}

impl ClientStatus {
    /// The snake_case name used in JSON and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }
}

/// Longest client name, in characters.
pub const MAX_NAME_LEN: usize = 64;
/// Most scopes or audiences one client may list.
pub const MAX_LIST_LEN: usize = 50;
/// Longest scope token.
pub const MAX_SCOPE_LEN: usize = 128;
/// Longest audience.
pub const MAX_AUDIENCE_LEN: usize = 256;

/// The body of `POST /v1/clients`: what an operator declares about a new client.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// Human-readable name, unique only by convention.
    pub name: String,
    /// Environment of the client.
    pub environment: Environment,
    /// Trust tier.
    pub tier: Tier,
    /// Scopes credentials of this client may carry.
    pub allowed_scopes: Vec<String>,
    /// Audiences credentials of this client may target.
    pub allowed_audiences: Vec<String>,
    /// Rotate its credentials automatically when they enter their renewal window.
    #[serde(default)]
    pub auto_rotate: bool,
    /// Write each new secret into this vault instead of answering it over HTTP.
    #[serde(default)]
    pub delivery: Option<crate::delivery::DeliveryTarget>,
}

/// A registered client, as stored and as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// Its id.
    pub client_id: ClientId,
    /// Human-readable name.
    pub name: String,
    /// The principal (operator client id) that registered it.
    pub owner: String,
    /// Environment.
    pub environment: Environment,
    /// Trust tier.
    pub tier: Tier,
    /// Scopes its credentials may carry.
    pub allowed_scopes: BTreeSet<String>,
    /// Audiences its credentials may target.
    pub allowed_audiences: BTreeSet<String>,
    /// Whether it may receive credentials.
    pub status: ClientStatus,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Set once, when an operator revokes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<ClientRevocation>,
    /// Set while it is suspended (why, when, by whom); removed when it is resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspension: Option<Suspension>,
    /// Whether the expiry sweep rotates its credentials when they enter their renewal window
    /// (the client then fetches each successor's secret itself).
    #[serde(default)]
    pub auto_rotate: bool,
    /// Where its new secrets are delivered; when set, no secret of it is ever answered over
    /// HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<crate::delivery::DeliveryTarget>,
}

/// Why and since when a client is suspended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    /// Why.
    pub reason: String,
    /// Since when its credentials do not authenticate.
    #[serde(with = "time::serde::rfc3339")]
    pub suspended_at: OffsetDateTime,
    /// Who suspended it.
    pub suspended_by: String,
}

/// How a client was revoked: set once, never changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRevocation {
    /// Why.
    pub reason: crate::revocation::RevocationReason,
    /// When the client was revoked.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// Who revoked it.
    pub revoked_by: String,
}

impl NewClient {
    /// Checks every field and builds the client, or lists every violation at once. A delivery
    /// target must lie under `delivery_prefix` (the secrets the stack may write).
    pub fn validate(
        self,
        client_id: ClientId,
        owner: &str,
        delivery_prefix: &str,
        now: OffsetDateTime,
    ) -> Result<Client, UserError> {
        let mut violations = Vec::new();
        if let Some(Err(UserError::Invalid(v))) =
            self.delivery.as_ref().map(|t| t.validate(delivery_prefix))
        {
            violations.extend(v);
        }
        let name = checked_name(&self.name, &mut violations);
        let allowed_scopes = checked_set(
            "allowed_scopes",
            self.allowed_scopes,
            is_scope_token,
            "must be an RFC 6749 scope token of at most 128 characters",
            &mut violations,
        );
        let allowed_audiences = checked_set(
            "allowed_audiences",
            self.allowed_audiences,
            is_audience,
            "must be 1 to 256 visible characters without spaces",
            &mut violations,
        );
        if !violations.is_empty() {
            return Err(UserError::Invalid(violations));
        }
        Ok(Client {
            client_id,
            name,
            owner: owner.to_owned(),
            environment: self.environment,
            tier: self.tier,
            allowed_scopes,
            allowed_audiences,
            status: ClientStatus::Active,
            created_at: now,
            revocation: None,
            suspension: None,
            auto_rotate: self.auto_rotate,
            delivery: self.delivery,
        })
    }
}

/// The trimmed name, or a violation if it is empty, too long or has control characters.
pub(crate) fn checked_name(name: &str, violations: &mut Vec<FieldViolation>) -> String {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        violations.push(FieldViolation::new(
            "name",
            format!("must be 1 to {MAX_NAME_LEN} characters"),
        ));
    } else if name.chars().any(char::is_control) {
        violations.push(FieldViolation::new(
            "name",
            "must not contain control characters",
        ));
    }
    name.to_owned()
}

pub(crate) fn checked_set(
    field: &str,
    items: Vec<String>,
    valid: fn(&str) -> bool,
    reason: &str,
    violations: &mut Vec<FieldViolation>,
) -> BTreeSet<String> {
    if items.is_empty() || items.len() > MAX_LIST_LEN {
        violations.push(FieldViolation::new(
            field,
            format!("must list 1 to {MAX_LIST_LEN} entries"),
        ));
    }
    let mut set = BTreeSet::new();
    for (i, item) in items.into_iter().enumerate() {
        if !valid(&item) {
            violations.push(FieldViolation::new(format!("{field}[{i}]"), reason));
        } else if !set.insert(item) {
            violations.push(FieldViolation::new(
                format!("{field}[{i}]"),
                "is a duplicate",
            ));
        }
    }
    set
}

/// RFC 6749 §3.3 `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SCOPE_LEN
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// An audience: a resource URI or identifier of visible ASCII, no spaces.
pub fn is_audience(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_AUDIENCE_LEN && s.bytes().all(|b| (0x21..=0x7E).contains(&b))
}

/// Clients for other modules' tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// The secrets a test stack may deliver into.
    pub(crate) const PREFIX: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:clavis/";

    /// A valid registration of a standard `dev` client.
    pub(crate) fn new_client() -> NewClient {
        NewClient {
            name: "billing-service".into(),
            environment: Environment::Dev,
            tier: Tier::Standard,
            allowed_scopes: vec!["billing:read".into()],
            allowed_audiences: vec!["https://billing.example.com".into()],
            auto_rotate: false,
            delivery: None,
        }
    }

    /// That client, registered and active.
    pub(crate) fn client() -> Client {
        new_client()
            .validate(
                ClientId::generate(),
                "cli_op",
                PREFIX,
                OffsetDateTime::UNIX_EPOCH,
            )
            .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::PREFIX;
    use super::*;

    fn body() -> NewClient {
        super::tests_support::new_client()
    }

    #[test]
    fn a_valid_body_becomes_an_active_client() {
        let c = body()
            .validate(
                ClientId::generate(),
                "cli_op",
                PREFIX,
                OffsetDateTime::UNIX_EPOCH,
            )
            .unwrap();
        assert_eq!(c.status, ClientStatus::Active);
        assert!(c.allowed_scopes.contains("billing:read"));
    }

    #[test]
    fn a_delivery_target_outside_the_prefix_is_one_more_violation() {
        let mut b = body();
        b.name = " ".into();
        b.delivery = Some(crate::delivery::DeliveryTarget::AwsSecretsManager {
            secret_arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:other/x".into(),
        });
        let Err(UserError::Invalid(v)) = b.validate(
            ClientId::generate(),
            "cli_op",
            PREFIX,
            OffsetDateTime::UNIX_EPOCH,
        ) else {
            panic!("accepted");
        };
        let fields: Vec<&str> = v.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["delivery.secret_arn", "name"]);
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let mut b = body();
        b.name = " ".into();
        b.allowed_scopes = vec!["has space".into(), "ok".into(), "ok".into()];
        b.allowed_audiences = vec![];
        let err = b
            .validate(
                ClientId::generate(),
                "cli_op",
                PREFIX,
                OffsetDateTime::UNIX_EPOCH,
            )
            .unwrap_err();
        let fields: Vec<_> = err.violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "allowed_scopes[0]",
                "allowed_scopes[2]",
                "allowed_audiences"
            ]
        );
    }

    #[test]
    fn unknown_fields_and_bad_enums_do_not_deserialize() {
        let unknown = r#"{"name":"a","environment":"dev","tier":"standard","allowed_scopes":["a"],"allowed_audiences":["b"],"admin":true}"#;
        assert!(serde_json::from_str::<NewClient>(unknown).is_err());
        let bad_enum = r#"{"name":"a","environment":"qa","tier":"standard","allowed_scopes":["a"],"allowed_audiences":["b"]}"#;
        assert!(serde_json::from_str::<NewClient>(bad_enum).is_err());
    }

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        assert!(is_scope_token("billing:read"));
        assert!(!is_scope_token("a b"));
        assert!(!is_scope_token("quote\"d"));
        assert!(!is_scope_token("back\\slash"));
        assert!(!is_scope_token(""));
    }
}
