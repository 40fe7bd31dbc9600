//! `activate-credential` Lambda: wiring only.

use clavis_activate_credential::activate_credential;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = for_process(Deps::init().await?);
    serve(deps, |deps, minted| {
        activate_credential(&deps.repo, minted, time::OffsetDateTime::now_utc())
    })
    .await
}
