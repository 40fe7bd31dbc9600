"""DynamoDB tables and SQS queues (with redrive and queue policies), created or reused."""

import json
from typing import Any

from .cloud import Cloud, error_code


def table(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> tuple[str, dict]:
    ddb = cloud.client("dynamodb")
    name = props["TableName"]
    args: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "ProvisionedThroughput"):
        if key in props:
            args[key] = props[key]
    if "StreamSpecification" in props:
        args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if props.get("SSESpecification", {}).get("SSEEnabled"):
        args["SSESpecification"] = {"Enabled": True}
    if "DeletionProtectionEnabled" in props:
        args["DeletionProtectionEnabled"] = bool(props["DeletionProtectionEnabled"])
    try:
        desc = ddb.create_table(**args, Tags=[{"Key": k, "Value": v} for k, v in cloud.tags().items()])
        desc = desc["TableDescription"]
        cloud.log(f"{logical_id}: created table {name}")
    except ddb.exceptions.ResourceInUseException:
        desc = ddb.describe_table(TableName=name)["Table"]
        cloud.log(f"{logical_id}: table {name} exists, reused")
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
        ddb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
    attrs = {"Arn": desc["TableArn"]}
    if desc.get("LatestStreamArn"):
        attrs["StreamArn"] = desc["LatestStreamArn"]
    return name, attrs


def _queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in props.items():
        if key in ("QueueName", "Tags"):
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            value = json.dumps(value)
        out[key] = str(value)
    return out


def queue(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> tuple[str, dict]:
    sqs = cloud.client("sqs")
    name = props["QueueName"]
    attributes = _queue_attributes(props)
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes, tags=cloud.tags())["QueueUrl"]
        cloud.log(f"{logical_id}: queue {name} ready")
    except Exception as err:  # QueueAlreadyExists: same name, other attributes
        if "QueueAlreadyExists" not in error_code(err) and "QueueNameExists" not in error_code(err):
            raise
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        cloud.log(f"{logical_id}: queue {name} exists, attributes updated")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, {"Arn": arn, "QueueName": name, "QueueUrl": url}


def topic(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> tuple[str, dict]:
    """An SNS topic (the alarm topic): created so every reference resolves; nothing publishes
    to it locally (alarms are not evaluated)."""
    name = props["TopicName"]
    tags = [{"Key": k, "Value": v} for k, v in cloud.tags().items()]
    arn = cloud.client("sns").create_topic(Name=name, Tags=tags)["TopicArn"]
    cloud.log(f"{logical_id}: topic {name} ready")
    return arn, {"TopicArn": arn, "TopicName": name}


def queue_policy(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> tuple[str, dict]:
    sqs = cloud.client("sqs")
    for url in props["Queues"]:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
    cloud.log(f"{logical_id}: policy set on {len(props['Queues'])} queue(s)")
    return logical_id, {}
