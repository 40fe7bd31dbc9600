//! clavis-verify: how a resource server checks a Clavis access token.
//!
//! It owns verification of RFC 9068 access tokens signed ES256 by the Clavis issuer (signature,
//! `typ`, `alg`, `iss`, `aud`, `exp`/`nbf`) and the refusal of tokens whose credential has been
//! revoked. It is in two layers:
//!
//! - pure, no I/O: [`KeySet`] (a parsed JWKS), [`RevocationSet`] (revoked credential ids, kept
//!   current from registry pages and events), [`Validation`] (what to accept) and [`verify`];
//! - [`Verifier`]: the same behind a cheap-to-clone handle that fetches and caches the JWKS
//!   (refetching on an unknown `kid`, at most once per interval), pulls the revocation registry
//!   incrementally and can keep both current in the background, and remembers the tokens it
//!   verified ([`TokenCache`]: a repeat costs a hash and a lookup; the revocation check still
//!   runs every time).
//!
//! A revocation set that has not been synced for longer than
//! [`Validation::max_staleness`] makes every verification fail with
//! [`VerifyError::RevocationStatusUnknown`] (fail closed) unless the caller explicitly chose
//! [`RevocationPolicy::FailOpen`]. `docs/verify.md` states the staleness bound.

#![warn(missing_docs)]

pub mod cache;
pub mod claims;
pub mod config;
pub mod error;
mod fetch;
pub mod jwks;
mod jws;
pub mod revocations;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod validation;
pub mod verifier;
mod verify;

pub use cache::TokenCache;
pub use claims::VerifiedToken;
pub use config::{Authorization, VerifierConfig};
pub use error::{ConfigError, FetchError, JwksError, PageError, VerifyError};
pub use jwks::KeySet;
pub use revocations::{
    EventOutcome, PageOutcome, RevocationEntry, RevocationEvent, RevocationPage, RevocationSet,
};
pub use validation::{RevocationPolicy, Validation};
pub use verifier::{RevocationStatus, SyncReport, Verifier};
pub use verify::verify;
