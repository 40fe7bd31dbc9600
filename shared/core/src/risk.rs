//! The risk of an issuance: its factors, the documented score, and the assessment the policy
//! makes of it (allow, hold for approval, deny). The score is arithmetic over the factors; every
//! threshold that turns a score into a decision lives in policy (`infra/policies/risk.cedar`).

use serde::{Deserialize, Serialize};

use crate::client::{Client, Environment, Tier};
use crate::issuance::{IssuanceParams, max_ttl_seconds};

/// Prefix of the scopes that act on Clavis itself.
pub const OPERATOR_SCOPE_PREFIX: &str = "clavis.";

/// Minutes of the recent window an issuance rate is counted over.
pub const RATE_WINDOW_MINUTES: u32 = 5;
/// How many windows before it make the client's baseline (the hour before the window).
pub const BASELINE_WINDOWS: u32 = 11;

/// A client's recent issuance requests against its own baseline (time-bucketed counters,
/// written with each request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuanceRate {
    /// Requests in the last [`RATE_WINDOW_MINUTES`] minutes, this one included.
    pub recent: u64,
    /// The client's average per window over the [`BASELINE_WINDOWS`] windows before (rounded
    /// down; 0 for a new client, whose baseline is the policy's floor).
    pub baseline: u64,
}

impl IssuanceRate {
    /// The rate from per-minute counts, each given as (minutes ago, count): minute 0 is the
    /// current one. Minutes older than the baseline's hour are ignored.
    pub fn from_minutes(counts: impl IntoIterator<Item = (u32, u64)>) -> Self {
        let (mut recent, mut before) = (0u64, 0u64);
        let horizon = RATE_WINDOW_MINUTES * (BASELINE_WINDOWS + 1);
        for (ago, count) in counts {
            if ago < RATE_WINDOW_MINUTES {
                recent = recent.saturating_add(count);
            } else if ago < horizon {
                before = before.saturating_add(count);
            }
        }
        Self {
            recent,
            baseline: before / u64::from(BASELINE_WINDOWS),
        }
    }
}

/// What the score is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskFactors {
    /// The client's tier.
    pub tier: Tier,
    /// The client's environment.
    pub environment: Environment,
    /// How many `clavis.*` scopes are asked for.
    pub operator_scopes: u32,
    /// The requested lifetime as a percentage of the tier's limit (0 to 100).
    pub lifetime_percent: u32,
    /// The client's issuance rate against its baseline.
    #[serde(default)]
    pub rate: IssuanceRate,
}

impl RiskFactors {
    /// The factors of `params` asked for `client`, at the client's current `rate`.
    pub fn of(client: &Client, params: &IssuanceParams, rate: IssuanceRate) -> Self {
        let max = max_ttl_seconds(client.tier).max(1);
        let percent = params.ttl_seconds.saturating_mul(100) / max;
        Self {
            tier: client.tier,
            environment: client.environment,
            operator_scopes: params
                .scopes
                .iter()
                .filter(|s| s.starts_with(OPERATOR_SCOPE_PREFIX))
                .count()
                .try_into()
                .unwrap_or(u32::MAX),
            lifetime_percent: percent.min(100).try_into().unwrap_or(100),
            rate,
        }
    }

    /// The factors of an operator rotating its own credential: its operator scopes are the
    /// predecessor's, weighed when that was issued, so they do not count again. Only for a
    /// rotation whose requester is the client itself: anyone else asking for an operator's
    /// successor would get that operator's secret.
    pub fn own_rotation(mut self) -> Self {
        self.operator_scopes = 0;
        self
    }

    /// The score, 0 to 100: privileged tier +30; `prod` +20, `staging` +10; any `clavis.*`
    /// scope +30 (not for an operator's own rotation, see [`RiskFactors::own_rotation`]); the lifetime +1 per 5 % of the tier's limit (at most +20); +1 per recent
    /// request above the client's baseline (at most +20).
    pub fn score(&self) -> u32 {
        let tier = match self.tier {
            Tier::Standard => 0,
            Tier::Privileged => 30,
        };
        let environment = match self.environment {
            Environment::Dev => 0,
            Environment::Staging => 10,
            Environment::Prod => 20,
        };
        let operator = if self.operator_scopes > 0 { 30 } else { 0 };
        let lifetime = self.lifetime_percent.min(100) / 5;
        let burst = self
            .rate
            .recent
            .saturating_sub(self.rate.baseline)
            .min(20)
            .try_into()
            .unwrap_or(20u32);
        (tier + environment + operator + lifetime + burst).min(100)
    }
}

/// What happens to an issuance after its risk is assessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskDecision {
    /// Issue now.
    Allow,
    /// Wait for an out-of-band approval.
    Hold,
    /// Refuse.
    Deny,
}

impl RiskDecision {
    /// The snake_case name (the issue workflow's Choice state matches it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Hold => "hold",
            Self::Deny => "deny",
        }
    }
}

/// The assessment of one issuance: decision, score, why, and what an approval needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskAssessment {
    /// The decision.
    pub decision: RiskDecision,
    /// The score it was made on.
    pub score: u32,
    /// The factors of the score.
    pub factors: RiskFactors,
    /// The `@id`s of the policies that decided a hold or a denial (empty when allowed).
    pub policies: Vec<String>,
    /// Their `@reason`s.
    pub reasons: Vec<String>,
    /// The version of the policy set that decided.
    pub policy_version: String,
    /// How long an approver has, in seconds (when held).
    pub approval_timeout_seconds: u64,
    /// How many distinct approvers must approve (when held).
    pub approvals_required: u32,
    /// Whether an anomaly policy held it (a spike over the client's baseline).
    #[serde(default)]
    pub anomaly: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn factors(tier: Tier, environment: Environment, ops: u32, pct: u32) -> RiskFactors {
        RiskFactors {
            tier,
            environment,
            operator_scopes: ops,
            lifetime_percent: pct,
            rate: IssuanceRate::default(),
        }
    }

    #[test]
    fn the_rate_counts_the_window_against_the_hour_before() {
        let rate = IssuanceRate::from_minutes([(0, 7), (4, 3), (5, 22), (59, 11), (60, 1000)]);
        assert_eq!(
            rate,
            IssuanceRate {
                recent: 10,
                baseline: 3
            }
        );
        assert_eq!(IssuanceRate::from_minutes([]), IssuanceRate::default());
        let mut burst = factors(Tier::Standard, Environment::Dev, 0, 0);
        burst.rate = IssuanceRate {
            recent: 30,
            baseline: 2,
        };
        assert_eq!(burst.score(), 20, "a burst adds at most 20");
        burst.rate = IssuanceRate {
            recent: 5,
            baseline: 2,
        };
        assert_eq!(burst.score(), 3);
    }

    #[test]
    fn the_score_follows_its_documented_formula() {
        assert_eq!(factors(Tier::Standard, Environment::Dev, 0, 0).score(), 0);
        assert_eq!(
            factors(Tier::Standard, Environment::Dev, 0, 100).score(),
            20
        );
        assert_eq!(
            factors(Tier::Privileged, Environment::Dev, 0, 0).score(),
            30
        );
        assert_eq!(factors(Tier::Standard, Environment::Prod, 1, 0).score(), 50);
        assert_eq!(
            factors(Tier::Privileged, Environment::Prod, 3, 100).score(),
            100
        );
        assert_eq!(
            factors(Tier::Standard, Environment::Staging, 0, 49).score(),
            19
        );
    }

    #[test]
    fn the_lifetime_counts_against_the_tiers_limit() {
        let client = crate::client::tests_support::client();
        let params = crate::issuance::CredentialRequest {
            ttl_seconds: max_ttl_seconds(client.tier) / 2,
            scopes: vec!["billing:read".into()],
            audiences: vec!["https://billing.example.com".into()],
            justification: "x".into(),
            approval_window_seconds: None,
        }
        .validate()
        .unwrap();
        assert_eq!(
            RiskFactors::of(&client, &params, IssuanceRate::default()).lifetime_percent,
            50
        );
    }

    proptest! {
        #[test]
        fn more_of_any_factor_never_lowers_the_score(ops in 0u32..4, pct in 0u32..=100, more in 0u32..=100) {
            for tier in [Tier::Standard, Tier::Privileged] {
                for env in [Environment::Dev, Environment::Staging, Environment::Prod] {
                    let base = factors(tier, env, ops, pct).score();
                    prop_assert!(base <= 100);
                    prop_assert!(factors(tier, env, ops + 1, pct).score() >= base);
                    prop_assert!(factors(tier, env, ops, (pct + more).min(100)).score() >= base);
                    prop_assert!(factors(Tier::Privileged, env, ops, pct).score() >= base);
                    prop_assert!(factors(tier, Environment::Prod, ops, pct).score() >= base);
                }
            }
        }
    }
}
