//! `POST /v1/clients/{client_id}/revoke`: the client is revoked before the answer (no issuance
//! from that moment, an in-flight activation is refused), then the `revoke-client` workflow,
//! named after the client, revokes its credentials in bounded batches. When Step Functions is
//! unavailable the start waits on the intake queue and the answer is 202; replay starts it.

use clavis_aws::workflows::Launched;
use clavis_core::ids::ClientId;
use clavis_core::revocation::{RevocationReason, RevokeRequest};
use clavis_core::workflow::{ClientRef, Launch, WorkflowKind};
use clavis_core::{Error, SystemFault, UserError};
use clavis_lambda::body;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use time::OffsetDateTime;

use crate::app::{App, json};
use crate::auth::Principal;

/// Where the `revoke-client` workflow runs.
#[derive(Debug, Clone)]
pub struct RevokeClientConfig {
    /// The revoke-client state machine.
    pub state_machine_arn: String,
}

/// The answer to a client revoke: the same on every repeat, but for `credentials`.
#[derive(Debug, Serialize)]
pub struct ClientRevokedView {
    /// The client.
    pub client_id: ClientId,
    /// Always `revoked`.
    pub status: &'static str,
    /// Why.
    pub reason: RevocationReason,
    /// When the client was revoked.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// `revoking`: the workflow runs (or ran) under `execution_name`; `queued`: it waits on the
    /// intake queue for replay.
    pub credentials: &'static str,
    /// The workflow execution revoking the credentials.
    pub execution_name: String,
}

impl App {
    /// `POST /v1/clients/{client_id}/revoke`.
    pub(crate) async fn revoke_client(
        &self,
        req: &Request,
        principal: &Principal,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let id: ClientId = id
            .parse()
            .map_err(|_| UserError::NotFound("client".into()))?;
        let reason =
            body::parse_json::<RevokeRequest>(req.headers(), req.body(), body::DEFAULT_LIMIT)?
                .operator_reason()?;
        // Policy decides on the client as read (an operator cannot revoke its own client).
        self.policy_in_force().await?;
        let permit = |client: &clavis_core::client::Client| {
            self.decide(principal, clavis_policy::Action::RevokeClient(client))
                .map(|_| ())
        };
        let outcome = self
            .repo
            .revoke_client(&id, reason, &principal.actor(), now, &permit)
            .await?;
        // On every call, not only the first: if the first caller's start was lost, this makes
        // it; otherwise the execution name makes it a no-op.
        let input = ClientRef {
            client_id: id,
            attempt: 0,
        };
        let launch = Launch {
            workflow: WorkflowKind::RevokeClient,
            name: WorkflowKind::execution_name(&id.to_string(), 0),
            input: serde_json::to_value(&input)
                .map_err(|e| SystemFault::Internal(format!("cannot encode input: {e}")))?,
        };
        let launched = self
            .launcher
            .launch(&self.revoke_client.state_machine_arn, &launch)
            .await?;
        tracing::info!(client_id = %id, first = outcome.now, launched = ?launched, "client revoked");
        let queued = launched == Launched::Queued;
        json(
            if queued { 202 } else { 200 },
            &ClientRevokedView {
                client_id: id,
                status: "revoked",
                reason: outcome.revocation.reason,
                revoked_at: outcome.revocation.revoked_at,
                credentials: if queued { "queued" } else { "revoking" },
                execution_name: launch.name,
            },
        )
    }
}
