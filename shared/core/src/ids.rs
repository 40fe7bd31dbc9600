//! Prefixed identifiers: `cli_<ulid>`, `crd_<ulid>`, `req_<ulid>`.
//!
//! The prefix says what an id names, so a credential id can never be passed where a client id
//! is expected; the ULID inside sorts by creation time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

use crate::error::{FieldViolation, UserError};

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Ulid);

        impl $name {
            /// The prefix of this kind of id, with its underscore.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id from the current time and the thread's random source.
            pub fn generate() -> Self {
                Self(Ulid::generate())
            }

            /// The id wrapping an existing ULID.
            pub fn from_ulid(ulid: Ulid) -> Self {
                Self(ulid)
            }

            /// The ULID inside.
            pub fn ulid(&self) -> Ulid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", Self::PREFIX, self.0)
            }
        }

        impl FromStr for $name {
            type Err = UserError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let invalid = || {
                    UserError::Invalid(vec![FieldViolation::new(
                        $what,
                        concat!("must be ", $prefix, " followed by a ULID"),
                    )])
                };
                let rest = s.strip_prefix(Self::PREFIX).ok_or_else(invalid)?;
                // ULIDs are canonically upper case; reject other spellings so one id has one form.
                if rest.len() != 26 || rest.bytes().any(|b| b.is_ascii_lowercase()) {
                    return Err(invalid());
                }
                Ulid::from_string(rest).map(Self).map_err(|_| invalid())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                s.parse().map_err(|_| {
                    serde::de::Error::custom(concat!("expected ", $prefix, "<ulid>"))
                })
            }
        }
    };
}

prefixed_id!(
    /// A registered API client.
    ClientId,
    "cli_",
    "client_id"
);
prefixed_id!(
    /// One credential of a client.
    CredentialId,
    "crd_",
    "credential_id"
);
prefixed_id!(
    /// One issuance request: the unit of idempotency and of one workflow execution.
    RequestId,
    "req_",
    "request_id"
);

prefixed_id!(
    /// One out-of-band approval of a held issuance request.
    ApprovalId,
    "apr_",
    "approval_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_json() {
        let id = ClientId::generate();
        let text = id.to_string();
        assert!(text.starts_with("cli_"));
        assert_eq!(text.parse::<ClientId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<ClientId>(&json).unwrap(), id);
    }

    #[test]
    fn an_id_of_another_kind_is_refused() {
        let crd = CredentialId::generate().to_string();
        assert!(crd.parse::<ClientId>().is_err());
        assert!("cli_".parse::<ClientId>().is_err());
        assert!(
            "cli_01hzzzzzzzzzzzzzzzzzzzzzzz"
                .parse::<ClientId>()
                .is_err()
        );
        assert!(serde_json::from_str::<RequestId>("\"req_nope\"").is_err());
    }
}
