//! What Clavis measures, in CloudWatch Embedded Metric Format (EMF): the catalogue of metric
//! names, units and dimensions ([`CATALOGUE`]), one typed recorder per measurement, and the
//! flush that writes one EMF document per dimension set to stdout after every invocation.
//!
//! Recording goes through the `metrics` facade; `metrics_cloudwatch_embedded` collects and
//! serialises. Before [`init`] (in unit tests, in tools) every recorder is a no-op. Names and
//! dimension keys live here and nowhere else, so the alarms and dashboard in `template.yaml`
//! can be checked against them (`tests/tests/metrics.rs`).

use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use clavis_core::events::OutboxRecord;
use metrics::Unit;
use metrics_cloudwatch_embedded::Collector;
use time::OffsetDateTime;

/// The namespace when `METRICS_NAMESPACE` is unset (the template sets `Clavis/<stack>`).
pub const DEFAULT_NAMESPACE: &str = "Clavis";

/// One metric Clavis emits: its name, unit and the dimension keys it always carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSpec {
    /// The CloudWatch metric name.
    pub name: &'static str,
    /// Its unit (counters are `Count`; everything else is a distribution).
    pub unit: Unit,
    /// The dimension keys, exactly (CloudWatch matches a metric by its whole dimension set).
    pub dimensions: &'static [&'static str],
    /// What it counts or measures.
    pub help: &'static str,
}

/// Invocations of a function, by `Stage` (the function) and `Outcome` (ok, refused, fault).
pub const STEP_INVOCATIONS: MetricSpec = MetricSpec {
    name: "StepInvocations",
    unit: Unit::Count,
    dimensions: &["Stage", "Outcome"],
    help: "invocations of a function by outcome: ok, refused (a user error), fault",
};
/// How long a function's handler ran, by `Stage`.
pub const STEP_DURATION: MetricSpec = MetricSpec {
    name: "StepDuration",
    unit: Unit::Milliseconds,
    dimensions: &["Stage"],
    help: "handler time of one invocation",
};
/// HTTP requests the api answered, by `Route` and `Outcome` (ok, refused, fault).
pub const API_REQUESTS: MetricSpec = MetricSpec {
    name: "ApiRequests",
    unit: Unit::Count,
    dimensions: &["Route", "Outcome"],
    help: "api requests by route and outcome: ok (2xx), refused (4xx), fault (5xx)",
};
/// HTTP requests the api answered, by `Outcome` only (what the deploy's rollback alarm reads).
pub const API_ANSWERS: MetricSpec = MetricSpec {
    name: "ApiAnswers",
    unit: Unit::Count,
    dimensions: &["Outcome"],
    help: "api requests by outcome, all routes together",
};
/// The api's time to answer, by `Route` (the token SLO reads `Route=Token`).
pub const API_LATENCY: MetricSpec = MetricSpec {
    name: "ApiLatency",
    unit: Unit::Milliseconds,
    dimensions: &["Route"],
    help: "time from request to answer inside the api",
};
/// Issuance requests that reached a final state, by `Outcome`.
pub const ISSUANCE_SETTLED: MetricSpec = MetricSpec {
    name: "IssuanceSettled",
    unit: Unit::Count,
    dimensions: &["Outcome"],
    help: "requests settled: completed, denied (policy, approver, timeout), refused (a user error), failed (a fault)",
};
/// Time from a request being accepted to its final state, by `Outcome` and `Path` (`direct`,
/// or `approval` when it waited for approvers; the latency SLO reads `direct`).
pub const ISSUANCE_LATENCY: MetricSpec = MetricSpec {
    name: "IssuanceLatency",
    unit: Unit::Milliseconds,
    dimensions: &["Outcome", "Path"],
    help: "requested_at to settled; Path=approval includes the approvers' wait",
};
/// Requests that did not complete, by `Reason` (denial reason or problem type).
pub const ISSUANCE_REFUSED: MetricSpec = MetricSpec {
    name: "IssuanceRefused",
    unit: Unit::Count,
    dimensions: &["Reason"],
    help: "requests denied or failed, by why: policy, approver, timeout, or the problem type",
};
/// Time from a revocation's commit to its event reaching the bus.
pub const REVOCATION_PROPAGATION: MetricSpec = MetricSpec {
    name: "RevocationPropagation",
    unit: Unit::Milliseconds,
    dimensions: &[],
    help: "revocation committed to its event published (stream, reconciler or replay)",
};
/// Outbox events put on the bus, by `Publisher` (stream, reconciler, replay).
pub const EVENTS_PUBLISHED: MetricSpec = MetricSpec {
    name: "EventsPublished",
    unit: Unit::Count,
    dimensions: &["Publisher"],
    help: "outbox events published to the bus",
};
/// Outbox events parked in the events DLQ, by `Publisher`.
pub const EVENTS_PARKED: MetricSpec = MetricSpec {
    name: "EventsParked",
    unit: Unit::Count,
    dimensions: &["Publisher"],
    help: "outbox events the bus refused, parked for replay",
};
/// What the expiry sweep did, by `Action`.
pub const SWEEP_ACTIONS: MetricSpec = MetricSpec {
    name: "SweepActions",
    unit: Unit::Count,
    dimensions: &["Action"],
    help: "credentials expired, renewals started or deferred, drained predecessors retired",
};
/// The age of the oldest approval still pending.
pub const PENDING_APPROVAL_AGE: MetricSpec = MetricSpec {
    name: "PendingApprovalAge",
    unit: Unit::Seconds,
    dimensions: &[],
    help: "age of the oldest pending approval (0 when none), measured by the reaper",
};
/// Requests the reaper acted on, by `Action` (started, resolved, deferred).
pub const REQUESTS_REAPED: MetricSpec = MetricSpec {
    name: "RequestsReaped",
    unit: Unit::Count,
    dimensions: &["Action"],
    help: "unsettled requests the reaper started, resolved (failed and parked) or deferred",
};
/// What replay did with parked messages, by `Queue` and `Outcome`.
pub const REPLAY_MESSAGES: MetricSpec = MetricSpec {
    name: "ReplayMessages",
    unit: Unit::Count,
    dimensions: &["Queue", "Outcome"],
    help: "parked messages replayed, still failing, deferred by the breaker, waiting or obsolete",
};

impl MetricSpec {
    /// The unit as CloudWatch spells it.
    pub fn cloudwatch_unit(&self) -> &'static str {
        match self.unit {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
            _ => "None",
        }
    }
}

/// Every metric Clavis emits.
pub const CATALOGUE: &[MetricSpec] = &[
    STEP_INVOCATIONS,
    STEP_DURATION,
    API_REQUESTS,
    API_ANSWERS,
    API_LATENCY,
    ISSUANCE_SETTLED,
    ISSUANCE_LATENCY,
    ISSUANCE_REFUSED,
    REVOCATION_PROPAGATION,
    EVENTS_PUBLISHED,
    EVENTS_PARKED,
    SWEEP_ACTIONS,
    PENDING_APPROVAL_AGE,
    REQUESTS_REAPED,
    REPLAY_MESSAGES,
];

/// How an invocation or request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did what was asked.
    Ok,
    /// It refused: the caller's mistake or a decision (4xx, `Clavis.User.*`).
    Refused,
    /// Something failed that was not the caller's doing (5xx, faults).
    Fault,
}

impl Outcome {
    /// The dimension value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Fault => "fault",
        }
    }

    /// The outcome an HTTP status says.
    pub fn of_status(status: u16) -> Self {
        match status {
            500.. => Self::Fault,
            400..500 => Self::Refused,
            _ => Self::Ok,
        }
    }
}

/// How an issuance request settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// A credential is active.
    Completed,
    /// Policy, an approver or the approval deadline said no.
    Denied,
    /// A user error ended it (the client changed, the request was invalid).
    Refused,
    /// A fault ended it: this is what the success SLO counts against.
    Failed,
}

impl Settled {
    /// The dimension value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Denied => "denied",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }
}

struct Emitter {
    collector: &'static Collector,
}

static EMITTER: OnceLock<Option<Emitter>> = OnceLock::new();

/// Installs the EMF recorder for this process, under `METRICS_NAMESPACE` (default
/// [`DEFAULT_NAMESPACE`]). Safe to call twice; a failure leaves metrics off and says so.
pub fn init() {
    EMITTER.get_or_init(|| {
        let namespace =
            std::env::var("METRICS_NAMESPACE").unwrap_or_else(|_| DEFAULT_NAMESPACE.to_owned());
        match metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(namespace)
            .init()
        {
            Ok(collector) => {
                describe();
                Some(Emitter { collector })
            }
            Err(e) => {
                tracing::error!(error = %e, "metrics are off: the EMF recorder did not install");
                None
            }
        }
    });
}

/// Tells the recorder each metric's unit.
fn describe() {
    for spec in CATALOGUE {
        match spec.unit {
            Unit::Count => metrics::describe_counter!(spec.name, spec.unit, spec.help),
            _ => metrics::describe_histogram!(spec.name, spec.unit, spec.help),
        }
    }
}

/// Starts an invocation: the documents written until the next `begin` carry its Lambda request
/// id and X-Ray trace id as properties. A no-op before [`init`].
pub fn begin(aws_request_id: &str, trace_id: Option<&str>) {
    let Some(Some(emitter)) = EMITTER.get() else {
        return;
    };
    let collector = emitter.collector;
    collector.set_property("aws_request_id", aws_request_id);
    match trace_id {
        Some(t) => collector.set_property("xray_trace_id", t),
        None => collector.remove_property("xray_trace_id"),
    };
}

/// Writes what was recorded since the last flush as EMF documents to stdout, then starts
/// afresh: at the end of every invocation, and within one that records more values of a
/// distribution than a document holds. A no-op before [`init`].
pub fn flush() {
    let Some(Some(emitter)) = EMITTER.get() else {
        return;
    };
    let mut documents = Vec::with_capacity(2048);
    if let Err(e) = emitter.collector.flush(&mut documents) {
        tracing::warn!(error = %e, "metrics not written");
        return;
    }
    // One write, so no log line lands inside a document.
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(&documents)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        tracing::warn!("metrics not written: stdout refused them");
    }
}

/// Values of one distribution a flush may carry: EMF allows 100 per metric and document, and
/// the recorder drops what does not fit.
pub const VALUES_PER_DOCUMENT: usize = 100;

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One invocation of the function `stage` ended with `outcome` after `elapsed`.
pub fn step_invoked(stage: &'static str, outcome: Outcome, elapsed: Duration) {
    metrics::counter!(STEP_INVOCATIONS.name, "Stage" => stage, "Outcome" => outcome.as_str())
        .increment(1);
    metrics::histogram!(STEP_DURATION.name, "Stage" => stage).record(millis(elapsed));
}

/// The api answered `route` with `status` after `elapsed`.
pub fn api_answered(route: &'static str, status: u16, elapsed: Duration) {
    let outcome = Outcome::of_status(status).as_str();
    metrics::counter!(API_REQUESTS.name, "Route" => route, "Outcome" => outcome).increment(1);
    metrics::counter!(API_ANSWERS.name, "Outcome" => outcome).increment(1);
    metrics::histogram!(API_LATENCY.name, "Route" => route).record(millis(elapsed));
}

/// A request accepted at `requested_at` (when known) settled as `settled` at `now`, for
/// `reason` unless it completed; `held` if it waited for approvers.
pub fn issuance_settled(
    settled: Settled,
    reason: Option<&str>,
    held: bool,
    requested_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) {
    metrics::counter!(ISSUANCE_SETTLED.name, "Outcome" => settled.as_str()).increment(1);
    if let Some(requested_at) = requested_at {
        let latency = (now - requested_at)
            .max(time::Duration::ZERO)
            .unsigned_abs();
        let path = if held { "approval" } else { "direct" };
        metrics::histogram!(ISSUANCE_LATENCY.name, "Outcome" => settled.as_str(), "Path" => path)
            .record(millis(latency));
    }
    if let Some(reason) = reason {
        metrics::counter!(ISSUANCE_REFUSED.name, "Reason" => reason.to_owned()).increment(1);
    }
}

/// A revocation's event reached the bus `lag` after its commit.
pub fn revocation_propagated(lag: Duration) {
    metrics::histogram!(REVOCATION_PROPAGATION.name).record(millis(lag));
}

/// `publisher` put `published` on the bus at `now` and parked `parked` more: counts both,
/// and for each revocation among the published how long after its commit it went out.
pub fn events_handled<'a>(
    publisher: &'static str,
    published: impl IntoIterator<Item = &'a OutboxRecord>,
    parked: usize,
    now: OffsetDateTime,
) {
    let mut count = 0u64;
    let mut lags = 0usize;
    for record in published {
        count += 1;
        if !record.is_revocation() {
            continue;
        }
        if let Some(committed) = record.occurred_at() {
            let lag = (now - committed).max(time::Duration::ZERO);
            revocation_propagated(lag.unsigned_abs());
            lags += 1;
            // A recovery publishes many revocations at once: none of their lags is dropped.
            if lags.is_multiple_of(VALUES_PER_DOCUMENT) {
                flush();
            }
        }
    }
    metrics::counter!(EVENTS_PUBLISHED.name, "Publisher" => publisher).increment(count);
    metrics::counter!(EVENTS_PARKED.name, "Publisher" => publisher)
        .increment(u64::try_from(parked).unwrap_or(u64::MAX));
}

/// The expiry sweep did `action` `n` times.
pub fn swept(action: &'static str, n: u64) {
    metrics::counter!(SWEEP_ACTIONS.name, "Action" => action).increment(n);
}

/// The oldest pending approval is `age` old (zero when there is none).
pub fn pending_approval_age(age: Duration) {
    metrics::histogram!(PENDING_APPROVAL_AGE.name).record(age.as_secs_f64());
}

/// The reaper did `action` to `n` requests.
pub fn reaped(action: &'static str, n: u64) {
    metrics::counter!(REQUESTS_REAPED.name, "Action" => action).increment(n);
}

/// Replay left `n` messages of `queue` with `outcome`.
pub fn replayed(queue: &'static str, outcome: &'static str, n: u64) {
    metrics::counter!(REPLAY_MESSAGES.name, "Queue" => queue, "Outcome" => outcome).increment(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_status_class() {
        assert_eq!(Outcome::of_status(200), Outcome::Ok);
        assert_eq!(Outcome::of_status(202), Outcome::Ok);
        assert_eq!(Outcome::of_status(409), Outcome::Refused);
        assert_eq!(Outcome::of_status(503), Outcome::Fault);
    }

    #[test]
    fn the_catalogue_names_each_metric_once_with_a_cloudwatch_unit() {
        let mut names: Vec<_> = CATALOGUE.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
        for spec in CATALOGUE {
            assert_ne!(spec.cloudwatch_unit(), "None", "{}", spec.name);
            assert!(spec.dimensions.len() <= 30);
        }
    }

    /// One test owns the process-wide recorder: it records through every recorder and reads
    /// the documents back as CloudWatch would.
    #[test]
    fn recorded_metrics_flush_as_emf_documents_with_their_dimensions() {
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace("Clavis/test")
            .init()
            .expect("the only recorder in this test binary");
        describe();
        step_invoked("mint-credential", Outcome::Ok, Duration::from_millis(12));
        let now = OffsetDateTime::now_utc();
        let accepted = now - time::Duration::milliseconds(900);
        issuance_settled(Settled::Denied, Some("policy"), false, Some(accepted), now);
        revocation_propagated(Duration::from_millis(250));
        collector.set_property("xray_trace_id", "1-abc");
        let mut out = Vec::new();
        collector.flush(&mut out).unwrap();
        let docs: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let find = |name: &str| {
            docs.iter()
                .find(|d| d.get(name).is_some())
                .unwrap_or_else(|| panic!("{name} missing from {docs:?}"))
        };
        let step = find("StepInvocations");
        assert_eq!(step["Stage"], "mint-credential");
        assert_eq!(step["Outcome"], "ok");
        assert_eq!(step["StepInvocations"], 1);
        assert_eq!(step["xray_trace_id"], "1-abc");
        let aws = &step["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(aws["Namespace"], "Clavis/test");
        assert_eq!(
            aws["Dimensions"][0],
            serde_json::json!(["Stage", "Outcome"])
        );
        let latency = find("IssuanceLatency");
        assert_eq!(latency["Outcome"], "denied");
        assert_eq!(latency["Path"], "direct");
        assert_eq!(latency["IssuanceLatency"], serde_json::json!([900.0]));
        let unit = latency["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"].clone();
        assert_eq!(unit, "Milliseconds");
        assert_eq!(find("IssuanceRefused")["Reason"], "policy");
        let lag = find("RevocationPropagation");
        assert_eq!(
            lag["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            serde_json::json!([])
        );
        // Flushed counters start again from zero and are not written again.
        let mut again = Vec::new();
        collector.flush(&mut again).unwrap();
        assert!(again.is_empty(), "{}", String::from_utf8_lossy(&again));
    }
}
