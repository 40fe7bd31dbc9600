//! Access review: per client, who owns it, what it may do, which credentials it holds, when
//! they expire and when they were last used, with the flags a reviewer acts on. Pure: the api
//! and the scheduled review read the data, this decides what it means.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::client::{Client, ClientStatus, Environment, Tier};
use crate::credential::Credential;
use crate::ids::{ClientId, CredentialId};

/// Days without use after which a credential counts as unused, when the caller names none.
pub const DEFAULT_UNUSED_DAYS: u32 = 30;
/// The most days a review may look back.
pub const MAX_UNUSED_DAYS: u32 = 365;

/// What a reviewer should look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewFlag {
    /// Nothing of the client authenticated within the review window (or it holds no active
    /// credential and is older than the window): a candidate for suspension or revocation.
    Unused,
    /// It may carry scopes that none of its active credentials carries: narrow it.
    OverPrivileged,
}

/// One active credential, as the review shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialReview {
    /// Its id.
    pub credential_id: CredentialId,
    /// Its scopes.
    pub scopes: BTreeSet<String>,
    /// When it expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it last authenticated (to the hour), if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// Not used within the review window (never used, and older than it, counts).
    pub unused: bool,
}

/// One client, as the review shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientReview {
    /// Its id.
    pub client_id: ClientId,
    /// Its name.
    pub name: String,
    /// Who registered it.
    pub owner: String,
    /// Environment.
    pub environment: Environment,
    /// Tier.
    pub tier: Tier,
    /// Active or suspended.
    pub status: ClientStatus,
    /// What its credentials may carry.
    pub allowed_scopes: BTreeSet<String>,
    /// Its active credentials.
    pub credentials: Vec<CredentialReview>,
    /// Allowed scopes no active credential carries.
    pub unused_scopes: BTreeSet<String>,
    /// What to look at (empty: nothing).
    pub flags: BTreeSet<ReviewFlag>,
}

/// Counts over many reviewed clients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewSummary {
    /// Clients reviewed.
    pub clients: u64,
    /// Their active credentials.
    pub credentials: u64,
    /// Of those, unused within the window.
    pub unused_credentials: u64,
    /// Clients flagged unused.
    pub unused_clients: u64,
    /// Clients flagged over-privileged.
    pub over_privileged_clients: u64,
}

impl ReviewSummary {
    /// Adds one reviewed client.
    pub fn add(&mut self, review: &ClientReview) {
        self.clients += 1;
        self.credentials += review.credentials.len() as u64;
        self.unused_credentials += review.credentials.iter().filter(|c| c.unused).count() as u64;
        self.unused_clients += u64::from(review.flags.contains(&ReviewFlag::Unused));
        self.over_privileged_clients +=
            u64::from(review.flags.contains(&ReviewFlag::OverPrivileged));
    }
}

/// The review of `client` holding the active `credentials`, at `now`, with `unused_days` as
/// the window.
pub fn review(
    client: &Client,
    credentials: &[Credential],
    now: OffsetDateTime,
    unused_days: u32,
) -> ClientReview {
    let window = Duration::days(i64::from(unused_days));
    let older_than_window = |t: OffsetDateTime| now - t >= window;
    let reviewed: Vec<CredentialReview> = credentials
        .iter()
        .map(|c| CredentialReview {
            credential_id: c.credential_id,
            scopes: c.scopes.clone(),
            expires_at: c.expires_at,
            last_used_at: c.last_used_at,
            unused: match c.last_used_at {
                Some(used) => older_than_window(used),
                None => c.issued_at.is_none_or(older_than_window),
            },
        })
        .collect();
    let carried: BTreeSet<String> = credentials
        .iter()
        .flat_map(|c| c.scopes.iter().cloned())
        .collect();
    let unused_scopes: BTreeSet<String> = client
        .allowed_scopes
        .difference(&carried)
        .cloned()
        .collect();
    let mut flags = BTreeSet::new();
    let dormant = if reviewed.is_empty() {
        older_than_window(client.created_at)
    } else {
        reviewed.iter().all(|c| c.unused)
    };
    if dormant {
        flags.insert(ReviewFlag::Unused);
    }
    if !unused_scopes.is_empty() {
        flags.insert(ReviewFlag::OverPrivileged);
    }
    ClientReview {
        client_id: client.client_id,
        name: client.name.clone(),
        owner: client.owner.clone(),
        environment: client.environment,
        tier: client.tier,
        status: client.status,
        allowed_scopes: client.allowed_scopes.clone(),
        credentials: reviewed,
        unused_scopes,
        flags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::tests_support::credential;

    fn client_created(days_ago: i64, now: OffsetDateTime) -> Client {
        let mut c = crate::client::tests_support::client();
        c.allowed_scopes = BTreeSet::from(["a:read".to_owned(), "a:write".to_owned()]);
        c.created_at = now - Duration::days(days_ago);
        c
    }

    #[test]
    fn a_client_whose_credentials_are_all_idle_is_unused() {
        let now = OffsetDateTime::now_utc();
        let client = client_created(100, now);
        let mut idle = credential();
        idle.issued_at = Some(now - Duration::days(60));
        idle.last_used_at = Some(now - Duration::days(31));
        let r = review(&client, std::slice::from_ref(&idle), now, 30);
        assert!(r.credentials[0].unused);
        assert!(r.flags.contains(&ReviewFlag::Unused));
        idle.last_used_at = Some(now - Duration::days(29));
        let r = review(&client, std::slice::from_ref(&idle), now, 30);
        assert!(!r.flags.contains(&ReviewFlag::Unused));
        let mut fresh = credential();
        fresh.issued_at = Some(now - Duration::days(2));
        let r = review(&client, &[fresh], now, 30);
        assert!(!r.credentials[0].unused, "never used, but new");
    }

    #[test]
    fn allowed_scopes_no_credential_carries_make_a_client_over_privileged() {
        let now = OffsetDateTime::now_utc();
        let client = client_created(1, now);
        let mut c = credential();
        c.scopes = BTreeSet::from(["a:read".to_owned()]);
        let r = review(&client, &[c.clone()], now, 30);
        assert_eq!(r.unused_scopes, BTreeSet::from(["a:write".to_owned()]));
        assert!(r.flags.contains(&ReviewFlag::OverPrivileged));
        c.scopes = client.allowed_scopes.clone();
        assert!(review(&client, &[c], now, 30).flags.is_empty());
    }

    #[test]
    fn a_client_without_credentials_is_unused_only_once_it_is_older_than_the_window() {
        let now = OffsetDateTime::now_utc();
        assert!(
            !review(&client_created(3, now), &[], now, 30)
                .flags
                .contains(&ReviewFlag::Unused)
        );
        let old = review(&client_created(31, now), &[], now, 30);
        assert!(old.flags.contains(&ReviewFlag::Unused));
        let mut summary = ReviewSummary::default();
        summary.add(&old);
        assert_eq!(
            (
                summary.clients,
                summary.unused_clients,
                summary.over_privileged_clients
            ),
            (1, 1, 1)
        );
    }
}
