//! `GET /v1/status`: how the stack stands — the queues where work waits after a fault and the
//! stack's alarms (with their runbooks) — for administrators and auditors. Reads only.

use clavis_aws::monitoring::StackMonitor;
use clavis_core::Error;
use clavis_core::status::StackStatus;
use clavis_policy::Action;
use lambda_http::{Body, Response};

use crate::app::{App, json};
use crate::auth::Principal;

/// Where the status comes from.
#[derive(Debug, Clone)]
pub struct StatusConfig {
    /// Reads queues and alarms.
    pub monitor: StackMonitor,
    /// The stack's stage.
    pub stage: String,
    /// Each watched queue: its role (`events-dlq`, …) and URL.
    pub queues: Vec<(String, String)>,
    /// The prefix of the stack's alarm names (`clavis-<stage>-`).
    pub alarm_prefix: String,
}

impl App {
    /// `GET /v1/status`.
    pub(crate) async fn stack_status(
        &self,
        principal: &Principal,
    ) -> Result<Response<Body>, Error> {
        self.authorize(principal, Action::ReadStatus).await?;
        let Some(config) = &self.status else {
            return Err(clavis_core::SystemFault::Internal("no status configured".into()).into());
        };
        let queues = async {
            let mut read = Vec::with_capacity(config.queues.len());
            for (name, url) in &config.queues {
                read.push(config.monitor.queue(name, url).await?);
            }
            Ok::<_, clavis_core::SystemFault>(read)
        };
        let (queues, alarms) = tokio::join!(queues, config.monitor.alarms(&config.alarm_prefix));
        let (queues, alarms) = (queues?, alarms?);
        let status = StackStatus::new(&config.stage, self.governance.version(), queues, alarms);
        json(200, &status)
    }
}
