//! What can go wrong in a command, and the exit code each kind ends the process with.
//!
//! Scripts branch on the code: a refusal (the API answered 4xx: fix the request) is not a
//! fault (5xx, network, an unreadable answer: try again later), and neither is a usage
//! mistake caught before anything was sent.

use std::fmt;
use std::process::ExitCode;

use serde::Deserialize;

/// Exit codes of `clavis`; stable, documented in `clavis --help`.
pub mod exit {
    /// The command did what it was asked.
    pub const OK: u8 = 0;
    /// The API refused the request (4xx): it changed nothing.
    pub const REFUSED: u8 = 1;
    /// A usage mistake caught before anything was sent (clap's own usage errors are 2 too).
    pub const USAGE: u8 = 2;
    /// A fault: the API answered 5xx, could not be reached, or answered something unreadable.
    pub const FAULT: u8 = 3;
    /// Not as expected: drift found by `plan --check`, an audit export that does not verify,
    /// a wait that ran out before the request settled, a request that ended denied or failed.
    pub const NOT_AS_EXPECTED: u8 = 4;
}

/// An RFC 9457 problem document (or an OAuth error) as the API answered it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Problem {
    /// The HTTP status.
    #[serde(default)]
    pub status: u16,
    /// `urn:clavis:problem:<code>`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// A short summary.
    #[serde(default)]
    pub title: Option<String>,
    /// What was wrong with this request.
    #[serde(default)]
    pub detail: Option<String>,
    /// The id to quote to an operator of the stack.
    #[serde(default)]
    pub request_id: Option<String>,
    /// Field violations of a 422.
    #[serde(default)]
    pub errors: Vec<FieldViolation>,
    /// OAuth 2.0 error code (`/oauth2/token`).
    #[serde(default)]
    pub error: Option<String>,
    /// OAuth 2.0 error description.
    #[serde(default)]
    pub error_description: Option<String>,
}

/// One field a 422 names.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field.
    #[serde(default)]
    pub field: String,
    /// What is wrong with it.
    #[serde(default)]
    pub reason: String,
}

impl Problem {
    /// Reads a problem from an answer's body; a body that is not one keeps its first line.
    pub fn from_body(status: u16, body: &[u8]) -> Self {
        let mut problem = serde_json::from_slice::<Problem>(body).unwrap_or_else(|_| Problem {
            detail: std::str::from_utf8(body)
                .ok()
                .and_then(|s| s.lines().next())
                .map(|s| s.chars().take(200).collect()),
            ..Problem::default()
        });
        problem.status = status;
        problem
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let title = self
            .title
            .as_deref()
            .or(self.error.as_deref())
            .unwrap_or("error");
        write!(f, "{} {title}", self.status)?;
        if let Some(kind) = &self.kind {
            write!(f, " ({kind})")?;
        }
        if let Some(detail) = self.detail.as_deref().or(self.error_description.as_deref()) {
            write!(f, "\n  {detail}")?;
        }
        for v in &self.errors {
            write!(f, "\n  - {}: {}", v.field, v.reason)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, "\n  request id: {id}")?;
        }
        Ok(())
    }
}

/// Why a command did not finish as asked.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A usage mistake caught before anything was sent.
    #[error("{0}")]
    Usage(String),
    /// The API refused the request (4xx).
    #[error("refused: {problem}{}", hint.as_deref().map(|h| format!("\n  {h}")).unwrap_or_default())]
    Refused {
        /// The problem it answered.
        problem: Box<Problem>,
        /// What to do about it, when the CLI knows.
        hint: Option<String>,
    },
    /// The API answered 5xx, could not be reached, or answered something unreadable.
    #[error("fault: {0}")]
    Fault(String),
    /// The command ran, but the outcome is not the one asked for.
    #[error("{0}")]
    NotAsExpected(String),
}

impl CliError {
    /// The refusal of an answer with this status and body.
    pub fn refused(problem: Problem) -> Self {
        Self::Refused {
            problem: Box::new(problem),
            hint: None,
        }
    }

    /// The same refusal with advice appended.
    pub fn with_hint(self, text: impl Into<String>) -> Self {
        match self {
            Self::Refused { problem, .. } => Self::Refused {
                problem,
                hint: Some(text.into()),
            },
            other => other,
        }
    }

    /// The process exit code of this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => exit::USAGE,
            Self::Refused { .. } => exit::REFUSED,
            Self::Fault(_) => exit::FAULT,
            Self::NotAsExpected(_) => exit::NOT_AS_EXPECTED,
        }
    }

    /// The exit code as the process answers it.
    pub fn exit(&self) -> ExitCode {
        ExitCode::from(self.exit_code())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self::Usage(e.to_string())
    }
}

/// A command's result.
pub type CliResult<T = ()> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_document_reads_and_prints_every_part() {
        let body = br#"{"type":"urn:clavis:problem:invalid-request","title":"Invalid request","status":422,
            "detail":"the request is invalid","request_id":"abc",
            "errors":[{"field":"ttl_seconds","reason":"must be at least 300"}]}"#;
        let p = Problem::from_body(422, body);
        let text = p.to_string();
        assert!(text.starts_with("422 Invalid request (urn:clavis:problem:invalid-request)"));
        assert!(text.contains("ttl_seconds: must be at least 300"), "{text}");
        assert!(text.contains("request id: abc"), "{text}");
    }

    #[test]
    fn an_oauth_error_and_a_bare_body_read_as_problems_too() {
        let p = Problem::from_body(
            401,
            br#"{"error":"invalid_client","error_description":"bad"}"#,
        );
        assert_eq!(p.to_string(), "401 invalid_client\n  bad");
        let p = Problem::from_body(502, b"Bad Gateway\nmore");
        assert_eq!(p.to_string(), "502 error\n  Bad Gateway");
    }

    #[test]
    fn each_kind_of_error_has_its_own_exit_code() {
        let codes = [
            CliError::Usage(String::new()).exit_code(),
            CliError::refused(Problem::default()).exit_code(),
            CliError::Fault(String::new()).exit_code(),
            CliError::NotAsExpected(String::new()).exit_code(),
        ];
        assert_eq!(codes, [2, 1, 3, 4]);
    }
}
