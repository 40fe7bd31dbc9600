//! Core errors as Lambda errors: the `errorType` Step Functions matches in `Retry`/`Catch`.

use clavis_core::Error;
use lambda_runtime::Diagnostic;

/// A function's error, reported to Lambda as `Clavis.User.<code>` or `Clavis.Transient.<code>`.
#[derive(Debug)]
pub struct FunctionError(pub Error);

impl<E: Into<Error>> From<E> for FunctionError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(FunctionError(err): FunctionError) -> Self {
        let error_message = match &err {
            Error::User(e) => e.to_string(),
            // Fault detail is for our logs, not for execution histories.
            Error::Fault(f) => {
                tracing::error!(error = %f, code = f.code(), "function failed");
                f.title().to_owned()
            }
        };
        Diagnostic {
            error_type: err.step_functions_name(),
            error_message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_core::{SystemFault, UserError};

    #[test]
    fn user_errors_and_faults_get_their_family_names() {
        let d = Diagnostic::from(FunctionError::from(UserError::Conflict("x".into())));
        assert_eq!(d.error_type, "Clavis.User.conflict");
        let d = Diagnostic::from(FunctionError::from(SystemFault::Throttled {
            service: "kms",
        }));
        assert_eq!(d.error_type, "Clavis.Transient.throttled");
    }

    #[test]
    fn fault_details_stay_out_of_the_error_message() {
        let d = Diagnostic::from(FunctionError::from(SystemFault::Unavailable {
            service: "kms",
            detail: "arn:aws:kms:internal-detail".into(),
        }));
        assert!(!d.error_message.contains("internal-detail"));
    }
}
