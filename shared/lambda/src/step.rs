//! Running a Step Functions task: init once, then each event through a typed handler.
//!
//! The input is decoded here, not by the runtime, so a malformed task input is a
//! `Clavis.User.invalid-request` that the state machine does not retry, and every failure of
//! the handler reaches Step Functions under its Clavis error name.

use std::future::Future;
use std::time::Instant;

use aws_config::SdkConfig;
use clavis_aws::dynamo::Repository;
use clavis_core::{Error, FieldViolation, UserError};
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

pub use lambda_runtime::Error as RuntimeError;

use crate::FunctionError;
use crate::config::Settings;
use crate::init_clock::InitClock;
use crate::metrics::Outcome;

/// What every Clavis function builds once per container.
#[derive(Debug, Clone)]
pub struct Deps {
    /// Resource names from the environment.
    pub settings: Settings,
    /// The SDK configuration (for clients beyond the repository).
    pub sdk: SdkConfig,
    /// The table repository.
    pub repo: Repository,
    /// Where init went so far (logged as `deps ready`); a function that builds more at init
    /// laps on and logs it whole when it is ready.
    pub clock: InitClock,
}

impl Deps {
    /// Logs and metrics for the function `stage` (its directory under `functions/`),
    /// settings, SDK configuration, repository, and one warm-up read.
    pub async fn init(stage: &'static str) -> Result<Self, RuntimeError> {
        let (mut deps, warm_up) = Self::init_warming(stage).await?;
        warm_up.done(&mut deps.clock).await;
        deps.clock.log("deps ready");
        Ok(deps)
    }

    /// As [`Deps::init`], but the warm-up read is still in flight: a function that builds more
    /// at init does so while the first connection opens, then waits for [`WarmUp::done`]
    /// before it serves.
    pub async fn init_warming(stage: &'static str) -> Result<(Self, WarmUp), RuntimeError> {
        let mut clock = InitClock::start();
        crate::telemetry::init(stage);
        clock.lap("telemetry");
        let settings = Settings::from_env()?;
        clock.lap("settings");
        let sdk = clavis_aws::config::load().await;
        clock.lap("sdk_config");
        let repo = Repository::new(
            clavis_aws::clients::dynamodb(&sdk),
            settings.table_name.clone(),
            settings.audit_table_name.clone(),
        );
        clock.lap("dynamodb_client");
        let warm_up = WarmUp::start(&repo);
        Ok((
            Self {
                settings,
                sdk,
                repo,
                clock,
            },
            warm_up,
        ))
    }

    /// A publisher onto this stage's event bus.
    pub fn event_publisher(&self) -> clavis_aws::events::EventPublisher {
        clavis_aws::events::EventPublisher::new(
            clavis_aws::clients::eventbridge(&self.sdk),
            self.settings.event_bus_name.clone(),
        )
    }
}

/// The warm-up read of init, in flight: it opens the first connection to DynamoDB (in AWS, the
/// TLS handshake) so the first invocation does not pay for it.
#[must_use = "init is done only once its warm-up read is"]
#[derive(Debug)]
pub struct WarmUp(tokio::task::JoinHandle<()>);

impl WarmUp {
    /// Starts the read on its own task.
    fn start(repo: &Repository) -> Self {
        let repo = repo.clone();
        Self(tokio::spawn(async move { repo.warm_up().await }))
    }

    /// Waits for the read to finish (it only logs a failure), forgets init's AWS calls (they are
    /// not the first invocation's) and laps `warm_up`: the time init still had to wait.
    pub async fn done(self, clock: &mut InitClock) {
        if let Err(error) = self.0.await {
            tracing::warn!(%error, "warm-up read did not finish");
        }
        clavis_aws::calls::drain();
        clock.lap("warm_up");
    }
}

/// Keeps `state` for the rest of the process: what a function builds at init is never dropped,
/// and handlers may borrow it from futures they return.
pub fn for_process<S>(state: S) -> &'static S {
    Box::leak(Box::new(state))
}

/// An optional bound of a task input (`max_…`): `default` when absent, else it must be 1 to
/// `max`; otherwise an invalid-input error naming `field`.
pub fn bounded<T>(field: &str, asked: Option<T>, default: T, max: T) -> Result<T, UserError>
where
    T: Copy + PartialOrd + From<u8> + std::fmt::Display,
{
    match asked {
        None => Ok(default),
        Some(n) if n >= T::from(1) && n <= max => Ok(n),
        Some(_) => Err(UserError::Invalid(vec![FieldViolation::new(
            field,
            format!("must be 1 to {max}"),
        )])),
    }
}

/// Decodes a task input, naming the offending field.
pub fn decode<I: DeserializeOwned>(input: serde_json::Value) -> Result<I, UserError> {
    serde_path_to_error::deserialize(input).map_err(|e| {
        let path = e.path().to_string();
        UserError::Invalid(vec![FieldViolation::new(
            if path == "." {
                "input".to_owned()
            } else {
                path
            },
            e.into_inner().to_string(),
        )])
    })
}

/// Serves `handler` as this function's task until the runtime stops. `state` lives as long as
/// the process (built once at init, see [`for_process`]).
pub async fn serve<S, I, O, F, Fut>(state: &'static S, handler: F) -> Result<(), RuntimeError>
where
    S: Sync,
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(&'static S, I) -> Fut,
    Fut: Future<Output = Result<O, Error>>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let span = crate::telemetry::invocation_span(&event.context);
        async move {
            let started = Instant::now();
            let input = decode::<I>(event.payload);
            let result = match input {
                Ok(input) => handler(state, input).await,
                Err(e) => Err(Error::from(e)),
            };
            let outcome = match &result {
                Ok(_) => Outcome::Ok,
                Err(Error::User(_)) => Outcome::Refused,
                Err(_) => Outcome::Fault,
            };
            crate::metrics::step_invoked(crate::telemetry::stage(), outcome, started.elapsed());
            tracing::info!(
                ok = result.is_ok(),
                outcome = outcome.as_str(),
                aws_calls = %crate::telemetry::aws_calls(),
                "invocation"
            );
            crate::telemetry::finish();
            result.map_err(FunctionError::from)
        }
        .instrument(span)
    }))
    .await
}
