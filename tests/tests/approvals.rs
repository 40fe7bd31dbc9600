//! Risk assessment and out-of-band approval through the real issue state machine (issue 10):
//! a standard request is issued at once; a privileged one waits; neither its requester nor an
//! approver the requester sponsored may release it; the bootstrap approver does; a denial and a
//! timeout both end `denied` with reasons; every decision is in the audit export; bad input to
//! the approval routes is a problem that changes nothing.

use clavis_core::ids::ClientId;
use clavis_tests::{
    approve_as_approver, audit_export, await_message, basic, http, new_operator, operator_auth,
    pickup_secret, register_client, settled_or_held, settled_request, snapshot, stack, url,
};
use serde_json::{Value, json};
use tokio::sync::RwLock;

/// Held exclusively by the test that compares snapshots, shared by the others.
static GATE: RwLock<()> = RwLock::const_new(());

const SCOPES: &[&str] = &["billing:read"];
const AUDIENCES: &[&str] = &["https://billing.example.com"];

/// Asks for a credential for `client` as `authorization` (without waiting); the request id.
async fn request(authorization: &str, client: &str, extra: Value) -> String {
    let mut body = json!({"ttl_seconds": 3600, "scopes": SCOPES, "audiences": AUDIENCES, "justification": "approval test"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let resp = http()
        .post(url(&format!("/v1/clients/{client}/credentials")))
        .header("authorization", authorization)
        .header(
            "idempotency-key",
            format!("approval-{}", ClientId::generate().ulid()),
        )
        .header("prefer", "respond-async")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    resp.json::<Value>().await.unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A privileged client and a request for it by the bootstrap administrator, held: ids of
/// client, request and approval.
async fn held_request(extra: Value) -> (String, String, String) {
    let client = register_client("privileged", SCOPES, AUDIENCES).await;
    let request_id = request(&operator_auth(), &client, extra).await;
    let held = settled_or_held(&request_id).await;
    assert_eq!(held["status"], "pending_approval", "{held}");
    let approval_id = held["approval_id"].as_str().unwrap().to_owned();
    (client, request_id, approval_id)
}

async fn decide(authorization: &str, approval_id: &str, verb: &str, body: Value) -> (u16, Value) {
    let resp = http()
        .post(url(&format!("/v1/approvals/{approval_id}/{verb}")))
        .header("authorization", authorization)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Approving as `authorization` is a 403 that names `policy`.
async fn approval_refused_by(authorization: &str, approval_id: &str, policy: &str) {
    let (status, problem) = decide(
        authorization,
        approval_id,
        "approve",
        json!({"reason": "let me"}),
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains(policy),
        "{problem}"
    );
}

async fn approval(approval_id: &str) -> Value {
    http()
        .get(url(&format!("/v1/approvals/{approval_id}")))
        .header("authorization", operator_auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn approver() -> String {
    basic(&stack().approver_client_id, &stack().approver_client_secret)
}

#[tokio::test]
async fn a_standard_dev_request_is_issued_without_approval() {
    let _shared = GATE.read().await;
    let client = register_client("standard", SCOPES, AUDIENCES).await;
    let request_id = request(&operator_auth(), &client, json!({})).await;
    assert_eq!(settled_request(&request_id).await["status"], "completed");
    assert!(
        !audit_export(&client)
            .await
            .iter()
            .any(|r| r.entry.action == "credential.held"),
        "nothing held"
    );
}

#[tokio::test]
async fn a_privileged_request_waits_until_an_independent_approver_releases_it() {
    let _shared = GATE.read().await;
    let (client, request_id, approval_id) = held_request(json!({})).await;
    // Notification channels hear of it, without a token.
    let event = await_message(&stack().subscriber_queue_url, |body| {
        body.contains("Approval Requested") && body.contains(&approval_id)
    })
    .await;
    let body = event.body().unwrap_or_default();
    assert!(
        !body.contains("task_token") && !body.contains("clv_"),
        "{body}"
    );
    let held = approval(&approval_id).await;
    assert_eq!(held["status"], "pending");
    assert_eq!(held["policies"], json!(["privileged-tier-needs-approval"]));
    assert!(held.get("task_token").is_none(), "{held}");

    // The requester (it holds clavis.approver) may not approve its own request.
    approval_refused_by(&operator_auth(), &approval_id, "no-self-approval").await;
    // Nor may an approver it registered and issued a credential to.
    let (puppet, puppet_secret) = new_operator(&["clavis.approver"]).await;
    approval_refused_by(
        &basic(&puppet, &puppet_secret),
        &approval_id,
        "no-sock-puppets",
    )
    .await;
    assert_eq!(
        approval(&approval_id).await["approvals"],
        json!([]),
        "refusals changed nothing"
    );
    assert_eq!(
        settled_or_held(&request_id).await["status"],
        "pending_approval"
    );

    // The bootstrap approver releases it: the credential is issued to the requester.
    let (status, decided) = approve_as_approver(&approval_id, "reviewed: billing export").await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["status"], "approved");
    assert_eq!(
        decided["approvals"][0]["approver"],
        stack().approver_client_id.as_str()
    );
    let done = settled_request(&request_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let picked: Value = pickup_secret(&request_id, &operator_auth())
        .await
        .json()
        .await
        .unwrap();
    assert!(
        picked["client_secret"]
            .as_str()
            .unwrap()
            .starts_with("clv_test_")
    );
    // The same approver repeating its decision (a lost answer) gets the same approval, and
    // nothing changes; another decision is a conflict.
    let (status, again) = approve_as_approver(&approval_id, "again").await;
    assert_eq!((status, &again), (200, &decided));
    let (status, _) = decide(&approver(), &approval_id, "deny", json!({"reason": "late"})).await;
    assert_eq!(status, 409);

    // Every decision is in the client's audit chain, with its inputs and the policy version.
    let chain = audit_export(&client).await;
    clavis_core::audit::verify_chain(&chain).expect("intact");
    let actions: Vec<&str> = chain.iter().map(|r| r.entry.action.as_str()).collect();
    for wanted in ["credential.held", "approval.approved", "credential.issued"] {
        assert!(actions.contains(&wanted), "{wanted} in {actions:?}");
    }
    let hold = chain
        .iter()
        .find(|r| r.entry.action == "credential.held")
        .unwrap();
    for key in [
        "risk_score",
        "policies",
        "reasons",
        "policy_version",
        "deadline",
        "approvals_required",
    ] {
        assert!(
            hold.entry.detail.contains_key(key),
            "{key} in {:?}",
            hold.entry.detail
        );
    }
    let approved = chain
        .iter()
        .find(|r| r.entry.action == "approval.approved")
        .unwrap();
    assert_eq!(approved.entry.actor, stack().approver_client_id);
    assert_eq!(
        approved.entry.detail["approvers"],
        stack().approver_client_id
    );
}

#[tokio::test]
async fn an_operator_scope_request_waits_for_approval() {
    let _shared = GATE.read().await;
    // Any clavis.* scope, even on a standard dev client scoring 30: an operator must not mint
    // itself helpers that separation of duties would count as independent people.
    for scope in ["clavis.issuer", "clavis.admin"] {
        let operator_client = register_client("standard", &[scope], &["clavis"]).await;
        let request_id = request(
            &operator_auth(),
            &operator_client,
            json!({"scopes": [scope], "audiences": ["clavis"]}),
        )
        .await;
        let held = settled_or_held(&request_id).await;
        assert_eq!(held["status"], "pending_approval", "{scope}: {held}");
        let approval = approval(held["approval_id"].as_str().unwrap()).await;
        assert_eq!(
            approval["policies"],
            json!(["operator-scopes-need-approval"])
        );
    }
}

#[tokio::test]
async fn a_denial_ends_the_request_denied_with_the_approvers_reason() {
    let _shared = GATE.read().await;
    let (client, request_id, approval_id) = held_request(json!({})).await;
    let (status, decided) = decide(
        &approver(),
        &approval_id,
        "deny",
        json!({"reason": "no billing access this quarter"}),
    )
    .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["status"], "denied");
    let denied = settled_request(&request_id).await;
    assert_eq!(denied["status"], "denied", "{denied}");
    assert_eq!(denied["problem"]["status"], 403);
    assert!(
        denied["problem"]["detail"]
            .as_str()
            .unwrap()
            .contains("no billing access this quarter"),
        "{denied}"
    );
    let chain = audit_export(&client).await;
    assert!(
        chain.iter().any(|r| r.entry.action == "approval.denied"),
        "{chain:?}"
    );
    assert!(!chain.iter().any(|r| r.entry.action == "credential.minted"));
    // Approving now is a conflict; the request stays denied.
    let (status, _) = approve_as_approver(&approval_id, "changed my mind").await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn an_approval_nobody_decides_times_out_denied() {
    let _shared = GATE.read().await;
    let (client, request_id, approval_id) =
        held_request(json!({"approval_window_seconds": 3})).await;
    assert_eq!(approval(&approval_id).await["status"], "pending");
    let denied = settled_request(&request_id).await;
    assert_eq!(denied["status"], "denied", "{denied}");
    assert!(
        denied["problem"]["detail"]
            .as_str()
            .unwrap()
            .contains("timeout"),
        "{denied}"
    );
    let expired = approval(&approval_id).await;
    assert_eq!(expired["status"], "expired", "{expired}");
    let chain = audit_export(&client).await;
    let record = chain
        .iter()
        .find(|r| r.entry.action == "credential.denied")
        .expect("recorded");
    assert_eq!(record.entry.detail["reason"], "timeout");
    let (status, _) = approve_as_approver(&approval_id, "too late").await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn approvers_list_what_waits_and_others_may_not() {
    let _shared = GATE.read().await;
    let (_, _, first) = held_request(json!({})).await;
    let (_, _, second) = held_request(json!({})).await;
    let list = |authorization: String, query: String| async move {
        let resp = http()
            .get(url(&format!("/v1/approvals{query}")))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    // Page through everything pending, one at a time: both are there, each once.
    let mut seen = Vec::new();
    let mut query = "?limit=1".to_owned();
    for _ in 0..500 {
        let (status, page) = list(approver(), query.clone()).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            assert!(item.get("task_token").is_none());
            seen.push(item["approval_id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => query = format!("?limit=1&cursor={next}"),
            None => break,
        }
    }
    assert!(seen.contains(&first) && seen.contains(&second), "{seen:?}");
    assert_eq!(seen.iter().filter(|s| **s == first).count(), 1);
    let (issuer, secret) = new_operator(&["clavis.issuer"]).await;
    assert_eq!(list(basic(&issuer, &secret), String::new()).await.0, 403);
    for bad in [
        "?limit=0",
        "?limit=101",
        "?limit=x",
        "?cursor=nope",
        "?cursor=e30",
    ] {
        assert_eq!(list(approver(), bad.to_owned()).await.0, 400, "{bad}");
    }
}

#[tokio::test]
async fn bad_input_to_the_approval_routes_is_a_problem_and_changes_nothing() {
    let _alone = GATE.write().await;
    let (_, _, approval_id) = held_request(json!({})).await;
    let unknown = format!("apr_{}", ClientId::generate().ulid());
    let before = (
        snapshot(&stack().table_name).await,
        snapshot(&stack().audit_table_name).await,
    );
    let cases: Vec<(&str, String, Value, u16)> = vec![
        (
            "unknown approval",
            unknown.clone(),
            json!({"reason": "x"}),
            404,
        ),
        (
            "malformed id",
            "apr_nope".into(),
            json!({"reason": "x"}),
            404,
        ),
        ("no reason", approval_id.clone(), json!({}), 422),
        (
            "empty reason",
            approval_id.clone(),
            json!({"reason": "  "}),
            422,
        ),
        (
            "oversized reason",
            approval_id.clone(),
            json!({"reason": "x".repeat(501)}),
            422,
        ),
        (
            "unknown field",
            approval_id.clone(),
            json!({"reason": "x", "approvals_required": 0}),
            422,
        ),
        ("not an object", approval_id.clone(), json!(["x"]), 422),
    ];
    for (name, id, body, want) in cases {
        for verb in ["approve", "deny"] {
            let (status, problem) = decide(&approver(), &id, verb, body.clone()).await;
            assert_eq!(status, want, "{name} ({verb}): {problem}");
            assert!(
                problem["type"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("urn:clavis:problem:"),
                "{problem}"
            );
        }
    }
    let wrong_type = http()
        .post(url(&format!("/v1/approvals/{approval_id}/approve")))
        .header("authorization", approver())
        .header("content-type", "text/plain")
        .body("reason")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    let unknown_read = http()
        .get(url(&format!("/v1/approvals/{unknown}")))
        .header("authorization", approver())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_read.status(), 404);
    let after = (
        snapshot(&stack().table_name).await,
        snapshot(&stack().audit_table_name).await,
    );
    assert!(before == after, "a refused decision changed the tables");
    // Decided twice: the second is a conflict and changes nothing.
    assert_eq!(approve_as_approver(&approval_id, "fine").await.0, 200);
    let decided = approval(&approval_id).await;
    assert_eq!(
        decide(&approver(), &approval_id, "deny", json!({"reason": "no"}))
            .await
            .0,
        409
    );
    assert_eq!(approval(&approval_id).await, decided);
}

#[tokio::test]
async fn thirty_issuances_in_a_minute_hold_the_excess_as_an_anomaly() {
    let _shared = GATE.read().await;
    let busy = register_client("standard", SCOPES, AUDIENCES).await;
    let quiet = register_client("standard", SCOPES, AUDIENCES).await;
    // 30 requests for one client within the minute, 6 at a time.
    let mut requests = Vec::new();
    for _ in 0..5 {
        let batch: Vec<_> = (0..6)
            .map(|_| {
                let busy = busy.clone();
                tokio::spawn(async move { request(&operator_auth(), &busy, json!({})).await })
            })
            .collect();
        for handle in batch {
            requests.push(handle.await.unwrap());
        }
    }
    let mut outcomes = Vec::new();
    for request_id in &requests {
        outcomes.push(settled_or_held(request_id).await);
    }
    let held: Vec<&Value> = outcomes
        .iter()
        .filter(|o| o["status"] == "pending_approval")
        .collect();
    let completed = outcomes
        .iter()
        .filter(|o| o["status"] == "completed")
        .count();
    assert_eq!(held.len() + completed, 30, "{outcomes:?}");
    assert!(
        held.len() >= 10,
        "at least the excess over the floor of 20 is held: {}",
        held.len()
    );
    for h in &held {
        let a = approval(h["approval_id"].as_str().unwrap()).await;
        assert_eq!(a["policies"], json!(["issuance-spike-is-held"]), "{a}");
    }
    // Announced, once per held request.
    let first = held[0]["approval_id"].as_str().unwrap();
    let event = await_message(&stack().subscriber_queue_url, |body| {
        body.contains("Issuance Anomaly Detected") && body.contains(first)
    })
    .await;
    let detail = serde_json::from_str::<Value>(event.body().unwrap()).unwrap()["detail"].clone();
    assert_eq!(detail["client_id"], busy.as_str());
    assert!(detail["recent_requests"].as_u64().unwrap() > 20, "{detail}");
    // Another client's traffic meanwhile is unaffected.
    for _ in 0..3 {
        let r = request(&operator_auth(), &quiet, json!({})).await;
        assert_eq!(settled_request(&r).await["status"], "completed");
    }
    // The held ones are released by an approver like any other hold.
    let (status, _) = approve_as_approver(first, "a planned rollout").await;
    assert_eq!(status, 200);
    let released = held[0]["request_id"].as_str().unwrap();
    assert_eq!(settled_request(released).await["status"], "completed");
}

#[tokio::test]
async fn a_request_whose_requester_was_revoked_during_the_hold_is_not_released() {
    let _shared = GATE.read().await;
    let (requester, secret) = new_operator(&["clavis.issuer"]).await;
    let client = register_client("privileged", SCOPES, AUDIENCES).await;
    let request_id = request(&basic(&requester, &secret), &client, json!({})).await;
    let held = settled_or_held(&request_id).await;
    assert_eq!(held["status"], "pending_approval", "{held}");
    let approval_id = held["approval_id"].as_str().unwrap();
    let revoked = http()
        .post(url(&format!("/v1/clients/{requester}/revoke")))
        .header("authorization", operator_auth())
        .json(&json!({"reason": "key_compromise"}))
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    let (status, problem) = approve_as_approver(approval_id, "looks fine").await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("no longer"),
        "{problem}"
    );
    assert_eq!(approval(approval_id).await["approvals"], json!([]));
    // Denying it ends it.
    let (status, _) = decide(
        &approver(),
        approval_id,
        "deny",
        json!({"reason": "requester revoked"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(settled_request(&request_id).await["status"], "denied");
}

#[tokio::test]
async fn a_held_request_that_fails_takes_its_approval_out_of_the_list() {
    let _shared = GATE.read().await;
    let (client, request_id, approval_id) = held_request(json!({})).await;
    // RecordFailure, as the workflow's Catch would run it for this request.
    let failed = clavis_tests::invoke(
        &clavis_tests::function_name("record-failure"),
        &json!({"request_id": request_id, "client_id": client,
                "error": {"Error": "Clavis.User.conflict", "Cause": "{\"errorMessage\":\"test\"}"}}),
    )
    .await;
    assert!(failed.function_error.is_none(), "{failed:?}");
    assert_eq!(settled_request(&request_id).await["status"], "failed");
    let expired = approval(&approval_id).await;
    assert_eq!(expired["status"], "expired", "{expired}");
    let (status, _) = approve_as_approver(&approval_id, "too late").await;
    assert_eq!(status, 409);
    // Not in the pending list (paged to its end).
    let repo = clavis_tests::repository().await;
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let page = repo
            .pending_approvals(100, cursor.as_deref())
            .await
            .unwrap();
        assert!(
            !page
                .items
                .iter()
                .any(|a| a.approval_id.to_string() == approval_id),
            "an expired approval is still listed"
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
}
