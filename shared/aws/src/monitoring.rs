//! How the stack stands, read from AWS: the depth of the queues where work waits after a
//! fault (SQS `GetQueueAttributes`) and the state of the stack's alarms (CloudWatch
//! `DescribeAlarms` by name prefix).

use aws_sdk_cloudwatch::Client as CloudWatchClient;
use aws_sdk_sqs::Client as SqsClient;
use aws_sdk_sqs::types::QueueAttributeName;
use clavis_core::SystemFault;
use clavis_core::status::{AlarmStatus, QueueStatus, runbook_of};

use crate::clients::OnFirstUse;
use crate::fault;

/// Reads queue depths and alarm states.
#[derive(Debug, Clone)]
pub struct StackMonitor {
    sqs: OnFirstUse<SqsClient>,
    cloudwatch: OnFirstUse<CloudWatchClient>,
}

/// Most alarm pages one status reads (100 alarms each).
const MAX_ALARM_PAGES: usize = 10;

impl StackMonitor {
    /// A monitor over these clients (built when status is first asked for).
    pub fn new(sqs: OnFirstUse<SqsClient>, cloudwatch: OnFirstUse<CloudWatchClient>) -> Self {
        Self { sqs, cloudwatch }
    }

    /// The depth of the queue at `url`, reported as `name`.
    pub async fn queue(&self, name: &str, url: &str) -> Result<QueueStatus, SystemFault> {
        let out = self
            .sqs
            .get()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| fault::from_sdk("sqs", &e))?;
        let count = |attribute: QueueAttributeName| {
            out.attributes()
                .and_then(|a| a.get(&attribute))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(QueueStatus {
            name: name.to_owned(),
            waiting: count(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        })
    }

    /// Every metric alarm whose name starts with `prefix`.
    pub async fn alarms(&self, prefix: &str) -> Result<Vec<AlarmStatus>, SystemFault> {
        let mut alarms = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_ALARM_PAGES {
            let out = self
                .cloudwatch
                .get()
                .describe_alarms()
                .alarm_name_prefix(prefix)
                .max_records(100)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| fault::from_sdk("cloudwatch", &e))?;
            for alarm in out.metric_alarms() {
                alarms.push(AlarmStatus {
                    name: alarm.alarm_name().unwrap_or_default().to_owned(),
                    state: alarm
                        .state_value()
                        .map_or("INSUFFICIENT_DATA", |s| s.as_str())
                        .to_owned(),
                    reason: alarm.state_reason().map(str::to_owned),
                    since: alarm.state_updated_timestamp().and_then(|t| {
                        t.fmt(aws_sdk_cloudwatch::primitives::DateTimeFormat::DateTime)
                            .ok()
                    }),
                    runbook: alarm.alarm_description().and_then(runbook_of),
                });
            }
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(alarms)
    }
}
