//! The local revocation set: revoked credential ids for an O(1) check, started from a snapshot
//! of the registry's relevant entries (`/v1/revocations/snapshot`), kept current from the
//! registry (`/v1/revocations?since=`, in `seq` order) and from `Credential Revoked` events,
//! with the `seq` position and the time of the last complete sync that make staleness known.
//! An entry is forgotten once its credential has expired (and the clock leeway passed): no
//! token of it can be accepted any more, so the set holds what still matters, not history.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::error::{PageError, VerifyError};
use crate::validation::{RevocationPolicy, Validation};

/// One registry entry, as `GET /v1/revocations` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RevocationEntry {
    /// Registry position: strictly increasing from 1, no gaps.
    pub seq: u64,
    /// The revoked credential (`crd_…`).
    pub credential_id: String,
    /// Its client (`cli_…`); informational.
    #[serde(default)]
    pub client_id: String,
    /// Why it was revoked; informational.
    #[serde(default)]
    pub reason: String,
    /// When the revocation committed (RFC 3339); informational.
    #[serde(default)]
    pub revoked_at: String,
    /// When the credential would have expired (RFC 3339): the entry is forgotten after it.
    /// Absent (or unreadable): kept for as long as the set lives.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// One page of `GET /v1/revocations/snapshot?cursor=C`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SnapshotPage {
    /// The registry position the whole snapshot is consistent at.
    pub seq: u64,
    /// Entries still relevant.
    pub items: Vec<RevocationEntry>,
    /// The cursor of the next page; absent on the last.
    #[serde(default)]
    pub next: Option<String>,
}

/// One page of `GET /v1/revocations?since=SEQ&limit=N`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RevocationPage {
    /// Entries with `seq > since`, in `seq` order.
    pub items: Vec<RevocationEntry>,
    /// The `since` of the following page; present only when this page was full.
    #[serde(default)]
    pub next: Option<u64>,
}

/// The `detail` of a `Credential Revoked` event; unknown members are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RevocationEvent {
    /// The event's id (`evt_…`), stable across redeliveries.
    #[serde(default)]
    pub event_id: String,
    /// Registry position of the revocation.
    pub seq: u64,
    /// The revoked credential.
    pub credential_id: String,
    /// Its client; informational.
    #[serde(default)]
    pub client_id: String,
    /// Why; informational.
    #[serde(default)]
    pub reason: String,
    /// When the revocation committed; informational.
    #[serde(default)]
    pub revoked_at: String,
    /// When the credential would have expired: the entry is forgotten after it.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// The event was the next `seq` (perhaps with earlier out-of-order ones): the set advanced.
    Applied,
    /// Already known: nothing changed.
    Duplicate,
    /// Events are missing before this one. Its credential is refused already, but the set needs
    /// a backfill from the registry: the next sync fetches from [`RevocationSet::last_seq`].
    Gap {
        /// The first missing seq.
        missing_from: u64,
        /// The event's seq.
        seq: u64,
    },
}

/// What applying a registry page did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageOutcome {
    /// The registry has nothing more: the set is synced as of the page's request time.
    Complete,
    /// Another page follows: ask with this `since`.
    More {
        /// The `since` of the next request.
        since: u64,
    },
}

/// What applying a snapshot page did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// Another page follows: ask with this cursor.
    More {
        /// The `cursor` of the next request.
        cursor: String,
    },
    /// The snapshot is whole: the set covers the registry up to its `seq` and follows the
    /// registry from there.
    Complete,
}

/// Revoked credential ids, the registry position they cover and when they were last known
/// complete.
#[derive(Debug, Clone, Default)]
pub struct RevocationSet {
    /// Credential ids, ASCII-lowercased (ULIDs are case-insensitive, and a spelling difference
    /// must never let a revoked credential through), each with its credential's expiry when
    /// known.
    revoked: HashMap<Box<str>, Option<SystemTime>>,
    /// Whether the set has a baseline: a whole snapshot, or a registry read from the start.
    /// Until then events alone cannot say what was revoked before they began.
    baseline: bool,
    /// Every seq up to and including this one has been applied.
    last_seq: u64,
    /// Seqs beyond `last_seq + 1` seen out of order (their ids are in `revoked` already).
    ahead: BTreeSet<u64>,
    /// Request time of the last registry page that completed a sync.
    synced_at: Option<SystemTime>,
}

impl RevocationSet {
    /// An empty set that has never been synced (so it is stale until the first sync).
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `credential_id` is revoked, ignoring ASCII case.
    pub fn is_revoked(&self, credential_id: &str) -> bool {
        let mut buf = [0u8; 64];
        match buf.get_mut(..credential_id.len()) {
            Some(lower) => {
                lower.copy_from_slice(credential_id.as_bytes());
                lower.make_ascii_lowercase();
                // ASCII lowercasing keeps UTF-8 valid, so this always succeeds.
                std::str::from_utf8(lower).is_ok_and(|id| self.revoked.contains_key(id))
            }
            None => self
                .revoked
                .contains_key(credential_id.to_ascii_lowercase().as_str()),
        }
    }

    /// The highest seq up to which every revocation has been applied.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// How many credentials are revoked.
    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    /// Whether no credential is revoked.
    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }

    /// Whether the set still needs its baseline (a snapshot) before following the registry.
    pub fn needs_snapshot(&self) -> bool {
        !self.baseline
    }

    /// Whether events arrived ahead of a gap that a registry sync must fill.
    pub fn needs_backfill(&self) -> bool {
        !self.ahead.is_empty()
    }

    /// When the set was last known complete: the request time of the last page of the last
    /// successful sync.
    pub fn synced_at(&self) -> Option<SystemTime> {
        self.synced_at
    }

    /// How long ago the last successful sync was, at `now` (`None`: never synced). A clock that
    /// went backwards reads as zero.
    pub fn age(&self, now: SystemTime) -> Option<Duration> {
        self.synced_at
            .map(|at| now.duration_since(at).unwrap_or(Duration::ZERO))
    }

    /// Declares the set complete as of `as_of` (e.g. restored from a snapshot the caller
    /// trusts, or in tests). Registry syncs do this themselves.
    pub fn mark_synced(&mut self, as_of: SystemTime) {
        self.synced_at = Some(self.synced_at.map_or(as_of, |at| at.max(as_of)));
    }

    /// Applies a `Credential Revoked` event: the next seq advances the set, a later one is
    /// refused at once but leaves a gap to backfill, a known one changes nothing.
    pub fn apply_event(&mut self, event: &RevocationEvent) -> EventOutcome {
        let seq = event.seq;
        if seq <= self.last_seq || self.ahead.contains(&seq) {
            return EventOutcome::Duplicate;
        }
        self.insert(&event.credential_id, event.expires_at.as_deref());
        if seq == self.last_seq + 1 {
            self.advance();
            EventOutcome::Applied
        } else {
            self.ahead.insert(seq);
            EventOutcome::Gap {
                missing_from: self.last_seq + 1,
                seq,
            }
        }
    }

    /// Applies one registry page fetched at `requested_at`. Entries already known are skipped;
    /// every new entry is applied (its credential refused) even if the page breaks the
    /// registry's contract, but then the set is not marked synced. A page without `next`
    /// completes the sync as of `requested_at`.
    pub fn apply_page(
        &mut self,
        page: &RevocationPage,
        requested_at: SystemTime,
    ) -> Result<PageOutcome, PageError> {
        let mut broken = None;
        for entry in &page.items {
            if entry.seq <= self.last_seq {
                continue;
            }
            self.insert(&entry.credential_id, entry.expires_at.as_deref());
            if entry.seq == self.last_seq + 1 {
                self.advance();
            } else {
                broken.get_or_insert(PageError::Gap {
                    expected: self.last_seq + 1,
                    found: entry.seq,
                });
                self.ahead.insert(entry.seq);
            }
        }
        if let Some(error) = broken {
            return Err(error);
        }
        match page.next {
            Some(_) if page.items.is_empty() => Err(PageError::EmptyPageWithNext),
            // Paging resumes from what is applied, which is `next` when the page was whole.
            Some(_) => Ok(PageOutcome::More {
                since: self.last_seq,
            }),
            None => {
                // Read from the start or from a baseline: either way the set is whole now.
                self.baseline = true;
                self.mark_synced(requested_at);
                Ok(PageOutcome::Complete)
            }
        }
    }

    /// Applies one snapshot page. Its entries are refused from now on; the last page moves the
    /// set to the snapshot's `seq` (forgetting out-of-order events it covers), after which the
    /// registry is followed from there. A snapshot alone does not mark the set synced: the
    /// registry read that follows does.
    pub fn apply_snapshot_page(&mut self, page: &SnapshotPage) -> SnapshotOutcome {
        for entry in &page.items {
            self.insert(&entry.credential_id, entry.expires_at.as_deref());
        }
        if let Some(cursor) = &page.next {
            return SnapshotOutcome::More {
                cursor: cursor.clone(),
            };
        }
        if page.seq > self.last_seq {
            self.last_seq = page.seq;
            self.ahead.retain(|&seq| seq > page.seq);
            while self.ahead.remove(&(self.last_seq + 1)) {
                self.last_seq += 1;
            }
        }
        self.baseline = true;
        SnapshotOutcome::Complete
    }

    /// Forgets the entries whose credentials expired more than `leeway` before `now`: every
    /// token of them is refused as expired anyway (tokens never outlive their credential).
    /// Answers how many were forgotten.
    pub fn forget_expired(&mut self, now: SystemTime, leeway: Duration) -> usize {
        let before = self.revoked.len();
        self.revoked
            .retain(|_, expires| expires.is_none_or(|e| now < e + leeway));
        before - self.revoked.len()
    }

    /// The revocation check of a signature-checked token's credential at `now`.
    pub fn check(
        &self,
        credential_id: &str,
        now: SystemTime,
        validation: &Validation,
    ) -> Result<(), VerifyError> {
        if self.is_revoked(credential_id) {
            return Err(VerifyError::Revoked);
        }
        if validation.revocation_policy == RevocationPolicy::FailOpen {
            return Ok(());
        }
        match self.age(now) {
            Some(age) if age <= validation.max_staleness => Ok(()),
            _ => Err(VerifyError::RevocationStatusUnknown),
        }
    }

    /// Adds `credential_id` with its expiry (RFC 3339; absent or unreadable: kept forever).
    /// Seen twice, the later expiry stays.
    fn insert(&mut self, credential_id: &str, expires_at: Option<&str>) {
        let expires = expires_at.and_then(parse_rfc3339);
        self.revoked
            .entry(credential_id.to_ascii_lowercase().into_boxed_str())
            .and_modify(|known| {
                *known = match (*known, expires) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                }
            })
            .or_insert(expires);
    }

    /// Moves `last_seq` one on, then over any out-of-order seqs that are now contiguous.
    fn advance(&mut self) {
        self.last_seq += 1;
        while self.ahead.remove(&(self.last_seq + 1)) {
            self.last_seq += 1;
        }
    }
}

/// `text` as a point in time, if it is RFC 3339.
fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn event(seq: u64) -> RevocationEvent {
        RevocationEvent {
            event_id: format!("evt_{seq}"),
            seq,
            credential_id: format!("crd_{seq}"),
            client_id: "cli_1".into(),
            reason: "key_compromise".into(),
            revoked_at: "2026-11-27T16:00:00Z".into(),
            expires_at: None,
        }
    }

    fn entry(seq: u64) -> RevocationEntry {
        RevocationEntry {
            seq,
            credential_id: format!("crd_{seq}"),
            client_id: "cli_1".into(),
            reason: "key_compromise".into(),
            revoked_at: "2026-11-27T16:00:00Z".into(),
            expires_at: None,
        }
    }

    fn page(seqs: std::ops::RangeInclusive<u64>, next: Option<u64>) -> RevocationPage {
        RevocationPage {
            items: seqs.map(entry).collect(),
            next,
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn events_in_order_advance_the_set() {
        let mut set = RevocationSet::new();
        assert_eq!(set.apply_event(&event(1)), EventOutcome::Applied);
        assert_eq!(set.apply_event(&event(2)), EventOutcome::Applied);
        assert_eq!(set.last_seq(), 2);
        assert!(set.is_revoked("crd_1") && set.is_revoked("crd_2"));
        assert!(!set.needs_backfill());
    }

    #[test]
    fn an_event_after_a_gap_is_refused_at_once_and_asks_for_a_backfill() {
        let mut set = RevocationSet::new();
        set.apply_event(&event(1));
        assert_eq!(
            set.apply_event(&event(4)),
            EventOutcome::Gap {
                missing_from: 2,
                seq: 4
            }
        );
        assert!(set.is_revoked("crd_4"));
        assert!(set.needs_backfill());
        assert_eq!(set.last_seq(), 1, "the next sync asks since=1");
    }

    #[test]
    fn late_events_that_fill_the_gap_close_it() {
        let mut set = RevocationSet::new();
        set.apply_event(&event(1));
        set.apply_event(&event(3));
        assert_eq!(set.apply_event(&event(2)), EventOutcome::Applied);
        assert_eq!(set.last_seq(), 3);
        assert!(!set.needs_backfill());
    }

    #[test]
    fn duplicate_events_change_nothing() {
        let mut set = RevocationSet::new();
        set.apply_event(&event(1));
        set.apply_event(&event(3));
        let before = (set.len(), set.last_seq(), set.needs_backfill());
        assert_eq!(set.apply_event(&event(1)), EventOutcome::Duplicate);
        assert_eq!(set.apply_event(&event(3)), EventOutcome::Duplicate);
        assert_eq!((set.len(), set.last_seq(), set.needs_backfill()), before);
    }

    #[test]
    fn pages_with_next_are_followed_until_the_last_one_completes_the_sync() {
        let mut set = RevocationSet::new();
        assert_eq!(
            set.apply_page(&page(1..=3, Some(3)), at(100)),
            Ok(PageOutcome::More { since: 3 })
        );
        assert_eq!(set.synced_at(), None, "not synced before the last page");
        assert_eq!(
            set.apply_page(&page(4..=5, None), at(101)),
            Ok(PageOutcome::Complete)
        );
        assert_eq!(set.last_seq(), 5);
        assert_eq!(set.len(), 5);
        assert_eq!(set.synced_at(), Some(at(101)));
    }

    #[test]
    fn a_backfill_page_fills_the_gap_an_event_left() {
        let mut set = RevocationSet::new();
        set.apply_event(&event(1));
        set.apply_event(&event(4));
        assert_eq!(
            set.apply_page(&page(2..=4, None), at(5)),
            Ok(PageOutcome::Complete)
        );
        assert_eq!(set.last_seq(), 4);
        assert!(!set.needs_backfill());
    }

    #[test]
    fn a_page_that_skips_a_seq_is_applied_but_does_not_count_as_a_sync() {
        let mut set = RevocationSet::new();
        let broken = RevocationPage {
            items: vec![entry(1), entry(3)],
            next: None,
        };
        assert_eq!(
            set.apply_page(&broken, at(5)),
            Err(PageError::Gap {
                expected: 2,
                found: 3
            })
        );
        assert!(set.is_revoked("crd_3"));
        assert_eq!(set.synced_at(), None);
        assert_eq!(
            set.apply_page(&page(1..=1, Some(1)), at(6)),
            Ok(PageOutcome::More { since: 1 })
        );
        assert_eq!(
            set.apply_page(&page(2..=2, Some(2)), at(6)),
            Ok(PageOutcome::More { since: 3 }),
            "seq 3 was already applied out of order"
        );
    }

    #[test]
    fn an_empty_page_that_names_a_next_one_is_refused() {
        let mut set = RevocationSet::new();
        let empty = RevocationPage {
            items: vec![],
            next: Some(0),
        };
        assert_eq!(
            set.apply_page(&empty, at(1)),
            Err(PageError::EmptyPageWithNext)
        );
    }

    #[test]
    fn ids_match_whatever_their_case() {
        let mut set = RevocationSet::new();
        set.apply_event(&RevocationEvent {
            credential_id: "crd_01JDXYZABCDEFGHJKMNPQRSTVW".into(),
            ..event(1)
        });
        assert!(set.is_revoked("crd_01jdxyzabcdefghjkmnpqrstvw"));
        assert!(set.is_revoked("CRD_01JDXYZABCDEFGHJKMNPQRSTVW"));
        assert!(!set.is_revoked("crd_01JDXYZABCDEFGHJKMNPQRSTVX"));
        let long = "crd_".repeat(30);
        set.apply_event(&RevocationEvent {
            credential_id: long.to_uppercase(),
            ..event(2)
        });
        assert!(set.is_revoked(&long));
    }

    #[test]
    fn an_event_detail_parses_from_the_published_json() {
        let detail = r#"{"event_id":"evt_1","occurred_at":"2026-11-27T16:00:00Z",
            "schema_version":"1","seq":7,"credential_id":"crd_1","client_id":"cli_1",
            "reason":"key_compromise","revoked_at":"2026-11-27T16:00:00Z"}"#;
        let event: RevocationEvent = serde_json::from_str(detail).unwrap();
        assert_eq!((event.seq, event.credential_id.as_str()), (7, "crd_1"));
    }

    #[test]
    fn staleness_is_judged_from_the_last_complete_sync() {
        let validation = Validation::new("i", "a");
        let mut set = RevocationSet::new();
        assert_eq!(
            set.check("crd_x", at(0), &validation),
            Err(VerifyError::RevocationStatusUnknown),
            "never synced"
        );
        set.apply_page(&page(1..=1, None), at(1000)).unwrap();
        assert_eq!(set.check("crd_x", at(1000 + 120), &validation), Ok(()));
        assert_eq!(
            set.check("crd_x", at(1000 + 121), &validation),
            Err(VerifyError::RevocationStatusUnknown)
        );
        assert_eq!(
            set.check("crd_1", at(1000), &validation),
            Err(VerifyError::Revoked)
        );
        let mut open = validation.clone();
        open.revocation_policy = RevocationPolicy::FailOpen;
        assert_eq!(set.check("crd_x", at(5000), &open), Ok(()));
        assert_eq!(
            set.check("crd_1", at(5000), &open),
            Err(VerifyError::Revoked)
        );
    }

    /// Unix second `secs` in RFC 3339.
    fn rfc3339(secs: u64) -> String {
        let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap()).unwrap();
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    }

    fn expiring(seq: u64, expires: u64) -> RevocationEntry {
        RevocationEntry {
            expires_at: Some(rfc3339(expires)),
            ..entry(seq)
        }
    }

    #[test]
    fn a_snapshot_sets_the_baseline_at_its_seq_and_the_registry_is_followed_from_there() {
        let mut set = RevocationSet::new();
        assert!(set.needs_snapshot());
        set.apply_event(&event(9));
        set.apply_event(&event(12));
        let first = SnapshotPage {
            seq: 10,
            items: vec![expiring(3, 2000)],
            next: Some("c1".into()),
        };
        assert_eq!(
            set.apply_snapshot_page(&first),
            SnapshotOutcome::More {
                cursor: "c1".into()
            }
        );
        assert!(set.needs_snapshot(), "not before the last page");
        let last = SnapshotPage {
            seq: 10,
            items: vec![expiring(7, 2000)],
            next: None,
        };
        assert_eq!(set.apply_snapshot_page(&last), SnapshotOutcome::Complete);
        assert!(!set.needs_snapshot());
        assert_eq!(
            set.last_seq(),
            10,
            "event 9 is covered, event 12 still ahead"
        );
        assert!(set.needs_backfill());
        assert!(set.is_revoked("crd_3") && set.is_revoked("crd_7") && set.is_revoked("crd_12"));
        assert_eq!(
            set.synced_at(),
            None,
            "the registry read after it marks the sync"
        );
        assert_eq!(
            set.apply_page(&page(11..=12, None), at(100)),
            Ok(PageOutcome::Complete)
        );
        assert_eq!(set.last_seq(), 12);
    }

    #[test]
    fn a_registry_read_from_the_start_is_a_baseline_too() {
        let mut set = RevocationSet::new();
        set.apply_page(&page(1..=2, None), at(1)).unwrap();
        assert!(!set.needs_snapshot());
    }

    #[test]
    fn entries_are_forgotten_once_their_credential_expired_and_the_leeway_passed() {
        let mut set = RevocationSet::new();
        set.apply_page(
            &RevocationPage {
                items: vec![expiring(1, 1000), expiring(2, 5000), entry(3)],
                next: None,
            },
            at(1),
        )
        .unwrap();
        let leeway = Duration::from_secs(30);
        assert_eq!(set.forget_expired(at(1029), leeway), 0);
        assert_eq!(set.forget_expired(at(1030), leeway), 1);
        assert!(!set.is_revoked("crd_1"));
        assert!(set.is_revoked("crd_2"));
        assert_eq!(
            set.forget_expired(at(u64::from(u32::MAX)), leeway),
            1,
            "an entry without an expiry stays"
        );
        assert!(set.is_revoked("crd_3"));
        assert_eq!(set.last_seq(), 3, "forgetting never moves the position");
    }

    #[test]
    fn the_same_credential_seen_twice_keeps_the_later_expiry() {
        let mut set = RevocationSet::new();
        set.apply_event(&RevocationEvent {
            expires_at: Some(rfc3339(5000)),
            ..event(1)
        });
        set.apply_snapshot_page(&SnapshotPage {
            seq: 1,
            items: vec![RevocationEntry {
                credential_id: "crd_1".into(),
                ..expiring(1, 1000)
            }],
            next: None,
        });
        assert_eq!(set.forget_expired(at(2000), Duration::ZERO), 0);
        set.apply_event(&RevocationEvent {
            expires_at: Some("not a time".into()),
            credential_id: "crd_1".into(),
            ..event(2)
        });
        assert_eq!(
            set.forget_expired(at(9000), Duration::ZERO),
            0,
            "an unreadable expiry keeps the entry"
        );
    }
}
