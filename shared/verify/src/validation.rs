//! What a resource server accepts: issuer, audience, clock leeway, revocation staleness and
//! policy, token size; and the checks of a token's claims against them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::claims::VerifiedToken;
use crate::error::VerifyError;

/// Clock skew tolerated on `exp`, `nbf` and `iat` unless configured otherwise.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// How long a revocation set may go without a successful sync before tokens are refused.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(120);
/// Longest token decoded; Clavis tokens are well under 1 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What to do when the revocation set is older than `max_staleness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RevocationPolicy {
    /// Refuse every token with [`VerifyError::RevocationStatusUnknown`] (the default).
    #[default]
    FailClosed,
    /// Accept tokens whose credential is not in the (stale) set. An explicit opt-in: a revoked
    /// credential stays usable for as long as the issuer is unreachable.
    FailOpen,
}

/// The acceptance rules. Build with [`Validation::new`] and adjust the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Validation {
    /// `iss` must equal this exactly (e.g. `https://clavis.example/api`).
    pub issuer: String,
    /// `aud` must contain this; `None` accepts any audience, which only the issuer itself may
    /// do (introspection answers for every audience). A resource server always sets it.
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// Longest time since the last successful registry sync before revocation status is unknown.
    pub max_staleness: Duration,
    /// What happens when revocation status is unknown.
    pub revocation_policy: RevocationPolicy,
    /// Tokens longer than this are refused before any decoding.
    pub max_token_bytes: usize,
}

impl Validation {
    /// Rules for tokens from `issuer` meant for `audience`, with the defaults: 30 s leeway,
    /// 120 s max staleness, fail closed, 8 KiB tokens.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: Some(audience.into()),
            leeway: DEFAULT_LEEWAY,
            max_staleness: DEFAULT_MAX_STALENESS,
            revocation_policy: RevocationPolicy::FailClosed,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }

    /// Checks issuer, audience and validity period of a signature-checked token at `now`.
    pub(crate) fn check_claims(
        &self,
        token: &VerifiedToken,
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        if token.iss != self.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if let Some(audience) = &self.audience
            && !token.audiences.contains(audience)
        {
            return Err(VerifyError::WrongAudience);
        }
        let now = unix_seconds(now);
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        // RFC 7519 §4.1.4: not accepted on or after `exp`.
        if now >= token.exp.saturating_add(leeway) {
            return Err(VerifyError::Expired);
        }
        let earliest = token.nbf.unwrap_or(token.iat).max(token.iat);
        if earliest > now.saturating_add(leeway) {
            return Err(VerifyError::NotYetValid);
        }
        Ok(())
    }
}

/// Seconds since the epoch; a clock before 1970 reads as 0.
fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
