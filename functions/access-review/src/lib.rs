//! `access-review` (EventBridge schedule, weekly): reviews every client that is not revoked
//! (see [`clavis_core::access_review`]), then records the run as `access_review.completed` in
//! the stack's own audit chain and queues `Access Review Due` with the counts, together. Work
//! is bounded by a time budget; a run that stops at it says `complete: false`.

use clavis_aws::dynamo::Repository;
use clavis_aws::dynamo::inventory::ClientFilter;
use clavis_core::Error;
use clavis_core::access_review::{DEFAULT_UNUSED_DAYS, MAX_UNUSED_DAYS, ReviewSummary, review};
use clavis_core::client::ClientStatus;
use clavis_core::events::{AccessReviewDue, ClavisEvent, EventMeta};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The actor recorded for scheduled reviews.
pub const ACTOR: &str = "schedule:access-review";
/// Clients read per page.
const PAGE: i32 = 100;
/// How long one run reviews at most, unless the input asks for less, in seconds.
pub const DEFAULT_BUDGET_SECONDS: u64 = 600;

/// The input: the scheduled event (its fields are ignored), or an operator's choices.
#[derive(Debug, Default, Deserialize)]
pub struct ReviewInput {
    /// The review window in days (1 to 365, default 30).
    #[serde(default)]
    pub unused_days: Option<u32>,
    /// Stop reviewing after this many seconds (1 to 600).
    #[serde(default)]
    pub budget_seconds: Option<u64>,
}

/// What one run found.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ReviewReport {
    /// The review window in days.
    pub unused_days: u32,
    /// The counts.
    #[serde(flatten)]
    pub summary: ReviewSummary,
    /// Whether every client was reviewed.
    pub complete: bool,
    /// The `Access Review Due` event queued.
    pub event_id: String,
}

/// Runs one review at `now`.
pub async fn run_review(
    repo: &Repository,
    input: ReviewInput,
    now: OffsetDateTime,
) -> Result<ReviewReport, Error> {
    let unused_days = clavis_lambda::step::bounded(
        "unused_days",
        input.unused_days,
        DEFAULT_UNUSED_DAYS,
        MAX_UNUSED_DAYS,
    )?;
    let budget = clavis_lambda::step::bounded(
        "budget_seconds",
        input.budget_seconds,
        DEFAULT_BUDGET_SECONDS,
        DEFAULT_BUDGET_SECONDS,
    )?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(budget);
    let mut summary = ReviewSummary::default();
    let mut cursor: Option<String> = None;
    let complete = loop {
        if std::time::Instant::now() >= deadline {
            break false;
        }
        let page = repo
            .list_clients(&ClientFilter::default(), PAGE, cursor.as_deref())
            .await?;
        for client in page.items {
            if client.status == ClientStatus::Revoked {
                continue;
            }
            let credentials = repo.active_credentials(&client.client_id).await?;
            summary.add(&review(&client, &credentials, now, unused_days));
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break true,
        }
    };
    let event = AccessReviewDue {
        meta: EventMeta::new(now),
        unused_days,
        summary,
        complete,
    };
    repo.record_access_review(
        &summary,
        unused_days,
        complete,
        &event.to_outbox(),
        ACTOR,
        now,
    )
    .await?;
    tracing::info!(
        clients = summary.clients,
        unused_clients = summary.unused_clients,
        over_privileged = summary.over_privileged_clients,
        complete,
        "access review done"
    );
    Ok(ReviewReport {
        unused_days,
        summary,
        complete,
        event_id: event.meta.event_id,
    })
}

#[cfg(test)]
mod samples {
    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/access-review.json");
        let input: super::ReviewInput =
            clavis_lambda::step::decode(serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(input.unused_days, None);
    }
}
