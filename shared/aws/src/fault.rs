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

/// The outcome of a DynamoDB write whose condition only guards against repeating it: done,
/// or not needed (its condition failed); any other error is a fault.
pub fn unless_condition_failed<O, E, R>(
    result: Result<O, SdkError<E, R>>,
) -> Result<(), SystemFault>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(()),
        Err(SdkError::ServiceError(e))
            if e.err().code() == Some("ConditionalCheckFailedException") =>
        {
            Ok(())
        }
        Err(e) => Err(from_sdk("dynamodb", &e)),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    type Err = SdkError<GetItemError, Response>;

    fn service(code: &str, status: u16) -> Err {
        let meta = ErrorMetadata::builder().code(code).build();
        let raw = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(GetItemError::generic(meta), raw)
    }

    #[test]
    fn throttling_is_a_throttled_fault() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
        ] {
            assert_eq!(
                from_sdk("dynamodb", &service(code, 400)),
                SystemFault::Throttled {
                    service: "dynamodb"
                }
            );
        }
    }

    #[test]
    fn server_errors_are_unavailable_with_their_code() {
        let fault = from_sdk("dynamodb", &service("InternalServerError", 500));
        assert_eq!(
            fault,
            SystemFault::Unavailable {
                service: "dynamodb",
                detail: "InternalServerError".into()
            }
        );
        assert_eq!(fault.http_status(), 503);
    }

    #[test]
    fn timeouts_and_unreachable_endpoints_are_faults() {
        let timeout: Err = SdkError::timeout_error("slow");
        assert_eq!(
            from_sdk("kms", &timeout),
            SystemFault::Timeout { service: "kms" }
        );
        let refused: Err = SdkError::dispatch_failure(ConnectorError::io(Box::new(
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        )));
        assert!(matches!(
            from_sdk("kms", &refused),
            SystemFault::Unavailable { service: "kms", .. }
        ));
    }

    #[test]
    fn codes_are_read_from_service_errors() {
        let err = service("ConditionalCheckFailedException", 400);
        assert!(has_code(&err, "ConditionalCheckFailedException"));
        assert!(!has_code(&err, "ThrottlingException"));
    }
}
