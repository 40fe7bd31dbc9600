//! Audit export: `GET /v1/audit?client_id=…&since=…&limit=…` answers a client's hash-chained
//! audit records as `application/x-ndjson`, one stored record per line, oldest first, exactly
//! as they were hashed, so an auditor can recompute every link (`scripts/verify-audit`).
//!
//! The chain head is read first and the page never goes past it, so an export is a consistent
//! prefix of the chain: `Clavis-Audit-Head: <seq> <hash>` says where the chain stood, and a
//! `Link: <…>; rel="next"` names the next page while the export has not reached it.

use clavis_core::ids::ClientId;
use clavis_core::{Error, FieldViolation, SystemFault, UserError};
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE, LINK};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::app::App;

/// Records per page when the caller names no `limit`.
pub const DEFAULT_LIMIT: usize = 1000;
/// The largest page.
pub const MAX_LIMIT: usize = 5000;
/// A page stops growing past this many bytes, well inside Lambda's 6 MB response limit (a
/// record with the largest scopes, audiences and justification runs to about 20 KB).
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// The header naming the chain head the export stops at.
pub const HEAD_HEADER: &str = "clavis-audit-head";

/// What an export asks for, checked.
#[derive(Debug, PartialEq, Eq)]
pub struct ExportQuery {
    /// Whose chain.
    pub client_id: ClientId,
    /// Records with `seq` above this.
    pub since: u64,
    /// At most this many.
    pub limit: usize,
}

impl ExportQuery {
    /// Reads `client_id` (required), `since` (default 0) and `limit`; every violation at once.
    pub fn parse(first: impl Fn(&str) -> Option<String>) -> Result<Self, UserError> {
        let mut violations = Vec::new();
        let client_id = match first("client_id") {
            None => {
                violations.push(FieldViolation::new("client_id", "is required"));
                None
            }
            Some(v) => v.parse::<ClientId>().map_or_else(
                |_| {
                    violations.push(FieldViolation::new("client_id", "is not a client id"));
                    None
                },
                Some,
            ),
        };
        let since = match first("since").map(|v| v.parse::<u64>()) {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                violations.push(FieldViolation::new("since", "must be a whole number"));
                0
            }
        };
        let limit = match first("limit").map(|v| v.parse::<usize>()) {
            None => DEFAULT_LIMIT,
            Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(_) => {
                violations.push(FieldViolation::new(
                    "limit",
                    format!("must be 1 to {MAX_LIMIT}"),
                ));
                DEFAULT_LIMIT
            }
        };
        match client_id {
            Some(client_id) if violations.is_empty() => Ok(Self {
                client_id,
                since,
                limit,
            }),
            _ => Err(UserError::InvalidQuery(violations)),
        }
    }
}

impl App {
    /// `GET /v1/audit`.
    pub(crate) async fn export_audit(
        &self,
        principal: &crate::auth::Principal,
        req: &Request,
    ) -> Result<Response<Body>, Error> {
        let params = req.query_string_parameters_ref();
        let query =
            ExportQuery::parse(|name| params.and_then(|q| q.first(name)).map(str::to_owned))?;
        self.authorize(
            principal,
            clavis_policy::Action::ExportAudit(&query.client_id),
        )
        .await?;
        // The stack's own chain (policy activations) belongs to no client.
        if query.client_id != clavis_core::audit::stack_chain()
            && self
                .repo
                .get_client(&query.client_id, false)
                .await?
                .is_none()
        {
            return Err(UserError::NotFound("client".into()).into());
        }
        let head = self.repo.chain_head(&query.client_id).await?;
        let records = self
            .repo
            .audit_page(&query.client_id, query.since, head.seq, query.limit)
            .await?;
        let mut body = String::new();
        let mut reached = query.since;
        for record in &records {
            if body.len() >= MAX_PAGE_BYTES {
                break;
            }
            body.push_str(
                &serde_json::to_string(record)
                    .map_err(|e| SystemFault::Internal(format!("cannot encode record: {e}")))?,
            );
            body.push('\n');
            reached = record.seq;
        }
        let mut response = Response::builder()
            .status(200)
            .header(CONTENT_TYPE, "application/x-ndjson")
            .header(CACHE_CONTROL, "no-store")
            .header(HEAD_HEADER, format!("{} {}", head.seq, head.hash));
        if reached < head.seq {
            response = response.header(
                LINK,
                format!(
                    "</v1/audit?client_id={}&since={reached}&limit={}>; rel=\"next\"",
                    query.client_id, query.limit
                ),
            );
        }
        tracing::info!(client_id = %query.client_id, since = query.since, through = reached, head = head.seq, "audit exported");
        response
            .body(Body::Text(body))
            .map_err(|e| SystemFault::Internal(format!("cannot build answer: {e}")).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Result<ExportQuery, UserError> {
        ExportQuery::parse(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn a_client_is_required_and_the_rest_has_defaults() {
        let id = ClientId::generate().to_string();
        let q = query(&[("client_id", &id)]).unwrap();
        assert_eq!((q.since, q.limit), (0, DEFAULT_LIMIT));
        let q = query(&[("client_id", &id), ("since", "7"), ("limit", "2")]).unwrap();
        assert_eq!((q.since, q.limit), (7, 2));
    }

    #[test]
    fn every_violation_is_named_at_once() {
        let Err(UserError::InvalidQuery(violations)) = query(&[("since", "-1"), ("limit", "0")])
        else {
            panic!("accepted");
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["client_id", "since", "limit"]);
        assert!(query(&[("client_id", "cli_nope")]).is_err());
        let id = ClientId::generate().to_string();
        assert!(query(&[("client_id", &id), ("limit", "5001")]).is_err());
    }
}
