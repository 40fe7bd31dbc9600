//! `clavis approvals …`.

use serde_json::json;

use crate::api::path_id;
use crate::args::ApprovalsCommand;
use crate::commands::{Ctx, pages, print_list, print_one};
use crate::error::CliResult;
use crate::output::Column;

const COLUMNS: &[Column<'_>] = &[
    ("APPROVAL", "approval_id"),
    ("CLIENT", "client_id"),
    ("REQUESTED BY", "requested_by"),
    ("ENV", "environment"),
    ("SCOPES", "scopes"),
    ("RISK", "risk_score"),
    ("NEEDS", "approvals_required"),
    ("DEADLINE", "deadline"),
];

const FIELDS: &[&str] = &[
    "approval_id",
    "status",
    "request_id",
    "client_id",
    "requested_by",
    "environment",
    "tier",
    "scopes",
    "audiences",
    "ttl_seconds",
    "justification",
    "risk_score",
    "reasons",
    "approvals_required",
    "approvals",
    "deadline",
];

/// Runs an `approvals` command.
pub async fn run(ctx: &Ctx, command: ApprovalsCommand) -> CliResult {
    let answer = match command {
        ApprovalsCommand::List { paging } => {
            let (items, next) = pages(&ctx.api, "/v1/approvals", &[], &paging, 100).await?;
            print_list(ctx.format, items, next, COLUMNS);
            return Ok(());
        }
        ApprovalsCommand::Show { approval_id } => {
            let id = path_id("approval", &approval_id)?;
            ctx.api.get(&format!("/v1/approvals/{id}")).await?
        }
        ApprovalsCommand::Approve {
            approval_id,
            reason,
        } => {
            let id = path_id("approval", &approval_id)?;
            let path = format!("/v1/approvals/{id}/approve");
            ctx.api.post(&path, &json!({ "reason": reason })).await?
        }
        ApprovalsCommand::Deny {
            approval_id,
            reason,
        } => {
            let id = path_id("approval", &approval_id)?;
            let path = format!("/v1/approvals/{id}/deny");
            ctx.api.post(&path, &json!({ "reason": reason })).await?
        }
    };
    print_one(ctx.format, &answer, FIELDS);
    Ok(())
}
