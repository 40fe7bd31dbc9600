//! Step Functions: starting executions by name (the name is the idempotency key: a second start
//! under the same name never runs the workflow twice), and resuming a task that waits for a
//! token (an approval).

use aws_sdk_sfn::Client as SfnClient;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use clavis_core::Error;
use clavis_core::circuit::CircuitBreaker;

use crate::fault;

/// Whether a start created the execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// This call started it.
    Started,
    /// An execution of that name exists already (running, or finished).
    AlreadyExists,
}

/// What resuming a waiting task did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// The task took the outcome.
    Resumed,
    /// The task no longer waits (it timed out, or took an outcome before).
    Gone,
}

/// Where an execution stands (for the reaper).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionState {
    /// Still running (or waiting for an approver).
    Running,
    /// Ended with this status (`SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`).
    Ended(String),
    /// Never started.
    Missing,
}

/// The ARN of execution `name` of `state_machine_arn`.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

/// Starts executions of state machines.
#[derive(Debug, Clone)]
pub struct Workflows {
    client: SfnClient,
}

impl Workflows {
    /// Wraps an SDK client.
    pub fn new(client: SfnClient) -> Self {
        Self { client }
    }

    /// Starts `state_machine_arn` as execution `name` with `input` (JSON of ids only).
    pub async fn start(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> Result<Start, Error> {
        let result = self
            .client
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Start::Started),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(StartExecutionError::ExecutionAlreadyExists(_))
                ) =>
            {
                Ok(Start::AlreadyExists)
            }
            Err(e) => Err(fault::from_sdk("stepfunctions", &e).into()),
        }
    }

    /// Where execution `name` of `state_machine_arn` stands.
    pub async fn state_of(
        &self,
        state_machine_arn: &str,
        name: &str,
    ) -> Result<ExecutionState, Error> {
        let result = self
            .client
            .describe_execution()
            .execution_arn(execution_arn(state_machine_arn, name))
            .send()
            .await;
        match result {
            Ok(out) => Ok(match out.status().as_str() {
                "RUNNING" | "PENDING_REDRIVE" => ExecutionState::Running,
                other => ExecutionState::Ended(other.to_owned()),
            }),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(DescribeExecutionError::ExecutionDoesNotExist(_))
                ) =>
            {
                Ok(ExecutionState::Missing)
            }
            Err(e) => Err(fault::from_sdk("stepfunctions", &e).into()),
        }
    }

    /// Resumes the task waiting on `token` with `output` (JSON).
    pub async fn succeed_task(&self, token: &str, output: &str) -> Result<Resumed, Error> {
        let result = self
            .client
            .send_task_success()
            .task_token(token)
            .output(output)
            .send()
            .await;
        resumed(result)
    }

    /// Fails the task waiting on `token` with the error name `error` and `cause`.
    pub async fn fail_task(&self, token: &str, error: &str, cause: &str) -> Result<Resumed, Error> {
        let result = self
            .client
            .send_task_failure()
            .task_token(token)
            .error(error)
            .cause(cause)
            .send()
            .await;
        resumed(result)
    }
}

#[cfg(test)]
mod arn_tests {
    #[test]
    fn an_execution_arn_is_its_state_machine_s_with_its_name() {
        assert_eq!(
            super::execution_arn(
                "arn:aws:states:eu-west-1:123456789012:stateMachine:clavis-dev-issue",
                "req_X-r1"
            ),
            "arn:aws:states:eu-west-1:123456789012:execution:clavis-dev-issue:req_X-r1"
        );
    }
}

/// A task that no longer waits is not a fault: the caller's outcome is already recorded.
fn resumed<O, E, R>(result: Result<O, aws_sdk_sfn::error::SdkError<E, R>>) -> Result<Resumed, Error>
where
    E: aws_sdk_sfn::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(Resumed::Resumed),
        Err(e)
            if matches!(
                e.as_service_error().and_then(|s| s.code()),
                Some("TaskDoesNotExist" | "TaskTimedOut" | "InvalidToken")
            ) =>
        {
            Ok(Resumed::Gone)
        }
        Err(e) => Err(fault::from_sdk("stepfunctions", &e).into()),
    }
}

/// What a launch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launched {
    /// Started now.
    Started,
    /// An execution of that name existed already.
    AlreadyExists,
    /// Step Functions refused with a fault; the start waits on the intake queue for replay.
    Queued,
}

/// Consecutive Step Functions faults after which a launcher stops calling it for a while.
pub const START_FAILURE_THRESHOLD: u32 = 3;
/// How long a launcher goes straight to the intake queue once its circuit opened (default).
pub const DEFAULT_START_COOL_OFF_SECONDS: i64 = 30;

/// Starts workflows, falling back to the intake queue when Step Functions is unavailable, so
/// an accepted request is never lost to an outage: replay starts it later under the same name.
/// After repeated faults its circuit opens: for a cool-off it queues at once, without making
/// callers wait for a call that would fail; then one start probes.
#[derive(Debug, Clone)]
pub struct Launcher {
    workflows: Workflows,
    queue: crate::sqs::QueueSender,
    intake_queue_url: String,
    circuit: std::sync::Arc<std::sync::Mutex<CircuitBreaker>>,
}

impl Launcher {
    /// A launcher queueing onto `intake_queue_url`.
    pub fn new(
        workflows: Workflows,
        queue: crate::sqs::QueueSender,
        intake_queue_url: impl Into<String>,
    ) -> Self {
        Self {
            workflows,
            queue,
            intake_queue_url: intake_queue_url.into(),
            circuit: std::sync::Arc::new(std::sync::Mutex::new(CircuitBreaker::new(
                START_FAILURE_THRESHOLD,
                time::Duration::seconds(DEFAULT_START_COOL_OFF_SECONDS),
            ))),
        }
    }

    /// The same launcher with its circuit cooling off for `cool_off` once open.
    pub fn with_cool_off(mut self, cool_off: time::Duration) -> Self {
        self.circuit = std::sync::Arc::new(std::sync::Mutex::new(CircuitBreaker::new(
            START_FAILURE_THRESHOLD,
            cool_off,
        )));
        self
    }

    fn circuit(&self) -> std::sync::MutexGuard<'_, CircuitBreaker> {
        // A poisoned lock only means a panic elsewhere mid-update: the state is still usable.
        self.circuit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The Step Functions adapter behind it (for resuming waiting tasks).
    pub fn workflows(&self) -> &Workflows {
        &self.workflows
    }

    /// Starts `workflow` for an issuance or rotation request on `state_machine_arn`, named
    /// after the request (so a repeated start runs nothing), or queues the start.
    pub async fn launch_request(
        &self,
        state_machine_arn: &str,
        workflow: clavis_core::workflow::WorkflowKind,
        request: &clavis_core::workflow::RequestRef,
    ) -> Result<Launched, Error> {
        let input = serde_json::to_value(request)
            .map_err(|e| clavis_core::SystemFault::Internal(format!("cannot encode input: {e}")))?;
        let launch = clavis_core::workflow::Launch {
            workflow,
            name: request.request_id.to_string(),
            input,
        };
        self.launch(state_machine_arn, &launch).await
    }

    /// Starts `launch` on `state_machine_arn`, or queues it if Step Functions fails with a
    /// fault. Only when the queue fails too is the original fault answered.
    pub async fn launch(
        &self,
        state_machine_arn: &str,
        launch: &clavis_core::workflow::Launch,
    ) -> Result<Launched, Error> {
        let input = launch.input.to_string();
        let now = time::OffsetDateTime::now_utc();
        if !self.circuit().allows(now) {
            let fault = clavis_core::SystemFault::Unavailable {
                service: "stepfunctions",
                detail: "circuit open after repeated faults".into(),
            };
            return self.queue_start(launch, fault).await;
        }
        match self
            .workflows
            .start(state_machine_arn, &launch.name, &input)
            .await
        {
            Ok(Start::Started) => {
                self.circuit().succeeded();
                Ok(Launched::Started)
            }
            Ok(Start::AlreadyExists) => {
                self.circuit().succeeded();
                Ok(Launched::AlreadyExists)
            }
            Err(Error::Fault(fault)) => {
                if self.circuit().failed(now) {
                    tracing::warn!(error = %fault, "step functions circuit open: starts go to the intake queue for a while");
                }
                self.queue_start(launch, fault).await
            }
            Err(e) => Err(e),
        }
    }

    /// Puts `launch` on the intake queue for replay; only when that fails too is `fault`
    /// answered.
    async fn queue_start(
        &self,
        launch: &clavis_core::workflow::Launch,
        fault: clavis_core::SystemFault,
    ) -> Result<Launched, Error> {
        let body = serde_json::to_string(launch).map_err(|e| {
            clavis_core::SystemFault::Internal(format!("cannot encode launch: {e}"))
        })?;
        let error_type = Error::Fault(fault.clone()).step_functions_name();
        match self
            .queue
            .send(&self.intake_queue_url, &body, Some(&error_type))
            .await
        {
            Ok(_) => {
                tracing::warn!(execution = %launch.name, error = %fault, "step functions unavailable; start queued on the intake queue");
                Ok(Launched::Queued)
            }
            Err(queue_error) => {
                tracing::error!(execution = %launch.name, error = %fault, queue_error = %queue_error, "start neither made nor queued");
                Err(Error::Fault(fault))
            }
        }
    }
}
