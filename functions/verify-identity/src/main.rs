//! `verify-identity` Lambda: wiring only.

use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};
use clavis_verify_identity::verify_identity;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = for_process(Deps::init().await?);
    serve(deps, |deps, input| {
        verify_identity(&deps.repo, input, time::OffsetDateTime::now_utc())
    })
    .await
}
