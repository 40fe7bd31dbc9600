//! Requests that have not settled: from creation until completed, failed or denied, a request
//! carries an `unsettled` shard and sits in the sparse `requests-unsettled` index, oldest
//! first. The reaper reads only this to find requests whose execution died.

use clavis_core::Error;
use clavis_core::ids::{ClientId, RequestId};
use clavis_core::issuance::IssuanceParams;
use clavis_core::request::RequestStatus;
use serde::Deserialize;
use time::OffsetDateTime;

use super::Repository;
use super::items;

/// The sparse index of requests that have not settled.
pub const UNSETTLED_INDEX: &str = "requests-unsettled";
/// The attribute that puts a request in [`UNSETTLED_INDEX`].
pub const UNSETTLED: &str = "unsettled";
/// Shards of [`UNSETTLED_INDEX`].
pub const UNSETTLED_SHARDS: u32 = 4;

/// The shard of request `id`: spread by the id's random bits.
pub fn shard_of(id: &RequestId) -> String {
    let spread = u32::try_from(id.ulid().random() % u128::from(UNSETTLED_SHARDS)).unwrap_or(0);
    format!("UNSETTLED#{spread}")
}

/// What the index holds of an unsettled request.
#[derive(Debug, Clone, Deserialize)]
pub struct Unsettled {
    /// The request.
    pub request_id: RequestId,
    /// Its client.
    pub client_id: ClientId,
    /// `pending` or `pending_approval`.
    pub status: RequestStatus,
    /// Its attempt (names its execution).
    #[serde(default)]
    pub attempt: u32,
    /// What was asked for (says whether it is a rotation).
    pub params: IssuanceParams,
    /// When it was asked.
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
}

impl Repository {
    /// Up to `limit` requests asked for before `before` that have not settled, oldest first
    /// within each shard.
    pub async fn unsettled_requests(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<Unsettled>, Error> {
        let scan = super::sharded::ShardedScan {
            index: UNSETTLED_INDEX,
            shard_attribute: UNSETTLED,
            prefix: "UNSETTLED",
            shards: UNSETTLED_SHARDS,
            sort_attribute: "requested_at",
            before: items::timestamp(before)?,
        };
        self.read_shards(&scan, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_always_lands_in_the_same_of_the_shards() {
        for _ in 0..100 {
            let id = RequestId::generate();
            let shard = shard_of(&id);
            assert_eq!(shard, shard_of(&id));
            let n: u32 = shard.trim_start_matches("UNSETTLED#").parse().unwrap();
            assert!(n < UNSETTLED_SHARDS);
        }
    }
}
