//! What the issuance workflow's tasks pass each other: ids and decisions, never a secret.

use serde::{Deserialize, Serialize};

use crate::client::Environment;
use crate::ids::{ClientId, CredentialId, RequestId};

/// The execution input, and the output of `ValidateRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestRef {
    /// The request (also the execution name).
    pub request_id: RequestId,
    /// Its client.
    pub client_id: ClientId,
}

/// The output of `MintCredential`, the input of `ActivateCredential`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Minted {
    /// The request.
    pub request_id: RequestId,
    /// Its client.
    pub client_id: ClientId,
    /// The minted (approved, not yet active) credential.
    pub credential_id: CredentialId,
    /// The client's environment (for the issued event).
    pub environment: Environment,
}

/// The output of `ActivateCredential`: the execution's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// The request.
    pub request_id: RequestId,
    /// The active credential.
    pub credential_id: CredentialId,
    /// Always `completed`.
    pub status: String,
}

/// The error Step Functions `Catch` puts at `$.error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    /// The error name (`Clavis.User.conflict`, `Clavis.Transient.timeout`, `States.Timeout`…).
    #[serde(rename = "Error")]
    pub error: String,
    /// For Lambda errors a JSON text `{"errorType","errorMessage"}`; free text otherwise.
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

impl CaughtError {
    /// Whether this is the caller's mistake (not retried, not parked for replay).
    pub fn is_user_error(&self) -> bool {
        self.error.starts_with("Clavis.User.")
    }

    /// The stable code after `Clavis.User.`/`Clavis.Transient.`, if it is a Clavis error.
    pub fn code(&self) -> Option<&str> {
        self.error
            .strip_prefix("Clavis.User.")
            .or_else(|| self.error.strip_prefix("Clavis.Transient."))
    }

    /// The `errorMessage` inside a Lambda error's cause, or the cause itself.
    pub fn message(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.cause)
            .ok()
            .and_then(|v| {
                v.get("errorMessage")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| self.cause.clone())
    }
}

/// The input of `RecordFailure`: whatever the failed task had, plus the caught error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedTask {
    /// The request.
    pub request_id: RequestId,
    /// Its client.
    pub client_id: ClientId,
    /// What went wrong.
    pub error: CaughtError,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_causes_yield_their_message() {
        let e = CaughtError {
            error: "Clavis.User.forbidden".into(),
            cause: r#"{"errorType":"Clavis.User.forbidden","errorMessage":"not allowed: x"}"#
                .into(),
        };
        assert!(e.is_user_error());
        assert_eq!(e.code(), Some("forbidden"));
        assert_eq!(e.message(), "not allowed: x");
        let t = CaughtError {
            error: "States.Timeout".into(),
            cause: "task timed out".into(),
        };
        assert!(!t.is_user_error());
        assert_eq!(t.code(), None);
        assert_eq!(t.message(), "task timed out");
    }

    #[test]
    fn a_failed_task_keeps_the_ids_of_any_task_input() {
        let json = r#"{"request_id":"req_01HZZZZZZZZZZZZZZZZZZZZZZZ","client_id":"cli_01HZZZZZZZZZZZZZZZZZZZZZZZ","scopes":["a"],"error":{"Error":"States.Timeout","Cause":""}}"#;
        let f: FailedTask = serde_json::from_str(json).unwrap();
        assert_eq!(f.error.error, "States.Timeout");
    }
}
