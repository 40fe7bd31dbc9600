//! `clavis replay`: starts a replay run through the API and follows it to its end.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::commands::Ctx;
use crate::commands::requests::spinner;
use crate::error::{CliError, CliResult};
use crate::output::{self, Format};

const COLUMNS: &[output::Column<'_>] = &[
    ("QUEUE", "queue"),
    ("REPLAYED", "replayed"),
    ("OBSOLETE", "obsolete"),
    ("STILL FAILING", "still_failing"),
    ("UNREADABLE", "unreadable"),
    ("DEFERRED", "deferred"),
    ("WAITING", "waiting"),
];

/// How often a followed run is read.
const POLL: Duration = Duration::from_secs(1);

/// Starts a run of `queues` (all when empty) and, unless `no_wait`, follows it for at most
/// `timeout`; a run that leaves messages behind is "not as expected" (exit 4), one that
/// failed a fault (exit 3).
pub async fn run(
    ctx: &Ctx,
    queues: Vec<String>,
    max_messages: Option<usize>,
    no_wait: bool,
    timeout: Duration,
) -> CliResult {
    let mut body = json!({});
    if !queues.is_empty() {
        body["queues"] = json!(queues);
    }
    if let Some(max) = max_messages {
        body["max_messages"] = json!(max);
    }
    let mut run = ctx.api.post("/v1/replays", &body).await?;
    let id = run["replay_id"].as_str().unwrap_or_default().to_owned();
    if no_wait {
        match ctx.format {
            Format::Json => output::json(&run),
            Format::Table => {
                crate::say!("replay {id} started; follow it with `clavis replay --follow {id}`")
            }
        }
        return Ok(());
    }
    follow(ctx, &id, &mut run, timeout).await
}

/// Follows run `id` (already read as `run`) to its end, then prints and judges it.
pub async fn follow(ctx: &Ctx, id: &str, run: &mut Value, timeout: Duration) -> CliResult {
    let bar = spinner(&format!("replay {id}: started"), ctx.format);
    let started = Instant::now();
    while matches!(run["status"].as_str(), Some("started" | "running")) {
        if started.elapsed() >= timeout {
            bar.finish_and_clear();
            return Err(CliError::NotAsExpected(format!(
                "replay {id} is still {} after {} s; follow it with `clavis replay --follow {id}`",
                run["status"].as_str().unwrap_or("running"),
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(POLL).await;
        *run = ctx.api.get(&format!("/v1/replays/{id}")).await?;
        bar.set_message(format!("replay {id}: {}", progress(run)));
    }
    bar.finish_and_clear();
    let rows = rows(run);
    match ctx.format {
        Format::Json => output::json(run),
        Format::Table => {
            if !rows.is_empty() {
                crate::say!("{}", output::table(&rows, COLUMNS));
            }
            crate::say!("replay {id} {}", run["status"].as_str().unwrap_or("?"));
        }
    }
    if run["status"] == "failed" {
        return Err(CliError::Fault(format!(
            "replay {id} failed: {}",
            run["problem"].as_str().unwrap_or("no reason recorded")
        )));
    }
    let left: u64 = rows
        .iter()
        .map(|r| {
            ["still_failing", "unreadable", "deferred", "waiting"]
                .iter()
                .map(|k| r[*k].as_u64().unwrap_or(0))
                .sum::<u64>()
        })
        .sum();
    if left > 0 {
        return Err(CliError::NotAsExpected(format!(
            "{left} message(s) are still queued: still failing or deferred ones wait for their \
             dependency (the next run retries them), unreadable ones for an operator (see \
             docs/runbooks/)"
        )));
    }
    Ok(())
}

/// One row per queue the run drained so far.
fn rows(run: &Value) -> Vec<Value> {
    ["events", "workflow", "intake"]
        .iter()
        .filter_map(|q| {
            let report = run["report"].get(*q)?;
            let mut row = report.clone();
            row["queue"] = json!(q);
            Some(row)
        })
        .collect()
}

fn progress(run: &Value) -> String {
    let done: Vec<String> = rows(run)
        .iter()
        .map(|r| {
            format!(
                "{} {} replayed",
                r["queue"].as_str().unwrap_or("?"),
                r["replayed"].as_u64().unwrap_or(0)
            )
        })
        .collect();
    if done.is_empty() {
        run["status"].as_str().unwrap_or("?").to_owned()
    } else {
        done.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_drain_order_and_progress_says_what_is_done() {
        let run = json!({
            "status": "running",
            "report": {"intake": {"replayed": 2}, "events": {"replayed": 5}},
        });
        let rows = rows(&run);
        let queues: Vec<&str> = rows.iter().map(|r| r["queue"].as_str().unwrap()).collect();
        assert_eq!(queues, ["events", "intake"]);
        assert_eq!(progress(&run), "events 5 replayed, intake 2 replayed");
        assert_eq!(progress(&json!({"status": "started"})), "started");
    }
}
