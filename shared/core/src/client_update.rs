//! Changing a registered client (`PATCH /v1/clients/{client_id}`): which settings may change,
//! how a change is checked, and what it changed.
//!
//! Name, tier, allowed scopes and audiences and automatic rotation may change; the environment
//! and the delivery target may not (a client's environment decides which stack serves it, and
//! moving a vault while a rotation keeps the previous version in the old one would split its
//! secrets), so a new client is registered instead. Narrowing a client takes effect on its
//! live credentials at once and never widens one: a credential acts with the scopes and
//! audiences it was issued with *and* its client still allows
//! ([`crate::credential::Credential::confined_to`]).

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize};

use crate::approval::DecisionBody;
use crate::client::{
    Client, ClientStatus, Environment, Tier, checked_name, checked_set, is_audience, is_scope_token,
};
use crate::delivery::DeliveryTarget;
use crate::error::{FieldViolation, UserError};

/// What an operator declares about a client and may change later: the settings compared by
/// `clavis plan` and carried, before and after, by `Client Updated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// Human-readable name.
    pub name: String,
    /// Trust tier.
    pub tier: Tier,
    /// Scopes its credentials may carry.
    pub allowed_scopes: BTreeSet<String>,
    /// Audiences its credentials may target.
    pub allowed_audiences: BTreeSet<String>,
    /// Whether the expiry sweep rotates its credentials.
    pub auto_rotate: bool,
}

impl Client {
    /// Its changeable settings.
    pub fn settings(&self) -> ClientSettings {
        ClientSettings {
            name: self.name.clone(),
            tier: self.tier,
            allowed_scopes: self.allowed_scopes.clone(),
            allowed_audiences: self.allowed_audiences.clone(),
            auto_rotate: self.auto_rotate,
        }
    }

    /// The client with `settings` in place of its own.
    pub fn with_settings(&self, settings: &ClientSettings) -> Client {
        Client {
            name: settings.name.clone(),
            tier: settings.tier,
            allowed_scopes: settings.allowed_scopes.clone(),
            allowed_audiences: settings.allowed_audiences.clone(),
            auto_rotate: settings.auto_rotate,
            ..self.clone()
        }
    }
}

impl ClientSettings {
    /// The names of the settings that differ between `self` and `other`, in a fixed order.
    pub fn differences(&self, other: &ClientSettings) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.name != other.name {
            changed.push("name");
        }
        if self.tier != other.tier {
            changed.push("tier");
        }
        if self.allowed_scopes != other.allowed_scopes {
            changed.push("allowed_scopes");
        }
        if self.allowed_audiences != other.allowed_audiences {
            changed.push("allowed_audiences");
        }
        if self.auto_rotate != other.auto_rotate {
            changed.push("auto_rotate");
        }
        changed
    }

    /// One setting as audit records write it (lists space-separated); `None` for an unknown
    /// name.
    pub fn text(&self, field: &str) -> Option<String> {
        let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(" ");
        Some(match field {
            "name" => self.name.clone(),
            "tier" => self.tier.as_str().to_owned(),
            "allowed_scopes" => list(&self.allowed_scopes),
            "allowed_audiences" => list(&self.allowed_audiences),
            "auto_rotate" => self.auto_rotate.to_string(),
            _ => return None,
        })
    }
}

/// The body of `PATCH /v1/clients/{client_id}` (a JSON merge patch): a reason and the settings
/// to change; what it leaves out stays as it is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientChanges {
    /// Why; recorded in the audit trail and announced.
    pub reason: String,
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New tier.
    #[serde(default)]
    pub tier: Option<Tier>,
    /// New allowed scopes (the whole list).
    #[serde(default)]
    pub allowed_scopes: Option<Vec<String>>,
    /// New allowed audiences (the whole list).
    #[serde(default)]
    pub allowed_audiences: Option<Vec<String>>,
    /// Whether its credentials rotate automatically.
    #[serde(default)]
    pub auto_rotate: Option<bool>,
    /// Accepted only if it is the client's own: environments do not change.
    #[serde(default)]
    pub environment: Option<Environment>,
    /// Accepted only if it is the client's own (`null` for none): targets do not change.
    #[serde(default, deserialize_with = "present")]
    pub delivery: Option<Option<DeliveryTarget>>,
}

/// A field that is there, even as `null` (`Some(None)`), as opposed to one left out (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A checked change of one client: why, and its settings before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientUpdate {
    /// The operator's reason, trimmed.
    pub reason: String,
    /// The settings as they are.
    pub before: ClientSettings,
    /// The settings as they will be.
    pub after: ClientSettings,
}

impl ClientUpdate {
    /// What it changes; empty for a change to what is already there.
    pub fn changed(&self) -> Vec<&'static str> {
        self.before.differences(&self.after)
    }
}

impl ClientChanges {
    /// Checks the changes against `client` (every violation at once) and answers the update.
    /// A revoked client cannot change (conflict); a suspended one can, e.g. to narrow it
    /// before it is resumed.
    pub fn validate(self, client: &Client) -> Result<ClientUpdate, UserError> {
        let mut violations = Vec::new();
        let reason = match (DecisionBody {
            reason: self.reason,
        })
        .validate()
        {
            Ok(r) => r,
            Err(e) => {
                violations.extend(e.violations().iter().cloned());
                String::new()
            }
        };
        let nothing = self.name.is_none()
            && self.tier.is_none()
            && self.allowed_scopes.is_none()
            && self.allowed_audiences.is_none()
            && self.auto_rotate.is_none();
        if nothing {
            violations.push(FieldViolation::new(
                "body",
                "names no setting to change (name, tier, allowed_scopes, allowed_audiences, auto_rotate)",
            ));
        }
        if self.environment.is_some_and(|e| e != client.environment) {
            violations.push(FieldViolation::new(
                "environment",
                "cannot change; register a new client in the other environment",
            ));
        }
        if self.delivery.is_some_and(|d| d != client.delivery) {
            violations.push(FieldViolation::new(
                "delivery",
                "cannot change; register a new client with the new target",
            ));
        }
        let before = client.settings();
        let mut after = before.clone();
        if let Some(name) = self.name {
            after.name = checked_name(&name, &mut violations);
        }
        if let Some(tier) = self.tier {
            after.tier = tier;
        }
        if let Some(scopes) = self.allowed_scopes {
            after.allowed_scopes = checked_set(
                "allowed_scopes",
                scopes,
                is_scope_token,
                "must be an RFC 6749 scope token of at most 128 characters",
                &mut violations,
            );
        }
        if let Some(audiences) = self.allowed_audiences {
            after.allowed_audiences = checked_set(
                "allowed_audiences",
                audiences,
                is_audience,
                "must be 1 to 256 visible characters without spaces",
                &mut violations,
            );
        }
        if let Some(auto_rotate) = self.auto_rotate {
            after.auto_rotate = auto_rotate;
        }
        if !violations.is_empty() {
            return Err(UserError::Invalid(violations));
        }
        if client.status == ClientStatus::Revoked {
            return Err(UserError::Conflict(format!(
                "client {} is revoked; a revoked client does not change",
                client.client_id
            )));
        }
        Ok(ClientUpdate {
            reason,
            before,
            after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tests_support::client;

    fn changes(json: &str) -> ClientChanges {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn what_is_left_out_stays_and_what_is_named_changes() {
        let c = client();
        let update = changes(
            r#"{"reason":"least privilege","allowed_scopes":["billing:read","billing:write"],"tier":"privileged"}"#,
        )
        .validate(&c)
        .unwrap();
        assert_eq!(update.reason, "least privilege");
        assert_eq!(update.after.name, c.name);
        assert_eq!(update.after.allowed_audiences, c.allowed_audiences);
        assert_eq!(update.after.tier, Tier::Privileged);
        assert_eq!(update.changed(), ["tier", "allowed_scopes"]);
        let updated = c.with_settings(&update.after);
        assert_eq!(
            (updated.client_id, updated.environment, updated.status),
            (c.client_id, c.environment, c.status)
        );
    }

    #[test]
    fn the_same_settings_change_nothing() {
        let c = client();
        let update = changes(r#"{"reason":"apply","name":"billing-service","auto_rotate":false}"#)
            .validate(&c)
            .unwrap();
        assert!(update.changed().is_empty());
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let c = client();
        let err = changes(
            r#"{"reason":" ","name":"","allowed_scopes":[],"allowed_audiences":["a b"],"environment":"prod","delivery":null}"#,
        )
        .validate(&c)
        .unwrap_err();
        let fields: Vec<_> = err.violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "reason",
                "environment",
                "name",
                "allowed_scopes",
                "allowed_audiences[0]"
            ]
        );
    }

    #[test]
    fn its_own_environment_and_delivery_are_accepted_and_a_bare_reason_is_not() {
        let c = client();
        assert!(
            changes(r#"{"reason":"x","environment":"dev","delivery":null,"tier":"standard"}"#)
                .validate(&c)
                .is_ok()
        );
        let err = changes(r#"{"reason":"x"}"#).validate(&c).unwrap_err();
        assert_eq!(err.violations()[0].field, "body");
    }

    #[test]
    fn a_revoked_client_does_not_change_and_unknown_fields_do_not_parse() {
        let mut c = client();
        c.status = ClientStatus::Revoked;
        assert!(matches!(
            changes(r#"{"reason":"x","tier":"privileged"}"#).validate(&c),
            Err(UserError::Conflict(_))
        ));
        assert!(
            serde_json::from_str::<ClientChanges>(r#"{"reason":"x","owner":"cli_me"}"#).is_err()
        );
        assert!(serde_json::from_str::<ClientChanges>(r#"{"tier":"standard"}"#).is_err());
    }

    #[test]
    fn settings_read_as_audit_text() {
        let s = client().settings();
        assert_eq!(s.text("allowed_scopes").unwrap(), "billing:read");
        assert_eq!(s.text("tier").unwrap(), "standard");
        assert_eq!(s.text("owner"), None);
    }
}
