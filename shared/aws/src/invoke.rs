//! Starting a function without waiting for it (Lambda `Invoke`, `InvocationType=Event`): the
//! api starts an on-demand replay run this way, and the run reports through its record.

use aws_sdk_lambda::Client as LambdaClient;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use clavis_core::SystemFault;
use serde::Serialize;

use crate::clients::OnFirstUse;
use crate::fault;

/// Starts functions asynchronously.
#[derive(Debug, Clone)]
pub struct AsyncInvoker {
    lambda: OnFirstUse<LambdaClient>,
}

impl AsyncInvoker {
    /// An invoker over this client (built on the first start).
    pub fn new(lambda: OnFirstUse<LambdaClient>) -> Self {
        Self { lambda }
    }

    /// Queues one invocation of `function` (a name or ARN, with its alias) with `payload`.
    pub async fn start(&self, function: &str, payload: &impl Serialize) -> Result<(), SystemFault> {
        let body = serde_json::to_vec(payload)
            .map_err(|e| SystemFault::Internal(format!("cannot encode a payload: {e}")))?;
        self.lambda
            .get()
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(body))
            .send()
            .await
            .map_err(|e| fault::from_sdk("lambda", &e))?;
        Ok(())
    }
}
