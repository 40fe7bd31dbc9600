//! `bootstrap-operator`: invoked once after deploy; answers the operator secret once.
// The layouts of the SDK's deeply nested futures are first computed inside this `main`'s, past
// the default query depth (128) since init's warm-up read runs on its own task.
#![recursion_limit = "256"]

use clavis_bootstrap::bootstrap;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = for_process(Deps::init("bootstrap-operator").await?);
    serve(deps, |deps, input| {
        bootstrap(
            &deps.repo,
            &deps.settings.stage,
            input,
            time::OffsetDateTime::now_utc(),
        )
    })
    .await
}
