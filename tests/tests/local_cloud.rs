//! The local cloud itself: state machines run the real Rust functions through the Lambda
//! bridge, and the bootstrap happens once.

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use clavis_tests::{
    basic, function_name, http, invoke, operator_auth, sdk, stack, stack_logs, url,
};
use serde_json::{Value, json};

#[tokio::test]
async fn the_health_check_state_machine_runs_the_real_rust_function() {
    let s = stack();
    let arn = s
        .state_machines
        .iter()
        .find(|(name, _)| name.contains("HealthCheck") || name.contains("health-check"))
        .map(|(_, arn)| arn.clone())
        .expect("health-check state machine");
    let sfn = aws_sdk_sfn::Client::new(&sdk().await);
    let name = format!("test-{}", clavis_core::ids::RequestId::generate().ulid());
    let started = sfn
        .start_execution()
        .state_machine_arn(&arn)
        .name(&name)
        .input("{}")
        .send()
        .await
        .unwrap();
    let execution = started.execution_arn().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let done = loop {
        let d = sfn
            .describe_execution()
            .execution_arn(&execution)
            .send()
            .await
            .unwrap();
        if d.status() != &ExecutionStatus::Running {
            break d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "execution still running"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done.status(), &ExecutionStatus::Succeeded, "{done:?}");
    // Only the Rust function knows the key id from KMS and the stage: canned output cannot.
    let output: Value = serde_json::from_str(done.output().unwrap_or("null")).unwrap();
    assert_eq!(output["status"], "ok", "{output}");
    let kid = output["signing_key_id"].as_str().unwrap();
    assert!(
        s.signing_key_id.ends_with(kid),
        "{kid} vs {}",
        s.signing_key_id
    );
}

#[tokio::test]
async fn a_second_bootstrap_is_a_conflict_that_reveals_nothing() {
    let inv = invoke(&function_name("bootstrap-operator"), &json!({})).await;
    assert!(inv.function_error.is_some(), "{inv:?}");
    assert_eq!(inv.body["errorType"], "Clavis.User.conflict", "{inv:?}");
    assert!(!inv.body.to_string().contains("clv_"));
}

#[tokio::test]
async fn a_function_error_reaches_the_invoker_with_its_clavis_name() {
    let inv = invoke(
        &function_name("bootstrap-operator"),
        &json!({"ttl_days": 0}),
    )
    .await;
    assert_eq!(
        inv.body["errorType"], "Clavis.User.invalid-request",
        "{inv:?}"
    );
}

#[tokio::test]
async fn the_operator_secret_never_reaches_a_log() {
    let s = stack();
    // Use it, rightly and wrongly, so every code path that sees it has run.
    let me = url(&format!("/v1/clients/{}", s.operator_client_id));
    let ok = http()
        .get(&me)
        .header("authorization", operator_auth())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let mut wrong_client = s.operator_client_id.clone();
    let last = wrong_client.pop();
    wrong_client.push(if last == Some('0') { '1' } else { '0' });
    let bad = basic(&wrong_client, &s.operator_client_secret);
    let refused = http()
        .get(&me)
        .header("authorization", bad)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // The random part alone is what must never leak (the ULID in front is the credential id).
    let random = s
        .operator_client_secret
        .split('_')
        .nth(3)
        .expect("secret format");
    let logs = stack_logs();
    assert!(
        logs.iter()
            .any(|(p, _)| p.to_string_lossy().contains("lambda")),
        "{logs:?}"
    );
    for (path, text) in logs {
        assert!(
            !text.contains(random),
            "{} contains the operator secret",
            path.display()
        );
    }
}
