//! Replay (docs/architecture.md, "Workflows"): drains the three queues where work waits after a
//! fault, and reports what it replayed and what still fails.
//!
//! - **events DLQ**: parked outbox entries are re-put on the bus unchanged (same `event_id`,
//!   so a subscriber that saw one already drops the copy);
//! - **workflow DLQ**: a failed `revoke-client` execution restarts as `<client>-r<n+1>`; a failed
//!   issuance is reset to pending under its next attempt (audited) and restarts as
//!   `<request>-r<n+1>` (Standard execution names cannot be reused once closed);
//! - **intake queue**: starts that Step Functions refused run now, under their original name.
//!
//! A message is deleted only after its replay succeeded; one that still fails is made visible
//! again when the run ends, for the next run. Every replay is idempotent (execution names,
//! conditional resets, event ids), so replaying twice repeats nothing.

mod handlers;

use clavis_aws::dynamo::Repository;
use clavis_aws::events::EventPublisher;
use clavis_aws::sqs::{MAX_RECEIVE, QueueDrain, Received};
use clavis_aws::workflows::Workflows;
use clavis_core::Error;

use time::OffsetDateTime;

/// How long a received message stays hidden while a run handles it.
const HIDE_SECONDS: i32 = 300;
pub use clavis_core::replay::DEFAULT_MAX_MESSAGES;
/// The actor recorded for replays.
pub const ACTOR: &str = "replay";

pub use clavis_core::replay::{QueueName, QueueReport, ReplayReport, ReplayRequest};

/// Counts what a run did with `queue`'s messages, by outcome.
fn measure(report: &QueueReport, queue: QueueName) {
    let counts = [
        ("replayed", report.replayed),
        ("obsolete", report.obsolete),
        ("still_failing", report.still_failing),
        ("unreadable", report.unreadable),
        ("deferred", report.deferred),
        ("waiting", report.waiting),
    ];
    for (outcome, n) in counts {
        clavis_lambda::metrics::replayed(
            queue.as_str(),
            outcome,
            u64::try_from(n).unwrap_or(u64::MAX),
        );
    }
}

/// The outcome of replaying one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done: delete it.
    Replayed,
    /// Nothing to do any more: delete it.
    Obsolete,
    /// Failed again: keep it.
    StillFailing,
    /// Not understood: keep it.
    Unreadable,
    /// Not tried because the circuit is open: keep it.
    Deferred,
    /// Not yet (another part of Clavis settles it first): keep it, go on with the next.
    Waiting,
}

/// The queues, by URL.
#[derive(Debug, Clone)]
pub struct QueueUrls {
    /// Events DLQ.
    pub events_dlq: String,
    /// Workflow DLQ.
    pub workflow_dlq: String,
    /// Intake queue.
    pub intake: String,
}

/// The state machines, by ARN.
#[derive(Debug, Clone)]
pub struct StateMachines {
    /// `issue`.
    pub issue: String,
    /// `revoke-client`.
    pub revoke_client: String,
    /// `rotate`.
    pub rotate: String,
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct Replayer {
    /// Receives, deletes, releases.
    pub drain: QueueDrain,
    /// Re-puts events.
    pub publisher: EventPublisher,
    /// Restarts workflows.
    pub workflows: Workflows,
    /// Resets failed requests.
    pub repo: Repository,
    /// Queue URLs.
    pub queues: QueueUrls,
    /// State machine ARNs.
    pub state_machines: StateMachines,
}

impl Replayer {
    /// Drains the requested queues. A run started through the API (`replay_id`) keeps its
    /// record up to date after each queue, and says when it finished or why it failed.
    pub async fn replay(
        &self,
        request: ReplayRequest,
        now: OffsetDateTime,
    ) -> Result<ReplayReport, Error> {
        let run = request.replay_id.as_deref();
        let result = self.drain_all(&request, run, now).await;
        if let Some(id) = run {
            let finished = OffsetDateTime::now_utc();
            let recorded = match &result {
                Ok(report) => {
                    self.repo
                        .finish_replay_run(id, report, None, finished)
                        .await
                }
                Err(e) => {
                    let problem = e.to_string();
                    self.repo
                        .finish_replay_run(id, &ReplayReport::default(), Some(&problem), finished)
                        .await
                }
            };
            if let Err(e) = recorded {
                tracing::warn!(replay_id = id, error = %e, "the run's record was not updated");
            }
        }
        result
    }

    async fn drain_all(
        &self,
        request: &ReplayRequest,
        run: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<ReplayReport, Error> {
        let mut report = ReplayReport::default();
        for queue in &request.queues {
            let drained = self.drain_queue(*queue, request.max_messages, now).await?;
            measure(&drained, *queue);
            tracing::info!(queue = ?queue, replayed = drained.replayed, obsolete = drained.obsolete, still_failing = drained.still_failing, unreadable = drained.unreadable, deferred = drained.deferred, waiting = drained.waiting, "replayed");
            report.set(*queue, drained);
            if let Some(id) = run
                && let Err(e) = self.repo.record_replay_progress(id, &report).await
            {
                // The run goes on: its record is a view, the queues are the truth.
                tracing::warn!(replay_id = id, error = %e, "progress not recorded");
            }
        }
        Ok(report)
    }

    fn url(&self, queue: QueueName) -> &str {
        match queue {
            QueueName::Events => &self.queues.events_dlq,
            QueueName::Workflow => &self.queues.workflow_dlq,
            QueueName::Intake => &self.queues.intake,
        }
    }

    async fn drain_queue(
        &self,
        queue: QueueName,
        max: usize,
        now: OffsetDateTime,
    ) -> Result<QueueReport, Error> {
        let url = self.url(queue);
        let mut report = QueueReport::default();
        let mut kept: Vec<String> = Vec::new();
        let mut seen = 0;
        // The first receive takes one message: while its dependency is still down, nothing
        // else is even received (a receive counts toward the queue's redrive to its DLQ).
        let mut probing = true;
        while seen < max {
            let room = if probing {
                1
            } else {
                i32::try_from(max - seen).unwrap_or(MAX_RECEIVE)
            };
            let batch = self.drain.receive(url, room, HIDE_SECONDS).await?;
            if batch.is_empty() {
                break;
            }
            seen += batch.len();
            let outcomes = self.handle(queue, &batch, now).await;
            // The circuit breaker: once a message still fails, its dependency is still down;
            // trying the rest would only hammer it, so they stay queued for the next run.
            let open = outcomes.contains(&Outcome::StillFailing);
            for (message, outcome) in batch.iter().zip(outcomes) {
                match outcome {
                    Outcome::Replayed | Outcome::Obsolete => {
                        if outcome == Outcome::Replayed {
                            report.replayed += 1;
                        } else {
                            report.obsolete += 1;
                        }
                        // If the delete fails the message comes back and is replayed again:
                        // harmless, every replay is idempotent.
                        if let Err(e) = self.drain.delete(url, &message.receipt_handle).await {
                            tracing::warn!(error = %e, "replayed message not deleted; it will be replayed again");
                        }
                    }
                    Outcome::StillFailing => {
                        report.still_failing += 1;
                        kept.push(message.receipt_handle.clone());
                    }
                    Outcome::Unreadable => {
                        report.unreadable += 1;
                        kept.push(message.receipt_handle.clone());
                    }
                    Outcome::Deferred => {
                        report.deferred += 1;
                        kept.push(message.receipt_handle.clone());
                    }
                    Outcome::Waiting => {
                        report.waiting += 1;
                        kept.push(message.receipt_handle.clone());
                    }
                }
            }
            if open {
                break;
            }
            probing = false;
        }
        // Hidden while this run went on (so it did not see them twice); visible again now.
        for receipt in kept {
            if let Err(e) = self.drain.release(url, &receipt).await {
                tracing::warn!(error = %e, "kept message not released; it reappears after its hide time");
            }
        }
        Ok(report)
    }

    async fn handle(
        &self,
        queue: QueueName,
        batch: &[Received],
        now: OffsetDateTime,
    ) -> Vec<Outcome> {
        match queue {
            QueueName::Events => handlers::republish(&self.publisher, batch).await,
            QueueName::Intake => {
                let mut out = Vec::with_capacity(batch.len());
                for message in batch {
                    out.push(if out.contains(&Outcome::StillFailing) {
                        Outcome::Deferred
                    } else {
                        handlers::start_launch(self, &message.body).await
                    });
                }
                out
            }
            QueueName::Workflow => {
                let mut out = Vec::with_capacity(batch.len());
                for message in batch {
                    out.push(if out.contains(&Outcome::StillFailing) {
                        Outcome::Deferred
                    } else {
                        handlers::restart(self, &message.body, now).await
                    });
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn an_empty_request_drains_everything() {
        let r: ReplayRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(r.queues.len(), 3);
        assert_eq!(r.max_messages, DEFAULT_MAX_MESSAGES);
        let r: ReplayRequest = serde_json::from_str(r#"{"queues":["events"]}"#).unwrap();
        assert_eq!(r.queues, BTreeSet::from([QueueName::Events]));
        assert!(serde_json::from_str::<ReplayRequest>(r#"{"queues":["mail"]}"#).is_err());
        assert!(serde_json::from_str::<ReplayRequest>(r#"{"extra":1}"#).is_err());
    }

    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/replay.json");
        let r: ReplayRequest =
            clavis_lambda::step::decode(serde_json::from_str(text).unwrap()).unwrap();
        assert!(!r.queues.is_empty());
    }
}
