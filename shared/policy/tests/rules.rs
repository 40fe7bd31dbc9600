//! Every rule the shipped policies enforce, decided by the real policy set (DESIGN §7).

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
    }
}

fn params(scopes: &[&str]) -> IssuanceParams {
    CredentialRequest {
        ttl_seconds: 3600,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        audiences: vec!["clavis".into()],
        justification: "test".into(),
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
    }
}

fn engine(stage: &str) -> PolicyEngine {
    PolicyEngine::shipped(stage).expect("the shipped policies load")
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
