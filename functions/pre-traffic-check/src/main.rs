//! `pre-traffic-check`: CodeDeploy's pre-traffic hook for the api. Wiring only.
// The layouts of the SDK's deeply nested futures are first computed inside this `main`'s, past
// the default query depth (128) since init's warm-up read runs on its own task.
#![recursion_limit = "256"]

use clavis_aws::deploy::{FunctionInvoker, HookReporter};
use clavis_aws::workflows::Workflows;
use clavis_lambda::config::required;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};
use clavis_pre_traffic::{Deployed, HookEvent, hook};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init("pre-traffic-check").await?;
    let probe = Deployed {
        invoker: FunctionInvoker::new(clavis_aws::clients::lambda(&deps.sdk)),
        api_version: required("API_FUNCTION_VERSION")?,
        workflows: Workflows::new(clavis_aws::clients::sfn(&deps.sdk)),
        health_check_arn: required("HEALTH_CHECK_STATE_MACHINE_ARN")?,
    };
    let reporter = HookReporter::new(clavis_aws::clients::codedeploy(&deps.sdk));
    let state = for_process((probe, reporter));
    serve(state, |(probe, reporter), event: HookEvent| {
        hook(event, probe, reporter)
    })
    .await
}
