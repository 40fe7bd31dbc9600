//! Audited transactions: conditional state writes, the audit record and the chain head, committed
//! together or not at all.
//!
//! The chain head item (`seq`, `hash`) is updated with a condition on the `seq` that was read, so
//! two writers can never append the same link; the loser re-reads the head and tries again, while
//! a failed business condition is answered at once as the user error its write names. A throttled
//! item is tried again with the same head, and reported as a throttle, not as contention.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use clavis_core::audit::{AuditEntry, AuditRecord, ChainHead};
use clavis_core::ids::ClientId;
use clavis_core::{Error, SystemFault, UserError};
use time::OffsetDateTime;

use super::Repository;
use super::items::{self, Item};
use super::keys;
use crate::fault;

/// How many attempts a commit makes: after losing a race for a head (read again) or a
/// throttled item (tried again as it was).
const CHAIN_ATTEMPTS: usize = 8;
/// The first retry's longest pause; it doubles with each attempt.
pub(crate) const BACKOFF_BASE: std::time::Duration = std::time::Duration::from_millis(5);
/// The longest pause between two attempts.
pub(crate) const BACKOFF_CAP: std::time::Duration = std::time::Duration::from_millis(320);

/// One conditional write of a change, and what its condition failing means to the caller.
#[derive(Debug, Clone)]
pub struct ConditionalWrite {
    /// The write (Put/Update/Delete/ConditionCheck) with its condition.
    pub item: TransactWriteItem,
    /// The user error answered when the condition fails.
    pub on_conflict: UserError,
}

/// A change to one client's state, with the audit entry that describes it.
#[derive(Debug, Clone)]
pub struct AuditedChange {
    /// Whose audit chain records it.
    pub client_id: ClientId,
    /// The state writes.
    pub writes: Vec<ConditionalWrite>,
    /// What to record.
    pub entry: AuditEntry,
    /// When it happened.
    pub at: OffsetDateTime,
}

impl Repository {
    /// Commits the change with its audit record; returns the record.
    pub async fn commit(&self, change: AuditedChange) -> Result<AuditRecord, Error> {
        self.commit_after(change, None).await
    }

    /// Commits the change with its audit record, first trying `head` as the chain's head when
    /// the caller knows it (from the previous step of a workflow, or read with other items):
    /// no read when it is still the head, one read and a retry when it has moved.
    pub async fn commit_after(
        &self,
        change: AuditedChange,
        head: Option<ChainHead>,
    ) -> Result<AuditRecord, Error> {
        let mut records = self
            .commit_changes(std::slice::from_ref(&change), vec![head])
            .await?;
        records
            .pop()
            .ok_or_else(|| SystemFault::Internal("a commit wrote no record".into()).into())
    }

    /// Commits changes to several clients' state in one transaction, each with its record in
    /// its own client's chain (the chains must differ); returns the records in order.
    pub async fn commit_all(&self, changes: &[AuditedChange]) -> Result<Vec<AuditRecord>, Error> {
        self.commit_changes(changes, vec![None; changes.len()])
            .await
    }

    /// [`Repository::commit_all`], with the heads the caller believes current (`None`: read).
    async fn commit_changes(
        &self,
        changes: &[AuditedChange],
        mut believed: Vec<Option<ChainHead>>,
    ) -> Result<Vec<AuditRecord>, Error> {
        let writes: Vec<&ConditionalWrite> = changes.iter().flat_map(|c| &c.writes).collect();
        // Whether the last attempt was throttled rather than beaten to a head.
        let mut throttled = false;
        for attempt in 0..CHAIN_ATTEMPTS {
            if attempt > 0 {
                // Full jitter: writers of one chain that lost together must not retry together.
                tokio::time::sleep(crate::backoff::full_jitter(
                    attempt,
                    BACKOFF_BASE,
                    BACKOFF_CAP,
                ))
                .await;
            }
            let mut records = Vec::with_capacity(changes.len());
            let mut heads = Vec::with_capacity(changes.len());
            let mut tx: Vec<TransactWriteItem> = writes.iter().map(|w| w.item.clone()).collect();
            for (i, change) in changes.iter().enumerate() {
                // A believed head is tried once; after a lost race the head is read.
                let head = match believed.get_mut(i).and_then(Option::take) {
                    Some(head) => head,
                    None => self.chain_head(&change.client_id).await?,
                };
                let record =
                    AuditRecord::append(&head, change.client_id, change.at, self.stamped(change));
                tx.push(self.advance_head(&head, &record)?);
                tx.push(self.put_audit(&record)?);
                records.push(record);
                heads.push(head);
            }
            // One token per attempt: the SDK's own retry of this attempt (after an answer was
            // lost) is then a no-op that succeeds, not a second commit whose conditions fail.
            let result = self
                .db
                .transact_write_items()
                .set_transact_items(Some(tx))
                .client_request_token(ulid::Ulid::generate().to_string())
                .send()
                .await;
            let Err(err) = result else {
                return Ok(records);
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
                err.as_service_error()
            else {
                return Err(fault::from_sdk("dynamodb", &err).into());
            };
            let codes: Vec<&str> = cancel
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect();
            match cancelled(&codes, writes.len()) {
                Cancelled::Refused(i) => return Err(writes[i].on_conflict.clone().into()),
                // The heads did not move: the next attempt tries them again without a read.
                Cancelled::Throttled => {
                    believed = heads.into_iter().map(Some).collect();
                    throttled = true;
                }
                Cancelled::Raced => throttled = false,
                Cancelled::Other => {
                    return Err(SystemFault::Unavailable {
                        service: "dynamodb",
                        detail: format!("transaction cancelled: {codes:?}"),
                    }
                    .into());
                }
            }
        }
        if throttled {
            return Err(SystemFault::Throttled {
                service: "dynamodb",
            }
            .into());
        }
        Err(SystemFault::Unavailable {
            service: "dynamodb",
            detail: "audit chain contention".into(),
        }
        .into())
    }

    /// The change's entry with this process's policy version, unless it names its own.
    fn stamped(&self, change: &AuditedChange) -> AuditEntry {
        let mut entry = change.entry.clone();
        if let Some(version) = &self.policy_version {
            entry
                .detail
                .entry("policy_version".to_owned())
                .or_insert_with(|| version.clone());
        }
        entry
    }

    /// The current head of a client's audit chain (genesis if it has none), read consistently.
    pub async fn chain_head(&self, client_id: &ClientId) -> Result<ChainHead, Error> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::chain_head(client_id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        head_of(client_id, out.item.as_ref())
    }
}

/// The chain head `item` holds (genesis when there is no item), as read by any means.
pub fn head_of(client_id: &ClientId, item: Option<&Item>) -> Result<ChainHead, Error> {
    let Some(item) = item else {
        return Ok(ChainHead::genesis());
    };
    match (items::number(item, "seq"), items::string(item, "hash")) {
        (Some(seq), Some(hash)) => Ok(ChainHead {
            seq,
            hash: hash.to_owned(),
        }),
        _ => Err(SystemFault::Internal(format!("corrupt chain head of {client_id}")).into()),
    }
}

impl Repository {
    fn advance_head(
        &self,
        head: &ChainHead,
        record: &AuditRecord,
    ) -> Result<TransactWriteItem, SystemFault> {
        let (pk, sk) = keys::chain_head(&record.client_id);
        let item = if head.seq == 0 {
            let mut item: Item = items::key((pk, sk));
            item.insert(keys::ENTITY.into(), AttributeValue::S("audit_head".into()));
            item.insert("seq".into(), AttributeValue::N(record.seq.to_string()));
            item.insert("hash".into(), AttributeValue::S(record.hash.clone()));
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(build_fault)?,
                )
                .build()
        } else {
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(items::key((pk, sk))))
                        .update_expression("SET #seq = :next, #hash = :hash")
                        .condition_expression("#seq = :prev")
                        .expression_attribute_names("#seq", "seq")
                        .expression_attribute_names("#hash", "hash")
                        .expression_attribute_values(
                            ":prev",
                            AttributeValue::N(head.seq.to_string()),
                        )
                        .expression_attribute_values(
                            ":next",
                            AttributeValue::N(record.seq.to_string()),
                        )
                        .expression_attribute_values(
                            ":hash",
                            AttributeValue::S(record.hash.clone()),
                        )
                        .build()
                        .map_err(build_fault)?,
                )
                .build()
        };
        Ok(item)
    }

    fn put_audit(&self, record: &AuditRecord) -> Result<TransactWriteItem, SystemFault> {
        let item: Item = serde_dynamo::to_item(record)
            .map_err(|e| SystemFault::Internal(format!("cannot encode audit record: {e}")))?;
        Ok(TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.audit_table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(client_id)")
                    .build()
                    .map_err(build_fault)?,
            )
            .build())
    }

    /// Builds a conditional Put of a new item (fails if the key exists).
    pub fn put_new(&self, item: Item, on_conflict: UserError) -> Result<ConditionalWrite, Error> {
        Ok(ConditionalWrite {
            item: TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(build_fault)?,
                )
                .build(),
            on_conflict,
        })
    }
}

/// A request the SDK refused to build is our bug, not the caller's.
pub(crate) fn build_fault(e: aws_sdk_dynamodb::error::BuildError) -> SystemFault {
    SystemFault::Internal(format!("cannot build DynamoDB request: {e}"))
}

/// What a cancelled commit's reasons mean: one code per item, in order, the state writes first
/// and then each chain's head and record.
#[derive(Debug, PartialEq, Eq)]
enum Cancelled {
    /// The condition of state write `i` failed: the user error that write names.
    Refused(usize),
    /// DynamoDB throttled an item: not a lost race. The heads did not move, so the next attempt
    /// tries them again without reading them (a read would only add load to a throttled
    /// partition); throttled to the last attempt, the commit is a throttle fault.
    Throttled,
    /// Another writer got there first (a head moved, or a transaction conflicted): read the
    /// head and try again.
    Raced,
    /// Anything else (validation, item collection size): a fault naming the reasons.
    Other,
}

/// Reads the cancellation reasons `codes` of a commit with `writes` state writes.
fn cancelled(codes: &[&str], writes: usize) -> Cancelled {
    if let Some(i) = codes
        .iter()
        .take(writes)
        .position(|c| *c == "ConditionalCheckFailed")
    {
        return Cancelled::Refused(i);
    }
    let throttled = |c: &&str| {
        matches!(
            *c,
            "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded"
        )
    };
    if codes.iter().any(throttled) {
        return Cancelled::Throttled;
    }
    let head_lost = codes
        .iter()
        .skip(writes)
        .any(|c| *c == "ConditionalCheckFailed");
    if head_lost || codes.contains(&"TransactionConflict") {
        Cancelled::Raced
    } else {
        Cancelled::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_state_condition_is_the_refusal_that_write_names() {
        assert_eq!(
            cancelled(&["None", "ConditionalCheckFailed", "None", "None"], 2),
            Cancelled::Refused(1)
        );
        // Even when a head moved too: the refusal does not depend on the chain.
        assert_eq!(
            cancelled(
                &["ConditionalCheckFailed", "ConditionalCheckFailed", "None"],
                1
            ),
            Cancelled::Refused(0)
        );
    }

    #[test]
    fn a_moved_head_or_a_conflict_is_a_race_to_run_again() {
        assert_eq!(
            cancelled(&["None", "ConditionalCheckFailed", "None"], 1),
            Cancelled::Raced
        );
        assert_eq!(
            cancelled(&["TransactionConflict", "None", "None"], 1),
            Cancelled::Raced
        );
    }

    #[test]
    fn a_throttled_item_is_a_throttle_not_a_race() {
        for code in [
            "ThrottlingError",
            "ProvisionedThroughputExceeded",
            "RequestLimitExceeded",
        ] {
            assert_eq!(cancelled(&["None", code, "None"], 1), Cancelled::Throttled);
            assert_eq!(cancelled(&[code, "None", "None"], 1), Cancelled::Throttled);
        }
    }

    #[test]
    fn other_reasons_are_faults() {
        assert_eq!(
            cancelled(&["ValidationError", "None", "None"], 1),
            Cancelled::Other
        );
        assert_eq!(
            cancelled(&["None", "ItemCollectionSizeLimitExceeded", "None"], 1),
            Cancelled::Other
        );
        assert_eq!(cancelled(&["None", "None", "None"], 1), Cancelled::Other);
    }
}
