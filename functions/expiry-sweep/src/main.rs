//! `expiry-sweep` Lambda (EventBridge schedule): wiring only.

use clavis_expiry_sweep::sweep;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = for_process(Deps::init().await?);
    serve(deps, |deps, input| {
        sweep(&deps.repo, input, time::OffsetDateTime::now_utc())
    })
    .await
}
