//! `GET /v1/access-review?unused_days=&limit=&cursor=`: per client (not revoked), its owner,
//! allowed scopes, active credentials with expiry and last use, and flags (unused,
//! over-privileged), page by page through the client directory. Each client is decided by
//! policy like a single read.

use clavis_aws::dynamo::inventory::ClientFilter;
use clavis_core::access_review::{
    ClientReview, DEFAULT_UNUSED_DAYS, MAX_UNUSED_DAYS, ReviewSummary, review,
};
use clavis_core::client::ClientStatus;
use clavis_core::{Error, FieldViolation, UserError};
use clavis_policy::Action;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use time::OffsetDateTime;

use crate::app::{App, json};
use crate::auth::Principal;
use crate::query::Query;

/// Clients per page when the caller names no `limit`.
const DEFAULT_LIMIT: i32 = 25;
/// Largest page: each client costs a query and a batch read.
const MAX_LIMIT: i32 = 50;

/// One page of the review.
#[derive(Debug, Serialize)]
struct ReviewPage {
    /// The review window, in days.
    unused_days: u32,
    /// This page's clients.
    items: Vec<ClientReview>,
    /// This page's counts.
    summary: ReviewSummary,
    /// The cursor of the next page; absent at the end.
    next: Option<String>,
}

impl App {
    /// `GET /v1/access-review`.
    pub(crate) async fn access_review(
        &self,
        req: &Request,
        principal: &Principal,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let query = Query::of(req);
        let limit = query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
        let unused_days = match query.text("unused_days")? {
            None => DEFAULT_UNUSED_DAYS,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=MAX_UNUSED_DAYS).contains(d))
                .ok_or_else(|| {
                    UserError::InvalidQuery(vec![FieldViolation::new(
                        "unused_days",
                        format!("must be 1 to {MAX_UNUSED_DAYS}"),
                    )])
                })?,
        };
        let cursor = query.text("cursor")?;
        self.policy_in_force().await?;
        let page = self
            .repo
            .list_clients(&ClientFilter::default(), limit, cursor.as_deref())
            .await?;
        let mut items = Vec::new();
        let mut summary = ReviewSummary::default();
        for client in page.items {
            if client.status == ClientStatus::Revoked
                || self.decide(principal, Action::ReadClient(&client)).is_err()
            {
                continue;
            }
            let credentials = self.repo.active_credentials(&client.client_id).await?;
            let reviewed = review(&client, &credentials, now, unused_days);
            summary.add(&reviewed);
            items.push(reviewed);
        }
        json(
            200,
            &ReviewPage {
                unused_days,
                items,
                summary,
                next: page.next,
            },
        )
    }
}
