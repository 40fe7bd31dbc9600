//! The sweep's renewal phase: every active credential whose renewal window opened is announced
//! once (`Credential Expiring`), read from the sparse `by-renewal` index one day at a time from
//! its own checkpoint. A credential of a client that rotates automatically gets its rotation
//! asked for first, by the client itself with this credential (as the client could do through
//! the API), under a request id derived from the credential: overlapping or repeated sweeps ask
//! once, and the rotate execution (named after the request) starts once.

use clavis_aws::dynamo::Repository;
use clavis_aws::dynamo::issuance::Created;
use clavis_aws::workflows::Launcher;
use clavis_core::client::{Client, ClientStatus};
use clavis_core::credential::Credential;
use clavis_core::events::{ClavisEvent, CredentialExpiring, EventMeta};
use clavis_core::expiry;
use clavis_core::ids::{CredentialId, RequestId};
use clavis_core::lifecycle::CredentialState;
use clavis_core::request::{IssuanceRequest, RequestStatus};
use clavis_core::rotation::{RetireMode, RotateRequest, rotation_request_id_for};
use clavis_core::workflow::{RequestRef, WorkflowKind};
use clavis_core::{Error, SystemFault};
use time::OffsetDateTime;

use crate::{ACTOR, PAGE};

/// The idempotency key of automatic rotations: one per credential (each successor has its own).
pub const RENEWAL_KEY: &str = "renewal";

/// Where automatic rotations run.
pub struct Renewer {
    /// Starts the rotate workflow (or queues the start).
    pub launcher: Launcher,
    /// The rotate state machine.
    pub rotate_state_machine_arn: String,
}

/// What the renewal phase did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RenewalReport {
    /// Credentials announced `Credential Expiring` by this run.
    pub announced: u64,
    /// Automatic rotations asked for by this run.
    pub rotations: u64,
    /// Due credentials it could not announce (left for the next run).
    pub failed: u64,
    /// Due credentials of suspended auto-rotating clients, left for a run after they resume.
    pub deferred: u64,
    /// Whether it stopped at its bound.
    pub more: bool,
}

/// Announces every renewal due at `now`, at most `bound`.
pub async fn renew(
    repo: &Repository,
    renewer: &Renewer,
    bound: u64,
    now: OffsetDateTime,
) -> Result<RenewalReport, Error> {
    let saved = repo.renewal_checkpoint().await?;
    let days = expiry::days_to_sweep(saved, now);
    let mut checkpoint =
        saved.unwrap_or_else(|| days.first().copied().unwrap_or(expiry::today(now)));
    let mut report = RenewalReport::default();
    let mut stuck = false;
    'days: for day in days {
        let mut start = None;
        loop {
            let page = repo.due_renewals(day, now, PAGE, start).await?;
            for credential_id in &page.credential_ids {
                if report.announced >= bound {
                    report.more = true;
                    break 'days;
                }
                match renew_one(repo, renewer, credential_id, now).await {
                    Ok(Renewed::Announced { rotation }) => {
                        report.announced += 1;
                        report.rotations += u64::from(rotation);
                    }
                    Ok(Renewed::Nothing) => {}
                    // Its rotation waits for the client to be resumed: keep the checkpoint at
                    // its day, so a later run (reading that day again) gets to it.
                    Ok(Renewed::Deferred) => {
                        report.deferred += 1;
                        stuck = true;
                    }
                    Err(e) => {
                        report.failed += 1;
                        stuck = true;
                        tracing::error!(%credential_id, error = %e, "renewal not announced; the next sweep retries it");
                    }
                }
            }
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        if !stuck {
            checkpoint = expiry::checkpoint_after(day, now);
        }
    }
    if saved != Some(checkpoint) {
        repo.set_renewal_checkpoint(checkpoint).await?;
    }
    Ok(report)
}

/// What became of one due renewal.
enum Renewed {
    /// This call announced it (and asked for its rotation, if `rotation`).
    Announced {
        /// Whether an automatic rotation was asked for.
        rotation: bool,
    },
    /// Nothing to do: announced already, no longer active, or gone.
    Nothing,
    /// Its client rotates automatically but is suspended: left in the index until it resumes.
    Deferred,
}

/// Announces one credential's renewal.
async fn renew_one(
    repo: &Repository,
    renewer: &Renewer,
    credential_id: &CredentialId,
    now: OffsetDateTime,
) -> Result<Renewed, Error> {
    let Some(credential) = repo
        .get_credential(credential_id, true)
        .await?
        .map(|c| c.value)
    else {
        return Ok(Renewed::Nothing);
    };
    if credential.status != CredentialState::Active || credential.expires_at <= now {
        return Ok(Renewed::Nothing);
    }
    let client = repo
        .get_client(&credential.client_id, true)
        .await?
        .ok_or_else(|| SystemFault::Internal(format!("client of {credential_id} is gone")))?
        .value;
    if client.auto_rotate && client.status == ClientStatus::Suspended {
        return Ok(Renewed::Deferred);
    }
    let rotation = if client.auto_rotate
        && client.status == ClientStatus::Active
        && credential.rotated_to.is_none()
    {
        Some(request_rotation(repo, renewer, &credential, &client, now).await?)
    } else {
        None
    };
    let event = CredentialExpiring {
        meta: EventMeta::new(now),
        credential_id: *credential_id,
        client_id: credential.client_id,
        renew_after: credential.renew_after.unwrap_or(now),
        expires_at: credential.expires_at,
        rotation_request_id: rotation,
    };
    let announced = repo
        .announce_renewal(
            &credential,
            &event.to_outbox(),
            rotation.map(|r| r.to_string()),
            ACTOR,
            now,
        )
        .await?;
    if !announced {
        return Ok(Renewed::Nothing);
    }
    tracing::info!(%credential_id, rotation_request_id = ?rotation, "credential expiring");
    Ok(Renewed::Announced {
        rotation: rotation.is_some(),
    })
}

/// Asks for `credential`'s automatic rotation (retired on drain), as its client, and starts
/// its workflow; the request id either way.
async fn request_rotation(
    repo: &Repository,
    renewer: &Renewer,
    credential: &Credential,
    client: &Client,
    now: OffsetDateTime,
) -> Result<RequestId, Error> {
    let params = RotateRequest {
        justification: Some(format!(
            "automatic rotation: {} entered its renewal window",
            credential.credential_id
        )),
        retire: Some(RetireMode::OnDrain),
        ..RotateRequest::default()
    }
    .into_params(credential, client)?;
    let request = IssuanceRequest {
        request_id: rotation_request_id_for(
            &credential.credential_id,
            &client.client_id,
            RENEWAL_KEY,
        ),
        client_id: client.client_id,
        status: RequestStatus::Pending,
        fingerprint: params.fingerprint(),
        params,
        credential_id: None,
        problem: None,
        requested_by: client.client_id.to_string(),
        requested_with: credential.credential_id,
        requester_scopes: Some(credential.clone().confined_to(client).scopes),
        requested_at: now,
        attempt: 0,
        delivery: client.delivery.clone(),
    };
    let (stored, head) = match repo.create_request(&request, None).await? {
        Created::New(head) => (request, Some(head)),
        Created::Existing(existing) => (*existing, None),
    };
    if stored.status == RequestStatus::Pending {
        // A new request travels with its input (the workflow need not read it back).
        let request = RequestRef {
            request_id: stored.request_id,
            client_id: stored.client_id,
            request: head.is_some().then(|| Box::new(stored.clone())),
            audit_head: head,
        };
        renewer
            .launcher
            .launch_request(
                &renewer.rotate_state_machine_arn,
                WorkflowKind::Rotate,
                &request,
            )
            .await?;
    }
    Ok(stored.request_id)
}
