//! `POST /v1/clients/{client_id}/suspend|resume` `{reason}`: a suspended client's credentials
//! stop authenticating at once (nothing is revoked) until an administrator resumes it. Both
//! are audited with their reason and announced (`Client Suspended`, `Client Resumed`); a
//! repeat answers the client as it is and writes nothing.

use clavis_core::approval::DecisionBody;
use clavis_core::client::{ClientStatus, Suspension};
use clavis_core::events::{ClavisEvent, ClientResumed, ClientSuspended, EventMeta};
use clavis_core::ids::ClientId;
use clavis_core::{Error, UserError};
use clavis_lambda::body;
use clavis_policy::Action;
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;

use crate::app::{App, json};
use crate::auth::Principal;

impl App {
    /// `POST /v1/clients/{client_id}/suspend` (`suspend`) or `…/resume`.
    pub(crate) async fn change_standing(
        &self,
        req: &Request,
        principal: &Principal,
        client_id: &str,
        suspend: bool,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let not_found = || UserError::NotFound("client".into());
        let client_id: ClientId = client_id.parse().map_err(|_| not_found())?;
        let reason =
            body::parse_json::<DecisionBody>(req.headers(), req.body(), body::DEFAULT_LIMIT)?
                .validate()?;
        let stored = self
            .repo
            .get_client(&client_id, true)
            .await?
            .ok_or_else(not_found)?;
        let client = &stored.value;
        let action = if suspend {
            Action::SuspendClient(client)
        } else {
            Action::ResumeClient(client)
        };
        self.authorize(principal, action).await?;
        let (from, to) = if suspend {
            (ClientStatus::Active, ClientStatus::Suspended)
        } else {
            (ClientStatus::Suspended, ClientStatus::Active)
        };
        if client.status == to {
            return json(200, client);
        }
        if client.status != from {
            return Err(UserError::Conflict(format!(
                "client {client_id} is {}; only an {} client can be {}",
                client.status.as_str(),
                from.as_str(),
                if suspend { "suspended" } else { "resumed" }
            ))
            .into());
        }
        let actor = principal.actor();
        if suspend {
            let suspension = Suspension {
                reason: reason.clone(),
                suspended_at: now,
                suspended_by: actor,
            };
            let event = ClientSuspended {
                meta: EventMeta::new(now),
                client_id,
                reason,
                suspended_at: now,
            };
            self.repo
                .suspend_client(client, stored.version, &suspension, &event.to_outbox())
                .await?;
        } else {
            let event = ClientResumed {
                meta: EventMeta::new(now),
                client_id,
                reason: reason.clone(),
                resumed_at: now,
            };
            self.repo
                .resume_client(
                    client,
                    stored.version,
                    &reason,
                    &event.to_outbox(),
                    &actor,
                    now,
                )
                .await?;
        }
        tracing::info!(%client_id, suspend, actor = %principal.client_id, "client standing changed");
        let current = self
            .repo
            .get_client(&client_id, true)
            .await?
            .ok_or_else(not_found)?;
        json(200, &current.value)
    }
}
