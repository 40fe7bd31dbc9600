//! `record-failure` Lambda: wiring only.

use clavis_aws::clients::OnFirstUse;
use clavis_aws::sqs::QueueSender;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};
use clavis_record_failure::record;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init("record-failure").await?;
    let dlq = QueueSender::new(OnFirstUse::new(&deps.sdk, clavis_aws::clients::sqs));
    let state = for_process((deps, dlq));
    serve(state, |(deps, dlq), task| {
        record(
            &deps.repo,
            dlq,
            &deps.settings.workflow_dlq_url,
            task,
            time::OffsetDateTime::now_utc(),
        )
    })
    .await
}
