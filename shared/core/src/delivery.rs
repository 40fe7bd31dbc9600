//! Delivery of new secrets into a vault instead of pickup over HTTP: the target a client
//! registers, the version a credential's secret becomes there, and the port a vault adapter
//! implements. The workflow speaks only this port, so another vault is a new adapter.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::error::{Error, FieldViolation, UserError};
use crate::ids::{ClientId, CredentialId};
use crate::secret::ClientSecret;

/// Longest secret ARN accepted (AWS allows 2048; names are at most 512 characters).
pub const MAX_TARGET_LEN: usize = 1024;

/// Where a client's new secrets are written. Tagged by `kind` so other vaults can be added.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeliveryTarget {
    /// An AWS Secrets Manager secret, created beforehand by its owner.
    AwsSecretsManager {
        /// The secret's full ARN.
        secret_arn: String,
    },
}

impl DeliveryTarget {
    /// The target's stable identity (its ARN): one client per target.
    pub fn address(&self) -> &str {
        match self {
            Self::AwsSecretsManager { secret_arn } => secret_arn,
        }
    }

    /// Checks the target's form, and that it lies under `allowed_prefix` (the ARN prefix the
    /// stack may write to, e.g. `arn:aws:secretsmanager:eu-west-1:123456789012:secret:clavis/`).
    pub fn validate(&self, allowed_prefix: &str) -> Result<(), UserError> {
        let Self::AwsSecretsManager { secret_arn } = self;
        let bad = |reason: String| {
            UserError::Invalid(vec![FieldViolation::new("delivery.secret_arn", reason)])
        };
        if secret_arn.len() > MAX_TARGET_LEN || !is_secret_arn(secret_arn) {
            return Err(bad(
                "must be a Secrets Manager secret's complete ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX)"
                    .into(),
            ));
        }
        if !secret_arn.starts_with(allowed_prefix) {
            return Err(bad(format!(
                "must name a secret under {allowed_prefix} (the secrets this stack may write)"
            )));
        }
        Ok(())
    }
}

/// `arn:PARTITION:secretsmanager:REGION:ACCOUNT(12 digits):secret:NAME-XXXXXX`, printable ASCII
/// only: the *complete* ARN, with the 6 characters Secrets Manager appends. A partial ARN (no
/// suffix) names the same secret under another spelling, so one secret could be claimed by two
/// clients.
fn is_secret_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let [arn_, partition, service, region, account, resource, name] = parts[..] else {
        return false;
    };
    arn_ == "arn"
        && partition.starts_with("aws")
        && service == "secretsmanager"
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource == "secret"
        && name.bytes().all(|b| b.is_ascii_graphic())
        && name.rsplit_once('-').is_some_and(|(stem, suffix)| {
            !stem.is_empty()
                && suffix.len() == 6
                && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// The vault version a credential's secret becomes: named after the credential, so a
/// retried delivery writes the same version and anyone can tell which credential it holds.
pub fn version_id_for(credential_id: &CredentialId) -> String {
    format!("clavis-{credential_id}")
}

/// What a vault version holds: everything a machine needs to ask for tokens.
#[derive(Serialize)]
pub struct DeliveredSecret<'a> {
    /// The client the secret authenticates.
    pub client_id: ClientId,
    /// The credential.
    pub credential_id: CredentialId,
    /// The secret itself.
    pub client_secret: &'a str,
    /// When the credential expires (RFC 3339).
    pub expires_at: String,
}

impl std::fmt::Debug for DeliveredSecret<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveredSecret")
            .field("client_id", &self.client_id)
            .field("credential_id", &self.credential_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// A vault that holds each client's current secret. Implementations are idempotent: every
/// call may be retried after an answer was lost.
pub trait SecretVault {
    /// Writes `secret` as version [`version_id_for`] of `target`, staged (not yet current).
    /// Writing the same version again with the same secret changes nothing.
    fn stage(
        &self,
        target: &DeliveryTarget,
        credential_id: &CredentialId,
        contents: &DeliveredSecret<'_>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Whether the version of `credential_id` is in `target` (a retry after the sealed copy
    /// was consumed asks this instead of writing again).
    fn holds(
        &self,
        target: &DeliveryTarget,
        credential_id: &CredentialId,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Makes the version of `credential_id` the current one; the version current before
    /// becomes the previous one (consumers may fall back to it during an overlap).
    fn promote(
        &self,
        target: &DeliveryTarget,
        credential_id: &CredentialId,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Undoes [`SecretVault::promote`] for a credential whose activation was refused: the
    /// version current before it is current again, and it carries no label.
    fn demote(
        &self,
        target: &DeliveryTarget,
        credential_id: &CredentialId,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The rotation of `predecessor` is over: it is no longer offered as the previous
    /// version. If `successor` was abandoned (revoked in the overlap) and is current, the
    /// predecessor becomes current again.
    fn retire(
        &self,
        target: &DeliveryTarget,
        predecessor: &CredentialId,
        successor: &CredentialId,
        abandoned: bool,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// The secret as text for the vault: JSON with the client, credential, secret and expiry.
pub fn vault_contents(contents: &DeliveredSecret<'_>) -> Result<String, Error> {
    serde_json::to_string(contents)
        .map_err(|e| crate::error::SystemFault::Internal(format!("vault contents: {e}")).into())
}

/// The contents for `secret`.
pub fn contents_of<'a>(
    client_id: ClientId,
    secret: &'a ClientSecret,
    expires_at: String,
) -> DeliveredSecret<'a> {
    DeliveredSecret {
        client_id,
        credential_id: secret.credential_id(),
        client_secret: secret.expose(),
        expires_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:clavis/";

    fn target(arn: &str) -> DeliveryTarget {
        DeliveryTarget::AwsSecretsManager {
            secret_arn: arn.into(),
        }
    }

    #[test]
    fn a_secret_under_the_prefix_is_accepted() {
        target(&format!("{PREFIX}payments-AbCdEf"))
            .validate(PREFIX)
            .unwrap();
    }

    #[test]
    fn anything_else_is_refused_naming_the_field() {
        for arn in [
            "",
            "clavis/payments",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:other/payments",
            "arn:aws:ssm:eu-west-1:123456789012:parameter:clavis/payments",
            "arn:aws:secretsmanager:eu-west-1:12345:secret:clavis/payments",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:clavis/with space",
            "arn:aws:secretsmanager:eu-west-2:123456789012:secret:clavis/payments-AbCdEf",
            // A partial ARN (no suffix) is another spelling of a secret another client may hold.
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:clavis/payments",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:clavis/payments-AbC",
        ] {
            let err = target(arn).validate(PREFIX).unwrap_err();
            match err {
                UserError::Invalid(v) => assert_eq!(v[0].field, "delivery.secret_arn", "{arn}"),
                other => panic!("{arn}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_version_is_named_after_the_credential_and_fits_secrets_manager() {
        let id = CredentialId::generate();
        let v = version_id_for(&id);
        assert!(v.contains(&id.to_string()));
        // Secrets Manager version ids (ClientRequestToken) are 32 to 64 characters.
        assert!((32..=64).contains(&v.len()), "{v}");
    }

    #[test]
    fn the_target_is_tagged_by_kind() {
        let t: DeliveryTarget = serde_json::from_value(serde_json::json!({
            "kind": "aws_secrets_manager",
            "secret_arn": format!("{PREFIX}x"),
        }))
        .unwrap();
        assert_eq!(t.address(), format!("{PREFIX}x"));
        assert!(
            serde_json::from_value::<DeliveryTarget>(serde_json::json!({"kind": "hashicorp"}))
                .is_err()
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret =
            ClientSecret::generate(CredentialId::generate(), crate::secret::SecretMode::Test)
                .unwrap();
        let c = contents_of(ClientId::generate(), &secret, "t".into());
        assert!(!format!("{c:?}").contains(secret.expose()));
        assert!(vault_contents(&c).unwrap().contains(secret.expose()));
    }
}
