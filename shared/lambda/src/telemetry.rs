//! Structured JSON logs for CloudWatch. Log lines carry ids and decisions, never secrets:
//! secret types redact themselves and handlers log ids only.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber; `RUST_LOG` sets the level (default `info`). Safe to call twice.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .with_ansi(false)
        .flatten_event(true)
        .try_init();
}

/// The AWS calls this invocation made (`dynamodb.GetItem=3 kms.Encrypt=1`), resetting the
/// count for the next one. Logged once per invocation as the `aws_calls` field.
pub fn aws_calls() -> String {
    clavis_aws::calls::render(&clavis_aws::calls::drain())
}
