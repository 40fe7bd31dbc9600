//! `RecordFailure`, the `Catch` target of every workflow task: [`clavis_lambda::failure`] holds
//! the logic (the reaper shares it).

pub use clavis_lambda::failure::{Failure, Recorded, problem_of, record, record_failure};

#[cfg(test)]
mod samples {
    #[test]
    fn the_sample_event_is_a_valid_input() {
        let text = include_str!("../../../events/record-failure.json");
        let failure =
            clavis_lambda::step::decode::<super::Failure>(serde_json::from_str(text).unwrap())
                .expect("events/record-failure.json");
        assert!(matches!(failure, super::Failure::Issue(t) if !t.error.is_user_error()));
        let revocation = serde_json::json!({
            "client_id": "cli_01KBZ3F9A1B2C3D4E5F6G7H8J9", "attempt": 1, "more": true, "revoked": 25,
            "error": {"Error": "States.Timeout", "Cause": ""}
        });
        let failure = clavis_lambda::step::decode::<super::Failure>(revocation).unwrap();
        assert!(matches!(failure, super::Failure::ClientRevocation(f) if f.attempt == 1));
    }
}

#[cfg(test)]
mod workflows {
    use serde_json::Value;

    const MACHINES: [(&str, &str); 4] = [
        (
            "issue",
            include_str!("../../../infra/statemachines/issue.asl.json"),
        ),
        (
            "rotate",
            include_str!("../../../infra/statemachines/rotate.asl.json"),
        ),
        (
            "revoke-client",
            include_str!("../../../infra/statemachines/revoke-client.asl.json"),
        ),
        (
            "health-check",
            include_str!("../../../infra/statemachines/health-check.asl.json"),
        ),
    ];

    fn states(text: &str) -> serde_json::Map<String, Value> {
        let asl: Value = serde_json::from_str(text).unwrap();
        asl["States"].as_object().unwrap().clone()
    }

    fn retried(state: &Value) -> Vec<String> {
        state["Retry"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["ErrorEquals"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect()
    }

    #[test]
    fn every_lambda_task_retries_what_dies_without_an_error_of_its_own() {
        for (machine, text) in MACHINES {
            for (name, state) in states(text) {
                let resource = state["Resource"].as_str().unwrap_or_default();
                if !resource.starts_with("arn:aws:states:::lambda:invoke") {
                    continue;
                }
                let retried = retried(&state);
                if resource.ends_with(".waitForTaskToken") {
                    // The approval's deadline is States.Timeout: it must end the wait, not retry it.
                    assert!(
                        !retried.iter().any(|e| e == "States.Timeout"),
                        "{machine}.{name}"
                    );
                    continue;
                }
                for error in ["Lambda.Unknown", "Sandbox.Timedout", "States.Timeout"] {
                    assert!(
                        retried.iter().any(|e| e == error),
                        "{machine}.{name} does not retry {error}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_failing_record_failure_still_parks_the_input() {
        for (machine, text) in MACHINES.iter().take(3) {
            let states = states(text);
            let catch = &states["RecordFailure"]["Catch"][0];
            assert_eq!(catch["ErrorEquals"][0], "States.ALL", "{machine}");
            let letter = &states[catch["Next"].as_str().unwrap()];
            assert_eq!(letter["Parameters"]["unrecorded"], true, "{machine}");
            assert_eq!(
                letter["Parameters"]["execution_input.$"], "$$.Execution.Input",
                "{machine}"
            );
            let park = &states[letter["Next"].as_str().unwrap()];
            assert_eq!(
                park["Resource"], "arn:aws:states:::sqs:sendMessage",
                "{machine}"
            );
            assert_eq!(
                park["Parameters"]["QueueUrl"], "${WorkflowDlqUrl}",
                "{machine}"
            );
            // What it parks is a dead letter replay can read.
            let parked: clavis_core::workflow::WorkflowDeadLetter =
                serde_json::from_value(serde_json::json!({
                    "workflow": letter["Parameters"]["workflow"],
                    "execution_input": {"request_id": "req_01KBZ3G5Q6M8N0P2R4T6V8X0Y2"},
                    "error": {"Error": "States.Timeout", "Cause": ""},
                    "unrecorded": true,
                }))
                .unwrap();
            assert!(parked.unrecorded);
        }
    }
}
