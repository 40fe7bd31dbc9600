//! Reading a client's audit trail, oldest first.

use aws_sdk_dynamodb::types::AttributeValue;
use clavis_core::audit::AuditRecord;
use clavis_core::ids::ClientId;
use clavis_core::{Error, SystemFault};

use super::Repository;
use crate::fault;

impl Repository {
    /// Every audit record of `client_id` with `seq > after`, oldest first, read consistently.
    pub async fn audit_trail(
        &self,
        client_id: &ClientId,
        after: u64,
    ) -> Result<Vec<AuditRecord>, Error> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .db
                .query()
                .table_name(&self.audit_table)
                .key_condition_expression("client_id = :c AND seq > :after")
                .expression_attribute_values(":c", AttributeValue::S(client_id.to_string()))
                .expression_attribute_values(":after", AttributeValue::N(after.to_string()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| fault::from_sdk("dynamodb", &e))?;
            for item in out.items.unwrap_or_default() {
                records.push(serde_dynamo::from_item(item).map_err(|e| {
                    SystemFault::Internal(format!("corrupt audit record of {client_id}: {e}"))
                })?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(records),
            }
        }
    }
}
