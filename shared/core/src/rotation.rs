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
}

/// What makes an issuance a rotation: the credential it replaces and the overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// The credential being replaced.
    pub predecessor: CredentialId,
    /// How long both stay valid after the successor activates, in seconds.
    pub overlap_seconds: u64,
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
    /// scopes and audiences, the predecessor's lifetime (within the tier's limit) and the
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
        let mut params = CredentialRequest {
            ttl_seconds: lifetime_of(predecessor, client.tier),
            scopes: predecessor.scopes.iter().cloned().collect(),
            audiences: predecessor.audiences.iter().cloned().collect(),
            justification: self
                .justification
                .unwrap_or_else(|| format!("rotation of {id}")),
            approval_window_seconds: self.approval_window_seconds,
        }
        .validate()
        .map_err(|e| with_overlap_violation(e, overlap_ok, max_overlap))?;
        if !overlap_ok {
            return Err(with_overlap_violation(
                UserError::Invalid(Vec::new()),
                false,
                max_overlap,
            ));
        }
        params.rotation = Some(Rotation {
            predecessor: id,
            overlap_seconds,
        });
        Ok(params)
    }
}

fn with_overlap_violation(err: UserError, overlap_ok: bool, max: u64) -> UserError {
    match err {
        UserError::Invalid(mut violations) if !overlap_ok => {
            violations.push(FieldViolation::new(
                "overlap_seconds",
                format!("must be 1 to {max} for this client's tier"),
            ));
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
    use time::Duration;

    fn client_of(c: &Credential, tier: Tier) -> Client {
        let mut client = crate::client::tests_support::client();
        client.client_id = c.client_id;
        client.tier = tier;
        client
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
                overlap_seconds: 24 * 3600
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
