//! `request-approval` Lambda: wiring only.

use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};
use clavis_request_approval::request_approval;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = for_process(Deps::init("request-approval").await?);
    serve(deps, |deps, task| {
        request_approval(&deps.repo, task, time::OffsetDateTime::now_utc())
    })
    .await
}
