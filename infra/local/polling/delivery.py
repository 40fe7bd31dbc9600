"""Delivers one batch of stream records to a function the way a Lambda stream mapping does.

The function is invoked THROUGH moto's Lambda Invoke API (so through the bridge to the Rust
binary under cargo lambda watch), synchronously, with `{"Records": [...]}`. Then, as AWS:
- success: the batch is checkpointed;
- a function error (X-Amz-Function-Error): with BisectBatchOnFunctionError a batch of more
  than one record is split in two halves, delivered in order (splitting does not consume
  the retry quota); otherwise the batch is retried after an exponential backoff, up to
  MaximumRetryAttempts (-1: no limit);
- ReportBatchItemFailures: `{"batchItemFailures": [{"itemIdentifier": "<SequenceNumber>"}]}`
  checkpoints the records before the lowest failed sequence number and retries from it
  (counts as a retry); an empty/null list or an empty/null response is success; an
  itemIdentifier that is missing, empty or not in the batch fails the whole batch;
- an invoke that did not reach the function (moto or cargo lambda watch down, throttled) is
  retried with backoff without consuming retries, like AWS's errors before invocation; so is
  the bridge's `Local.BridgeError` (cargo lambda watch has no such binary yet, or could not
  build it): a local condition that AWS never has, so records wait in the stream for the
  binary instead of being discarded;
- records older than MaximumRecordAgeInSeconds (else the stream's 24 h retention) and
  batches out of retries are discarded: their batch info goes to the on-failure destination,
  and the checkpoint moves past them.
One log line per invoke: function, record count, outcome, milliseconds. Never record contents.
"""

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from . import on_failure
from .records import payload, sequence

STREAM_RETENTION_SECONDS = 24 * 3600
LOCAL_BRIDGE_ERROR = "Local.BridgeError"  # moto_server.py: the binary could not be run at all
BACKOFF_BASE = float(os.environ.get("CLAVIS_POLLER_BACKOFF_BASE", "0.5"))  # seconds, doubled per retry
BACKOFF_MAX = float(os.environ.get("CLAVIS_POLLER_BACKOFF_MAX", "10"))


@dataclass
class Result:
    kind: str  # ok | partial | error | unavailable
    ms: float
    request_id: str | None = None
    status_code: int | None = None
    function_error: str | None = None
    detail: str = ""  # errorType or error code: never a message (it may quote record contents)
    failed_from: int | None = None  # partial: lowest failed sequence number


def backoff(attempt: int) -> float:
    return min(BACKOFF_BASE * 2 ** max(attempt - 1, 0), BACKOFF_MAX)


def invoke(lam, mapping: dict, batch: list[dict[str, Any]]) -> Result:
    started = time.monotonic()
    elapsed = lambda: (time.monotonic() - started) * 1000  # noqa: E731
    try:
        answer = lam.invoke(FunctionName=mapping["function_name"], InvocationType="RequestResponse",
                            Payload=payload(batch))
    except ClientError as err:
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = err.response.get("Error", {}).get("Code", "ClientError")
        return Result("unavailable", elapsed(), status_code=status, detail=code)
    except BotoCoreError as err:
        return Result("unavailable", elapsed(), detail=type(err).__name__)
    body = answer["Payload"].read()
    meta = dict(request_id=answer.get("ResponseMetadata", {}).get("RequestId"), status_code=answer.get("StatusCode"))
    if answer.get("FunctionError"):
        error_type = _error_type(body)
        kind = "unavailable" if error_type == LOCAL_BRIDGE_ERROR else "error"
        return Result(kind, elapsed(), function_error=answer["FunctionError"], detail=error_type, **meta)
    if "ReportBatchItemFailures" not in mapping["function_response_types"]:
        return Result("ok", elapsed(), **meta)
    failed_from, problem = _batch_item_failures(body, {sequence(r) for r in batch})
    if problem:
        return Result("error", elapsed(), detail=problem, **meta)
    if failed_from is not None:
        return Result("partial", elapsed(), failed_from=failed_from, **meta)
    return Result("ok", elapsed(), **meta)


def _error_type(body: bytes) -> str:
    try:
        return str(json.loads(body).get("errorType", "Unhandled"))
    except (ValueError, AttributeError):
        return "Unhandled"


def _batch_item_failures(body: bytes, in_batch: set[int]) -> tuple[int | None, str]:
    """(lowest failed sequence number or None, problem making it a complete failure or '')."""
    try:
        response = json.loads(body) if body.strip() else None
    except ValueError:
        return None, ""  # not JSON: nothing reported, a success
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not failures:
        return None, ""
    if not isinstance(failures, list):
        return None, "invalid batchItemFailures"
    lowest = None
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or not identifier.isdigit() or int(identifier) not in in_batch:
            return None, "invalid itemIdentifier"
        lowest = int(identifier) if lowest is None else min(lowest, int(identifier))
    return lowest, ""


class Deliverer:
    """Runs one batch to its end: delivered, or discarded to the on-failure destination."""

    def __init__(self, mapping: dict, lam, sqs, shard_id: str, done: Callable[[int], None],
                 wait: Callable[[float], bool], log: Callable[[str], None]):
        self.mapping, self.lam, self.sqs, self.shard_id = mapping, lam, sqs, shard_id
        self.done, self.wait, self.log = done, wait, log
        self.max_retries = mapping["maximum_retry_attempts"]
        age = mapping["maximum_record_age_seconds"]
        self.max_age = age if age >= 0 else STREAM_RETENTION_SECONDS

    def deliver(self, batch: list[dict[str, Any]]) -> bool:
        """False if the poller is stopping (the batch is then left unfinished, unchecked)."""
        work = [(batch, 0)]  # (records, retries consumed), in stream order
        while work:
            part, retries = work.pop(0)
            outcome = self._run(part, retries)
            if outcome is None:
                return False
            work[0:0] = outcome  # the halves of a bisected part, delivered next
        return True

    def _run(self, part: list[dict[str, Any]], retries: int) -> list | None:
        name, invokes, unavailable = self.mapping["function_name"], 0, 0
        while True:
            part = self._drop_expired(part, invokes)
            if part is None:
                return None
            if not part:
                return []
            result = invoke(self.lam, self.mapping, part)
            invokes += 1
            head = f"{name} {len(part)} record(s)"
            if result.kind == "unavailable":
                unavailable += 1
                delay = backoff(unavailable)
                if unavailable <= 5 or unavailable % 30 == 0:  # lean logs while it stays down
                    self.log(f"{head}: invoke failed ({result.detail}) in {result.ms:.0f} ms; attempt {unavailable}, "
                             f"again in {delay:.1f} s (not counted as a retry)")
                if self.wait(delay):
                    return None
                continue
            unavailable = 0
            if result.kind == "ok":
                self.log(f"{head}: ok in {result.ms:.0f} ms")
                self.done(sequence(part[-1]))
                return []
            if result.kind == "partial":
                before = [r for r in part if sequence(r) < result.failed_from]
                if before:
                    self.done(sequence(before[-1]))
                part = part[len(before):]
                what = f"partial failure from {result.failed_from} ({len(part)} left)"
            else:
                what = f"error {result.detail}"
                if self.mapping["bisect_batch_on_function_error"] and len(part) > 1:
                    half = len(part) // 2
                    self.log(f"{head}: {what} in {result.ms:.0f} ms; bisected into {half} + {len(part) - half}")
                    return [(part[:half], retries), (part[half:], retries)]
            if 0 <= self.max_retries <= retries:
                self.log(f"{head}: {what} in {result.ms:.0f} ms; retries exhausted ({retries}), "
                         "batch info sent to the on-failure destination")
                why = on_failure.Discard("RetryAttemptsExhausted", invokes, result.request_id, result.status_code,
                                         result.function_error)
                return [] if self._discard(part, why) else None
            retries += 1
            delay = backoff(retries)
            limit = "" if self.max_retries < 0 else f"/{self.max_retries}"
            self.log(f"{head}: {what} in {result.ms:.0f} ms; retry {retries}{limit} in {delay:.1f} s")
            if self.wait(delay):
                return None

    def _drop_expired(self, part: list[dict[str, Any]], invokes: int) -> list | None:
        now, count = time.time(), 0
        while count < len(part) and now - part[count]["dynamodb"].get("ApproximateCreationDateTime", now) > self.max_age:
            count += 1  # records are in stream order: the expired ones come first
        expired = part[:count]
        if not expired:
            return part
        self.log(f"{self.mapping['function_name']} {len(expired)} record(s): older than {self.max_age} s, "
                 "batch info sent to the on-failure destination")
        why = on_failure.Discard("RecordAgeExceeded", invokes, None, None, None)
        if not self._discard(expired, why):
            return None
        return part[len(expired):]

    def _discard(self, part: list[dict[str, Any]], why: on_failure.Discard) -> bool:
        message = on_failure.record(self.mapping, self.shard_id, part, why, time.time())
        if not on_failure.send(self.sqs, self.mapping, message, self.wait, self.log):
            return False
        self.done(sequence(part[-1]))
        return True
