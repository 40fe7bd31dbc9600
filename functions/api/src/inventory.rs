//! Inventory over HTTP: `GET /v1/clients` and `GET /v1/clients/{client_id}/credentials`, paged
//! (`limit`, `cursor` → `{items, next}`) and filtered, read from indexes. Each item is decided
//! by policy like a single read, so a listing never shows what the caller could not read alone.

use clavis_aws::dynamo::inventory::ClientFilter;
use clavis_core::client::{Client, ClientStatus, Environment};
use clavis_core::ids::ClientId;
use clavis_core::lifecycle::CredentialState;
use clavis_core::{Error, FieldViolation, UserError};
use clavis_policy::Action;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use time::OffsetDateTime;

use crate::app::{App, json};
use crate::auth::Principal;
use crate::query::Query;
use crate::views::CredentialView;

/// Items per page when the caller names no `limit`.
pub const DEFAULT_LIMIT: i32 = 50;
/// Largest page (one `BatchGetItem` holds 100 keys).
pub const MAX_LIMIT: i32 = 100;
/// Longest `owner` filter.
const MAX_OWNER_LEN: usize = 128;

/// One page of a listing.
#[derive(Debug, Serialize)]
pub struct PageView<T> {
    /// This page's items (fewer than `limit` when a filter dropped some).
    pub items: Vec<T>,
    /// The cursor of the next page; absent at the end.
    pub next: Option<String>,
}

impl App {
    /// `GET /v1/clients?status=&environment=&owner=&limit=&cursor=`.
    pub(crate) async fn list_clients(
        &self,
        req: &Request,
        principal: &Principal,
    ) -> Result<Response<Body>, Error> {
        let query = Query::of(req);
        let limit = query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
        let filter = ClientFilter {
            status: query.one_of::<ClientStatus>("status", &["active", "suspended", "revoked"])?,
            environment: query.one_of::<Environment>("environment", &["dev", "staging", "prod"])?,
            owner: query.text("owner")?,
        };
        if filter
            .owner
            .as_ref()
            .is_some_and(|o| o.is_empty() || o.len() > MAX_OWNER_LEN)
        {
            return Err(UserError::InvalidQuery(vec![FieldViolation::new(
                "owner",
                format!("must be 1 to {MAX_OWNER_LEN} characters"),
            )])
            .into());
        }
        let cursor = query.text("cursor")?;
        self.policy_in_force().await?;
        let page = self
            .repo
            .list_clients(&filter, limit, cursor.as_deref())
            .await?;
        let items: Vec<Client> = page
            .items
            .into_iter()
            .filter(|c| self.decide(principal, Action::ReadClient(c)).is_ok())
            .collect();
        answer_page(items, page.next)
    }

    /// `GET /v1/clients/{client_id}/credentials?status=&limit=&cursor=`.
    pub(crate) async fn list_client_credentials(
        &self,
        req: &Request,
        principal: &Principal,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let not_found = || UserError::NotFound("client".into());
        let client_id: ClientId = client_id.parse().map_err(|_| not_found())?;
        let query = Query::of(req);
        let limit = query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
        let status = query.one_of::<CredentialState>(
            "status",
            &[
                "requested",
                "pending_approval",
                "approved",
                "active",
                "expired",
                "revoked",
                "denied",
                "failed",
            ],
        )?;
        let cursor = query.text("cursor")?;
        let client = self
            .repo
            .get_client(&client_id, false)
            .await?
            .ok_or_else(not_found)?
            .value;
        self.authorize(principal, Action::ReadClient(&client))
            .await?;
        let page = self
            .repo
            .list_credentials(&client_id, status, limit, cursor.as_deref())
            .await?;
        let items: Vec<CredentialView> = page
            .items
            .into_iter()
            .filter(|c| self.decide(principal, Action::ReadCredential(c)).is_ok())
            .map(|c| CredentialView::at(c, now))
            .collect();
        answer_page(items, page.next)
    }
}

/// 200 with one page of `items`.
fn answer_page<T: Serialize>(items: Vec<T>, next: Option<String>) -> Result<Response<Body>, Error> {
    json(200, &PageView { items, next })
}
