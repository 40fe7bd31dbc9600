//! `retire-predecessor` Lambda: wiring only.

use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};
use clavis_retire_predecessor::retire_predecessor;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = for_process(Deps::init().await?);
    serve(deps, |deps, input| {
        retire_predecessor(&deps.repo, input, time::OffsetDateTime::now_utc())
    })
    .await
}
