//! `api`: the HTTP API behind API Gateway. Wires configuration and clients, then serves.

use std::time::Duration;

use clavis_api::App;
use clavis_api::client_revocation::RevokeClientConfig;
use clavis_api::issuance::IssueConfig;
use clavis_api::oauth::OAuthConfig;
use clavis_api::replays::ReplayConfig;
use clavis_api::status::StatusConfig;
use clavis_aws::clients::OnFirstUse;
use clavis_aws::invoke::AsyncInvoker;
use clavis_aws::kms::Kms;
use clavis_aws::monitoring::StackMonitor;
use clavis_aws::sqs::QueueSender;
use clavis_aws::workflows::{Launcher, Workflows};
use clavis_lambda::config::required;
use clavis_lambda::governance::Governance;
use clavis_lambda::step::{Deps, RuntimeError, for_process};
use clavis_lambda::telemetry;
use lambda_http::{Request, RequestExt, service_fn};
use tracing::Instrument;

/// Default bound on how long a credential request waits for its workflow.
const DEFAULT_WAIT_MS: u64 = 5000;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let (mut deps, warm_up) = Deps::init_warming("api").await?;
    let issue = IssueConfig {
        state_machine_arn: required("ISSUE_STATE_MACHINE_ARN")?,
        wait: Duration::from_millis(
            std::env::var("ISSUE_WAIT_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_WAIT_MS),
        ),
        secrets_key_id: deps.settings.secrets_key_id.clone(),
        rotate_state_machine_arn: required("ROTATE_STATE_MACHINE_ARN")?,
        delivery_prefix: required("DELIVERY_SECRET_ARN_PREFIX")?,
    };
    let revoke_client = RevokeClientConfig {
        state_machine_arn: required("REVOKE_CLIENT_STATE_MACHINE_ARN")?,
    };
    let oauth = OAuthConfig {
        issuer: required("ISSUER_URL")?,
        signing_key_id: deps.settings.signing_key_id.clone(),
        published_key_ids: std::env::var("PUBLISHED_SIGNING_KEY_IDS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect(),
        token_ttl_seconds: std::env::var("ACCESS_TOKEN_TTL_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(clavis_core::token::DEFAULT_TOKEN_TTL_SECONDS),
        use_resolution: clavis_lambda::config::use_resolution(),
    };
    let launcher = Launcher::new(
        Workflows::new(clavis_aws::clients::sfn(&deps.sdk)),
        QueueSender::new(OnFirstUse::new(&deps.sdk, clavis_aws::clients::sqs)),
        deps.settings.intake_queue_url.clone(),
    )
    .with_cool_off(clavis_lambda::config::start_cool_off());
    deps.clock.lap("config");
    let governance = Governance::shipped(&deps.settings.stage, "api")?;
    deps.clock.lap("policies");
    let app = for_process(
        App::new(
            deps.repo.clone(),
            Kms::new(clavis_aws::clients::kms(&deps.sdk)),
            launcher,
            issue,
            revoke_client,
            oauth,
            governance,
        )
        .with_status(StatusConfig {
            monitor: StackMonitor::new(
                OnFirstUse::new(&deps.sdk, clavis_aws::clients::sqs),
                OnFirstUse::new(&deps.sdk, clavis_aws::clients::cloudwatch),
            ),
            stage: deps.settings.stage.clone(),
            queues: vec![
                ("events-dlq".into(), deps.settings.events_dlq_url.clone()),
                (
                    "workflow-dlq".into(),
                    deps.settings.workflow_dlq_url.clone(),
                ),
                ("intake".into(), deps.settings.intake_queue_url.clone()),
                ("intake-dlq".into(), required("INTAKE_DLQ_URL")?),
            ],
            alarm_prefix: format!("clavis-{}-", deps.settings.stage),
        })
        .with_replay(ReplayConfig {
            invoker: AsyncInvoker::new(OnFirstUse::new(&deps.sdk, clavis_aws::clients::lambda)),
            function: required("REPLAY_FUNCTION")?,
        }),
    );
    deps.clock.lap("app");
    warm_up.done(&mut deps.clock).await;
    deps.clock.log("init done");
    lambda_http::run(service_fn(move |req: Request| {
        let context = req.lambda_context_ref().cloned().unwrap_or_default();
        let span = telemetry::invocation_span(&context);
        async move {
            let response = app.handle(req).await;
            telemetry::finish();
            Ok::<_, std::convert::Infallible>(response)
        }
        .instrument(span)
    }))
    .await
}
