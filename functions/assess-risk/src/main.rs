//! `assess-risk` Lambda: wiring only.

use clavis_assess_risk::assess_risk;
use clavis_lambda::governance::Governance;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init("assess-risk").await?;
    let governance = Governance::shipped(&deps.settings.stage, "assess-risk")?;
    let state = for_process((deps, governance));
    serve(state, |(deps, governance), grant| {
        assess_risk(
            &deps.repo,
            governance,
            grant,
            time::OffsetDateTime::now_utc(),
        )
    })
    .await
}
