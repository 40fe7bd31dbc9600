"""Self-test of the stream mapping's delivery rules (delivery.py, on_failure.py), with fakes.

Run: .local/venv/bin/python -m unittest discover -s infra/local/polling -t infra/local
(no moto needed; the poller's end-to-end behaviour is exercised by `clavis-local up`).
"""

import io
import json
import time
import unittest

from polling import delivery
from polling.delivery import Deliverer

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"


def rec(seq: int, age: float = 0) -> dict:
    return {"eventID": f"e{seq}", "eventName": "INSERT",
            "dynamodb": {"ApproximateCreationDateTime": int(time.time() - age), "SequenceNumber": str(seq)},
            "eventSourceARN": ARN}


class FakeLambda:
    """Answers each invoke with the next scripted answer: ("ok"|"error"|"bridge"|"down", body)."""

    def __init__(self, *script):
        self.script, self.calls = list(script), []

    def invoke(self, FunctionName, InvocationType, Payload):  # noqa: N803 (boto3's names)
        self.calls.append([int(r["dynamodb"]["SequenceNumber"]) for r in json.loads(Payload)["Records"]])
        kind, body = self.script.pop(0) if self.script else ("ok", None)
        if kind == "down":
            raise delivery.BotoCoreError()
        answer = {"StatusCode": 200, "ResponseMetadata": {"RequestId": "req"},
                  "Payload": io.BytesIO(json.dumps(body).encode() if body is not None else b"")}
        if kind in ("error", "bridge"):
            answer["FunctionError"] = "Unhandled"
            answer["Payload"] = io.BytesIO(json.dumps(
                {"errorType": "Local.BridgeError" if kind == "bridge" else "Boom", "errorMessage": "x"}).encode())
        return answer


class FakeSqs:
    def __init__(self):
        self.sent = []

    def send_message(self, QueueUrl, MessageBody):  # noqa: N803
        self.sent.append(json.loads(MessageBody))


def mapping(**overrides) -> dict:
    return {"function_name": "fn", "function_arn": "arn:aws:lambda:us-east-1:1:function:fn",
            "event_source_arn": ARN, "maximum_retry_attempts": 2, "maximum_record_age_seconds": -1,
            "bisect_batch_on_function_error": False, "function_response_types": ["ReportBatchItemFailures"],
            "on_failure_queue_url": "http://q", **overrides}


def run(m: dict, lam: FakeLambda, batch: list[dict]):
    sqs, done, waits = FakeSqs(), [], []
    d = Deliverer(m, lam, sqs, "shard-1", done=done.append, wait=lambda s: waits.append(s) and False, log=lambda _: None)
    assert d.deliver(batch)
    return sqs.sent, done, waits


class DeliveryRules(unittest.TestCase):
    def test_success_checkpoints_the_batch(self):
        sent, done, _ = run(mapping(), FakeLambda(("ok", {"status": "ok"})), [rec(1), rec(2)])
        self.assertEqual((sent, done[-1]), ([], 2))

    def test_partial_failure_retries_from_the_lowest_failed_record(self):
        lam = FakeLambda(("ok", {"batchItemFailures": [{"itemIdentifier": "4"}, {"itemIdentifier": "3"}]}), ("ok", {}))
        sent, done, waits = run(mapping(), lam, [rec(i) for i in range(1, 6)])
        self.assertEqual(lam.calls, [[1, 2, 3, 4, 5], [3, 4, 5]])
        self.assertEqual((done, len(waits), sent), ([2, 5], 1, []))

    def test_empty_or_null_failures_are_success_and_a_bad_identifier_is_complete_failure(self):
        for body in (None, {}, {"batchItemFailures": None}, {"batchItemFailures": []}, "ok"):
            self.assertEqual(run(mapping(), FakeLambda(("ok", body)), [rec(1)])[1], [1])
        lam = FakeLambda(("ok", {"batchItemFailures": [{"itemIdentifier": "99"}]}), ("ok", None))
        self.assertEqual(run(mapping(), lam, [rec(1)])[2], [delivery.backoff(1)])

    def test_failures_are_ignored_without_report_batch_item_failures(self):
        lam = FakeLambda(("ok", {"batchItemFailures": [{"itemIdentifier": "1"}]}))
        self.assertEqual(run(mapping(function_response_types=[]), lam, [rec(1)])[1], [1])

    def test_exhausted_retries_go_to_the_on_failure_queue_with_backoff(self):
        lam = FakeLambda(*[("error", None)] * 3)
        sent, done, waits = run(mapping(), lam, [rec(7), rec(8)])
        self.assertEqual((len(lam.calls), waits, done), (3, [delivery.backoff(1), delivery.backoff(2)], [8]))
        self.assertEqual(sent[0]["requestContext"]["condition"], "RetryAttemptsExhausted")
        self.assertEqual(sent[0]["requestContext"]["approximateInvokeCount"], 3)
        self.assertEqual(sent[0]["responseContext"]["functionError"], "Unhandled")
        info = sent[0]["DDBStreamBatchInfo"]
        self.assertEqual((info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]), ("7", "8", 2))

    def test_bisect_splits_without_consuming_retries_and_keeps_order(self):
        lam = FakeLambda(("error", None), ("ok", None), *[("error", None)] * 4)
        sent, done, _ = run(mapping(bisect_batch_on_function_error=True), lam, [rec(1), rec(2), rec(3)])
        self.assertEqual(lam.calls, [[1, 2, 3], [1], [2, 3], [2], [2], [2], [3]])
        self.assertEqual([m["DDBStreamBatchInfo"]["startSequenceNumber"] for m in sent], ["2"])
        self.assertEqual(done, [1, 2, 3])

    def test_unreachable_function_is_retried_without_consuming_retries(self):
        lam = FakeLambda(("down", None), ("bridge", None), ("down", None), ("ok", None))
        sent, done, waits = run(mapping(maximum_retry_attempts=0), lam, [rec(1)])
        self.assertEqual((len(lam.calls), sent, done), (4, [], [1]))
        self.assertEqual(waits, [delivery.backoff(1), delivery.backoff(2), delivery.backoff(3)])

    def test_records_past_their_maximum_age_are_discarded(self):
        lam = FakeLambda()
        sent, done, _ = run(mapping(maximum_record_age_seconds=60), lam, [rec(1, age=120), rec(2)])
        self.assertEqual((lam.calls, done), ([[2]], [1, 2]))
        self.assertEqual(sent[0]["requestContext"]["condition"], "RecordAgeExceeded")


if __name__ == "__main__":
    unittest.main()
