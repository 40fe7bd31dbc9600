//! The one SDK configuration of a process.
//!
//! Loaded once at init (region, credentials, `AWS_ENDPOINT_URL` for the local cloud) with
//! explicit timeouts, so a hung dependency becomes a retryable fault instead of a hung Lambda.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// Upper bound for one AWS API call including retries.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound for one attempt of an AWS API call.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Loads the SDK configuration from the environment. Call once per process.
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await
}
