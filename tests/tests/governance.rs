//! Policy as code on the running stack (issue 10): every rule the shipped Cedar policies
//! enforce, tried the way an attacker would, each refusal a 403 problem that changes nothing;
//! the two bootstrap operators; the policy version in every record; `policy.activated`.
//!
//! The refusals compare whole-table snapshots, so those tests hold the gate exclusively and
//! every other test of this binary shares it (cargo runs test binaries one at a time, so no
//! other binary writes meanwhile).

use clavis_core::audit::{AuditRecord, stack_chain, verify_chain};
use clavis_core::ids::ClientId;
use clavis_policy::files;
use clavis_tests::{
    audit_export, basic, call, get_json, http, issue_credential, new_operator, operator_auth,
    operator_bearer, pickup_secret, register_client, registry_status, repository, settled_request,
    snapshot, stack, token_request, url,
};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::RwLock;

/// Held exclusively by the tests that compare snapshots, shared by the others.
static GATE: RwLock<()> = RwLock::const_new(());

const SCOPES: &[&str] = &["billing:read"];
const AUDIENCES: &[&str] = &["https://billing.example.com"];

fn key(what: &str) -> String {
    format!("{what}-{}", ClientId::generate().ulid())
}

fn shipped_version() -> String {
    files::version(&files::shipped())
}

/// Both tables, for "changes nothing".
async fn tables() -> (Vec<String>, Vec<String>) {
    (
        snapshot(&stack().table_name).await,
        snapshot(&stack().audit_table_name).await,
    )
}

/// Asserts that neither table changed since `before`, naming what did if one did.
async fn unchanged(before: &(Vec<String>, Vec<String>), what: &str) {
    let after = tables().await;
    for ((name, b), a) in [("state", &before.0), ("audit", &before.1)]
        .into_iter()
        .zip([&after.0, &after.1])
    {
        let added: Vec<&String> = a.iter().filter(|i| !b.contains(i)).collect();
        let removed: Vec<&String> = b.iter().filter(|i| !a.contains(i)).collect();
        assert!(
            added.is_empty() && removed.is_empty(),
            "{what} changed the {name} table: added {added:?}, removed {removed:?}"
        );
    }
}

/// `POST /v1/clients/{client}/credentials` with `authorization`, asking for `scopes` of the
/// audience `clavis`; answers status and body.
async fn ask(authorization: &str, client: &str, scopes: &[&str], key: &str) -> (u16, Value) {
    let resp = http()
        .post(url(&format!("/v1/clients/{client}/credentials")))
        .header("authorization", authorization)
        .header("idempotency-key", key)
        .json(&json!({"ttl_seconds": 3600, "scopes": scopes, "audiences": ["clavis"], "justification": "escalation attempt"}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `POST /v1/clients` with `authorization`: a client of `environment` allowed `scopes`; answers
/// status and body.
async fn register_as(authorization: &str, environment: &str, scopes: &[&str]) -> (u16, Value) {
    let resp = http()
        .post(url("/v1/clients"))
        .header("authorization", authorization)
        .json(
            &json!({"name": "governance", "environment": environment, "tier": "privileged",
                      "allowed_scopes": scopes, "allowed_audiences": ["clavis"]}),
        )
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_issuer_cannot_mint_itself_an_administrator() {
    let _alone = GATE.write().await;
    let operator_client = &stack().operator_client_id;
    // The bootstrap administrator's own token, narrowed to clavis.issuer; and a second operator
    // that only ever held clavis.issuer. The bootstrap client may carry every clavis.* scope.
    let narrowed = operator_bearer("clavis.issuer").await;
    let (issuer, issuer_secret) = new_operator(&["clavis.issuer"]).await;
    let issuer_basic = basic(&issuer, &issuer_secret);
    let before = tables().await;
    for (who, authorization) in [
        ("narrowed token", &narrowed),
        ("issuer-only operator", &issuer_basic),
    ] {
        for wanted in [
            &["clavis.admin"][..],
            &["clavis.issuer", "clavis.approver"][..],
        ] {
            let (status, problem) =
                ask(authorization, operator_client, wanted, &key("escalate")).await;
            assert_eq!(status, 403, "{who} asking for {wanted:?}: {problem}");
            assert_eq!(problem["type"], "urn:clavis:problem:forbidden");
            let detail = problem["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("scope-ceiling"), "{detail}");
            assert!(!problem.to_string().contains("clv_"), "{problem}");
        }
    }
    unchanged(&before, "a refused escalation").await;
    // What it holds itself it may pass on.
    let (status, issued) = ask(
        &issuer_basic,
        operator_client,
        &["clavis.issuer"],
        &key("own"),
    )
    .await;
    assert!(status == 201 || status == 202, "{issued}");
}

#[tokio::test]
async fn an_administrator_cannot_register_a_client_with_scopes_it_lacks() {
    let _alone = GATE.write().await;
    let (admin, secret) = new_operator(&["clavis.admin"]).await;
    let before = tables().await;
    let (status, problem) = register_as(&basic(&admin, &secret), "dev", &["clavis.approver"]).await;
    assert_eq!(status, 403);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("scope-ceiling"),
        "{problem}"
    );
    unchanged(&before, "a refused registration").await;
}

#[tokio::test]
async fn only_the_requester_picks_up_a_secret() {
    let _alone = GATE.write().await;
    let (requester, requester_secret) = new_operator(&["clavis.issuer"]).await;
    let (other, other_secret) = new_operator(&["clavis.issuer"]).await;
    let target = register_client("standard", SCOPES, AUDIENCES).await;
    let resp = http()
        .post(url(&format!("/v1/clients/{target}/credentials")))
        .header("authorization", basic(&requester, &requester_secret))
        .header("idempotency-key", key("pickup"))
        .header("prefer", "respond-async")
        .json(&json!({"ttl_seconds": 3600, "scopes": SCOPES, "audiences": AUDIENCES, "justification": "pickup"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let request_id = resp.json::<Value>().await.unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(settled_request(&request_id).await["status"], "completed");

    let request_path = format!("/v1/requests/{request_id}");
    let read = |authorization: String| {
        let path = request_path.clone();
        async move { call(Method::GET, &path, &authorization).await.status() }
    };
    let before = tables().await;
    // The administrator holds every scope and still may not collect it; nor may another issuer.
    for authorization in [operator_auth(), basic(&other, &other_secret)] {
        let resp = pickup_secret(&request_id, &authorization).await;
        assert_eq!(resp.status(), 403);
        let body = resp.text().await.unwrap();
        assert!(!body.contains("clv_"), "{body}");
    }
    unchanged(&before, "a refused pickup").await;
    // Another issuer may not even follow the request; an overseer may.
    assert_eq!(read(basic(&other, &other_secret)).await, 403);
    assert_eq!(read(operator_auth()).await, 200);
    assert_eq!(read(basic(&requester, &requester_secret)).await, 200);

    let resp = pickup_secret(&request_id, &basic(&requester, &requester_secret)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["client_secret"]
            .as_str()
            .unwrap()
            .starts_with("clv_test_")
    );
}

#[tokio::test]
async fn idempotency_keys_belong_to_their_requester() {
    let _shared = GATE.read().await;
    let (requester, secret) = new_operator(&["clavis.issuer"]).await;
    let target = register_client("standard", SCOPES, AUDIENCES).await;
    let shared_key = key("squat");
    let body = |ttl: u64| json!({"ttl_seconds": ttl, "scopes": SCOPES, "audiences": AUDIENCES, "justification": "squat"});
    let send = |authorization: String, body: Value| {
        let (target, shared_key) = (target.clone(), shared_key.clone());
        async move {
            let resp = http()
                .post(url(&format!("/v1/clients/{target}/credentials")))
                .header("authorization", authorization)
                .header("idempotency-key", shared_key)
                .header("prefer", "respond-async")
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    // One operator takes the key first; another's request with the same key and another body
    // is its own request, not a conflict, and not the first one's answer.
    let (first_status, first) = send(basic(&requester, &secret), body(3600)).await;
    let (second_status, second) = send(operator_auth(), body(7200)).await;
    assert_eq!(
        (first_status, second_status),
        (202, 202),
        "{first} {second}"
    );
    assert_ne!(first["request_id"], second["request_id"]);
    // The same requester repeating its own key is still idempotent.
    let (_, again) = send(basic(&requester, &secret), body(3600)).await;
    assert_eq!(again["request_id"], first["request_id"]);
}

#[tokio::test]
async fn a_stack_serves_only_its_own_environments() {
    let _alone = GATE.write().await;
    assert_eq!(stack().stage, "local", "the local stack serves dev clients");
    let before = tables().await;
    for environment in ["prod", "staging"] {
        let (status, problem) = register_as(&operator_auth(), environment, SCOPES).await;
        assert_eq!(status, 403, "{environment}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("other-stages-serve-only-dev"),
            "{problem}"
        );
    }
    unchanged(&before, "a refused registration").await;
}

#[tokio::test]
async fn introspection_and_the_registry_need_their_own_scopes() {
    let _shared = GATE.read().await;
    let (auditor, auditor_secret) = new_operator(&["clavis.auditor", "clavis.issuer"]).await;
    let (server, server_secret) = new_operator(&["clavis.introspect", "clavis.registry"]).await;
    let target = register_client("standard", SCOPES, AUDIENCES).await;
    let (_, secret) = issue_credential(&target, SCOPES, AUDIENCES).await;
    let introspect = |authorization: String| {
        let secret = secret.clone();
        async move {
            http()
                .post(url("/oauth2/introspect"))
                .header("authorization", authorization)
                .form(&[("token", secret.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    // Being authenticated is not enough any more.
    let refused = introspect(basic(&auditor, &auditor_secret)).await;
    assert_eq!(refused.status(), 403);
    assert!(!refused.text().await.unwrap().contains("active"));
    assert_eq!(
        registry_status(&basic(&auditor, &auditor_secret)).await,
        403
    );
    // A resource server's credential carries both.
    let answered = introspect(basic(&server, &server_secret)).await;
    assert_eq!(answered.status(), 200);
    assert_eq!(answered.json::<Value>().await.unwrap()["active"], true);
    assert_eq!(registry_status(&basic(&server, &server_secret)).await, 200);
    // A resource server may do nothing else.
    assert_eq!(
        register_as(&basic(&server, &server_secret), "dev", SCOPES)
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn the_bootstrap_made_an_administrator_and_a_separate_approver() {
    let _shared = GATE.read().await;
    let s = stack();
    assert_ne!(s.approver_client_id, s.operator_client_id);
    let approver = basic(&s.approver_client_id, &s.approver_client_secret);
    // It authenticates, holds clavis.approver only (so it cannot register or issue) ...
    let (status, token) = token_request(
        &s.approver_client_id,
        &s.approver_client_secret,
        &[("grant_type", "client_credentials"), ("audience", "clavis")],
    )
    .await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["scope"], "clavis.approver");
    assert_eq!(register_as(&approver, "dev", SCOPES).await.0, 403);
    // ... and each operator's chain starts with its own bootstrap record.
    for id in [&s.operator_client_id, &s.approver_client_id] {
        let chain = audit_export(id).await;
        verify_chain(&chain).expect("an intact chain");
        assert_eq!(chain[0].entry.action, "operator.bootstrapped", "{id}");
    }
    let admin_chain = audit_export(&s.operator_client_id).await;
    let scopes = &admin_chain[0].entry.detail["scopes"];
    for scope in clavis_core::scopes::ALL {
        assert!(scopes.split(' ').any(|s| s == scope), "{scope} in {scopes}");
    }
}

#[tokio::test]
async fn every_record_the_api_writes_names_the_policy_version() {
    let _shared = GATE.read().await;
    let client = register_client("standard", SCOPES, AUDIENCES).await;
    issue_credential(&client, SCOPES, AUDIENCES).await;
    let chain = audit_export(&client).await;
    let by_api: Vec<&AuditRecord> = chain
        .iter()
        .filter(|r| {
            [
                "client.registered",
                "credential.requested",
                "secret.picked_up",
            ]
            .contains(&r.entry.action.as_str())
        })
        .collect();
    assert_eq!(by_api.len(), 3, "{chain:?}");
    for record in by_api {
        assert_eq!(
            record.entry.detail.get("policy_version"),
            Some(&shipped_version()),
            "{}",
            record.entry.action
        );
    }
    let minted = chain
        .iter()
        .find(|r| r.entry.action == "credential.minted")
        .expect("minted");
    assert_eq!(
        minted.entry.detail["policy_version"],
        shipped_version(),
        "the grant's"
    );
    let meta = get_json(&format!("/v1/credentials/{}", minted.entry.subject)).await;
    assert_eq!(meta["policy_version"], shipped_version(), "{meta}");
}

#[tokio::test]
async fn a_new_policy_version_is_recorded_the_first_time_it_decides() {
    let _alone = GATE.write().await;
    let version = shipped_version();
    // The api decided already (this binary's other tests, or the line below): the stack's
    // chain names the shipped version as activated.
    register_client("standard", SCOPES, AUDIENCES).await;
    let chain = audit_export(&stack_chain().to_string()).await;
    verify_chain(&chain).expect("an intact stack chain");
    assert!(
        chain
            .iter()
            .any(|r| r.entry.action == "policy.activated" && r.entry.subject == version),
        "{chain:?}"
    );
    // A new version's first decision records it with the version it replaces; deciding again
    // records nothing; going back is a change of its own.
    let repo = repository().await;
    let now = time::OffsetDateTime::now_utc();
    let next = repo
        .activate_policy("0123456789abcdef", "test", now)
        .await
        .unwrap()
        .expect("a new version is recorded");
    assert_eq!(next.entry.action, "policy.activated");
    assert_eq!(next.entry.detail["previous_version"], version);
    assert!(
        repo.activate_policy("0123456789abcdef", "test", now)
            .await
            .unwrap()
            .is_none()
    );
    let back = repo
        .activate_policy(&version, "test", now)
        .await
        .unwrap()
        .expect("the shipped version again");
    assert_eq!(back.entry.detail["previous_version"], "0123456789abcdef");
    let chain = audit_export(&stack_chain().to_string()).await;
    verify_chain(&chain).expect("still intact");
    assert_eq!(chain.last().unwrap().hash, back.hash);
}
