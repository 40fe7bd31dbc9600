"""DynamoDB Streams records (as boto3's GetRecords returns them) in the shape Lambda delivers.

AWS's DynamoDB event is `{"Records": [record, ...]}`, each record:
  {"eventID", "eventName", "eventVersion", "eventSource": "aws:dynamodb", "awsRegion",
   "dynamodb": {"ApproximateCreationDateTime": <epoch seconds, a number>, "Keys",
                "NewImage", "OldImage", "SequenceNumber", "SizeBytes", "StreamViewType"},
   "eventSourceARN": <stream ARN>}   (+ "userIdentity" for TTL deletions)
which is what `aws_lambda_events::event::dynamodb::Event` deserialises. boto3 hands back
datetimes and raw bytes (B / BS), which JSON and that crate want as epoch numbers and base64.
"""

import base64
import datetime
import json
from typing import Any

_DDB_ORDER = ("ApproximateCreationDateTime", "Keys", "NewImage", "OldImage", "SequenceNumber", "SizeBytes",
              "StreamViewType")


def lambda_record(raw: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    change = raw.get("dynamodb", {})
    dynamodb: dict[str, Any] = {}
    for key in _DDB_ORDER:
        if key not in change:
            continue
        value = change[key]
        if key == "ApproximateCreationDateTime":
            value = epoch_seconds(value)
        elif key in ("Keys", "NewImage", "OldImage"):
            value = {name: attribute(av) for name, av in value.items()}
        dynamodb[key] = value
    record = {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": raw.get("eventVersion", "1.1"),
        "eventSource": raw.get("eventSource", "aws:dynamodb"),
        # The stream's region (moto writes "us-east-1" into every record, whatever the region).
        "awsRegion": stream_arn.split(":")[3],
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in raw:
        record["userIdentity"] = {"type": raw["userIdentity"].get("Type"),
                                  "principalId": raw["userIdentity"].get("PrincipalId")}
    return record


def epoch_seconds(value: Any) -> int:
    """Whole epoch seconds, as Lambda puts them in DynamoDB events."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return int(value.timestamp())
    return int(float(value))


def attribute(av: dict[str, Any]) -> dict[str, Any]:
    """One AttributeValue in DynamoDB JSON, binary as base64 text."""
    (kind, value), = av.items()
    if kind == "B":
        value = _b64(value)
    elif kind == "BS":
        value = [_b64(v) for v in value]
    elif kind == "M":
        value = {k: attribute(v) for k, v in value.items()}
    elif kind == "L":
        value = [attribute(v) for v in value]
    return {kind: value}


def _b64(value: Any) -> str:
    return base64.b64encode(value).decode() if isinstance(value, (bytes, bytearray)) else value


def sequence(record: dict[str, Any]) -> int:
    """Sequence numbers are decimal strings of varying length: compare them as integers."""
    return int(record["dynamodb"]["SequenceNumber"])


def payload(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"Records": records}, separators=(",", ":")).encode()
