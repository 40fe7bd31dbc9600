//! `clavis audit …`: a client's whole chain exported page by page, and verified offline by
//! the rules `scripts/verify-audit` applies (one client, `seq` from 1 without gaps, each record
//! linked to its predecessor and hashing to what it says, ending at the head the API named).

use std::io::Write;
use std::path::Path;

use clavis_core::audit::{AuditRecord, ChainHead, verify_chain};
use serde_json::json;

use crate::api::{path_id, with_query};
use crate::args::AuditCommand;
use crate::commands::Ctx;
use crate::error::{CliError, CliResult};
use crate::output::{self, Format};

/// Records per page asked for (the API's largest).
const PAGE: u32 = 5000;
/// The header naming the chain head an export stops at.
const HEAD_HEADER: &str = "clavis-audit-head";

/// Runs an `audit` command.
pub async fn run(ctx: &Ctx, command: AuditCommand) -> CliResult {
    match command {
        AuditCommand::Export {
            client_id,
            out,
            verify,
        } => {
            let id = path_id("client", &client_id)?;
            let mut sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::fs::File::create_new(path).map_err(|e| {
                    CliError::Usage(format!("cannot create {}: {e}", path.display()))
                })?),
                None => Box::new(std::io::stdout().lock()),
            };
            let (text, head) = export(ctx, id).await?;
            sink.write_all(text.as_bytes())?;
            sink.flush()?;
            drop(sink);
            if verify {
                report(ctx.format, &text, head.as_ref(), true)?;
            }
            Ok(())
        }
        AuditCommand::Verify { file, head } => {
            let text = read(&file)?;
            let head = head.as_deref().map(parse_head).transpose()?;
            report(ctx.format, &text, head.as_ref(), false)
        }
    }
}

fn read(path: &Path) -> CliResult<String> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))
}

/// Every page of `client_id`'s chain as NDJSON, and the head the last page named.
async fn export(ctx: &Ctx, client_id: &str) -> CliResult<(String, Option<ChainHead>)> {
    let mut text = String::new();
    let mut since = 0u64;
    loop {
        let path = with_query(
            "/v1/audit",
            &[
                ("client_id", Some(client_id.to_owned())),
                ("since", Some(since.to_string())),
                ("limit", Some(PAGE.to_string())),
            ],
        );
        let answer = ctx.api.send(reqwest::Method::GET, &path, None, &[]).await?;
        let head = answer.header(HEAD_HEADER).map(parse_head).transpose()?;
        let mut reached = since;
        for line in answer.text.lines().filter(|l| !l.trim().is_empty()) {
            reached = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v["seq"].as_u64())
                .unwrap_or(reached);
            text.push_str(line);
            text.push('\n');
        }
        let more = answer
            .header("link")
            .is_some_and(|l| l.contains("rel=\"next\""));
        if !more || reached == since {
            return Ok((text, head));
        }
        since = reached;
    }
}

/// `SEQ HASH` or `SEQ:HASH`.
pub fn parse_head(text: &str) -> CliResult<ChainHead> {
    let text = text.trim().replacen(':', " ", 1);
    let (seq, hash) = text.split_once(' ').unwrap_or((text.as_str(), ""));
    let seq = seq
        .parse()
        .map_err(|_| CliError::Usage(format!("{text:?} is not a head `SEQ HASH`")))?;
    Ok(ChainHead {
        seq,
        hash: hash.trim().to_owned(),
    })
}

/// Verifies a whole export; `Err(why)` names the first break.
pub fn verify(text: &str, head: Option<&ChainHead>) -> Result<(String, ChainHead), String> {
    let mut records = Vec::new();
    for (number, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let record: AuditRecord = serde_json::from_str(line)
            .map_err(|_| format!("line {}: not an audit record", number + 1))?;
        records.push(record);
    }
    let client = records
        .first()
        .map(|r| r.client_id.to_string())
        .unwrap_or_default();
    let reached = verify_chain(&records).map_err(|e| e.to_string())?;
    if let Some(expected) = head
        && *expected != reached
    {
        return Err(format!(
            "the export ends at {} {} but the API named the head {} {} (records are missing)",
            reached.seq, reached.hash, expected.seq, expected.hash
        ));
    }
    Ok((client, reached))
}

fn report(format: Format, text: &str, head: Option<&ChainHead>, to_stderr: bool) -> CliResult {
    match verify(text, head) {
        Ok((client, reached)) => {
            let line = format!(
                "ok {client} 1..{} head {} {}",
                reached.seq, reached.seq, reached.hash
            );
            match (format, to_stderr) {
                (_, true) => eprintln!("{line}"),
                (Format::Json, false) => output::json(&json!({
                    "ok": true, "client_id": client, "head": reached,
                })),
                (Format::Table, false) => crate::say!("{line}"),
            }
            Ok(())
        }
        Err(why) => Err(CliError::NotAsExpected(format!(
            "the audit chain does not verify: {why}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_read_with_a_space_or_a_colon() {
        let h = parse_head("42 abc").unwrap();
        assert_eq!((h.seq, h.hash.as_str()), (42, "abc"));
        assert_eq!(parse_head("42:abc").unwrap(), h);
        assert!(parse_head("x abc").is_err());
    }

    #[test]
    fn an_empty_export_is_the_genesis_and_garbage_is_a_break() {
        let (_, head) = verify("", None).unwrap();
        assert_eq!(head, ChainHead::genesis());
        assert!(
            verify("{\"seq\":1}\n", None)
                .unwrap_err()
                .starts_with("line 1")
        );
        let wrong = ChainHead {
            seq: 3,
            hash: "x".into(),
        };
        assert!(verify("", Some(&wrong)).unwrap_err().contains("missing"));
    }
}
