//! A bounded cache of verified tokens, keyed by the SHA-256 of the token: a resource server
//! sees the same token many times in its lifetime, and a repeat then costs a hash and a lookup
//! instead of an ECDSA verification.
//!
//! What a hit skips is only the signature check and the parsing. The claims' times (`exp`,
//! `nbf`, with the leeway) are checked again at every call, the revocation check always runs,
//! and a hit counts only while the key that signed the token is still in the key set in use
//! (a key withdrawn from the JWKS takes its tokens with it at once). Errors are never cached.

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use aws_lc_rs::digest::{SHA256, digest};

use crate::claims::VerifiedToken;
use crate::error::VerifyError;
use crate::jwks::KeySet;
use crate::revocations::RevocationSet;
use crate::validation::Validation;
use crate::verify::verify_signed_by;

/// Entries a cache holds unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 10_000;

type Digest = [u8; 32];

/// Verified tokens by their SHA-256, at most `capacity` of them; the oldest goes first.
#[derive(Debug)]
pub struct TokenCache {
    entries: HashMap<Digest, Entry>,
    order: VecDeque<Digest>,
    capacity: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    token: VerifiedToken,
    kid: String,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl TokenCache {
    /// An empty cache of at most `capacity` tokens (0 caches nothing).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::with_capacity(capacity.min(DEFAULT_CAPACITY)),
            order: VecDeque::with_capacity(capacity.min(DEFAULT_CAPACITY)),
            capacity,
        }
    }

    /// How many tokens it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// [`crate::verify`] with this cache: the same answer for every token, at the cost of a
    /// hash and a lookup for a token verified before.
    pub fn verify(
        &mut self,
        token: &str,
        keys: &KeySet,
        revocations: &RevocationSet,
        validation: &Validation,
        now: SystemTime,
    ) -> Result<VerifiedToken, VerifyError> {
        let key = digest_of(token);
        let verified = match self.hit(&key, keys) {
            Some(cached) => {
                validation.check_claims(&cached, now)?;
                cached
            }
            None => {
                let (verified, kid) = verify_signed_by(token, keys, validation, now)?;
                self.insert(key, verified.clone(), kid);
                verified
            }
        };
        revocations.check(verified.credential_id(), now, validation)?;
        Ok(verified)
    }

    /// The cached token with this digest, if the key that signed it is still in `keys`.
    pub(crate) fn hit(&self, key: &Digest, keys: &KeySet) -> Option<VerifiedToken> {
        self.entries
            .get(key)
            .filter(|e| keys.contains(&e.kid))
            .map(|e| e.token.clone())
    }

    /// Remembers a token whose signature and claims held.
    pub(crate) fn insert(&mut self, key: Digest, token: VerifiedToken, kid: String) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.insert(key, Entry { token, kid }).is_none() {
            self.order.push_back(key);
        }
        while self.entries.len() > self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.entries.remove(&oldest);
                }
                None => break,
            }
        }
    }
}

/// The cache key of a token.
pub(crate) fn digest_of(token: &str) -> Digest {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    key
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::revocations::{RevocationEntry, RevocationPage};
    use crate::testing::TestIssuer;

    const ISSUER: &str = "http://127.0.0.1:9000/lambda-url/api";
    const AUDIENCE: &str = "https://orders.example";
    const CREDENTIAL: &str = "crd_01JDXYZABCDEFGHJKMNPQRSTVW";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn synced(now: SystemTime) -> RevocationSet {
        let mut set = RevocationSet::new();
        set.mark_synced(now);
        set
    }

    #[test]
    fn a_repeat_is_answered_from_the_cache_with_the_same_claims() {
        let now = at(1_795_000_000);
        let issuer = TestIssuer::new(ISSUER, "key-1");
        let token = issuer.mint(&issuer.claims(AUDIENCE, CREDENTIAL, now));
        let (keys, validation) = (issuer.key_set(), Validation::new(ISSUER, AUDIENCE));
        let mut cache = TokenCache::new(4);
        let first = cache
            .verify(&token, &keys, &synced(now), &validation, now)
            .unwrap();
        assert_eq!(cache.len(), 1);
        let again = cache
            .verify(&token, &keys, &synced(now), &validation, now)
            .unwrap();
        assert_eq!(first, again);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_cached_token_still_expires_is_still_revoked_and_dies_with_its_key() {
        let now = at(1_795_000_000);
        let issuer = TestIssuer::new(ISSUER, "key-1");
        let token = issuer.mint(&issuer.claims(AUDIENCE, CREDENTIAL, now));
        let (keys, validation) = (issuer.key_set(), Validation::new(ISSUER, AUDIENCE));
        let mut cache = TokenCache::default();
        assert!(
            cache
                .verify(&token, &keys, &synced(now), &validation, now)
                .is_ok()
        );

        // Expired: the claims are checked again on a hit.
        let later = now + Duration::from_secs(3600);
        assert_eq!(
            cache.verify(&token, &keys, &synced(later), &validation, later),
            Err(VerifyError::Expired)
        );
        // Revoked since: the registry is asked on a hit.
        let mut revoked = synced(now);
        let page = RevocationPage {
            items: vec![RevocationEntry {
                seq: 1,
                credential_id: CREDENTIAL.into(),
                client_id: "cli_01JDXYZABCDEFGHJKMNPQRSTVW".into(),
                reason: "key_compromise".into(),
                revoked_at: "2026-11-27T16:00:00Z".into(),
                expires_at: None,
            }],
            next: None,
        };
        revoked.apply_page(&page, now).unwrap();
        assert_eq!(
            cache.verify(&token, &keys, &revoked, &validation, now),
            Err(VerifyError::Revoked)
        );
        // Its key withdrawn: no hit, and the fresh verification fails.
        let other = TestIssuer::new(ISSUER, "key-2").key_set();
        assert_eq!(
            cache.verify(&token, &other, &synced(now), &validation, now),
            Err(VerifyError::UnknownKey)
        );
    }

    #[test]
    fn it_holds_at_most_its_capacity_and_never_an_error() {
        let now = at(1_795_000_000);
        let issuer = TestIssuer::new(ISSUER, "key-1");
        let (keys, validation) = (issuer.key_set(), Validation::new(ISSUER, AUDIENCE));
        let mut cache = TokenCache::new(3);
        for i in 0..5 {
            // Issued a second apart: five different tokens.
            let issued = now - Duration::from_secs(i);
            let token = issuer.mint(&issuer.claims(AUDIENCE, CREDENTIAL, issued));
            assert!(
                cache
                    .verify(&token, &keys, &synced(now), &validation, now)
                    .is_ok()
            );
        }
        assert_eq!(cache.len(), 3);
        let bad = issuer.mint(&issuer.claims("https://elsewhere", CREDENTIAL, now));
        assert!(
            cache
                .verify(&bad, &keys, &synced(now), &validation, now)
                .is_err()
        );
        assert_eq!(cache.len(), 3);
        let mut none = TokenCache::new(0);
        let token = issuer.mint(&issuer.claims(AUDIENCE, CREDENTIAL, now));
        assert!(
            none.verify(&token, &keys, &synced(now), &validation, now)
                .is_ok()
        );
        assert!(none.is_empty());
    }
}
