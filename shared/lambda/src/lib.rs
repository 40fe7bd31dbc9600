//! clavis-lambda: what every Clavis function shares at runtime.
//!
//! Settings from the environment ([`config`]), JSON logs tied to the invocation
//! ([`telemetry`]), EMF metrics ([`metrics`]), the mapping of core errors to RFC 9457 problem
//! responses ([`problem`]) and to Lambda/Step Functions error names ([`diagnostic`]), strict
//! JSON request bodies ([`body`]), policy decisions with their version in force
//! ([`governance`]), and the recording of workflow failures ([`failure`]).

pub mod body;
pub mod config;
pub mod diagnostic;
pub mod failure;
pub mod governance;
pub mod init_clock;
pub mod metrics;
pub mod problem;
pub mod step;
pub mod telemetry;

pub use diagnostic::FunctionError;
