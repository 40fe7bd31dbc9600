//! clavis-aws: the adapters that give clavis-core's domain a home in AWS.
//!
//! One SDK configuration per process ([`config`]), a DynamoDB repository with conditional,
//! audited transactions ([`dynamo`]), KMS encryption and ES256 signing ([`kms`]), an EventBridge
//! publisher ([`events`]) and an SQS dead-letter sender ([`sqs`]). Every SDK error becomes a core
//! [`clavis_core::Error`] through [`fault`]: conflicts are user errors, everything else a fault.

pub mod backoff;
pub mod calls;
pub mod clients;
pub mod config;
#[cfg(feature = "deploy")]
pub mod deploy;
pub mod dynamo;
pub mod events;
pub mod fault;
pub mod http;
#[cfg(feature = "invoke")]
pub mod invoke;
pub mod kms;
#[cfg(feature = "monitoring")]
pub mod monitoring;
pub mod sqs;
pub mod vault;
pub mod workflows;
