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
        self.audit_page(client_id, after, u64::MAX, usize::MAX)
            .await
    }

    /// At most `limit` records of `client_id` with `after < seq <= through`, oldest first, read
    /// consistently: one page of an export that ends at a chain head read beforehand.
    pub async fn audit_page(
        &self,
        client_id: &ClientId,
        after: u64,
        through: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, Error> {
        let mut records = Vec::new();
        if through <= after || limit == 0 {
            return Ok(records);
        }
        let mut start = None;
        loop {
            let out = self
                .db
                .query()
                .table_name(&self.audit_table)
                .key_condition_expression("client_id = :c AND seq BETWEEN :first AND :last")
                .expression_attribute_values(":c", AttributeValue::S(client_id.to_string()))
                .expression_attribute_values(":first", AttributeValue::N((after + 1).to_string()))
                .expression_attribute_values(":last", AttributeValue::N(through.to_string()))
                .consistent_read(true)
                .limit(i32::try_from(limit - records.len()).unwrap_or(i32::MAX))
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
                Some(key) if !key.is_empty() && records.len() < limit => start = Some(key),
                _ => return Ok(records),
            }
        }
    }
}
