//! The bootstrap of a deployment: the first two operators, each a client with an active
//! credential. The administrator holds every operator scope; the approver holds only
//! `clavis.approver`, so that separation of duties (no one approves their own request) works
//! from the first day. Runs once; a second run is a conflict and writes nothing.
//!
//! Break glass: when every operator is lost or expired, someone with direct AWS permissions on
//! the stack (invoking this function is one) runs it again with `break_glass` (the reason): it
//! adds a new administrator and approver, records `operator.break_glass` in the stack's chain
//! and `operator.recovered` in theirs, and announces `Operators Recovered`. The old operators
//! are left as they are (revoke them once you are back in).

use std::collections::BTreeSet;

use clavis_aws::dynamo::Repository;
use clavis_core::client::{Client, ClientStatus, Environment, Tier};
use clavis_core::credential::Credential;
use clavis_core::events::{ClavisEvent, EventMeta, OperatorsRecovered};
use clavis_core::ids::{ClientId, CredentialId};
use clavis_core::lifecycle::{CredentialState, LifecycleEvent};
use clavis_core::secret::{ClientSecret, SecretMode};
use clavis_core::{Error, FieldViolation, UserError, scopes};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// Longest lifetime of the bootstrap credentials, in days.
pub const MAX_TTL_DAYS: u32 = 90;
/// Default lifetime of the bootstrap credentials, in days.
pub const DEFAULT_TTL_DAYS: u32 = 30;
/// The actor recorded for the bootstrap.
pub const ACTOR: &str = "bootstrap";
/// The actor recorded for a break-glass recovery.
pub const BREAK_GLASS_ACTOR: &str = "break-glass";

/// What the invoker may choose; everything has a default (`{}` is a valid input).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BootstrapInput {
    /// Name of the administrator's client (default `operator`).
    pub name: Option<String>,
    /// Name of the approver's client (default `approver`).
    pub approver_name: Option<String>,
    /// Environment (default from the stage: `prod` → prod, `staging` → staging, else dev).
    pub environment: Option<Environment>,
    /// Lifetime of the credentials in days (default 30, at most 90).
    pub ttl_days: Option<u32>,
    /// Break glass on a stack already bootstrapped, for this reason (1 to 500 characters).
    pub break_glass: Option<String>,
}

/// One bootstrapped operator, shown once: the only time its secret leaves Clavis.
#[derive(Debug, Serialize)]
pub struct BootstrappedOperator {
    /// The operator client.
    pub client_id: ClientId,
    /// Its credential.
    pub credential_id: CredentialId,
    /// The secret; never stored, never logged.
    pub client_secret: ClientSecret,
    /// When the credential expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The answer: the administrator's fields at the top level, the approver's under `approver`.
#[derive(Debug, Serialize)]
pub struct BootstrapOutput {
    /// The administrator (every operator scope).
    #[serde(flatten)]
    pub administrator: BootstrappedOperator,
    /// The approver (`clavis.approver` only).
    pub approver: BootstrappedOperator,
}

/// The environment a stage's operators live in.
pub fn environment_of_stage(stage: &str) -> Environment {
    match stage {
        "prod" => Environment::Prod,
        "staging" => Environment::Staging,
        _ => Environment::Dev,
    }
}

/// One operator client with its active credential, and the credential's secret.
fn operator(
    name: String,
    environment: Environment,
    operator_scopes: &[&str],
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(Client, Credential, ClientSecret), Error> {
    let operator_scopes: BTreeSet<String> =
        operator_scopes.iter().map(|s| (*s).to_owned()).collect();
    let audiences = BTreeSet::from([scopes::CLAVIS_AUDIENCE.to_owned()]);
    let client = Client {
        client_id: ClientId::generate(),
        name,
        owner: ACTOR.into(),
        environment,
        tier: Tier::Privileged,
        allowed_scopes: operator_scopes.clone(),
        allowed_audiences: audiences.clone(),
        status: ClientStatus::Active,
        created_at: now,
        revocation: None,
        suspension: None,
        auto_rotate: false,
        delivery: None,
    };
    let credential_id = CredentialId::generate();
    let secret = ClientSecret::generate(credential_id, SecretMode::for_environment(environment))?;
    let lifetime = expires_at - now;
    let mut credential = Credential {
        credential_id,
        client_id: client.client_id,
        status: CredentialState::Requested,
        scopes: operator_scopes,
        audiences,
        issued_at: Some(now),
        expires_at,
        renew_after: Some(now + lifetime * 2 / 3),
        policy_version: "bootstrap".into(),
        request_id: None,
        rotated_from: None,
        rotated_to: None,
        secret_hash: secret.hash(),
        revocation: None,
        last_used_at: None,
    };
    // The bootstrap is its own approval: policy cannot run before an operator exists.
    credential
        .apply(LifecycleEvent::Approve)
        .map_err(UserError::from)?;
    credential
        .apply(LifecycleEvent::Activate)
        .map_err(UserError::from)?;
    Ok((client, credential, secret))
}

/// Creates the administrator and the approver, or fails with a conflict if they exist.
pub async fn bootstrap(
    repo: &Repository,
    stage: &str,
    input: BootstrapInput,
    now: OffsetDateTime,
) -> Result<BootstrapOutput, Error> {
    let reason = input
        .break_glass
        .map(|r| {
            clavis_core::approval::DecisionBody { reason: r }
                .validate()
                .map_err(|_| {
                    UserError::Invalid(vec![FieldViolation::new(
                        "break_glass",
                        "must be the reason, 1 to 500 characters",
                    )])
                })
        })
        .transpose()?;
    let ttl_days = input.ttl_days.unwrap_or(DEFAULT_TTL_DAYS);
    if ttl_days == 0 || ttl_days > MAX_TTL_DAYS {
        return Err(UserError::Invalid(vec![FieldViolation::new(
            "ttl_days",
            format!("must be 1 to {MAX_TTL_DAYS}"),
        )])
        .into());
    }
    let environment = input
        .environment
        .unwrap_or_else(|| environment_of_stage(stage));
    let expires_at = now + Duration::days(i64::from(ttl_days));
    let (mut admin, admin_credential, admin_secret) = operator(
        input.name.unwrap_or_else(|| "operator".into()),
        environment,
        &scopes::ALL,
        now,
        expires_at,
    )?;
    let (mut approver, approver_credential, approver_secret) = operator(
        input.approver_name.unwrap_or_else(|| "approver".into()),
        environment,
        &[scopes::APPROVER],
        now,
        expires_at,
    )?;
    if reason.is_some() {
        admin.owner = BREAK_GLASS_ACTOR.into();
        approver.owner = BREAK_GLASS_ACTOR.into();
    }
    let shown = |client: &Client, credential: &Credential, secret| BootstrappedOperator {
        client_id: client.client_id,
        credential_id: credential.credential_id,
        client_secret: secret,
        expires_at,
    };
    let output = BootstrapOutput {
        administrator: shown(&admin, &admin_credential, admin_secret),
        approver: shown(&approver, &approver_credential, approver_secret),
    };
    let operators = [(admin, admin_credential), (approver, approver_credential)];
    match reason {
        None => {
            repo.bootstrap_operators(&operators, ACTOR).await?;
        }
        Some(reason) => {
            let event = OperatorsRecovered {
                meta: EventMeta::new(now),
                operators: operators.iter().map(|(c, _)| c.client_id).collect(),
                reason: reason.clone(),
            };
            repo.recover_operators(
                &operators,
                &reason,
                &event.to_outbox(),
                BREAK_GLASS_ACTOR,
                now,
            )
            .await?;
            tracing::warn!(event_id = %event.meta.event_id, "break glass: operators recovered");
        }
    }
    tracing::info!(
        administrator = %output.administrator.client_id,
        approver = %output.approver.client_id,
        "operators bootstrapped"
    );
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_decides_the_default_environment() {
        assert_eq!(environment_of_stage("prod"), Environment::Prod);
        assert_eq!(environment_of_stage("staging"), Environment::Staging);
        assert_eq!(environment_of_stage("local"), Environment::Dev);
    }

    #[test]
    fn unknown_input_fields_are_refused() {
        assert!(serde_json::from_str::<BootstrapInput>(r#"{"admin":true}"#).is_err());
        assert!(serde_json::from_str::<BootstrapInput>("{}").is_ok());
    }
}

#[cfg(test)]
mod samples {
    use super::BootstrapInput;

    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/bootstrap-operator.json");
        serde_json::from_str::<BootstrapInput>(text).expect("events/bootstrap-operator.json");
    }
}
