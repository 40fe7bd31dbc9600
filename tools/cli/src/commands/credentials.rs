//! `clavis credentials …`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::path_id;
use crate::args::{CredentialsCommand, Waiting};
use crate::commands::requests::{SecretSink, settle};
use crate::commands::{Ctx, pages, print_list, print_one};
use crate::error::{CliError, CliResult};
use crate::output::Column;

const COLUMNS: &[Column<'_>] = &[
    ("CREDENTIAL", "credential_id"),
    ("STATUS", "status"),
    ("SCOPES", "scopes"),
    ("AUDIENCES", "audiences"),
    ("EXPIRES", "expires_at"),
    ("LAST USED", "last_used_at"),
];

const FIELDS: &[&str] = &[
    "credential_id",
    "client_id",
    "status",
    "scopes",
    "audiences",
    "issued_at",
    "expires_at",
    "renew_after",
    "last_used_at",
    "rotated_from",
    "rotated_to",
    "policy_version",
];

/// Runs a `credentials` command.
pub async fn run(ctx: &Ctx, command: CredentialsCommand) -> CliResult {
    match command {
        CredentialsCommand::Issue {
            client_id,
            scopes,
            audiences,
            ttl_seconds,
            justification,
            idempotency_key,
            approval_window,
            secret,
            waiting,
        } => {
            let id = path_id("client", &client_id)?;
            // A client with a delivery target gets its secret in its vault, never here.
            let client = ctx.api.get(&format!("/v1/clients/{id}")).await?;
            let sink = SecretSink::open(&secret, has_delivery(&client))?;
            let mut body = json!({
                "ttl_seconds": ttl_seconds,
                "scopes": scopes,
                "audiences": audiences,
                "justification": justification,
            });
            if let Some(w) = approval_window {
                body["approval_window_seconds"] = json!(w);
            }
            let path = format!("/v1/clients/{id}/credentials");
            submit(ctx, &path, &body, idempotency_key, sink, &waiting).await
        }
        CredentialsCommand::Rotate {
            credential_id,
            overlap_seconds,
            retire,
            drain_seconds,
            justification,
            idempotency_key,
            secret,
            waiting,
        } => {
            let id = path_id("credential", &credential_id)?;
            let credential = ctx.api.get(&format!("/v1/credentials/{id}")).await?;
            let client_id = credential["client_id"].as_str().unwrap_or_default();
            let client = ctx
                .api
                .get(&format!("/v1/clients/{}", path_id("client", client_id)?))
                .await?;
            let sink = SecretSink::open(&secret, has_delivery(&client))?;
            let mut body = json!({});
            let fields = [
                ("overlap_seconds", overlap_seconds.map(Value::from)),
                ("retire", retire.map(Value::from)),
                ("drain_seconds", drain_seconds.map(Value::from)),
                ("justification", justification.map(Value::from)),
            ];
            for (key, value) in fields {
                if let Some(value) = value {
                    body[key] = value;
                }
            }
            let path = format!("/v1/credentials/{id}/rotate");
            submit(ctx, &path, &body, idempotency_key, sink, &waiting).await
        }
        CredentialsCommand::List {
            client_id,
            status,
            paging,
        } => {
            let id = path_id("client", &client_id)?;
            let path = format!("/v1/clients/{id}/credentials");
            let (items, next) = pages(&ctx.api, &path, &[("status", status)], &paging, 100).await?;
            print_list(ctx.format, items, next, COLUMNS);
            Ok(())
        }
        CredentialsCommand::Show { credential_id } => {
            let id = path_id("credential", &credential_id)?;
            let answer = ctx.api.get(&format!("/v1/credentials/{id}")).await?;
            print_one(ctx.format, &answer, FIELDS);
            Ok(())
        }
        CredentialsCommand::Revoke {
            credential_id,
            reason,
        } => {
            let id = path_id("credential", &credential_id)?;
            let path = format!("/v1/credentials/{id}/revoke");
            let answer = ctx.api.post(&path, &json!({ "reason": reason })).await?;
            print_one(
                ctx.format,
                &answer,
                &["credential_id", "status", "revoked_at", "seq"],
            );
            Ok(())
        }
    }
}

fn has_delivery(client: &Value) -> bool {
    client.get("delivery").is_some_and(|d| !d.is_null())
}

/// Sends an idempotent issuance or rotation and settles its answer. The key is printed
/// first, so a run cut short can be repeated for the same request.
async fn submit(
    ctx: &Ctx,
    path: &str,
    body: &Value,
    key: Option<String>,
    sink: SecretSink,
    waiting: &Waiting,
) -> CliResult {
    let key = key.unwrap_or_else(|| format!("clavis-cli-{}", ulid::Ulid::generate()));
    eprintln!("idempotency key: {key} (repeat with --idempotency-key {key} for the same request)");
    let mut headers = vec![("idempotency-key", key)];
    if waiting.no_wait {
        headers.push(("prefer", "respond-async".to_owned()));
    }
    let answer = match ctx.api.send(Method::POST, path, Some(body), &headers).await {
        Ok(answer) => answer.json()?,
        Err(e) => {
            sink.discard();
            return Err(match e {
                CliError::Fault(text) => CliError::Fault(format!(
                    "{text}\n  the request may have been accepted: repeat the command with the \
                     same --idempotency-key to learn its outcome (never a second credential)"
                )),
                other => other,
            });
        }
    };
    let wait = (!waiting.no_wait).then(|| Duration::from_secs(waiting.timeout));
    settle(ctx, answer, sink, wait).await
}
