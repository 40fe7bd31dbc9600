//! Issuance over HTTP: request a credential (idempotent per client + `Idempotency-Key`), follow
//! the request, pick up the secret once, read credential metadata.

use std::time::Duration;

use clavis_aws::dynamo::issuance::{Created, PickupCopy};
use clavis_aws::workflows::Launched;
use clavis_core::client::Client;
use clavis_core::delivery::DeliveryTarget;
use clavis_core::ids::{ClientId, CredentialId, RequestId};
use clavis_core::issuance::{
    CredentialRequest, IssuanceParams, check_idempotency_key, request_id_for,
};
use clavis_core::request::{IssuanceRequest, RequestProblem, RequestStatus};
use clavis_core::secret::ClientSecret;
use clavis_core::workflow::{RequestRef, WorkflowKind};
use clavis_core::{Error, SystemFault, UserError};
use clavis_lambda::body;
use clavis_lambda::problem::Problem;
use clavis_policy::Action;
use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;

use crate::app::{App, json};
use crate::auth::Principal;
use crate::views::{CredentialView, DeliveryView, IssuedView, RequestView};

/// First pause of a waiting POST before it re-reads its request; each pause is 1.5 times the
/// last, up to [`POLL_MAX`], so a slow workflow costs few reads.
const POLL_FIRST: Duration = Duration::from_millis(100);
/// Longest pause between two reads of a waited-for request.
const POLL_MAX: Duration = Duration::from_millis(500);

/// Where the workflow is started and how long a POST waits for it.
#[derive(Debug, Clone)]
pub struct IssueConfig {
    /// The issue state machine.
    pub state_machine_arn: String,
    /// How long `POST …/credentials` waits for completion before answering 202.
    pub wait: Duration,
    /// The key that seals pickup copies.
    pub secrets_key_id: String,
    /// The rotate state machine.
    pub rotate_state_machine_arn: String,
    /// The ARN prefix of the vault secrets this stack may deliver into.
    pub delivery_prefix: String,
}

impl App {
    /// `POST /v1/clients/{client_id}/credentials`.
    pub(crate) async fn request_credential(
        &self,
        req: &Request,
        principal: &Principal,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let key = idempotency_key(req)?;
        let client_id: ClientId = client_id
            .parse()
            .map_err(|_| UserError::NotFound("client".into()))?;
        let params =
            body::parse_json::<CredentialRequest>(req.headers(), req.body(), body::DEFAULT_LIMIT)?
                .validate()?;
        let client = self
            .repo
            .get_client(&client_id, true)
            .await?
            .ok_or_else(|| UserError::NotFound("client".into()))?
            .value;
        // Policy first: a caller it refuses learns nothing of what the client may have.
        self.authorize(principal, Action::RequestIssuance(&client, &params))
            .await?;
        params.check_against(&client)?;

        let request_id = request_id_for(&client_id, &principal.client_id, key);
        let request = pending_request(principal, request_id, &client, params, now);
        let state_machine_arn = self.issue.state_machine_arn.clone();
        self.submit(
            req,
            principal,
            request,
            WorkflowKind::Issue,
            &state_machine_arn,
            now,
        )
        .await
    }

    /// Stores `request` (or finds the one its id names), starts its workflow if it is pending,
    /// waits for it within bounds and answers like issuance: 201 with the secret for the caller
    /// that created it, 202 while it runs or waits for approvers, its problem if it ended so.
    pub(crate) async fn submit(
        &self,
        req: &Request,
        principal: &Principal,
        request: IssuanceRequest,
        workflow: WorkflowKind,
        state_machine_arn: &str,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let created = self.repo.create_request(&request).await?;
        let (first, stored) = match created {
            Created::New => (true, request),
            Created::Existing(existing) if existing.fingerprint != request.fingerprint => {
                return Err(UserError::IdempotencyKeyReused.into());
            }
            Created::Existing(existing) => (false, *existing),
        };
        let mut queued = false;
        if stored.status == RequestStatus::Pending {
            // Also on a replay: if the first caller died between storing and starting, this
            // starts it; otherwise the execution name makes it a no-op.
            let request = RequestRef {
                request_id: stored.request_id,
                client_id: stored.client_id,
            };
            queued = self
                .launcher
                .launch_request(state_machine_arn, workflow, &request)
                .await?
                == Launched::Queued;
        }
        // RFC 7240 `Prefer: respond-async`: the caller follows `Location` instead of waiting.
        // Queued on the intake queue: nothing runs until replay starts it, so do not wait.
        let wait = if prefers_async(req) || queued {
            Duration::ZERO
        } else {
            self.issue.wait
        };
        let settled = self.wait_for(&stored.request_id, wait).await?;
        tracing::info!(request_id = %settled.request_id, client_id = %settled.client_id, first, status = settled.status.as_str(), workflow = ?workflow, "credential requested");
        self.answer_issuance(&settled, first, principal, now).await
    }

    async fn wait_for(&self, id: &RequestId, wait: Duration) -> Result<IssuanceRequest, Error> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = POLL_FIRST;
        loop {
            let current = self
                .repo
                .get_request(id, true)
                .await?
                .ok_or_else(|| SystemFault::Internal(format!("request {id} vanished")))?
                .value;
            // A held request waits for people: no use waiting here.
            let settled =
                current.status.is_final() || current.status == RequestStatus::PendingApproval;
            if settled || tokio::time::Instant::now() >= deadline {
                return Ok(current);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 3 / 2).min(POLL_MAX);
        }
    }

    /// 201 with the secret for the caller that created a completed request; the same answer
    /// without the secret for replays; 202 while pending; the problem if it failed.
    async fn answer_issuance(
        &self,
        request: &IssuanceRequest,
        first: bool,
        principal: &Principal,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let mut response = match request.status {
            RequestStatus::Completed => {
                let credential_id = request.credential_id;
                // A client with a vault never gets its secret over HTTP.
                let (client_secret, expires_at) = if first && request.delivery.is_none() {
                    match self.take_secret(request, principal, now).await {
                        Ok((secret, expires_at)) => (Some(secret), Some(expires_at)),
                        Err(Error::User(UserError::Gone(_))) => (None, None),
                        Err(e) => return Err(e),
                    }
                } else {
                    (None, None)
                };
                let expires_at = match expires_at {
                    Some(t) => Some(t),
                    None => self.expiry_of(credential_id).await?,
                };
                json(
                    201,
                    &IssuedView {
                        request_id: request.request_id,
                        status: request.status,
                        credential_id,
                        client_secret,
                        expires_at,
                        delivery: DeliveryView::of(request),
                    },
                )?
            }
            RequestStatus::Failed | RequestStatus::Denied => {
                // The request ended without a credential: answer its problem, as a problem.
                let recorded = request.problem.clone().unwrap_or_else(|| RequestProblem {
                    type_: "urn:clavis:problem:conflict".into(),
                    title: "Conflict".into(),
                    status: 409,
                    detail: format!("the request is {}", request.status.as_str()),
                });
                Problem {
                    type_: recorded.type_,
                    title: recorded.title,
                    status: recorded.status,
                    detail: recorded.detail,
                    instance: format!("/v1/requests/{}", request.request_id),
                    request_id: request.request_id.to_string(),
                    errors: Vec::new(),
                }
                .into_response()
            }
            RequestStatus::Pending | RequestStatus::PendingApproval => {
                let mut resp = json(202, &RequestView::from(request))?;
                if let Ok(v) = format!("/v1/requests/{}", request.request_id).parse() {
                    resp.headers_mut().insert("location", v);
                }
                resp
            }
        };
        if !first {
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        Ok(response)
    }

    async fn expiry_of(
        &self,
        credential_id: Option<CredentialId>,
    ) -> Result<Option<OffsetDateTime>, Error> {
        let Some(id) = credential_id else {
            return Ok(None);
        };
        Ok(self
            .repo
            .get_credential(&id, false)
            .await?
            .map(|c| c.value.expires_at))
    }

    /// Opens the pickup copy, then takes it (once): a decrypt that fails leaves the copy for
    /// a retry, and only the caller whose delete commits gets the secret.
    pub(crate) async fn take_secret(
        &self,
        request: &IssuanceRequest,
        principal: &Principal,
        now: OffsetDateTime,
    ) -> Result<(ClientSecret, OffsetDateTime), Error> {
        let copy: PickupCopy = self.repo.pickup_copy(request, now).await?;
        let secret = copy.open(&self.kms, &self.issue.secrets_key_id).await?;
        self.repo
            .picked_up(request, &copy, &principal.actor(), now)
            .await?;
        let expires_at = self
            .expiry_of(Some(copy.credential_id))
            .await?
            .unwrap_or(copy.expires_at);
        Ok((secret, expires_at))
    }

    /// `GET /v1/requests/{request_id}`.
    pub(crate) async fn get_request(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<Response<Body>, Error> {
        let request = self.find_request(id).await?;
        self.authorize(principal, Action::ReadRequest(&request))
            .await?;
        json(200, &RequestView::from(&request))
    }

    /// `POST /v1/requests/{request_id}/secret`: 200 once, 410 after.
    pub(crate) async fn pickup_secret(
        &self,
        principal: &Principal,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let request = self.find_request(id).await?;
        self.authorize(principal, Action::PickUpSecret(&request))
            .await?;
        if let Some(target) = &request.delivery {
            return Err(delivered_elsewhere(target).into());
        }
        if request.status != RequestStatus::Completed {
            return Err(UserError::Conflict(format!(
                "request {} is {}; the secret is available once it is completed",
                request.request_id,
                request.status.as_str()
            ))
            .into());
        }
        let (secret, expires_at) = self.take_secret(&request, principal, now).await?;
        tracing::info!(request_id = %request.request_id, "secret picked up");
        json(
            200,
            &IssuedView {
                request_id: request.request_id,
                status: request.status,
                credential_id: request.credential_id,
                client_secret: Some(secret),
                expires_at: Some(expires_at),
                delivery: None,
            },
        )
    }

    /// `GET /v1/credentials/{credential_id}`.
    pub(crate) async fn get_credential(
        &self,
        principal: &Principal,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let not_found = || UserError::NotFound("credential".into());
        let id: CredentialId = id.parse().map_err(|_| not_found())?;
        let credential = self
            .repo
            .get_credential(&id, false)
            .await?
            .ok_or_else(not_found)?
            .value;
        self.authorize(principal, Action::ReadCredential(&credential))
            .await?;
        json(200, &CredentialView::at(credential, now))
    }

    async fn find_request(&self, id: &str) -> Result<IssuanceRequest, Error> {
        let not_found = || UserError::NotFound("request".into());
        let id: RequestId = id.parse().map_err(|_| not_found())?;
        Ok(self
            .repo
            .get_request(&id, true)
            .await?
            .ok_or_else(not_found)?
            .value)
    }
}

/// The refusal of a pickup for a client whose secrets go into a vault.
pub(crate) fn delivered_elsewhere(target: &DeliveryTarget) -> UserError {
    UserError::Conflict(format!(
        "the secret was delivered into {}; it is never answered over HTTP",
        target.address()
    ))
}

/// A new request of `principal`'s for `client`, pending: what `submit` stores and starts. The
/// client's vault, if it has one, is recorded: the secret will go there, never over HTTP.
pub(crate) fn pending_request(
    principal: &Principal,
    request_id: RequestId,
    client: &Client,
    params: IssuanceParams,
    now: OffsetDateTime,
) -> IssuanceRequest {
    IssuanceRequest {
        request_id,
        client_id: client.client_id,
        delivery: client.delivery.clone(),
        status: RequestStatus::Pending,
        fingerprint: params.fingerprint(),
        params,
        credential_id: None,
        problem: None,
        requested_by: principal.actor(),
        requested_with: principal.credential_id,
        requester_scopes: Some(principal.scopes.clone()),
        requested_at: now,
        attempt: 0,
    }
}

/// The checked `Idempotency-Key` header.
pub(crate) fn idempotency_key(req: &Request) -> Result<&str, UserError> {
    match req
        .headers()
        .get("idempotency-key")
        .map(HeaderValue::to_str)
    {
        Some(Err(_)) => Err(UserError::BadHeader {
            header: "Idempotency-Key",
            reason: "must be visible ASCII characters".into(),
        }),
        Some(Ok(k)) => check_idempotency_key(Some(k)),
        None => check_idempotency_key(None),
    }
}

/// Whether the request carries `Prefer: respond-async`.
fn prefers_async(req: &Request) -> bool {
    req.headers()
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}
