//! The SDK clients Clavis uses, each built from the one process configuration with the call
//! counter installed.

use aws_config::SdkConfig;

use crate::calls::CallCounter;

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
