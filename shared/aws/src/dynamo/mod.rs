//! The DynamoDB repository: one single table for state, one append-only audit table.
//!
//! Every state change commits in one `TransactWriteItems` together with its audit record and the
//! client's chain head ([`audited`]), so there is no change without its record. Items carry a
//! `version` attribute for optimistic concurrency.

pub mod access_review;
pub mod approvals;
pub mod audited;
pub mod client_revocation;
pub mod client_update;
pub mod clients;
pub mod credentials;
pub mod cursor;
pub mod expiry;
pub mod inventory;
pub mod issuance;
pub mod items;
pub mod keys;
pub mod outbox;
pub mod policy;
pub mod published_jwks;
pub mod rates;
pub mod renewal;
pub mod replay_runs;
pub mod request_replay;
pub mod revocation_snapshot;
pub mod revocations;
pub mod rotation;
mod sharded;
pub mod standing;
pub mod together;
pub mod trail;
pub mod unsettled;
pub mod usage;

use aws_sdk_dynamodb::Client as DynamoDb;

/// DynamoDB access for Clavis: the state table and the audit table.
#[derive(Debug, Clone)]
pub struct Repository {
    pub(crate) db: DynamoDb,
    pub(crate) table: String,
    pub(crate) audit_table: String,
    /// The policy set deciding in this process: written into every audit record it commits.
    pub(crate) policy_version: Option<String>,
}

impl Repository {
    /// A repository over `table` and `audit_table`.
    pub fn new(db: DynamoDb, table: impl Into<String>, audit_table: impl Into<String>) -> Self {
        Self {
            db,
            table: table.into(),
            audit_table: audit_table.into(),
            policy_version: None,
        }
    }

    /// The same repository, recording `version` as the `policy_version` of every audit record
    /// it commits (unless the record names one itself): a process that decides by policy
    /// leaves the version that decided in each record of what it did.
    pub fn with_policy_version(mut self, version: impl Into<String>) -> Self {
        self.policy_version = Some(version.into());
        self
    }

    /// The policy version recorded with this repository's audit records, if any.
    pub fn policy_version(&self) -> Option<&str> {
        self.policy_version.as_deref()
    }

    /// The state table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The audit table's name.
    pub fn audit_table(&self) -> &str {
        &self.audit_table
    }

    /// The underlying client, for adapters that add their own item kinds.
    pub fn dynamodb(&self) -> &DynamoDb {
        &self.db
    }
}

/// A stored value with its optimistic-concurrency version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Incremented by every committed change; a write names the version it read.
    pub version: u64,
}

impl Repository {
    /// The item under `key` decoded as `T` with its version; `None` if absent.
    pub(crate) async fn get_versioned<T: serde::de::DeserializeOwned>(
        &self,
        key: (String, String),
        entity: &str,
        consistent: bool,
    ) -> Result<Option<Versioned<T>>, clavis_core::Error> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(items::key(key)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| crate::fault::from_sdk("dynamodb", &e))?;
        match out.item {
            Some(item) => {
                let (value, version) = items::from_item(item, entity)?;
                Ok(Some(Versioned { value, version }))
            }
            None => Ok(None),
        }
    }

    /// One cheap read during init, so the first real request does not pay the connection
    /// (and, in AWS, the TLS handshake). Failures are only logged: the request path reports them.
    pub async fn warm_up(&self) {
        let result = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::bootstrap_marker())))
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "warm-up read failed");
        }
    }
}
