//! `mint-credential` Lambda: wiring only.

use clavis_aws::kms::Kms;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};
use clavis_mint_credential::mint_credential;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init("mint-credential").await?;
    let kms = Kms::new(clavis_aws::clients::kms(&deps.sdk));
    let state = for_process((deps, kms));
    serve(state, |(deps, kms), grant| {
        mint_credential(
            &deps.repo,
            kms,
            &deps.settings.secrets_key_id,
            grant,
            time::OffsetDateTime::now_utc(),
        )
    })
    .await
}
