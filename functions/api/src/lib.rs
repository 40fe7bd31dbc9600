//! The Clavis HTTP API (openapi.yaml): routing, operator authentication and the handlers.
//!
//! `main.rs` only wires; everything here is an ordinary library, tested without the runtime.

pub mod access_review;
pub mod app;
pub mod approvals;
pub mod audit_export;
pub mod auth;
pub mod client_revocation;
pub mod client_update;
mod decisions;
pub mod inventory;
pub mod issuance;
pub mod issuance_wait;
pub mod oauth;
mod query;
pub mod replays;
pub mod revocation;
pub mod rotation;
pub mod routes;
pub mod standing;
pub mod status;
pub mod views;

pub use app::App;
