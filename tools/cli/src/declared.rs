//! Declarative clients (`clavis plan|apply -f clients.yaml`): the file format, its checks, and
//! the plan that compares it with the stack. Pure: nothing here talks to the API.
//!
//! A declared client is found in the stack by its `client_id` when the file pins one, else by
//! its name among the clients that are not revoked. Its changeable settings (name, tier,
//! allowed scopes and audiences, automatic rotation) are updated in place; its environment and
//! delivery target never change, so a difference there is reported and refused, never
//! applied. Clients the file does not name are left alone: a plan never revokes.

use std::collections::{BTreeMap, BTreeSet};

use clavis_core::client::{Client, ClientStatus, Environment, NewClient, Tier};
use clavis_core::client_update::ClientSettings;
use clavis_core::delivery::DeliveryTarget;
use clavis_core::ids::ClientId;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::error::{CliError, CliResult};

/// The file: the clients a stack should have.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsFile {
    /// The clients, each once.
    pub clients: Vec<DeclaredClient>,
}

/// One client as the file declares it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredClient {
    /// Pins the client in the stack (otherwise it is found by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    /// Its name: unique in the file, and among the stack's clients that are not revoked.
    pub name: String,
    /// dev, staging or prod.
    pub environment: Environment,
    /// standard (the default) or privileged.
    #[serde(default = "standard")]
    pub tier: Tier,
    /// Scopes its credentials may carry.
    pub allowed_scopes: Vec<String>,
    /// Audiences its credentials may target.
    pub allowed_audiences: Vec<String>,
    /// Rotate its credentials automatically (default false).
    #[serde(default)]
    pub auto_rotate: bool,
    /// Deliver its secrets into a vault instead of over HTTP (set at creation only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryTarget>,
}

fn standard() -> Tier {
    Tier::Standard
}

impl DeclaredClient {
    /// The registration body (`POST /v1/clients`).
    pub fn registration(&self) -> Value {
        let mut body = json!({
            "name": self.name,
            "environment": self.environment,
            "tier": self.tier,
            "allowed_scopes": self.allowed_scopes,
            "allowed_audiences": self.allowed_audiences,
            "auto_rotate": self.auto_rotate,
        });
        if let Some(target) = &self.delivery {
            body["delivery"] = json!(target);
        }
        body
    }

    /// Its settings as the API would store them (trimmed name, sets).
    fn settings(&self) -> ClientSettings {
        ClientSettings {
            name: self.name.trim().to_owned(),
            tier: self.tier,
            allowed_scopes: self.allowed_scopes.iter().cloned().collect(),
            allowed_audiences: self.allowed_audiences.iter().cloned().collect(),
            auto_rotate: self.auto_rotate,
        }
    }
}

/// Reads a clients file (YAML, of which JSON is a part) and checks every entry with the API's
/// own rules, naming each mistake by its place (`clients[2].allowed_scopes[0]`).
pub fn parse(text: &str, file: &str) -> CliResult<ClientsFile> {
    let parsed: ClientsFile =
        serde_yaml_ng::from_str(text).map_err(|e| CliError::Usage(format!("{file}: {e}")))?;
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for (i, c) in parsed.clients.iter().enumerate() {
        let body = NewClient {
            name: c.name.clone(),
            environment: c.environment,
            tier: c.tier,
            allowed_scopes: c.allowed_scopes.clone(),
            allowed_audiences: c.allowed_audiences.clone(),
            auto_rotate: c.auto_rotate,
            delivery: c.delivery.clone(),
        };
        // The stack's delivery prefix is checked by the API; here only the form.
        if let Err(e) = body.validate(ClientId::generate(), "plan", "", OffsetDateTime::UNIX_EPOCH)
        {
            for v in e.violations() {
                problems.push(format!("clients[{i}].{}: {}", v.field, v.reason));
            }
        }
        if !names.insert(c.name.trim().to_owned()) {
            problems.push(format!("clients[{i}].name: {:?} is declared twice", c.name));
        }
        if let Some(id) = c.client_id
            && !ids.insert(id)
        {
            problems.push(format!("clients[{i}].client_id: {id} is declared twice"));
        }
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(CliError::Usage(format!(
            "{file}:\n  {}",
            problems.join("\n  ")
        )))
    }
}

/// What a plan does with one declared client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Step {
    /// Register it.
    Create {
        /// What the file declares.
        declared: Box<DeclaredClient>,
    },
    /// Change these settings of it.
    Update {
        /// The client.
        client_id: ClientId,
        /// Its name in the file.
        name: String,
        /// Each changed setting, before and after.
        changes: Vec<Change>,
        /// The merge patch that makes it so (without the reason).
        patch: BTreeMap<String, Value>,
    },
    /// Nothing to do.
    Unchanged {
        /// The client.
        client_id: ClientId,
        /// Its name.
        name: String,
    },
    /// It differs in what never changes, or cannot be found unambiguously.
    Refused {
        /// The client, when one was found.
        client_id: Option<ClientId>,
        /// Its name in the file.
        name: String,
        /// Why.
        why: String,
    },
}

/// One setting's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The setting.
    pub field: String,
    /// Now.
    pub before: Value,
    /// Declared.
    pub after: Value,
}

impl Step {
    /// Whether the stack differs from the file here.
    pub fn is_drift(&self) -> bool {
        !matches!(self, Self::Unchanged { .. })
    }
}

/// Compares the file with `stack` (every client the API lists, any status).
pub fn plan(file: &ClientsFile, stack: &[Client]) -> Vec<Step> {
    file.clients.iter().map(|d| step(d, stack)).collect()
}

fn step(declared: &DeclaredClient, stack: &[Client]) -> Step {
    let name = declared.name.trim().to_owned();
    let refused = |client_id: Option<ClientId>, why: String| Step::Refused {
        client_id,
        name: name.clone(),
        why,
    };
    let found: Vec<&Client> = match declared.client_id {
        Some(id) => stack.iter().filter(|c| c.client_id == id).collect(),
        None => stack
            .iter()
            .filter(|c| c.status != ClientStatus::Revoked && c.name == name)
            .collect(),
    };
    let current = match (found.as_slice(), declared.client_id) {
        ([], None) => {
            return Step::Create {
                declared: Box::new(declared.clone()),
            };
        }
        ([], Some(id)) => return refused(Some(id), format!("no client {id} in the stack")),
        ([one], _) => *one,
        (many, _) => {
            let ids: Vec<String> = many.iter().map(|c| c.client_id.to_string()).collect();
            return refused(
                None,
                format!(
                    "{} clients are named {name:?} ({}); pin one with client_id",
                    many.len(),
                    ids.join(", ")
                ),
            );
        }
    };
    let id = current.client_id;
    if current.status == ClientStatus::Revoked {
        return refused(Some(id), format!("client {id} is revoked"));
    }
    if current.environment != declared.environment {
        return refused(
            Some(id),
            format!(
                "its environment is {}, the file says {}; environments never change (register a new client)",
                current.environment.as_str(),
                declared.environment.as_str()
            ),
        );
    }
    if current.delivery != declared.delivery {
        return refused(
            Some(id),
            "its delivery target differs from the file's; targets never change (register a new client)"
                .into(),
        );
    }
    let before = current.settings();
    let after = declared.settings();
    let changed = before.differences(&after);
    if changed.is_empty() {
        return Step::Unchanged {
            client_id: id,
            name,
        };
    }
    let value = |s: &ClientSettings, field: &str| match field {
        "name" => json!(s.name),
        "tier" => json!(s.tier),
        "allowed_scopes" => json!(s.allowed_scopes),
        "allowed_audiences" => json!(s.allowed_audiences),
        _ => json!(s.auto_rotate),
    };
    Step::Update {
        client_id: id,
        name,
        changes: changed
            .iter()
            .map(|f| Change {
                field: (*f).to_owned(),
                before: value(&before, f),
                after: value(&after, f),
            })
            .collect(),
        patch: changed
            .iter()
            .map(|f| ((*f).to_owned(), value(&after, f)))
            .collect(),
    }
}

/// How many steps of each kind: create, update, unchanged, refused.
pub fn summary(steps: &[Step]) -> [usize; 4] {
    let mut counts = [0; 4];
    for s in steps {
        let i = match s {
            Step::Create { .. } => 0,
            Step::Update { .. } => 1,
            Step::Unchanged { .. } => 2,
            Step::Refused { .. } => 3,
        };
        counts[i] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "
clients:
  - name: billing
    environment: dev
    allowed_scopes: [billing:read, billing:write]
    allowed_audiences: [https://billing.example.com]
  - name: reports
    environment: dev
    tier: privileged
    allowed_scopes: [reports:read]
    allowed_audiences: [https://reports.example.com]
    auto_rotate: true
";

    fn stack_client(name: &str, scopes: &[&str], audience: &str) -> Client {
        NewClient {
            name: name.into(),
            environment: Environment::Dev,
            tier: Tier::Standard,
            allowed_scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            allowed_audiences: vec![audience.into()],
            auto_rotate: false,
            delivery: None,
        }
        .validate(
            ClientId::generate(),
            "cli_op",
            "",
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap()
    }

    #[test]
    fn an_empty_stack_creates_everything_and_a_matching_one_nothing() {
        let file = parse(FILE, "clients.yaml").unwrap();
        let steps = plan(&file, &[]);
        assert_eq!(summary(&steps), [2, 0, 0, 0]);
        let mut billing = stack_client(
            "billing",
            &["billing:write", "billing:read"],
            "https://billing.example.com",
        );
        let mut reports = stack_client("reports", &["reports:read"], "https://reports.example.com");
        reports.tier = Tier::Privileged;
        reports.auto_rotate = true;
        let steps = plan(&file, &[billing.clone(), reports.clone()]);
        assert_eq!(summary(&steps), [0, 0, 2, 0]);
        assert!(!steps.iter().any(Step::is_drift));

        // A revoked namesake does not count; a narrowed one is drift, patched back.
        billing.status = ClientStatus::Revoked;
        let mut narrowed =
            stack_client("billing", &["billing:read"], "https://billing.example.com");
        narrowed.auto_rotate = true;
        let steps = plan(&file, &[billing, narrowed.clone(), reports]);
        let Step::Update {
            client_id,
            changes,
            patch,
            ..
        } = &steps[0]
        else {
            panic!("{steps:?}");
        };
        assert_eq!(*client_id, narrowed.client_id);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["allowed_scopes", "auto_rotate"]);
        assert_eq!(
            patch["allowed_scopes"],
            json!(["billing:read", "billing:write"])
        );
        assert_eq!(patch["auto_rotate"], json!(false));
        assert!(steps[0].is_drift());
    }

    #[test]
    fn what_never_changes_and_ambiguous_names_are_refused() {
        let file = parse(FILE, "f").unwrap();
        let mut prod = stack_client("billing", &["billing:read"], "https://billing.example.com");
        prod.environment = Environment::Prod;
        let steps = plan(&file, &[prod]);
        assert!(matches!(&steps[0], Step::Refused { why, .. } if why.contains("environment")));

        let twins = [
            stack_client("reports", &["reports:read"], "https://reports.example.com"),
            stack_client("reports", &["reports:read"], "https://reports.example.com"),
        ];
        let steps = plan(&file, &twins);
        assert!(matches!(&steps[1], Step::Refused { why, .. } if why.contains("pin one")));

        // Pinned by id, a rename is an update.
        let pinned_text = format!(
            "clients:\n  - client_id: {}\n    name: reports-v2\n    environment: dev\n    allowed_scopes: [reports:read]\n    allowed_audiences: [https://reports.example.com]\n",
            twins[0].client_id
        );
        let pinned = parse(&pinned_text, "f").unwrap();
        let steps = plan(&pinned, &twins);
        assert!(matches!(&steps[0], Step::Update { changes, .. } if changes[0].field == "name"));
        let steps = plan(&pinned, &[]);
        assert!(matches!(&steps[0], Step::Refused { why, .. } if why.contains("no client")));
    }

    #[test]
    fn a_bad_file_names_every_mistake_by_its_place() {
        let text = "
clients:
  - name: a
    environment: dev
    allowed_scopes: ['has space']
    allowed_audiences: []
  - name: a
    environment: dev
    allowed_scopes: [x]
    allowed_audiences: [y]
";
        let CliError::Usage(message) = parse(text, "clients.yaml").unwrap_err() else {
            panic!("not a usage error");
        };
        for needle in [
            "clients[0].allowed_scopes[0]",
            "clients[0].allowed_audiences",
            "clients[1].name",
        ] {
            assert!(message.contains(needle), "{needle}: {message}");
        }
        for bad in [
            "clients: [{name: a, environment: qa, allowed_scopes: [x], allowed_audiences: [y]}]",
            "clients: [{name: a, environment: dev, allowed_scopes: [x], allowed_audiences: [y], owner: me}]",
            "client: []",
        ] {
            assert!(matches!(parse(bad, "f"), Err(CliError::Usage(_))), "{bad}");
        }
    }
}
