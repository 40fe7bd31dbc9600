//! Deploy-time adapters for the pre-traffic hook: invoking one published version of a function
//! (the one CodeDeploy is about to shift traffic to), and answering CodeDeploy's lifecycle hook.

use aws_sdk_codedeploy::types::LifecycleEventStatus;
use aws_sdk_lambda::primitives::Blob;
use clavis_core::{Error, SystemFault};

use crate::fault;

/// What one invocation answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoked {
    /// `FunctionError` (`Unhandled`, …) when the function failed.
    pub function_error: Option<String>,
    /// The function's answer, as JSON (`null` when it was not JSON).
    pub payload: serde_json::Value,
}

/// Invokes functions (and their published versions) synchronously.
#[derive(Debug, Clone)]
pub struct FunctionInvoker {
    client: aws_sdk_lambda::Client,
}

impl FunctionInvoker {
    /// Wraps an SDK client.
    pub fn new(client: aws_sdk_lambda::Client) -> Self {
        Self { client }
    }

    /// Invokes `function` (a name or ARN, qualified by version or alias) with `payload`.
    pub async fn invoke(
        &self,
        function: &str,
        payload: &serde_json::Value,
    ) -> Result<Invoked, Error> {
        let body = serde_json::to_vec(payload)
            .map_err(|e| SystemFault::Internal(format!("cannot encode an invocation: {e}")))?;
        let out = self
            .client
            .invoke()
            .function_name(function)
            .payload(Blob::new(body))
            .send()
            .await
            .map_err(|e| fault::from_sdk("lambda", &e))?;
        let payload = out
            .payload()
            .and_then(|b| serde_json::from_slice(b.as_ref()).ok())
            .unwrap_or(serde_json::Value::Null);
        Ok(Invoked {
            function_error: out.function_error().map(str::to_owned),
            payload,
        })
    }
}

/// Answers CodeDeploy's lifecycle hooks.
#[derive(Debug, Clone)]
pub struct HookReporter {
    client: aws_sdk_codedeploy::Client,
}

impl HookReporter {
    /// Wraps an SDK client.
    pub fn new(client: aws_sdk_codedeploy::Client) -> Self {
        Self { client }
    }

    /// Tells deployment `deployment_id` that hook execution `hook_execution_id` passed or
    /// failed (a failure makes CodeDeploy roll the alias back without shifting traffic).
    pub async fn report(
        &self,
        deployment_id: &str,
        hook_execution_id: &str,
        passed: bool,
    ) -> Result<(), Error> {
        let status = if passed {
            LifecycleEventStatus::Succeeded
        } else {
            LifecycleEventStatus::Failed
        };
        self.client
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(deployment_id)
            .lifecycle_event_hook_execution_id(hook_execution_id)
            .status(status)
            .send()
            .await
            .map_err(|e| fault::from_sdk("codedeploy", &e))?;
        Ok(())
    }
}
