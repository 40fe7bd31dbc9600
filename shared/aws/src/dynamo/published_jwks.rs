//! The published JWKS, stored once per key set: the first api container after a change of
//! signing keys asks KMS for the public keys and stores the document; every later container
//! reads it with one `GetItem` instead of a `GetPublicKey` per key (whose account-wide quota a
//! burst of cold starts would exhaust). The item is named by the key set's fingerprint, so a new
//! set of keys is never served an old document.

use aws_sdk_dynamodb::types::AttributeValue;
use clavis_core::Error;

use super::Repository;
use super::items;
use super::keys;
use crate::fault;

/// Entity tag of stored key sets.
pub const ENTITY: &str = "published_jwks";

impl Repository {
    /// The JWKS document stored for the key set `fingerprint`, if any.
    pub async fn get_published_jwks(&self, fingerprint: &str) -> Result<Option<String>, Error> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(items::key(keys::published_jwks(fingerprint))))
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        Ok(out
            .item
            .and_then(|item| item.get("jwks").and_then(|v| v.as_s().ok()).cloned()))
    }

    /// Stores the JWKS document of the key set `fingerprint` (the same keys give the same
    /// document, so a concurrent writer's copy is as good as this one).
    pub async fn put_published_jwks(&self, fingerprint: &str, jwks: &str) -> Result<(), Error> {
        let mut item = items::key(keys::published_jwks(fingerprint));
        item.insert(keys::ENTITY.into(), AttributeValue::S(ENTITY.into()));
        item.insert("jwks".into(), AttributeValue::S(jwks.to_owned()));
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        Ok(())
    }
}
