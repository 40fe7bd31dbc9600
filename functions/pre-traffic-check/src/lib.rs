//! `pre-traffic-check`: CodeDeploy's pre-traffic hook for the api. Before any traffic moves to
//! the api version being deployed, it calls that version directly (liveness, and the JWKS,
//! which needs its signing key) and runs the `health-check` workflow (table and key reachable
//! from the workflow side); every check must pass, or CodeDeploy rolls the alias back and the
//! stack update fails. Invoked with `{"dry_run": true}` it only answers the verdict, for an
//! operator (or a test) to see what a deploy would decide.

use std::future::Future;
use std::time::Duration;

use clavis_aws::deploy::{FunctionInvoker, HookReporter};
use clavis_aws::workflows::{ExecutionState, Workflows};
use clavis_core::{Error, FieldViolation, SystemFault, UserError};
use serde::{Deserialize, Serialize};

/// How long the health-check workflow may take before the check fails.
pub const WORKFLOW_DEADLINE: Duration = Duration::from_secs(60);

/// The invocation: CodeDeploy's hook event, or an operator's dry run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct HookEvent {
    /// The deployment asking (from CodeDeploy).
    #[serde(rename = "DeploymentId", default)]
    pub deployment_id: Option<String>,
    /// The hook execution to answer (from CodeDeploy).
    #[serde(rename = "LifecycleEventHookExecutionId", default)]
    pub hook_execution_id: Option<String>,
    /// Check only; report to nobody.
    #[serde(default)]
    pub dry_run: bool,
}

impl HookEvent {
    /// Whom to report to: `None` for a dry run; an error if CodeDeploy's ids are incomplete.
    pub fn report_to(&self) -> Result<Option<(&str, &str)>, UserError> {
        if self.dry_run {
            return Ok(None);
        }
        match (&self.deployment_id, &self.hook_execution_id) {
            (Some(d), Some(h)) if !d.is_empty() && !h.is_empty() => Ok(Some((d, h))),
            _ => Err(UserError::Invalid(vec![FieldViolation::new(
                "input",
                "needs DeploymentId and LifecycleEventHookExecutionId, or dry_run: true",
            )])),
        }
    }
}

/// One check and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// What was seen (status codes, states; never a body that could hold a secret).
    pub detail: String,
}

/// The hook's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Every check passed.
    pub passed: bool,
    /// Each check.
    pub checks: Vec<Check>,
    /// Whether CodeDeploy was told (false on a dry run).
    pub reported: bool,
}

/// What the checks need from the world: the api version under test, and the workflow.
pub trait Probe {
    /// Calls `GET path` on the version being deployed: its status and JSON body.
    fn get(&self, path: &str) -> impl Future<Output = Result<(u16, serde_json::Value), Error>>;
    /// Runs the health-check workflow to its end (or `deadline`): its final status.
    fn health_check(&self, deadline: Duration) -> impl Future<Output = Result<String, Error>>;
}

fn failed(name: &'static str, e: &Error) -> Check {
    Check {
        name,
        passed: false,
        detail: e.to_string(),
    }
}

/// Runs every check (all of them, so the answer says everything that is wrong).
pub async fn checks(probe: &impl Probe) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(match probe.get("/healthz").await {
        Ok((status, body)) => Check {
            name: "api-liveness",
            passed: status == 200 && body["status"] == "ok",
            detail: format!("GET /healthz answered {status}"),
        },
        Err(e) => failed("api-liveness", &e),
    });
    out.push(match probe.get("/.well-known/jwks.json").await {
        Ok((status, body)) => {
            let keys = body["keys"].as_array().map_or(0, Vec::len);
            Check {
                name: "api-signing-keys",
                passed: status == 200 && keys > 0,
                detail: format!("GET /.well-known/jwks.json answered {status} with {keys} keys"),
            }
        }
        Err(e) => failed("api-signing-keys", &e),
    });
    out.push(match probe.health_check(WORKFLOW_DEADLINE).await {
        Ok(status) => Check {
            name: "health-check-workflow",
            passed: status == "SUCCEEDED",
            detail: format!("the health-check execution ended {status}"),
        },
        Err(e) => failed("health-check-workflow", &e),
    });
    out
}

/// The verdict of `checks`, before reporting.
pub fn verdict(checks: Vec<Check>) -> Verdict {
    Verdict {
        passed: checks.iter().all(|c| c.passed),
        checks,
        reported: false,
    }
}

/// Runs the checks and, unless this is a dry run, tells CodeDeploy the verdict. Only a failed
/// report is an error (CodeDeploy then times the hook out and rolls back: still safe).
pub async fn hook(
    event: HookEvent,
    probe: &impl Probe,
    reporter: &HookReporter,
) -> Result<Verdict, Error> {
    let report_to = event.report_to()?;
    let mut verdict = verdict(checks(probe).await);
    for check in &verdict.checks {
        tracing::info!(
            check = check.name,
            passed = check.passed,
            detail = check.detail,
            "pre-traffic check"
        );
    }
    if let Some((deployment_id, hook_execution_id)) = report_to {
        reporter
            .report(deployment_id, hook_execution_id, verdict.passed)
            .await?;
        verdict.reported = true;
    }
    tracing::info!(
        passed = verdict.passed,
        reported = verdict.reported,
        "pre-traffic verdict"
    );
    Ok(verdict)
}

/// The real world: the api version CodeDeploy is about to shift to, and the workflow.
pub struct Deployed {
    /// Invokes the version.
    pub invoker: FunctionInvoker,
    /// The api's version ARN under test (`API_FUNCTION_VERSION`).
    pub api_version: String,
    /// Starts and follows the workflow.
    pub workflows: Workflows,
    /// The health-check state machine.
    pub health_check_arn: String,
}

impl Probe for Deployed {
    async fn get(&self, path: &str) -> Result<(u16, serde_json::Value), Error> {
        let invoked = self
            .invoker
            .invoke(&self.api_version, &http_get(path))
            .await?;
        if let Some(error) = invoked.function_error {
            return Err(SystemFault::Internal(format!("the api version failed: {error}")).into());
        }
        Ok(http_answer(&invoked.payload))
    }

    async fn health_check(&self, deadline: Duration) -> Result<String, Error> {
        let name = format!("pre-traffic-{}", ulid::Ulid::generate());
        self.workflows
            .start(&self.health_check_arn, &name, "{}")
            .await?;
        let started = std::time::Instant::now();
        loop {
            match self
                .workflows
                .state_of(&self.health_check_arn, &name)
                .await?
            {
                ExecutionState::Ended(status) => return Ok(status),
                ExecutionState::Running | ExecutionState::Missing
                    if started.elapsed() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                _ => return Ok("STILL_RUNNING_AT_DEADLINE".to_owned()),
            }
        }
    }
}

/// An API Gateway HTTP API (payload 2.0) `GET` of `path`, as the api's alias receives it.
pub fn http_get(path: &str) -> serde_json::Value {
    let now = time::OffsetDateTime::now_utc();
    let request_id = ulid::Ulid::generate().to_string();
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"accept": "application/json", "user-agent": "clavis-pre-traffic-check"},
        "requestContext": {
            "accountId": "pre-traffic",
            "apiId": "pre-traffic",
            "domainName": "pre-traffic.invalid",
            "domainPrefix": "pre-traffic",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "clavis-pre-traffic-check"
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": now.unix_timestamp() * 1000
        },
        "isBase64Encoded": false
    })
}

/// The status and JSON body of an HTTP API (payload 2.0) response.
pub fn http_answer(payload: &serde_json::Value) -> (u16, serde_json::Value) {
    let status = payload["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(0);
    let body = payload["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null);
    (status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        health: u16,
        keys: usize,
        workflow: Result<&'static str, ()>,
    }

    impl Probe for Fake {
        async fn get(&self, path: &str) -> Result<(u16, serde_json::Value), Error> {
            Ok(match path {
                "/healthz" => (self.health, serde_json::json!({"status": "ok"})),
                _ => (
                    200,
                    serde_json::json!({"keys": vec![serde_json::json!({}); self.keys]}),
                ),
            })
        }

        async fn health_check(&self, _: Duration) -> Result<String, Error> {
            self.workflow.map(str::to_owned).map_err(|()| {
                SystemFault::Unavailable {
                    service: "states",
                    detail: "down".into(),
                }
                .into()
            })
        }
    }

    const HEALTHY: Fake = Fake {
        health: 200,
        keys: 1,
        workflow: Ok("SUCCEEDED"),
    };

    #[tokio::test]
    async fn a_healthy_version_passes_every_check() {
        let v = verdict(checks(&HEALTHY).await);
        assert!(v.passed, "{v:?}");
        assert_eq!(v.checks.len(), 3);
    }

    #[tokio::test]
    async fn any_failing_check_fails_the_verdict_and_is_named() {
        for (fake, name) in [
            (
                Fake {
                    health: 503,
                    ..HEALTHY
                },
                "api-liveness",
            ),
            (Fake { keys: 0, ..HEALTHY }, "api-signing-keys"),
            (
                Fake {
                    workflow: Ok("FAILED"),
                    ..HEALTHY
                },
                "health-check-workflow",
            ),
            (
                Fake {
                    workflow: Err(()),
                    ..HEALTHY
                },
                "health-check-workflow",
            ),
        ] {
            let v = verdict(checks(&fake).await);
            assert!(!v.passed, "{name}");
            let failing: Vec<_> = v.checks.iter().filter(|c| !c.passed).collect();
            assert_eq!(failing.len(), 1, "{v:?}");
            assert_eq!(failing[0].name, name);
        }
    }

    #[test]
    fn codedeploy_events_name_whom_to_report_to_and_dry_runs_nobody() {
        let event: HookEvent =
            serde_json::from_str(include_str!("../../../events/pre-traffic-check.json")).unwrap();
        assert_eq!(
            event.report_to().unwrap(),
            Some(("d-EXAMPLE123", "example-hook-execution-id"))
        );
        let dry: HookEvent = serde_json::from_str(r#"{"dry_run": true}"#).unwrap();
        assert_eq!(dry.report_to().unwrap(), None);
        let incomplete: HookEvent = serde_json::from_str(r#"{"DeploymentId": "d-1"}"#).unwrap();
        assert!(incomplete.report_to().is_err());
    }

    #[test]
    fn http_answers_are_read_from_the_payload_2_0_shape() {
        let payload = serde_json::json!({"statusCode": 200, "body": "{\"status\":\"ok\"}"});
        assert_eq!(
            http_answer(&payload),
            (200, serde_json::json!({"status": "ok"}))
        );
        assert_eq!(http_answer(&serde_json::Value::Null).0, 0);
        let event = http_get("/healthz");
        assert_eq!(event["requestContext"]["http"]["path"], "/healthz");
    }
}
