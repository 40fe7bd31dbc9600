//! Credentials: one client's right to obtain tokens, with its place in the lifecycle.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::{Client, ClientStatus};
use crate::ids::{ClientId, CredentialId, RequestId};
use crate::lifecycle::{CredentialState, IllegalTransition, LifecycleEvent, transition};
use crate::revocation::RevocationReason;
use crate::secret::SecretHash;

/// How a revoked credential was revoked: enough to answer a repeated revoke identically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Registry position.
    pub seq: u64,
    /// Why.
    pub reason: RevocationReason,
    /// When it committed.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// Who.
    pub revoked_by: String,
}

/// A credential as stored: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Its id; also embedded in its secret.
    pub credential_id: CredentialId,
    /// The client it belongs to.
    pub client_id: ClientId,
    /// Lifecycle state.
    pub status: CredentialState,
    /// Scopes its tokens may carry (a subset of the client's).
    pub scopes: BTreeSet<String>,
    /// Audiences its tokens may target (a subset of the client's).
    pub audiences: BTreeSet<String>,
    /// When it became usable.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub issued_at: Option<OffsetDateTime>,
    /// When it stops being usable.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// From when a successor should be issued. Absent rather than null when unknown: it is
    /// the sort key of the `by-renewal` index, whose keys must be strings when present.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub renew_after: Option<OffsetDateTime>,
    /// Version of the policy that allowed it.
    pub policy_version: String,
    /// The issuance request that created it, if any (the bootstrap credential has none).
    #[serde(default)]
    pub request_id: Option<RequestId>,
    /// The credential this one replaced.
    #[serde(default)]
    pub rotated_from: Option<CredentialId>,
    /// The credential that replaced this one.
    #[serde(default)]
    pub rotated_to: Option<CredentialId>,
    /// SHA-256 of the secret.
    pub secret_hash: SecretHash,
    /// Set when it was revoked.
    #[serde(default)]
    pub revocation: Option<Revocation>,
    /// When it last authenticated, to within [`Credential::use_interval`]: written at most once
    /// an interval, never once per token.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_used_at: Option<OffsetDateTime>,
}

/// How often a credential's use is written down when no rotation waits on it.
pub const USE_INTERVAL: time::Duration = time::Duration::hours(1);

impl Credential {
    /// Applies a lifecycle event, or refuses it without changing anything.
    pub fn apply(&mut self, event: LifecycleEvent) -> Result<CredentialState, IllegalTransition> {
        self.status = transition(self.status, event)?;
        Ok(self.status)
    }

    /// The state as callers should see it at `now`: an active credential past its expiry is
    /// expired, whether or not the expiry sweep has recorded it yet.
    pub fn status_at(&self, now: OffsetDateTime) -> CredentialState {
        match self.status {
            CredentialState::Active if now >= self.expires_at => CredentialState::Expired,
            stored => stored,
        }
    }

    /// Whether the credential may authenticate at `now`: active and not past its expiry.
    pub fn is_usable_at(&self, now: OffsetDateTime) -> bool {
        self.status_at(now) == CredentialState::Active
    }

    /// How precisely its use is tracked: to `resolution` while it is a predecessor in an
    /// overlap (a rotation that retires on drain watches it), to [`USE_INTERVAL`] otherwise.
    pub fn use_interval(&self, resolution: time::Duration) -> time::Duration {
        if self.rotated_to.is_some() {
            resolution
        } else {
            USE_INTERVAL
        }
    }

    /// Whether a use at `now` should be written down: never recorded, or not within its
    /// [`Credential::use_interval`].
    pub fn use_to_record(&self, now: OffsetDateTime, resolution: time::Duration) -> bool {
        self.last_used_at
            .is_none_or(|t| now - t >= self.use_interval(resolution))
    }

    /// Whether the credential may authenticate at `now` on behalf of `client`: usable, and
    /// `client` is its client and still active. A revoked or suspended client's credentials
    /// stop working the moment the client's status changes, before its revocation workflow
    /// has reached them.
    pub fn is_usable_for(&self, client: &Client, now: OffsetDateTime) -> bool {
        self.is_usable_at(now)
            && client.client_id == self.client_id
            && client.status == ClientStatus::Active
    }

    /// The credential as it may act now: with the scopes and audiences it was issued with that
    /// `client` still allows. Narrowing a client narrows its live credentials at once;
    /// widening it never gives a credential anything it was not issued with.
    pub fn confined_to(mut self, client: &Client) -> Self {
        self.scopes.retain(|s| client.allowed_scopes.contains(s));
        self.audiences
            .retain(|a| client.allowed_audiences.contains(a));
        self
    }
}

/// Credentials for other modules' tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use crate::secret::{ClientSecret, SecretMode};

    /// An active credential for scopes `a:read a:write` and audiences `https://a https://b`,
    /// expiring in a day.
    pub(crate) fn credential() -> Credential {
        let id = CredentialId::generate();
        let secret = ClientSecret::generate(id, SecretMode::Test).unwrap();
        Credential {
            credential_id: id,
            client_id: ClientId::generate(),
            status: CredentialState::Active,
            scopes: BTreeSet::from(["a:read".to_owned(), "a:write".to_owned()]),
            audiences: BTreeSet::from(["https://a".to_owned(), "https://b".to_owned()]),
            issued_at: Some(OffsetDateTime::now_utc()),
            expires_at: OffsetDateTime::now_utc() + time::Duration::days(1),
            renew_after: None,
            policy_version: "test".into(),
            request_id: None,
            rotated_from: None,
            rotated_to: None,
            secret_hash: secret.hash(),
            revocation: None,
            last_used_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn active(expires_in: Duration) -> Credential {
        let mut c = super::tests_support::credential();
        c.issued_at = Some(OffsetDateTime::UNIX_EPOCH);
        c.expires_at = OffsetDateTime::UNIX_EPOCH + expires_in;
        c
    }

    #[test]
    fn an_expired_or_revoked_credential_is_not_usable() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::hours(1);
        assert!(active(Duration::hours(2)).is_usable_at(now));
        assert!(!active(Duration::minutes(30)).is_usable_at(now));
        let mut revoked = active(Duration::hours(2));
        revoked.apply(LifecycleEvent::Revoke).unwrap();
        assert!(!revoked.is_usable_at(now));
    }

    #[test]
    fn an_active_credential_past_its_expiry_reads_as_expired() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::hours(1);
        assert_eq!(
            active(Duration::hours(2)).status_at(now),
            CredentialState::Active
        );
        assert_eq!(
            active(Duration::hours(1)).status_at(now),
            CredentialState::Expired
        );
        let mut revoked = active(Duration::minutes(30));
        revoked.apply(LifecycleEvent::Revoke).unwrap();
        assert_eq!(revoked.status_at(now), CredentialState::Revoked);
    }

    #[test]
    fn only_an_active_client_makes_its_credential_usable() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::hours(1);
        let credential = active(Duration::hours(2));
        let mut client = crate::client::tests_support::client();
        client.client_id = credential.client_id;
        assert!(credential.is_usable_for(&client, now));
        for status in [ClientStatus::Suspended, ClientStatus::Revoked] {
            client.status = status;
            assert!(!credential.is_usable_for(&client, now), "{status:?}");
        }
        let other = crate::client::tests_support::client();
        assert!(!credential.is_usable_for(&other, now));
        client.status = ClientStatus::Active;
        assert!(!credential.is_usable_for(&client, now + Duration::hours(2)));
    }

    #[test]
    fn a_credential_acts_only_within_what_its_client_still_allows() {
        let credential = active(Duration::hours(2));
        let mut client = crate::client::tests_support::client();
        client.allowed_scopes = BTreeSet::from(["a:read".to_owned(), "z:new".to_owned()]);
        client.allowed_audiences = BTreeSet::from(["https://b".to_owned()]);
        let confined = credential.clone().confined_to(&client);
        assert_eq!(confined.scopes, BTreeSet::from(["a:read".to_owned()]));
        assert_eq!(confined.audiences, BTreeSet::from(["https://b".to_owned()]));
        assert_eq!(confined.secret_hash, credential.secret_hash);
    }

    #[test]
    fn use_is_written_hourly_and_to_the_resolution_while_a_successor_waits() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        let second = Duration::seconds(1);
        let mut c = active(Duration::days(2));
        assert!(c.use_to_record(now, 60 * second), "never used");
        c.last_used_at = Some(now - Duration::minutes(59));
        assert!(!c.use_to_record(now, 60 * second));
        c.last_used_at = Some(now - Duration::hours(1));
        assert!(c.use_to_record(now, 60 * second));
        c.rotated_to = Some(CredentialId::generate());
        c.last_used_at = Some(now - 59 * second);
        assert!(!c.use_to_record(now, 60 * second));
        c.last_used_at = Some(now - 60 * second);
        assert!(c.use_to_record(now, 60 * second));
    }

    #[test]
    fn an_unknown_renewal_time_is_left_out_not_null() {
        let mut c = active(Duration::hours(1));
        c.renew_after = None;
        let json = serde_json::to_value(&c).unwrap();
        assert!(json.get("renew_after").is_none(), "{json}");
        let back: Credential = serde_json::from_value(json).unwrap();
        assert_eq!(back.renew_after, None);
    }

    #[test]
    fn a_refused_event_changes_nothing() {
        let mut c = active(Duration::hours(1));
        assert!(c.apply(LifecycleEvent::Approve).is_err());
        assert_eq!(c.status, CredentialState::Active);
    }
}
