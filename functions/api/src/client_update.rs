//! `PATCH /v1/clients/{client_id}`: an administrator changes a client's name, tier, allowed
//! scopes and audiences or automatic rotation, with a reason. The policy decides with the
//! client as it is and as it would be (scope ceiling on what the change adds; nobody changes
//! their own client); the change is audited (`client.updated`, before and after) and announced
//! (`Client Updated`). A change to what is already there answers the client and writes
//! nothing; a revoked client is 409.

use clavis_core::client_update::ClientChanges;
use clavis_core::events::{ClavisEvent, ClientUpdated, EventMeta};
use clavis_core::ids::ClientId;
use clavis_core::{Error, UserError};
use clavis_lambda::body;
use clavis_policy::Action;
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;

use crate::app::{App, json};
use crate::auth::Principal;

impl App {
    /// `PATCH /v1/clients/{client_id}`.
    pub(crate) async fn update_client(
        &self,
        req: &Request,
        principal: &Principal,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let not_found = || UserError::NotFound("client".into());
        let client_id: ClientId = client_id.parse().map_err(|_| not_found())?;
        let changes: ClientChanges =
            body::parse_merge_patch(req.headers(), req.body(), body::DEFAULT_LIMIT)?;
        let stored = self
            .repo
            .get_client(&client_id, true)
            .await?
            .ok_or_else(not_found)?;
        let client = &stored.value;
        let update = changes.validate(client)?;
        let proposed = client.with_settings(&update.after);
        self.authorize(principal, Action::UpdateClient(client, &proposed))
            .await?;
        let changed = update.changed();
        if changed.is_empty() {
            return json(200, client);
        }
        let event = ClientUpdated {
            meta: EventMeta::new(now),
            client_id,
            reason: update.reason.clone(),
            changed: changed.iter().map(|f| (*f).to_owned()).collect(),
            before: update.before.clone(),
            after: update.after.clone(),
            updated_at: now,
        };
        let (updated, _) = self
            .repo
            .update_client(
                client,
                stored.version,
                &update,
                &event.to_outbox(),
                &principal.actor(),
                now,
            )
            .await?;
        tracing::info!(%client_id, changed = %changed.join(" "), actor = %principal.client_id, "client updated");
        json(200, &updated)
    }
}
