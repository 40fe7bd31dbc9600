//! The SDK clients Clavis uses, each built from the one process configuration with the call
//! counter installed.

use aws_config::SdkConfig;

use crate::calls::CallCounter;

/// DynamoDB.
pub fn dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(CallCounter)
            .build(),
    )
}

/// KMS.
pub fn kms(sdk: &SdkConfig) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(sdk)
            .interceptor(CallCounter)
            .build(),
    )
}

/// SQS.
pub fn sqs(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .interceptor(CallCounter)
            .build(),
    )
}

/// EventBridge.
pub fn eventbridge(sdk: &SdkConfig) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(sdk)
            .interceptor(CallCounter)
            .build(),
    )
}

/// Step Functions.
pub fn sfn(sdk: &SdkConfig) -> aws_sdk_sfn::Client {
    aws_sdk_sfn::Client::from_conf(
        aws_sdk_sfn::config::Builder::from(sdk)
            .interceptor(CallCounter)
            .build(),
    )
}
