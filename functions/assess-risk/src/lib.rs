//! `AssessRisk`: after identity verification, the risk of the issuance is scored (documented in
//! `clavis_core::risk`: tier, environment, operator scopes, lifetime, and the client's issuance
//! rate against its own baseline) and the policy decides: allow (mint now), hold (wait for
//! approvers; the holding policies say how long and how many; a spike is an anomaly) or deny.
//! Takes the request and its client from VerifyIdentity (reading them only when an input lacks
//! them), reads the client's counters (one Query), and passes on the grant without them;
//! writes nothing (a hold or a denial is recorded by the step that follows).

use std::collections::BTreeSet;

use clavis_aws::dynamo::Repository;
use clavis_core::risk::{RiskAssessment, RiskDecision, RiskFactors};
use clavis_core::workflow::{Assessed, Verified, VerifiedReads};
use clavis_core::{Error, UserError};
use clavis_lambda::governance::Governance;
use clavis_policy::Operator;
use time::OffsetDateTime;

/// Scores the granted issuance and answers it with the policy's decision.
pub async fn assess_risk(
    repo: &Repository,
    governance: &Governance,
    verified: Verified,
    now: OffsetDateTime,
) -> Result<Assessed, Error> {
    let mut grant = verified.grant;
    // What VerifyIdentity read comes with its grant; an input without it reads them.
    let (request, client) = match verified.read {
        Some(read) if read.request.request_id == grant.request_id => {
            let VerifiedReads { request, client } = *read;
            (request, client)
        }
        _ => (
            repo.get_request(&grant.request_id, true)
                .await?
                .ok_or_else(|| UserError::NotFound(format!("request {}", grant.request_id)))?
                .value,
            repo.get_client(&grant.client_id, true)
                .await?
                .ok_or_else(|| UserError::NotFound(format!("client {}", grant.client_id)))?
                .value,
        ),
    };
    if client.client_id != grant.client_id {
        return Err(UserError::NotFound(format!("client {}", grant.client_id)).into());
    }
    let requester = request.requested_by.parse().map_err(|_| {
        UserError::Forbidden(format!("{} is not an operator", request.requested_by))
    })?;
    let rate = repo.issuance_rate(&client.client_id, now).await?;
    let mut factors = RiskFactors::of(&client, &request.params, rate);
    if request.params.rotation.is_some() && request.requested_by == client.client_id.to_string() {
        factors = factors.own_rotation();
    }
    let score = factors.score();
    let held = request
        .requester_scopes
        .clone()
        .unwrap_or_else(BTreeSet::new);
    governance.in_force(repo).await?;
    let outcome = governance.assess(
        Operator {
            client_id: &requester,
            credential_id: &request.requested_with,
            scopes: &held,
        },
        &client,
        &request.params,
        &factors,
    )?;
    // The request may ask for a shorter window than policy's deadline, never a longer one.
    let timeout = request
        .params
        .approval_window_seconds
        .map_or(outcome.approval_timeout_seconds, |w| {
            w.min(outcome.approval_timeout_seconds)
        });
    grant.risk_score = Some(score);
    grant.held = outcome.decision == RiskDecision::Hold;
    tracing::info!(request_id = %grant.request_id, client_id = %grant.client_id, decision = ?outcome.decision, score, "risk assessed");
    Ok(Assessed {
        request_id: grant.request_id,
        client_id: grant.client_id,
        grant,
        assessment: RiskAssessment {
            decision: outcome.decision,
            score,
            factors,
            policies: outcome.policies,
            reasons: outcome.reasons,
            policy_version: outcome.policy_version,
            approval_timeout_seconds: timeout,
            approvals_required: outcome.approvals_required,
            anomaly: outcome.anomaly,
        },
    })
}

#[cfg(test)]
mod samples {
    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/assess-risk.json");
        clavis_lambda::step::decode::<clavis_core::workflow::Verified>(
            serde_json::from_str(text).unwrap(),
        )
        .expect("events/assess-risk.json");
    }
}
