//! Items read together: several keys in one consistent `BatchGetItem`, so a caller that needs
//! a credential, its client, a chain head and a request at one moment pays one round trip, not
//! four. Duplicate keys are asked for once.

use clavis_core::Error;
use serde::de::DeserializeOwned;

use super::items::{self, Item};
use super::{Repository, Versioned};

/// The items one read found, taken out by key.
#[derive(Debug, Default)]
pub struct ReadTogether {
    found: Vec<Item>,
}

impl ReadTogether {
    /// The raw item at `key`, if it was found (taken out: a second take is `None`).
    pub fn take_item(&mut self, key: &(String, String)) -> Option<Item> {
        let at = self.found.iter().position(|i| items::has_key(i, key))?;
        Some(self.found.swap_remove(at))
    }

    /// The item at `key` decoded as `entity`, if it was found. Left in place, so two readers
    /// of one item (a client that is also the caller's) both see it.
    pub fn get<T: DeserializeOwned>(
        &self,
        key: &(String, String),
        entity: &str,
    ) -> Result<Option<Versioned<T>>, Error> {
        match self.found.iter().find(|i| items::has_key(i, key)) {
            None => Ok(None),
            Some(item) => {
                let (value, version) = items::from_item(item.clone(), entity)?;
                Ok(Some(Versioned { value, version }))
            }
        }
    }
}

impl Repository {
    /// Reads `keys` consistently in one `BatchGetItem` (at most 100 distinct keys).
    pub async fn read_together(&self, keys: &[(String, String)]) -> Result<ReadTogether, Error> {
        let mut distinct: Vec<&(String, String)> = Vec::with_capacity(keys.len());
        for key in keys {
            if !distinct.contains(&key) {
                distinct.push(key);
            }
        }
        let wanted = distinct
            .into_iter()
            .map(|k| items::key(k.clone()))
            .collect();
        Ok(ReadTogether {
            found: self.batch_get(wanted).await?,
        })
    }
}
