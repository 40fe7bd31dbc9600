//! What `GET /v1/status` answers: how the stack's queues and alarms stand, and whether anything
//! needs an operator.
//!
//! Healthy means no alarm is in `ALARM` and nothing waits in a dead-letter queue or the intake
//! queue (work Clavis could not do, which `replay` retries or an operator looks at).

use serde::{Deserialize, Serialize};

/// One queue where work waits after a fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStatus {
    /// Its role: `events-dlq`, `workflow-dlq`, `intake`, `intake-dlq`.
    pub name: String,
    /// Messages waiting.
    pub waiting: u64,
    /// Messages received and not yet deleted (a replay run at work).
    pub in_flight: u64,
}

/// One CloudWatch alarm of the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmStatus {
    /// Its name.
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// Why it is in that state, as CloudWatch says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Since when (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The runbook its description names (`docs/runbooks/….md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
}

/// The answer of `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackStatus {
    /// The stack's stage.
    pub stage: String,
    /// The policy version in force.
    pub policy_version: String,
    /// The queues, in a fixed order.
    pub queues: Vec<QueueStatus>,
    /// The stack's alarms, those in `ALARM` first, then by name.
    pub alarms: Vec<AlarmStatus>,
    /// No alarm in `ALARM` and every queue empty.
    pub healthy: bool,
}

impl StackStatus {
    /// The status of these queues and alarms (sorted here).
    pub fn new(
        stage: &str,
        policy_version: &str,
        queues: Vec<QueueStatus>,
        mut alarms: Vec<AlarmStatus>,
    ) -> Self {
        alarms.sort_by(|a, b| (a.state != "ALARM", &a.name).cmp(&(b.state != "ALARM", &b.name)));
        let healthy = alarms.iter().all(|a| a.state != "ALARM")
            && queues.iter().all(|q| q.waiting == 0 && q.in_flight == 0);
        Self {
            stage: stage.to_owned(),
            policy_version: policy_version.to_owned(),
            queues,
            alarms,
            healthy,
        }
    }
}

/// The runbook an alarm description names (`Runbook: docs/runbooks/x.md - …`).
pub fn runbook_of(description: &str) -> Option<String> {
    let start = description.find("docs/runbooks/")?;
    let rest = &description[start..];
    let end = rest.find(".md")? + ".md".len();
    Some(rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(name: &str, state: &str) -> AlarmStatus {
        AlarmStatus {
            name: name.into(),
            state: state.into(),
            reason: None,
            since: None,
            runbook: None,
        }
    }

    fn queue(name: &str, waiting: u64, in_flight: u64) -> QueueStatus {
        QueueStatus {
            name: name.into(),
            waiting,
            in_flight,
        }
    }

    #[test]
    fn an_alarm_or_waiting_work_makes_the_stack_unhealthy_and_alarms_come_first() {
        let quiet = StackStatus::new(
            "prod",
            "v",
            vec![queue("events-dlq", 0, 0)],
            vec![alarm("b", "OK"), alarm("a", "INSUFFICIENT_DATA")],
        );
        assert!(quiet.healthy);
        let names: Vec<&str> = quiet.alarms.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let ringing = StackStatus::new(
            "prod",
            "v",
            vec![queue("events-dlq", 0, 0)],
            vec![alarm("a", "OK"), alarm("z", "ALARM")],
        );
        assert!(!ringing.healthy);
        assert_eq!(ringing.alarms[0].name, "z");
        for (waiting, in_flight) in [(1, 0), (0, 1)] {
            let parked = StackStatus::new(
                "prod",
                "v",
                vec![queue("intake", waiting, in_flight)],
                vec![],
            );
            assert!(!parked.healthy);
        }
    }

    #[test]
    fn the_runbook_is_read_from_the_description() {
        assert_eq!(
            runbook_of("Runbook: docs/runbooks/events-dlq.md - lifecycle events …").as_deref(),
            Some("docs/runbooks/events-dlq.md")
        );
        assert_eq!(runbook_of("no runbook here"), None);
        assert_eq!(runbook_of("docs/runbooks/unterminated"), None);
    }
}
