//! `expiry-sweep` Lambda (EventBridge schedule): wiring only.

use clavis_aws::clients::OnFirstUse;
use clavis_aws::sqs::QueueSender;
use clavis_aws::workflows::{Launcher, Workflows};
use clavis_expiry_sweep::renewal::Renewer;
use clavis_expiry_sweep::sweep;
use clavis_lambda::config::required;
use clavis_lambda::step::{Deps, RuntimeError, for_process, serve};

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let deps = Deps::init("expiry-sweep").await?;
    let renewer = Renewer {
        launcher: Launcher::new(
            Workflows::new(clavis_aws::clients::sfn(&deps.sdk)),
            QueueSender::new(OnFirstUse::new(&deps.sdk, clavis_aws::clients::sqs)),
            deps.settings.intake_queue_url.clone(),
        )
        .with_cool_off(clavis_lambda::config::start_cool_off()),
        rotate_state_machine_arn: required("ROTATE_STATE_MACHINE_ARN")?,
    };
    let sweeper = for_process((deps, renewer));
    serve(sweeper, |sweeper, input| {
        let (deps, renewer) = sweeper;
        sweep(&deps.repo, renewer, input, time::OffsetDateTime::now_utc())
    })
    .await
}
