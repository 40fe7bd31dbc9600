//! `finish-client-revocation` Lambda: wiring only.

use clavis_finish_client_revocation::finish;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = for_process(Deps::init("finish-client-revocation").await?);
    serve(deps, |deps, client| {
        finish(&deps.repo, client, time::OffsetDateTime::now_utc())
    })
    .await
}
