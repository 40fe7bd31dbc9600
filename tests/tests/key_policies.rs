//! The KMS key policies in `template.yaml`: nobody gets `kms:*`; only the api's role signs
//! (ES256 only); only mint seals and only the api and deliver-secret open pickup copies, and
//! only under a pickup copy's encryption context. The local cloud does not enforce key
//! policies, so this reads the template: no stack needed.

use std::path::Path;

use serde_yaml_ng::Value;

fn template() -> Value {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"));
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn statements(key: &str) -> Vec<Value> {
    template()["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]
        .as_sequence()
        .cloned()
        .unwrap_or_default()
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Sequence(list) => list
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The roles (by logical id) a statement's `aws:PrincipalArn` condition admits.
fn roles(statement: &Value) -> Vec<String> {
    let patterns = match &statement["Condition"]["ArnLike"]["aws:PrincipalArn"] {
        Value::Sequence(list) => list.clone(),
        one => vec![one.clone()],
    };
    patterns
        .iter()
        .filter_map(|p| match p {
            Value::Tagged(t) => t.value.as_str().map(str::to_owned),
            _ => None,
        })
        .filter_map(|arn| {
            let role = arn.rsplit(":role/${AWS::StackName}-").next()?.to_owned();
            role.strip_suffix("Role-*").map(str::to_owned)
        })
        .collect()
}

/// The statements granting `action`.
fn granting(key: &str, action: &str) -> Vec<Value> {
    statements(key)
        .into_iter()
        .filter(|s| actions(s).iter().any(|a| a == action))
        .collect()
}

fn bound_to_pickup_copies(statement: &Value) {
    let condition = &statement["Condition"];
    assert_eq!(
        condition["Null"]["kms:EncryptionContext:request_id"], "false",
        "{statement:?}"
    );
    assert_eq!(
        condition["Null"]["kms:EncryptionContext:credential_id"],
        "false"
    );
    let keys = &condition["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"];
    assert_eq!(keys.as_sequence().map(Vec::len), Some(2), "{statement:?}");
}

#[test]
fn no_statement_grants_everything() {
    for key in ["SigningKey", "SecretsKey"] {
        let statements = statements(key);
        assert!(!statements.is_empty(), "{key} has a key policy");
        for statement in &statements {
            assert!(
                !actions(statement).iter().any(|a| a == "kms:*"),
                "{key}: {statement:?}"
            );
        }
    }
}

#[test]
fn only_the_api_signs_and_only_es256() {
    let signing = granting("SigningKey", "kms:Sign");
    assert_eq!(signing.len(), 1);
    assert_eq!(roles(&signing[0]), ["ApiFunction"]);
    assert_eq!(
        signing[0]["Condition"]["StringEquals"]["kms:SigningAlgorithm"],
        "ECDSA_SHA_256"
    );
}

#[test]
fn pickup_copies_are_sealed_by_mint_and_opened_by_pickup_and_delivery_only() {
    let sealing = granting("SecretsKey", "kms:Encrypt");
    assert_eq!(sealing.len(), 1);
    assert_eq!(roles(&sealing[0]), ["MintCredentialFunction"]);
    bound_to_pickup_copies(&sealing[0]);
    let opening = granting("SecretsKey", "kms:Decrypt");
    assert_eq!(opening.len(), 1);
    assert_eq!(roles(&opening[0]), ["ApiFunction", "DeliverSecretFunction"]);
    bound_to_pickup_copies(&opening[0]);
    // The roles named are the functions' own (SAM names each <Function>Role).
    let resources = template()["Resources"].clone();
    for function in [
        "ApiFunction",
        "MintCredentialFunction",
        "DeliverSecretFunction",
    ] {
        assert_eq!(
            resources[function]["Type"], "AWS::Serverless::Function",
            "{function}"
        );
    }
}
