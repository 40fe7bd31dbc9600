"""The on-failure destination of a stream mapping: the record AWS sends for a discarded batch.

For DynamoDB Streams AWS sends metadata, not the records (they stay readable in the stream
for 24 h):
  {"requestContext": {"requestId", "functionArn", "condition", "approximateInvokeCount"},
   "responseContext": {"statusCode", "executedVersion", "functionError"},
   "version": "1.0", "timestamp": "<ISO 8601, ms, Z>",
   "DDBStreamBatchInfo": {"shardId", "startSequenceNumber", "endSequenceNumber",
     "approximateArrivalOfFirstRecord", "approximateArrivalOfLastRecord", "batchSize",
     "streamArn"}}
Only SQS destinations exist locally. Sending is retried until it succeeds: a discarded batch
must never be lost on the way to its queue.
"""

import datetime
import json
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class Discard:
    """Why a batch is given up, and what the last invoke of it answered."""

    condition: str  # RetryAttemptsExhausted | RecordAgeExceeded
    invoke_count: int
    request_id: str | None
    status_code: int | None
    function_error: str | None


def _iso(epoch: float, millis: bool = False) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def record(mapping: dict, shard_id: str, batch: list[dict[str, Any]], why: Discard, now: float) -> dict:
    first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
    response: dict[str, Any] = {"statusCode": why.status_code}
    if why.status_code == 200:
        response["executedVersion"] = "$LATEST"
    if why.function_error:
        response["functionError"] = why.function_error
    return {
        "requestContext": {
            "requestId": why.request_id,
            "functionArn": mapping["function_arn"],
            "condition": why.condition,
            "approximateInvokeCount": why.invoke_count,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": _iso(now, millis=True),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime", now)),
            "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime", now)),
            "batchSize": len(batch),
            "streamArn": mapping["event_source_arn"],
        },
    }


def send(sqs, mapping: dict, message: dict, wait: Callable[[float], bool], log: Callable[[str], None]) -> bool:
    """Sends until SQS takes it; False only if the poller is stopping (wait() returned True)."""
    url = mapping.get("on_failure_queue_url")
    if not url:
        log(f"{mapping['function_name']}: no on-failure queue; discarded batch "
            f"{message['DDBStreamBatchInfo']['startSequenceNumber']}..{message['DDBStreamBatchInfo']['endSequenceNumber']}")
        return True
    delay = 0.5
    while True:
        try:
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))
            return True
        except Exception as err:  # noqa: BLE001 (any failure: keep the batch info, retry)
            log(f"{mapping['function_name']}: on-failure SendMessage failed ({type(err).__name__}); retrying")
            if wait(delay):
                return False
            delay = min(delay * 2, 10.0)
