//! The request handler: route → authenticate → parse → decide → persist → answer.

use clavis_aws::dynamo::Repository;
use clavis_aws::dynamo::together::ReadTogether;
use clavis_aws::kms::Kms;
use clavis_aws::workflows::Launcher;
use clavis_core::client::NewClient;
use clavis_core::ids::ClientId;
use clavis_core::{Error, UserError, scopes};
use clavis_lambda::body;
use clavis_lambda::governance::Governance;
use clavis_lambda::problem::Problem;
use clavis_policy::Action;
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use std::time::Instant;
use time::OffsetDateTime;

use crate::auth::{self, Principal};
use crate::client_revocation::RevokeClientConfig;
use crate::issuance::IssueConfig;
use crate::oauth::{OAuthConfig, PublishedKeys};
use crate::routes::{Matched, NoRoute, Route, Router};

/// The `Route` dimension of requests no route matched.
const UNMATCHED: &str = "Unmatched";
/// The scopes that may read the inventory (the coarse gate; policy decides).
const INVENTORY_READERS: [&str; 2] = [scopes::ADMIN, scopes::AUDITOR];
/// The scopes that may see approvals (the coarse gate; policy decides).
const APPROVAL_READERS: [&str; 3] = [scopes::APPROVER, scopes::ADMIN, scopes::AUDITOR];

/// Everything a request needs, built once per container.
pub struct App {
    pub(crate) repo: Repository,
    pub(crate) kms: Kms,
    pub(crate) launcher: Launcher,
    pub(crate) issue: IssueConfig,
    pub(crate) revoke_client: RevokeClientConfig,
    pub(crate) oauth: OAuthConfig,
    pub(crate) keys: PublishedKeys,
    /// Decides every operator request (the route scopes are only a coarse first gate).
    pub(crate) governance: Governance,
    /// Where `GET /v1/status` reads from (none: the route answers a fault).
    pub(crate) status: Option<crate::status::StatusConfig>,
    /// Where `POST /v1/replays` starts runs (none: the route answers a fault).
    pub(crate) replay: Option<crate::replays::ReplayConfig>,
    /// How long this container's issuances take: when its wait looks.
    pub(crate) issuance_timing: crate::issuance_wait::IssuanceTiming,
    router: Router,
}

impl App {
    /// The API over its adapters, deciding by `governance`; every audit record it writes
    /// names the policy version that decided.
    pub fn new(
        repo: Repository,
        kms: Kms,
        launcher: Launcher,
        issue: IssueConfig,
        revoke_client: RevokeClientConfig,
        oauth: OAuthConfig,
        governance: Governance,
    ) -> Self {
        Self {
            repo: repo.with_policy_version(governance.version()),
            governance,
            kms,
            launcher,
            issue,
            revoke_client,
            oauth,
            keys: PublishedKeys::default(),
            status: None,
            replay: None,
            issuance_timing: crate::issuance_wait::IssuanceTiming::default(),
            router: Router::new(),
        }
    }

    /// The same, starting replay runs through `replay`.
    pub fn with_replay(mut self, replay: crate::replays::ReplayConfig) -> Self {
        self.replay = Some(replay);
        self
    }

    /// The same, answering `GET /v1/status` from `status`.
    pub fn with_status(mut self, status: crate::status::StatusConfig) -> Self {
        self.status = Some(status);
        self
    }

    /// Answers one request; never fails: errors become problem responses.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let request_id = request_id(&req);
        let path = match req.raw_http_path() {
            "" => req.uri().path().to_owned(),
            p => p.to_owned(),
        };
        let method = req.method().clone();
        let started = Instant::now();
        let (route, result) = match self.router.at(&method, &path) {
            Ok(matched) => (matched.route.name(), self.dispatch(&req, &matched).await),
            Err(NoRoute::NotFound) => (
                UNMATCHED,
                Err(UserError::NotFound(format!("route {path}")).into()),
            ),
            Err(NoRoute::MethodNotAllowed) => (UNMATCHED, Err(UserError::MethodNotAllowed.into())),
        };
        let response =
            result.unwrap_or_else(|e| Problem::from_error(&e, &path, &request_id).into_response());
        let status = response.status().as_u16();
        clavis_lambda::metrics::api_answered(route, status, started.elapsed());
        tracing::info!(
            request_id,
            method = %method,
            path,
            route,
            status,
            aws_calls = %clavis_lambda::telemetry::aws_calls(),
            "request"
        );
        response
    }

    async fn dispatch(&self, req: &Request, matched: &Matched) -> Result<Response<Body>, Error> {
        let now = OffsetDateTime::now_utc();
        match matched.route {
            Route::Health => json(200, &serde_json::json!({"status": "ok"})),
            Route::RegisterClient => {
                let principal = self.operator(req, scopes::ADMIN, now).await?;
                let new: NewClient =
                    body::parse_json(req.headers(), req.body(), body::DEFAULT_LIMIT)?;
                let client = new.validate(
                    ClientId::generate(),
                    &principal.actor(),
                    &self.issue.delivery_prefix,
                    now,
                )?;
                self.authorize(&principal, Action::RegisterClient(&client))
                    .await?;
                self.repo
                    .register_client(&client, &principal.actor())
                    .await?;
                tracing::info!(client_id = %client.client_id, actor = %principal.client_id, "client registered");
                let mut resp = json(201, &client)?;
                if let Ok(v) = format!("/v1/clients/{}", client.client_id).parse() {
                    resp.headers_mut().insert(LOCATION, v);
                }
                Ok(resp)
            }
            Route::ListClients => {
                let principal = self.operator_any(req, &INVENTORY_READERS, now).await?;
                self.list_clients(req, &principal).await
            }
            Route::Status => {
                let principal = self
                    .operator_any(req, &[scopes::ADMIN, scopes::AUDITOR], now)
                    .await?;
                self.stack_status(&principal).await
            }
            Route::StartReplay => {
                let principal = self.operator(req, scopes::ADMIN, now).await?;
                self.start_replay(req, &principal, now).await
            }
            Route::GetReplay => {
                let principal = self
                    .operator_any(req, &[scopes::ADMIN, scopes::AUDITOR], now)
                    .await?;
                self.get_replay(&principal, param(matched, "replay_id"))
                    .await
            }
            Route::UpdateClient => {
                let principal = self.operator(req, scopes::ADMIN, now).await?;
                self.update_client(req, &principal, param(matched, "client_id"), now)
                    .await
            }
            Route::ListClientCredentials => {
                let principal = self.operator_any(req, &INVENTORY_READERS, now).await?;
                self.list_client_credentials(req, &principal, param(matched, "client_id"), now)
                    .await
            }
            Route::SuspendClient | Route::ResumeClient => {
                let suspend = matched.route == Route::SuspendClient;
                let scope = if suspend {
                    scopes::REVOKER
                } else {
                    scopes::ADMIN
                };
                let principal = self.operator(req, scope, now).await?;
                self.change_standing(req, &principal, param(matched, "client_id"), suspend, now)
                    .await
            }
            Route::GetClient => {
                let principal = self.operator_any(req, &INVENTORY_READERS, now).await?;
                let not_found = || UserError::NotFound("client".into());
                let id: ClientId = matched
                    .param("client_id")
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(not_found)?;
                let client = self
                    .repo
                    .get_client(&id, false)
                    .await?
                    .ok_or_else(not_found)?;
                self.authorize(&principal, Action::ReadClient(&client.value))
                    .await?;
                json(200, &client.value)
            }
            Route::RevokeClient => {
                let principal = self.operator(req, scopes::REVOKER, now).await?;
                self.revoke_client(req, &principal, param(matched, "client_id"), now)
                    .await
            }
            Route::RequestCredential => {
                // Authenticated inside: the client asked for is read with the caller.
                self.request_credential(req, param(matched, "client_id"), now)
                    .await
            }
            Route::GetRequest => {
                let principal = self
                    .operator_any(
                        req,
                        &[
                            scopes::ISSUER,
                            scopes::ADMIN,
                            scopes::APPROVER,
                            scopes::AUDITOR,
                        ],
                        now,
                    )
                    .await?;
                self.get_request(&principal, param(matched, "request_id"))
                    .await
            }
            Route::PickupSecret => {
                // Issuers, and operators collecting their own rotation's secret: policy decides.
                let principal = self.operator_any(req, &scopes::ALL, now).await?;
                self.pickup_secret(&principal, param(matched, "request_id"), now)
                    .await
            }
            Route::GetCredential => {
                let principal = self
                    .operator_any(
                        req,
                        &[
                            scopes::ISSUER,
                            scopes::ADMIN,
                            scopes::REVOKER,
                            scopes::AUDITOR,
                        ],
                        now,
                    )
                    .await?;
                self.get_credential(&principal, param(matched, "credential_id"), now)
                    .await
            }
            Route::RevokeCredential => {
                let principal = self.operator(req, scopes::REVOKER, now).await?;
                self.revoke_credential(req, &principal, param(matched, "credential_id"), now)
                    .await
            }
            Route::RotateCredential => {
                // Issuers, and any operator rotating its own credential: policy decides.
                let principal = self.operator_any(req, &scopes::ALL, now).await?;
                self.rotate_credential(req, &principal, param(matched, "credential_id"), now)
                    .await
            }
            Route::SuccessorSecret => {
                // Any client, authenticated with the credential being rotated: checked inside.
                self.successor_secret(req, param(matched, "credential_id"), now)
                    .await
            }
            Route::ListRevocations => {
                let principal = self.operator(req, scopes::REGISTRY, now).await?;
                self.authorize(&principal, Action::ReadRegistry).await?;
                self.list_revocations(req).await
            }
            Route::RevocationSnapshot => {
                let principal = self.operator(req, scopes::REGISTRY, now).await?;
                self.authorize(&principal, Action::ReadRegistry).await?;
                self.revocation_snapshot(req, now).await
            }
            Route::ListApprovals => {
                let principal = self.operator_any(req, &APPROVAL_READERS, now).await?;
                self.list_approvals(req, &principal).await
            }
            Route::GetApproval => {
                let principal = self.operator_any(req, &APPROVAL_READERS, now).await?;
                self.get_approval(&principal, param(matched, "approval_id"))
                    .await
            }
            Route::Approve | Route::Deny => {
                let principal = self.operator(req, scopes::APPROVER, now).await?;
                self.decide_approval(
                    req,
                    &principal,
                    param(matched, "approval_id"),
                    matched.route == Route::Approve,
                    now,
                )
                .await
            }
            Route::AccessReview => {
                let principal = self.operator_any(req, &INVENTORY_READERS, now).await?;
                self.access_review(req, &principal, now).await
            }
            Route::ExportAudit => {
                let principal = self.operator(req, scopes::AUDITOR, now).await?;
                self.export_audit(&principal, req).await
            }
            Route::Introspect => {
                let principal = self.operator(req, scopes::INTROSPECT, now).await?;
                self.authorize(&principal, Action::Introspect).await?;
                self.introspect(req, now).await
            }
            Route::Token => self.token(req, now).await,
            Route::Jwks => self.jwks().await,
            Route::Metadata => self.metadata(),
        }
    }

    async fn operator(
        &self,
        req: &Request,
        scope: &str,
        now: OffsetDateTime,
    ) -> Result<Principal, Error> {
        self.operator_any(req, &[scope], now).await
    }

    /// The caller, if it holds one of `scopes` (the coarse gate before the policy decides).
    async fn operator_any(
        &self,
        req: &Request,
        scopes: &[&str],
        now: OffsetDateTime,
    ) -> Result<Principal, Error> {
        let principal = self.authenticate(req, now).await?;
        principal.require_any(scopes)?;
        Ok(principal)
    }

    /// The caller, by HTTP Basic (an operator credential's id and secret) or by a bearer
    /// access token for the audience `clavis`; either way its credential is read consistently,
    /// so a revocation takes effect the moment it commits.
    pub(crate) async fn authenticate(
        &self,
        req: &Request,
        now: OffsetDateTime,
    ) -> Result<Principal, Error> {
        Ok(self.authenticate_reading(req, now, &[]).await?.0)
    }

    /// [`App::authenticate`], with the items at `also` read in the same round trip as the
    /// caller's credential (what the route needs next).
    pub(crate) async fn authenticate_reading(
        &self,
        req: &Request,
        now: OffsetDateTime,
        also: &[(String, String)],
    ) -> Result<(Principal, ReadTogether), Error> {
        match auth::bearer_token(req.headers()) {
            None => {
                auth::authenticate(
                    &self.repo,
                    req.headers(),
                    now,
                    self.oauth.use_resolution,
                    also,
                )
                .await
            }
            Some(token) => {
                let verified = self
                    .verify_own_token(token, Some(scopes::CLAVIS_AUDIENCE))
                    .await?
                    .ok_or(UserError::Unauthenticated)?;
                auth::token_principal(&self.repo, &verified, now, also).await
            }
        }
    }
}

/// A path parameter the route table guarantees (empty if it is somehow absent: then the id
/// does not parse and the answer is 404).
fn param<'a>(matched: &'a Matched, name: &str) -> &'a str {
    matched.param(name).unwrap_or_default()
}

/// A JSON answer.
pub(crate) fn json<T: Serialize>(status: u16, value: &T) -> Result<Response<Body>, Error> {
    let body = serde_json::to_string(value)
        .map_err(|e| clavis_core::SystemFault::Internal(format!("cannot encode answer: {e}")))?;
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .header(CACHE_CONTROL, "no-store")
        .body(Body::Text(body))
        .map_err(|e| clavis_core::SystemFault::Internal(format!("cannot build answer: {e}")).into())
}

/// The correlation id: API Gateway's request id if there is one, else Lambda's.
fn request_id(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
    .or_else(|| req.lambda_context_ref().map(|c| c.request_id.clone()))
    .unwrap_or_else(|| "unknown".to_owned())
}
