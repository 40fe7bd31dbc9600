//! Conversions between domain values and DynamoDB items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use clavis_core::SystemFault;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::keys::{ENTITY, PK, SK, VERSION};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The item for `value` under `key`, tagged with its entity kind and version.
pub fn to_item<T: Serialize>(
    value: &T,
    key: (String, String),
    entity: &str,
    version: u64,
) -> Result<Item, SystemFault> {
    let mut item: Item = serde_dynamo::to_item(value)
        .map_err(|e| SystemFault::Internal(format!("cannot encode {entity}: {e}")))?;
    item.insert(PK.into(), AttributeValue::S(key.0));
    item.insert(SK.into(), AttributeValue::S(key.1));
    item.insert(ENTITY.into(), AttributeValue::S(entity.into()));
    item.insert(VERSION.into(), AttributeValue::N(version.to_string()));
    Ok(item)
}

/// The value stored in `item`, and its version.
pub fn from_item<T: DeserializeOwned>(item: Item, entity: &str) -> Result<(T, u64), SystemFault> {
    let version = number(&item, VERSION).unwrap_or(0);
    let value = serde_dynamo::from_item(item)
        .map_err(|e| SystemFault::Internal(format!("corrupt {entity} item: {e}")))?;
    Ok((value, version))
}

/// `t` as stored and compared in key conditions (RFC 3339).
pub fn timestamp(t: time::OffsetDateTime) -> Result<String, SystemFault> {
    t.format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| SystemFault::Internal(format!("cannot format time: {e}")))
}

/// The `credential_id` of an item read from `index`.
pub fn credential_id_in(
    item: &Item,
    index: &str,
) -> Result<clavis_core::ids::CredentialId, SystemFault> {
    string(item, "credential_id")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| SystemFault::Internal(format!("{index} index item without credential_id")))
}

/// Whether `item` is the one stored under `key`.
pub fn has_key(item: &Item, key: &(String, String)) -> bool {
    let is =
        |name: &str, want: &str| matches!(item.get(name), Some(AttributeValue::S(v)) if v == want);
    is(PK, &key.0) && is(SK, &key.1)
}

/// The key attributes of an item.
pub fn key(key: (String, String)) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.0)),
        (SK.to_owned(), AttributeValue::S(key.1)),
    ])
}

/// A numeric attribute, if present and well-formed.
pub fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// A string attribute, if present.
pub fn string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}
