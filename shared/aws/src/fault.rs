//! Mapping of SDK errors onto the core taxonomy.
//!
//! Throttling, timeouts, unreachable endpoints and 5xx answers are retryable faults. Conditional
//! check failures are not mapped here: each operation knows what its condition meant and turns
//! it into the right user error first.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use clavis_core::SystemFault;

const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "LimitExceededException",
    "KMSInternalException",
];

/// The fault an SDK error of `service` stands for.
pub fn from_sdk<E, R>(service: &'static str, err: &SdkError<E, R>) -> SystemFault
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::TimeoutError(_) => SystemFault::Timeout { service },
        SdkError::DispatchFailure(d) if d.is_timeout() => SystemFault::Timeout { service },
        SdkError::DispatchFailure(_) => SystemFault::Unavailable {
            service,
            detail: "endpoint unreachable".into(),
        },
        SdkError::ConstructionFailure(_) => {
            SystemFault::Internal(format!("{service} request could not be built"))
        }
        _ => {
            let code = err.code().unwrap_or("Unknown");
            if THROTTLING_CODES.contains(&code) {
                SystemFault::Throttled { service }
            } else {
                SystemFault::Unavailable {
                    service,
                    detail: code.to_owned(),
                }
            }
        }
    }
}

/// Whether the SDK error is a service error with this code.
pub fn has_code<E, R>(err: &SdkError<E, R>, code: &str) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    err.code() == Some(code)
}
