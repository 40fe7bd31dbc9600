//! `health-check`: the deep health check task of the `health-check` state machine.

use clavis_aws::dynamo::Repository;
use clavis_aws::kms::Kms;
use clavis_health::{HealthCheckInput, check};
use clavis_lambda::FunctionError;
use clavis_lambda::config::Settings;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    clavis_lambda::telemetry::init();
    let settings = Settings::from_env()?;
    let sdk = clavis_aws::config::load().await;
    let repo = Repository::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        settings.table_name.clone(),
        settings.audit_table_name.clone(),
    );
    repo.warm_up().await;
    let kms = Kms::new(aws_sdk_kms::Client::new(&sdk));
    let (repo, kms, settings) = (&repo, &kms, &settings);
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<HealthCheckInput>| async move {
            check(repo, kms, &settings.stage, &settings.signing_key_id)
                .await
                .map_err(FunctionError::from)
        },
    ))
    .await
}
