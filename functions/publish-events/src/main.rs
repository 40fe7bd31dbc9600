//! `publish-events` Lambda (DynamoDB Streams event source): wiring only.

use aws_lambda_events::event::dynamodb::Event;
use clavis_aws::sqs::QueueSender;
use clavis_lambda::step::{Deps, RuntimeError, for_process};
use clavis_publish_events::publish_batch;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init().await?;
    let publisher = deps.event_publisher();
    let dlq = QueueSender::new(clavis_aws::clients::sqs(&deps.sdk));
    let state = for_process((deps, publisher, dlq));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        let (deps, publisher, dlq) = state;
        Ok::<_, RuntimeError>(
            publish_batch(
                &deps.repo,
                publisher,
                dlq,
                &deps.settings.events_dlq_url,
                event.payload,
            )
            .await,
        )
    }))
    .await
}
