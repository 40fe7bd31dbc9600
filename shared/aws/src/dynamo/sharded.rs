//! Reading a sparse index whose partition key is spread over shards (`<PREFIX>#0`…): each
//! shard from its oldest item up to a bound on the sort key, until a limit.

use aws_sdk_dynamodb::types::AttributeValue;
use clavis_core::{Error, SystemFault};
use serde::de::DeserializeOwned;

use super::Repository;
use crate::fault;

/// Which sharded index to read, and how far.
pub(crate) struct ShardedScan<'a> {
    /// The index.
    pub index: &'a str,
    /// Its partition key attribute (holding `<prefix>#<n>`).
    pub shard_attribute: &'a str,
    /// The shard values' prefix.
    pub prefix: &'a str,
    /// How many shards.
    pub shards: u32,
    /// Its sort key attribute.
    pub sort_attribute: &'a str,
    /// Only items whose sort key is below this.
    pub before: String,
}

impl Repository {
    /// Up to `limit` items of `scan`, oldest first within each shard, and at most an equal
    /// share of `limit` from each shard: a shard full of items nobody can act on yet (requests
    /// waiting for approvers) never starves the others.
    pub(crate) async fn read_shards<T: DeserializeOwned>(
        &self,
        scan: &ShardedScan<'_>,
        limit: usize,
    ) -> Result<Vec<T>, Error> {
        let per_shard = limit.div_ceil(usize::try_from(scan.shards.max(1)).unwrap_or(1));
        let mut found = Vec::new();
        for shard in 0..scan.shards {
            let mut start = None;
            let shard_limit = (found.len() + per_shard).min(limit);
            loop {
                if found.len() >= shard_limit {
                    break;
                }
                let page = self
                    .db
                    .query()
                    .table_name(&self.table)
                    .index_name(scan.index)
                    .key_condition_expression("#shard = :shard AND #sort < :before")
                    .expression_attribute_names("#shard", scan.shard_attribute)
                    .expression_attribute_names("#sort", scan.sort_attribute)
                    .expression_attribute_values(
                        ":shard",
                        AttributeValue::S(format!("{}#{shard}", scan.prefix)),
                    )
                    .expression_attribute_values(":before", AttributeValue::S(scan.before.clone()))
                    .limit(i32::try_from(shard_limit - found.len()).unwrap_or(i32::MAX))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| fault::from_sdk("dynamodb", &e))?;
                for item in page.items.unwrap_or_default() {
                    found.push(serde_dynamo::from_item(item).map_err(|e| {
                        SystemFault::Internal(format!("corrupt {} item: {e}", scan.index))
                    })?);
                }
                match page.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => break,
                }
            }
        }
        Ok(found)
    }
}
