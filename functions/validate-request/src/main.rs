//! `validate-request` Lambda: wiring only.

use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};
use clavis_validate_request::validate_request;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = for_process(Deps::init("validate-request").await?);
    serve(deps, |deps, input| validate_request(&deps.repo, input)).await
}
