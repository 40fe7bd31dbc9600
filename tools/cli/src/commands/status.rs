//! `clavis status`: the stack's queues and alarms; exit 4 when something needs an operator.

use serde_json::Value;

use crate::commands::Ctx;
use crate::error::{CliError, CliResult};
use crate::output::{self, Format};

const QUEUE_COLUMNS: &[output::Column<'_>] = &[
    ("QUEUE", "name"),
    ("WAITING", "waiting"),
    ("IN FLIGHT", "in_flight"),
];

const ALARM_COLUMNS: &[output::Column<'_>] = &[
    ("ALARM", "name"),
    ("STATE", "state"),
    ("SINCE", "since"),
    ("RUNBOOK", "runbook"),
];

/// Prints the status; an unhealthy stack is "not as expected" (exit 4).
pub async fn run(ctx: &Ctx) -> CliResult {
    let status = ctx.api.get("/v1/status").await?;
    let list = |field: &str| status[field].as_array().cloned().unwrap_or_default();
    let alarms = list("alarms");
    let ringing: Vec<Value> = alarms
        .iter()
        .filter(|a| a["state"] == "ALARM")
        .cloned()
        .collect();
    match ctx.format {
        Format::Json => output::json(&status),
        Format::Table => {
            crate::say!(
                "stage {}  policy {}",
                output::cell(&status, "stage"),
                output::cell(&status, "policy_version")
            );
            crate::say!("{}", output::table(&list("queues"), QUEUE_COLUMNS));
            if ringing.is_empty() {
                crate::say!("alarms: {} watched, none in ALARM", alarms.len());
            } else {
                crate::say!("{}", output::table(&ringing, ALARM_COLUMNS));
            }
        }
    }
    if status["healthy"] == true {
        if ctx.format == Format::Table {
            crate::say!("healthy");
        }
        return Ok(());
    }
    let waiting: u64 = list("queues")
        .iter()
        .map(|q| q["waiting"].as_u64().unwrap_or(0) + q["in_flight"].as_u64().unwrap_or(0))
        .sum();
    Err(CliError::NotAsExpected(format!(
        "needs attention: {} alarm(s) in ALARM, {waiting} message(s) waiting (their runbooks \
         say what to do; `make replay` or the replay function drains the queues)",
        ringing.len()
    )))
}
