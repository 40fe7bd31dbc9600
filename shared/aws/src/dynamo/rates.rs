//! Per-client issuance counters, one item per client and minute: incremented in the same
//! transaction that stores a new request (a repeated request counts once), read back by one
//! `Query` of the client's last hour, never a Scan. They expire after a day (TTL).

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use clavis_core::ids::ClientId;
use clavis_core::risk::{BASELINE_WINDOWS, IssuanceRate, RATE_WINDOW_MINUTES};
use clavis_core::{Error, SystemFault, UserError};
use time::{Duration, OffsetDateTime};

use super::Repository;
use super::audited::{ConditionalWrite, build_fault};
use super::items;
use super::keys;
use crate::fault;

/// How long a counter is kept.
const KEEP: Duration = Duration::days(1);

/// `YYYY-MM-DDTHH:MM` of `t`, UTC.
fn minute_of(t: OffsetDateTime) -> Result<String, SystemFault> {
    let stamp = items::timestamp(t.to_offset(time::UtcOffset::UTC))?;
    Ok(stamp.chars().take(16).collect())
}

impl Repository {
    /// The write that counts one request of `client_id` at `at` (for its transaction).
    pub(crate) fn count_request(
        &self,
        client_id: &ClientId,
        at: OffsetDateTime,
    ) -> Result<ConditionalWrite, Error> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key((
                keys::rate_partition(client_id),
                keys::rate_minute(&minute_of(at)?),
            ))))
            .update_expression("ADD requests :one SET #ttl = :ttl, entity = :entity")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N((at + KEEP).unix_timestamp().to_string()),
            )
            .expression_attribute_values(":entity", AttributeValue::S("rate".into()))
            .build()
            .map_err(build_fault)?;
        Ok(ConditionalWrite {
            item: TransactWriteItem::builder().update(update).build(),
            // Unconditional: it cannot fail on a condition.
            on_conflict: UserError::Conflict("issuance counter".into()),
        })
    }

    /// `client_id`'s issuance rate at `now`: its requests of the recent window against its
    /// baseline (one Query over the last hour of counters).
    pub async fn issuance_rate(
        &self,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> Result<IssuanceRate, Error> {
        let span = i64::from(RATE_WINDOW_MINUTES * (BASELINE_WINDOWS + 1) - 1);
        let from = keys::rate_minute(&minute_of(now - Duration::minutes(span))?);
        let to = keys::rate_minute(&minute_of(now)?);
        let current = minute_of(now)?;
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", AttributeValue::S(keys::rate_partition(client_id)))
            .expression_attribute_values(":from", AttributeValue::S(from))
            .expression_attribute_values(":to", AttributeValue::S(to))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        let minutes = out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| {
                let minute = items::string(&item, keys::SK)?
                    .strip_prefix("MIN#")?
                    .to_owned();
                let count = items::number(&item, "requests")?;
                Some((minutes_between(&minute, &current)?, count))
            });
        Ok(IssuanceRate::from_minutes(minutes.collect::<Vec<_>>()))
    }
}

/// Whole minutes from `earlier` to `later` (both `YYYY-MM-DDTHH:MM`).
fn minutes_between(earlier: &str, later: &str) -> Option<u32> {
    let parse = |m: &str| {
        OffsetDateTime::parse(
            &format!("{m}:00Z"),
            &time::format_description::well_known::Rfc3339,
        )
        .ok()
    };
    let minutes = (parse(later)? - parse(earlier)?).whole_minutes();
    u32::try_from(minutes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_are_counted_between_buckets() {
        let t = OffsetDateTime::UNIX_EPOCH + Duration::minutes(90) + Duration::seconds(59);
        assert_eq!(minute_of(t).unwrap(), "1970-01-01T01:30");
        assert_eq!(
            minutes_between("1970-01-01T00:59", "1970-01-01T01:30"),
            Some(31)
        );
        assert_eq!(
            minutes_between("1970-01-01T01:31", "1970-01-01T01:30"),
            None
        );
        assert_eq!(minutes_between("nonsense", "1970-01-01T01:30"), None);
    }
}
