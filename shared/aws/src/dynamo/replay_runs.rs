//! Records of replay runs started through the API: created by the api, kept up to date by the
//! replay function after each queue, read by operators following the run. Each expires a week
//! after it was asked for (the table's `ttl`).

use aws_sdk_dynamodb::types::AttributeValue;
use clavis_core::replay::{RECORD_TTL_SECONDS, ReplayReport, ReplayRun, RunStatus};
use clavis_core::{Error, SystemFault, UserError};
use time::OffsetDateTime;

use super::Repository;
use super::items;
use super::keys;
use crate::fault;

/// Entity tag of replay run records.
pub const ENTITY: &str = "replay_run";

fn report_value(report: &ReplayReport) -> Result<AttributeValue, SystemFault> {
    serde_dynamo::to_attribute_value(report)
        .map_err(|e| SystemFault::Internal(format!("cannot encode a replay report: {e}")))
}

/// A status as stored: its serde name, the same the record's `status` was written with.
fn status_value(status: RunStatus) -> Result<AttributeValue, SystemFault> {
    serde_dynamo::to_attribute_value(status)
        .map_err(|e| SystemFault::Internal(format!("cannot encode a run status: {e}")))
}

impl Repository {
    /// Stores a new run's record (status `started`).
    pub async fn create_replay_run(&self, run: &ReplayRun) -> Result<(), Error> {
        let mut item = items::to_item(run, keys::replay_run(&run.replay_id), ENTITY, 1)?;
        item.insert(
            "ttl".into(),
            AttributeValue::N((run.requested_at.unix_timestamp() + RECORD_TTL_SECONDS).to_string()),
        );
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        Ok(())
    }

    /// The record of run `id`; `None` if there is none (or it expired).
    pub async fn get_replay_run(&self, id: &str) -> Result<Option<ReplayRun>, Error> {
        Ok(self
            .get_versioned(keys::replay_run(id), ENTITY, true)
            .await?
            .map(|v| v.value))
    }

    /// What run `id` did so far (status `running`), unless it already ended.
    pub async fn record_replay_progress(
        &self,
        id: &str,
        report: &ReplayReport,
    ) -> Result<(), Error> {
        self.update_run(id, RunStatus::Running, report, None, None)
            .await
    }

    /// Ends run `id`: `finished` with its report, or `failed` with `problem`.
    pub async fn finish_replay_run(
        &self,
        id: &str,
        report: &ReplayReport,
        problem: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<(), Error> {
        let status = if problem.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Finished
        };
        self.update_run(id, status, report, problem, Some(at)).await
    }

    async fn update_run(
        &self,
        id: &str,
        status: RunStatus,
        report: &ReplayReport,
        problem: Option<&str>,
        finished_at: Option<OffsetDateTime>,
    ) -> Result<(), Error> {
        let mut expression = String::from("SET #status = :status, #version = #version + :one");
        let mut update = self
            .db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::replay_run(id))))
            .condition_expression("attribute_exists(pk) AND #status IN (:started, :running)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", keys::VERSION)
            .expression_attribute_values(":status", status_value(status)?)
            .expression_attribute_values(":started", status_value(RunStatus::Started)?)
            .expression_attribute_values(":running", status_value(RunStatus::Running)?)
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        // A failed run keeps the report of the queues it drained before it failed.
        if problem.is_none() {
            expression.push_str(", report = :report");
            update = update.expression_attribute_values(":report", report_value(report)?);
        }
        if let Some(problem) = problem {
            expression.push_str(", problem = :problem");
            update =
                update.expression_attribute_values(":problem", AttributeValue::S(problem.into()));
        }
        if let Some(at) = finished_at {
            expression.push_str(", finished_at = :finished");
            update = update
                .expression_attribute_values(":finished", AttributeValue::S(items::timestamp(at)?));
        }
        match update.update_expression(expression).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(UserError::Conflict(format!("replay run {id} is unknown or has ended")).into())
            }
            Err(e) => Err(fault::from_sdk("dynamodb", &e).into()),
        }
    }
}
