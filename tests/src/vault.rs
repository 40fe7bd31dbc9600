//! The local cloud's Secrets Manager as a client's vault: secrets under the stack's delivery
//! prefix, their version labels, and what they hold.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::Client as SecretsManager;

use crate::{sdk, stack};

async fn secrets() -> SecretsManager {
    SecretsManager::new(&sdk().await)
}

/// A new secret under the stack's delivery prefix, holding a placeholder (as a secret created
/// in the console does); its ARN.
pub async fn new_secret() -> String {
    let name = format!(
        "clavis/test-{}",
        clavis_core::ids::RequestId::generate().ulid()
    );
    let out = secrets()
        .await
        .create_secret()
        .name(&name)
        .secret_string("{}")
        .send()
        .await
        .expect("create secret");
    let arn = out.arn.expect("arn");
    assert!(arn.starts_with(&stack().delivery_prefix), "{arn}");
    arn
}

/// Labels per version id of the secret.
pub async fn stages(arn: &str) -> BTreeMap<String, Vec<String>> {
    secrets()
        .await
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .expect("describe")
        .version_ids_to_stages
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// The version carrying `label`.
pub async fn holder(arn: &str, label: &str) -> Option<String> {
    stages(arn)
        .await
        .into_iter()
        .find(|(_, labels)| labels.iter().any(|l| l == label))
        .map(|(v, _)| v)
}

/// The JSON the secret holds under `label`.
pub async fn read(arn: &str, label: &str) -> serde_json::Value {
    let out = secrets()
        .await
        .get_secret_value()
        .secret_id(arn)
        .version_stage(label)
        .send()
        .await
        .expect("get secret value");
    serde_json::from_str(out.secret_string().expect("string")).expect("vault json")
}

/// The version that holds `credential_id`'s secret.
pub fn version(credential_id: &str) -> String {
    format!("clavis-{credential_id}")
}
