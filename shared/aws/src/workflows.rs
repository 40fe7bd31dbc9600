//! Step Functions: starting executions by name. The name is the idempotency key: a second start
//! under the same name never runs the workflow twice.

use aws_sdk_sfn::Client as SfnClient;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use clavis_core::Error;

use crate::fault;

/// Whether a start created the execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// This call started it.
    Started,
    /// An execution of that name exists already (running, or finished).
    AlreadyExists,
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
}
