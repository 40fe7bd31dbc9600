//! `health-check`: the deep health check task of the `health-check` state machine.

use clavis_aws::kms::Kms;
use clavis_health::check;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init("health-check").await?;
    let kms = Kms::new(clavis_aws::clients::kms(&deps.sdk));
    let state = for_process((deps, kms));
    serve(state, |(deps, kms), _: clavis_health::HealthCheckInput| {
        check(
            &deps.repo,
            kms,
            &deps.settings.stage,
            &deps.settings.signing_key_id,
        )
    })
    .await
}
