//! Rotation over HTTP: `POST /v1/credentials/{credential_id}/rotate` asks for a successor with
//! the same grant (idempotent per credential, requester and `Idempotency-Key`) and answers like
//! issuance; the rotate workflow activates it, waits out the overlap and retires the
//! predecessor.

use clavis_core::ids::CredentialId;
use clavis_core::rotation::{RotateRequest, check_rotatable, rotation_request_id_for};
use clavis_core::workflow::WorkflowKind;
use clavis_core::{Error, UserError};
use clavis_lambda::body;
use clavis_policy::Action;
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;

use crate::app::{App, json};
use crate::auth::Principal;
use crate::issuance::{delivered_elsewhere, idempotency_key, pending_request};
use crate::views::IssuedView;

impl App {
    /// `POST /v1/credentials/{credential_id}/rotate`.
    pub(crate) async fn rotate_credential(
        &self,
        req: &Request,
        principal: &Principal,
        credential_id: &str,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let key = idempotency_key(req)?;
        let not_found = || UserError::NotFound("credential".into());
        let credential_id: CredentialId = credential_id.parse().map_err(|_| not_found())?;
        let body: RotateRequest = if req.body().is_empty() {
            RotateRequest::default()
        } else {
            body::parse_json(req.headers(), req.body(), body::DEFAULT_LIMIT)?
        };
        let predecessor = self
            .repo
            .get_credential(&credential_id, true)
            .await?
            .ok_or_else(not_found)?
            .value;
        let client = self
            .repo
            .get_client(&predecessor.client_id, true)
            .await?
            .ok_or_else(not_found)?
            .value;
        let params = body.into_params(&predecessor, &client)?;
        // Policy first (a rotation is an issuance of the same grant): a caller it refuses
        // learns nothing of the credential's state.
        self.authorize(principal, Action::RequestIssuance(&client, &params))
            .await?;
        let request_id = rotation_request_id_for(&credential_id, &principal.client_id, key);
        // A repeated call answers what the first one started, whatever became of the
        // predecessor since; only a new rotation needs it rotatable now.
        if self.repo.get_request(&request_id, true).await?.is_none() {
            check_rotatable(&predecessor, now)?;
            params.check_against(&client)?;
        }
        let request = pending_request(principal, request_id, &client, params, now);
        let arn = self.issue.rotate_state_machine_arn.clone();
        self.submit(
            req,
            principal,
            request,
            (WorkflowKind::Rotate, &arn),
            None,
            now,
        )
        .await
    }
}

impl App {
    /// `POST /v1/credentials/{credential_id}/successor`: a client, authenticated with the
    /// credential it rotates away from, collects its successor's secret once (like pickup),
    /// when the rotation was its own (an automatic rotation, or one it asked for).
    pub(crate) async fn successor_secret(
        &self,
        req: &Request,
        credential_id: &str,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let principal = self.authenticate(req, now).await?;
        let not_found = || UserError::NotFound("credential".into());
        let id: CredentialId = credential_id.parse().map_err(|_| not_found())?;
        if principal.credential_id != id {
            return Err(UserError::Forbidden(
                "only the credential being rotated fetches its successor's secret".into(),
            )
            .into());
        }
        let current = self
            .repo
            .get_credential(&id, true)
            .await?
            .ok_or_else(not_found)?
            .value;
        let no_successor = || UserError::NotFound(format!("a successor of {id}"));
        let successor_id = current.rotated_to.ok_or_else(no_successor)?;
        let request_id = self
            .repo
            .get_credential(&successor_id, true)
            .await?
            .and_then(|s| s.value.request_id)
            .ok_or_else(no_successor)?;
        let request = self
            .repo
            .get_request(&request_id, true)
            .await?
            .ok_or_else(no_successor)?
            .value;
        self.authorize(&principal, Action::PickUpSecret(&request))
            .await?;
        if let Some(target) = &request.delivery {
            return Err(delivered_elsewhere(target).into());
        }
        let (secret, expires_at) = self.take_secret(&request, &principal, now).await?;
        tracing::info!(%request_id, credential_id = %successor_id, "successor secret fetched");
        json(
            200,
            &IssuedView {
                request_id,
                status: request.status,
                credential_id: Some(successor_id),
                client_secret: Some(secret),
                expires_at: Some(expires_at),
                delivery: None,
            },
        )
    }
}
