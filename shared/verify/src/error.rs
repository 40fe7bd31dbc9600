//! Why a token was refused, and why talking to the issuer failed. No error carries token text.

/// Why a token was refused. Each variant is one distinct reason; none contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is longer than [`crate::Validation::max_token_bytes`]; nothing was decoded.
    #[error("token is longer than {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The token is not a compact JWS of the expected shape; the reason names the part.
    #[error("token is malformed: {0}")]
    Malformed(&'static str),
    /// The header's `alg` is not exactly `ES256` (`none`, `HS256`, `es256`, … are refused).
    #[error("token algorithm is not ES256")]
    UnsupportedAlgorithm,
    /// The header's `typ` is absent or not `at+jwt` / `application/at+jwt`.
    #[error("token type is not at+jwt")]
    WrongType,
    /// The header carries a parameter Clavis never sets and that would change how it is checked
    /// (`jwk`, `jku`, `x5u`, `x5c`, `crit`); the named parameter is never followed.
    #[error("token header has the forbidden parameter {0}")]
    ForbiddenHeader(&'static str),
    /// The header's `kid` names no key of the issuer's key set (even after a refresh).
    #[error("token key id is not in the issuer's key set")]
    UnknownKey,
    /// The signature does not verify with the named key.
    #[error("token signature is invalid")]
    BadSignature,
    /// A required claim is absent.
    #[error("token lacks the {0} claim")]
    MissingClaim(&'static str),
    /// `exp` has passed, beyond the leeway.
    #[error("token has expired")]
    Expired,
    /// `nbf` (or `iat`) is in the future, beyond the leeway.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iss` is not exactly the configured issuer.
    #[error("token was issued by another issuer")]
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    #[error("token is not meant for this audience")]
    WrongAudience,
    /// The token's credential is in the revocation set.
    #[error("token's credential has been revoked")]
    Revoked,
    /// The revocation set has not been synced within `max_staleness`, so whether the credential
    /// is revoked is unknown: the token is refused (fail closed). A server-side condition, not a
    /// fault of the token.
    #[error("revocation status unknown: the revocation set is stale")]
    RevocationStatusUnknown,
}

/// Why a JWKS document could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The document is not JSON of the form `{"keys":[…]}`.
    #[error("JWKS is not a JSON key set")]
    NotAKeySet,
    /// The document has no usable ES256 P-256 signing key.
    #[error("JWKS has no usable ES256 key ({skipped} skipped)")]
    NoUsableKey {
        /// Keys present but not usable (other type, curve or use, bad coordinates, no kid).
        skipped: usize,
    },
}

/// How a registry page broke the registry's contract (`seq` strictly increasing from `since + 1`,
/// no gaps); the page's entries are still applied, but the set is not marked synced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PageError {
    /// An entry's `seq` is not the next one.
    #[error("registry page skips from seq {expected} to {found}")]
    Gap {
        /// The seq that should have come.
        expected: u64,
        /// The seq that came.
        found: u64,
    },
    /// The page says another page follows but has no entries.
    #[error("registry page is empty but names a next page")]
    EmptyPageWithNext,
    /// Following `next` did not move forward.
    #[error("registry paging did not advance past seq {since}")]
    NoProgress {
        /// The `since` that was asked twice.
        since: u64,
    },
}

/// Why fetching from the issuer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The request failed (connect, timeout, body).
    #[error("{what}: request failed: {source}")]
    Http {
        /// What was fetched.
        what: &'static str,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The issuer answered with a non-success status.
    #[error("{what}: issuer answered HTTP {status}")]
    Status {
        /// What was fetched.
        what: &'static str,
        /// The status code.
        status: u16,
    },
    /// The answer exceeded the size limit.
    #[error("{what}: answer is larger than {limit} bytes")]
    TooLarge {
        /// What was fetched.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The answer is not JSON of the expected shape.
    #[error("{what}: answer is not of the expected shape")]
    Shape {
        /// What was fetched.
        what: &'static str,
    },
    /// The JWKS is unusable.
    #[error(transparent)]
    Jwks(#[from] JwksError),
    /// A registry page broke the registry's contract.
    #[error(transparent)]
    Page(#[from] PageError),
}

/// Why a [`crate::Verifier`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL does not parse or is not http(s).
    #[error("{name} is not an http(s) URL")]
    InvalidUrl {
        /// Which setting.
        name: &'static str,
    },
    /// A plain `http` URL to another machine: keys and revocations would cross the network
    /// unauthenticated, so anyone on the path could hand out keys.
    #[error("{name} is plain http to another machine; use https (http is for this machine only)")]
    InsecureUrl {
        /// Which setting.
        name: &'static str,
    },
    /// An `https` URL was given but the crate was built without its `tls` feature.
    #[error("{name} is https but clavis-verify was built without the `tls` feature")]
    TlsUnavailable {
        /// Which setting.
        name: &'static str,
    },
    /// The revocations `Authorization` value is not a valid header value.
    #[error("the revocations Authorization value is not a valid header value")]
    InvalidAuthorization,
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}
