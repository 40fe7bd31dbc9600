//! `bootstrap-operator`: invoked once after deploy; answers the operator secret once.

use clavis_aws::dynamo::Repository;
use clavis_bootstrap::{BootstrapInput, bootstrap};
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
        settings.table_name,
        settings.audit_table_name,
    );
    repo.warm_up().await;
    let (repo, stage) = (&repo, settings.stage.as_str());
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<BootstrapInput>| async move {
            let now = time::OffsetDateTime::now_utc();
            bootstrap(repo, stage, event.payload, now)
                .await
                .map_err(FunctionError::from)
        },
    ))
    .await
}
