//! `CheckDrain`: the rotate workflow's look at a rotation that retires on drain. Reads both
//! credentials (their status and last use) and answers the verdict of
//! [`clavis_core::rotation::drain_verdict`]: retire the predecessor now (the successor has been
//! used and the predecessor has gone unused for the drain period, the overlap is over, or
//! either credential ended), or look again after a while. Writes nothing.

use clavis_aws::dynamo::Repository;
use clavis_core::credential::Credential;
use clavis_core::ids::CredentialId;
use clavis_core::rotation::drain_verdict;
use clavis_core::workflow::{DrainCheck, Issued};
use clavis_core::{Error, UserError};
use time::{Duration, OffsetDateTime};

/// The verdict for the rotation `issued` describes, at `now`, with use tracked to `resolution`.
pub async fn check_drain(
    repo: &Repository,
    issued: Issued,
    now: OffsetDateTime,
    resolution: Duration,
) -> Result<DrainCheck, Error> {
    let rotation = issued.rotation.ok_or_else(|| {
        UserError::IllegalTransition(format!("request {} is not a rotation", issued.request_id))
    })?;
    let predecessor = read(repo, &rotation.predecessor).await?;
    let successor = read(repo, &issued.credential_id).await?;
    let drain = drain_verdict(&predecessor, &successor, &rotation, now, resolution);
    tracing::info!(request_id = %issued.request_id, predecessor = %rotation.predecessor, successor = %issued.credential_id, verdict = ?drain, "drain checked");
    Ok(DrainCheck { issued, drain })
}

async fn read(repo: &Repository, id: &CredentialId) -> Result<Credential, Error> {
    Ok(repo
        .get_credential(id, true)
        .await?
        .ok_or_else(|| UserError::NotFound(format!("credential {id}")))?
        .value)
}

#[cfg(test)]
mod samples {
    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/check-drain.json");
        let issued: clavis_core::workflow::Issued =
            clavis_lambda::step::decode(serde_json::from_str(text).unwrap())
                .expect("events/check-drain.json");
        assert_eq!(
            issued.rotation.map(|r| r.retire),
            Some(clavis_core::rotation::RetireMode::OnDrain)
        );
    }
}
