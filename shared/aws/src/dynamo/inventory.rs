//! Inventory: clients and a client's credentials, page by page, from indexes (never a Scan).
//! Clients come from the sparse `client-directory` index (every client item, by id); a client's
//! credentials from `by-client` (client id, status), whose keys are then read whole in one
//! `BatchGetItem` per page. Filters that are not keys are applied by DynamoDB after the page
//! is read, so a page may hold fewer than `limit` items: follow `next` until it is absent.

use aws_sdk_dynamodb::types::AttributeValue;
use clavis_core::Error;
use clavis_core::client::{Client, ClientStatus, Environment};
use clavis_core::credential::Credential;
use clavis_core::ids::{ClientId, CredentialId};
use clavis_core::lifecycle::CredentialState;

use super::Repository;
use super::client_revocation::BY_CLIENT_INDEX;
use super::clients::{self, DIRECTORY};
use super::credentials;
use super::cursor;
use super::items;
use super::keys;
use crate::fault;

/// The sparse index of every client, by client id.
pub const DIRECTORY_INDEX: &str = "client-directory";

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The cursor of the next page, if the listing goes on.
    pub next: Option<String>,
}

/// Which clients a listing keeps (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientFilter {
    /// Only clients in this status.
    pub status: Option<ClientStatus>,
    /// Only clients of this environment.
    pub environment: Option<Environment>,
    /// Only clients registered by this owner.
    pub owner: Option<String>,
}

impl Repository {
    /// Clients by id, `limit` read per page, filtered by `filter`.
    pub async fn list_clients(
        &self,
        filter: &ClientFilter,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Page<Client>, Error> {
        let start = cursor
            .map(|c| {
                cursor::decode(
                    c,
                    &[keys::PK, keys::SK, DIRECTORY, "client_id"],
                    |k, v| match k {
                        DIRECTORY => v == clients::ENTITY,
                        keys::SK => v == "CLIENT",
                        keys::PK => v
                            .strip_prefix("CLIENT#")
                            .is_some_and(|id| id.parse::<ClientId>().is_ok()),
                        _ => v.parse::<ClientId>().is_ok(),
                    },
                )
            })
            .transpose()?;
        let mut conditions = Vec::new();
        let mut query = self
            .db
            .query()
            .table_name(&self.table)
            .index_name(DIRECTORY_INDEX)
            .key_condition_expression("#directory = :client")
            .expression_attribute_names("#directory", DIRECTORY)
            .expression_attribute_values(":client", AttributeValue::S(clients::ENTITY.into()))
            .limit(limit)
            .set_exclusive_start_key(start);
        if let Some(status) = filter.status {
            conditions.push("#status = :status");
            query = query
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", AttributeValue::S(status.as_str().into()));
        }
        if let Some(environment) = filter.environment {
            conditions.push("environment = :environment");
            query = query.expression_attribute_values(
                ":environment",
                AttributeValue::S(environment.as_str().into()),
            );
        }
        if let Some(owner) = &filter.owner {
            conditions.push("#owner = :owner");
            query = query
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", AttributeValue::S(owner.clone()));
        }
        if !conditions.is_empty() {
            query = query.filter_expression(conditions.join(" AND "));
        }
        let out = query
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        let mut found = Vec::new();
        for item in out.items.unwrap_or_default() {
            found.push(items::from_item(item, clients::ENTITY)?.0);
        }
        Ok(Page {
            items: found,
            next: cursor::encode(out.last_evaluated_key)?,
        })
    }

    /// `client_id`'s credentials (every status, or only `status`), `limit` read per page.
    pub async fn list_credentials(
        &self,
        client_id: &ClientId,
        status: Option<CredentialState>,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Page<Credential>, Error> {
        let start = cursor
            .map(|c| {
                cursor::decode(
                    c,
                    &[keys::PK, keys::SK, "client_id", "status"],
                    |k, v| match k {
                        "client_id" => v == client_id.to_string(),
                        // A cursor of another status (or of an unfiltered listing, used with
                        // a filter) lies outside the query: DynamoDB would refuse it as a fault.
                        "status" => match status {
                            Some(s) => v == s.as_str(),
                            None => !v.is_empty() && v.len() <= 32,
                        },
                        // Anything of the client's can be where a page stopped (the index also
                        // holds its requests and the client itself); only its key shape is checked.
                        _ => !v.is_empty() && v.len() <= 128 && v.is_ascii(),
                    },
                )
            })
            .transpose()?;
        let mut query = self
            .db
            .query()
            .table_name(&self.table)
            .index_name(BY_CLIENT_INDEX)
            .expression_attribute_values(":client", AttributeValue::S(client_id.to_string()))
            .filter_expression("entity = :credential")
            .expression_attribute_values(
                ":credential",
                AttributeValue::S(credentials::ENTITY.into()),
            )
            .limit(limit)
            .set_exclusive_start_key(start);
        query = match status {
            Some(s) => query
                .key_condition_expression("client_id = :client AND #status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", AttributeValue::S(s.as_str().into())),
            None => query.key_condition_expression("client_id = :client"),
        };
        let out = query
            .send()
            .await
            .map_err(|e| fault::from_sdk("dynamodb", &e))?;
        let ids: Vec<CredentialId> = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| items::credential_id_in(item, BY_CLIENT_INDEX))
            .collect::<Result<_, _>>()?;
        let mut found = Vec::with_capacity(ids.len());
        if !ids.is_empty() {
            let wanted = ids
                .iter()
                .map(|id| items::key(keys::credential(id)))
                .collect();
            for item in self.batch_get(wanted).await? {
                found.push(items::from_item::<Credential>(item, credentials::ENTITY)?.0);
            }
        }
        // In the index's order (by status, then id), whatever order the batch read answered.
        found.sort_by_key(|c| {
            (ids.iter()
                .position(|id| *id == c.credential_id)
                .unwrap_or(usize::MAX),)
        });
        Ok(Page {
            items: found,
            next: cursor::encode(out.last_evaluated_key)?,
        })
    }
}
