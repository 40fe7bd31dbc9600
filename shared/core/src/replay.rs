//! Replay runs: which queues a run drains, what it did with each, and the record an operator
//! follows while a run started through the API (`POST /v1/replays`) works.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{FieldViolation, UserError};

/// Messages one run handles per queue when the request names no limit.
pub const DEFAULT_MAX_MESSAGES: usize = 1000;
/// How long a run's record is kept (seconds).
pub const RECORD_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// A queue replay drains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueName {
    /// Parked events.
    Events,
    /// Parked workflow executions.
    Workflow,
    /// Workflow starts Step Functions refused.
    Intake,
}

impl QueueName {
    /// The snake_case name (also the `Queue` dimension of replay's metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Workflow => "workflow",
            Self::Intake => "intake",
        }
    }
}

/// Every queue, in the order a run drains them.
pub fn all_queues() -> BTreeSet<QueueName> {
    BTreeSet::from([QueueName::Events, QueueName::Workflow, QueueName::Intake])
}

fn default_max() -> usize {
    DEFAULT_MAX_MESSAGES
}

/// What a run is asked to do: `{}` drains everything. The replay function's payload, and the
/// body of `POST /v1/replays`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Which queues (default: all three).
    #[serde(default = "all_queues")]
    pub queues: BTreeSet<QueueName>,
    /// At most this many messages per queue.
    #[serde(default = "default_max")]
    pub max_messages: usize,
    /// The run's record to keep up to date (set by the api, never by a caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_id: Option<String>,
}

impl Default for ReplayRequest {
    fn default() -> Self {
        Self {
            queues: all_queues(),
            max_messages: DEFAULT_MAX_MESSAGES,
            replay_id: None,
        }
    }
}

impl ReplayRequest {
    /// Checks a request made through the API: 1 to 1000 messages, at least one queue, and no
    /// record id of its own.
    pub fn validate(&self) -> Result<(), UserError> {
        let mut violations = Vec::new();
        if !(1..=DEFAULT_MAX_MESSAGES).contains(&self.max_messages) {
            violations.push(FieldViolation::new(
                "max_messages",
                format!("must be 1 to {DEFAULT_MAX_MESSAGES}"),
            ));
        }
        if self.queues.is_empty() {
            violations.push(FieldViolation::new(
                "queues",
                "must name at least one queue",
            ));
        }
        if self.replay_id.is_some() {
            violations.push(FieldViolation::new("replay_id", "is assigned by Clavis"));
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(UserError::Invalid(violations))
        }
    }
}

/// What one queue's drain did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueReport {
    /// Replayed and deleted.
    pub replayed: usize,
    /// Nothing left to do (e.g. the request completed meanwhile): deleted.
    pub obsolete: usize,
    /// Still failing: left on the queue for the next run.
    pub still_failing: usize,
    /// Not a message replay understands: left on the queue for an operator.
    pub unreadable: usize,
    /// Not tried: an earlier message of this run still failed (the circuit opened), so the
    /// rest stays queued, in order, for a run after the dependency recovered.
    pub deferred: usize,
    /// Waiting for something else first (an unrecorded failure the reaper settles): kept.
    pub waiting: usize,
}

impl QueueReport {
    /// Messages left on the queue for a later run or an operator.
    pub fn left(&self) -> usize {
        self.still_failing + self.unreadable + self.deferred + self.waiting
    }
}

/// What a run did, per queue drained.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// The events DLQ, if drained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<QueueReport>,
    /// The workflow DLQ, if drained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<QueueReport>,
    /// The intake queue, if drained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intake: Option<QueueReport>,
}

impl ReplayReport {
    /// Records `queue`'s drain.
    pub fn set(&mut self, queue: QueueName, report: QueueReport) {
        match queue {
            QueueName::Events => self.events = Some(report),
            QueueName::Workflow => self.workflow = Some(report),
            QueueName::Intake => self.intake = Some(report),
        }
    }

    /// Messages left on every queue drained.
    pub fn left(&self) -> usize {
        [self.events, self.workflow, self.intake]
            .iter()
            .flatten()
            .map(QueueReport::left)
            .sum()
    }
}

/// Where a run started through the API stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Asked for; the replay function has not reported yet.
    Started,
    /// Draining: `report` holds the queues done so far.
    Running,
    /// Done: `report` is complete.
    Finished,
    /// The run itself failed (a fault, not a message): `problem` says what.
    Failed,
}

/// The record of a run started through the API (`GET /v1/replays/{replay_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRun {
    /// `rpl_<ulid>`.
    pub replay_id: String,
    /// Where it stands.
    pub status: RunStatus,
    /// What was asked.
    pub queues: BTreeSet<QueueName>,
    /// At most this many messages per queue.
    pub max_messages: usize,
    /// The operator that asked.
    pub requested_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    /// What it did so far.
    #[serde(default)]
    pub report: ReplayReport,
    /// When it finished or failed.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub finished_at: Option<OffsetDateTime>,
    /// Why the run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A new run's id.
pub fn new_replay_id() -> String {
    format!("rpl_{}", ulid::Ulid::generate())
}

/// Whether `id` is a well-formed run id (so a path never reaches the table otherwise).
pub fn is_replay_id(id: &str) -> bool {
    id.strip_prefix("rpl_")
        .is_some_and(|rest| rest.parse::<ulid::Ulid>().is_ok() && rest.len() == 26)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_request_drains_everything_and_bad_ones_name_their_fields() {
        let all: ReplayRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(all, ReplayRequest::default());
        assert!(all.validate().is_ok());
        let bad: ReplayRequest =
            serde_json::from_str(r#"{"queues":[],"max_messages":0,"replay_id":"rpl_x"}"#).unwrap();
        let fields: Vec<String> = bad
            .validate()
            .unwrap_err()
            .violations()
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields, ["max_messages", "queues", "replay_id"]);
        assert!(serde_json::from_str::<ReplayRequest>(r#"{"queues":["outbox"]}"#).is_err());
    }

    #[test]
    fn what_is_left_counts_every_kept_message() {
        let mut report = ReplayReport::default();
        report.set(
            QueueName::Events,
            QueueReport {
                replayed: 5,
                still_failing: 1,
                deferred: 3,
                ..QueueReport::default()
            },
        );
        report.set(
            QueueName::Intake,
            QueueReport {
                unreadable: 1,
                waiting: 2,
                obsolete: 4,
                ..QueueReport::default()
            },
        );
        assert_eq!(report.left(), 7);
    }

    #[test]
    fn run_ids_are_checked_before_any_read() {
        assert!(is_replay_id(&new_replay_id()));
        for bad in [
            "rpl_",
            "rpl_x",
            "req_01KBZ3F9A1B2C3D4E5F6G7H8J9",
            "rpl_01KBZ3F9A1B2C3D4E5F6G7H8J9/x",
        ] {
            assert!(!is_replay_id(bad), "{bad}");
        }
    }
}
