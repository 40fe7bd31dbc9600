//! The credential lifecycle as an explicit state machine (docs/architecture.md, "The lifecycle").
//!
//! `requested → pending_approval → approved → active → expired | revoked`, plus `denied` and
//! `failed`. Every change of state goes through [`transition`]; terminal states are final.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::UserError;

/// Where a credential is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialState {
    /// Asked for; not yet decided.
    Requested,
    /// Held for an out-of-band approval.
    PendingApproval,
    /// Allowed by policy or an approver; not yet usable.
    Approved,
    /// Usable.
    Active,
    /// Past its lifetime. Terminal.
    Expired,
    /// Withdrawn before its lifetime ended. Terminal.
    Revoked,
    /// Refused by policy or an approver. Terminal.
    Denied,
    /// Issuance failed for good. Terminal.
    Failed,
}

/// Something that happens to a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleEvent {
    /// Risk assessment asks for a human approval.
    HoldForApproval,
    /// Policy or an approver allows the issuance.
    Approve,
    /// Policy or an approver refuses the issuance.
    Deny,
    /// The minted secret becomes usable.
    Activate,
    /// The lifetime ended.
    Expire,
    /// An operator, a rotation or a client revocation withdraws the credential.
    Revoke,
    /// Issuance failed permanently.
    Fail,
}

impl CredentialState {
    /// Every state, for exhaustive tests.
    pub const ALL: [Self; 8] = [
        Self::Requested,
        Self::PendingApproval,
        Self::Approved,
        Self::Active,
        Self::Expired,
        Self::Revoked,
        Self::Denied,
        Self::Failed,
    ];

    /// Whether no event can move a credential out of this state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Expired | Self::Revoked | Self::Denied | Self::Failed
        )
    }

    /// The snake_case name used in JSON and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::PendingApproval => "pending_approval",
            Self::Approved => "approved",
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for CredentialState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl LifecycleEvent {
    /// Every event, for exhaustive tests.
    pub const ALL: [Self; 7] = [
        Self::HoldForApproval,
        Self::Approve,
        Self::Deny,
        Self::Activate,
        Self::Expire,
        Self::Revoke,
        Self::Fail,
    ];
}

/// A transition the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} credential cannot take the event {event:?}")]
pub struct IllegalTransition {
    /// The state the credential was in.
    pub from: CredentialState,
    /// The event that was refused.
    pub event: LifecycleEvent,
}

impl From<IllegalTransition> for UserError {
    fn from(e: IllegalTransition) -> Self {
        UserError::IllegalTransition(e.to_string())
    }
}

/// The one transition function: the state after `event` happens in state `from`.
pub fn transition(
    from: CredentialState,
    event: LifecycleEvent,
) -> Result<CredentialState, IllegalTransition> {
    use CredentialState as S;
    use LifecycleEvent as E;
    let to = match (from, event) {
        (S::Requested, E::HoldForApproval) => S::PendingApproval,
        (S::Requested | S::PendingApproval, E::Approve) => S::Approved,
        (S::Requested | S::PendingApproval, E::Deny) => S::Denied,
        (S::Approved, E::Activate) => S::Active,
        (S::Active, E::Expire) => S::Expired,
        (S::Approved | S::Active, E::Revoke) => S::Revoked,
        (S::Requested | S::PendingApproval | S::Approved, E::Fail) => S::Failed,
        _ => return Err(IllegalTransition { from, event }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_event() -> impl Strategy<Value = LifecycleEvent> {
        proptest::sample::select(LifecycleEvent::ALL.to_vec())
    }

    #[test]
    fn the_happy_path_reaches_active_then_revoked() {
        let s = CredentialState::Requested;
        let s = transition(s, LifecycleEvent::HoldForApproval).unwrap();
        let s = transition(s, LifecycleEvent::Approve).unwrap();
        let s = transition(s, LifecycleEvent::Activate).unwrap();
        assert_eq!(s, CredentialState::Active);
        assert_eq!(
            transition(s, LifecycleEvent::Revoke).unwrap(),
            CredentialState::Revoked
        );
    }

    #[test]
    fn an_active_credential_cannot_be_activated_again() {
        let err = transition(CredentialState::Active, LifecycleEvent::Activate).unwrap_err();
        assert_eq!(err.from, CredentialState::Active);
        assert_eq!(
            UserError::from(err).code(),
            "illegal-transition",
            "illegal transitions are user errors"
        );
    }

    #[test]
    fn every_non_terminal_state_has_a_way_out() {
        for s in CredentialState::ALL
            .into_iter()
            .filter(|s| !s.is_terminal())
        {
            assert!(
                LifecycleEvent::ALL
                    .into_iter()
                    .any(|e| transition(s, e).is_ok()),
                "{s} is a dead end"
            );
        }
    }

    proptest! {
        #[test]
        fn no_event_leaves_a_terminal_state(events in proptest::collection::vec(any_event(), 1..30)) {
            let mut state = CredentialState::Requested;
            for event in events {
                match transition(state, event) {
                    Ok(next) => {
                        prop_assert!(!state.is_terminal(), "{state} moved to {next} on {event:?}");
                        state = next;
                    }
                    Err(e) => prop_assert_eq!(e.from, state),
                }
            }
        }
    }
}
