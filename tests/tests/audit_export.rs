//! Audit export against the local cloud: a client's chain comes out as NDJSON that verifies,
//! with Clavis's own `verify_chain` and with the independent `scripts/verify-audit`; an edited,
//! removed or reordered record is caught, and so is a cut-off tail given the head header; pages follow `Link` and chain together; the export needs
//! `clavis.auditor`; bad queries are problems.

use std::io::Write;
use std::process::{Command, Stdio};

use clavis_core::audit::{AuditRecord, verify_chain};
use clavis_core::ids::ClientId;
use clavis_tests::{
    http, issue_credential, operator_auth, operator_bearer, register_client, revoke_request, url,
};
use serde_json::Value;

const SCOPES: &[&str] = &["a:read"];
const AUDIENCES: &[&str] = &["https://a.example"];

/// Status, `Clavis-Audit-Head`, `Link` and body of an export.
async fn export(query: &str, auth: &str) -> (u16, Option<String>, Option<String>, String) {
    let resp = http()
        .get(url(&format!("/v1/audit?{query}")))
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (status, head, link) = (
        resp.status().as_u16(),
        header("clavis-audit-head"),
        header("link"),
    );
    if status == 200 {
        assert_eq!(
            header("content-type").as_deref(),
            Some("application/x-ndjson")
        );
    }
    (status, head, link, resp.text().await.unwrap())
}

fn records(ndjson: &str) -> Vec<AuditRecord> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a record"))
        .collect()
}

/// Runs `scripts/verify-audit` (Python, standard library only) on `ndjson`.
fn verify_audit(ndjson: &str, after: Option<&str>) -> (bool, String) {
    verify_audit_with(ndjson, after.map(|a| ["--after", a]).as_slice())
}

/// Runs `scripts/verify-audit` with `args` on `ndjson`.
fn verify_audit_with(ndjson: &str, args: &[[&str; 2]]) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/verify-audit");
    let mut command = Command::new("python3");
    command.arg(script);
    for pair in args {
        command.args(pair);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ndjson.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A client with a history: registered, two credentials issued, one revoked.
async fn client_with_history() -> (String, String, String) {
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let (first, secret) = issue_credential(&client_id, SCOPES, AUDIENCES).await;
    let (_, other_secret) = issue_credential(&client_id, SCOPES, AUDIENCES).await;
    let resp = revoke_request(&first, "key_compromise")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    (client_id, secret, other_secret)
}

#[tokio::test]
async fn an_export_verifies_here_and_independently_and_tampering_is_caught() {
    let (client_id, secret, other_secret) = client_with_history().await;
    let (status, head, link, body) =
        export(&format!("client_id={client_id}"), &operator_auth()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(link, None, "one page holds it all");
    let chain = records(&body);
    let actions: Vec<&str> = chain.iter().map(|r| r.entry.action.as_str()).collect();
    assert_eq!(actions.first(), Some(&"client.registered"));
    for expected in [
        "credential.requested",
        "credential.minted",
        "credential.issued",
        "credential.revoked",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let verified = verify_chain(&chain).expect("the chain verifies");
    assert_eq!(head, Some(format!("{} {}", verified.seq, verified.hash)));
    assert!(
        !body.contains(&secret) && !body.contains(&other_secret),
        "a secret in the audit trail"
    );

    let (ok, report) = verify_audit(&body, None);
    assert!(ok, "{report}");
    assert!(
        report.contains(&format!("head {} {}", verified.seq, verified.hash)),
        "{report}"
    );

    // An edited record, a removed one, and a reordering are each caught, naming the record.
    let lines: Vec<&str> = body.lines().collect();
    let mut edited: Value = serde_json::from_str(lines[1]).unwrap();
    edited["actor"] = "someone-else".into();
    let edited_text = serde_json::to_string(&edited).unwrap();
    let mut tampered = lines.clone();
    tampered[1] = &edited_text;
    let (ok, report) = verify_audit(&(tampered.join("\n") + "\n"), None);
    assert!(!ok && report.contains("record 2: altered"), "{report}");
    let mut shortened = lines.clone();
    shortened.remove(2);
    let (ok, report) = verify_audit(&(shortened.join("\n") + "\n"), None);
    assert!(
        !ok && report.contains("record 4: expected seq 3"),
        "{report}"
    );
    // With the head from the header, a cut-off tail is caught too; the whole export passes.
    let head = head.unwrap();
    let (ok, report) = verify_audit_with(&body, &[["--head", &head]]);
    assert!(ok, "{report}");
    let cut = lines[..lines.len() - 1].join("\n") + "\n";
    let (ok, report) = verify_audit(&cut, None);
    assert!(ok, "without the head a cut tail looks complete: {report}");
    let (ok, report) = verify_audit_with(&cut, &[["--head", &head]]);
    assert!(
        !ok && report.contains("records are missing at the end"),
        "{report}"
    );
    let mut swapped = lines.clone();
    swapped.swap(2, 3);
    let (ok, _) = verify_audit(&(swapped.join("\n") + "\n"), None);
    assert!(!ok);
}

#[tokio::test]
async fn pages_follow_link_and_chain_together() {
    let (client_id, _, _) = client_with_history().await;
    let auth = operator_auth();
    let (_, head, _, whole) = export(&format!("client_id={client_id}"), &auth).await;
    let mut query = format!("client_id={client_id}&limit=2");
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (status, page_head, link, body) = export(&query, &auth).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(page_head, head, "every page names the same head");
        assert!(body.lines().count() <= 2);
        // Each page verifies on its own, continuing from where the last one ended.
        let (ok, report) = verify_audit(&body, after.as_deref());
        assert!(ok, "{report}");
        let last = records(&body)
            .last()
            .map(|r| format!("{}:{}", r.seq, r.hash));
        after = last.or(after);
        pages.push(body);
        match link {
            Some(link) => {
                let next = link
                    .trim_start_matches("</v1/audit?")
                    .split_once('>')
                    .unwrap()
                    .0
                    .to_owned();
                assert!(next.contains("limit=2"), "{link}");
                query = next;
            }
            None => break,
        }
        assert!(pages.len() < 50, "pages never end");
    }
    assert!(pages.len() >= 3);
    assert_eq!(pages.concat(), whole);
}

#[tokio::test]
async fn the_export_needs_the_auditor_scope_and_bad_queries_are_problems() {
    let client_id = register_client("standard", SCOPES, AUDIENCES).await;
    let query = format!("client_id={client_id}");
    let (status, _, _, body) = export(&query, &operator_bearer("clavis.auditor").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(records(&body).len(), 1);
    let (status, _, _, _) = export(&query, &operator_bearer("clavis.issuer").await).await;
    assert_eq!(status, 403);
    let (status, _, _, _) = export(&query, "Basic bm9ib2R5Om5vdGhpbmc=").await;
    assert_eq!(status, 401);

    for (bad, expected) in [
        (String::new(), 400),
        ("client_id=cli_nope".to_owned(), 400),
        (format!("client_id={client_id}&since=-1"), 400),
        (format!("client_id={client_id}&limit=0"), 400),
        (format!("client_id={client_id}&limit=5001"), 400),
        (format!("client_id={}", ClientId::generate()), 404),
    ] {
        let resp = http()
            .get(url(&format!("/v1/audit?{bad}")))
            .header("authorization", operator_auth())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), expected, "{bad}");
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "application/problem+json",
            "{bad}"
        );
    }
}
