//! `clavis`, the operator CLI: drives a Clavis stack through its HTTP API only (never AWS
//! directly), with profiles, bearer tokens, tables or JSON, and secrets that go to new 0600
//! files, never to arguments, logs or errors.

pub mod api;
pub mod args;
pub mod commands;
pub mod declared;
pub mod error;
pub mod output;
pub mod profile;
pub mod secret_file;
pub mod token;
