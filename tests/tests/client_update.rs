//! `PATCH /v1/clients/{client_id}` on the local cloud: narrowing a client binds its live
//! credentials at once and widening gives them nothing; the change is audited before and after
//! and announced; only an administrator changes a client, never its own, never past the scope
//! ceiling; bad input is a problem that changes nothing.

use std::time::Duration;

use clavis_tests::{
    assert_refused, audit_export, basic, http, introspect, issue_credential, new_operator,
    operator_auth, register_client, rows_mentioning, stack, subscriber_events, token_request, url,
};
use serde_json::{Value, json};

/// `PATCH /v1/clients/{client_id}` with `body` as `authorization`, sent as a merge patch.
async fn patch(client_id: &str, authorization: &str, body: &Value) -> (u16, Value) {
    patch_as(
        client_id,
        authorization,
        "application/merge-patch+json",
        body.to_string(),
    )
    .await
}

async fn patch_as(
    client_id: &str,
    authorization: &str,
    content_type: &str,
    body: String,
) -> (u16, Value) {
    let resp = http()
        .patch(url(&format!("/v1/clients/{client_id}")))
        .header("authorization", authorization)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("patch");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The scope of a token fetched with the secret and `form`, or the OAuth error.
async fn token_scope(
    client_id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> Result<String, String> {
    let mut pairs = vec![("grant_type", "client_credentials")];
    pairs.extend_from_slice(form);
    let (status, answer) = token_request(client_id, secret, &pairs).await;
    if status == 200 {
        Ok(answer["scope"].as_str().unwrap_or_default().to_owned())
    } else {
        Err(answer["error"].as_str().unwrap_or_default().to_owned())
    }
}

#[tokio::test]
async fn narrowing_a_client_binds_its_live_credentials_at_once_and_widening_gives_them_nothing() {
    let client_id = register_client(
        "standard",
        &["up:read", "up:write"],
        &["https://a.up", "https://b.up"],
    )
    .await;
    let (_, secret) = issue_credential(
        &client_id,
        &["up:read", "up:write"],
        &["https://a.up", "https://b.up"],
    )
    .await;
    assert_eq!(
        token_scope(&client_id, &secret, &[]).await,
        Ok("up:read up:write".into())
    );

    let narrow = json!({
        "reason": "least privilege review",
        "allowed_scopes": ["up:read"],
        "allowed_audiences": ["https://a.up"],
        "name": "up-service",
    });
    let (status, client) = patch(&client_id, &operator_auth(), &narrow).await;
    assert_eq!(status, 200, "{client}");
    assert_eq!(client["allowed_scopes"], json!(["up:read"]));
    assert_eq!(client["name"], "up-service");
    assert_eq!(client["tier"], "standard", "what is left out stays");

    // The live secret acts with the narrower grant at once, everywhere it is checked.
    assert_eq!(
        token_scope(&client_id, &secret, &[]).await,
        Ok("up:read".into())
    );
    assert_eq!(
        token_scope(&client_id, &secret, &[("scope", "up:write")]).await,
        Err("invalid_scope".into())
    );
    assert_eq!(
        token_scope(&client_id, &secret, &[("audience", "https://b.up")]).await,
        Err("invalid_target".into())
    );
    let introspection = introspect(&secret).await;
    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["scope"], "up:read", "{introspection}");

    // Widening the client gives the live credential nothing it was not issued with.
    let widen = json!({
        "reason": "new feature",
        "allowed_scopes": ["up:read", "up:write", "up:admin"],
        "allowed_audiences": ["https://a.up", "https://b.up"],
    });
    let (status, _) = patch(&client_id, &operator_auth(), &widen).await;
    assert_eq!(status, 200);
    assert_eq!(
        token_scope(&client_id, &secret, &[]).await,
        Ok("up:read up:write".into())
    );
    assert_eq!(
        token_scope(&client_id, &secret, &[("scope", "up:admin")]).await,
        Err("invalid_scope".into())
    );

    // The same change again answers the client and writes nothing.
    let before = rows_mentioning(&stack().table_name, &client_id).await;
    let (status, again) = patch(&client_id, &operator_auth(), &widen).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["allowed_scopes"],
        json!(["up:admin", "up:read", "up:write"])
    );
    assert_eq!(
        rows_mentioning(&stack().table_name, &client_id).await,
        before
    );

    // Audited before and after, with the reason, and announced once per change.
    let updates: Vec<_> = audit_export(&client_id)
        .await
        .into_iter()
        .filter(|r| r.entry.action == "client.updated")
        .collect();
    assert_eq!(updates.len(), 2);
    let first = &updates[0].entry.detail;
    assert_eq!(first["reason"], "least privilege review");
    assert_eq!(first["changed"], "name allowed_scopes allowed_audiences");
    assert_eq!(first["before.allowed_scopes"], "up:read up:write");
    assert_eq!(first["after.allowed_scopes"], "up:read");
    assert_eq!(first["after.name"], "up-service");
    assert!(first.contains_key("policy_version"));
    assert_eq!(updates[0].entry.actor, stack().operator_client_id);
    let events = subscriber_events(
        |b| b.contains(&client_id) && b.contains("Client Updated"),
        Duration::from_secs(6),
    )
    .await;
    assert_eq!(events.len(), 2, "{events:?}");
    let detail = &events
        .iter()
        .find(|e| e["detail"]["reason"] == "least privilege review")
        .expect("the narrowing's event")["detail"];
    assert_eq!(
        detail["before"]["allowed_scopes"],
        json!(["up:read", "up:write"])
    );
    assert_eq!(
        detail["after"]["allowed_audiences"],
        json!(["https://a.up"])
    );
    assert!(!events.iter().any(|e| e.to_string().contains(&secret)));
}

#[tokio::test]
async fn only_an_administrator_changes_a_client_never_its_own_and_never_past_its_scopes() {
    let client_id = register_client("standard", &["esc:read"], &["https://esc"]).await;
    let before = rows_mentioning(&stack().table_name, &client_id).await;
    let tier_up = json!({"reason": "promote", "tier": "privileged"});

    // Lower roles are refused at the door.
    let (issuer_id, issuer_secret) = new_operator(&["clavis.issuer", "clavis.revoker"]).await;
    let issuer = basic(&issuer_id, &issuer_secret);
    assert_eq!(patch(&client_id, &issuer, &tier_up).await.0, 403);

    // An administrator holding nothing else cannot hand out an operator scope it lacks, nor
    // change its own client (to gain one, or anything else).
    let (admin_id, admin_secret) = new_operator(&["clavis.admin"]).await;
    let admin = basic(&admin_id, &admin_secret);
    let escalate = json!({"reason": "x", "allowed_scopes": ["esc:read", "clavis.issuer"]});
    assert_refused(
        &patch(&client_id, &admin, &escalate).await,
        403,
        "clavis.* scope",
    );
    let myself = json!({"reason": "x", "allowed_scopes": ["clavis.admin", "clavis.issuer"]});
    let refused = patch(&admin_id, &admin, &myself).await;
    assert_refused(&refused, 403, "its own client");
    assert_refused(&refused, 403, "clavis.* scope");
    assert_refused(
        &patch(&admin_id, &admin, &json!({"reason": "x", "name": "me"})).await,
        403,
        "its own client",
    );
    assert_eq!(
        rows_mentioning(&stack().table_name, &client_id).await,
        before
    );

    // Within its own scopes it may.
    let (status, changed) = patch(&client_id, &admin, &tier_up).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["tier"], "privileged");
    // Another administrator may change the administrator's client.
    let (status, _) = patch(
        &admin_id,
        &operator_auth(),
        &json!({"reason": "x", "name": "admin-only"}),
    )
    .await;
    assert_eq!(status, 200, "another administrator may change it");
}

#[tokio::test]
async fn bad_input_to_a_client_change_is_a_problem_and_changes_nothing() {
    let client_id = register_client("standard", &["bad:read"], &["https://bad"]).await;
    let before = rows_mentioning(&stack().table_name, &client_id).await;
    let admin = operator_auth();
    for (body, field) in [
        (json!({"tier": "privileged"}), "reason"),
        (json!({"reason": " ", "tier": "privileged"}), "reason"),
        (json!({"reason": "x"}), "body"),
        (json!({"reason": "x", "owner": "cli_me"}), "owner"),
        (
            json!({"reason": "x", "allowed_scopes": []}),
            "allowed_scopes",
        ),
        (
            json!({"reason": "x", "allowed_scopes": ["has space"]}),
            "allowed_scopes[0]",
        ),
        (json!({"reason": "x", "tier": "root"}), "tier"),
        (json!({"reason": "x", "environment": "prod"}), "environment"),
        (
            json!({"reason": "x", "delivery": {"kind": "aws_secrets_manager", "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:clavis/x-abcdef"}}),
            "delivery",
        ),
        (json!(["x"]), "body"),
    ] {
        let (status, problem) = patch(&client_id, &admin, &body).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(
            problem["type"], "urn:clavis:problem:invalid-request",
            "{problem}"
        );
        // Named as the field, or (for a missing or unknown one) in the reason.
        let named = problem["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e.to_string().contains(field));
        assert!(named, "{body} should name {field}: {problem}");
    }
    let (status, _) = patch_as(&client_id, &admin, "text/plain", "{}".into()).await;
    assert_eq!(status, 415);
    let (status, _) = patch_as(
        &client_id,
        &admin,
        "application/json",
        "{\"reason\":".into(),
    )
    .await;
    assert_eq!(status, 400);
    let unknown = "cli_01KBZ3F9A1B2C3D4E5F6G7H8J9";
    let (status, _) = patch(unknown, &admin, &json!({"reason": "x", "name": "y"})).await;
    assert_eq!(status, 404);
    assert_eq!(
        rows_mentioning(&stack().table_name, &client_id).await,
        before
    );

    // A revoked client does not change.
    let resp = http()
        .post(url(&format!("/v1/clients/{client_id}/revoke")))
        .header("authorization", &admin)
        .json(&json!({"reason": "operator_request"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let (status, problem) = patch(&client_id, &admin, &json!({"reason": "x", "name": "y"})).await;
    assert_eq!(status, 409, "{problem}");
}
