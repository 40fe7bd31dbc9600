//! Issuance over HTTP: request a credential (idempotent per client + `Idempotency-Key`), follow
//! the request, pick up the secret once, read credential metadata.

use std::time::Duration;

use clavis_aws::dynamo::audited::head_of;
use clavis_aws::dynamo::issuance::{Created, IssuanceOutcome, PickupCopy};
use clavis_aws::dynamo::{clients, keys};
use clavis_aws::workflows::Launched;
use clavis_core::audit::ChainHead;
use clavis_core::client::Client;
use clavis_core::delivery::DeliveryTarget;
use clavis_core::ids::{ClientId, CredentialId, RequestId};
use clavis_core::issuance::{
    CredentialRequest, IssuanceParams, check_idempotency_key, credential_id_for, request_id_for,
};
use clavis_core::request::{IssuanceRequest, RequestProblem, RequestStatus};
use clavis_core::secret::ClientSecret;
use clavis_core::workflow::{RequestRef, WorkflowKind};
use clavis_core::{Error, SystemFault, UserError, scopes};
use clavis_lambda::body;
use clavis_lambda::problem::Problem;
use clavis_policy::Action;
use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;

use crate::app::{App, json};
use crate::auth::Principal;
use crate::issuance_wait;
use crate::views::{CredentialView, DeliveryView, IssuedView, RequestView};

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
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        // The client asked for and its audit chain head are read with the caller's credential,
        // in one round trip; nothing of them is answered before the caller is authenticated.
        let asked: Option<ClientId> = client_id.parse().ok();
        let also: Vec<(String, String)> = asked
            .iter()
            .flat_map(|id| [keys::client(id), keys::chain_head(id)])
            .collect();
        let (principal, mut read) = self.authenticate_reading(req, now, &also).await?;
        principal.require_any(&[scopes::ISSUER])?;
        let key = idempotency_key(req)?;
        let client_id = asked.ok_or_else(|| UserError::NotFound("client".into()))?;
        let params =
            body::parse_json::<CredentialRequest>(req.headers(), req.body(), body::DEFAULT_LIMIT)?
                .validate()?;
        let client: Client = read
            .get(&keys::client(&client_id), clients::ENTITY)?
            .ok_or_else(|| UserError::NotFound("client".into()))?
            .value;
        let head = head_of(
            &client_id,
            read.take_item(&keys::chain_head(&client_id)).as_ref(),
        )?;
        // Policy first: a caller it refuses learns nothing of what the client may have.
        self.authorize(&principal, Action::RequestIssuance(&client, &params))
            .await?;
        params.check_against(&client)?;

        let request_id = request_id_for(&client_id, &principal.client_id, key);
        let request = pending_request(&principal, request_id, &client, params, now);
        let state_machine_arn = self.issue.state_machine_arn.clone();
        self.submit(
            req,
            &principal,
            request,
            (WorkflowKind::Issue, &state_machine_arn),
            Some(head),
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
        (workflow, state_machine_arn): (WorkflowKind, &str),
        head: Option<ChainHead>,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let created = self.repo.create_request(&request, head).await?;
        let (first, stored, head) = match created {
            Created::New(head) => (true, request, Some(head)),
            Created::Existing(existing) if existing.fingerprint != request.fingerprint => {
                return Err(UserError::IdempotencyKeyReused.into());
            }
            Created::Existing(existing) => (false, *existing, None),
        };
        let mut queued = false;
        if stored.status == RequestStatus::Pending {
            // Also on a replay: if the first caller died between storing and starting, this
            // starts it; otherwise the execution name makes it a no-op.
            // A new request travels with its input, with the chain head it left: the workflow
            // reads neither back.
            let request = RequestRef {
                request_id: stored.request_id,
                client_id: stored.client_id,
                request: first.then(|| Box::new(stored.clone())),
                audit_head: head,
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
        let outcome = self.wait_for(&stored, wait).await?;
        let settled = &outcome.request;
        tracing::info!(request_id = %settled.request_id, client_id = %settled.client_id, first, status = settled.status.as_str(), workflow = ?workflow, "credential requested");
        self.answer_issuance(outcome, first, principal, now).await
    }

    /// Waits up to `wait` for `request` to settle (or to wait for approvers), looking when it
    /// should be done ([`issuance_wait`]); answers the last look, which read with the request
    /// what answering it needs.
    async fn wait_for(
        &self,
        request: &IssuanceRequest,
        wait: Duration,
    ) -> Result<IssuanceOutcome, Error> {
        let id = &request.request_id;
        let credential_id = credential_id_for(id, request.attempt);
        let start = tokio::time::Instant::now();
        let mut last = None;
        for at in issuance_wait::schedule(self.issuance_timing.expected(), wait) {
            tokio::time::sleep_until(start + at).await;
            let outcome = self
                .repo
                .issuance_outcome(id, &request.client_id, &credential_id)
                .await?
                .ok_or_else(|| SystemFault::Internal(format!("request {id} vanished")))?;
            // A held request waits for people: no use waiting here.
            let current = &outcome.request;
            if current.status.is_final() || current.status == RequestStatus::PendingApproval {
                self.learn_from(&outcome);
                return Ok(outcome);
            }
            last = Some(outcome);
        }
        last.ok_or_else(|| SystemFault::Internal("a wait that never looked".into()).into())
    }

    /// Learns how long an issuance took from request to activation, when it completed.
    fn learn_from(&self, outcome: &IssuanceOutcome) {
        let took = outcome
            .credential
            .as_ref()
            .and_then(|c| c.issued_at)
            .map(|issued| issued - outcome.request.requested_at)
            .and_then(|d| Duration::try_from(d).ok());
        if let Some(took) = took {
            self.issuance_timing.observe(took);
        }
    }

    /// 201 with the secret for the caller that created a completed request; the same answer
    /// without the secret for replays; 202 while pending; the problem if it failed.
    async fn answer_issuance(
        &self,
        outcome: IssuanceOutcome,
        first: bool,
        principal: &Principal,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let request = &outcome.request;
        let mut response = match request.status {
            RequestStatus::Completed => {
                let credential_id = request.credential_id;
                // The credential read with the request, if it is the one the request names.
                let read_expiry = outcome
                    .credential
                    .as_ref()
                    .filter(|c| Some(c.credential_id) == credential_id)
                    .map(|c| c.expires_at);
                // A client with a vault never gets its secret over HTTP.
                let client_secret = if first && request.delivery.is_none() {
                    let copy = outcome.pickup.clone();
                    match self
                        .hand_over(request, copy, Some(outcome.head.clone()), principal, now)
                        .await
                    {
                        Ok(secret) => Some(secret),
                        Err(Error::User(UserError::Gone(_))) => None,
                        Err(e) => return Err(e),
                    }
                } else {
                    None
                };
                let expires_at = match read_expiry {
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
    /// Opens the pickup copy read with the request and takes it (once, audited): the secret.
    /// A copy that is gone, expired or of another credential is `Gone`. `head` is the client's
    /// chain head, read with the copy.
    async fn hand_over(
        &self,
        request: &IssuanceRequest,
        copy: Option<PickupCopy>,
        head: Option<ChainHead>,
        principal: &Principal,
        now: OffsetDateTime,
    ) -> Result<ClientSecret, Error> {
        let copy = copy
            .filter(|c| c.expires_at > now && Some(c.credential_id) == request.credential_id)
            .ok_or_else(|| UserError::Gone(format!("the secret of {}", request.request_id)))?;
        let secret = copy.open(&self.kms, &self.issue.secrets_key_id).await?;
        self.repo
            .picked_up(request, &copy, &principal.actor(), now, head)
            .await?;
        Ok(secret)
    }

    pub(crate) async fn take_secret(
        &self,
        request: &IssuanceRequest,
        principal: &Principal,
        now: OffsetDateTime,
    ) -> Result<(ClientSecret, OffsetDateTime), Error> {
        let copy: PickupCopy = self.repo.pickup_copy(request, now).await?;
        let secret = copy.open(&self.kms, &self.issue.secrets_key_id).await?;
        self.repo
            .picked_up(request, &copy, &principal.actor(), now, None)
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
