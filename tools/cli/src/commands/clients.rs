//! `clavis clients …`.

use serde_json::{Value, json};

use crate::api::path_id;
use crate::args::ClientsCommand;
use crate::commands::{Ctx, pages, print_list, print_one};
use crate::error::CliResult;
use crate::output::Column;

const COLUMNS: &[Column<'_>] = &[
    ("CLIENT", "client_id"),
    ("NAME", "name"),
    ("ENV", "environment"),
    ("TIER", "tier"),
    ("STATUS", "status"),
    ("SCOPES", "allowed_scopes"),
    ("OWNER", "owner"),
];

/// The fields `show` prints first.
pub const FIELDS: &[&str] = &[
    "client_id",
    "name",
    "status",
    "environment",
    "tier",
    "allowed_scopes",
    "allowed_audiences",
    "owner",
    "created_at",
];

/// Runs a `clients` command.
pub async fn run(ctx: &Ctx, command: ClientsCommand) -> CliResult {
    let answer: Value = match command {
        ClientsCommand::Create {
            name,
            environment,
            tier,
            scopes,
            audiences,
            auto_rotate,
            delivery_secret_arn,
        } => {
            let mut body = json!({
                "name": name,
                "environment": environment,
                "tier": tier,
                "allowed_scopes": scopes,
                "allowed_audiences": audiences,
            });
            if auto_rotate {
                body["auto_rotate"] = json!(true);
            }
            if let Some(arn) = delivery_secret_arn {
                body["delivery"] = json!({"kind": "aws_secrets_manager", "secret_arn": arn});
            }
            ctx.api.post("/v1/clients", &body).await?
        }
        ClientsCommand::List {
            status,
            environment,
            owner,
            paging,
        } => {
            let filters = [
                ("status", status),
                ("environment", environment),
                ("owner", owner),
            ];
            let (items, next) = pages(&ctx.api, "/v1/clients", &filters, &paging, 100).await?;
            print_list(ctx.format, items, next, COLUMNS);
            return Ok(());
        }
        ClientsCommand::Show { client_id } => {
            let id = path_id("client", &client_id)?;
            ctx.api.get(&format!("/v1/clients/{id}")).await?
        }
        ClientsCommand::Update {
            client_id,
            reason,
            name,
            tier,
            scopes,
            audiences,
            auto_rotate,
        } => {
            let id = path_id("client", &client_id)?;
            let mut body = json!({ "reason": reason });
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            if let Some(tier) = tier {
                body["tier"] = json!(tier);
            }
            if !scopes.is_empty() {
                body["allowed_scopes"] = json!(scopes);
            }
            if !audiences.is_empty() {
                body["allowed_audiences"] = json!(audiences);
            }
            if let Some(auto_rotate) = auto_rotate {
                body["auto_rotate"] = json!(auto_rotate);
            }
            ctx.api.patch(&format!("/v1/clients/{id}"), &body).await?
        }
        ClientsCommand::Revoke { client_id, reason } => {
            let id = path_id("client", &client_id)?;
            let path = format!("/v1/clients/{id}/revoke");
            ctx.api.post(&path, &json!({ "reason": reason })).await?
        }
        ClientsCommand::Suspend { client_id, reason } => {
            let id = path_id("client", &client_id)?;
            let path = format!("/v1/clients/{id}/suspend");
            ctx.api.post(&path, &json!({ "reason": reason })).await?
        }
        ClientsCommand::Resume { client_id, reason } => {
            let id = path_id("client", &client_id)?;
            let path = format!("/v1/clients/{id}/resume");
            ctx.api.post(&path, &json!({ "reason": reason })).await?
        }
    };
    print_one(ctx.format, &answer, FIELDS);
    Ok(())
}
