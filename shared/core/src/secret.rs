//! Client secrets: `clv_<live|test>_<credential ulid>_<random base62>_<crc32 base62>`
//! (docs/architecture.md, "Secrets and keys").
//!
//! 43 base62 characters from the OS CSPRNG carry 256 bits; the credential ULID inside makes the
//! lookup one GetItem; the CRC-32 lets scanners and the API reject typos without a read. Only the
//! SHA-256 of a secret is ever stored, and it is compared in constant time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use ulid::Ulid;
use zeroize::Zeroizing;

use crate::client::Environment;
use crate::error::{SystemFault, UserError};
use crate::ids::CredentialId;

/// Characters of randomness: 43 × log2(62) ≈ 256.03 bits.
pub const RANDOM_CHARS: usize = 43;
/// Characters of the CRC-32 checksum (62^6 > 2^32).
pub const CHECKSUM_CHARS: usize = 6;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Whether a secret may be used against production (`live`) or not (`test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretMode {
    /// Issued to a `prod` client.
    Live,
    /// Issued to a `dev` or `staging` client.
    Test,
}

impl SecretMode {
    /// `live` only in `prod`.
    pub fn for_environment(env: Environment) -> Self {
        match env {
            Environment::Prod => Self::Live,
            Environment::Dev | Environment::Staging => Self::Test,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }
}

/// A plaintext client secret. Its `Debug` is redacted and its memory zeroed on drop; it is
/// serialised only into the one answer that hands it over.
#[derive(Clone)]
pub struct ClientSecret {
    text: Zeroizing<String>,
    mode: SecretMode,
    credential_id: CredentialId,
}

impl ClientSecret {
    /// A fresh secret for `credential_id`, with 256 bits from the OS CSPRNG.
    pub fn generate(credential_id: CredentialId, mode: SecretMode) -> Result<Self, SystemFault> {
        let mut random = Zeroizing::new(String::with_capacity(RANDOM_CHARS));
        let mut pool = Zeroizing::new([0u8; 64]);
        while random.len() < RANDOM_CHARS {
            getrandom::fill(pool.as_mut_slice())
                .map_err(|e| SystemFault::Internal(format!("OS random source failed: {e}")))?;
            // Rejection sampling keeps every character uniform: 248 = 4 × 62.
            for &b in pool.iter().filter(|&&b| b < 248) {
                if random.len() == RANDOM_CHARS {
                    break;
                }
                random.push(ALPHABET[usize::from(b % 62)] as char);
            }
        }
        let body = Zeroizing::new(format!(
            "clv_{}_{}_{}",
            mode.as_str(),
            credential_id.ulid(),
            random.as_str()
        ));
        let text = Zeroizing::new(format!("{}_{}", body.as_str(), checksum(&body)));
        Ok(Self {
            text,
            mode,
            credential_id,
        })
    }

    /// Parses and checks the format and checksum. Needs no database read.
    pub fn parse(text: &str) -> Result<Self, UserError> {
        let malformed = || UserError::Unauthenticated;
        let (body, sum) = text.rsplit_once('_').ok_or_else(malformed)?;
        let mut parts = body.splitn(4, '_');
        let (Some("clv"), Some(mode), Some(ulid), Some(random)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let mode = match mode {
            "live" => SecretMode::Live,
            "test" => SecretMode::Test,
            _ => return Err(malformed()),
        };
        let well_formed = random.len() == RANDOM_CHARS
            && random.bytes().all(|b| b.is_ascii_alphanumeric())
            && sum.len() == CHECKSUM_CHARS
            && ulid.len() == 26
            && !ulid.bytes().any(|b| b.is_ascii_lowercase());
        if !well_formed || checksum(body).as_bytes().ct_eq(sum.as_bytes()).unwrap_u8() != 1 {
            return Err(malformed());
        }
        let ulid = Ulid::from_string(ulid).map_err(|_| malformed())?;
        Ok(Self {
            text: Zeroizing::new(text.to_owned()),
            mode,
            credential_id: CredentialId::from_ulid(ulid),
        })
    }

    /// The credential this secret belongs to.
    pub fn credential_id(&self) -> CredentialId {
        self.credential_id
    }

    /// `live` or `test`.
    pub fn mode(&self) -> SecretMode {
        self.mode
    }

    /// The SHA-256 of the secret: the only form that is stored.
    pub fn hash(&self) -> SecretHash {
        SecretHash(Sha256::digest(self.text.as_bytes()).into())
    }

    /// The plaintext, for the one place that must hand it over (an answer, an encryption).
    pub fn expose(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientSecret({}, redacted)", self.credential_id)
    }
}

impl Serialize for ClientSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

fn checksum(body: &str) -> String {
    let crc = crc32fast::hash(body.as_bytes());
    format!("{:0>width$}", base62::encode(crc), width = CHECKSUM_CHARS)
}

/// SHA-256 of a client secret, stored as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Whether `secret` hashes to this value, compared in constant time.
    pub fn verifies(&self, secret: &ClientSecret) -> bool {
        self.0.ct_eq(&secret.hash().0).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash({})", hex::encode(&self.0[..4]))
    }
}

impl From<SecretHash> for String {
    fn from(h: SecretHash) -> Self {
        hex::encode(h.0)
    }
}

impl TryFrom<String> for SecretHash {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl FromStr for SecretHash {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| "not a SHA-256 hex digest".to_owned())?;
        Ok(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fresh(mode: SecretMode) -> ClientSecret {
        ClientSecret::generate(CredentialId::generate(), mode).unwrap()
    }

    #[test]
    fn a_secret_has_the_documented_shape() {
        let s = fresh(SecretMode::Test);
        let parts: Vec<&str> = s.expose().split('_').collect();
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[0], "clv");
        assert_eq!(parts[1], "test");
        assert_eq!(parts[2], s.credential_id().ulid().to_string());
        assert_eq!(parts[3].len(), RANDOM_CHARS);
        assert_eq!(parts[4].len(), CHECKSUM_CHARS);
        assert!(fresh(SecretMode::Live).expose().starts_with("clv_live_"));
    }

    #[test]
    fn live_secrets_are_only_for_prod() {
        assert_eq!(
            SecretMode::for_environment(Environment::Prod),
            SecretMode::Live
        );
        assert_eq!(
            SecretMode::for_environment(Environment::Staging),
            SecretMode::Test
        );
        assert_eq!(
            SecretMode::for_environment(Environment::Dev),
            SecretMode::Test
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = fresh(SecretMode::Test);
        let random = s.expose().split('_').nth(3).unwrap().to_owned();
        assert!(!format!("{s:?}").contains(&random));
        assert!(!format!("{:?}", s.hash()).contains(&random));
    }

    #[test]
    fn the_stored_hash_verifies_only_its_secret() {
        let a = fresh(SecretMode::Test);
        let b = fresh(SecretMode::Test);
        let stored: SecretHash = String::from(a.hash()).parse().unwrap();
        assert!(stored.verifies(&a));
        assert!(!stored.verifies(&b));
    }

    #[test]
    fn random_parts_differ_between_secrets() {
        let a = fresh(SecretMode::Test);
        let b = fresh(SecretMode::Test);
        assert_ne!(a.expose().split('_').nth(3), b.expose().split('_').nth(3));
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        for text in [
            "",
            "clv",
            "clv_test",
            "clv_prod_x_y_z",
            "a_b_c_d_e",
            "clv_test____",
        ] {
            assert!(ClientSecret::parse(text).is_err(), "{text}");
        }
    }

    proptest! {
        #[test]
        fn parse_round_trips_generate(live in any::<bool>()) {
            let mode = if live { SecretMode::Live } else { SecretMode::Test };
            let s = fresh(mode);
            let parsed = ClientSecret::parse(s.expose()).unwrap();
            prop_assert_eq!(parsed.expose(), s.expose());
            prop_assert_eq!(parsed.credential_id(), s.credential_id());
            prop_assert_eq!(parsed.mode(), mode);
            prop_assert!(s.hash().verifies(&parsed));
        }

        #[test]
        fn any_single_character_change_is_refused(pos in 0usize..200, replacement in proptest::char::any()) {
            let s = fresh(SecretMode::Test);
            let text = s.expose();
            let pos = pos % text.len();
            let original = text.as_bytes()[pos] as char;
            prop_assume!(replacement != original);
            let mut changed = String::with_capacity(text.len() + 4);
            changed.push_str(&text[..pos]);
            changed.push(replacement);
            changed.push_str(&text[pos + 1..]);
            prop_assert!(ClientSecret::parse(&changed).is_err(), "accepted {}", changed);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,120}") {
            let _ = ClientSecret::parse(&text);
        }
    }
}
