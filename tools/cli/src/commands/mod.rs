//! One module per command group; this one picks the profile and dispatches.

pub mod approvals;
pub mod audit;
pub mod clients;
pub mod credentials;
pub mod declared;
pub mod login;
pub mod replay;
pub mod requests;
pub mod revocations;
pub mod status;
pub mod tokens;

use serde_json::{Value, json};

use crate::api::{Api, with_query};
use crate::args::{Cli, Command, Paging};
use crate::error::{CliError, CliResult};
use crate::output::{self, Column, Format};
use crate::profile::{self, Store};

/// What every command that talks to the API gets.
pub struct Ctx {
    /// The API, as the profile's operator.
    pub api: Api,
    /// How to print.
    pub format: Format,
}

/// Runs one command line.
pub async fn run(cli: Cli) -> CliResult {
    let format = cli.output;
    let name = cli.profile.as_str();
    match cli.command {
        Command::Login(args) => return login::login(args, &Store::from_env()?, name, format).await,
        Command::Logout => return login::logout(&Store::from_env()?, name),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "clavis", &mut std::io::stdout());
            return Ok(());
        }
        Command::Token(crate::args::TokenCommand::Decode) => return tokens::decode(format),
        _ => {}
    }
    let ctx = Ctx {
        api: open(name)?,
        format,
    };
    match cli.command {
        Command::Whoami => login::whoami(&ctx).await,
        Command::Status => status::run(&ctx).await,
        Command::Replay {
            queues,
            max_messages,
            no_wait,
            follow,
            timeout,
        } => {
            let timeout = std::time::Duration::from_secs(timeout);
            match follow {
                Some(id) => {
                    let id = crate::api::path_id("replay run", &id)?;
                    let mut run = ctx.api.get(&format!("/v1/replays/{id}")).await?;
                    replay::follow(&ctx, id, &mut run, timeout).await
                }
                None => replay::run(&ctx, queues, max_messages, no_wait, timeout).await,
            }
        }
        Command::Clients(c) => clients::run(&ctx, c).await,
        Command::Credentials(c) => credentials::run(&ctx, c).await,
        Command::Plan { file, check } => declared::plan(&ctx, &file, check).await,
        Command::Apply { file, reason } => declared::apply(&ctx, &file, &reason).await,
        Command::Requests(c) => requests::run(&ctx, c).await,
        Command::Approvals(c) => approvals::run(&ctx, c).await,
        Command::Revocations(c) => revocations::run(&ctx, c).await,
        Command::Audit(c) => audit::run(&ctx, c).await,
        Command::Token(crate::args::TokenCommand::Get { audience, scopes }) => {
            tokens::get(&ctx, audience.as_deref(), &scopes).await
        }
        Command::Token(crate::args::TokenCommand::Decode) => Ok(()),
        Command::Login(_) | Command::Logout | Command::Completions { .. } => Ok(()),
    }
}

/// The API of the profile `name`, or of the `CLAVIS_*` variables.
fn open(name: &str) -> CliResult<Api> {
    if let Some(profile) = profile::from_env_vars() {
        return Api::new(profile, None);
    }
    let store = Store::from_env()?;
    match store.get(name)? {
        Some(profile) => Api::new(profile, Some((store, name.to_owned()))),
        None => Err(CliError::Usage(format!(
            "not logged in: there is no profile {name:?} in {} (run `clavis login`, or set \
             CLAVIS_API_URL, CLAVIS_CLIENT_ID and CLAVIS_CLIENT_SECRET)",
            store.path().display()
        ))),
    }
}

/// Follows `next` from `paging.cursor` until `paging.limit` items; answers them and the
/// cursor to continue from.
pub async fn pages(
    api: &Api,
    path: &str,
    filters: &[(&str, Option<String>)],
    paging: &Paging,
    max_page: usize,
) -> CliResult<(Vec<Value>, Option<String>)> {
    let mut items = Vec::new();
    let mut cursor = paging.cursor.clone();
    loop {
        let page_size = (paging.limit - items.len()).clamp(1, max_page);
        let mut params = filters.to_vec();
        params.push(("limit", Some(page_size.to_string())));
        params.push(("cursor", cursor.clone()));
        let page = api.get(&with_query(path, &params)).await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        cursor = page["next"].as_str().map(str::to_owned);
        if cursor.is_none() || items.len() >= paging.limit {
            return Ok((items, cursor));
        }
    }
}

/// Prints a list: a table and where to continue (`--cursor`), or the API's page shape.
pub fn print_list(format: Format, items: Vec<Value>, next: Option<String>, columns: &[Column<'_>]) {
    print_list_from(format, items, next, columns, "--cursor");
}

/// [`print_list`] whose continuation is the option `resume` (e.g. `--since`).
pub fn print_list_from(
    format: Format,
    items: Vec<Value>,
    next: Option<String>,
    columns: &[Column<'_>],
    resume: &str,
) {
    match format {
        Format::Json => output::json(&json!({ "items": items, "next": next })),
        Format::Table => {
            if items.is_empty() {
                crate::say!("(none)");
            } else {
                crate::say!("{}", output::table(&items, columns));
            }
            if let Some(next) = next {
                crate::say!("more: {resume} {next}");
            }
        }
    }
}

/// Prints one resource: its fields, or the API's JSON.
pub fn print_one(format: Format, item: &Value, first: &[&str]) {
    match format {
        Format::Json => output::json(item),
        Format::Table => crate::say!("{}", output::record(item, first)),
    }
}
