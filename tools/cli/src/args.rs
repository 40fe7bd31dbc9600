//! The command line: every command, option and example `clavis --help` shows.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::output::Format;
use crate::profile::DEFAULT_PROFILE;

/// Drive a Clavis stack through its HTTP API.
#[derive(Debug, Parser)]
#[command(
    name = "clavis",
    version,
    about = "Drive a Clavis stack through its HTTP API: clients, credentials, approvals, revocations, audit, status and replay.",
    after_help = root_help(),
)]
pub struct Cli {
    /// The profile (stack and operator) to use.
    #[arg(long, global = true, env = "CLAVIS_PROFILE", default_value = DEFAULT_PROFILE)]
    pub profile: String,
    /// Tables for people, or the API's JSON for scripts.
    #[arg(
        long,
        short,
        global = true,
        env = "CLAVIS_OUTPUT",
        value_enum,
        default_value_t
    )]
    pub output: Format,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const fn root_help() -> &'static str {
    "Examples:
  clavis login --stack .local/dev/stack.json
  clavis clients create --name billing --environment dev --scope billing:read --audience https://billing.example.com
  clavis credentials issue cli_01K… --scope billing:read --audience https://billing.example.com \\
      --ttl 86400 --justification 'nightly export' --secret-file billing.secret
  clavis credentials revoke crd_01K… --reason key_compromise
  clavis audit export --client cli_01K… --verify

Profiles live in $CLAVIS_CONFIG_DIR/profiles.json (default ~/.config/clavis), readable by
their owner only; CLAVIS_API_URL, CLAVIS_CLIENT_ID and CLAVIS_CLIENT_SECRET together replace a
profile. A secret is never an argument: it comes from a prompt, a file or an environment
variable, and goes to a new 0600 file (or to stdout with --show-secret).

Exit codes:
  0  done
  1  refused: the API answered 4xx and changed nothing (the problem is printed)
  2  usage: a mistake caught before anything was sent (missing login, bad option, file exists)
  3  fault: the API answered 5xx, could not be reached, or answered something unreadable
  4  not as expected: a request ended denied or failed, a wait ran out, an export did not verify"
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store a profile: the API URL and an operator credential, checked by fetching a token.
    #[command(after_help = "Examples:
  clavis login --stack .local/dev/stack.json                  # the local cloud's administrator
  clavis login --stack .local/dev/stack.json --as approver --profile approver
  clavis login --api-url https://clavis.example.com --client-id cli_01K… --secret-file op.secret
  pass show clavis/op | clavis login --api-url … --client-id cli_01K… --secret-stdin
  clavis login --api-url … --client-id cli_01K…               # prompts for the secret")]
    Login(LoginArgs),
    /// Forget a profile (its secret and token).
    #[command(after_help = "Examples:
  clavis logout
  clavis logout --profile approver")]
    Logout,
    /// Say which operator and stack the profile acts as, and the scopes its token holds.
    #[command(after_help = "Examples:
  clavis whoami
  clavis whoami -o json | jq -r .scope")]
    Whoami,
    /// Register, list, inspect, change, suspend, resume and revoke API clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Compare a file of declared clients with the stack; `--check` fails on any difference.
    #[command(after_help = "Examples:
  clavis plan -f clients.yaml            # what apply would do
  clavis plan -f clients.yaml --check    # in CI: exit 4 if the stack drifted from the file

The file (YAML or JSON):
  clients:
    - name: billing-service            # found by name among clients not revoked,
      # client_id: cli_01K…            # or pinned by id
      environment: dev                 # never changes
      tier: standard                   # default standard
      allowed_scopes: [billing:read]
      allowed_audiences: [https://billing.example.com]
      auto_rotate: false               # default false
      # delivery: {kind: aws_secrets_manager, secret_arn: arn:…}   # set at creation only

Clients the file does not name are left alone: plan and apply never revoke.")]
    Plan {
        /// The clients file.
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// Exit 4 if the stack differs from the file (for CI).
        #[arg(long)]
        check: bool,
    },
    /// Make the stack's clients what a file declares: register the missing, update the rest.
    #[command(after_help = "Example:
  clavis apply -f clients.yaml --reason 'CHANGE-1234 billing writes invoices'

Each change is audited with the reason (client.updated) and announced (Client Updated).
Nothing is sent when the file declares something that cannot be applied (a different
environment or delivery target, an ambiguous name); see `clavis plan --help` for the format.")]
    Apply {
        /// The clients file.
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// Why (recorded with every change).
        #[arg(long, default_value = "clavis apply")]
        reason: String,
    },
    /// Issue, list, inspect, rotate and revoke credentials.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Follow a credential request: its status, or wait for it and pick its secret up.
    #[command(subcommand)]
    Requests(RequestsCommand),
    /// Held issuances: list them, approve or deny them (as an approver).
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// The revocation registry: list it, or follow it as it grows.
    #[command(subcommand)]
    Revocations(RevocationsCommand),
    /// Export a client's audit chain and verify it offline.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Access tokens: get one for the profile, or decode one (without trusting it).
    #[command(subcommand)]
    Token(TokenCommand),
    /// How the stack stands: the queues where work waits after a fault, and its alarms.
    #[command(after_help = "Examples:
  clavis status                  # exit 4 when an alarm rings or work waits
  clavis status -o json

Needs clavis.admin or clavis.auditor. Each alarm in ALARM is shown with its runbook.")]
    Status,
    /// Retry work parked by a fault (events, workflows, starts), following the run to its end.
    #[command(after_help = "Examples:
  clavis replay                          # every queue; a table of what each run did
  clavis replay --queue events --max-messages 100
  clavis replay --no-wait                # start it, print its id, return
  clavis replay --follow rpl_01K…        # follow a run started before

Needs clavis.admin (following a run: clavis.admin or clavis.auditor). Every replay is
idempotent. Exit 4 when messages are still queued (their dependency still fails, or they need
an operator), 3 when the run itself failed.")]
    Replay {
        /// events, workflow or intake (repeat; default: all three).
        #[arg(long = "queue", conflicts_with = "follow")]
        queues: Vec<String>,
        /// At most this many messages per queue (1 to 1000, default 1000).
        #[arg(long, conflicts_with = "follow")]
        max_messages: Option<usize>,
        /// Start the run and return at once.
        #[arg(long, conflicts_with = "follow")]
        no_wait: bool,
        /// Follow a run started before, by its id.
        #[arg(long)]
        follow: Option<String>,
        /// Stop following after this many seconds (the run goes on).
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Print shell completions.
    #[command(
        after_help = "Example:\n  clavis completions bash > ~/.local/share/bash-completion/completions/clavis"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `clavis login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Read the API URL and a bootstrap operator's credential from a local cloud's stack.json.
    #[arg(long, conflicts_with_all = ["api_url", "client_id"])]
    pub stack: Option<PathBuf>,
    /// With --stack: which bootstrap operator.
    #[arg(long = "as", value_enum, default_value_t, requires = "stack")]
    pub as_operator: StackOperator,
    /// The API's base URL.
    #[arg(long, required_unless_present = "stack")]
    pub api_url: Option<String>,
    /// The operator's client id.
    #[arg(long, required_unless_present = "stack")]
    pub client_id: Option<String>,
    /// Read the secret from this file (its first line).
    #[arg(long, conflicts_with_all = ["secret_env", "secret_stdin", "stack"])]
    pub secret_file: Option<PathBuf>,
    /// Read the secret from this environment variable.
    #[arg(long, conflicts_with_all = ["secret_stdin", "stack"])]
    pub secret_env: Option<String>,
    /// Read the secret from the first line of standard input.
    #[arg(long, conflicts_with = "stack")]
    pub secret_stdin: bool,
}

/// A bootstrap operator of the local cloud.
#[derive(Debug, Clone, Copy, Default, ValueEnum, PartialEq, Eq)]
pub enum StackOperator {
    /// The administrator (`operator_client_id`).
    #[default]
    Operator,
    /// The approver (`approver_client_id`).
    Approver,
}

/// Paging of list commands.
#[derive(Debug, Args)]
pub struct Paging {
    /// Follow `next` until this many items were listed.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Start from this cursor (a previous list's `next`).
    #[arg(long)]
    pub cursor: Option<String>,
}

/// `clavis clients …`.
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client.
    #[command(after_help = "Example:
  clavis clients create --name billing-service --environment dev --tier standard \\
      --scope billing:read --audience https://billing.example.com")]
    Create {
        /// Its name.
        #[arg(long)]
        name: String,
        /// dev, staging or prod.
        #[arg(long)]
        environment: String,
        /// standard or privileged.
        #[arg(long, default_value = "standard")]
        tier: String,
        /// A scope it may be given (repeat).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// An audience it may target (repeat).
        #[arg(long = "audience", required = true)]
        audiences: Vec<String>,
        /// Rotate its credentials automatically in their renewal window.
        #[arg(long)]
        auto_rotate: bool,
        /// Deliver its secrets into this AWS Secrets Manager secret instead of over HTTP.
        #[arg(long)]
        delivery_secret_arn: Option<String>,
    },
    /// List clients.
    #[command(after_help = "Example:\n  clavis clients list --status active --environment prod")]
    List {
        /// active, suspended or revoked.
        #[arg(long)]
        status: Option<String>,
        /// dev, staging or prod.
        #[arg(long)]
        environment: Option<String>,
        /// The operator that registered them.
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show a client.
    #[command(after_help = "Example:\n  clavis clients show cli_01K…")]
    Show {
        /// The client id.
        client_id: String,
    },
    /// Change a client's name, tier, allowed scopes or audiences, or automatic rotation.
    #[command(after_help = "Examples:
  clavis clients update cli_01K… --scope billing:read --reason 'least privilege review'
  clavis clients update cli_01K… --tier privileged --auto-rotate true --reason 'CHANGE-1234'

--scope and --audience replace the whole list. Narrowing binds the client's live credentials
at once; widening gives them nothing they were not issued with (issue a new credential).")]
    Update {
        /// The client id.
        client_id: String,
        /// Why (recorded in the audit trail and announced).
        #[arg(long)]
        reason: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// standard or privileged.
        #[arg(long)]
        tier: Option<String>,
        /// Every scope it may be given (repeat; replaces the list).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Every audience it may target (repeat; replaces the list).
        #[arg(long = "audience")]
        audiences: Vec<String>,
        /// Rotate its credentials automatically: true or false.
        #[arg(long)]
        auto_rotate: Option<bool>,
    },
    /// Revoke a client and, in batches, all its credentials.
    #[command(after_help = "Example:\n  clavis clients revoke cli_01K… --reason policy_violation")]
    Revoke {
        /// The client id.
        client_id: String,
        /// key_compromise, policy_violation or operator_request.
        #[arg(long)]
        reason: String,
    },
    /// Suspend a client: its credentials stop authenticating until it is resumed.
    #[command(after_help = "Example:\n  clavis clients suspend cli_01K… --reason 'incident 4711'")]
    Suspend {
        /// The client id.
        client_id: String,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Resume a suspended client.
    #[command(
        after_help = "Example:\n  clavis clients resume cli_01K… --reason 'incident 4711 closed'"
    )]
    Resume {
        /// The client id.
        client_id: String,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
}

/// Where a new secret goes.
#[derive(Debug, Args)]
pub struct SecretDestination {
    /// Write the secret to this new file (created 0600; an existing file is refused).
    #[arg(long, conflicts_with = "show_secret")]
    pub secret_file: Option<PathBuf>,
    /// Print the secret on standard output instead.
    #[arg(long)]
    pub show_secret: bool,
}

/// How long to wait for a workflow.
#[derive(Debug, Args)]
pub struct Waiting {
    /// Answer at once with the request id instead of waiting for it to settle.
    #[arg(long)]
    pub no_wait: bool,
    /// Wait at most this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

/// `clavis credentials …`.
#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Request a credential for a client; wait for it and write its secret.
    #[command(after_help = "Examples:
  clavis credentials issue cli_01K… --scope billing:read --audience https://billing.example.com \\
      --ttl 86400 --justification 'nightly export' --secret-file billing.secret
  clavis credentials issue cli_01K… … --idempotency-key billing-2026-12 --show-secret

The request is idempotent: run it again with the --idempotency-key it printed (or gave) and
you get the same request, never a second credential. A request held for approval prints its
approval id; `clavis requests wait REQUEST --secret-file F` picks the secret up later.")]
    Issue {
        /// The client id.
        client_id: String,
        /// A scope (repeat).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// An audience (repeat).
        #[arg(long = "audience", required = true)]
        audiences: Vec<String>,
        /// Lifetime in seconds.
        #[arg(long = "ttl")]
        ttl_seconds: u64,
        /// Why (recorded in the audit trail; approvers read it).
        #[arg(long)]
        justification: String,
        /// The idempotency key (default: a new one, printed).
        #[arg(long)]
        idempotency_key: Option<String>,
        /// If held for approval, the longest it may wait, in seconds.
        #[arg(long)]
        approval_window: Option<u64>,
        #[command(flatten)]
        secret: SecretDestination,
        #[command(flatten)]
        waiting: Waiting,
    },
    /// List a client's credentials.
    #[command(after_help = "Example:\n  clavis credentials list cli_01K… --status active")]
    List {
        /// The client id.
        client_id: String,
        /// requested, pending_approval, approved, active, expired, revoked, denied or failed.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show a credential (never its secret).
    #[command(after_help = "Example:\n  clavis credentials show crd_01K…")]
    Show {
        /// The credential id.
        credential_id: String,
    },
    /// Rotate a credential: a successor, with both working during the overlap.
    #[command(after_help = "Example:
  clavis credentials rotate crd_01K… --overlap 3600 --secret-file billing.next.secret")]
    Rotate {
        /// The credential id.
        credential_id: String,
        /// How long both authenticate, in seconds.
        #[arg(long = "overlap")]
        overlap_seconds: Option<u64>,
        /// at_overlap_end or on_drain.
        #[arg(long)]
        retire: Option<String>,
        /// With --retire on_drain: how long the predecessor must go unused.
        #[arg(long = "drain")]
        drain_seconds: Option<u64>,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        justification: Option<String>,
        /// The idempotency key (default: a new one, printed).
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        secret: SecretDestination,
        #[command(flatten)]
        waiting: Waiting,
    },
    /// Revoke a credential, at once and for every subscriber.
    #[command(
        after_help = "Example:\n  clavis credentials revoke crd_01K… --reason key_compromise"
    )]
    Revoke {
        /// The credential id.
        credential_id: String,
        /// key_compromise, policy_violation or operator_request.
        #[arg(long)]
        reason: String,
    },
}

/// `clavis requests …`.
#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// Show a request's status.
    #[command(after_help = "Example:\n  clavis requests show req_01K…")]
    Show {
        /// The request id.
        request_id: String,
    },
    /// Wait until a request settles; with a destination, pick its secret up.
    #[command(
        after_help = "Example:\n  clavis requests wait req_01K… --secret-file billing.secret"
    )]
    Wait {
        /// The request id.
        request_id: String,
        /// Wait at most this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        #[command(flatten)]
        secret: SecretDestination,
    },
}

/// `clavis approvals …`.
#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List the approvals still pending, soonest deadline first.
    #[command(after_help = "Example:\n  clavis approvals list")]
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show an approval: what is asked, why it was held, who decided.
    #[command(after_help = "Example:\n  clavis approvals show apr_01K…")]
    Show {
        /// The approval id.
        approval_id: String,
    },
    /// Approve a held issuance (not your own).
    #[command(after_help = "Example:\n  clavis approvals approve apr_01K… --reason 'change 4711'")]
    Approve {
        /// The approval id.
        approval_id: String,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Deny a held issuance.
    #[command(
        after_help = "Example:\n  clavis approvals deny apr_01K… --reason 'not this quarter'"
    )]
    Deny {
        /// The approval id.
        approval_id: String,
        /// Why (recorded and told to the requester).
        #[arg(long)]
        reason: String,
    },
}

/// `clavis revocations …`.
#[derive(Debug, Subcommand)]
pub enum RevocationsCommand {
    /// List registry entries after a `seq`.
    #[command(after_help = "Example:\n  clavis revocations list --since 41")]
    List {
        /// Entries with a greater seq.
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// At most this many entries.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// The entries still relevant (credentials not yet expired) and the seq they are
    /// consistent at: where a new verifier starts.
    #[command(after_help = "Examples:
  clavis revocations snapshot
  clavis -o json revocations snapshot | jq .seq   # then: clavis revocations watch --since SEQ")]
    Snapshot,
    /// Follow the registry: print each new entry once, in seq order, backfilling any gap.
    #[command(after_help = "Examples:
  clavis revocations watch --since 41
  clavis -o json revocations watch --count 10     # NDJSON, stop after 10 entries")]
    Watch {
        /// Start after this seq (default: now, the seq of the registry's snapshot).
        #[arg(long)]
        since: Option<u64>,
        /// Seconds between polls.
        #[arg(long, default_value_t = 2)]
        interval: u64,
        /// Stop after this many entries.
        #[arg(long)]
        count: Option<usize>,
    },
}

/// `clavis audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Export a client's audit chain as NDJSON, every page, and verify it offline.
    #[command(after_help = "Examples:
  clavis audit export --client cli_01K… --out billing.audit.ndjson --verify
  clavis audit export --client cli_00000000000000000000000000 --verify   # the stack's own chain

--verify checks what scripts/verify-audit checks: one client, seq from 1 without gaps, each
record linked to its predecessor and hashing to what it says, ending at the Clavis-Audit-Head
the API named.")]
    Export {
        /// The client whose chain to export.
        #[arg(long = "client")]
        client_id: String,
        /// Write the NDJSON to this new file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Verify the chain and its head; exit 4 on a break.
        #[arg(long)]
        verify: bool,
    },
    /// Verify an exported NDJSON file offline (no API needed).
    #[command(
        after_help = "Example:\n  clavis audit verify billing.audit.ndjson --head '42 9f86d0…'"
    )]
    Verify {
        /// The export.
        file: PathBuf,
        /// The head the export must end at, `SEQ HASH` (the Clavis-Audit-Head header).
        #[arg(long)]
        head: Option<String>,
    },
}

/// `clavis token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a fresh access token for the profile: for the API (audience `clavis`), or for
    /// any audience and scopes its credential holds.
    #[command(after_help = "Examples:
  curl -H \"authorization: Bearer $(clavis token get)\" …
  CLAVIS_API_URL=… CLAVIS_CLIENT_ID=cli_01K… CLAVIS_CLIENT_SECRET=\"$(cat billing.secret)\" \\
    clavis token get --audience https://billing.example.com --scope billing:read")]
    Get {
        /// The audience (default `clavis`, the API itself).
        #[arg(long)]
        audience: Option<String>,
        /// The scopes, space-separated or repeated (default: every scope the credential holds).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// Decode a JWT read from standard input: its header and claims (the signature is not
    /// checked: resource servers use clavis-verify). A token is a credential, so it is never
    /// an argument.
    #[command(after_help = "Example:\n  clavis token get | clavis token decode")]
    Decode,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every command a person can run, however deep, shows an example in its help.
    #[test]
    fn every_command_has_an_example() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let here = format!("{path} {}", cmd.get_name());
            let leaves: Vec<&clap::Command> = cmd
                .get_subcommands()
                .filter(|c| c.get_name() != "help")
                .collect();
            if leaves.is_empty() {
                let help = cmd
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                if !help.contains("Example") {
                    missing.push(here.clone());
                }
            }
            for c in leaves {
                walk(c, &here, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no example: {missing:?}");
    }

    #[test]
    fn exit_codes_in_the_help_match_the_code() {
        use crate::error::exit;
        for (code, word) in [
            (exit::OK, "done"),
            (exit::REFUSED, "refused"),
            (exit::USAGE, "usage"),
            (exit::FAULT, "fault"),
            (exit::NOT_AS_EXPECTED, "not as expected"),
        ] {
            assert!(
                root_help().contains(&format!("  {code}  {word}")),
                "{code} {word}"
            );
        }
    }
}
