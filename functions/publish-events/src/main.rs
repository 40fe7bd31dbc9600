//! `publish-events` Lambda (DynamoDB Streams event source): wiring only.

use aws_lambda_events::event::dynamodb::Event;
use clavis_aws::clients::OnFirstUse;
use clavis_aws::sqs::QueueSender;
use clavis_lambda::metrics::{self, Outcome};
use clavis_lambda::step::{Deps, RuntimeError, for_process};
use clavis_lambda::telemetry;
use clavis_publish_events::publish_batch;
use lambda_runtime::{LambdaEvent, service_fn};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init("publish-events").await?;
    let publisher = deps.event_publisher();
    let dlq = QueueSender::new(OnFirstUse::new(&deps.sdk, clavis_aws::clients::sqs));
    let state = for_process((deps, publisher, dlq));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let span = telemetry::invocation_span(&event.context);
        async move {
            let (deps, publisher, dlq) = state;
            let started = std::time::Instant::now();
            let response = publish_batch(
                &deps.repo,
                publisher,
                dlq,
                &deps.settings.events_dlq_url,
                event.payload,
            )
            .await;
            let outcome = if response.batch_item_failures.is_empty() {
                Outcome::Ok
            } else {
                Outcome::Fault
            };
            metrics::step_invoked(telemetry::stage(), outcome, started.elapsed());
            telemetry::finish();
            Ok::<_, RuntimeError>(response)
        }
        .instrument(span)
    }))
    .await
}
