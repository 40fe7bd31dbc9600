//! Every rule the shipped policies enforce, decided by the real policy set (docs/controls.md).

use std::collections::BTreeSet;

use clavis_core::client::{Client, ClientStatus, Environment, Tier};
use clavis_core::credential::Credential;
use clavis_core::ids::{ClientId, CredentialId, RequestId};
use clavis_core::issuance::{CredentialRequest, IssuanceParams};
use clavis_core::lifecycle::CredentialState;
use clavis_core::request::{IssuanceRequest, RequestStatus};
use clavis_core::secret::{ClientSecret, SecretMode};
use clavis_policy::{Action, Decision, Operator, PolicyEngine};
use proptest::prelude::*;
use time::OffsetDateTime;

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// An operator: its client, credential and scopes.
struct Who {
    client_id: ClientId,
    credential_id: CredentialId,
    scopes: BTreeSet<String>,
}

impl Who {
    fn with(scopes: &[&str]) -> Self {
        Self {
            client_id: ClientId::generate(),
            credential_id: CredentialId::generate(),
            scopes: set(scopes),
        }
    }

    fn operator(&self) -> Operator<'_> {
        Operator {
            client_id: &self.client_id,
            credential_id: &self.credential_id,
            scopes: &self.scopes,
        }
    }
}

fn client(environment: Environment, scopes: &[&str]) -> Client {
    Client {
        client_id: ClientId::generate(),
        name: "c".into(),
        owner: "cli_someone".into(),
        environment,
        tier: Tier::Standard,
        allowed_scopes: set(scopes),
        allowed_audiences: set(&["clavis"]),
        status: ClientStatus::Active,
        created_at: OffsetDateTime::UNIX_EPOCH,
        revocation: None,
        suspension: None,
        auto_rotate: false,
        delivery: None,
    }
}

fn params(scopes: &[&str]) -> IssuanceParams {
    CredentialRequest {
        ttl_seconds: 3600,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        audiences: vec!["clavis".into()],
        justification: "test".into(),
        approval_window_seconds: None,
    }
    .validate()
    .unwrap()
}

fn request_by(requester: &Who) -> IssuanceRequest {
    let p = params(&["billing:read"]);
    IssuanceRequest {
        request_id: RequestId::generate(),
        client_id: ClientId::generate(),
        status: RequestStatus::Completed,
        fingerprint: p.fingerprint(),
        params: p,
        credential_id: None,
        problem: None,
        requested_by: requester.client_id.to_string(),
        requested_with: requester.credential_id,
        requester_scopes: Some(requester.scopes.clone()),
        requested_at: OffsetDateTime::UNIX_EPOCH,
        attempt: 0,
        delivery: None,
    }
}

/// The shipped policies for `stage`, loaded once per stage.
fn engine(stage: &str) -> &'static PolicyEngine {
    static ENGINES: std::sync::Mutex<Vec<&'static PolicyEngine>> =
        std::sync::Mutex::new(Vec::new());
    let mut loaded = ENGINES.lock().unwrap();
    if let Some(e) = loaded.iter().find(|e| e.stage() == stage) {
        return e;
    }
    let e: &'static PolicyEngine = Box::leak(Box::new(
        PolicyEngine::shipped(stage).expect("the shipped policies load"),
    ));
    loaded.push(e);
    e
}

fn decide(stage: &str, who: &Who, action: Action<'_>) -> Decision {
    engine(stage).decide(who.operator(), action).unwrap()
}

const ALL: [&str; 7] = [
    "clavis.admin",
    "clavis.issuer",
    "clavis.approver",
    "clavis.revoker",
    "clavis.auditor",
    "clavis.introspect",
    "clavis.registry",
];

#[test]
fn an_issuer_cannot_mint_itself_an_administrator() {
    let issuer = Who::with(&["clavis.issuer"]);
    let operator_client = client(Environment::Dev, &ALL);
    let escalation = params(&["clavis.admin"]);
    let d = decide(
        "dev",
        &issuer,
        Action::RequestIssuance(&operator_client, &escalation),
    );
    assert!(!d.allowed);
    assert_eq!(d.policies, ["scope-ceiling"]);
    let err = d.enforce().unwrap_err();
    assert_eq!(err.code(), "forbidden");
    assert!(err.to_string().contains("clavis.* scope"), "{err}");
    // What it holds itself it may pass on.
    let own = params(&["clavis.issuer"]);
    assert!(
        decide(
            "dev",
            &issuer,
            Action::RequestIssuance(&operator_client, &own)
        )
        .allowed
    );
}

#[test]
fn an_administrator_cannot_register_a_client_above_itself() {
    let admin = Who::with(&["clavis.admin"]);
    let d = decide(
        "dev",
        &admin,
        Action::RegisterClient(&client(Environment::Dev, &["clavis.approver"])),
    );
    assert_eq!(
        (d.allowed, d.policies.as_slice()),
        (false, &["scope-ceiling".to_owned()][..])
    );
    let ordinary = client(Environment::Dev, &["billing:read"]);
    let d = decide("dev", &admin, Action::RegisterClient(&ordinary));
    assert!(d.allowed);
    assert_eq!(d.policies, ["admin-manages-clients"]);
}

#[test]
fn only_the_requester_picks_up_a_secret() {
    let requester = Who::with(&["clavis.issuer"]);
    let request = request_by(&requester);
    assert!(decide("dev", &requester, Action::PickUpSecret(&request)).allowed);
    let admin = Who::with(&ALL);
    let d = decide("dev", &admin, Action::PickUpSecret(&request));
    assert!(!d.allowed, "an administrator collected another's secret");
    assert!(d.policies.is_empty(), "nothing permits it: {d:?}");
    let other_issuer = Who::with(&["clavis.issuer"]);
    assert!(!decide("dev", &other_issuer, Action::PickUpSecret(&request)).allowed);
}

#[test]
fn a_request_is_read_by_its_requester_and_overseers_only() {
    let requester = Who::with(&["clavis.issuer"]);
    let request = request_by(&requester);
    assert!(decide("dev", &requester, Action::ReadRequest(&request)).allowed);
    for scope in ["clavis.admin", "clavis.approver", "clavis.auditor"] {
        assert!(
            decide("dev", &Who::with(&[scope]), Action::ReadRequest(&request)).allowed,
            "{scope}"
        );
    }
    assert!(
        !decide(
            "dev",
            &Who::with(&["clavis.issuer"]),
            Action::ReadRequest(&request)
        )
        .allowed
    );
}

#[test]
fn each_stage_serves_its_own_environments() {
    let admin = Who::with(&ALL);
    let cases = [
        ("prod", Environment::Prod, true),
        ("prod", Environment::Staging, false),
        ("prod", Environment::Dev, false),
        ("staging", Environment::Staging, true),
        ("staging", Environment::Prod, false),
        ("staging", Environment::Dev, false),
        ("dev", Environment::Dev, true),
        ("local", Environment::Dev, true),
        ("local", Environment::Prod, false),
        ("feature-x", Environment::Staging, false),
    ];
    for (stage, environment, served) in cases {
        let c = client(environment, &["billing:read"]);
        let registered = decide(stage, &admin, Action::RegisterClient(&c));
        let p = params(&["billing:read"]);
        let issued = decide(stage, &admin, Action::RequestIssuance(&c, &p));
        assert_eq!(
            registered.allowed, served,
            "{stage} registering {environment:?}"
        );
        assert_eq!(
            issued.allowed, served,
            "{stage} issuing for {environment:?}"
        );
        if !served {
            assert!(
                issued.reasons.iter().any(|r| r.contains("serves only")),
                "{issued:?}"
            );
        }
    }
}

#[test]
fn introspection_and_the_registry_need_their_own_scopes() {
    let auditor = Who::with(&["clavis.auditor", "clavis.issuer"]);
    assert!(!decide("dev", &auditor, Action::Introspect).allowed);
    assert!(!decide("dev", &auditor, Action::ReadRegistry).allowed);
    let resource_server = Who::with(&["clavis.introspect", "clavis.registry"]);
    assert!(decide("dev", &resource_server, Action::Introspect).allowed);
    assert!(decide("dev", &resource_server, Action::ReadRegistry).allowed);
    assert!(
        !decide(
            "dev",
            &resource_server,
            Action::RequestIssuance(&client(Environment::Dev, &["a"]), &params(&["a"]))
        )
        .allowed
    );
}

#[test]
fn only_administrators_and_auditors_read_the_status_and_only_administrators_replay() {
    for scopes in [&["clavis.admin"][..], &["clavis.auditor"]] {
        assert!(
            decide("prod", &Who::with(scopes), Action::ReadStatus).allowed,
            "{scopes:?}"
        );
    }
    let others: Vec<&str> = ALL
        .into_iter()
        .filter(|s| *s != "clavis.admin" && *s != "clavis.auditor")
        .collect();
    assert!(!decide("prod", &Who::with(&others), Action::ReadStatus).allowed);
    assert!(decide("prod", &Who::with(&["clavis.admin"]), Action::Replay).allowed);
    let all_but_admin: Vec<&str> = ALL.into_iter().filter(|s| *s != "clavis.admin").collect();
    assert!(!decide("prod", &Who::with(&all_but_admin), Action::Replay).allowed);
}

#[test]
fn an_operator_cannot_revoke_its_own_client() {
    let revoker = Who::with(&["clavis.revoker"]);
    let mut own = client(Environment::Dev, &["clavis.revoker"]);
    own.client_id = revoker.client_id;
    let d = decide("dev", &revoker, Action::RevokeClient(&own));
    assert_eq!(d.policies, ["no-self-revocation"]);
    assert!(!d.allowed);
    assert!(
        decide(
            "dev",
            &revoker,
            Action::RevokeClient(&client(Environment::Dev, &["a"]))
        )
        .allowed
    );
}

#[test]
fn revoking_and_exporting_need_their_scopes() {
    let id = CredentialId::generate();
    let credential = Credential {
        credential_id: id,
        client_id: ClientId::generate(),
        status: CredentialState::Active,
        scopes: set(&["a"]),
        audiences: set(&["b"]),
        issued_at: None,
        expires_at: OffsetDateTime::UNIX_EPOCH,
        renew_after: None,
        policy_version: "v".into(),
        request_id: None,
        rotated_from: None,
        rotated_to: None,
        secret_hash: ClientSecret::generate(id, SecretMode::Test).unwrap().hash(),
        revocation: None,
        last_used_at: None,
    };
    let issuer = Who::with(&["clavis.issuer"]);
    assert!(!decide("dev", &issuer, Action::RevokeCredential(&credential)).allowed);
    assert!(decide("dev", &issuer, Action::ReadCredential(&credential)).allowed);
    assert!(
        decide(
            "dev",
            &Who::with(&["clavis.revoker"]),
            Action::RevokeCredential(&credential)
        )
        .allowed
    );
    let chain = ClientId::generate();
    assert!(!decide("dev", &issuer, Action::ExportAudit(&chain)).allowed);
    assert!(
        decide(
            "dev",
            &Who::with(&["clavis.auditor"]),
            Action::ExportAudit(&chain)
        )
        .allowed
    );
}

#[test]
fn every_decision_names_the_policy_version() {
    let e = engine("dev");
    let d = e
        .decide(Who::with(&ALL).operator(), Action::Introspect)
        .unwrap();
    assert_eq!(d.policy_version, e.version());
    assert_eq!(
        d.policy_version,
        clavis_policy::files::version(&clavis_policy::files::shipped())
    );
}

fn scope_subset() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(ALL.to_vec(), 0..=ALL.len())
}

proptest! {
    /// The scope ceiling and the issuer permit, as a property: an issuance is allowed exactly
    /// when the caller holds `clavis.issuer` and every `clavis.*` scope it asks for.
    #[test]
    fn issuance_is_allowed_exactly_within_the_callers_scopes(
        held in scope_subset(),
        asked in scope_subset(),
        ordinary in proptest::bool::ANY,
    ) {
        let who = Who::with(&held);
        let mut scopes = asked.clone();
        if ordinary || scopes.is_empty() {
            scopes.push("billing:read");
        }
        let target = client(Environment::Dev, &ALL);
        let p = params(&scopes);
        let d = decide("dev", &who, Action::RequestIssuance(&target, &p));
        let expected = held.contains(&"clavis.issuer") && asked.iter().all(|s| held.contains(s));
        prop_assert_eq!(d.allowed, expected, "held {:?} asked {:?}: {:?}", held, scopes, d);
    }
}

proptest! {
    /// The scope ceiling on changes, as a property: an administrator may change a client's
    /// scopes exactly when it holds every `clavis.*` scope the change adds; scopes the client
    /// had already, or loses, do not count.
    #[test]
    fn a_client_change_is_allowed_exactly_when_it_adds_no_scope_beyond_the_callers(
        held in scope_subset(),
        had in scope_subset(),
        will_have in scope_subset(),
    ) {
        let mut held = held;
        held.push("clavis.admin");
        let who = Who::with(&held);
        let mut before = client(Environment::Dev, &had);
        before.allowed_scopes.insert("billing:read".into());
        let mut after = before.clone();
        after.allowed_scopes = set(&will_have);
        after.allowed_scopes.insert("billing:write".into());
        let d = decide("dev", &who, Action::UpdateClient(&before, &after));
        let expected = will_have.iter().all(|s| had.contains(s) || held.contains(s));
        prop_assert_eq!(d.allowed, expected, "held {:?} had {:?} will have {:?}: {:?}", held, had, will_have, d);
    }
}

#[test]
fn only_an_administrator_changes_a_client_and_never_its_own() {
    let target = client(Environment::Dev, &["billing:read"]);
    let mut wider = target.clone();
    wider.tier = Tier::Privileged;
    let all_but_admin: Vec<&str> = ALL.into_iter().filter(|s| *s != "clavis.admin").collect();
    for held in all_but_admin
        .iter()
        .map(std::slice::from_ref)
        .chain([&all_but_admin[..]])
    {
        let who = Who::with(held);
        let d = decide("dev", &who, Action::UpdateClient(&target, &wider));
        assert!(!d.allowed, "{held:?}");
    }
    let admin = Who::with(&["clavis.admin"]);
    assert!(decide("dev", &admin, Action::UpdateClient(&target, &wider)).allowed);
    let mut own = client(Environment::Dev, &["clavis.admin"]);
    own.client_id = admin.client_id;
    let mut narrower = own.clone();
    narrower.name = "renamed".into();
    let d = decide("dev", &admin, Action::UpdateClient(&own, &narrower));
    assert!(!d.allowed);
    assert_eq!(d.policies, ["no-self-update"]);
    // A stack changes only the clients of the environments it serves.
    let prod = client(Environment::Prod, &["billing:read"]);
    let d = decide("dev", &admin, Action::UpdateClient(&prod, &prod));
    assert_eq!(d.policies, ["other-stages-serve-only-dev"]);
}

fn approval_of(request: &IssuanceRequest, target: &Client) -> clavis_core::approval::Approval {
    clavis_core::approval::Approval {
        approval_id: clavis_core::approval::approval_id_for(&request.request_id, 0),
        request_id: request.request_id,
        attempt: 0,
        client_id: target.client_id,
        requested_by: request.requested_by.clone(),
        environment: target.environment,
        tier: target.tier,
        scopes: request.params.scopes.clone(),
        audiences: request.params.audiences.clone(),
        ttl_seconds: request.params.ttl_seconds,
        justification: request.params.justification.clone(),
        risk_score: 60,
        reasons: vec![],
        policies: vec![],
        policy_version: "v".into(),
        approvals_required: 1,
        approvals: vec![],
        status: clavis_core::approval::ApprovalStatus::Pending,
        requested_at: OffsetDateTime::UNIX_EPOCH,
        deadline: OffsetDateTime::UNIX_EPOCH,
        outcome: None,
    }
}

fn assess(
    stage: &str,
    who: &Who,
    target: &Client,
    p: &IssuanceParams,
) -> clavis_policy::RiskOutcome {
    assess_at(
        stage,
        who,
        target,
        p,
        clavis_core::risk::IssuanceRate::default(),
    )
}

fn assess_at(
    stage: &str,
    who: &Who,
    target: &Client,
    p: &IssuanceParams,
    rate: clavis_core::risk::IssuanceRate,
) -> clavis_policy::RiskOutcome {
    let mut factors = clavis_core::risk::RiskFactors::of(target, p, rate);
    if p.rotation.is_some() && target.client_id == who.client_id {
        factors = factors.own_rotation();
    }
    engine(stage)
        .assess(who.operator(), target, p, &factors)
        .unwrap()
}

#[test]
fn an_ordinary_dev_issuance_is_allowed_without_approval() {
    let outcome = assess(
        "dev",
        &Who::with(&ALL),
        &client(Environment::Dev, &["billing:read"]),
        &params(&["billing:read"]),
    );
    assert_eq!(outcome.decision, clavis_core::risk::RiskDecision::Allow);
    assert!(outcome.policies.is_empty() && outcome.reasons.is_empty());
}

#[test]
fn administrator_scopes_and_privileged_clients_wait_for_approval() {
    let admin = Who::with(&ALL);
    let operator_client = client(Environment::Dev, &ALL);
    let held = assess("dev", &admin, &operator_client, &params(&["clavis.admin"]));
    assert_eq!(held.decision, clavis_core::risk::RiskDecision::Hold);
    assert!(
        held.policies
            .contains(&"operator-scopes-need-approval".to_owned()),
        "{held:?}"
    );
    assert_eq!(
        (held.approvals_required, held.approval_timeout_seconds),
        (1, 86400)
    );

    let mut privileged = client(Environment::Dev, &["billing:read"]);
    privileged.tier = Tier::Privileged;
    let held = assess("dev", &admin, &privileged, &params(&["billing:read"]));
    assert_eq!(held.decision, clavis_core::risk::RiskDecision::Hold);
    assert_eq!(held.policies, ["privileged-tier-needs-approval"]);
}

#[test]
fn privileged_requests_in_prod_need_two_approvers() {
    let admin = Who::with(&ALL);
    let mut privileged = client(Environment::Prod, &["billing:read"]);
    privileged.tier = Tier::Privileged;
    let held = assess("prod", &admin, &privileged, &params(&["billing:read"]));
    assert_eq!(held.decision, clavis_core::risk::RiskDecision::Hold);
    assert_eq!(held.approvals_required, 2, "{held:?}");
    let mut standard = client(Environment::Prod, &["billing:read"]);
    standard.tier = Tier::Standard;
    assert_eq!(
        assess("prod", &admin, &standard, &params(&["billing:read"])).decision,
        clavis_core::risk::RiskDecision::Allow
    );
}

#[test]
fn an_extreme_risk_is_denied_outright() {
    let admin = Who::with(&ALL);
    let mut operator_client = client(Environment::Prod, &ALL);
    operator_client.tier = Tier::Privileged;
    let mut p = params(&["clavis.admin"]);
    p.ttl_seconds = clavis_core::issuance::max_ttl_seconds(Tier::Privileged);
    let denied = assess("prod", &admin, &operator_client, &p);
    assert_eq!(denied.decision, clavis_core::risk::RiskDecision::Deny);
    assert_eq!(denied.policies, ["extreme-risk-is-refused"]);
}

#[test]
fn nobody_approves_their_own_request_or_one_of_their_sponsor() {
    let requester = Who::with(&ALL);
    let target = client(Environment::Dev, &["billing:read"]);
    let approval = approval_of(&request_by(&requester), &target);
    let bootstrap = clavis_policy::Sponsors {
        approver: set(&["bootstrap"]),
        requester: set(&["bootstrap"]),
    };
    // The requester holds clavis.approver and still may not.
    let own = decide("dev", &requester, Action::Approve(&approval, &bootstrap));
    assert_eq!(
        (own.allowed, own.policies.as_slice()),
        (false, &["no-self-approval".to_owned()][..])
    );
    // An approver the requester registered (or issued a credential to) may not.
    let puppet = Who::with(&["clavis.approver"]);
    let sponsors = clavis_policy::Sponsors {
        approver: set(&[&requester.client_id.to_string()]),
        requester: set(&["bootstrap"]),
    };
    let d = decide("dev", &puppet, Action::Approve(&approval, &sponsors));
    assert_eq!(
        (d.allowed, d.policies.as_slice()),
        (false, &["no-sock-puppets".to_owned()][..])
    );
    // Nor one of a requester the approver registered or requested a credential for (an
    // operator with both scopes may not run a puppet requester and approve its requests).
    let puppeteer = Who::with(&["clavis.approver"]);
    let sponsors = clavis_policy::Sponsors {
        approver: set(&["bootstrap"]),
        requester: set(&[&puppeteer.client_id.to_string()]),
    };
    let d = decide("dev", &puppeteer, Action::Approve(&approval, &sponsors));
    assert_eq!(
        (d.allowed, d.policies.as_slice()),
        (false, &["no-puppet-requesters".to_owned()][..])
    );
    // An independent approver may, once.
    let independent = Who::with(&["clavis.approver"]);
    assert!(decide("dev", &independent, Action::Approve(&approval, &bootstrap)).allowed);
    let mut voted = approval.clone();
    voted.approvals.push(clavis_core::approval::Vote {
        approver: independent.client_id.to_string(),
        at: OffsetDateTime::UNIX_EPOCH,
        reason: "ok".into(),
    });
    let twice = decide("dev", &independent, Action::Approve(&voted, &bootstrap));
    assert_eq!(twice.policies, ["one-approval-each"]);
    // Without clavis.approver nobody decides; an approver may deny.
    assert!(
        !decide(
            "dev",
            &Who::with(&["clavis.admin"]),
            Action::Approve(&approval, &bootstrap)
        )
        .allowed
    );
    assert!(decide("dev", &independent, Action::Deny(&approval, &bootstrap)).allowed);
    assert!(
        decide(
            "dev",
            &Who::with(&["clavis.auditor"]),
            Action::ReadApproval(&approval)
        )
        .allowed
    );
    assert!(
        !decide(
            "dev",
            &Who::with(&["clavis.issuer"]),
            Action::ReadApproval(&approval)
        )
        .allowed
    );
}

#[test]
fn a_spike_over_the_clients_baseline_is_held_as_an_anomaly() {
    use clavis_core::risk::{IssuanceRate, RiskDecision};
    let admin = Who::with(&ALL);
    let target = client(Environment::Dev, &["billing:read"]);
    let p = params(&["billing:read"]);
    let at = |recent, baseline| {
        assess_at(
            "dev",
            &admin,
            &target,
            &p,
            IssuanceRate { recent, baseline },
        )
    };
    // A new client: the floor of 20 is its baseline.
    assert_eq!(at(20, 0).decision, RiskDecision::Allow);
    let spike = at(21, 0);
    assert_eq!(spike.decision, RiskDecision::Hold);
    assert!(spike.anomaly);
    assert_eq!(spike.policies, ["issuance-spike-is-held"]);
    assert_eq!(spike.approval_timeout_seconds, 3600);
    // A busy client's own baseline moves the line.
    assert_eq!(at(40, 15).decision, RiskDecision::Allow);
    assert_eq!(at(46, 15).decision, RiskDecision::Hold);
    // A hold for another reason is no anomaly.
    let mut privileged = target.clone();
    privileged.tier = Tier::Privileged;
    assert!(!assess("dev", &admin, &privileged, &p).anomaly);
}

#[test]
fn any_operator_scope_waits_for_approval() {
    let admin = Who::with(&ALL);
    let operator_client = client(Environment::Dev, &ALL);
    for scope in ALL {
        let held = assess("dev", &admin, &operator_client, &params(&[scope]));
        assert_eq!(
            held.decision,
            clavis_core::risk::RiskDecision::Hold,
            "{scope}"
        );
        assert!(
            held.policies
                .contains(&"operator-scopes-need-approval".to_owned()),
            "{held:?}"
        );
    }
}

/// The params of a rotation of a credential with `scopes`.
fn rotation(scopes: &[&str]) -> IssuanceParams {
    let mut p = params(scopes);
    p.rotation = Some(clavis_core::rotation::Rotation {
        predecessor: CredentialId::generate(),
        overlap_seconds: 60,
        retire: clavis_core::rotation::RetireMode::AtOverlapEnd,
        drain_seconds: None,
    });
    p
}

#[test]
fn an_operator_rotates_its_own_credential_without_issuer_or_approver() {
    let revoker = Who::with(&["clavis.revoker"]);
    let mut own = client(Environment::Dev, &["clavis.revoker"]);
    own.client_id = revoker.client_id;
    own.tier = Tier::Privileged;
    let asked = rotation(&["clavis.revoker"]);
    assert!(
        decide("dev", &revoker, Action::RequestIssuance(&own, &asked)).allowed,
        "its own rotation"
    );
    assert!(
        !decide(
            "dev",
            &revoker,
            Action::RequestIssuance(&own, &params(&["clavis.revoker"]))
        )
        .allowed,
        "a new credential is still an issuer's to ask for"
    );
    let other = client(Environment::Dev, &["billing:read"]);
    assert!(
        !decide(
            "dev",
            &revoker,
            Action::RequestIssuance(&other, &rotation(&["billing:read"]))
        )
        .allowed,
        "not another client's"
    );
    let outcome = assess("dev", &revoker, &own, &asked);
    assert_eq!(
        outcome.decision,
        clavis_core::risk::RiskDecision::Allow,
        "{outcome:?}"
    );
}

#[test]
fn a_rotation_never_passes_the_scope_ceiling() {
    // An admin's token narrowed to clavis.issuer rotates its own admin credential: refused.
    let narrowed = Who::with(&["clavis.issuer"]);
    let mut own = client(Environment::Dev, &ALL);
    own.client_id = narrowed.client_id;
    let d = decide(
        "dev",
        &narrowed,
        Action::RequestIssuance(&own, &rotation(&["clavis.admin", "clavis.issuer"])),
    );
    assert!(!d.allowed);
    assert!(d.policies.contains(&"scope-ceiling".to_owned()), "{d:?}");
}

#[test]
fn rotating_another_privileged_client_still_waits_for_approval() {
    let issuer = Who::with(&["clavis.issuer"]);
    let mut privileged = client(Environment::Dev, &["billing:read"]);
    privileged.tier = Tier::Privileged;
    let held = assess("dev", &issuer, &privileged, &rotation(&["billing:read"]));
    assert_eq!(held.decision, clavis_core::risk::RiskDecision::Hold);
    assert_eq!(held.policies, ["privileged-tier-needs-approval"]);
    // ... and in prod even one's own rotation needs two approvers.
    let admin = Who::with(&ALL);
    let mut own = client(Environment::Prod, &ALL);
    own.client_id = admin.client_id;
    own.tier = Tier::Privileged;
    let held = assess("prod", &admin, &own, &rotation(&["clavis.admin"]));
    assert_eq!(held.decision, clavis_core::risk::RiskDecision::Hold);
    assert_eq!(held.approvals_required, 2, "{held:?}");
}

#[test]
fn an_operator_picks_up_only_its_own_rotations_secret() {
    let revoker = Who::with(&["clavis.revoker"]);
    let mut own = request_by(&revoker);
    own.client_id = revoker.client_id;
    assert!(decide("dev", &revoker, Action::PickUpSecret(&own)).allowed);
    let for_another = request_by(&revoker);
    assert!(!decide("dev", &revoker, Action::PickUpSecret(&for_another)).allowed);
}

#[test]
fn rotating_another_operators_credential_waits_for_an_approver() {
    // An issuer (who also approves) holding the same scopes as a standard-tier operator must
    // not get that operator's successor secret, and so its identity, without an approver.
    let issuer = Who::with(&["clavis.issuer", "clavis.approver"]);
    let other_operator = client(Environment::Dev, &["clavis.issuer"]);
    let asked = rotation(&["clavis.issuer"]);
    assert!(
        decide(
            "dev",
            &issuer,
            Action::RequestIssuance(&other_operator, &asked)
        )
        .allowed,
        "an issuer may ask"
    );
    let held = assess("dev", &issuer, &other_operator, &asked);
    assert_eq!(held.decision, clavis_core::risk::RiskDecision::Hold);
    assert!(
        held.policies
            .contains(&"operator-scopes-need-approval".to_owned()),
        "{held:?}"
    );
    // Its own rotation of the same grant is not held.
    let mut own = other_operator.clone();
    own.client_id = issuer.client_id;
    assert_eq!(
        assess("dev", &issuer, &own, &asked).decision,
        clavis_core::risk::RiskDecision::Allow
    );
}
