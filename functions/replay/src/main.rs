//! `replay` Lambda (invoked by operators: `make replay`): wiring only.

use clavis_aws::sqs::QueueDrain;
use clavis_aws::workflows::Workflows;
use clavis_lambda::config::required;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};
use clavis_replay::{QueueUrls, Replayer, StateMachines};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init("replay").await?;
    let replayer = Replayer {
        drain: QueueDrain::new(clavis_aws::clients::sqs(&deps.sdk)),
        publisher: deps.event_publisher(),
        workflows: Workflows::new(clavis_aws::clients::sfn(&deps.sdk)),
        repo: deps.repo.clone(),
        queues: QueueUrls {
            events_dlq: deps.settings.events_dlq_url.clone(),
            workflow_dlq: deps.settings.workflow_dlq_url.clone(),
            intake: deps.settings.intake_queue_url.clone(),
        },
        state_machines: StateMachines {
            issue: required("ISSUE_STATE_MACHINE_ARN")?,
            revoke_client: required("REVOKE_CLIENT_STATE_MACHINE_ARN")?,
            rotate: required("ROTATE_STATE_MACHINE_ARN")?,
        },
    };
    let replayer = for_process(replayer);
    serve(replayer, |replayer, request| {
        replayer.replay(request, time::OffsetDateTime::now_utc())
    })
    .await
}
