//! Revocation registry entries: one per revoked credential, numbered without gaps, each saying
//! until when it matters (its credential's expiry), and the months of expiry a snapshot of the
//! entries still relevant reads.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::error::{FieldViolation, UserError};
use crate::ids::{ClientId, CredentialId};

/// Why a credential was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// The secret leaked or may have.
    KeyCompromise,
    /// Replaced by a rotation.
    Superseded,
    /// Its client was revoked.
    ClientRevoked,
    /// It broke policy.
    PolicyViolation,
    /// An operator asked.
    OperatorRequest,
    /// Its lifetime ended.
    Expired,
}

impl RevocationReason {
    /// The snake_case name used in JSON, events and the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyCompromise => "key_compromise",
            Self::Superseded => "superseded",
            Self::ClientRevoked => "client_revoked",
            Self::PolicyViolation => "policy_violation",
            Self::OperatorRequest => "operator_request",
            Self::Expired => "expired",
        }
    }
}

/// The body of `POST /v1/credentials/{credential_id}/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why.
    pub reason: RevocationReason,
}

impl RevokeRequest {
    /// The reason, if an operator may give it: `superseded`, `client_revoked` and `expired` are
    /// Clavis's own (rotation, client revocation, expiry), never an operator's.
    pub fn operator_reason(&self) -> Result<RevocationReason, UserError> {
        match self.reason {
            RevocationReason::KeyCompromise
            | RevocationReason::PolicyViolation
            | RevocationReason::OperatorRequest => Ok(self.reason),
            other => Err(UserError::Invalid(vec![FieldViolation::new(
                "reason",
                format!(
                    "{} is set by Clavis itself; use key_compromise, policy_violation or operator_request",
                    other.as_str()
                ),
            )])),
        }
    }
}

/// One entry of the revocation registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationEntry {
    /// Position in the registry: strictly increasing, no gaps.
    pub seq: u64,
    /// The revoked credential.
    pub credential_id: CredentialId,
    /// Its client.
    pub client_id: ClientId,
    /// Why.
    pub reason: RevocationReason,
    /// When the revocation committed.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// Who revoked it.
    pub revoked_by: String,
    /// When the revoked credential would have expired: no token of it is valid past this
    /// (tokens never outlive their credential), so past it and a verifier's clock leeway the
    /// entry stops mattering. Absent on entries written before the registry carried it; those
    /// matter forever.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
}

/// How long after its credential's expiry an entry is still handed to verifiers: more than any
/// verifier's clock leeway (clavis-verify defaults to 30 s).
pub const RELEVANCE_GRACE: Duration = Duration::minutes(5);

impl RevocationEntry {
    /// Whether a verifier at `now` still needs the entry: its credential has not expired
    /// [`RELEVANCE_GRACE`] ago, or its expiry is unknown.
    pub fn is_relevant_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at
            .is_none_or(|expires| expires + RELEVANCE_GRACE > now)
    }
}

/// The month of expiry an entry is filed under for snapshots (`YYYY-MM`, UTC).
pub fn expiry_month(expires_at: OffsetDateTime) -> String {
    let day = expires_at.to_offset(UtcOffset::UTC).date();
    format!("{:04}-{:02}", day.year(), u8::from(day.month()))
}

/// The expiry months a snapshot at `now` reads, in order: from the month of `now` less
/// [`RELEVANCE_GRACE`] through the month of the longest credential lifetime from now (and a day
/// of clock skew). Every relevant entry with a known expiry is filed in one of them; months
/// before hold only entries that no longer matter, so a snapshot never reads them.
pub fn snapshot_months(now: OffsetDateTime) -> Vec<String> {
    let longest = crate::issuance::max_ttl_seconds(crate::client::Tier::Standard);
    let last = expiry_month(
        now + Duration::seconds(i64::try_from(longest).unwrap_or(i64::MAX / 2)) + Duration::days(1),
    );
    let mut months = Vec::new();
    let mut day = (now - RELEVANCE_GRACE).to_offset(UtcOffset::UTC).date();
    loop {
        let month = expiry_month(day.midnight().assume_utc());
        let done = month == last;
        months.push(month);
        if done || months.len() > 24 {
            return months;
        }
        // The first day of the following month.
        day = day.replace_day(1).unwrap_or(day) + Duration::days(32);
        day = day.replace_day(1).unwrap_or(day);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn entry(expires_at: Option<OffsetDateTime>) -> RevocationEntry {
        RevocationEntry {
            seq: 1,
            credential_id: CredentialId::generate(),
            client_id: ClientId::generate(),
            reason: RevocationReason::KeyCompromise,
            revoked_at: datetime!(2026-12-01 00:00 UTC),
            revoked_by: "cli_x".into(),
            expires_at,
        }
    }

    #[test]
    fn an_entry_matters_until_its_credential_expired_and_the_grace_passed() {
        let expires = datetime!(2026-12-10 12:00 UTC);
        let e = entry(Some(expires));
        assert!(e.is_relevant_at(expires));
        assert!(e.is_relevant_at(expires + RELEVANCE_GRACE - Duration::seconds(1)));
        assert!(!e.is_relevant_at(expires + RELEVANCE_GRACE));
        assert!(
            entry(None).is_relevant_at(datetime!(2999-01-01 00:00 UTC)),
            "an entry without an expiry matters forever"
        );
    }

    #[test]
    fn snapshot_months_run_from_now_less_the_grace_to_the_longest_lifetime() {
        assert_eq!(
            snapshot_months(datetime!(2026-12-04 05:00 UTC)),
            ["2026-12", "2027-01", "2027-02", "2027-03"]
        );
        assert_eq!(
            snapshot_months(datetime!(2027-01-01 00:01 UTC))[0],
            "2026-12",
            "an entry that expired a minute ago, last year, still matters"
        );
    }

    proptest::proptest! {
        #[test]
        fn every_relevant_entry_is_filed_in_a_month_a_snapshot_reads(
            now_s in 1_700_000_000i64..2_500_000_000,
            ahead in -400i64..(90 * 24 * 3600),
        ) {
            let now = OffsetDateTime::from_unix_timestamp(now_s).unwrap();
            let expires = now + Duration::seconds(ahead);
            let months = snapshot_months(now);
            proptest::prop_assert!(months.contains(&expiry_month(expires)), "{expires} not in {months:?}");
            let mut sorted = months.clone();
            sorted.sort();
            sorted.dedup();
            proptest::prop_assert_eq!(sorted, months);
        }
    }

    #[test]
    fn operators_give_only_their_own_reasons() {
        for (json, ok) in [
            (r#"{"reason":"key_compromise"}"#, true),
            (r#"{"reason":"operator_request"}"#, true),
            (r#"{"reason":"superseded"}"#, false),
            (r#"{"reason":"expired"}"#, false),
        ] {
            let r: RevokeRequest = serde_json::from_str(json).unwrap();
            assert_eq!(r.operator_reason().is_ok(), ok, "{json}");
        }
        assert!(serde_json::from_str::<RevokeRequest>(r#"{"reason":"bored"}"#).is_err());
        assert!(
            serde_json::from_str::<RevokeRequest>(r#"{"reason":"key_compromise","x":1}"#).is_err()
        );
    }
}
