//! `clavis revocations …`: the registry, listed or followed in `seq` order, or its snapshot of
//! the entries still relevant.

use std::time::Duration;

use serde_json::{Value, json};

use crate::api::{Api, with_query};
use crate::args::RevocationsCommand;
use crate::commands::{Ctx, print_list_from};
use crate::error::CliResult;
use crate::output::{self, Column, Format};

const COLUMNS: &[Column<'_>] = &[
    ("SEQ", "seq"),
    ("CREDENTIAL", "credential_id"),
    ("CLIENT", "client_id"),
    ("REASON", "reason"),
    ("REVOKED AT", "revoked_at"),
    ("EXPIRES AT", "expires_at"),
];

/// The registry's largest page.
const PAGE: usize = 1000;

/// Runs a `revocations` command.
pub async fn run(ctx: &Ctx, command: RevocationsCommand) -> CliResult {
    match command {
        RevocationsCommand::List { since, limit } => {
            let mut items = Vec::new();
            let mut after = since;
            let mut more = true;
            while more && items.len() < limit {
                let (page, next) = page(&ctx.api, after, (limit - items.len()).min(PAGE)).await?;
                after = page.last().and_then(|e| e["seq"].as_u64()).unwrap_or(after);
                more = next.is_some() && !page.is_empty();
                items.extend(page);
            }
            match ctx.format {
                // The registry's own page shape: `next` is the seq to continue after.
                Format::Json => {
                    output::json(&json!({ "items": items, "next": more.then_some(after) }))
                }
                Format::Table => {
                    let next = more.then(|| after.to_string());
                    print_list_from(ctx.format, items, next, COLUMNS, "--since");
                }
            }
            Ok(())
        }
        RevocationsCommand::Snapshot => {
            let (seq, items) = snapshot(&ctx.api, None).await?;
            match ctx.format {
                Format::Json => output::json(&json!({ "seq": seq, "items": items })),
                Format::Table => {
                    print_list_from(ctx.format, items, None, COLUMNS, "");
                    crate::say!("consistent at seq {seq}: follow with --since {seq}");
                }
            }
            Ok(())
        }
        RevocationsCommand::Watch {
            since,
            interval,
            count,
        } => {
            let start = match since {
                Some(s) => s,
                // The snapshot's seq, from its first page: one read, not the whole registry.
                None => snapshot(&ctx.api, Some(1)).await?.0,
            };
            watch(ctx, start, Duration::from_secs(interval.max(1)), count).await
        }
    }
}

/// One page of entries after `since`, and whether there is more.
async fn page(api: &Api, since: u64, limit: usize) -> CliResult<(Vec<Value>, Option<u64>)> {
    let path = with_query(
        "/v1/revocations",
        &[
            ("since", Some(since.to_string())),
            ("limit", Some(limit.to_string())),
        ],
    );
    let page = api.get(&path).await?;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    Ok((items, page["next"].as_u64()))
}

/// The registry's snapshot: its `seq` and entries, every page (or only the first, of `limit`).
async fn snapshot(api: &Api, limit: Option<usize>) -> CliResult<(u64, Vec<Value>)> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = with_query(
            "/v1/revocations/snapshot",
            &[
                ("limit", Some(limit.unwrap_or(PAGE).to_string())),
                ("cursor", cursor.clone()),
            ],
        );
        let page = api.get(&path).await?;
        let seq = page["seq"].as_u64().unwrap_or(0);
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) if limit.is_none() && cursor.as_deref() != Some(next) => {
                cursor = Some(next.to_owned());
            }
            _ => return Ok((seq, items)),
        }
    }
}

/// What to do with a page read after `last`: the entries that continue it without a gap,
/// and the first missing `seq` if the page skipped one.
pub fn contiguous(last: u64, items: &[Value]) -> (Vec<Value>, Option<u64>) {
    let mut out = Vec::new();
    let mut expected = last + 1;
    for item in items {
        match item["seq"].as_u64() {
            Some(seq) if seq < expected => {} // seen already
            Some(seq) if seq == expected => {
                out.push(item.clone());
                expected += 1;
            }
            _ => return (out, Some(expected)),
        }
    }
    (out, None)
}

async fn watch(ctx: &Ctx, mut last: u64, interval: Duration, count: Option<usize>) -> CliResult {
    if ctx.format == Format::Table {
        eprintln!("following the registry after seq {last} (Ctrl-C stops)");
        let header: Vec<&str> = COLUMNS.iter().map(|(h, _)| *h).collect();
        crate::say!("{}", header.join("  "));
    }
    let mut printed = 0usize;
    let mut gap_since: Option<u64> = None;
    loop {
        let (items, next) = page(&ctx.api, last, PAGE).await?;
        let (fresh, gap) = contiguous(last, &items);
        for entry in &fresh {
            print_entry(ctx.format, entry);
            printed += 1;
            if count.is_some_and(|c| printed >= c) {
                return Ok(());
            }
        }
        last += fresh.len() as u64;
        match gap {
            // A seq that is not there yet: read again from before it (backfill); after a
            // second look it is reported and skipped, so one lost entry never stalls the watch.
            Some(missing) if gap_since == Some(missing) => {
                eprintln!("gap: seq {missing} is not in the registry; continuing after it");
                last = missing;
                gap_since = None;
            }
            Some(missing) => gap_since = Some(missing),
            None => gap_since = None,
        }
        // Caught up, or before a second look at a gap: give a late entry an interval to land.
        if next.is_none() || gap.is_some() {
            tokio::time::sleep(interval).await;
        }
    }
}

fn print_entry(format: Format, entry: &Value) {
    match format {
        Format::Json => crate::say!("{entry}"),
        Format::Table => crate::say!(
            "{}",
            COLUMNS
                .iter()
                .map(|(_, f)| output::cell(entry, f))
                .collect::<Vec<_>>()
                .join("  ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entries(seqs: &[u64]) -> Vec<Value> {
        seqs.iter().map(|s| json!({"seq": s})).collect()
    }

    #[test]
    fn entries_continue_the_registry_in_order_and_stop_at_a_gap() {
        let (out, gap) = contiguous(4, &entries(&[5, 6, 8, 9]));
        assert_eq!(out, entries(&[5, 6]));
        assert_eq!(gap, Some(7));
        let (out, gap) = contiguous(4, &entries(&[3, 4, 5]));
        assert_eq!(out, entries(&[5]));
        assert_eq!(gap, None);
        assert_eq!(contiguous(0, &[]), (vec![], None));
    }
}
