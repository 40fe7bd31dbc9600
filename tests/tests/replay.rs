//! Faults and replay: with the bus unreachable, revocations still commit and their events wait in
//! the events DLQ until replay delivers every one; with Step Functions unavailable, a client
//! revocation waits on the intake queue (its credentials stop authenticating at once all the
//! same); a workflow that failed on a fault restarts from the
//! workflow DLQ. Faults are injected into the local cloud (`infra/local/moto_faults.py`).
//!
//! The tests here run one at a time (a fault on the bus would fail other tests' events too).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use clavis_core::ids::ClientId;
use clavis_core::issuance::{credential_id_for, request_id_for};
use clavis_tests::{
    basic, closed_execution, collect_messages, credential_request, get_json, http, inject_fault,
    introspect, operator_auth, queue_depth, register_client, registry, replay, repository,
    revoke_client_request, revoke_request, settled_request, stack, token_request, url,
};
use serde_json::{Value, json};
use tokio::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::const_new(());

const SCOPES: &[&str] = &["f:read"];
const AUDIENCES: &[&str] = &["https://f.example"];

const TOKEN_FORM: &[(&str, &str)] = &[("grant_type", "client_credentials")];

/// The status of `GET /v1/revocations` (any authenticated caller) as `client_id`.
async fn registry_as(client_id: &str, secret: &str) -> u16 {
    http()
        .get(url("/v1/revocations?limit=1"))
        .header("authorization", basic(client_id, secret))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Issues `n` credentials of `client_id`.
async fn credentials(client_id: &str, n: usize) -> Vec<(String, String)> {
    clavis_tests::issue_credentials(client_id, n, SCOPES, AUDIENCES).await
}

/// Waits until `queue` holds at least `n` visible messages.
async fn await_depth(queue: &str, n: u64, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let depth = queue_depth(queue).await;
        if depth >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{queue} holds {depth} of {n} messages after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn with_the_bus_unreachable_revocations_commit_and_replay_delivers_every_event_once() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let issued = credentials(&client_id, 50).await;
    // Let the issuance events go out before the bus goes away.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let dlq = &stack().queues["events-dlq"];
    let parked_before = queue_depth(dlq).await;

    let fault = inject_fault("events", "PutEvents", &stack().event_bus_name).await;
    let mut revocations = Vec::new();
    for chunk in issued.chunks(20) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|(id, _)| {
                let id = id.clone();
                tokio::spawn(async move {
                    let resp = revoke_request(&id, "key_compromise").send().await.unwrap();
                    (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
                })
            })
            .collect();
        for handle in handles {
            revocations.push(handle.await.unwrap());
        }
    }
    assert!(
        revocations.iter().all(|(status, _)| *status == 200),
        "a revocation failed with the bus down: {revocations:?}"
    );
    // Committed at once: the registry and introspection know, whatever the bus does.
    let ids: BTreeSet<String> = issued.iter().map(|(id, _)| id.clone()).collect();
    let listed: BTreeSet<String> = registry()
        .await
        .into_iter()
        .filter(|e| e["client_id"] == client_id.as_str())
        .map(|e| e["credential_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids);
    for (_, secret) in issued.iter().step_by(7) {
        assert_eq!(introspect(secret).await, json!({"active": false}));
    }
    // Every event is parked in the events DLQ, none reached the subscriber.
    await_depth(dlq, parked_before + 50, Duration::from_secs(90)).await;
    let mentions_ours = |b: &str| b.contains("Credential Revoked") && b.contains(&client_id);
    let leaked = collect_messages(
        &stack().subscriber_queue_url,
        mentions_ours,
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(leaked, Vec::<String>::new(), "published with the bus down");

    drop(fault);
    let report = replay(json!({"queues": ["events"]})).await;
    assert!(
        report["events"]["replayed"].as_u64().unwrap() >= 50,
        "{report}"
    );
    assert_eq!(report["events"]["still_failing"], 0, "{report}");
    assert_eq!(report["events"]["unreadable"], 0, "{report}");

    let delivered = collect_messages(
        &stack().subscriber_queue_url,
        mentions_ours,
        Duration::from_secs(8),
    )
    .await;
    let mut by_event: BTreeMap<String, Value> = BTreeMap::new();
    for body in &delivered {
        let detail = serde_json::from_str::<Value>(body).unwrap()["detail"].clone();
        by_event.insert(detail["event_id"].as_str().unwrap().to_owned(), detail);
    }
    assert_eq!(by_event.len(), 50, "one event per revocation after dedupe");
    let announced: BTreeSet<String> = by_event
        .values()
        .map(|d| d["credential_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(announced, ids, "every revocation announced");
    let seqs: BTreeSet<u64> = revocations
        .iter()
        .map(|(_, body)| body["seq"].as_u64().unwrap())
        .collect();
    let announced_seqs: BTreeSet<u64> = by_event
        .values()
        .map(|d| d["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(announced_seqs, seqs, "events carry the registry seq");
}

#[tokio::test]
async fn with_step_functions_unavailable_a_client_revocation_waits_for_replay() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let issued = credentials(&client_id, 2).await;
    let machine = &stack().state_machines["revoke-client"];

    let (_, earlier) = token_request(&client_id, &issued[0].1, TOKEN_FORM).await;
    let earlier_token = earlier["access_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(&earlier_token).await["active"], true);
    // Authenticated (403: it lacks clavis.registry), until its client is revoked (401).
    assert_eq!(registry_as(&client_id, &issued[1].1).await, 403);

    let fault = inject_fault("states", "StartExecution", machine).await;
    let resp = revoke_client_request(&client_id, "key_compromise")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["credentials"], "queued");
    // The client is revoked at once; its credentials wait for the workflow to reach them, but
    // none of them authenticates any longer, and neither do tokens they were given.
    assert_eq!(
        get_json(&format!("/v1/clients/{client_id}")).await["status"],
        "revoked"
    );
    for (credential_id, secret) in &issued {
        let meta = get_json(&format!("/v1/credentials/{credential_id}")).await;
        assert_eq!(meta["status"], "active", "the workflow has not run");
        assert_eq!(introspect(secret).await, json!({"active": false}));
        let (status, refused) = token_request(&client_id, secret, TOKEN_FORM).await;
        assert_eq!((status, &refused["error"]), (401, &json!("invalid_client")));
        assert_eq!(registry_as(&client_id, secret).await, 401);
    }
    assert_eq!(introspect(&earlier_token).await, json!({"active": false}));

    // While the fault lasts, replay keeps the start queued.
    let early = replay(json!({"queues": ["intake"]})).await;
    assert!(
        early["intake"]["still_failing"].as_u64().unwrap() >= 1,
        "{early}"
    );
    drop(fault);
    let report = replay(json!({"queues": ["intake"]})).await;
    assert!(
        report["intake"]["replayed"].as_u64().unwrap() >= 1,
        "{report}"
    );
    assert_eq!(report["intake"]["still_failing"], 0, "{report}");

    let status = closed_execution(machine, &client_id, Duration::from_secs(60)).await;
    assert_eq!(status, "SUCCEEDED");
    for (credential_id, secret) in &issued {
        assert_eq!(introspect(secret).await, json!({"active": false}));
        let meta = get_json(&format!("/v1/credentials/{credential_id}")).await;
        assert_eq!(meta["status"], "revoked");
    }
}

#[tokio::test]
async fn a_client_revocation_that_failed_on_a_fault_restarts_from_the_workflow_dlq() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let issued = credentials(&client_id, 2).await;
    let machine = &stack().state_machines["revoke-client"];

    // The batch step cannot find the client's credentials: retried, then parked.
    let fault = inject_fault("dynamodb", "Query", &client_id).await;
    let resp = revoke_client_request(&client_id, "operator_request")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let status = closed_execution(machine, &client_id, Duration::from_secs(120)).await;
    assert_eq!(status, "FAILED");
    // The credentials were not reached (though they no longer authenticate: their client is
    // revoked).
    let (credential_id, secret) = &issued[1];
    let meta = get_json(&format!("/v1/credentials/{credential_id}")).await;
    assert_eq!(meta["status"], "active");
    assert_eq!(introspect(secret).await, json!({"active": false}));

    drop(fault);
    let report = replay(json!({"queues": ["workflow"]})).await;
    assert!(
        report["workflow"]["replayed"].as_u64().unwrap() >= 1,
        "{report}"
    );
    let replayed = format!("{client_id}-r1");
    let status = closed_execution(machine, &replayed, Duration::from_secs(60)).await;
    assert_eq!(status, "SUCCEEDED");
    for (credential_id, _) in &issued {
        let meta = get_json(&format!("/v1/credentials/{credential_id}")).await;
        assert_eq!(meta["status"], "revoked");
    }
    // Replaying again finds nothing of this client left to do.
    let again = replay(json!({"queues": ["workflow"]})).await;
    assert_eq!(again["workflow"]["still_failing"], 0, "{again}");
}

#[tokio::test]
async fn an_issuance_that_failed_on_a_fault_completes_after_replay_with_a_credential_of_its_own() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let key = format!("replay-{}", ClientId::generate().ulid());
    let operator = stack().operator_client_id.parse().unwrap();
    let request_id = request_id_for(&client_id.parse().unwrap(), &operator, &key);
    let first_credential = credential_id_for(&request_id, 0).to_string();

    // Sealing the pickup copy of this request's first credential fails.
    let fault = inject_fault("kms", "Encrypt", &first_credential).await;
    let resp = credential_request(
        &client_id,
        Some(&key),
        &json!({"ttl_seconds": 3600, "scopes": SCOPES, "audiences": AUDIENCES, "justification": "replay"}),
    )
    .header("prefer", "respond-async")
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 202);
    let failed = settled_request(&request_id.to_string()).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["problem"]["status"], 503, "{failed}");

    drop(fault);
    let report = replay(json!({"queues": ["workflow"]})).await;
    assert!(
        report["workflow"]["replayed"].as_u64().unwrap() >= 1,
        "{report}"
    );
    let done = settled_request(&request_id.to_string()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let credential_id = done["credential_id"].as_str().unwrap();
    assert_ne!(credential_id, first_credential, "attempt 1 mints its own");
    let picked: Value = http()
        .post(url(&format!("/v1/requests/{request_id}/secret")))
        .header("authorization", operator_auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = picked["client_secret"].as_str().expect("secret");
    assert_eq!(introspect(secret).await["active"], true);
    assert_eq!(
        introspect(secret).await["credential_id"],
        credential_id,
        "{picked}"
    );
}

#[tokio::test]
async fn a_request_whose_requester_was_revoked_meanwhile_issues_nothing() {
    let _serial = SERIAL.lock().await;
    // A second operator, allowed to request credentials.
    let requester = register_client("privileged", &["clavis.issuer"], &["clavis"]).await;
    let (_, requester_secret) =
        clavis_tests::issue_credential(&requester, &["clavis.issuer"], &["clavis"]).await;
    let target = register_client("standard", SCOPES, AUDIENCES).await;
    let key = format!("requester-{}", ClientId::generate().ulid());
    let request_id = request_id_for(&target.parse().unwrap(), &requester.parse().unwrap(), &key);

    // Its request waits on the intake queue while Step Functions is unavailable...
    let fault = inject_fault("states", "StartExecution", &request_id.to_string()).await;
    let resp = http()
        .post(url(&format!("/v1/clients/{target}/credentials")))
        .header("authorization", basic(&requester, &requester_secret))
        .header("idempotency-key", &key)
        .header("prefer", "respond-async")
        .json(&json!({"ttl_seconds": 3600, "scopes": SCOPES, "audiences": AUDIENCES, "justification": "late"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    // ... and meanwhile the requester's client is revoked (its own credentials wait for their
    // workflow, held up too, so the requester's credential is still active when the request
    // runs: only its client says no).
    // Only the start of the requester's revoke-client execution (named after the client): the
    // issue execution's input names the requester too.
    let held = inject_fault(
        "states",
        "StartExecution",
        &format!("\"name\":\"{requester}\""),
    )
    .await;
    let resp = revoke_client_request(&requester, "policy_violation")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    drop(fault);
    let report = replay(json!({"queues": ["intake"]})).await;
    assert!(
        report["intake"]["replayed"].as_u64().unwrap() >= 1,
        "{report}"
    );

    let settled = settled_request(&request_id.to_string()).await;
    assert_eq!(settled["status"], "failed", "{settled}");
    assert_eq!(settled["problem"]["status"], 403, "{settled}");
    assert!(settled["credential_id"].is_null(), "{settled}");
    let requester_credentials = repository()
        .await
        .active_credentials_of(
            &requester.parse().unwrap(),
            5,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    assert_eq!(
        requester_credentials.len(),
        1,
        "the requester's credential was still active"
    );

    // Let the client's revocation finish, so nothing stays queued.
    drop(held);
    let report = replay(json!({"queues": ["intake"]})).await;
    assert_eq!(report["intake"]["still_failing"], 0, "{report}");
}

#[tokio::test]
async fn while_step_functions_is_down_a_replay_run_tries_once_and_leaves_the_rest_queued() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let doomed = register_client("standard", SCOPES, AUDIENCES).await;
    let issue = stack().state_machines["issue"].clone();
    let revoke = stack().state_machines["revoke-client"].clone();
    let issue_down = inject_fault("states", "StartExecution", &issue).await;
    let revoke_down = inject_fault("states", "StartExecution", &revoke).await;

    // Twenty issuances and a client revocation are accepted all the same.
    let mut requests = Vec::new();
    for i in 0..20 {
        let resp = credential_request(
            &client_id,
            Some(&format!("breaker-{i}")),
            &json!({"ttl_seconds": 3600, "scopes": SCOPES, "audiences": AUDIENCES, "justification": "breaker"}),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(resp.status(), 202);
        let body: Value = resp.json().await.unwrap();
        requests.push(body["request_id"].as_str().unwrap().to_owned());
    }
    let resp = revoke_client_request(&doomed, "key_compromise")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    // The api's circuit opened after 3 failed starts: the later requests went straight to the
    // intake queue. A start may be several calls (the SDK's own retries), and a probe may
    // follow each 3 s cool-off of the local cloud; without the breaker it would be 20 or more.
    let calls = issue_down.hits().await;
    assert!(
        (3..=15).contains(&calls),
        "{calls} StartExecution calls for 20 requests"
    );

    // Still down: one run makes one attempt and leaves the rest queued.
    let run = replay(json!({"queues": ["intake"]})).await;
    assert_eq!(run["intake"]["still_failing"], 1, "{run}");
    // The rest is not even received: receives count toward the redrive to the intake DLQ.
    assert_eq!(run["intake"]["deferred"], 0, "{run}");
    assert_eq!(run["intake"]["replayed"], 0, "{run}");

    // Back: the next run starts every one, and each completes once.
    drop(issue_down);
    drop(revoke_down);
    let run = replay(json!({"queues": ["intake"]})).await;
    assert!(run["intake"]["replayed"].as_u64().unwrap() >= 21, "{run}");
    assert_eq!(run["intake"]["still_failing"], 0, "{run}");
    for request_id in &requests {
        let settled = settled_request(request_id).await;
        assert_eq!(settled["status"], "completed", "{settled}");
        let runs = clavis_tests::execution_names(&issue)
            .await
            .into_iter()
            .filter(|n| n.starts_with(request_id.as_str()))
            .count();
        assert_eq!(runs, 1, "{request_id} ran {runs} times");
    }
    let status = closed_execution(&revoke, &doomed, Duration::from_secs(60)).await;
    assert_eq!(status, "SUCCEEDED");
}

/// Follows a replay run started through the API until it ends (60 s at most).
async fn finished_run(replay_id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, run) =
            clavis_tests::get_as(&format!("/v1/replays/{replay_id}"), &operator_auth()).await;
        assert_eq!(status, 200, "{run}");
        if run["status"] == "finished" || run["status"] == "failed" {
            return run;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {run}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_replay_run_started_through_the_api_replays_parked_work_and_reports_it() {
    let _serial = SERIAL.lock().await;
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let machine = &stack().state_machines["revoke-client"];
    let fault = inject_fault("states", "StartExecution", machine).await;
    let resp = revoke_client_request(&client_id, "key_compromise")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    drop(fault);

    let resp = http()
        .post(url("/v1/replays"))
        .header("authorization", operator_auth())
        .json(&json!({"queues": ["intake"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let started: Value = resp.json().await.unwrap();
    let replay_id = started["replay_id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/replays/{replay_id}"));
    assert_eq!(started["status"], "started");
    assert_eq!(started["requested_by"], stack().operator_client_id.as_str());

    let run = finished_run(&replay_id).await;
    assert_eq!(run["status"], "finished", "{run}");
    assert!(
        run["report"]["intake"]["replayed"].as_u64().unwrap() >= 1,
        "{run}"
    );
    assert!(
        run["report"].get("events").is_none(),
        "only the intake queue: {run}"
    );
    assert!(run["finished_at"].is_string());
    let status = closed_execution(machine, &client_id, Duration::from_secs(60)).await;
    assert_eq!(status, "SUCCEEDED");
}

#[tokio::test]
async fn only_administrators_start_replays_and_bad_requests_start_nothing() {
    let _serial = SERIAL.lock().await;
    let runs = || async {
        clavis_tests::snapshot(&stack().table_name)
            .await
            .into_iter()
            .filter(|row| row.contains("REPLAY#"))
            .count()
    };
    let before = runs().await;
    for (body, status) in [
        (json!({"max_messages": 0}), 422),
        (json!({"queues": []}), 422),
        (json!({"queues": ["outbox"]}), 422),
        (json!({"replay_id": "rpl_01KBZ3F9A1B2C3D4E5F6G7H8J9"}), 422),
        (json!(["intake"]), 422),
    ] {
        let resp = http()
            .post(url("/v1/replays"))
            .header("authorization", operator_auth())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{body}");
    }
    let (auditor_id, auditor_secret) = clavis_tests::new_operator(&["clavis.auditor"]).await;
    let auditor = basic(&auditor_id, &auditor_secret);
    let resp = http()
        .post(url("/v1/replays"))
        .header("authorization", &auditor)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(runs().await, before, "nothing was started");
    for path in [
        "/v1/replays/rpl_01KBZ3F9A1B2C3D4E5F6G7H8J9",
        "/v1/replays/..%2Fx",
    ] {
        assert_eq!(clavis_tests::get_as(path, &auditor).await.0, 404, "{path}");
    }
}
