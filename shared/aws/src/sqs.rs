//! SQS: dead-letter and intake queues. A message carries the original input and the error
//! name, so replay knows what to restart and operators know why it stopped.

use aws_sdk_sqs::Client as SqsClient;
use aws_sdk_sqs::types::MessageAttributeValue;
use clavis_core::{Error, SystemFault};

use crate::fault;

/// Sends messages to queues.
#[derive(Debug, Clone)]
pub struct QueueSender {
    client: SqsClient,
}

impl QueueSender {
    /// Wraps an SDK client.
    pub fn new(client: SqsClient) -> Self {
        Self { client }
    }

    /// Sends `body` with an `error_type` attribute (the Clavis error name, if any). Returns the
    /// message id.
    pub async fn send(
        &self,
        queue_url: &str,
        body: &str,
        error_type: Option<&str>,
    ) -> Result<String, Error> {
        let mut req = self
            .client
            .send_message()
            .queue_url(queue_url)
            .message_body(body);
        if let Some(kind) = error_type {
            let attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(kind)
                .build()
                .map_err(|e| SystemFault::Internal(format!("bad SQS attribute: {e}")))?;
            req = req.message_attributes("error_type", attr);
        }
        let out = req.send().await.map_err(|e| fault::from_sdk("sqs", &e))?;
        Ok(out.message_id.unwrap_or_default())
    }
}
