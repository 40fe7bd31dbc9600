//! Policy decisions at runtime: the shipped policy set for this stage, the record that its
//! version is in force (written by the first decision of a new version, once per container),
//! and every decision logged with the policies that made it and enforced.

use clavis_aws::dynamo::Repository;
use clavis_core::client::Client;
use clavis_core::issuance::IssuanceParams;
use clavis_core::risk::RiskFactors;
use clavis_core::{Error, SystemFault};
use clavis_policy::{Action, Decision, Operator, PolicyEngine, RiskOutcome};
use time::OffsetDateTime;

/// A function's policy engine and whether its version is recorded as in force.
///
/// The shipped engine is built on the first decision, not at init: parsing and strictly
/// validating the schema and policies is about half of the api's cold start, and the token
/// endpoint and the JWKS never decide anything. The version (a hash of the files) is known at
/// once. A set that fails to load fails every decision closed; the shipped set is validated
/// when it is built (`make policy-check` and the tests), so that is a build that never passed.
#[derive(Debug)]
pub struct Governance {
    version: String,
    stage: String,
    engine: std::sync::OnceLock<PolicyEngine>,
    activator: &'static str,
    in_force: tokio::sync::OnceCell<()>,
}

impl Governance {
    /// The policies shipped in `infra/policies/` for `stage`; `activator` names the function in
    /// the `policy.activated` record it may write.
    pub fn shipped(stage: &str, activator: &'static str) -> Result<Self, SystemFault> {
        Ok(Self {
            version: clavis_policy::files::version(&clavis_policy::files::shipped()),
            stage: stage.to_owned(),
            engine: std::sync::OnceLock::new(),
            activator,
            in_force: tokio::sync::OnceCell::new(),
        })
    }

    /// Governance by `engine`.
    pub fn new(engine: PolicyEngine, activator: &'static str) -> Self {
        let version = engine.version().to_owned();
        let stage = engine.stage().to_owned();
        Self {
            version,
            stage,
            engine: std::sync::OnceLock::from(engine),
            activator,
            in_force: tokio::sync::OnceCell::new(),
        }
    }

    /// The policy set's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The engine, built on first use.
    fn engine(&self) -> Result<&PolicyEngine, SystemFault> {
        if let Some(engine) = self.engine.get() {
            return Ok(engine);
        }
        let built = PolicyEngine::shipped(&self.stage)?;
        // Two first decisions at once both build it; one is kept.
        Ok(self.engine.get_or_init(|| built))
    }

    /// Makes sure, once per container, that the stack records this version as the one that
    /// decides (a `policy.activated` audit record when it is new). Fails closed: callers make
    /// no decision without it.
    pub async fn in_force(&self, repo: &Repository) -> Result<(), Error> {
        self.in_force
            .get_or_try_init(|| async {
                repo.activate_policy(self.version(), self.activator, OffsetDateTime::now_utc())
                    .await
                    .map(|_| ())
            })
            .await
            .copied()
    }

    /// Assesses an issuance's risk for its requester (allow, hold or deny) and logs it. Call
    /// [`Self::in_force`] first.
    pub fn assess(
        &self,
        requester: Operator<'_>,
        client: &Client,
        params: &IssuanceParams,
        factors: &RiskFactors,
    ) -> Result<RiskOutcome, Error> {
        let outcome = self.engine()?.assess(requester, client, params, factors)?;
        tracing::info!(
            principal = %requester.client_id,
            client_id = %client.client_id,
            decision = outcome.decision.as_str(),
            risk_score = factors.score(),
            recent_requests = factors.rate.recent,
            baseline_requests = factors.rate.baseline,
            anomaly = outcome.anomaly,
            policies = %outcome.policies.join(","),
            policy_version = %outcome.policy_version,
            "risk assessed"
        );
        Ok(outcome)
    }

    /// Decides, logs and enforces: `Ok` with the decision if allowed, a 403 naming the
    /// refusing policies otherwise. Call [`Self::in_force`] first.
    pub fn decide(&self, operator: Operator<'_>, action: Action<'_>) -> Result<Decision, Error> {
        let decision = self.engine()?.decide(operator, action)?;
        tracing::info!(
            principal = %operator.client_id,
            action = decision.action,
            allowed = decision.allowed,
            policies = %decision.policies.join(","),
            policy_version = %decision.policy_version,
            "policy decision"
        );
        decision.enforce()?;
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_core::ids::{ClientId, CredentialId};
    use std::collections::BTreeSet;

    #[test]
    fn the_shipped_engine_is_built_on_the_first_decision_with_the_version_named_at_init() {
        let governance = Governance::shipped("dev", "test").unwrap();
        assert!(governance.engine.get().is_none(), "nothing parsed at init");
        let eager = PolicyEngine::shipped("dev").unwrap();
        assert_eq!(governance.version(), eager.version());
        let (client, credential) = (ClientId::generate(), CredentialId::generate());
        let registry = BTreeSet::from(["clavis.registry".to_owned()]);
        let none = BTreeSet::new();
        let operator = |scopes| Operator {
            client_id: &client,
            credential_id: &credential,
            scopes,
        };
        let allowed = governance
            .decide(operator(&registry), Action::ReadRegistry)
            .unwrap();
        assert_eq!(allowed.policy_version, eager.version());
        assert!(governance.engine.get().is_some());
        assert!(
            governance
                .decide(operator(&none), Action::ReadRegistry)
                .is_err(),
            "the lazily built engine decides like the eager one: nothing without a policy"
        );
    }
}
