//! `hello-lambda`: the baseline of `bench/cold-start.py` — the same runtime crate, profile and
//! allocator as Clavis's functions, and nothing at init, so what the api adds to a cold start
//! is what it does at init.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}
