//! The `clavis` binary against the local cloud: log in, register, issue, get a token, revoke,
//! export and verify the audit chain; the bad-input paths (unknown client, missing login, an
//! expired token, a revoked operator, a secret with nowhere to go); and no secret in any
//! output, argument or error.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use clavis_tests::{new_operator, stack, stack_path, token_request};
use serde_json::Value;

/// The `clavis` binary of this checkout, built once per test run.
fn clavis_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "clavis-cli", "--bin", "clavis"])
            .current_dir(&root)
            .status()
            .expect("cargo build of the CLI");
        assert!(status.success(), "the CLI does not build");
        // target/debug/deps/cli-… → target/debug/clavis
        let exe = std::env::current_exe().expect("test binary path");
        exe.parent()
            .and_then(Path::parent)
            .map(|d| d.join("clavis"))
            .expect("target directory")
    })
}

/// A CLI with its own profiles directory.
struct Cli {
    config: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

impl Cli {
    fn new() -> Self {
        Self {
            config: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(clavis_bin());
        cmd.args(args)
            .env("CLAVIS_CONFIG_DIR", self.config.path())
            .env_remove("CLAVIS_API_URL")
            .env_remove("CLAVIS_CLIENT_ID")
            .env_remove("CLAVIS_CLIENT_SECRET")
            .env_remove("CLAVIS_PROFILE")
            .env_remove("CLAVIS_OUTPUT")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        finished(self.command(args).output().expect("run clavis"))
    }

    fn login(&self) {
        let stack_file = stack_path();
        let run = self.run(&["login", "--stack", stack_file.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }

    fn profiles(&self) -> PathBuf {
        self.config.path().join("profiles.json")
    }
}

fn finished(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn name() -> String {
    format!("cli-{}", ulid::Ulid::generate().to_string().to_lowercase())
}

fn register(cli: &Cli) -> String {
    let run = cli.run(&[
        "-o",
        "json",
        "clients",
        "create",
        "--name",
        &name(),
        "--environment",
        "dev",
        "--scope",
        "billing:read",
        "--audience",
        "https://billing.example.com",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned()
}

fn issue_args<'a>(client_id: &'a str, key: &'a str) -> Vec<&'a str> {
    vec![
        "-o",
        "json",
        "credentials",
        "issue",
        client_id,
        "--scope",
        "billing:read",
        "--audience",
        "https://billing.example.com",
        "--ttl",
        "3600",
        "--justification",
        "cli test",
        "--idempotency-key",
        key,
    ]
}

fn assert_no_secret(run: &Run, secret: &str) {
    assert!(
        !run.stdout.contains(secret),
        "secret on stdout: {}",
        run.stdout
    );
    assert!(
        !run.stderr.contains(secret),
        "secret on stderr: {}",
        run.stderr
    );
}

#[tokio::test]
async fn register_issue_token_revoke_and_verify_the_audit_through_the_cli() {
    let cli = Cli::new();
    cli.login();
    let mode = std::fs::metadata(cli.profiles())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "profiles readable by others");

    let who = cli.run(&["-o", "json", "whoami"]);
    assert_eq!(who.code, 0, "{}", who.stderr);
    assert_eq!(who.json()["client_id"], stack().operator_client_id.as_str());

    let client_id = register(&cli);
    // --output json is the API's own document.
    let shown = cli.run(&["-o", "json", "clients", "show", &client_id]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_eq!(
        shown.json(),
        clavis_tests::get_json(&format!("/v1/clients/{client_id}")).await
    );
    let table = cli.run(&["clients", "show", &client_id]);
    assert!(
        table.stdout.contains(&client_id) && table.stdout.contains("billing:read"),
        "{}",
        table.stdout
    );

    let secret_file = cli.config.path().join("billing.secret");
    let key = name();
    let mut args = issue_args(&client_id, &key);
    args.extend(["--secret-file", secret_file.to_str().unwrap()]);
    let issued = cli.run(&args);
    assert_eq!(issued.code, 0, "{}", issued.stderr);
    let secret = std::fs::read_to_string(&secret_file)
        .unwrap()
        .trim()
        .to_owned();
    assert!(secret.starts_with("clv_test_"), "{secret}");
    assert_eq!(
        std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_no_secret(&issued, &secret);
    let answer = issued.json();
    assert!(answer.get("client_secret").is_none(), "{answer}");
    let credential_id = answer["credential_id"]
        .as_str()
        .expect("credential_id")
        .to_owned();

    // The secret works.
    let (status, token) =
        token_request(&client_id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200, "{token}");

    // The same key again: the same request, no second credential, and the secret is not
    // handed out twice (a refusal, exit 1, and no file left behind).
    let again_file = cli.config.path().join("again.secret");
    let mut again = issue_args(&client_id, &key);
    again.extend(["--secret-file", again_file.to_str().unwrap()]);
    let again = cli.run(&again);
    assert_eq!(again.code, 1, "{}\n{}", again.stdout, again.stderr);
    assert!(again.stderr.contains("410"), "{}", again.stderr);
    assert!(!again_file.exists());
    let listed = cli.run(&["-o", "json", "credentials", "list", &client_id]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let items = listed.json()["items"].as_array().cloned().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["credential_id"], credential_id.as_str());

    let revoked = cli.run(&[
        "-o",
        "json",
        "credentials",
        "revoke",
        &credential_id,
        "--reason",
        "key_compromise",
    ]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    let seq = revoked.json()["seq"].as_u64().expect("seq");
    let since = (seq - 1).to_string();
    let registry = cli.run(&[
        "-o",
        "json",
        "revocations",
        "list",
        "--since",
        &since,
        "--limit",
        "1",
    ]);
    assert_eq!(registry.code, 0, "{}", registry.stderr);
    assert_eq!(
        registry.json()["items"][0]["credential_id"],
        credential_id.as_str()
    );
    // The snapshot holds it too (its credential has not expired), at a seq at least as late.
    let snapshot = cli.run(&["-o", "json", "revocations", "snapshot"]);
    assert_eq!(snapshot.code, 0, "{}", snapshot.stderr);
    let snapshot = snapshot.json();
    assert!(snapshot["seq"].as_u64().expect("seq") >= seq);
    assert!(
        snapshot["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|e| e["credential_id"] == credential_id.as_str()),
        "{snapshot}"
    );
    let (status, _) =
        token_request(&client_id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 401);

    // The audit chain: exported whole, verified offline, and a tampered copy refused.
    let export = cli.config.path().join("audit.ndjson");
    let audited = cli.run(&[
        "audit",
        "export",
        "--client",
        &client_id,
        "--out",
        export.to_str().unwrap(),
        "--verify",
    ]);
    assert_eq!(audited.code, 0, "{}", audited.stderr);
    assert!(
        audited.stderr.contains(&format!("ok {client_id} 1..")),
        "{}",
        audited.stderr
    );
    let text = std::fs::read_to_string(&export).unwrap();
    assert!(text.contains("credential.revoked"), "{text}");
    let tampered = cli.config.path().join("tampered.ndjson");
    std::fs::write(
        &tampered,
        text.replacen("key_compromise", "operator_request", 1),
    )
    .unwrap();
    let refused = cli.run(&["audit", "verify", tampered.to_str().unwrap()]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("does not verify"),
        "{}",
        refused.stderr
    );
}

#[tokio::test]
async fn mistakes_are_explained_with_their_exit_code_and_change_nothing() {
    let cli = Cli::new();
    // Not logged in: a usage error before anything is sent.
    let run = cli.run(&["clients", "list"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("not logged in") && run.stderr.contains("clavis login"),
        "{}",
        run.stderr
    );

    cli.login();
    // An unknown client: the API's 404 problem, printed readably, exit 1.
    let run = cli.run(&["clients", "show", "cli_00000000000000000000000001"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("404") && run.stderr.contains("urn:clavis:problem:"),
        "{}",
        run.stderr
    );
    // Something that is not an id never reaches another route.
    let run = cli.run(&["clients", "show", "../oauth2/token"]);
    assert_eq!(run.code, 2, "{}", run.stderr);

    // A secret with nowhere to go: refused before the request, nothing issued.
    let client_id = register(&cli);
    let run = cli.run(&issue_args(&client_id, &name()));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--secret-file"), "{}", run.stderr);
    let listed = cli.run(&["-o", "json", "credentials", "list", &client_id]);
    assert_eq!(listed.json()["items"], serde_json::json!([]));

    // A bad request body: the 422 problem names the field, and nothing is written.
    let run = cli.run(&[
        "clients",
        "create",
        "--name",
        &name(),
        "--environment",
        "moon",
        "--scope",
        "a",
        "--audience",
        "b",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("environment"), "{}", run.stderr);

    // A secret file that exists is never overwritten, and nothing is sent.
    let existing = cli.config.path().join("exists.secret");
    std::fs::write(&existing, "keep me").unwrap();
    let key = name();
    let mut args = issue_args(&client_id, &key);
    args.extend(["--secret-file", existing.to_str().unwrap()]);
    let run = cli.run(&args);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    let listed = cli.run(&["-o", "json", "credentials", "list", &client_id]);
    assert_eq!(listed.json()["items"], serde_json::json!([]));
}

#[tokio::test]
async fn an_expired_token_is_replaced_and_a_revoked_operator_is_told_to_log_in_again() {
    let cli = Cli::new();
    cli.login();
    // The cached token expired (and is garbage): the next command fetches a new one.
    let mut profiles: Value =
        serde_json::from_slice(&std::fs::read(cli.profiles()).unwrap()).unwrap();
    profiles["profiles"]["default"]["token"] =
        serde_json::json!({"access_token": "x.y.z", "expires_at": 1});
    std::fs::write(cli.profiles(), serde_json::to_vec(&profiles).unwrap()).unwrap();
    let run = cli.run(&["-o", "json", "whoami"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stored: Value = serde_json::from_slice(&std::fs::read(cli.profiles()).unwrap()).unwrap();
    assert!(
        stored["profiles"]["default"]["token"]["expires_at"]
            .as_i64()
            .unwrap()
            > 1
    );

    // An operator whose credential was revoked: exit 1, and the way out.
    let (operator_id, secret) = new_operator(&["clavis.auditor"]).await;
    let other = Cli::new();
    let out = login_with_stdin(&other, &operator_id, &secret);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_no_secret(&out, &secret);
    let listed = cli.run(&["-o", "json", "credentials", "list", &operator_id]);
    let credential = listed.json()["items"][0]["credential_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = cli.run(&[
        "credentials",
        "revoke",
        &credential,
        "--reason",
        "operator_request",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Its cached token is still good for a while; a fresh one is refused.
    let run = other.run(&["token", "get"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("clavis login"), "{}", run.stderr);
    assert_no_secret(&run, &secret);

    // A login that gets no token stores nothing.
    let third = Cli::new();
    let out = login_with_stdin(&third, &operator_id, &secret);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(!third.profiles().exists());
}

/// `clavis login` as `client_id`, its secret given on standard input.
fn login_with_stdin(cli: &Cli, client_id: &str, secret: &str) -> Run {
    use std::io::Write;
    let api_url = &stack().api_url;
    let args = [
        "login",
        "--api-url",
        api_url,
        "--client-id",
        client_id,
        "--secret-stdin",
    ];
    let mut child = cli
        .command(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn clavis");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{secret}\n").as_bytes())
        .expect("write secret");
    finished(child.wait_with_output().expect("clavis ran"))
}

/// Writes a clients file at `path` declaring `clients` as (name, environment, scopes,
/// auto_rotate).
fn clients_file(path: &Path, clients: &[(&str, &str, &[&str], bool)]) -> PathBuf {
    let mut text = String::from("clients:\n");
    for (name, environment, scopes, auto_rotate) in clients {
        text.push_str(&format!(
            "  - name: {name}\n    environment: {environment}\n    allowed_scopes: [{}]\n    allowed_audiences: [https://plan.example.com]\n    auto_rotate: {auto_rotate}\n",
            scopes.join(", ")
        ));
    }
    std::fs::write(path, text).expect("clients file");
    path.to_owned()
}

#[tokio::test]
async fn plan_and_apply_round_trip_and_check_reports_drift() {
    let cli = Cli::new();
    cli.login();
    let (a, b) = (name(), name());
    let file = clients_file(
        &cli.config.path().join("clients.yaml"),
        &[
            (&a, "dev", &["plan:read"], false),
            (&b, "dev", &["plan:read", "plan:write"], true),
        ],
    );
    let file = file.to_str().expect("utf-8 path");

    // Nothing there yet: two to create, and --check says so with exit 4.
    let plan = cli.run(&["plan", "-f", file]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.contains("Plan: 2 to create, 0 to update"),
        "{}",
        plan.stdout
    );
    let check = cli.run(&["plan", "-f", file, "--check"]);
    assert_eq!(check.code, 4, "{}", check.stderr);

    let apply = cli.run(&["-o", "json", "apply", "-f", file, "--reason", "round trip"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let applied = apply.json()["applied"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(applied.len(), 2, "{}", apply.stdout);
    assert!(applied.iter().all(|s| s["action"] == "created"));
    let a_id = applied[0]["client"]["client_id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(applied[1]["client"]["auto_rotate"], true);

    // Applied: the check is clean, and applying again changes nothing.
    let clean = cli.run(&["-o", "json", "plan", "-f", file, "--check"]);
    assert_eq!(clean.code, 0, "{}{}", clean.stdout, clean.stderr);
    assert_eq!(clean.json()["drift"], false);
    assert_eq!(clean.json()["summary"]["unchanged"], 2);

    // Someone narrows a client through the API: the check reports the drift and fails.
    let resp = clavis_tests::http()
        .patch(clavis_tests::url(&format!("/v1/clients/{a_id}")))
        .header("authorization", clavis_tests::operator_auth())
        .json(&serde_json::json!({"reason": "by hand", "allowed_scopes": ["plan:other"]}))
        .send()
        .await
        .expect("patch");
    assert_eq!(resp.status().as_u16(), 200);
    let drift = cli.run(&["plan", "-f", file, "--check"]);
    assert_eq!(drift.code, 4, "{}", drift.stdout);
    assert!(
        drift.stdout.contains(&format!("~ update     {a_id}")),
        "{}",
        drift.stdout
    );
    assert!(
        drift
            .stdout
            .contains("allowed_scopes: plan:other -> plan:read"),
        "{}",
        drift.stdout
    );
    assert!(drift.stderr.contains("1 to update"), "{}", drift.stderr);

    // Apply puts it back, with the reason in its audit trail.
    let apply = cli.run(&["apply", "-f", file, "--reason", "CHANGE-42"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(apply.stdout.contains("1 updated"), "{}", apply.stdout);
    let check = cli.run(&["plan", "-f", file, "--check"]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
    let trail = clavis_tests::audit_export(&a_id).await;
    assert!(trail.iter().any(|r| {
        r.entry.action == "client.updated"
            && r.entry
                .detail
                .get("reason")
                .is_some_and(|w| w == "CHANGE-42")
    }));

    // What cannot be applied is refused before anything is sent.
    let moved = clients_file(
        &cli.config.path().join("moved.yaml"),
        &[
            (&a, "prod", &["plan:read", "plan:more"], false),
            (&b, "dev", &["plan:read"], true),
        ],
    );
    let refused = cli.run(&["apply", "-f", moved.to_str().unwrap()]);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(refused.stderr.contains("environment"), "{}", refused.stderr);
    assert!(refused.stdout.contains("! refused"), "{}", refused.stdout);
    let unchanged = cli.run(&["plan", "-f", file, "--check"]);
    assert_eq!(
        unchanged.code, 0,
        "nothing was applied: {}",
        unchanged.stdout
    );

    // A malformed file names the mistake and its place.
    std::fs::write(
        cli.config.path().join("bad.yaml"),
        "clients:\n  - name: x\n    environment: qa\n",
    )
    .unwrap();
    let bad = cli.run(&[
        "plan",
        "-f",
        cli.config.path().join("bad.yaml").to_str().unwrap(),
    ]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("environment") || bad.stderr.contains("qa"),
        "{}",
        bad.stderr
    );
}

#[test]
fn every_command_has_help_with_an_example() {
    let cli = Cli::new();
    let top = cli.run(&["--help"]);
    assert_eq!(top.code, 0);
    assert!(top.stdout.contains("Exit codes:"), "{}", top.stdout);
    let groups = [
        (
            "clients",
            &[
                "create", "list", "show", "update", "revoke", "suspend", "resume",
            ][..],
        ),
        (
            "credentials",
            &["issue", "list", "show", "rotate", "revoke"],
        ),
        ("requests", &["show", "wait"]),
        ("approvals", &["list", "approve", "deny"]),
        ("revocations", &["list", "snapshot", "watch"]),
        ("audit", &["export", "verify"]),
        ("token", &["get", "decode"]),
    ];
    for (group, commands) in groups {
        for command in commands {
            let run = cli.run(&[group, command, "--help"]);
            assert_eq!(run.code, 0, "{group} {command}: {}", run.stderr);
            assert!(
                run.stdout.contains("Example"),
                "{group} {command} has no example:\n{}",
                run.stdout
            );
        }
    }
    for command in ["login", "completions", "plan", "apply"] {
        let run = cli.run(&[command, "--help"]);
        assert!(run.stdout.contains("Example"), "{command}: {}", run.stdout);
    }
    let completions = cli.run(&["completions", "bash"]);
    assert_eq!(completions.code, 0);
    assert!(
        completions.stdout.contains("clavis"),
        "{}",
        completions.stdout
    );
}

/// The README's walk-through, run as written: its `sh` block, in a scratch directory, against
/// this run's stack. Only the stack file's path changes (and `target/debug`, which the scratch
/// directory lacks, is on `PATH` already).
#[test]
fn the_readme_walk_through_runs_as_written() {
    let readme = include_str!("../../README.md");
    let block = readme
        .split("\n## Walk-through\n")
        .nth(1)
        .and_then(|section| section.split("```sh\n").nth(1))
        .and_then(|block| block.split("\n```").next())
        .expect("the README has a walk-through with an sh block");
    let stack_file = stack_path();
    let script = block.replace(".local/dev/stack.json", stack_file.to_str().expect("utf-8"));
    let cli = Cli::new();
    let scratch = tempfile::tempdir().expect("scratch dir");
    let bin_dir = clavis_bin().parent().expect("bin dir").to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = finished(
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(scratch.path())
            .env("PATH", path)
            .env("CLAVIS_CONFIG_DIR", cli.config.path())
            .env_remove("CLAVIS_API_URL")
            .env_remove("CLAVIS_CLIENT_ID")
            .env_remove("CLAVIS_CLIENT_SECRET")
            .env_remove("CLAVIS_PROFILE")
            .env_remove("CLAVIS_OUTPUT")
            .stdin(Stdio::null())
            .output()
            .expect("bash runs"),
    );
    assert_eq!(
        run.code, 0,
        "the walk-through failed\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    // The narrowed credential's token carries billing:read only; the audit export verified;
    // the declared client is there and nothing drifted.
    assert!(
        run.stdout.contains("\"scope\": \"billing:read\""),
        "{}",
        run.stdout
    );
    let both = format!("{}\n{}", run.stdout, run.stderr);
    assert!(both.contains("\nok cli_"), "{both}");
    assert!(run.stdout.contains("no drift"), "{}", run.stdout);
    let secret =
        std::fs::read_to_string(scratch.path().join("billing.secret")).expect("the secret file");
    let mode = std::fs::metadata(scratch.path().join("billing.secret"))
        .expect("secret file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_no_secret(&run, secret.trim());
}

/// Sets the state of the stack's alarm whose name ends with `suffix`; answers its name.
async fn set_alarm(suffix: &str, state: aws_sdk_cloudwatch::types::StateValue) -> String {
    let cw = aws_sdk_cloudwatch::Client::new(&clavis_tests::sdk().await);
    let name = format!("clavis-{}-{suffix}", stack().stage);
    cw.set_alarm_state()
        .alarm_name(&name)
        .state_value(state)
        .state_reason("set by the status test")
        .send()
        .await
        .expect("set_alarm_state");
    name
}

#[tokio::test]
async fn status_shows_the_queues_and_a_ringing_alarm_with_its_runbook() {
    use aws_sdk_cloudwatch::types::StateValue;
    let cli = Cli::new();
    cli.login();
    let name = set_alarm("workflow-dlq-alarm", StateValue::Alarm).await;
    let run = cli.run(&["status"]);
    let json = cli.run(&["-o", "json", "status"]);
    set_alarm("workflow-dlq-alarm", StateValue::Ok).await;

    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(&name), "{}", run.stdout);
    assert!(
        run.stdout.contains("docs/runbooks/workflow-dlq.md"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("needs attention"), "{}", run.stderr);
    let status = json.json();
    assert_eq!(json.code, 4);
    assert_eq!(status["healthy"], false);
    let queues: Vec<&str> = status["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .filter_map(|q| q["name"].as_str())
        .collect();
    assert_eq!(
        queues,
        ["events-dlq", "workflow-dlq", "intake", "intake-dlq"]
    );
    assert_eq!(status["alarms"][0]["name"], name.as_str(), "ringing first");
    assert_eq!(status["alarms"][0]["state"], "ALARM");
    // Every alarm of the template is there, and each names a runbook that exists.
    let template =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
            .expect("template");
    let declared = template.matches("Type: AWS::CloudWatch::Alarm").count();
    let alarms = status["alarms"].as_array().expect("alarms");
    assert_eq!(alarms.len(), declared, "{status}");
    for alarm in alarms {
        let runbook = alarm["runbook"].as_str().unwrap_or_default();
        assert!(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(runbook)
                .is_file(),
            "{alarm}"
        );
    }

    // Administrators and auditors read it; other operators do not.
    let (auditor_id, auditor_secret) = new_operator(&["clavis.auditor"]).await;
    let (issuer_id, issuer_secret) = new_operator(&["clavis.issuer"]).await;
    let as_auditor = clavis_tests::basic(&auditor_id, &auditor_secret);
    let as_issuer = clavis_tests::basic(&issuer_id, &issuer_secret);
    assert_eq!(clavis_tests::get_as("/v1/status", &as_auditor).await.0, 200);
    assert_eq!(clavis_tests::get_as("/v1/status", &as_issuer).await.0, 403);
}

#[tokio::test]
async fn replay_follows_its_run_to_the_end_and_reports_each_queue() {
    let cli = Cli::new();
    cli.login();
    let run = cli.run(&[
        "-o",
        "json",
        "replay",
        "--queue",
        "workflow",
        "--max-messages",
        "5",
    ]);
    // 4 when earlier tests left work that still cannot be replayed: the run ended all the same.
    assert!(
        run.code == 0 || run.code == 4,
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let record = run.json();
    assert_eq!(record["status"], "finished", "{record}");
    assert!(record["report"]["workflow"].is_object(), "{record}");
    let id = record["replay_id"].as_str().expect("replay_id");
    let again = cli.run(&["replay", "--follow", id]);
    assert_eq!(again.code, run.code, "{}", again.stderr);
    assert!(
        again.stdout.contains(&format!("replay {id} finished")),
        "{}",
        again.stdout
    );
    let bad = cli.run(&["replay", "--follow", "../x"]);
    assert_eq!(bad.code, 2);
}
