//! `api`: the HTTP API behind API Gateway. Wires configuration and clients, then serves.

use clavis_api::App;
use clavis_aws::dynamo::Repository;
use clavis_lambda::config::Settings;
use lambda_http::{Error, Request, service_fn};

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
    let app = App::new(repo);
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(app.handle(req).await)
    }))
    .await
}
