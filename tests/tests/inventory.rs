//! Inventory and suspension on the local cloud: clients and a client's credentials page through
//! their indexes with filters, bad queries are 400 problems that read nothing, only admins and
//! auditors list, and a suspended client's credentials stop authenticating until an
//! administrator resumes it (audited, announced, nothing revoked).

use std::collections::BTreeSet;
use std::time::Duration;

use clavis_tests::{
    audit_export, basic, collect_messages, http, introspect, issue_credential, new_operator,
    operator_auth, register_client, revoke_request, rows_mentioning, stack, token_request, url,
};
use serde_json::{Value, json};

const SCOPE: &str = "inv:read";
const AUDIENCE: &str = "https://inv.example";

use clavis_tests::get_as as get;

/// Every item of a listing, following `next` (at most 200 pages).
async fn all_pages(path: &str, authorization: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..200 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let page_path = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let (status, page) = get(&page_path, authorization).await;
        assert_eq!(status, 200, "{page_path}: {page}");
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
    panic!("{path} did not end within 200 pages");
}

fn ids(items: &[Value], field: &str) -> BTreeSet<String> {
    items
        .iter()
        .map(|i| i[field].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn standing(
    client_id: &str,
    action: &str,
    authorization: &str,
    body: &Value,
) -> (u16, Value) {
    let resp = http()
        .post(url(&format!("/v1/clients/{client_id}/{action}")))
        .header("authorization", authorization)
        .json(body)
        .send()
        .await
        .expect("standing");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn token_status(client_id: &str, secret: &str) -> u16 {
    token_request(client_id, secret, &[("grant_type", "client_credentials")])
        .await
        .0
}

#[tokio::test]
async fn clients_page_through_the_directory_with_filters() {
    // An administrator of its own, so that `owner` picks out exactly its clients.
    let (admin_id, admin_secret) = new_operator(&["clavis.admin"]).await;
    let admin = basic(&admin_id, &admin_secret);
    let mut mine = BTreeSet::new();
    for name in ["inv-a", "inv-b", "inv-c"] {
        let resp = http()
            .post(url("/v1/clients"))
            .header("authorization", &admin)
            .json(&json!({
                "name": name, "environment": "dev", "tier": "standard",
                "allowed_scopes": [SCOPE], "allowed_audiences": [AUDIENCE],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let body: Value = resp.json().await.unwrap();
        mine.insert(body["client_id"].as_str().unwrap().to_owned());
    }
    let owned = all_pages(&format!("/v1/clients?owner={admin_id}&limit=100"), &admin).await;
    assert_eq!(ids(&owned, "client_id"), mine);
    assert!(owned.iter().all(|c| c["owner"] == admin_id.as_str()));

    // Pages of one: each page at most one client, and together every one of them, once.
    let (status, first) = get("/v1/clients?limit=1", &admin).await;
    assert_eq!(status, 200);
    assert!(first["items"].as_array().unwrap().len() <= 1);
    let everyone = all_pages("/v1/clients?limit=100", &operator_auth()).await;
    let everyone_ids = ids(&everyone, "client_id");
    assert_eq!(
        everyone_ids.len(),
        everyone.len(),
        "a client was listed twice"
    );
    assert!(mine.is_subset(&everyone_ids));
    assert!(everyone_ids.contains(&stack().operator_client_id));

    let suspended = mine.iter().next().unwrap().clone();
    let (status, _) = standing(
        &suspended,
        "suspend",
        &operator_auth(),
        &json!({"reason": "inventory test"}),
    )
    .await;
    assert_eq!(status, 200);
    let only = all_pages(
        &format!("/v1/clients?owner={admin_id}&status=suspended"),
        &admin,
    )
    .await;
    assert_eq!(ids(&only, "client_id"), BTreeSet::from([suspended]));
    let none = all_pages(
        &format!("/v1/clients?owner={admin_id}&environment=prod"),
        &admin,
    )
    .await;
    assert!(none.is_empty());
}

#[tokio::test]
async fn a_clients_credentials_page_by_status() {
    let client_id = register_client("standard", &[SCOPE], &[AUDIENCE]).await;
    let mut issued = BTreeSet::new();
    for _ in 0..3 {
        issued.insert(issue_credential(&client_id, &[SCOPE], &[AUDIENCE]).await.0);
    }
    let revoked = issued.iter().next().unwrap().clone();
    let resp = revoke_request(&revoked, "operator_request").send().await;
    assert_eq!(resp.unwrap().status(), 200);

    let path = format!("/v1/clients/{client_id}/credentials");
    let every = all_pages(&format!("{path}?limit=1"), &operator_auth()).await;
    assert_eq!(ids(&every, "credential_id"), issued);
    assert_eq!(every.len(), 3, "each credential once");
    assert!(every.iter().all(|c| c["client_id"] == client_id.as_str()));
    assert!(every.iter().all(|c| c.get("secret_hash").is_none()));
    let only_revoked = all_pages(&format!("{path}?status=revoked"), &operator_auth()).await;
    assert_eq!(
        ids(&only_revoked, "credential_id"),
        BTreeSet::from([revoked.clone()])
    );
    let active = all_pages(&format!("{path}?status=active"), &operator_auth()).await;
    assert_eq!(active.len(), 2);
    assert!(!ids(&active, "credential_id").contains(&revoked));
}

#[tokio::test]
async fn bad_listing_queries_are_problems_that_name_the_parameter() {
    let client_id = register_client("standard", &[SCOPE], &[AUDIENCE]).await;
    let other = register_client("standard", &[SCOPE], &[AUDIENCE]).await;
    issue_credential(&other, &[SCOPE], &[AUDIENCE]).await;
    issue_credential(&other, &[SCOPE], &[AUDIENCE]).await;
    let (_, page) = get(
        &format!("/v1/clients/{other}/credentials?limit=1"),
        &operator_auth(),
    )
    .await;
    let foreign_cursor = page["next"].as_str().expect("a second page").to_owned();
    let credentials = format!("/v1/clients/{client_id}/credentials");
    for (query, field) in [
        ("/v1/clients?limit=0".to_owned(), "limit"),
        ("/v1/clients?limit=101".to_owned(), "limit"),
        ("/v1/clients?limit=x".to_owned(), "limit"),
        ("/v1/clients?limit=1&limit=2".to_owned(), "limit"),
        ("/v1/clients?cursor=nope".to_owned(), "cursor"),
        ("/v1/clients?cursor=e30".to_owned(), "cursor"),
        ("/v1/clients?status=gone".to_owned(), "status"),
        ("/v1/clients?environment=moon".to_owned(), "environment"),
        ("/v1/clients?owner=".to_owned(), "owner"),
        (format!("{credentials}?status=lost"), "status"),
        (format!("{credentials}?cursor={foreign_cursor}"), "cursor"),
        (
            format!("/v1/clients/{other}/credentials?status=revoked&cursor={foreign_cursor}"),
            "cursor",
        ),
        (format!("{credentials}?limit=0"), "limit"),
    ] {
        let (status, problem) = get(&query, &operator_auth()).await;
        assert_eq!(status, 400, "{query}: {problem}");
        assert_eq!(
            problem["type"], "urn:clavis:problem:invalid-query",
            "{query}"
        );
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    let (status, _) = get(
        "/v1/clients/cli_01KBZ3F9A1B2C3D4E5F6G7H8J9/credentials",
        &operator_auth(),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn only_administrators_and_auditors_read_the_inventory() {
    let client_id = register_client("standard", &[SCOPE], &[AUDIENCE]).await;
    let (issuer_id, issuer_secret) = new_operator(&["clavis.issuer"]).await;
    let issuer = basic(&issuer_id, &issuer_secret);
    for path in [
        "/v1/clients".to_owned(),
        format!("/v1/clients/{client_id}/credentials"),
        format!("/v1/clients/{client_id}"),
    ] {
        assert_eq!(get(&path, &issuer).await.0, 403, "{path}");
    }
    let (auditor_id, auditor_secret) = new_operator(&["clavis.auditor"]).await;
    let auditor = basic(&auditor_id, &auditor_secret);
    assert_eq!(get("/v1/clients?limit=5", &auditor).await.0, 200);
    assert_eq!(
        get(&format!("/v1/clients/{client_id}/credentials"), &auditor)
            .await
            .0,
        200
    );
    // Reading is not changing: an auditor neither suspends nor resumes.
    let body = json!({"reason": "curious"});
    assert_eq!(
        standing(&client_id, "suspend", &auditor, &body).await.0,
        403
    );
}

#[tokio::test]
async fn a_suspended_client_stops_authenticating_until_it_is_resumed() {
    let client_id = register_client("standard", &[SCOPE], &[AUDIENCE]).await;
    let (credential_id, secret) = issue_credential(&client_id, &[SCOPE], &[AUDIENCE]).await;
    assert_eq!(token_status(&client_id, &secret).await, 200);
    let (revoker_id, revoker_secret) = new_operator(&["clavis.revoker"]).await;
    let revoker = basic(&revoker_id, &revoker_secret);

    let reason = json!({"reason": "secret seen in a build log"});
    let (status, suspended) = standing(&client_id, "suspend", &revoker, &reason).await;
    assert_eq!(status, 200, "{suspended}");
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(
        suspended["suspension"]["reason"],
        "secret seen in a build log"
    );
    assert_eq!(suspended["suspension"]["suspended_by"], revoker_id.as_str());
    assert_eq!(token_status(&client_id, &secret).await, 401);
    assert_eq!(introspect(&secret).await, json!({"active": false}));

    // A repeat answers the same and writes nothing.
    let before = rows_mentioning(&stack().table_name, &client_id).await;
    let (status, again) = standing(&client_id, "suspend", &revoker, &reason).await;
    assert_eq!((status, &again), (200, &suspended));
    assert_eq!(
        rows_mentioning(&stack().table_name, &client_id).await,
        before
    );

    // The revoker may contain, not re-open.
    let why = json!({"reason": "rotated and cleaned"});
    assert_eq!(standing(&client_id, "resume", &revoker, &why).await.0, 403);
    let (status, resumed) = standing(&client_id, "resume", &operator_auth(), &why).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["status"], "active");
    assert!(resumed.get("suspension").is_none(), "{resumed}");
    assert_eq!(
        token_status(&client_id, &secret).await,
        200,
        "nothing was revoked"
    );
    let meta = clavis_tests::get_json(&format!("/v1/credentials/{credential_id}")).await;
    assert_eq!(meta["status"], "active");

    let events = collect_messages(
        &stack().subscriber_queue_url,
        |b| b.contains(&client_id) && b.contains("Client "),
        Duration::from_secs(6),
    )
    .await;
    let types: Vec<String> = events
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).unwrap()["detail-type"].to_string())
        .collect();
    assert!(
        types.contains(&"\"Client Suspended\"".to_owned()),
        "{types:?}"
    );
    assert!(
        types.contains(&"\"Client Resumed\"".to_owned()),
        "{types:?}"
    );
    let actions: Vec<(String, String)> = audit_export(&client_id)
        .await
        .into_iter()
        .map(|r| {
            (
                r.entry.action.clone(),
                r.entry.detail.get("reason").cloned().unwrap_or_default(),
            )
        })
        .collect();
    assert!(actions.contains(&(
        "client.suspended".into(),
        "secret seen in a build log".into()
    )));
    assert!(actions.contains(&("client.resumed".into(), "rotated and cleaned".into())));
}

#[tokio::test]
async fn suspension_refuses_bad_input_self_service_and_revoked_clients() {
    let client_id = register_client("standard", &[SCOPE], &[AUDIENCE]).await;
    let before = rows_mentioning(&stack().table_name, &client_id).await;
    for body in [
        json!({}),
        json!({"reason": ""}),
        json!({"reason": "x", "extra": 1}),
    ] {
        let (status, problem) = standing(&client_id, "suspend", &operator_auth(), &body).await;
        assert_eq!(status, 422, "{body}: {problem}");
    }
    let (status, _) = standing(
        "cli_01KBZ3F9A1B2C3D4E5F6G7H8J9",
        "suspend",
        &operator_auth(),
        &json!({"reason": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        rows_mentioning(&stack().table_name, &client_id).await,
        before
    );

    // No operator suspends (or so resumes) itself.
    let answer = standing(
        &stack().operator_client_id,
        "suspend",
        &operator_auth(),
        &json!({"reason": "oops"}),
    )
    .await;
    clavis_tests::assert_refused(&answer, 403, "no-self-suspension");

    let resp = http()
        .post(url(&format!("/v1/clients/{client_id}/revoke")))
        .header("authorization", operator_auth())
        .json(&json!({"reason": "operator_request"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    for action in ["suspend", "resume"] {
        let (status, problem) = standing(
            &client_id,
            action,
            &operator_auth(),
            &json!({"reason": "x"}),
        )
        .await;
        assert_eq!(status, 409, "{action}: {problem}");
    }
}

#[tokio::test]
async fn clients_from_before_the_inventory_are_backfilled_into_the_directory() {
    let client_id = register_client("standard", &[SCOPE], &[AUDIENCE]).await;
    let id: clavis_core::ids::ClientId = client_id.parse().unwrap();
    // As an upgraded stack has it: a client without its directory attribute.
    aws_sdk_dynamodb::Client::new(&clavis_tests::sdk().await)
        .update_item()
        .table_name(&stack().table_name)
        .set_key(Some(clavis_aws::dynamo::items::key(
            clavis_aws::dynamo::keys::client(&id),
        )))
        .update_expression("REMOVE #directory")
        .expression_attribute_names("#directory", clavis_aws::dynamo::clients::DIRECTORY)
        .send()
        .await
        .unwrap();
    let listed = |items: &[Value]| ids(items, "client_id").contains(&client_id);
    let owner = &stack().operator_client_id;
    let path = format!("/v1/clients?owner={owner}&status=active&limit=100");
    assert!(!listed(&all_pages(&path, &operator_auth()).await));

    let report = clavis_tests::run_stack_script("backfill-indexes");
    assert!(report["clients_listed"].as_u64().unwrap() >= 1, "{report}");
    assert!(listed(&all_pages(&path, &operator_auth()).await));
}
