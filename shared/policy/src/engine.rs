//! The policy engine: loads a policy set (schema + policies), validates it strictly, and
//! decides. Every decision carries the set's version and the ids of the policies that made it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Entities, Entity as CedarEntity, EntityId, EntityTypeName, EntityUid,
    Policy, PolicyId, PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use clavis_core::client::Client;
use clavis_core::issuance::IssuanceParams;
use clavis_core::risk::{RiskDecision, RiskFactors};
use clavis_core::{SystemFault, UserError};

use crate::files::{self, PolicyFile};
use crate::model::{Action, Entity, Operator, Value};

/// The Cedar namespace of the schema.
const NAMESPACE: &str = "Clavis";

/// Why a policy set cannot be used, or a decision cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The set has no schema file.
    #[error("no schema ({}) among the policy files", files::SCHEMA_FILE)]
    NoSchema,
    /// A file does not parse.
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// What the parser said.
        message: String,
    },
    /// A policy has no `@id`, or shares it with another.
    #[error("{file}: {message}")]
    Identity {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// An annotation Clavis reads has a value it cannot use.
    #[error("{file}: {message}")]
    Annotation {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// Policies that do not validate against the schema, one message each.
    #[error("the policies do not validate against the schema:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// A decision could not be evaluated (fails closed).
    #[error("policy evaluation failed: {0}")]
    Evaluation(String),
}

impl From<PolicyError> for SystemFault {
    fn from(e: PolicyError) -> Self {
        SystemFault::Misconfigured(e.to_string())
    }
}

impl From<PolicyError> for clavis_core::Error {
    fn from(e: PolicyError) -> Self {
        SystemFault::from(e).into()
    }
}

/// The outcome of one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The action that was decided.
    pub action: &'static str,
    /// Whether it is allowed.
    pub allowed: bool,
    /// The `@id`s of the policies that decided it: the permits that allowed it, or the forbids
    /// that refused it (empty when nothing permitted it).
    pub policies: Vec<String>,
    /// The `@reason` of every forbid that refused it.
    pub reasons: Vec<String>,
    /// The version of the policy set that decided.
    pub policy_version: String,
}

impl Decision {
    /// `Ok` if allowed; a 403 that names the refusing policies and their reasons otherwise.
    pub fn enforce(&self) -> Result<&Self, UserError> {
        if self.allowed {
            return Ok(self);
        }
        let detail = if self.policies.is_empty() {
            format!("no policy permits {} to this caller", self.action)
        } else if self.reasons.is_empty() {
            format!("refused by policy {}", self.policies.join(", "))
        } else {
            format!(
                "refused by policy {}: {}",
                self.policies.join(", "),
                self.reasons.join("; ")
            )
        };
        Err(UserError::Forbidden(detail))
    }
}

/// Default deadline of an approval when no holding policy names one, in seconds.
pub const DEFAULT_APPROVAL_TIMEOUT_SECONDS: u64 = 24 * 3600;

/// What the risk policies make of an issuance (see `infra/policies/risk.cedar`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskOutcome {
    /// Allow, hold or deny.
    pub decision: RiskDecision,
    /// The `@id`s of the policies that held or denied it.
    pub policies: Vec<String>,
    /// Their `@reason`s.
    pub reasons: Vec<String>,
    /// The shortest `@approval_timeout_seconds` of the holding policies.
    pub approval_timeout_seconds: u64,
    /// The largest `@approvals_required` of the holding policies (at least 1).
    pub approvals_required: u32,
    /// Whether a holding policy is an anomaly rule (`@anomaly("true")`).
    pub anomaly: bool,
    /// The version that decided.
    pub policy_version: String,
}

/// A validated policy set and the stage it decides for.
pub struct PolicyEngine {
    schema: Schema,
    policies: PolicySet,
    reasons: HashMap<PolicyId, String>,
    timeouts: HashMap<PolicyId, u64>,
    approvers: HashMap<PolicyId, u32>,
    anomalies: HashSet<PolicyId>,
    version: String,
    stage: String,
    authorizer: Authorizer,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("version", &self.version)
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

impl PolicyEngine {
    /// The policies shipped in `infra/policies/`, deciding for `stage`.
    pub fn shipped(stage: &str) -> Result<Self, PolicyError> {
        Self::load(&files::shipped(), stage)
    }

    /// Loads and strictly validates `files` (one schema, any number of `.cedar` files).
    pub fn load(files: &[PolicyFile], stage: &str) -> Result<Self, PolicyError> {
        let schema_file = files
            .iter()
            .find(|f| f.is_schema())
            .ok_or(PolicyError::NoSchema)?;
        let (schema, _warnings) =
            Schema::from_cedarschema_str(&schema_file.text).map_err(|e| PolicyError::Syntax {
                file: schema_file.name.clone(),
                message: e.to_string(),
            })?;
        let mut policies = PolicySet::new();
        let mut reasons = HashMap::new();
        let mut timeouts = HashMap::new();
        let mut approvers = HashMap::new();
        let mut anomalies = HashSet::new();
        for file in files.iter().filter(|f| !f.is_schema()) {
            for policy in parse_file(file)? {
                if let Some(reason) = policy.annotation("reason") {
                    reasons.insert(policy.id().clone(), reason.to_owned());
                }
                if let Some(t) = number(file, &policy, "approval_timeout_seconds")? {
                    timeouts.insert(policy.id().clone(), t);
                }
                match policy.annotation("anomaly") {
                    None | Some("false") => {}
                    Some("true") => {
                        anomalies.insert(policy.id().clone());
                    }
                    Some(other) => {
                        return Err(PolicyError::Annotation {
                            file: file.name.clone(),
                            message: format!(
                                "policy {}: @anomaly(\"{other}\") must be true or false",
                                policy.id()
                            ),
                        });
                    }
                }
                if let Some(n) = number(file, &policy, "approvals_required")? {
                    approvers.insert(policy.id().clone(), u32::try_from(n).unwrap_or(u32::MAX));
                }
                let id = policy.id().to_string();
                policies.add(policy).map_err(|_| PolicyError::Identity {
                    file: file.name.clone(),
                    message: format!("@id(\"{id}\") is used twice"),
                })?;
            }
        }
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if !result.validation_passed() {
            return Err(PolicyError::Invalid(
                result.validation_errors().map(|e| e.to_string()).collect(),
            ));
        }
        Ok(Self {
            schema,
            policies,
            reasons,
            timeouts,
            approvers,
            anomalies,
            version: files::version(files),
            stage: stage.to_owned(),
            authorizer: Authorizer::new(),
        })
    }

    /// The policy set's version (see [`files::version`]).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The stage it decides for.
    pub fn stage(&self) -> &str {
        &self.stage
    }

    /// How many policies the set holds.
    pub fn len(&self) -> usize {
        self.policies.policies().count()
    }

    /// Whether the set holds no policy (then everything is denied).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decides whether `operator` may do `action`. Fails closed: a policy that errors while
    /// evaluating is a fault, never a silent skip.
    pub fn decide(
        &self,
        operator: Operator<'_>,
        action: Action<'_>,
    ) -> Result<Decision, PolicyError> {
        let principal = operator.entity();
        let resource = action.resource();
        let principal_uid = uid(principal.kind, &principal.id)?;
        let resource_uid = uid(resource.kind, &resource.id)?;
        let action_uid =
            EntityUid::from_type_name_and_id(type_name("Action")?, EntityId::new(action.name()));
        let mut context_pairs = vec![(
            "stage".to_owned(),
            RestrictedExpression::new_string(self.stage.clone()),
        )];
        context_pairs.extend(
            action
                .context()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), expression(v))),
        );
        let context = Context::from_pairs(context_pairs).map_err(evaluation)?;
        let request = Request::new(
            principal_uid,
            action_uid,
            resource_uid,
            context,
            Some(&self.schema),
        )
        .map_err(evaluation)?;
        let entities = Entities::from_entities(
            [cedar_entity(&principal)?, cedar_entity(&resource)?],
            Some(&self.schema),
        )
        .map_err(evaluation)?;
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect();
        if !errors.is_empty() {
            return Err(PolicyError::Evaluation(errors.join("; ")));
        }
        let determining: BTreeSet<&PolicyId> = response.diagnostics().reason().collect();
        Ok(Decision {
            action: action.name(),
            allowed: response.decision() == cedar_policy::Decision::Allow,
            policies: determining.iter().map(|id| id.to_string()).collect(),
            reasons: determining
                .iter()
                .filter_map(|id| self.reasons.get(*id).cloned())
                .collect(),
            policy_version: self.version.clone(),
        })
    }
}

impl PolicyEngine {
    /// Assesses an issuance for its requester: denied if `Issue` is refused, held if
    /// `IssueWithoutApproval` is, allowed otherwise; a hold carries what its policies ask of
    /// the approval.
    pub fn assess(
        &self,
        requester: Operator<'_>,
        client: &Client,
        params: &IssuanceParams,
        factors: &RiskFactors,
    ) -> Result<RiskOutcome, PolicyError> {
        let at_all = self.decide(requester, Action::Issue(client, params, factors))?;
        if !at_all.allowed {
            return Ok(self.outcome(RiskDecision::Deny, at_all));
        }
        let alone = self.decide(
            requester,
            Action::IssueWithoutApproval(client, params, factors),
        )?;
        let decision = if alone.allowed {
            RiskDecision::Allow
        } else {
            RiskDecision::Hold
        };
        Ok(self.outcome(decision, alone))
    }

    fn outcome(&self, decision: RiskDecision, d: Decision) -> RiskOutcome {
        let (policies, reasons) = if decision == RiskDecision::Allow {
            (Vec::new(), Vec::new())
        } else {
            (d.policies, d.reasons)
        };
        let ids: Vec<PolicyId> = policies.iter().map(PolicyId::new).collect();
        RiskOutcome {
            decision,
            approval_timeout_seconds: ids
                .iter()
                .filter_map(|id| self.timeouts.get(id).copied())
                .min()
                .unwrap_or(DEFAULT_APPROVAL_TIMEOUT_SECONDS),
            approvals_required: ids
                .iter()
                .filter_map(|id| self.approvers.get(id).copied())
                .max()
                .unwrap_or(1)
                .max(1),
            anomaly: ids.iter().any(|id| self.anomalies.contains(id)),
            policies,
            reasons,
            policy_version: d.policy_version,
        }
    }
}

/// A whole-number annotation `key` of `policy`, if present.
fn number(file: &PolicyFile, policy: &Policy, key: &str) -> Result<Option<u64>, PolicyError> {
    match policy.annotation(key) {
        None => Ok(None),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(PolicyError::Annotation {
                file: file.name.clone(),
                message: format!(
                    "policy {}: @{key}(\"{v}\") must be a whole number above 0",
                    policy.id()
                ),
            }),
        },
    }
}

/// The policies of one file, each under its `@id` (required: decisions name policies by it).
fn parse_file(file: &PolicyFile) -> Result<Vec<Policy>, PolicyError> {
    let parsed = PolicySet::from_str(&file.text).map_err(|e| PolicyError::Syntax {
        file: file.name.clone(),
        message: e.to_string(),
    })?;
    if parsed.templates().next().is_some() {
        return Err(PolicyError::Syntax {
            file: file.name.clone(),
            message: "templates are not used by Clavis".into(),
        });
    }
    parsed
        .policies()
        .map(|p| {
            let id = p.annotation("id").ok_or_else(|| PolicyError::Identity {
                file: file.name.clone(),
                message: format!("a policy has no @id annotation: {}", first_line(p)),
            })?;
            Ok(p.new_id(PolicyId::new(id)))
        })
        .collect()
}

fn first_line(p: &Policy) -> String {
    p.to_string().lines().next().unwrap_or_default().to_owned()
}

fn evaluation(e: impl std::fmt::Display) -> PolicyError {
    PolicyError::Evaluation(e.to_string())
}

fn type_name(kind: &str) -> Result<EntityTypeName, PolicyError> {
    EntityTypeName::from_str(&format!("{NAMESPACE}::{kind}")).map_err(evaluation)
}

fn uid(kind: &str, id: &str) -> Result<EntityUid, PolicyError> {
    Ok(EntityUid::from_type_name_and_id(
        type_name(kind)?,
        EntityId::new(id),
    ))
}

fn expression(v: Value) -> RestrictedExpression {
    match v {
        Value::Text(s) => RestrictedExpression::new_string(s),
        Value::Number(n) => RestrictedExpression::new_long(n),
        Value::Flag(b) => RestrictedExpression::new_bool(b),
        Value::Texts(set) => {
            RestrictedExpression::new_set(set.into_iter().map(RestrictedExpression::new_string))
        }
    }
}

fn cedar_entity(e: &Entity) -> Result<CedarEntity, PolicyError> {
    let attrs = e
        .attrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), expression(v.clone())))
        .collect();
    CedarEntity::new(uid(e.kind, &e.id)?, attrs, HashSet::new()).map_err(evaluation)
}
