//! Snapshots of the revocation registry: the entries a new verifier still needs, consistent at
//! one `seq`, read without touching the ones that stopped mattering.
//!
//! The snapshot's `seq` is the counter, read consistently before anything else. A revocation
//! commits its entry, its copy by expiry month and the counter in one transaction, and `seq`
//! N+1 can only commit after N did, so every entry up to that `seq` is there to be read. The
//! snapshot then reads, consistently and in pages:
//! 1. entries written before the registry carried expiries (`seq` below the counter's
//!    `filed_from`): all of them, since nothing says when they stop mattering;
//! 2. the copies filed under each month a relevant credential can expire in
//!    ([`snapshot_months`]), up to the snapshot's `seq`, keeping those still relevant.
//!
//! Months before the current one are never read, and the table's TTL removes their copies, so
//! the read grows with the revocations that still matter, not with the registry's history.

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clavis_core::revocation::{RELEVANCE_GRACE, RevocationEntry, snapshot_months};
use clavis_core::{Error, FieldViolation, SystemFault, UserError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Repository;
use super::items::{self, Item};
use super::keys;
use super::revocations::{ENTITY, EXPIRING_ENTITY, LIVE_UNTIL};
use crate::fault;

/// Most queries one snapshot page makes before it answers with a cursor (each reads at most
/// the page's limit, and most months are small).
const QUERIES_PER_PAGE: usize = 8;

/// Where a snapshot read stands: the `seq` it is consistent at and the next place to read.
/// Opaque to callers ([`SnapshotCursor::encode`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotCursor {
    /// The `seq` the snapshot is consistent at.
    seq: u64,
    /// The last `seq` of the entries written before the registry carried expiries.
    legacy_until: u64,
    /// The part being read: `legacy`, or an expiry month `YYYY-MM`.
    part: String,
    /// The last `seq` read in that part.
    after: u64,
}

/// The part of a snapshot holding the entries written before expiries were recorded.
const LEGACY: &str = "legacy";

impl SnapshotCursor {
    /// The cursor as a caller sees it: URL-safe base64 of its JSON.
    pub fn encode(&self) -> Result<String, Error> {
        let json = serde_json::to_vec(self)
            .map_err(|e| SystemFault::Internal(format!("cannot encode cursor: {e}")))?;
        Ok(URL_SAFE_NO_PAD.encode(json))
    }

    /// The cursor `text` stands for; anything this API did not issue is the caller's mistake.
    pub fn decode(text: &str) -> Result<Self, UserError> {
        let bad = || {
            UserError::InvalidQuery(vec![FieldViolation::new(
                "cursor",
                "is not a cursor this API issued",
            )])
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let month = |p: &str| {
            p.len() == 7
                && p.as_bytes()[4] == b'-'
                && p[..4].bytes().all(|b| b.is_ascii_digit())
                && p[5..].bytes().all(|b| b.is_ascii_digit())
        };
        let shaped = (cursor.part == LEGACY || month(&cursor.part))
            && cursor.after <= cursor.seq
            && cursor.legacy_until <= cursor.seq;
        if shaped { Ok(cursor) } else { Err(bad()) }
    }
}

/// One page of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPage {
    /// The `seq` the whole snapshot is consistent at: follow the registry from there.
    pub seq: u64,
    /// Entries still relevant, by part then `seq`.
    pub items: Vec<RevocationEntry>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<SnapshotCursor>,
}

impl Repository {
    /// One page of the snapshot at `now`, from `from` (or a new snapshot), at most `limit`
    /// entries.
    pub async fn revocation_snapshot(
        &self,
        from: Option<SnapshotCursor>,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<SnapshotPage, Error> {
        let mut at = match from {
            Some(cursor) => cursor,
            None => {
                let counter = self.revocation_counter().await?;
                SnapshotCursor {
                    seq: counter.last,
                    legacy_until: counter
                        .filed_from
                        .map_or(counter.last, |first| first.saturating_sub(1))
                        .min(counter.last),
                    part: LEGACY.into(),
                    after: 0,
                }
            }
        };
        let limit = limit.max(1);
        let mut items = Vec::new();
        for _ in 0..QUERIES_PER_PAGE {
            let remaining = limit.saturating_sub(u32::try_from(items.len()).unwrap_or(u32::MAX));
            if remaining == 0 {
                break;
            }
            let (found, last_read) = self.read_part(&at, remaining, now).await?;
            items.extend(found);
            match last_read {
                Some(seq) => at.after = seq,
                None => match next_part(&at.part, now) {
                    Some(part) => {
                        at.part = part;
                        at.after = 0;
                    }
                    None => {
                        return Ok(SnapshotPage {
                            seq: at.seq,
                            items,
                            next: None,
                        });
                    }
                },
            }
        }
        Ok(SnapshotPage {
            seq: at.seq,
            items,
            next: Some(at),
        })
    }

    /// Reads the part `at` names after `at.after`: the relevant entries found, and the last
    /// `seq` read when the part has more.
    async fn read_part(
        &self,
        at: &SnapshotCursor,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<(Vec<RevocationEntry>, Option<u64>), Error> {
        let legacy = at.part == LEGACY;
        let (partition, last) = if legacy {
            (keys::REVOCATIONS.to_owned(), at.legacy_until)
        } else {
            (keys::revocations_expiring(&at.part), at.seq)
        };
        if at.after >= last {
            return Ok((Vec::new(), None));
        }
        let mut query = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":p", AttributeValue::S(partition))
            .expression_attribute_values(
                ":from",
                AttributeValue::S(keys::revocation_sort_key(at.after + 1)),
            )
            .expression_attribute_values(":to", AttributeValue::S(keys::revocation_sort_key(last)))
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        if !legacy {
            // Read, but never returned: copies whose credential expired more than the grace ago.
            let since = (now - RELEVANCE_GRACE).unix_timestamp();
            query = query
                .filter_expression("#live > :since")
                .expression_attribute_names("#live", LIVE_UNTIL)
                .expression_attribute_values(":since", AttributeValue::N(since.to_string()));
        }
        let out = query
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        let entity = if legacy { ENTITY } else { EXPIRING_ENTITY };
        let found = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item: Item| {
                items::from_item::<RevocationEntry>(item, entity)
                    .map(|(e, _)| e)
                    .map_err(Error::from)
            })
            .filter(|e| e.as_ref().map_or(true, |e| e.is_relevant_at(now)))
            .collect::<Result<Vec<_>, _>>()?;
        let last_read = out
            .last_evaluated_key
            .as_ref()
            .and_then(|key| items::string(key, keys::SK))
            .and_then(keys::seq_of_sort_key)
            .filter(|&seq| seq < last);
        Ok((found, last_read))
    }
}

/// The part read after `part` by a snapshot at `now`: the legacy entries first, then the
/// expiry months in order; `None` after the last month.
fn next_part(part: &str, now: OffsetDateTime) -> Option<String> {
    snapshot_months(now)
        .into_iter()
        .find(|month| part == LEGACY || month.as_str() > part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn parts_run_from_the_legacy_entries_through_the_months_in_order() {
        let now = datetime!(2026-12-04 05:00 UTC);
        assert_eq!(next_part(LEGACY, now).as_deref(), Some("2026-12"));
        assert_eq!(next_part("2026-12", now).as_deref(), Some("2027-01"));
        assert_eq!(next_part("2027-03", now), None);
        assert_eq!(
            next_part("2026-10", now).as_deref(),
            Some("2026-12"),
            "a cursor from a month that has since passed resumes at the current one"
        );
    }

    #[test]
    fn a_cursor_round_trips_and_a_forged_one_is_the_callers_mistake() {
        let cursor = SnapshotCursor {
            seq: 10,
            legacy_until: 3,
            part: "2026-12".into(),
            after: 5,
        };
        assert_eq!(
            SnapshotCursor::decode(&cursor.encode().unwrap()),
            Ok(cursor.clone())
        );
        for forged in [
            SnapshotCursor {
                part: "REVOCATIONS".into(),
                ..cursor.clone()
            },
            SnapshotCursor {
                after: 11,
                ..cursor.clone()
            },
            SnapshotCursor {
                legacy_until: 11,
                ..cursor.clone()
            },
        ] {
            let text = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
            assert!(SnapshotCursor::decode(&text).is_err(), "{forged:?}");
        }
        assert!(SnapshotCursor::decode("not base64!").is_err());
        assert!(SnapshotCursor::decode(&URL_SAFE_NO_PAD.encode(b"{}")).is_err());
    }
}
