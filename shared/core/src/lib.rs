//! clavis-core: the pure domain of Clavis. No AWS, no I/O.
//!
//! Ids, clients, credentials and their lifecycle state machine, the secret format, the audit
//! hash chain and the error taxonomy. Everything here is deterministic given its inputs (time and
//! randomness are passed in or drawn from the OS explicitly), so it is tested exhaustively.

pub mod access_review;
pub mod approval;
pub mod audit;
pub mod circuit;
pub mod client;
pub mod client_update;
pub mod credential;
pub mod delivery;
pub mod error;
pub mod events;
pub mod expiry;
pub mod ids;
pub mod issuance;
pub mod jwk;
pub mod lifecycle;
pub mod replay;
pub mod request;
pub mod revocation;
pub mod risk;
pub mod rotation;
pub mod scopes;
pub mod secret;
pub mod status;
pub mod token;
pub mod workflow;

pub use error::{Error, FieldViolation, Result, SystemFault, UserError};
