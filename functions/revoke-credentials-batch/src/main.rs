//! `revoke-credentials-batch` Lambda: wiring only.

use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};
use clavis_revoke_credentials_batch::revoke_batch;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = for_process(Deps::init("revoke-credentials-batch").await?);
    serve(deps, |deps, client| {
        revoke_batch(&deps.repo, client, time::OffsetDateTime::now_utc())
    })
    .await
}
