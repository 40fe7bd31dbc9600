//! Out-of-band approval over HTTP: approvers list what waits, read one approval, and approve
//! or deny it with a reason. The policy decides who may (separation of duties: not the
//! requester, not an operator the requester sponsored, each approver once); the decision
//! commits with its audit record, then resumes the held execution through its task token,
//! which never leaves the server side.

use std::collections::BTreeSet;

use clavis_aws::workflows::Resumed;
use clavis_core::approval::{Approval, ApprovalStatus, DecisionBody, Outcome, Vote};
use clavis_core::ids::{ApprovalId, ClientId, RequestId};
use clavis_core::request::RequestProblem;
use clavis_core::workflow::APPROVAL_DENIED;
use clavis_core::{Error, UserError};
use clavis_lambda::body;
use clavis_policy::{Action, Sponsors};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use time::OffsetDateTime;

use crate::app::{App, json};
use crate::auth::Principal;
use crate::query::Query;

/// What deciding needs to know of the requester.
struct Standing {
    /// Its credential is usable and its client active.
    may_ask: bool,
    /// Who registered its client or requested its credential.
    sponsors: BTreeSet<String>,
}

/// Default page size of `GET /v1/approvals`.
const DEFAULT_LIMIT: i32 = 25;
/// Largest page size.
const MAX_LIMIT: i32 = 100;

/// One page of pending approvals.
#[derive(Debug, Serialize)]
struct ApprovalPageView {
    items: Vec<Approval>,
    next: Option<String>,
}

impl App {
    /// `GET /v1/approvals?limit=&cursor=`: pending approvals the caller may read.
    pub(crate) async fn list_approvals(
        &self,
        req: &Request,
        principal: &Principal,
    ) -> Result<Response<Body>, Error> {
        let query = Query::of(req);
        let limit = query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
        let cursor = query.text("cursor")?;
        self.policy_in_force().await?;
        let page = self
            .repo
            .pending_approvals(limit, cursor.as_deref())
            .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for approval in page.items {
            if self
                .governance
                .decide(principal.operator(), Action::ReadApproval(&approval))
                .is_ok()
            {
                items.push(approval);
            }
        }
        json(
            200,
            &ApprovalPageView {
                items,
                next: page.next,
            },
        )
    }

    /// `GET /v1/approvals/{approval_id}`.
    pub(crate) async fn get_approval(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<Response<Body>, Error> {
        let approval = self.find_approval(id).await?.value;
        self.authorize(principal, Action::ReadApproval(&approval))
            .await?;
        json(200, &approval)
    }

    /// `POST /v1/approvals/{approval_id}/approve|deny` with `{reason}`.
    pub(crate) async fn decide_approval(
        &self,
        req: &Request,
        principal: &Principal,
        id: &str,
        approve: bool,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let reason =
            body::parse_json::<DecisionBody>(req.headers(), req.body(), body::DEFAULT_LIMIT)?
                .validate()?;
        let approval = self.find_approval(id).await?;
        if let Some(answer) = self
            .repeated_decision(&approval.value, principal, approve)
            .await?
        {
            return Ok(answer);
        }
        if approval.value.status != ApprovalStatus::Pending {
            return Err(UserError::Conflict(format!(
                "approval {} is {}; only a pending approval can be decided",
                approval.value.approval_id,
                approval.value.status.as_str()
            ))
            .into());
        }
        if approval.value.deadline <= now {
            return Err(UserError::Conflict(format!(
                "approval {} passed its deadline",
                approval.value.approval_id
            ))
            .into());
        }
        let requester = self.requester_standing(&approval.value, now).await?;
        let sponsors = Sponsors {
            approver: self
                .sponsors(
                    &principal.registered_by,
                    principal.credential_request.as_ref(),
                )
                .await?,
            requester: requester.sponsors,
        };
        let action = if approve {
            Action::Approve(&approval.value, &sponsors)
        } else {
            Action::Deny(&approval.value, &sponsors)
        };
        self.authorize(principal, action).await?;
        if approve && !requester.may_ask {
            return Err(UserError::Conflict(format!(
                "{} may no longer request credentials: deny this approval instead",
                approval.value.requested_by
            ))
            .into());
        }
        let workflows = self.launcher.workflows();
        let (decided, resumed) = if approve {
            let vote = Vote {
                approver: principal.actor(),
                at: now,
                reason,
            };
            let (decided, token) = self.repo.vote(&approval, &vote, now).await?;
            let resumed = match token {
                Some(token) => {
                    let output = serde_json::json!({"approval_id": decided.approval_id});
                    Some(workflows.succeed_task(&token, &output.to_string()).await?)
                }
                None => None,
            };
            (decided, resumed)
        } else {
            let outcome = Outcome {
                by: principal.actor(),
                at: now,
                reason: reason.clone(),
            };
            let problem = RequestProblem {
                type_: "urn:clavis:problem:forbidden".into(),
                title: "Forbidden".into(),
                status: 403,
                detail: format!("denied by an approver: {reason}"),
            };
            let (decided, token) = self
                .repo
                .deny_approval(&approval, &outcome, &problem, now)
                .await?;
            let resumed = workflows
                .fail_task(&token, APPROVAL_DENIED, &reason)
                .await?;
            (decided, Some(resumed))
        };
        if resumed == Some(Resumed::Gone) {
            // Committed, but the execution no longer waits (its deadline passed meanwhile):
            // the workflow's own end (a timeout denial) stands for the request.
            tracing::warn!(approval_id = %decided.approval_id, "the held execution no longer waits");
        }
        tracing::info!(approval_id = %decided.approval_id, request_id = %decided.request_id, approve, status = decided.status.as_str(), "approval decided");
        json(200, &decided)
    }

    /// The same decision by the same approver again (its answer was lost, say): the
    /// execution is resumed again with the recorded outcome and the approval answered as it
    /// stands, so a failed resume can always be retried. `None` for anything else.
    async fn repeated_decision(
        &self,
        approval: &Approval,
        principal: &Principal,
        approve: bool,
    ) -> Result<Option<Response<Body>>, Error> {
        let actor = principal.actor();
        let workflows = self.launcher.workflows();
        let repeated = match (approval.status, approve) {
            (ApprovalStatus::Approved, true) if approval.approvers().contains(&actor) => {
                let token = self.repo.task_token(&approval.approval_id).await?;
                let output = serde_json::json!({"approval_id": approval.approval_id});
                workflows.succeed_task(&token, &output.to_string()).await?;
                true
            }
            (ApprovalStatus::Denied, false)
                if approval.outcome.as_ref().is_some_and(|o| o.by == actor) =>
            {
                let token = self.repo.task_token(&approval.approval_id).await?;
                let reason = approval
                    .outcome
                    .as_ref()
                    .map(|o| o.reason.clone())
                    .unwrap_or_default();
                workflows
                    .fail_task(&token, APPROVAL_DENIED, &reason)
                    .await?;
                true
            }
            _ => false,
        };
        if !repeated {
            return Ok(None);
        }
        tracing::info!(approval_id = %approval.approval_id, approve, "approval decision repeated");
        json(200, approval).map(Some)
    }

    /// Whether the requester could still ask for this request (its credential usable, its
    /// client active: an operator revoked during the hold gets nothing), and who sponsored it.
    async fn requester_standing(
        &self,
        approval: &Approval,
        now: OffsetDateTime,
    ) -> Result<Standing, Error> {
        let request = self
            .repo
            .get_request(&approval.request_id, true)
            .await?
            .ok_or_else(|| UserError::NotFound("request".into()))?
            .value;
        let Ok(requester) = request.requested_by.parse::<ClientId>() else {
            return Ok(Standing {
                may_ask: false,
                sponsors: BTreeSet::new(),
            });
        };
        let (credential, client) = self
            .repo
            .get_credential_and_client(&request.requested_with, &requester)
            .await?;
        let may_ask = match (&credential, &client) {
            (Some(c), Some(k)) => c.value.is_usable_for(&k.value, now),
            _ => false,
        };
        let sponsors = match client {
            Some(k) => {
                self.sponsors(
                    &k.value.owner,
                    credential.and_then(|c| c.value.request_id).as_ref(),
                )
                .await?
            }
            None => BTreeSet::new(),
        };
        Ok(Standing { may_ask, sponsors })
    }

    /// Who sponsored an operator: the one that registered its client (`registered_by`) and the
    /// one that requested its credential (the requester of `credential_request`).
    async fn sponsors(
        &self,
        registered_by: &str,
        credential_request: Option<&RequestId>,
    ) -> Result<BTreeSet<String>, Error> {
        let mut sponsors = BTreeSet::from([registered_by.to_owned()]);
        if let Some(request_id) = credential_request
            && let Some(request) = self.repo.get_request(request_id, true).await?
        {
            sponsors.insert(request.value.requested_by);
        }
        Ok(sponsors)
    }

    async fn find_approval(
        &self,
        id: &str,
    ) -> Result<clavis_aws::dynamo::Versioned<Approval>, Error> {
        let not_found = || UserError::NotFound("approval".into());
        let id: ApprovalId = id.parse().map_err(|_| not_found())?;
        Ok(self
            .repo
            .get_approval(&id, true)
            .await?
            .ok_or_else(not_found)?)
    }
}
