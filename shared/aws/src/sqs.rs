//! SQS: dead-letter and intake queues. A message carries the original input and the error
//! name, so replay knows what to restart and operators know why it stopped.

use aws_sdk_sqs::Client as SqsClient;
use aws_sdk_sqs::types::MessageAttributeValue;
use clavis_core::{Error, SystemFault};

use crate::clients::OnFirstUse;
use crate::fault;

/// Sends messages to queues.
#[derive(Debug, Clone)]
pub struct QueueSender {
    client: OnFirstUse<SqsClient>,
}

impl QueueSender {
    /// Wraps an SDK client, built on the first send (most processes send only after a fault).
    pub fn new(client: OnFirstUse<SqsClient>) -> Self {
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
            .get()
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

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Deletes or releases this receipt of the message.
    pub receipt_handle: String,
    /// The message body.
    pub body: String,
}

/// Drains queues: receive, then delete what was handled or release what was not.
#[derive(Debug, Clone)]
pub struct QueueDrain {
    client: SqsClient,
}

/// SQS hands out at most this many messages per receive.
pub const MAX_RECEIVE: i32 = 10;

impl QueueDrain {
    /// Wraps an SDK client.
    pub fn new(client: SqsClient) -> Self {
        Self { client }
    }

    /// Up to `max` (at most [`MAX_RECEIVE`]) visible messages, hidden from other receivers for
    /// `hide_seconds`; an empty answer means the queue has nothing visible now.
    pub async fn receive(
        &self,
        queue_url: &str,
        max: i32,
        hide_seconds: i32,
    ) -> Result<Vec<Received>, Error> {
        let out = self
            .client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(max.clamp(1, MAX_RECEIVE))
            .visibility_timeout(hide_seconds)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(|e| fault::from_sdk("sqs", &e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                Some(Received {
                    receipt_handle: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Deletes a handled message.
    pub async fn delete(&self, queue_url: &str, receipt_handle: &str) -> Result<(), Error> {
        self.client
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| fault::from_sdk("sqs", &e))?;
        Ok(())
    }

    /// Makes a message that could not be handled visible again at once.
    pub async fn release(&self, queue_url: &str, receipt_handle: &str) -> Result<(), Error> {
        self.client
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| fault::from_sdk("sqs", &e))?;
        Ok(())
    }
}
