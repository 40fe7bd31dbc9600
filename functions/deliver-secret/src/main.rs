//! `deliver-secret` Lambda: wiring only.

use clavis_aws::kms::Kms;
use clavis_aws::vault::SecretsManagerVault;
use clavis_deliver_secret::deliver_secret;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init("deliver-secret").await?;
    let kms = Kms::new(clavis_aws::clients::kms(&deps.sdk));
    let vault = SecretsManagerVault::new(clavis_aws::clients::secretsmanager(&deps.sdk));
    let state = for_process((deps, kms, vault));
    serve(state, |(deps, kms, vault), minted| {
        deliver_secret(
            &deps.repo,
            kms,
            vault,
            &deps.settings.secrets_key_id,
            minted,
            time::OffsetDateTime::now_utc(),
        )
    })
    .await
}
