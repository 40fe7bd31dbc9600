//! The SDK clients Clavis uses, each built from the one process configuration with the call
//! counter installed.

use std::fmt;
use std::sync::{Arc, OnceLock};

use aws_config::SdkConfig;

use crate::calls::CallCounter;

/// A client built on its first use, for what only rare routes call: building a client is a
/// tenth of a millisecond that every cold start would otherwise pay. Copies share the one
/// client, whichever uses it first.
#[derive(Clone)]
pub struct OnFirstUse<C> {
    sdk: SdkConfig,
    build: fn(&SdkConfig) -> C,
    client: Arc<OnceLock<C>>,
}

impl<C> OnFirstUse<C> {
    /// A client `build` makes from `sdk` when it is first asked for.
    pub fn new(sdk: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        Self {
            sdk: sdk.clone(),
            build,
            client: Arc::new(OnceLock::new()),
        }
    }

    /// The client, built now if this is its first use.
    pub fn get(&self) -> &C {
        self.client.get_or_init(|| (self.build)(&self.sdk))
    }
}

impl<C> fmt::Debug for OnFirstUse<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnFirstUse")
            .field("built", &self.client.get().is_some())
            .finish_non_exhaustive()
    }
}

macro_rules! counted_client {
    ($(#[$doc:meta])* $name:ident, $sdk:ident) => {
        $(#[$doc])*
        pub fn $name(sdk: &SdkConfig) -> $sdk::Client {
            $sdk::Client::from_conf($sdk::config::Builder::from(sdk).interceptor(CallCounter).build())
        }
    };
}

counted_client!(
    /// DynamoDB.
    dynamodb,
    aws_sdk_dynamodb
);
counted_client!(
    /// KMS.
    kms,
    aws_sdk_kms
);
counted_client!(
    /// SQS.
    sqs,
    aws_sdk_sqs
);
counted_client!(
    /// EventBridge.
    eventbridge,
    aws_sdk_eventbridge
);
counted_client!(
    /// Step Functions.
    sfn,
    aws_sdk_sfn
);
counted_client!(
    /// Secrets Manager (delivery into a client's vault).
    secretsmanager,
    aws_sdk_secretsmanager
);
#[cfg(feature = "monitoring")]
counted_client!(
    /// CloudWatch (the api reads the stack's alarm states for `GET /v1/status`).
    cloudwatch,
    aws_sdk_cloudwatch
);
#[cfg(feature = "invoke")]
counted_client!(
    /// Lambda (the pre-traffic hook invokes the version being deployed; the api starts
    /// replay runs).
    lambda,
    aws_sdk_lambda
);
#[cfg(feature = "deploy")]
counted_client!(
    /// CodeDeploy (the pre-traffic hook reports its verdict).
    codedeploy,
    aws_sdk_codedeploy
);

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static BUILT: AtomicUsize = AtomicUsize::new(0);

    fn build(_: &SdkConfig) -> usize {
        BUILT.fetch_add(1, Ordering::SeqCst) + 1
    }

    #[test]
    fn a_client_is_built_on_its_first_use_and_only_then() {
        let lazy = OnFirstUse::new(&SdkConfig::builder().build(), build);
        let copy = lazy.clone();
        assert_eq!(BUILT.load(Ordering::SeqCst), 0);
        assert!(format!("{lazy:?}").contains("built: false"));
        assert_eq!(*lazy.get(), 1);
        assert_eq!(*lazy.get(), 1);
        assert_eq!(BUILT.load(Ordering::SeqCst), 1);
        assert!(format!("{lazy:?}").contains("built: true"));
        // A copy taken before the first use shares the client built since.
        assert!(format!("{copy:?}").contains("built: true"));
        assert_eq!(*copy.get(), 1);
        assert_eq!(BUILT.load(Ordering::SeqCst), 1);
    }
}
