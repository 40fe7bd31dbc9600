//! `clavis login`, `logout`, `whoami`: storing a profile, after proving it gets a token.

use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;
use serde_json::json;

use crate::api::Api;
use crate::args::{LoginArgs, StackOperator};
use crate::commands::Ctx;
use crate::error::{CliError, CliResult};
use crate::output::{self, Format};
use crate::profile::{Profile, Store};
use crate::token;

/// What `--stack` reads from a local cloud's `stack.json`.
#[derive(Deserialize)]
struct StackFile {
    api_url: String,
    operator_client_id: String,
    operator_client_secret: String,
    approver_client_id: String,
    approver_client_secret: String,
}

/// Stores the profile `name` once its credential got a token.
pub async fn login(args: LoginArgs, store: &Store, name: &str, format: Format) -> CliResult {
    let profile = match &args.stack {
        Some(path) => from_stack(path, args.as_operator)?,
        None => {
            let api_url = args.api_url.clone().unwrap_or_default();
            let client_id = args.client_id.clone().unwrap_or_default();
            let secret = read_secret(&args)?;
            Profile {
                api_url: api_url.trim_end_matches('/').to_owned(),
                client_id,
                client_secret: secret,
                token: None,
            }
        }
    };
    let api = Api::new(profile, None)?;
    let token = api.fetch_token().await?;
    store.put(name, api.snapshot())?;
    let claims = token::claims(&token.access_token).unwrap_or_default();
    let answer = json!({
        "profile": name,
        "api_url": api.base_url(),
        "client_id": api.client_id(),
        "scope": claims.get("scope").cloned().unwrap_or_default(),
        "profiles_file": store.path().display().to_string(),
    });
    match format {
        Format::Json => output::json(&answer),
        Format::Table => crate::say!(
            "logged in as {} at {} (profile {name}; scopes: {})",
            api.client_id(),
            api.base_url(),
            output::cell(&answer, "scope")
        ),
    }
    Ok(())
}

fn from_stack(path: &Path, who: StackOperator) -> CliResult<Profile> {
    let bytes = std::fs::read(path).map_err(|e| {
        CliError::Usage(format!(
            "cannot read {}: {e} (is the local cloud up? `make dev`)",
            path.display()
        ))
    })?;
    let stack: StackFile = serde_json::from_slice(&bytes)
        .map_err(|e| CliError::Usage(format!("{} is not a stack.json: {e}", path.display())))?;
    let (client_id, client_secret) = match who {
        StackOperator::Operator => (stack.operator_client_id, stack.operator_client_secret),
        StackOperator::Approver => (stack.approver_client_id, stack.approver_client_secret),
    };
    Ok(Profile {
        api_url: stack.api_url.trim_end_matches('/').to_owned(),
        client_id,
        client_secret,
        token: None,
    })
}

fn read_secret(args: &LoginArgs) -> CliResult<String> {
    let secret = if let Some(path) = &args.secret_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
        text.lines().next().unwrap_or_default().to_owned()
    } else if let Some(var) = &args.secret_env {
        std::env::var(var)
            .map_err(|_| CliError::Usage(format!("the environment variable {var} is not set")))?
    } else if args.secret_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    } else {
        rpassword::prompt_password("client secret: ").map_err(|e| {
            CliError::Usage(format!(
                "no terminal to ask for the secret ({e}): use --secret-file, --secret-env or --secret-stdin"
            ))
        })?
    };
    let secret = secret.trim().to_owned();
    if secret.is_empty() {
        return Err(CliError::Usage("the secret is empty".to_owned()));
    }
    Ok(secret)
}

/// Forgets the profile `name`.
pub fn logout(store: &Store, name: &str) -> CliResult {
    if store.remove(name)? {
        eprintln!("profile {name} removed from {}", store.path().display());
        Ok(())
    } else {
        Err(CliError::Usage(format!("there is no profile {name}")))
    }
}

/// Says who the profile acts as, from a fresh token's claims.
pub async fn whoami(ctx: &Ctx) -> CliResult {
    let token = ctx.api.fetch_token().await?;
    let claims = token::claims(&token.access_token)?;
    let answer = json!({
        "api_url": ctx.api.base_url(),
        "client_id": ctx.api.client_id(),
        "scope": claims.get("scope").cloned().unwrap_or_default(),
        "credential_id": claims.get("credential_id").cloned().unwrap_or_default(),
        "token_expires_at": claims
            .get("exp")
            .and_then(serde_json::Value::as_i64)
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
    });
    match ctx.format {
        Format::Json => output::json(&answer),
        Format::Table => crate::say!(
            "{}",
            output::record(&answer, &["client_id", "api_url", "scope", "credential_id"])
        ),
    }
    Ok(())
}
