//! `reconcile-outbox` Lambda (EventBridge schedule): wiring only.

use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};
use clavis_reconcile_outbox::reconcile;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init("reconcile-outbox").await?;
    let publisher = deps.event_publisher();
    serve(
        for_process((deps, publisher)),
        |(deps, publisher), input| {
            reconcile(
                &deps.repo,
                publisher,
                input,
                time::OffsetDateTime::now_utc(),
            )
        },
    )
    .await
}
