//! `clavis requests …`, and how issuance and rotation answers are settled: waiting for the
//! workflow, picking the secret up once, writing it where it was asked to go.

use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::Value;

use crate::api::path_id;
use crate::args::{RequestsCommand, SecretDestination};
use crate::commands::{Ctx, print_one};
use crate::error::{CliError, CliResult};
use crate::output::{self, Format};

/// The fields `show` prints first.
const FIELDS: &[&str] = &[
    "request_id",
    "status",
    "client_id",
    "credential_id",
    "approval_id",
];

/// Runs a `requests` command.
pub async fn run(ctx: &Ctx, command: RequestsCommand) -> CliResult {
    match command {
        RequestsCommand::Show { request_id } => {
            let id = path_id("request", &request_id)?;
            let answer = ctx.api.get(&format!("/v1/requests/{id}")).await?;
            print_one(ctx.format, &answer, FIELDS);
            Ok(())
        }
        RequestsCommand::Wait {
            request_id,
            timeout,
            secret,
        } => {
            let id = path_id("request", &request_id)?;
            let sink = SecretSink::open(&secret, false)?;
            let answer = ctx.api.get(&format!("/v1/requests/{id}")).await?;
            settle(ctx, answer, sink, Some(Duration::from_secs(timeout))).await
        }
    }
}

/// Where a secret goes, opened before the request is sent so that it cannot be lost to a
/// file that turns out to exist.
pub enum SecretSink {
    /// A new 0600 file, created empty.
    File(PathBuf, File),
    /// Standard output (`--show-secret`).
    Stdout,
    /// Nowhere: the caller expects none (a client with a delivery target, or `requests wait`
    /// without a destination, which only reports).
    Nowhere,
}

impl SecretSink {
    /// Opens `dest`; with neither option, `Nowhere` if `optional`, else a usage error.
    pub fn open(dest: &SecretDestination, optional: bool) -> CliResult<Self> {
        match (&dest.secret_file, dest.show_secret) {
            (Some(path), _) => Ok(Self::File(
                path.clone(),
                crate::secret_file::create_private(path)?,
            )),
            (None, true) => Ok(Self::Stdout),
            (None, false) if optional => Ok(Self::Nowhere),
            (None, false) => Err(CliError::Usage(
                "say where the secret goes: --secret-file FILE (created 0600) or --show-secret \
                 (it is shown once and never again)"
                    .to_owned(),
            )),
        }
    }

    /// Removes an unused file created for a secret that never came.
    pub fn discard(self) {
        if let Self::File(path, file) = self {
            drop(file);
            let _ = std::fs::remove_file(path);
        }
    }

    fn wants_secret(&self) -> bool {
        !matches!(self, Self::Nowhere)
    }

    /// Writes `secret`; answers where it went.
    fn write(self, secret: &str) -> CliResult<String> {
        match self {
            Self::File(path, file) => {
                crate::secret_file::fill(file, secret)?;
                Ok(path.display().to_string())
            }
            Self::Stdout => {
                crate::say!("{secret}");
                Ok("stdout".to_owned())
            }
            Self::Nowhere => Ok("nowhere".to_owned()),
        }
    }
}

/// Takes an issuance or rotation answer (or a request as `GET` shows it) to its end: waits
/// while it is pending (up to `wait`; none answers at once), picks the secret up once and
/// writes it to `sink`, and prints the outcome without the secret.
pub async fn settle(
    ctx: &Ctx,
    mut answer: Value,
    sink: SecretSink,
    wait: Option<Duration>,
) -> CliResult {
    let request_id = answer["request_id"].as_str().unwrap_or_default().to_owned();
    let deadline = wait.map(|w| Instant::now() + w);
    let spinner = spinner(
        &format!("{request_id}: waiting for the workflow"),
        ctx.format,
    );
    let mut interval = Duration::from_millis(500);
    loop {
        match answer["status"].as_str().unwrap_or_default() {
            "pending" | "pending_approval" => {
                let status = answer["status"].as_str().unwrap_or_default().to_owned();
                let expired = deadline.is_none_or(|d| Instant::now() >= d);
                if expired {
                    spinner.finish_and_clear();
                    sink.discard();
                    print_one(ctx.format, &answer, FIELDS);
                    let err = not_settled(&request_id, &status, &answer, wait.is_none());
                    if wait.is_none() {
                        // --no-wait: accepted is what was asked for.
                        eprintln!("{err}");
                        return Ok(());
                    }
                    return Err(err);
                }
                if status == "pending_approval" {
                    spinner.set_message(format!(
                        "{request_id}: held for approval {} (an approver: clavis approvals approve …)",
                        answer["approval_id"].as_str().unwrap_or("?")
                    ));
                }
                tokio::time::sleep(interval).await;
                interval = (interval * 2).min(Duration::from_secs(3));
                answer = ctx.api.get(&format!("/v1/requests/{request_id}")).await?;
            }
            "completed" => {
                spinner.finish_and_clear();
                return finish(ctx, answer, sink).await;
            }
            other => {
                spinner.finish_and_clear();
                sink.discard();
                print_one(ctx.format, &answer, FIELDS);
                let why = answer["problem"]["detail"]
                    .as_str()
                    .unwrap_or("no reason given");
                return Err(CliError::NotAsExpected(format!(
                    "request {request_id} ended {other}: {why}"
                )));
            }
        }
    }
}

fn not_settled(
    request_id: &str,
    status: &str,
    answer: &Value,
    asked_not_to_wait: bool,
) -> CliError {
    let follow = format!("clavis requests wait {request_id} --secret-file FILE");
    let held = answer["approval_id"]
        .as_str()
        .map(|a| format!(" for approval {a}"))
        .unwrap_or_default();
    if asked_not_to_wait {
        CliError::NotAsExpected(format!(
            "request {request_id} is {status}{held}; follow it with `{follow}`"
        ))
    } else {
        CliError::NotAsExpected(format!(
            "request {request_id} is still {status}{held} after the wait; follow it with `{follow}`"
        ))
    }
}

async fn finish(ctx: &Ctx, mut answer: Value, sink: SecretSink) -> CliResult {
    let request_id = answer["request_id"].as_str().unwrap_or_default().to_owned();
    let delivered = answer.get("delivery").is_some_and(|d| !d.is_null());
    let mut secret = take_secret(&mut answer);
    if secret.is_none() && !delivered && sink.wants_secret() {
        let picked = ctx
            .api
            .send(
                Method::POST,
                &format!("/v1/requests/{request_id}/secret"),
                None,
                &[],
            )
            .await;
        match picked {
            Ok(picked) => {
                let mut picked = picked.json()?;
                secret = take_secret(&mut picked);
                for key in ["credential_id", "expires_at"] {
                    if answer.get(key).is_none_or(Value::is_null) {
                        answer[key] = picked[key].clone();
                    }
                }
            }
            Err(e) => {
                sink.discard();
                return Err(e.with_hint(format!(
                    "the secret of {request_id} is handed out once, to its requester: if it was \
                     lost, rotate the credential"
                )));
            }
        }
    }
    let went = match secret {
        Some(secret) => Some(sink.write(&secret)?),
        None => {
            sink.discard();
            None
        }
    };
    if let Some(went) = &went {
        answer["secret_written_to"] = Value::String(went.clone());
    }
    match ctx.format {
        Format::Json => output::json(&answer),
        Format::Table => {
            let credential = answer["credential_id"].as_str().unwrap_or("?");
            let expires = answer["expires_at"].as_str().unwrap_or("?");
            let whereto = match (&went, delivered) {
                (_, true) => format!(
                    "the secret is in {}",
                    answer["delivery"]["secret_arn"]
                        .as_str()
                        .unwrap_or("its vault")
                ),
                (Some(w), _) if w == "stdout" => "the secret is above, shown this once".to_owned(),
                (Some(w), _) => format!("the secret is in {w} (0600)"),
                (None, _) => "the secret was not asked for".to_owned(),
            };
            eprintln!("credential {credential} active until {expires}; {whereto}");
        }
    }
    Ok(())
}

/// Removes and answers `client_secret`, so the document printed never holds it.
fn take_secret(answer: &mut Value) -> Option<String> {
    answer
        .as_object_mut()
        .and_then(|m| m.remove("client_secret"))
        .and_then(|v| v.as_str().map(str::to_owned))
}

/// A spinner on stderr saying `message`, drawn only on a terminal and for tables: scripts and
/// JSON output see nothing of it.
pub fn spinner(message: &str, format: Format) -> ProgressBar {
    // On stderr, and drawn only on a terminal: scripts and JSON output see nothing of it.
    let bar = ProgressBar::new_spinner();
    if format == Format::Table {
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_secret_is_taken_out_of_what_is_printed() {
        let mut answer = json!({"request_id": "req_1", "client_secret": "clv_test_x"});
        assert_eq!(take_secret(&mut answer).as_deref(), Some("clv_test_x"));
        assert!(!answer.to_string().contains("clv_test"));
        assert_eq!(take_secret(&mut answer), None);
    }

    #[test]
    fn a_destination_is_required_unless_none_is_expected() {
        let none = SecretDestination {
            secret_file: None,
            show_secret: false,
        };
        assert!(matches!(
            SecretSink::open(&none, false),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            SecretSink::open(&none, true),
            Ok(SecretSink::Nowhere)
        ));
    }

    #[test]
    fn a_secret_file_is_created_before_anything_is_sent_and_removed_if_unused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let dest = SecretDestination {
            secret_file: Some(path.clone()),
            show_secret: false,
        };
        let sink = SecretSink::open(&dest, false).unwrap();
        assert!(path.exists());
        assert!(matches!(
            SecretSink::open(&dest, false),
            Err(CliError::Usage(_))
        ));
        sink.discard();
        assert!(!path.exists());
    }
}
