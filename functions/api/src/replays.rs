//! `POST /v1/replays` starts a replay run (administrators): the replay function is invoked
//! without waiting and keeps the run's record up to date, which `GET /v1/replays/{replay_id}`
//! answers (administrators and auditors), so a run of minutes is followed, not waited on.

use clavis_aws::invoke::AsyncInvoker;
use clavis_core::replay::{
    ReplayReport, ReplayRequest, ReplayRun, RunStatus, is_replay_id, new_replay_id,
};
use clavis_core::{Error, SystemFault, UserError};
use clavis_lambda::body;
use clavis_policy::Action;
use lambda_http::http::header::LOCATION;
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;

use crate::app::{App, json};
use crate::auth::Principal;

/// Which function runs replays.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Starts it.
    pub invoker: AsyncInvoker,
    /// Its name, with the alias (`clavis-<stage>-replay:live`).
    pub function: String,
}

impl App {
    /// `POST /v1/replays` `{queues?, max_messages?}`: 202 with the run's record.
    pub(crate) async fn start_replay(
        &self,
        req: &Request,
        principal: &Principal,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Error> {
        let request: ReplayRequest =
            body::parse_json(req.headers(), req.body(), body::DEFAULT_LIMIT)?;
        request.validate()?;
        self.authorize(principal, Action::Replay).await?;
        let config = self
            .replay
            .as_ref()
            .ok_or_else(|| SystemFault::Internal("no replay function configured".into()))?;
        let run = ReplayRun {
            replay_id: new_replay_id(),
            status: RunStatus::Started,
            queues: request.queues.clone(),
            max_messages: request.max_messages,
            requested_by: principal.actor(),
            requested_at: now,
            report: ReplayReport::default(),
            finished_at: None,
            problem: None,
        };
        self.repo.create_replay_run(&run).await?;
        let payload = ReplayRequest {
            replay_id: Some(run.replay_id.clone()),
            ..request
        };
        if let Err(e) = config.invoker.start(&config.function, &payload).await {
            let problem = "the replay function could not be started";
            if let Err(recorded) = self
                .repo
                .finish_replay_run(&run.replay_id, &ReplayReport::default(), Some(problem), now)
                .await
            {
                tracing::warn!(replay_id = %run.replay_id, error = %recorded, "run not marked failed");
            }
            return Err(e.into());
        }
        tracing::info!(replay_id = %run.replay_id, actor = %principal.client_id, "replay started");
        let mut response = json(202, &run)?;
        if let Ok(v) = format!("/v1/replays/{}", run.replay_id).parse() {
            response.headers_mut().insert(LOCATION, v);
        }
        Ok(response)
    }

    /// `GET /v1/replays/{replay_id}`: the run's record.
    pub(crate) async fn get_replay(
        &self,
        principal: &Principal,
        replay_id: &str,
    ) -> Result<Response<Body>, Error> {
        self.authorize(principal, Action::ReadStatus).await?;
        let not_found = || UserError::NotFound("replay run".into());
        if !is_replay_id(replay_id) {
            return Err(not_found().into());
        }
        let run = self
            .repo
            .get_replay_run(replay_id)
            .await?
            .ok_or_else(not_found)?;
        json(200, &run)
    }
}
