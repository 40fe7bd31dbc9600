//! The one SDK configuration of a process.
//!
//! Loaded once at init (region, credentials, `AWS_ENDPOINT_URL` for the local cloud) with
//! explicit timeouts, so a hung dependency becomes a retryable fault instead of a hung Lambda.

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::http;

/// Upper bound for one AWS API call including retries.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound for one attempt of an AWS API call.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Upper bound for opening one connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Loads the SDK configuration from the environment. Call once per process.
///
/// Every client gets the one shared HTTPS connector ([`http::shared_client`]). Where the
/// environment holds the credentials (`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, as Lambda
/// sets them with `AWS_SESSION_TOKEN`), they are read from there: the default chain would pick
/// them first anyway, and building the chain (profile files, web identity, ECS and IMDS
/// providers) costs more than the rest of the configuration together.
pub async fn load() -> SdkConfig {
    let var = |name: &str| std::env::var(name).ok();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build(),
    );
    if let Some(client) = http::shared_client(http::Trust::from_env(var), CONNECT_TIMEOUT) {
        loader = loader.http_client(client);
    }
    if var("AWS_ACCESS_KEY_ID").is_some() && var("AWS_SECRET_ACCESS_KEY").is_some() {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}
