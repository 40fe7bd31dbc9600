//! Credential use: when a credential last authenticated, written at most once per
//! [`Credential::use_interval`] (the caller decides from the credential it already read, so a
//! token costs no write), conditionally (concurrent callers write once), without an audit
//! record or a version change: use is an observation, not a change of state.

use aws_sdk_dynamodb::types::AttributeValue;
use clavis_core::Error;
use clavis_core::credential::Credential;
use time::{Duration, OffsetDateTime};

use super::Repository;
use super::items;
use super::keys;
use crate::fault;

impl Repository {
    /// Records a use of `credential` at `at` if one is due; whether this call wrote it.
    pub async fn record_use(
        &self,
        credential: &Credential,
        at: OffsetDateTime,
        resolution: Duration,
    ) -> Result<bool, Error> {
        if !credential.use_to_record(at, resolution) {
            return Ok(false);
        }
        let since = at - credential.use_interval(resolution);
        let result = self
            .db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::credential(
                &credential.credential_id,
            ))))
            .update_expression("SET last_used_at = :at")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(last_used_at) \
                 OR attribute_type(last_used_at, :null) OR last_used_at < :since)",
            )
            .expression_attribute_values(":at", AttributeValue::S(items::timestamp(at)?))
            .expression_attribute_values(":since", AttributeValue::S(items::timestamp(since)?))
            .expression_attribute_values(":null", AttributeValue::S("NULL".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => {
                // Another caller wrote it first (or the credential is gone): nothing to do.
                fault::unless_condition_failed(Err::<(), _>(e))?;
                Ok(false)
            }
        }
    }
}
