//! `reap-requests` Lambda (EventBridge schedule): wiring only.

use clavis_aws::clients::OnFirstUse;
use clavis_aws::sqs::QueueSender;
use clavis_aws::workflows::Workflows;
use clavis_lambda::config::required;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};
use clavis_reap_requests::{Reaper, reap};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init("reap-requests").await?;
    let reaper = Reaper {
        workflows: Workflows::new(clavis_aws::clients::sfn(&deps.sdk)),
        dlq: QueueSender::new(OnFirstUse::new(&deps.sdk, clavis_aws::clients::sqs)),
        issue_arn: required("ISSUE_STATE_MACHINE_ARN")?,
        rotate_arn: required("ROTATE_STATE_MACHINE_ARN")?,
    };
    let state = for_process((deps, reaper));
    serve(state, |(deps, reaper), input| {
        reap(
            &deps.repo,
            reaper,
            &deps.settings.workflow_dlq_url,
            input,
            time::OffsetDateTime::now_utc(),
        )
    })
    .await
}
