//! `retire-predecessor` Lambda: wiring only.

use clavis_aws::vault::SecretsManagerVault;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};
use clavis_retire_predecessor::retire_predecessor;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init("retire-predecessor").await?;
    let vault = SecretsManagerVault::new(clavis_aws::clients::secretsmanager(&deps.sdk));
    let state = for_process((deps, vault));
    serve(state, |(deps, vault), input| {
        retire_predecessor(&deps.repo, vault, input, time::OffsetDateTime::now_utc())
    })
    .await
}
