//! A deep health check, run by the `health-check` state machine after a deploy: it reads the
//! state table and fetches the signing key's public half, so a wiring mistake (a missing IAM
//! action, a wrong table name, a disabled key) shows before the first real request.

use clavis_aws::dynamo::Repository;
use clavis_aws::kms::Kms;
use clavis_core::Error;
use clavis_core::ids::ClientId;
use serde::{Deserialize, Serialize};

/// The check takes no parameters; whatever the execution input is, it is ignored.
#[derive(Debug, Default, Deserialize)]
pub struct HealthCheckInput {}

/// Every dependency answered.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct HealthReport {
    /// Always `ok` (a failure is an error, so Step Functions can retry it).
    pub status: &'static str,
    /// The stage checked.
    pub stage: String,
    /// The key id the API signs with.
    pub signing_key_id: String,
}

/// Reads the table and the signing key; the first failure is the error.
pub async fn check(
    repo: &Repository,
    kms: &Kms,
    stage: &str,
    signing_key_id: &str,
) -> Result<HealthReport, Error> {
    // Any key will do: a consistent read of an absent client proves access and the table.
    repo.get_client(&ClientId::from_ulid(Default::default()), true)
        .await?;
    let jwk = kms.public_jwk(signing_key_id).await?;
    Ok(HealthReport {
        status: "ok",
        stage: stage.to_owned(),
        signing_key_id: jwk.kid,
    })
}

#[cfg(test)]
mod samples {
    use super::HealthCheckInput;

    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/health-check.json");
        serde_json::from_str::<HealthCheckInput>(text).expect("events/health-check.json");
    }
}
