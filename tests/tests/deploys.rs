//! Safe deploys: every function is called through its `live` alias, CodeDeploy moves each alias
//! gradually with rollback alarms that cannot depend on what they guard, and the api's
//! pre-traffic hook passes a healthy version and fails one whose dependencies fail.

use std::path::Path;

use clavis_tests::{function_name, inject_fault, invoke, sdk, stack};
use tokio::sync::Mutex;

/// The hook's tests share the health-check state machine: one fails it on purpose.
static HOOK: Mutex<()> = Mutex::const_new(());
use serde_yaml_ng::Value;

fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn tagged<'a>(value: &'a Value, tag: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

/// Every `!Ref`/`!GetAtt` target inside `value`, as written.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Tagged(t) => {
            if let Some(s) = t.value.as_str() {
                found.push(s.split('.').next().unwrap_or(s).to_owned());
            }
            references(&t.value, found);
        }
        Value::Mapping(m) => m.values().for_each(|v| references(v, found)),
        Value::Sequence(s) => s.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[test]
fn state_machines_call_the_live_alias_of_every_function() {
    let t = template();
    let mut seen = 0;
    for (id, resource) in t["Resources"].as_mapping().unwrap() {
        if resource["Type"] != "AWS::Serverless::StateMachine" {
            continue;
        }
        for (key, value) in resource["Properties"]["DefinitionSubstitutions"]
            .as_mapping()
            .unwrap()
        {
            if !key.as_str().unwrap().ends_with("FunctionArn") {
                continue;
            }
            seen += 1;
            let target = tagged(value, "Ref").and_then(Value::as_str);
            assert!(
                target.is_some_and(|t| t.ends_with("Function.Alias")),
                "{id:?}: {key:?} must be !Ref <Function>.Alias, is {value:?}"
            );
        }
    }
    assert!(seen >= 20, "{seen}");
    assert_eq!(t["Globals"]["Function"]["AutoPublishAlias"], "live");
}

#[test]
fn every_function_deploys_gradually_and_rolls_back_on_alarms_that_do_not_depend_on_it() {
    let t = template();
    let globals = &t["Globals"]["Function"]["DeploymentPreference"];
    assert!(tagged(&globals["Type"], "Ref").is_some_and(|r| r == "StepDeploymentType"));
    let api = &t["Resources"]["ApiFunction"]["Properties"]["DeploymentPreference"];
    assert!(tagged(&api["Type"], "Ref").is_some_and(|r| r == "ApiDeploymentType"));
    assert_eq!(
        t["Parameters"]["ApiDeploymentType"]["Default"],
        "Canary10Percent5Minutes"
    );
    assert_eq!(
        t["Parameters"]["StepDeploymentType"]["Default"],
        "Linear10PercentEvery1Minute"
    );
    assert!(
        tagged(&api["Hooks"]["PreTraffic"], "Ref").is_some_and(|r| r == "PreTrafficCheckFunction")
    );
    // The hook is not itself deployed through CodeDeploy, and CodeDeploy's role may call it.
    let hook = &t["Resources"]["PreTrafficCheckFunction"]["Properties"];
    assert_eq!(hook["DeploymentPreference"]["Enabled"], false);
    let name = tagged(&hook["FunctionName"], "Sub").and_then(Value::as_str);
    assert!(
        name.is_some_and(|n| n.starts_with("CodeDeployHook_")),
        "{name:?}"
    );

    // Rollback alarms (switchable for a fix shipped during an incident) exist, none reads the
    // HTTP API (which depends on the api's alias: a cycle) or refers to a function resource,
    // and each judges a rate over one-minute periods, not a backlog that predates the deploy.
    let choice = tagged(&globals["Alarms"], "If")
        .and_then(Value::as_sequence)
        .unwrap();
    assert_eq!(choice[0], "RollbackOnAlarms");
    assert_eq!(choice[2], Value::Sequence(vec![]), "off means no alarms");
    let alarms: Vec<&Value> = choice[1].as_sequence().unwrap().iter().collect();
    assert!(alarms.len() >= 4);
    assert!(
        api.get("Alarms").is_none(),
        "the api adds none that could block it"
    );
    for alarm in alarms {
        let id = tagged(alarm, "Ref").and_then(Value::as_str).unwrap();
        let resource = &t["Resources"][id];
        assert_eq!(resource["Type"], "AWS::CloudWatch::Alarm", "{id}");
        let mut refs = Vec::new();
        references(&resource["Properties"], &mut refs);
        assert!(
            !refs.iter().any(|r| r == "ClavisHttpApi"),
            "{id} reads the HTTP API"
        );
        assert!(
            !refs.iter().any(|r| r.ends_with("Function")),
            "{id} refers to a function"
        );
        let properties = &resource["Properties"];
        let periods: Vec<u64> = std::iter::once(&properties["Period"])
            .chain(
                properties["Metrics"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .map(|m| &m["MetricStat"]["Period"]),
            )
            .filter_map(Value::as_u64)
            .collect();
        assert!(
            !periods.is_empty() && periods.iter().all(|p| *p == 60),
            "{id}: {periods:?}"
        );
        let metric = properties["MetricName"].as_str().unwrap_or_default();
        assert!(
            !metric.starts_with("ApproximateNumberOfMessages"),
            "{id} reads a queue's depth"
        );
    }
}

#[tokio::test]
async fn the_local_state_machines_invoke_aliases() {
    let sfn = aws_sdk_sfn::Client::new(&sdk().await);
    for arn in stack().state_machines.values() {
        let definition = sfn
            .describe_state_machine()
            .state_machine_arn(arn)
            .send()
            .await
            .unwrap()
            .definition;
        let asl: serde_json::Value = serde_json::from_str(&definition).unwrap();
        for (name, state) in asl["States"].as_object().unwrap() {
            if let Some(function) = state["Parameters"]["FunctionName"].as_str() {
                assert!(function.ends_with(":live"), "{arn} {name}: {function}");
            }
        }
    }
}

#[tokio::test]
async fn the_pre_traffic_hook_passes_a_healthy_version_on_a_dry_run() {
    let _serial = HOOK.lock().await;
    let answer = invoke(
        &function_name("pre-traffic-check"),
        &serde_json::json!({"dry_run": true}),
    )
    .await;
    assert_eq!(answer.function_error, None, "{:?}", answer.body);
    let verdict = answer.body;
    assert_eq!(verdict["passed"], true, "{verdict}");
    assert_eq!(verdict["reported"], false);
    let checks: Vec<&str> = verdict["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        ["api-liveness", "api-signing-keys", "health-check-workflow"]
    );
}

#[tokio::test]
async fn the_pre_traffic_hook_fails_when_the_health_check_cannot_run() {
    let _serial = HOOK.lock().await;
    let machine = stack()
        .state_machines
        .values()
        .find(|arn| arn.ends_with("-health-check"))
        .expect("the health-check state machine")
        .clone();
    let fault = inject_fault("states", "StartExecution", &machine).await;
    let answer = invoke(
        &function_name("pre-traffic-check"),
        &serde_json::json!({"dry_run": true}),
    )
    .await;
    assert!(fault.hits().await > 0, "the fault was never hit");
    drop(fault);
    assert_eq!(answer.function_error, None, "{:?}", answer.body);
    let verdict = answer.body;
    assert_eq!(verdict["passed"], false, "{verdict}");
    let failing: Vec<&str> = verdict["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["health-check-workflow"], "{verdict}");
}

#[tokio::test]
async fn a_hook_event_without_codedeploy_ids_is_refused() {
    let answer = invoke(
        &function_name("pre-traffic-check"),
        &serde_json::json!({"DeploymentId": "d-EXAMPLE"}),
    )
    .await;
    assert!(answer.function_error.is_some(), "{:?}", answer.body);
    assert_eq!(
        answer.body["errorType"], "Clavis.User.invalid-request",
        "{:?}",
        answer.body
    );
}
