//! AWS Secrets Manager as a [`SecretVault`]: each credential's secret is one version of the
//! client's secret, named after the credential (`ClientRequestToken`), staged `AWSPENDING`,
//! moved to `AWSCURRENT` at activation (Secrets Manager then moves `AWSPREVIOUS` to the
//! version that was current), and unlabelled when its rotation ends.

use aws_sdk_secretsmanager::Client as SecretsManagerClient;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use clavis_core::delivery::{
    DeliveredSecret, DeliveryTarget, SecretVault, vault_contents, version_id_for,
};
use clavis_core::ids::CredentialId;
use clavis_core::{Error, UserError};
use zeroize::Zeroizing;

use crate::fault;

/// The label Secrets Manager gives the version that consumers read.
pub const CURRENT: &str = "AWSCURRENT";
/// The label of the version current before (kept through a rotation's overlap).
pub const PREVIOUS: &str = "AWSPREVIOUS";
/// The label of a version written and not yet current.
pub const PENDING: &str = "AWSPENDING";

/// Error codes that mean the target, not the service, is wrong: the client's owner must fix
/// it, and retrying cannot help.
const TARGET_CODES: [&str; 4] = [
    "ResourceNotFoundException",
    "AccessDeniedException",
    "InvalidRequestException",
    "ResourceExistsException",
];

/// Secrets Manager behind the delivery port.
#[derive(Debug, Clone)]
pub struct SecretsManagerVault {
    client: SecretsManagerClient,
}

/// Which labels each version of a secret carries.
type Stages = Vec<(String, Vec<String>)>;

fn mapped<E, R>(target: &DeliveryTarget, err: &SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err.code() {
        Some(code) if TARGET_CODES.contains(&code) => {
            UserError::Undeliverable(format!("{} answered {code}", target.address())).into()
        }
        _ => fault::from_sdk("secretsmanager", err).into(),
    }
}

impl SecretsManagerVault {
    /// Wraps an SDK client.
    pub fn new(client: SecretsManagerClient) -> Self {
        Self { client }
    }

    async fn stages(&self, target: &DeliveryTarget) -> Result<Stages, Error> {
        let out = self
            .client
            .describe_secret()
            .secret_id(target.address())
            .send()
            .await
            .map_err(|e| mapped(target, &e))?;
        Ok(out
            .version_ids_to_stages
            .unwrap_or_default()
            .into_iter()
            .collect())
    }

    async fn move_label(
        &self,
        target: &DeliveryTarget,
        label: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<(), Error> {
        self.client
            .update_secret_version_stage()
            .secret_id(target.address())
            .version_stage(label)
            .set_remove_from_version_id(from.map(str::to_owned))
            .set_move_to_version_id(to.map(str::to_owned))
            .send()
            .await
            .map_err(|e| mapped(target, &e))?;
        Ok(())
    }
}

impl SecretsManagerVault {
    /// Makes `before` current again in place of `unwanted`, which is left with no label (the
    /// move would make it `AWSPREVIOUS`, a fallback nobody should take).
    async fn reinstate(
        &self,
        target: &DeliveryTarget,
        unwanted: &str,
        before: &str,
    ) -> Result<(), Error> {
        self.move_label(target, CURRENT, Some(unwanted), Some(before))
            .await?;
        self.move_label(target, PREVIOUS, Some(unwanted), None)
            .await
    }
}

/// The version carrying `label`, if any.
fn holder<'a>(stages: &'a Stages, label: &str) -> Option<&'a str> {
    stages
        .iter()
        .find(|(_, labels)| labels.iter().any(|l| l == label))
        .map(|(v, _)| v.as_str())
}

fn carries(stages: &Stages, version: &str, label: &str) -> bool {
    stages
        .iter()
        .any(|(v, labels)| v == version && labels.iter().any(|l| l == label))
}

impl SecretVault for SecretsManagerVault {
    async fn stage(
        &self,
        target: &DeliveryTarget,
        credential_id: &CredentialId,
        contents: &DeliveredSecret<'_>,
    ) -> Result<(), Error> {
        let text = Zeroizing::new(vault_contents(contents)?);
        self.client
            .put_secret_value()
            .secret_id(target.address())
            .client_request_token(version_id_for(credential_id))
            .secret_string(text.as_str())
            .version_stages(PENDING)
            .send()
            .await
            .map_err(|e| mapped(target, &e))?;
        Ok(())
    }

    async fn holds(
        &self,
        target: &DeliveryTarget,
        credential_id: &CredentialId,
    ) -> Result<bool, Error> {
        // DescribeSecret leaves out versions without a label: a version whose AWSPENDING a
        // concurrent delivery took is still there, so list every version.
        let version = version_id_for(credential_id);
        let mut token = None;
        loop {
            let page = self
                .client
                .list_secret_version_ids()
                .secret_id(target.address())
                .include_deprecated(true)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| mapped(target, &e))?;
            if page
                .versions()
                .iter()
                .any(|v| v.version_id() == Some(version.as_str()))
            {
                return Ok(true);
            }
            match page.next_token {
                Some(next) => token = Some(next),
                None => return Ok(false),
            }
        }
    }

    async fn promote(
        &self,
        target: &DeliveryTarget,
        credential_id: &CredentialId,
    ) -> Result<(), Error> {
        let version = version_id_for(credential_id);
        let stages = self.stages(target).await?;
        if !carries(&stages, &version, CURRENT) {
            // Moving AWSCURRENT onto a version that already carries it would also move
            // AWSPREVIOUS onto it: a retry must not, so it is skipped above.
            self.move_label(target, CURRENT, holder(&stages, CURRENT), Some(&version))
                .await?;
        }
        if carries(&stages, &version, PENDING) {
            self.move_label(target, PENDING, Some(&version), None)
                .await?;
        }
        Ok(())
    }

    async fn demote(
        &self,
        target: &DeliveryTarget,
        credential_id: &CredentialId,
    ) -> Result<(), Error> {
        let version = version_id_for(credential_id);
        let stages = self.stages(target).await?;
        if !carries(&stages, &version, CURRENT) {
            // A retry after the first move of `reinstate`: finish its second.
            if carries(&stages, &version, PREVIOUS) {
                self.move_label(target, PREVIOUS, Some(&version), None)
                    .await?;
            }
            return Ok(());
        }
        match holder(&stages, PREVIOUS).filter(|v| *v != version) {
            Some(before) => self.reinstate(target, &version, before).await,
            None => Ok(()),
        }
    }

    async fn retire(
        &self,
        target: &DeliveryTarget,
        predecessor: &CredentialId,
        successor: &CredentialId,
        abandoned: bool,
    ) -> Result<(), Error> {
        let old = version_id_for(predecessor);
        let new = version_id_for(successor);
        let stages = self.stages(target).await?;
        if abandoned {
            // The successor was revoked: consumers go back to the predecessor, which is
            // still active.
            if carries(&stages, &new, CURRENT) && stages.iter().any(|(v, _)| *v == old) {
                self.reinstate(target, &new, &old).await?;
            } else if carries(&stages, &new, PREVIOUS) {
                // A retry after the first move of `reinstate`: finish its second.
                self.move_label(target, PREVIOUS, Some(&new), None).await?;
            }
            return Ok(());
        }
        if carries(&stages, &old, PREVIOUS) {
            self.move_label(target, PREVIOUS, Some(&old), None).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages() -> Stages {
        vec![
            ("v1".into(), vec![PREVIOUS.into()]),
            ("v2".into(), vec![CURRENT.into(), PENDING.into()]),
            ("v0".into(), vec![]),
        ]
    }

    #[test]
    fn the_holder_of_a_label_is_found() {
        assert_eq!(holder(&stages(), CURRENT), Some("v2"));
        assert_eq!(holder(&stages(), PREVIOUS), Some("v1"));
        assert_eq!(holder(&stages(), "OTHER"), None);
    }

    #[test]
    fn a_version_carries_only_its_own_labels() {
        assert!(carries(&stages(), "v2", PENDING));
        assert!(!carries(&stages(), "v1", CURRENT));
        assert!(!carries(&stages(), "v9", CURRENT));
    }
}
