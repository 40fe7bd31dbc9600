//! `RecordDenial`: ends a refused request `denied`, with its reasons: denied by policy (the
//! assessment says which policies and why), by an approver (the api has recorded it already;
//! this changes nothing), or because no approver decided before the deadline (`timeout`: the
//! approval expires with the request). Idempotent: a request already denied stays as it is.

use clavis_aws::dynamo::Repository;
use clavis_core::approval::approval_id_for;
use clavis_core::request::RequestProblem;
use clavis_core::workflow::{APPROVAL_DENIED, Denial};
use clavis_core::{Error, FieldViolation, UserError};
use clavis_lambda::metrics::Settled;
use serde::Serialize;
use time::OffsetDateTime;

/// The actor recorded for denials.
pub const ACTOR: &str = "record-denial";

/// Why a request was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DenialReason {
    /// Policy refused it outright.
    Policy,
    /// An approver denied it.
    Approver,
    /// No approver decided before the deadline.
    Timeout,
}

impl DenialReason {
    /// Its name, as in the answer and the audit record.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Policy => "policy",
            Self::Approver => "approver",
            Self::Timeout => "timeout",
        }
    }
}

/// What the step answers.
#[derive(Debug, Serialize)]
pub struct Denied {
    /// The request.
    pub request_id: clavis_core::ids::RequestId,
    /// Always `denied`.
    pub status: &'static str,
    /// Why.
    pub reason: DenialReason,
}

/// The reason and the requester-facing explanation of a denial.
pub fn explain(input: &Denial) -> Result<(DenialReason, String), UserError> {
    match (&input.error, &input.assessment) {
        (Some(e), _) if e.error == APPROVAL_DENIED => Ok((
            DenialReason::Approver,
            format!("denied by an approver: {}", e.message()),
        )),
        (Some(e), _) if e.error == "States.Timeout" => Ok((
            DenialReason::Timeout,
            "denied: no approver decided before the deadline (timeout)".to_owned(),
        )),
        (None, Some(a)) => Ok((
            DenialReason::Policy,
            format!(
                "denied by policy {}: {}",
                a.policies.join(", "),
                a.reasons.join("; ")
            ),
        )),
        _ => Err(UserError::Invalid(vec![FieldViolation::new(
            "input",
            "a denial needs an assessment or an approval's error",
        )])),
    }
}

/// Records the denial of the request.
pub async fn record_denial(
    repo: &Repository,
    input: Denial,
    now: OffsetDateTime,
) -> Result<Denied, Error> {
    let (reason, detail) = explain(&input)?;
    let request = repo
        .get_request(&input.request_id, true)
        .await?
        .ok_or_else(|| UserError::NotFound(format!("request {}", input.request_id)))?
        .value;
    let approval = repo
        .get_approval(&approval_id_for(&request.request_id, request.attempt), true)
        .await?;
    let problem = RequestProblem {
        type_: "urn:clavis:problem:forbidden".into(),
        title: "Forbidden".into(),
        status: 403,
        detail,
    };
    let mut facts = vec![("reason", reason.as_str().to_owned())];
    if let Some(a) = &input.assessment {
        facts.push(("risk_score", a.score.to_string()));
        facts.push(("policies", a.policies.join(" ")));
        facts.push(("policy_version", a.policy_version.clone()));
    }
    if let Some(a) = &approval {
        facts.push(("approval_id", a.value.approval_id.to_string()));
    }
    let recorded = repo
        .deny_request(&request, approval.as_ref(), &problem, facts, ACTOR, now)
        .await?;
    // Counted once: a retry after a denial whose answer was lost finds it recorded.
    if recorded.is_some() {
        clavis_lambda::metrics::issuance_settled(
            Settled::Denied,
            Some(reason.as_str()),
            reason != DenialReason::Policy,
            Some(request.requested_at),
            OffsetDateTime::now_utc(),
        );
    }
    tracing::info!(request_id = %input.request_id, ?reason, "request denied");
    Ok(Denied {
        request_id: input.request_id,
        status: "denied",
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_core::workflow::CaughtError;

    fn sample() -> Denial {
        serde_json::from_str(include_str!("../../../events/record-denial.json"))
            .expect("events/record-denial.json")
    }

    #[test]
    fn a_reason_is_named_as_it_is_serialised() {
        for reason in [
            DenialReason::Policy,
            DenialReason::Approver,
            DenialReason::Timeout,
        ] {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::json!(reason.as_str())
            );
        }
    }

    #[test]
    fn each_way_to_be_denied_has_its_reason() {
        let timeout = sample();
        assert_eq!(explain(&timeout).unwrap().0, DenialReason::Timeout);
        let mut by_approver = sample();
        by_approver.error = Some(CaughtError {
            error: APPROVAL_DENIED.into(),
            cause: "not this quarter".into(),
        });
        let (reason, detail) = explain(&by_approver).unwrap();
        assert_eq!(reason, DenialReason::Approver);
        assert!(detail.ends_with("not this quarter"), "{detail}");
        let mut by_policy = sample();
        by_policy.error = None;
        let (reason, detail) = explain(&by_policy).unwrap();
        assert_eq!(reason, DenialReason::Policy);
        assert!(detail.contains("operator-scopes-need-approval"), "{detail}");
        by_policy.assessment = None;
        assert!(explain(&by_policy).is_err());
    }
}
