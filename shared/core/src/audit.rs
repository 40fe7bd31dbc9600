//! The audit trail: append-only records, hash-chained per client (docs/architecture.md).
//!
//! `hash = sha256(prev_hash || canonical record)`. Editing, removing or reordering any record
//! breaks every hash after it, which [`verify_chain`] finds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::ids::ClientId;

/// The `prev_hash` of a client's first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain of records about the stack as a whole rather than one client (a new policy
/// version taking effect): `cli_` with the nil ULID, which no client can have. It is exported
/// and verified like any client's chain.
pub fn stack_chain() -> ClientId {
    ClientId::from_ulid(ulid::Ulid::nil())
}

/// Where a client's chain ends: what the next record links to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The last record's `seq` (0 before the first).
    pub seq: u64,
    /// The last record's hash ([`GENESIS_HASH`] before the first).
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }

    /// The head once `record` was appended.
    pub fn after(record: &AuditRecord) -> Self {
        Self {
            seq: record.seq,
            hash: record.hash.clone(),
        }
    }
}

/// What happened, by whom, to what: the part of a record that is hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The principal that caused it.
    pub actor: String,
    /// Dotted action name, e.g. `client.registered`.
    pub action: String,
    /// The id the action was about.
    pub subject: String,
    /// Further facts (ids, decisions, reasons); never secrets.
    pub detail: BTreeMap<String, String>,
}

/// One record of a client's audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The client whose chain this is.
    pub client_id: ClientId,
    /// Position in the chain, from 1, no gaps.
    pub seq: u64,
    /// When the change committed.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// What happened.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Hash of the previous record.
    pub prev_hash: String,
    /// `sha256(prev_hash || canonical record)`, hex.
    pub hash: String,
}

/// The fields that are hashed, in a fixed order.
#[derive(Serialize)]
struct Canonical<'a> {
    client_id: &'a ClientId,
    seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
    actor: &'a str,
    action: &'a str,
    subject: &'a str,
    detail: &'a BTreeMap<String, String>,
}

fn chain_hash(
    prev_hash: &str,
    client_id: &ClientId,
    seq: u64,
    occurred_at: OffsetDateTime,
    entry: &AuditEntry,
) -> String {
    let canonical = Canonical {
        client_id,
        seq,
        occurred_at,
        actor: &entry.actor,
        action: &entry.action,
        subject: &entry.subject,
        detail: &entry.detail,
    };
    // Serialising plain strings, integers and a BTreeMap cannot fail.
    let bytes = serde_json::to_vec(&canonical).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(&bytes);
    hex::encode(h.finalize())
}

impl AuditRecord {
    /// The record that follows `head` in `client_id`'s chain.
    pub fn append(
        head: &ChainHead,
        client_id: ClientId,
        occurred_at: OffsetDateTime,
        entry: AuditEntry,
    ) -> Self {
        let seq = head.seq + 1;
        let hash = chain_hash(&head.hash, &client_id, seq, occurred_at, &entry);
        Self {
            client_id,
            seq,
            occurred_at,
            entry,
            prev_hash: head.hash.clone(),
            hash,
        }
    }

    /// The chain head after this record.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// Why a chain failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// A record is missing or out of order.
    #[error("expected seq {expected}, found {found}")]
    Gap {
        /// The seq that should have come next.
        expected: u64,
        /// The seq that came.
        found: u64,
    },
    /// A record does not link to its predecessor.
    #[error("record {seq} does not link to its predecessor")]
    BrokenLink {
        /// The record's seq.
        seq: u64,
    },
    /// A record's content no longer matches its hash: it was edited.
    #[error("record {seq} was altered")]
    Altered {
        /// The record's seq.
        seq: u64,
    },
    /// Records of several clients were mixed.
    #[error("record {seq} belongs to another client")]
    ForeignRecord {
        /// The record's seq.
        seq: u64,
    },
}

/// Checks a client's whole chain, oldest first; returns its head.
pub fn verify_chain(records: &[AuditRecord]) -> Result<ChainHead, ChainBreak> {
    let mut head = ChainHead::genesis();
    let client = records.first().map(|r| r.client_id);
    for r in records {
        if Some(r.client_id) != client {
            return Err(ChainBreak::ForeignRecord { seq: r.seq });
        }
        if r.seq != head.seq + 1 {
            return Err(ChainBreak::Gap {
                expected: head.seq + 1,
                found: r.seq,
            });
        }
        if r.prev_hash != head.hash {
            return Err(ChainBreak::BrokenLink { seq: r.seq });
        }
        if chain_hash(&r.prev_hash, &r.client_id, r.seq, r.occurred_at, &r.entry) != r.hash {
            return Err(ChainBreak::Altered { seq: r.seq });
        }
        head = r.head();
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn chain(n: u64) -> Vec<AuditRecord> {
        let client = ClientId::generate();
        let mut head = ChainHead::genesis();
        (0..n)
            .map(|i| {
                let entry = AuditEntry {
                    actor: "cli_operator".into(),
                    action: "client.registered".into(),
                    subject: client.to_string(),
                    detail: BTreeMap::from([("i".into(), i.to_string())]),
                };
                let at = OffsetDateTime::UNIX_EPOCH + Duration::seconds(i as i64);
                let r = AuditRecord::append(&head, client, at, entry);
                head = r.head();
                r
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let records = chain(5);
        assert_eq!(verify_chain(&records).unwrap().seq, 5);
        assert_eq!(records[0].prev_hash, GENESIS_HASH);
    }

    #[test]
    fn an_edited_record_is_detected() {
        let mut records = chain(5);
        records[2].entry.actor = "someone-else".into();
        assert_eq!(verify_chain(&records), Err(ChainBreak::Altered { seq: 3 }));
    }

    #[test]
    fn a_removed_record_is_detected() {
        let mut records = chain(5);
        records.remove(1);
        assert_eq!(
            verify_chain(&records),
            Err(ChainBreak::Gap {
                expected: 2,
                found: 3
            })
        );
    }

    #[test]
    fn a_rehashed_edit_breaks_the_next_link() {
        let mut records = chain(3);
        records[1].entry.action = "forged".into();
        records[1].hash = chain_hash(
            &records[1].prev_hash,
            &records[1].client_id,
            2,
            records[1].occurred_at,
            &records[1].entry,
        );
        assert_eq!(
            verify_chain(&records),
            Err(ChainBreak::BrokenLink { seq: 3 })
        );
    }
}
