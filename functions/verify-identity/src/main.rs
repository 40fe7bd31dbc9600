//! `verify-identity` Lambda: wiring only.

use clavis_lambda::governance::Governance;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};
use clavis_verify_identity::verify_identity;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init("verify-identity").await?;
    let governance = Governance::shipped(&deps.settings.stage, "verify-identity")?;
    let state = for_process((deps, governance));
    serve(state, |(deps, governance), input| {
        verify_identity(
            &deps.repo,
            governance,
            input,
            time::OffsetDateTime::now_utc(),
        )
    })
    .await
}
