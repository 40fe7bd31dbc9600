//! `access-review` Lambda (EventBridge schedule): wiring only.

use clavis_access_review::run_review;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = for_process(Deps::init("access-review").await?);
    serve(deps, |deps, input| {
        run_review(&deps.repo, input, time::OffsetDateTime::now_utc())
    })
    .await
}
