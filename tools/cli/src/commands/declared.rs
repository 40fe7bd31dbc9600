//! `clavis plan` and `clavis apply`: a file of declared clients against the stack.

use std::path::Path;

use clavis_core::client::Client;
use serde_json::{Value, json};

use crate::args::Paging;
use crate::commands::{Ctx, pages};
use crate::declared::{self, ClientsFile, Step};
use crate::error::{CliError, CliResult};
use crate::output::Format;

/// `clavis plan -f FILE [--check]`.
pub async fn plan(ctx: &Ctx, file: &Path, check: bool) -> CliResult {
    let wanted = read(file)?;
    let steps = declared::plan(&wanted, &stack_clients(ctx).await?);
    print_plan(ctx.format, &steps);
    let [create, update, _, refused] = declared::summary(&steps);
    if check && steps.iter().any(Step::is_drift) {
        return Err(CliError::NotAsExpected(format!(
            "the stack differs from {}: {create} to create, {update} to update, {refused} refused",
            file.display()
        )));
    }
    Ok(())
}

/// `clavis apply -f FILE --reason WHY`.
pub async fn apply(ctx: &Ctx, file: &Path, reason: &str) -> CliResult {
    let wanted = read(file)?;
    let steps = declared::plan(&wanted, &stack_clients(ctx).await?);
    let refused: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Refused { name, why, .. } => Some(format!("{name}: {why}")),
            _ => None,
        })
        .collect();
    if !refused.is_empty() {
        print_plan(ctx.format, &steps);
        return Err(CliError::Usage(format!(
            "nothing was applied; {} cannot be:\n  {}",
            file.display(),
            refused.join("\n  ")
        )));
    }
    let mut done = Vec::new();
    for step in &steps {
        let outcome = match step {
            Step::Create { declared } => {
                let client = ctx
                    .api
                    .post("/v1/clients", &declared.registration())
                    .await?;
                report(ctx.format, "created", &client);
                json!({"action": "created", "client": client})
            }
            Step::Update {
                client_id, patch, ..
            } => {
                let mut body = json!({ "reason": reason });
                for (field, value) in patch {
                    body[field] = value.clone();
                }
                let client = ctx
                    .api
                    .patch(&format!("/v1/clients/{client_id}"), &body)
                    .await?;
                report(ctx.format, "updated", &client);
                json!({"action": "updated", "client": client})
            }
            Step::Unchanged { client_id, .. } => {
                json!({"action": "unchanged", "client_id": client_id})
            }
            Step::Refused { .. } => continue,
        };
        done.push(outcome);
    }
    let [create, update, unchanged, _] = declared::summary(&steps);
    match ctx.format {
        Format::Json => crate::output::json(&json!({ "applied": done })),
        Format::Table => {
            crate::say!("Applied: {create} created, {update} updated, {unchanged} unchanged.")
        }
    }
    Ok(())
}

fn read(file: &Path) -> CliResult<ClientsFile> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    declared::parse(&text, &file.display().to_string())
}

/// Every client of the stack, of any status.
async fn stack_clients(ctx: &Ctx) -> CliResult<Vec<Client>> {
    let all = Paging {
        limit: usize::MAX,
        cursor: None,
    };
    let (items, _) = pages(&ctx.api, "/v1/clients", &[], &all, 100).await?;
    items
        .into_iter()
        .map(|item| {
            serde_json::from_value(item).map_err(|e| {
                CliError::Fault(format!("the API listed a client this CLI cannot read: {e}"))
            })
        })
        .collect()
}

fn report(format: Format, action: &str, client: &Value) {
    if format == Format::Table {
        crate::say!(
            "{action} {} {}",
            client["client_id"].as_str().unwrap_or("?"),
            client["name"].as_str().unwrap_or("?")
        );
    }
}

fn list(value: &Value) -> String {
    crate::output::cell(&json!({ "v": value }), "v")
}

fn print_plan(format: Format, steps: &[Step]) {
    let [create, update, unchanged, refused] = declared::summary(steps);
    if format == Format::Json {
        crate::output::json(&json!({
            "steps": steps,
            "summary": {
                "create": create,
                "update": update,
                "unchanged": unchanged,
                "refused": refused,
            },
            "drift": steps.iter().any(Step::is_drift),
        }));
        return;
    }
    for step in steps {
        match step {
            Step::Create { declared } => crate::say!(
                "+ create     {} ({}, {}; scopes {}; audiences {})",
                declared.name,
                declared.environment.as_str(),
                declared.tier.as_str(),
                declared.allowed_scopes.join(" "),
                declared.allowed_audiences.join(" ")
            ),
            Step::Update {
                client_id,
                name,
                changes,
                ..
            } => {
                crate::say!("~ update     {client_id} {name}");
                for c in changes {
                    crate::say!("    {}: {} -> {}", c.field, list(&c.before), list(&c.after));
                }
            }
            Step::Unchanged { client_id, name } => {
                crate::say!("= unchanged  {client_id} {name}")
            }
            Step::Refused {
                client_id,
                name,
                why,
            } => {
                let id = client_id.map(|i| i.to_string()).unwrap_or_default();
                crate::say!("! refused    {id} {name}: {why}")
            }
        }
    }
    crate::say!(
        "Plan: {create} to create, {update} to update, {unchanged} unchanged, {refused} refused."
    );
}
