//! The error taxonomy: user errors and system faults, never mixed (docs/architecture.md, "Errors
//! and retries").
//!
//! A [`UserError`] is the caller's mistake: answered with a 4xx, named `Clavis.User.*` in Step
//! Functions, never retried. A [`SystemFault`] is ours or the cloud's: answered with a 5xx/503,
//! named `Clavis.Transient.*`, retried with backoff. Each variant has a stable `code` that is the
//! last segment of its RFC 9457 problem `type` and of its Step Functions error name.

use serde::Serialize;

/// One field that failed validation, with a human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldViolation {
    /// JSON path of the offending field (`allowed_scopes[2]`), or `body`.
    pub field: String,
    /// Why it was refused; never echoes secret material.
    pub reason: String,
}

impl FieldViolation {
    /// A violation of `field` for `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A mistake of the caller. Retrying the same request cannot succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// The body is not well-formed (not JSON, truncated).
    #[error("the request body is malformed: {0}")]
    MalformedBody(String),
    /// Well-formed, but fields are missing, unknown, of the wrong type or out of range.
    #[error("the request is invalid")]
    Invalid(Vec<FieldViolation>),
    /// A query parameter is malformed or out of range (a forged cursor, a limit of 0).
    #[error("the query parameters are invalid")]
    InvalidQuery(Vec<FieldViolation>),
    /// The body is larger than the endpoint accepts.
    #[error("the request body exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not `application/json`.
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    /// No or bad credentials.
    #[error("authentication is required")]
    Unauthenticated,
    /// Authenticated, but not allowed to do this.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The named resource does not exist (or the caller may not know it does).
    #[error("{0} not found")]
    NotFound(String),
    /// The change conflicts with the current state (a concurrent write, an existing item).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A lifecycle transition the state machine does not allow.
    #[error("illegal transition: {0}")]
    IllegalTransition(String),
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Something that was there is gone for good (a secret already picked up).
    #[error("{0} is gone")]
    Gone(String),
    /// A required header is missing or malformed.
    #[error("the {header} header {reason}")]
    BadHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An idempotency key was used again with a different request.
    #[error("the Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    /// The client's vault refused the secret (missing, scheduled for deletion, not writable by
    /// this stack): its owner must fix the target.
    #[error("the secret could not be delivered: {0}")]
    Undeliverable(String),
}

impl UserError {
    /// Stable code: the last segment of the problem `type` and of `Clavis.User.<Code>`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedBody(_) => "malformed-body",
            Self::Invalid(_) => "invalid-request",
            Self::InvalidQuery(_) => "invalid-query",
            Self::PayloadTooLarge { .. } => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::Conflict(_) => "conflict",
            Self::IllegalTransition(_) => "illegal-transition",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Gone(_) => "gone",
            Self::BadHeader { .. } => "invalid-header",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::Undeliverable(_) => "undeliverable",
        }
    }

    /// The HTTP status this error is answered with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MalformedBody(_) => 400,
            Self::Invalid(_) => 422,
            Self::InvalidQuery(_) => 400,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::Unauthenticated => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_) | Self::IllegalTransition(_) => 409,
            Self::MethodNotAllowed => 405,
            Self::Gone(_) => 410,
            Self::BadHeader { .. } => 400,
            Self::IdempotencyKeyReused | Self::Undeliverable(_) => 422,
        }
    }

    /// A short, fixed title for the problem document.
    pub fn title(&self) -> &'static str {
        match self {
            Self::MalformedBody(_) => "Malformed request body",
            Self::Invalid(_) => "Invalid request",
            Self::InvalidQuery(_) => "Invalid query parameters",
            Self::PayloadTooLarge { .. } => "Request body too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::Unauthenticated => "Authentication required",
            Self::Forbidden(_) => "Forbidden",
            Self::NotFound(_) => "Not found",
            Self::Conflict(_) => "Conflict",
            Self::IllegalTransition(_) => "Illegal lifecycle transition",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Gone(_) => "Gone",
            Self::BadHeader { .. } => "Invalid header",
            Self::IdempotencyKeyReused => "Idempotency key reused",
            Self::Undeliverable(_) => "Secret not delivered",
        }
    }

    /// The field violations, if this is an [`UserError::Invalid`].
    pub fn violations(&self) -> &[FieldViolation] {
        match self {
            Self::Invalid(v) | Self::InvalidQuery(v) => v,
            _ => &[],
        }
    }
}

/// A fault of the system or of a dependency. The same request may succeed later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SystemFault {
    /// A dependency throttled us.
    #[error("throttled by {service}")]
    Throttled {
        /// The AWS service (or other dependency) that throttled.
        service: &'static str,
    },
    /// A dependency did not answer in time, or the connection failed.
    #[error("{service} timed out or was unreachable")]
    Timeout {
        /// The dependency.
        service: &'static str,
    },
    /// A dependency answered with a server error or refused a well-formed request.
    #[error("{service} is unavailable: {detail}")]
    Unavailable {
        /// The dependency.
        service: &'static str,
        /// Internal detail for logs; never shown to callers.
        detail: String,
    },
    /// Configuration is missing or wrong (an environment variable, a key).
    #[error("misconfigured: {0}")]
    Misconfigured(String),
    /// An invariant of our own was broken (corrupt item, impossible state).
    #[error("internal error: {0}")]
    Internal(String),
}

impl SystemFault {
    /// Stable code: the last segment of the problem `type` and of `Clavis.Transient.<Code>`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Throttled { .. } => "throttled",
            Self::Timeout { .. } => "timeout",
            Self::Unavailable { .. } => "unavailable",
            Self::Misconfigured(_) => "misconfigured",
            Self::Internal(_) => "internal",
        }
    }

    /// The HTTP status this fault is answered with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Throttled { .. } | Self::Unavailable { .. } => 503,
            Self::Timeout { .. } => 504,
            Self::Misconfigured(_) | Self::Internal(_) => 500,
        }
    }

    /// A short, fixed title for the problem document.
    pub fn title(&self) -> &'static str {
        match self {
            Self::Throttled { .. } => "Service busy",
            Self::Timeout { .. } => "Dependency timed out",
            Self::Unavailable { .. } => "Service unavailable",
            Self::Misconfigured(_) | Self::Internal(_) => "Internal error",
        }
    }
}

/// Any Clavis error: exactly one of the two families.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The caller's mistake.
    #[error(transparent)]
    User(#[from] UserError),
    /// A fault; may succeed on retry.
    #[error(transparent)]
    Fault(#[from] SystemFault),
}

impl Error {
    /// Stable code of the underlying error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::User(e) => e.code(),
            Self::Fault(f) => f.code(),
        }
    }

    /// HTTP status of the underlying error.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::User(e) => e.http_status(),
            Self::Fault(f) => f.http_status(),
        }
    }

    /// Whether retrying the same operation can help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Fault(_))
    }

    /// The error name seen by Step Functions `Retry`/`Catch`: `Clavis.User.<code>` or
    /// `Clavis.Transient.<code>`.
    pub fn step_functions_name(&self) -> String {
        match self {
            Self::User(e) => format!("Clavis.User.{}", e.code()),
            Self::Fault(f) => format!("Clavis.Transient.{}", f.code()),
        }
    }
}

/// Result with a Clavis [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_errors_are_4xx_and_never_retryable() {
        let all = [
            UserError::MalformedBody("x".into()),
            UserError::Invalid(vec![]),
            UserError::InvalidQuery(vec![]),
            UserError::PayloadTooLarge { limit: 1 },
            UserError::UnsupportedMediaType,
            UserError::Unauthenticated,
            UserError::Forbidden("x".into()),
            UserError::NotFound("x".into()),
            UserError::Conflict("x".into()),
            UserError::IllegalTransition("x".into()),
            UserError::MethodNotAllowed,
            UserError::Gone("x".into()),
            UserError::BadHeader {
                header: "Idempotency-Key",
                reason: "is missing".into(),
            },
            UserError::IdempotencyKeyReused,
        ];
        for e in all {
            let status = e.http_status();
            let err = Error::from(e);
            assert!((400..500).contains(&status), "{err:?}");
            assert!(!err.is_retryable());
            assert!(err.step_functions_name().starts_with("Clavis.User."));
        }
    }

    #[test]
    fn faults_are_5xx_and_retryable() {
        let all = [
            SystemFault::Throttled {
                service: "dynamodb",
            },
            SystemFault::Timeout { service: "kms" },
            SystemFault::Unavailable {
                service: "kms",
                detail: "x".into(),
            },
            SystemFault::Misconfigured("x".into()),
            SystemFault::Internal("x".into()),
        ];
        for f in all {
            let status = f.http_status();
            let err = Error::from(f);
            assert!((500..600).contains(&status), "{err:?}");
            assert!(err.is_retryable());
            assert!(err.step_functions_name().starts_with("Clavis.Transient."));
        }
    }
}
