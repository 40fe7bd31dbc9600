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
#[derive(Debug)]
pub struct Governance {
    engine: PolicyEngine,
    activator: &'static str,
    in_force: tokio::sync::OnceCell<()>,
}

impl Governance {
    /// The policies shipped in `infra/policies/` for `stage`; `activator` names the function in
    /// the `policy.activated` record it may write.
    pub fn shipped(stage: &str, activator: &'static str) -> Result<Self, SystemFault> {
        Ok(Self::new(PolicyEngine::shipped(stage)?, activator))
    }

    /// Governance by `engine`.
    pub fn new(engine: PolicyEngine, activator: &'static str) -> Self {
        Self {
            engine,
            activator,
            in_force: tokio::sync::OnceCell::new(),
        }
    }

    /// The policy set's version.
    pub fn version(&self) -> &str {
        self.engine.version()
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
        let outcome = self.engine.assess(requester, client, params, factors)?;
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
        let decision = self.engine.decide(operator, action)?;
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
