//! Credential items, and the bootstrap of the first operator.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use clavis_core::audit::{AuditEntry, AuditRecord};
use clavis_core::client::Client;
use clavis_core::credential::Credential;
use clavis_core::ids::CredentialId;
use clavis_core::{Error, UserError};

use super::audited::AuditedChange;
use super::clients::{self, registered_entry};
use super::items;
use super::keys;
use super::{Repository, Versioned};

/// Entity tag of credential items.
pub const ENTITY: &str = "credential";

impl Repository {
    /// Reads a credential; `None` if it does not exist. Authentication reads consistently, so a
    /// revocation is seen the moment it committed.
    pub async fn get_credential(
        &self,
        id: &CredentialId,
        consistent: bool,
    ) -> Result<Option<Versioned<Credential>>, Error> {
        self.get_versioned(keys::credential(id), ENTITY, consistent)
            .await
    }

    /// Creates the first operator client with its active credential, once per deployment: the
    /// bootstrap marker makes a second attempt a conflict that writes nothing.
    pub async fn bootstrap_operator(
        &self,
        client: &Client,
        credential: &Credential,
        actor: &str,
    ) -> Result<AuditRecord, Error> {
        let mut marker = items::key(keys::bootstrap_marker());
        marker.insert(
            "client_id".into(),
            AttributeValue::S(client.client_id.to_string()),
        );
        let conflict =
            || UserError::Conflict("the operator client was already bootstrapped".into());
        let writes = vec![
            self.put_new(marker, conflict())?,
            self.put_new(
                items::to_item(client, keys::client(&client.client_id), clients::ENTITY, 1)?,
                conflict(),
            )?,
            self.put_new(
                items::to_item(
                    credential,
                    keys::credential(&credential.credential_id),
                    ENTITY,
                    1,
                )?,
                conflict(),
            )?,
        ];
        let mut entry: AuditEntry = registered_entry(client, actor);
        entry.action = "operator.bootstrapped".into();
        entry.detail.extend(BTreeMap::from([
            (
                "credential_id".to_owned(),
                credential.credential_id.to_string(),
            ),
            (
                "credential_status".to_owned(),
                credential.status.to_string(),
            ),
            (
                "scopes".to_owned(),
                credential
                    .scopes
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ]));
        self.commit(AuditedChange {
            client_id: client.client_id,
            writes,
            entry,
            at: client.created_at,
        })
        .await
    }
}
