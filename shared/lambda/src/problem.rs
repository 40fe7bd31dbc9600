//! RFC 9457 problem responses: a stable `type` per error, the request id, no internal detail.

use clavis_core::{Error, FieldViolation};
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use lambda_http::{Body, Response};
use serde::Serialize;

/// Prefix of every problem `type`; the error code follows.
pub const TYPE_PREFIX: &str = "urn:clavis:problem:";
/// Media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Seconds a 503 asks the caller to wait before trying again (RFC 9110 `Retry-After`): a
/// throttle or a dependency that is down rarely clears sooner, and callers that retry at once
/// only make it worse.
pub const RETRY_AFTER_SECONDS: &str = "1";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `urn:clavis:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Fixed per type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request, safe to show.
    pub detail: String,
    /// The path that was requested.
    pub instance: String,
    /// Correlation id to quote to operators.
    pub request_id: String,
    /// The offending fields, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldViolation>,
}

impl Problem {
    /// The problem for `err` on `instance`. Faults are logged here with their detail and
    /// answered without it.
    pub fn from_error(err: &Error, instance: &str, request_id: &str) -> Self {
        let (title, detail, errors) = match err {
            Error::User(e) => (e.title(), e.to_string(), e.violations().to_vec()),
            Error::Fault(f) => {
                tracing::error!(error = %f, code = f.code(), request_id, "request failed");
                (
                    f.title(),
                    "The service could not complete the request; retry later.".to_owned(),
                    Vec::new(),
                )
            }
        };
        Self {
            type_: format!("{TYPE_PREFIX}{}", err.code()),
            title: title.to_owned(),
            status: err.http_status(),
            detail,
            instance: instance.to_owned(),
            request_id: request_id.to_owned(),
            errors,
        }
    }

    /// The HTTP response carrying this problem.
    pub fn into_response(self) -> Response<Body> {
        let unauthenticated = self.status == 401;
        let body = serde_json::to_string(&self).unwrap_or_default();
        let mut builder = Response::builder()
            .status(self.status)
            .header(CONTENT_TYPE, PROBLEM_JSON)
            .header(CACHE_CONTROL, "no-store");
        if self.status == 503 {
            builder = builder.header(RETRY_AFTER, RETRY_AFTER_SECONDS);
        }
        if unauthenticated {
            // Operators authenticate with Basic (their credential) or a bearer access token.
            builder = builder.header(
                WWW_AUTHENTICATE,
                r#"Basic realm="clavis", Bearer realm="clavis", error="invalid_token""#,
            );
        }
        builder
            .body(Body::Text(body))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_core::{SystemFault, UserError};

    #[test]
    fn a_validation_problem_lists_its_fields() {
        let err = Error::from(UserError::Invalid(vec![FieldViolation::new(
            "name", "empty",
        )]));
        let p = Problem::from_error(&err, "/v1/clients", "r-1");
        assert_eq!(p.type_, "urn:clavis:problem:invalid-request");
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "name");
        let resp = p.into_response();
        assert_eq!(resp.headers()[CONTENT_TYPE], PROBLEM_JSON);
    }

    #[test]
    fn a_fault_problem_hides_its_detail() {
        let err = Error::from(SystemFault::Unavailable {
            service: "dynamodb",
            detail: "ResourceNotFoundException: clavis-prod".into(),
        });
        let p = Problem::from_error(&err, "/v1/clients", "r-1");
        assert_eq!(p.status, 503);
        assert!(!serde_json::to_string(&p).unwrap().contains("clavis-prod"));
        assert_eq!(
            p.into_response().headers()[RETRY_AFTER],
            RETRY_AFTER_SECONDS,
            "a 503 says when to try again"
        );
        let refused = Problem::from_error(&UserError::Conflict("x".into()).into(), "/", "r");
        assert!(!refused.into_response().headers().contains_key(RETRY_AFTER));
    }

    #[test]
    fn unauthenticated_answers_carry_a_challenge() {
        let p = Problem::from_error(&UserError::Unauthenticated.into(), "/", "r");
        assert!(p.into_response().headers().contains_key(WWW_AUTHENTICATE));
    }
}
