"""Event source mappings: recorded for the local pollers, never created in moto.

moto delivers a DynamoDB Streams mapping synchronously inside PutItem (through Docker, so the
records are dropped here) and an SQS one inside SendMessage, without AWS's batching or
retries. So a mapping is only described, with its settings resolved and AWS's defaults filled
in, for infra/local/stream_poller.py, which runs it the AWS way. The provisioner writes the
descriptions to $CLAVIS_LOCAL_DIR/event_source_mappings.json.
"""

import json
from typing import Any

from .cloud import Cloud

STREAM_DEFAULTS = {  # AWS's defaults for stream sources (DynamoDB Streams, Kinesis)
    "BatchSize": 100,
    "MaximumBatchingWindowInSeconds": 0,
    "MaximumRetryAttempts": -1,
    "MaximumRecordAgeInSeconds": -1,
    "BisectBatchOnFunctionError": False,
    "FunctionResponseTypes": [],
    "Enabled": True,
}


def _queue_url(cloud: Cloud, arn: str) -> str | None:
    """The URL of a queue created by this stack, from its ARN."""
    for attrs in cloud.stack.attrs.values():
        if isinstance(attrs, dict) and attrs.get("Arn") == arn and "QueueUrl" in attrs:
            return attrs["QueueUrl"]
    return None


def describe(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
    source = props["EventSourceArn"]
    kind = "dynamodb-stream" if ":dynamodb:" in source and "/stream/" in source else "unsupported"
    settings = {**STREAM_DEFAULTS, **{k: v for k, v in props.items() if k in STREAM_DEFAULTS}}
    function = props["FunctionName"].split(":function:", 1)[-1].split(":", 1)[0]
    destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    mapping = {
        "logical_id": logical_id,
        "kind": kind,
        "event_source_arn": source,
        "function_name": function,
        "function_arn": f"arn:aws:lambda:{cloud.region}:{cloud.account}:function:{function}",
        "enabled": bool(settings["Enabled"]),
        "starting_position": props.get("StartingPosition", "LATEST"),
        "batch_size": int(settings["BatchSize"]),
        "maximum_batching_window_seconds": float(settings["MaximumBatchingWindowInSeconds"]),
        "maximum_retry_attempts": int(settings["MaximumRetryAttempts"]),
        "maximum_record_age_seconds": int(settings["MaximumRecordAgeInSeconds"]),
        "bisect_batch_on_function_error": bool(settings["BisectBatchOnFunctionError"]),
        "function_response_types": list(settings["FunctionResponseTypes"]),
        # Patterns are JSON text in CloudFormation; parsed here so a bad one fails provisioning.
        "filter_patterns": [json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])],
        "on_failure_destination": destination,
        "on_failure_queue_url": _queue_url(cloud, destination) if destination else None,
    }
    if destination and not mapping["on_failure_queue_url"]:
        cloud.log(f"{logical_id}: on-failure destination {destination} is not a queue of this stack; "
                  "discarded batches will only be logged locally")
    cloud.log(f"{logical_id}: {kind} mapping {source.split(':', 5)[-1]} -> {function} "
              "recorded for the local poller (not created in moto)")
    return mapping
