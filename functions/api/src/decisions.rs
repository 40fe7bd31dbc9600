//! Every operator decision goes through the policy engine ([`Governance`]) here; the route
//! scopes before it are only a coarse first gate.
//!
//! [`Governance`]: clavis_lambda::governance::Governance

use clavis_core::Error;
use clavis_policy::{Action, Decision};

use crate::app::App;
use crate::auth::Principal;

impl App {
    /// Makes sure this container's policy version is recorded as in force (see
    /// `Governance::in_force`); needed before [`Self::decide`].
    pub(crate) async fn policy_in_force(&self) -> Result<(), Error> {
        self.governance.in_force(&self.repo).await
    }

    /// Decides `action` for `principal` and enforces the decision (403 when refused).
    pub(crate) async fn authorize(
        &self,
        principal: &Principal,
        action: Action<'_>,
    ) -> Result<Decision, Error> {
        self.policy_in_force().await?;
        self.decide(principal, action)
    }

    /// The same without awaiting, for a check inside a repository operation (after
    /// [`Self::policy_in_force`]).
    pub(crate) fn decide(
        &self,
        principal: &Principal,
        action: Action<'_>,
    ) -> Result<Decision, Error> {
        self.governance.decide(principal.operator(), action)
    }
}
