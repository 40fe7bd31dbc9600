//! `activate-credential` Lambda: wiring only.

use clavis_activate_credential::activate_credential;
use clavis_aws::vault::SecretsManagerVault;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init("activate-credential").await?;
    let vault = SecretsManagerVault::new(clavis_aws::clients::secretsmanager(&deps.sdk));
    let state = for_process((deps, vault));
    serve(state, |(deps, vault), minted| {
        activate_credential(&deps.repo, vault, minted, time::OffsetDateTime::now_utc())
    })
    .await
}
