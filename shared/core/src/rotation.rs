//! Rotation: an active credential is replaced by a successor with the same grant. Both
//! authenticate during an overlap window; then the predecessor is revoked as `superseded`.
//!
//! A rotation is an issuance request that names its predecessor ([`Rotation`] inside
//! [`IssuanceParams`]), so it is decided, held, approved, minted and audited like any other.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::{Client, Tier};
use crate::credential::Credential;
use crate::error::{FieldViolation, UserError};
use crate::ids::{ClientId, CredentialId, RequestId};
use crate::issuance::{
    CredentialRequest, IssuanceParams, MIN_TTL_SECONDS, derived_request_id, max_ttl_seconds,
};
use crate::lifecycle::CredentialState;

/// Longest overlap a client of `tier` may get, and the overlap a rotation gets when it names
/// none: privileged predecessors stay valid for a shorter time.
pub fn max_overlap_seconds(tier: Tier) -> u64 {
    match tier {
        Tier::Standard => 24 * 3600,
        Tier::Privileged => 3600,
    }
}

/// Longest drain period a client of `tier` may get, and the one a rotation that retires on
/// drain gets when it names none: how long the predecessor must go unused, once the successor
/// has been used, before it is retired early.
pub fn max_drain_seconds(tier: Tier) -> u64 {
    match tier {
        Tier::Standard => 15 * 60,
        Tier::Privileged => 5 * 60,
    }
}

/// When a rotation retires its predecessor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetireMode {
    /// When the overlap ends.
    #[default]
    AtOverlapEnd,
    /// As soon as the successor has been used and the predecessor has gone unused for the
    /// drain period; at the latest when the overlap ends.
    OnDrain,
}

/// The body of `POST /v1/credentials/{credential_id}/rotate` (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// How long both credentials stay valid, in seconds (at most, and by default, the tier's
    /// [`max_overlap_seconds`]).
    #[serde(default)]
    pub overlap_seconds: Option<u64>,
    /// Why; recorded in the audit trail. Defaults to "rotation of <credential>".
    #[serde(default)]
    pub justification: Option<String>,
    /// As for issuance: the longest a held rotation waits for an approver.
    #[serde(default)]
    pub approval_window_seconds: Option<u64>,
    /// When to retire the predecessor (default: when the overlap ends).
    #[serde(default)]
    pub retire: Option<RetireMode>,
    /// With `retire: on_drain`: how long the predecessor must go unused (at most, and by
    /// default, the tier's [`max_drain_seconds`]).
    #[serde(default)]
    pub drain_seconds: Option<u64>,
}

/// What makes an issuance a rotation: the credential it replaces and the overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rotation {
    /// The credential being replaced.
    pub predecessor: CredentialId,
    /// How long both stay valid after the successor activates, in seconds.
    pub overlap_seconds: u64,
    /// When the predecessor is retired.
    #[serde(default, skip_serializing_if = "is_at_overlap_end")]
    pub retire: RetireMode,
    /// With [`RetireMode::OnDrain`]: how long the predecessor must go unused, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_seconds: Option<u64>,
}

fn is_at_overlap_end(mode: &RetireMode) -> bool {
    *mode == RetireMode::AtOverlapEnd
}

/// Refuses to rotate a predecessor that is not active at `now` or already has a successor.
pub fn check_rotatable(predecessor: &Credential, now: OffsetDateTime) -> Result<(), UserError> {
    let id = predecessor.credential_id;
    let state = predecessor.status_at(now);
    if state != CredentialState::Active {
        return Err(UserError::Conflict(format!(
            "credential {id} is {state}; only an active credential can be rotated"
        )));
    }
    if let Some(successor) = predecessor.rotated_to {
        return Err(UserError::Conflict(format!(
            "credential {id} was already rotated to {successor}"
        )));
    }
    Ok(())
}

impl RotateRequest {
    /// The issuance a rotation of `predecessor` (a credential of `client`) asks for: the same
    /// scopes and audiences (those the client still allows), the predecessor's lifetime (within the tier's limit) and the
    /// overlap. Depends on nothing that changes, so a repeated call gives the same params
    /// (and fingerprint); whether the predecessor can still rotate is [`check_rotatable`].
    pub fn into_params(
        self,
        predecessor: &Credential,
        client: &Client,
    ) -> Result<IssuanceParams, UserError> {
        let id = predecessor.credential_id;
        let max_overlap = max_overlap_seconds(client.tier);
        let overlap_seconds = self.overlap_seconds.unwrap_or(max_overlap);
        let overlap_ok = (1..=max_overlap).contains(&overlap_seconds);
        let retire = self.retire.unwrap_or_default();
        let max_drain = max_drain_seconds(client.tier);
        let drain_seconds = match retire {
            RetireMode::OnDrain => Some(self.drain_seconds.unwrap_or(max_drain)),
            RetireMode::AtOverlapEnd => self.drain_seconds,
        };
        let mut extra = Vec::new();
        if !overlap_ok {
            extra.push(FieldViolation::new(
                "overlap_seconds",
                format!("must be 1 to {max_overlap} for this client's tier"),
            ));
        }
        match (retire, drain_seconds) {
            (RetireMode::AtOverlapEnd, Some(_)) => extra.push(FieldViolation::new(
                "drain_seconds",
                "applies only with retire: on_drain",
            )),
            (RetireMode::OnDrain, Some(d)) if !(1..=max_drain).contains(&d) => {
                extra.push(FieldViolation::new(
                    "drain_seconds",
                    format!("must be 1 to {max_drain} for this client's tier"),
                ));
            }
            _ => {}
        }
        // What the predecessor may still do: a client narrowed since it was issued rotates
        // into the narrower grant.
        let grant = predecessor.clone().confined_to(client);
        if grant.scopes.is_empty() || grant.audiences.is_empty() {
            return Err(UserError::Conflict(format!(
                "client {} no longer allows any of the scopes or audiences of {id}; issue a new credential instead",
                client.client_id
            )));
        }
        let mut params = CredentialRequest {
            ttl_seconds: lifetime_of(predecessor, client.tier),
            scopes: grant.scopes.into_iter().collect(),
            audiences: grant.audiences.into_iter().collect(),
            justification: self
                .justification
                .unwrap_or_else(|| format!("rotation of {id}")),
            approval_window_seconds: self.approval_window_seconds,
        }
        .validate()
        .map_err(|e| with_violations(e, &extra))?;
        if !extra.is_empty() {
            return Err(UserError::Invalid(extra));
        }
        params.rotation = Some(Rotation {
            predecessor: id,
            overlap_seconds,
            retire,
            drain_seconds,
        });
        Ok(params)
    }
}

/// `err` with `extra` violations of the rotation's own fields appended to its list.
fn with_violations(err: UserError, extra: &[FieldViolation]) -> UserError {
    match err {
        UserError::Invalid(mut violations) => {
            violations.extend_from_slice(extra);
            UserError::Invalid(violations)
        }
        other => other,
    }
}

/// The lifetime a successor gets: its predecessor's, within the tier's limit.
fn lifetime_of(predecessor: &Credential, tier: Tier) -> u64 {
    let max = max_ttl_seconds(tier);
    predecessor
        .issued_at
        .map(|issued| (predecessor.expires_at - issued).whole_seconds())
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(max)
        .clamp(MIN_TTL_SECONDS, max)
}

/// The most looks a draining rotation takes in one overlap (each costs about 9 history events
/// of the 25,000 a Standard execution may hold): a long overlap looks less often than the use
/// resolution.
pub const MAX_DRAIN_LOOKS: u64 = 2000;

/// What a rotation that retires on drain should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum DrainVerdict {
    /// Retire the predecessor now, for this reason.
    RetireNow {
        /// Why now.
        reason: RetireReason,
    },
    /// Look again after this many seconds.
    Wait {
        /// Seconds until the next look (at least 1).
        seconds: u64,
    },
}

/// Why a draining rotation retires its predecessor now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetireReason {
    /// The successor has been used and the predecessor has gone unused for the drain period.
    Drained,
    /// The overlap is over.
    OverlapEnded,
    /// Either credential is no longer active (retirement finds out what is left to do).
    Ended,
}

/// The drain decision at `now` for `predecessor` replaced by `successor` under `rotation`, with
/// use tracked to `resolution` (so the predecessor must look unused for the drain period plus
/// one resolution: it may have been used up to one resolution after its recorded use).
pub fn drain_verdict(
    predecessor: &Credential,
    successor: &Credential,
    rotation: &Rotation,
    now: OffsetDateTime,
    resolution: time::Duration,
) -> DrainVerdict {
    let seconds = |s: u64| time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
    let activated = successor.issued_at.unwrap_or(now);
    let overlap_end = activated.saturating_add(seconds(rotation.overlap_seconds));
    let retire = |reason| DrainVerdict::RetireNow { reason };
    if now >= overlap_end {
        return retire(RetireReason::OverlapEnded);
    }
    if !predecessor.is_usable_at(now) || !successor.is_usable_at(now) {
        return retire(RetireReason::Ended);
    }
    let drain = seconds(rotation.drain_seconds.unwrap_or(0)) + resolution;
    // Quiet since its last use, but never since before the rotation: its users get the whole
    // drain period to move to the successor, even if it had not been used for a while.
    let quiet_since = predecessor
        .last_used_at
        .map_or(activated, |used| used.max(activated));
    let idle = now - quiet_since >= drain;
    if successor.last_used_at.is_some() && idle {
        return retire(RetireReason::Drained);
    }
    let left = (overlap_end - now).whole_seconds().max(1);
    // Never more than MAX_DRAIN_LOOKS looks in one overlap: each is a few Step Functions
    // history events, and an execution holds at most 25,000.
    let spread = i64::try_from(rotation.overlap_seconds / MAX_DRAIN_LOOKS).unwrap_or(i64::MAX);
    let step = resolution.whole_seconds().max(spread).max(1);
    DrainVerdict::Wait {
        seconds: u64::try_from(left.min(step)).unwrap_or(1),
    }
}

/// The request id of a rotation of `predecessor` by `requester` under `idempotency_key`: the
/// same triple always names the same request (and execution), and no issuance key can name it
/// (a domain prefix separates the two derivations).
pub fn rotation_request_id_for(
    predecessor: &CredentialId,
    requester: &ClientId,
    idempotency_key: &str,
) -> RequestId {
    derived_request_id(&[
        b"clavis.rotate",
        predecessor.to_string().as_bytes(),
        requester.to_string().as_bytes(),
        idempotency_key.as_bytes(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::tests_support::credential;
    use crate::issuance::request_id_for;
    use crate::lifecycle::LifecycleEvent;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use time::Duration;

    fn client_of(c: &Credential, tier: Tier) -> Client {
        let mut client = crate::client::tests_support::client();
        client.client_id = c.client_id;
        client.tier = tier;
        client.allowed_scopes = c.scopes.clone();
        client.allowed_audiences = c.audiences.clone();
        client
    }

    #[test]
    fn a_narrowed_client_rotates_into_the_narrower_grant_or_not_at_all() {
        let c = credential();
        let mut client = client_of(&c, Tier::Standard);
        client.allowed_scopes.remove("a:write");
        client.allowed_scopes.insert("z:new".into());
        let p = RotateRequest::default().into_params(&c, &client).unwrap();
        assert_eq!(p.scopes, BTreeSet::from(["a:read".to_owned()]));
        assert_eq!(p.audiences, c.audiences);
        client.allowed_audiences = BTreeSet::from(["https://elsewhere".to_owned()]);
        assert!(matches!(
            RotateRequest::default().into_params(&c, &client),
            Err(UserError::Conflict(_))
        ));
    }

    #[test]
    fn a_rotation_keeps_the_grant_and_takes_the_tiers_overlap_by_default() {
        let c = credential();
        let now = OffsetDateTime::now_utc();
        check_rotatable(&c, now).unwrap();
        let p = RotateRequest::default()
            .into_params(&c, &client_of(&c, Tier::Standard))
            .unwrap();
        assert_eq!((&p.scopes, &p.audiences), (&c.scopes, &c.audiences));
        assert_eq!(
            p.rotation,
            Some(Rotation {
                predecessor: c.credential_id,
                overlap_seconds: 24 * 3600,
                retire: RetireMode::AtOverlapEnd,
                drain_seconds: None,
            })
        );
        assert!(p.justification.contains(&c.credential_id.to_string()));
        // The fixture lives a day minus the instants between its two clock reads.
        assert!((24 * 3600 - 1..=24 * 3600).contains(&p.ttl_seconds));
    }

    #[test]
    fn an_overlap_beyond_the_tier_is_refused_with_the_field_named() {
        let c = credential();
        let body = RotateRequest {
            overlap_seconds: Some(3601),
            ..RotateRequest::default()
        };
        let err = body
            .into_params(&c, &client_of(&c, Tier::Privileged))
            .unwrap_err();
        let fields: Vec<_> = err.violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["overlap_seconds"]);
        let zero = RotateRequest {
            overlap_seconds: Some(0),
            justification: Some(" ".into()),
            ..RotateRequest::default()
        };
        let err = zero
            .into_params(&c, &client_of(&c, Tier::Standard))
            .unwrap_err();
        let fields: Vec<_> = err.violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["justification", "overlap_seconds"]);
    }

    #[test]
    fn only_an_active_credential_without_a_successor_rotates() {
        let now = OffsetDateTime::now_utc();
        let mut revoked = credential();
        revoked.apply(LifecycleEvent::Revoke).unwrap();
        let mut expired = credential();
        expired.expires_at = now - Duration::seconds(1);
        let mut rotated = credential();
        rotated.rotated_to = Some(CredentialId::generate());
        for c in [revoked, expired, rotated] {
            let err = check_rotatable(&c, now).unwrap_err();
            assert_eq!(err.http_status(), 409, "{err}");
        }
    }

    #[test]
    fn a_long_lived_predecessor_gets_no_more_than_its_tier_allows() {
        let mut c = credential();
        c.expires_at = c.issued_at.unwrap() + Duration::days(30);
        let p = RotateRequest::default()
            .into_params(&c, &client_of(&c, Tier::Privileged))
            .unwrap();
        assert_eq!(p.ttl_seconds, max_ttl_seconds(Tier::Privileged));
    }

    fn draining(overlap: u64, drain: u64) -> Rotation {
        Rotation {
            predecessor: CredentialId::generate(),
            overlap_seconds: overlap,
            retire: RetireMode::OnDrain,
            drain_seconds: Some(drain),
        }
    }

    #[test]
    fn on_drain_needs_a_drain_period_only_there_and_within_the_tier() {
        let c = credential();
        let client = client_of(&c, Tier::Privileged);
        let body = |retire, drain| RotateRequest {
            retire,
            drain_seconds: drain,
            ..RotateRequest::default()
        };
        let p = body(Some(RetireMode::OnDrain), None)
            .into_params(&c, &client)
            .unwrap();
        assert_eq!(p.rotation.unwrap().drain_seconds, Some(300));
        for (retire, drain) in [
            (None, Some(60)),
            (Some(RetireMode::OnDrain), Some(0)),
            (Some(RetireMode::OnDrain), Some(301)),
        ] {
            let err = body(retire, drain).into_params(&c, &client).unwrap_err();
            let fields: Vec<_> = err.violations().iter().map(|v| v.field.as_str()).collect();
            assert_eq!(fields, ["drain_seconds"], "{retire:?} {drain:?}");
        }
    }

    #[test]
    fn a_drained_predecessor_retires_once_the_successor_is_used() {
        let minute = Duration::minutes(1);
        let now = OffsetDateTime::now_utc();
        let mut pred = credential();
        let mut succ = credential();
        succ.issued_at = Some(now - 10 * minute);
        let rotation = draining(3600, 120);
        pred.last_used_at = Some(now - 2 * minute);
        assert_eq!(
            drain_verdict(&pred, &succ, &rotation, now, minute),
            DrainVerdict::Wait { seconds: 60 },
            "the successor was never used"
        );
        succ.last_used_at = Some(now);
        assert!(
            matches!(
                drain_verdict(&pred, &succ, &rotation, now, minute),
                DrainVerdict::Wait { .. }
            ),
            "used 2 minutes ago: within drain plus one resolution"
        );
        pred.last_used_at = Some(now - 3 * minute);
        assert_eq!(
            drain_verdict(&pred, &succ, &rotation, now, minute),
            DrainVerdict::RetireNow {
                reason: RetireReason::Drained
            }
        );
        pred.last_used_at = None;
        assert_eq!(
            drain_verdict(&pred, &succ, &rotation, now, minute),
            DrainVerdict::RetireNow {
                reason: RetireReason::Drained
            },
            "never used at all, and the drain period has passed since the rotation"
        );
    }

    #[test]
    fn the_drain_period_counts_from_the_rotation_not_from_an_old_or_missing_use() {
        let minute = Duration::minutes(1);
        let now = OffsetDateTime::now_utc();
        let mut pred = credential();
        let mut succ = credential();
        let rotation = draining(3600, 120);
        // Rotated a second ago; the successor is already in use.
        succ.issued_at = Some(now - Duration::seconds(1));
        succ.last_used_at = Some(now);
        for last_use in [None, Some(now - Duration::hours(5))] {
            pred.last_used_at = last_use;
            assert!(
                matches!(
                    drain_verdict(&pred, &succ, &rotation, now, minute),
                    DrainVerdict::Wait { .. }
                ),
                "{last_use:?}: its users get the drain period after the rotation"
            );
        }
        succ.issued_at = Some(now - 3 * minute);
        assert_eq!(
            drain_verdict(&pred, &succ, &rotation, now, minute),
            DrainVerdict::RetireNow {
                reason: RetireReason::Drained
            }
        );
    }

    #[test]
    fn the_overlap_end_and_a_revocation_end_the_drain() {
        let minute = Duration::minutes(1);
        let now = OffsetDateTime::now_utc();
        let pred = credential();
        let mut succ = credential();
        succ.issued_at = Some(now - 61 * minute);
        assert_eq!(
            drain_verdict(&pred, &succ, &draining(3600, 60), now, minute),
            DrainVerdict::RetireNow {
                reason: RetireReason::OverlapEnded
            }
        );
        succ.issued_at = Some(now - Duration::seconds(3590));
        assert_eq!(
            drain_verdict(&pred, &succ, &draining(3600, 60), now, minute),
            DrainVerdict::Wait { seconds: 10 },
            "never past the overlap's end"
        );
        succ.apply(crate::lifecycle::LifecycleEvent::Revoke)
            .unwrap();
        assert_eq!(
            drain_verdict(&pred, &succ, &draining(3600, 60), now, minute),
            DrainVerdict::RetireNow {
                reason: RetireReason::Ended
            }
        );
    }

    proptest! {
        #[test]
        fn a_draining_rotation_never_outlives_its_overlap(
            overlap in 1u64..100_000, elapsed in 0i64..200_000, resolution in 1i64..600,
            used in proptest::option::of(0i64..200_000),
        ) {
            let now = OffsetDateTime::now_utc();
            let mut pred = credential();
            pred.expires_at = now + Duration::days(30);
            let mut succ = pred.clone();
            succ.issued_at = Some(now - Duration::seconds(elapsed));
            succ.last_used_at = used.map(|u| now - Duration::seconds(u));
            let rotation = draining(overlap, 60);
            match drain_verdict(&pred, &succ, &rotation, now, Duration::seconds(resolution)) {
                DrainVerdict::Wait { seconds } => {
                    prop_assert!(seconds >= 1);
                    prop_assert!(elapsed + i64::try_from(seconds).unwrap() <= i64::try_from(overlap).unwrap().max(elapsed + 1));
                    let spread = i64::try_from(overlap / MAX_DRAIN_LOOKS).unwrap();
                    prop_assert!(i64::try_from(seconds).unwrap() <= resolution.max(spread).max(1));
                    // At most MAX_DRAIN_LOOKS looks fit in the overlap.
                    prop_assert!(u64::try_from(resolution.max(spread).max(1)).unwrap() * MAX_DRAIN_LOOKS + MAX_DRAIN_LOOKS >= overlap);
                }
                DrainVerdict::RetireNow { reason: RetireReason::OverlapEnded } => {
                    prop_assert!(elapsed >= i64::try_from(overlap).unwrap());
                }
                DrainVerdict::RetireNow { .. } => prop_assert!(elapsed < i64::try_from(overlap).unwrap()),
            }
        }
    }

    proptest! {
        #[test]
        fn rotation_ids_never_meet_issuance_ids(key in "[!-~]{1,40}") {
            let c = credential();
            let requester = ClientId::generate();
            let rotation = rotation_request_id_for(&c.credential_id, &requester, &key);
            prop_assert_eq!(rotation, rotation_request_id_for(&c.credential_id, &requester, &key));
            prop_assert_ne!(rotation, request_id_for(&c.client_id, &requester, &key));
            prop_assert_ne!(rotation, rotation_request_id_for(&c.credential_id, &ClientId::generate(), &key));
        }
    }
}
