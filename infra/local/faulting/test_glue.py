"""Self-test of moto_faults.py's WSGI wrapper and control endpoint, around a fake moto.

Run like test_rules.py (imports moto from the venv; starts no server).
"""

import json
import unittest
from unittest import mock

from werkzeug.test import EnvironBuilder

import moto_faults

AUTH = ("AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=0")


class FakeMoto:
    """Stands for moto's dispatcher: records the body each call reached it with."""

    def __init__(self):
        self.bodies = []

    def __call__(self, app, environ, start_response):
        self.bodies.append(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1")])
        return [b"{}"]


def request(app, path="/", method="POST", service=None, target=None, body=b"", content_type=None):
    headers = {}
    if service:
        headers["Authorization"] = AUTH.format(service)
    if target:
        headers["X-Amz-Target"] = target
    environ = EnvironBuilder(path=path, method=method, headers=headers, data=body,
                             content_type=content_type or "application/x-amz-json-1.1").get_environ()
    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = int(status.split()[0]), dict(headers)

    answer["body"] = b"".join(app(None, environ, start_response))
    return answer


class Glue(unittest.TestCase):
    def setUp(self):
        quiet = mock.patch.object(moto_faults, "log", lambda msg: None)
        quiet.start()
        self.addCleanup(quiet.stop)
        moto_faults.RULES.clear()
        self.moto = FakeMoto()
        self.app = moto_faults.faulting(self.moto)

    def control(self, method, path="", payload=None):
        answer = request(self.app, moto_faults.PREFIX + path, method,
                         body=json.dumps(payload).encode() if payload is not None else b"",
                         content_type="application/json")
        return answer["status"], json.loads(answer["body"])

    def put_events(self, bus):
        body = json.dumps({"Entries": [{"EventBusName": bus, "Source": "clavis", "Detail": "{}"}]}).encode()
        return request(self.app, service="events", target="AWSEvents.PutEvents", body=body)

    def test_the_control_endpoint(self):
        spec = {"service": "events", "action": "PutEvents", "match": "clavis-test"}
        status, rule = self.control("POST", payload=spec)
        self.assertEqual(status, 201)
        self.assertEqual(self.control("GET"), (200, [rule]))
        self.assertEqual(self.control("GET", "/" + rule["id"]), (200, rule))
        self.assertEqual(self.control("DELETE", "/" + rule["id"]), (200, {"removed": 1}))
        self.assertEqual(self.control("DELETE", "/" + rule["id"])[0], 404)
        self.assertEqual(self.control("GET", "/" + rule["id"])[0], 404)
        self.control("POST", payload={"service": "kms", "action": "*"})
        self.assertEqual(self.control("DELETE"), (200, {"removed": 1}))
        self.assertEqual(self.control("PUT")[0], 405)
        self.assertEqual(self.moto.bodies, [])  # none of it reached moto

    def test_bad_rules_are_400_with_the_reason(self):
        status, answer = self.control("POST", payload={"service": "events", "action": "PutEvents", "status": 200})
        self.assertEqual(status, 400)
        self.assertIn("status", answer["message"])
        answer = request(self.app, moto_faults.PREFIX, body=b"{nope", content_type="application/json")
        self.assertEqual(answer["status"], 400)

    def test_a_matching_call_gets_the_aws_json_error_and_never_reaches_moto(self):
        self.control("POST", payload={"service": "events", "action": "PutEvents", "match": "clavis-test"})
        failed = self.put_events("clavis-test")
        self.assertEqual(failed["status"], 503)
        self.assertEqual(failed["headers"]["Content-Type"], "application/x-amz-json-1.1")
        self.assertEqual(failed["headers"]["x-amzn-ErrorType"], "ServiceUnavailable")
        self.assertIn("x-amzn-RequestId", failed["headers"])
        self.assertEqual(json.loads(failed["body"])["__type"], "ServiceUnavailable")
        self.assertEqual(self.moto.bodies, [])
        self.assertEqual(self.put_events("clavis-dev")["status"], 200)
        self.assertEqual(len(self.moto.bodies), 1)

    def test_a_cancelled_transaction_says_why_item_by_item(self):
        self.control("POST", payload={"service": "dynamodb", "action": "TransactWriteItems", "status": 400,
                                      "error": "TransactionCanceledException",
                                      "reasons": ["None", "ThrottlingError"]})
        failed = request(self.app, service="dynamodb", target="DynamoDB_20120810.TransactWriteItems",
                         body=b"{}", content_type="application/x-amz-json-1.0")
        self.assertEqual(failed["status"], 400)
        document = json.loads(failed["body"])
        self.assertEqual(document["__type"], "TransactionCanceledException")
        self.assertEqual(document["CancellationReasons"], [{"Code": "None"}, {"Code": "ThrottlingError"}])
        # Without reasons, the document is the plain error.
        self.control("DELETE")
        self.control("POST", payload={"service": "events", "action": "PutEvents"})
        self.assertNotIn("CancellationReasons", json.loads(self.put_events("x")["body"]))

    def test_the_body_reaches_moto_intact_when_no_rule_applies(self):
        self.control("POST", payload={"service": "events", "action": "PutEvents", "match": "nowhere"})
        self.put_events("clavis-dev")
        self.assertEqual(json.loads(self.moto.bodies[0])["Entries"][0]["EventBusName"], "clavis-dev")

    def test_the_content_type_follows_the_protocol(self):
        self.control("POST", payload={"service": "dynamodb", "action": "PutItem", "error": "ThrottlingException",
                                      "status": 400})
        self.control("POST", payload={"service": "dynamodbstreams", "action": "GetRecords"})
        failed = request(self.app, service="dynamodb", target="DynamoDB_20120810.PutItem", body=b"{}",
                         content_type="application/x-amz-json-1.0")
        self.assertEqual((failed["status"], failed["headers"]["Content-Type"]), (400, "application/x-amz-json-1.0"))
        self.assertEqual(json.loads(failed["body"])["__type"], "ThrottlingException")
        failed = request(self.app, service="dynamodb", target="DynamoDBStreams_20120810.GetRecords", body=b"{}",
                         content_type="application/json")
        self.assertEqual((failed["status"], failed["headers"]["Content-Type"]), (503, "application/x-amz-json-1.0"))

    def test_query_protocol_calls_get_an_xml_error(self):
        self.control("POST", payload={"service": "sqs", "action": "SendMessage", "match": "QueueUrl=http://q/intake"})
        body = b"Action=SendMessage&QueueUrl=http%3A%2F%2Fq%2Fintake&MessageBody=x"
        failed = request(self.app, service="sqs", body=body, content_type="application/x-www-form-urlencoded")
        self.assertEqual(failed["status"], 503)
        self.assertIn(b"<Code>ServiceUnavailable</Code>", failed["body"])
        self.assertIn(b"<Type>Receiver</Type>", failed["body"])
        passed = request(self.app, service="sqs", body=body.replace(b"intake", b"other"),
                         content_type="application/x-www-form-urlencoded")
        self.assertEqual(passed["status"], 200)
        self.assertEqual(self.moto.bodies, [body.replace(b"intake", b"other")])

    def test_unsigned_calls_and_other_services_pass(self):
        self.control("POST", payload={"service": "states", "action": "*"})
        self.assertEqual(request(self.app, target="AWSStepFunctions.StartExecution", body=b"{}")["status"], 200)
        self.assertEqual(request(self.app, service="events", target="AWSEvents.PutEvents", body=b"{}")["status"], 200)
        self.assertEqual(request(self.app, service="states", target="AWSStepFunctions.StartExecution",
                                 body=b"{}")["status"], 503)


if __name__ == "__main__":
    unittest.main()
