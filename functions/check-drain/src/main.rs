//! `check-drain` Lambda: wiring only.

use clavis_check_drain::check_drain;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = for_process(Deps::init("check-drain").await?);
    let resolution = clavis_lambda::config::use_resolution();
    serve(deps, move |deps, input| {
        check_drain(
            &deps.repo,
            input,
            time::OffsetDateTime::now_utc(),
            resolution,
        )
    })
    .await
}
