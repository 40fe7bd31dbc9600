//! The access review in the table: every active credential of a client (from `by-client`,
//! page after page), and the record of a scheduled review, written into the stack's own audit
//! chain with its `Access Review Due` event in one transaction.

use std::collections::BTreeMap;

use clavis_core::access_review::ReviewSummary;
use clavis_core::audit::{AuditEntry, AuditRecord, stack_chain};
use clavis_core::credential::Credential;
use clavis_core::events::OutboxEvent;
use clavis_core::ids::ClientId;
use clavis_core::lifecycle::CredentialState;
use clavis_core::{Error, SystemFault};
use time::OffsetDateTime;

use super::Repository;
use super::audited::AuditedChange;

/// Credentials read per page while collecting a client's active ones.
const PAGE: i32 = 100;
/// Pages read for one client at most (10,000 active credentials).
const MAX_PAGES: usize = 100;

impl Repository {
    /// Every active credential of `client_id`.
    pub async fn active_credentials(&self, client_id: &ClientId) -> Result<Vec<Credential>, Error> {
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .list_credentials(
                    client_id,
                    Some(CredentialState::Active),
                    PAGE,
                    cursor.as_deref(),
                )
                .await?;
            found.extend(page.items);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(found),
            }
        }
        Err(SystemFault::Internal(format!(
            "client {client_id} has more than {} active credentials",
            PAGE as usize * MAX_PAGES
        ))
        .into())
    }

    /// Records a completed review (`access_review.completed` in the stack's chain, with its
    /// counts) and queues `event`, together.
    pub async fn record_access_review(
        &self,
        summary: &ReviewSummary,
        unused_days: u32,
        complete: bool,
        event: &OutboxEvent,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<AuditRecord, Error> {
        let counts = serde_json::to_value(summary)
            .map_err(|e| SystemFault::Internal(format!("cannot encode summary: {e}")))?;
        let mut detail: BTreeMap<String, String> = counts
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        detail.insert("unused_days".into(), unused_days.to_string());
        detail.insert("complete".into(), complete.to_string());
        detail.insert("event_id".into(), event.event_id.clone());
        self.commit(AuditedChange {
            client_id: stack_chain(),
            writes: vec![self.queue_event(event, at)?],
            entry: AuditEntry {
                actor: actor.to_owned(),
                action: "access_review.completed".into(),
                subject: event.event_id.clone(),
                detail,
            },
            at,
        })
        .await
    }
}
