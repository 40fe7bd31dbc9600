//! clavis-policy: policy as code. The Cedar schema and policies of `infra/policies/` are
//! compiled into every function that decides; their hash is the `policy_version` recorded with
//! each decision. Decisions are made over domain types ([`Operator`], [`Action`]), so a caller
//! cannot ask Cedar a question the schema does not describe. No AWS, no I/O.

pub mod engine;
pub mod files;
pub mod model;

pub use engine::{Decision, PolicyEngine, PolicyError, RiskOutcome};
pub use files::PolicyFile;
pub use model::{Action, Operator, Sponsors};
