//! `record-denial` Lambda: wiring only.

use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};
use clavis_record_denial::record_denial;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = for_process(Deps::init("record-denial").await?);
    serve(deps, |deps, input| {
        record_denial(&deps.repo, input, time::OffsetDateTime::now_utc())
    })
    .await
}
