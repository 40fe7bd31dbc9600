"""Self-test of the fault rules (rules.py).

Run: .local/venv/bin/python -m unittest discover -s infra/local/faulting -t infra/local
(no moto server needed; test_glue.py drives moto_faults.py's WSGI wrapper with a fake moto).
"""

import threading
import unittest

from faulting.rules import FaultRules

PUT_EVENTS = {"service": "events", "action": "PutEvents"}


class Rules(unittest.TestCase):
    def setUp(self):
        self.rules = FaultRules()

    def test_defaults_are_a_service_unavailable_until_lifted(self):
        rule = self.rules.add(PUT_EVENTS)
        self.assertEqual((rule["status"], rule["error"], rule["count"], rule["match"], rule["hits"]),
                         (503, "ServiceUnavailable", None, None, 0))
        for _ in range(3):
            self.assertEqual(self.rules.match("events", "PutEvents", "{}")["id"], rule["id"])
        self.assertEqual(self.rules.list()[0]["hits"], 3)
        self.assertTrue(self.rules.remove(rule["id"]))
        self.assertIsNone(self.rules.match("events", "PutEvents", "{}"))
        self.assertFalse(self.rules.remove(rule["id"]))

    def test_only_the_named_service_and_action(self):
        self.rules.add({"service": "states", "action": "StartExecution"})
        self.assertIsNone(self.rules.match("states", "DescribeExecution", "{}"))
        self.assertIsNone(self.rules.match("events", "StartExecution", "{}"))
        self.assertIsNone(self.rules.match(None, None, "{}"))
        self.assertIsNotNone(self.rules.match("states", "StartExecution", "{}"))

    def test_star_is_every_action_of_the_service(self):
        self.rules.add({"service": "kms", "action": "*"})
        self.assertIsNotNone(self.rules.match("kms", "Decrypt"))
        self.assertIsNotNone(self.rules.match("kms", None))
        self.assertIsNone(self.rules.match("dynamodb", "GetItem"))

    def test_match_is_a_substring_of_the_body(self):
        self.rules.add({**PUT_EVENTS, "match": '"EventBusName":"clavis-test"'})
        self.assertIsNone(self.rules.match("events", "PutEvents", '{"Entries":[{"EventBusName":"clavis-dev"}]}'))
        self.assertIsNotNone(self.rules.match("events", "PutEvents", '{"Entries":[{"EventBusName":"clavis-test"}]}'))

    def test_count_fails_the_next_calls_then_the_rule_goes(self):
        rule = self.rules.add({**PUT_EVENTS, "count": 2, "match": "x"})
        self.assertIsNone(self.rules.match("events", "PutEvents", "y"))  # not matching: not counted
        self.assertEqual(self.rules.match("events", "PutEvents", "x")["count"], 1)
        self.assertEqual(self.rules.get(rule["id"])["count"], 1)
        self.assertEqual(self.rules.match("events", "PutEvents", "x")["count"], 0)
        self.assertIsNone(self.rules.match("events", "PutEvents", "x"))
        self.assertEqual(self.rules.list(), [])

    def test_the_first_matching_rule_applies(self):
        first = self.rules.add({**PUT_EVENTS, "error": "ThrottlingException", "status": 400, "count": 1})
        second = self.rules.add(PUT_EVENTS)
        self.assertEqual(self.rules.match("events", "PutEvents")["id"], first["id"])
        self.assertEqual(self.rules.match("events", "PutEvents")["id"], second["id"])

    def test_clear_and_wants(self):
        self.assertFalse(self.rules.wants("events"))
        self.rules.add(PUT_EVENTS)
        self.rules.add({"service": "states", "action": "StartExecution"})
        self.assertTrue(self.rules.wants("events"))
        self.assertFalse(self.rules.wants("sqs"))
        self.assertFalse(self.rules.wants(None))
        self.assertEqual(self.rules.clear(), 2)
        self.assertEqual(self.rules.list(), [])

    def test_names_are_normalised(self):
        self.assertEqual(self.rules.add({"service": "EventBridge", "action": "PutEvents"})["service"], "events")
        self.assertEqual(self.rules.add({"service": "stepfunctions", "action": "StartExecution"})["service"], "states")

    def test_copies_do_not_change_the_rules(self):
        rule = self.rules.add(PUT_EVENTS)
        rule["count"] = 1
        self.rules.list()[0]["action"] = "Other"
        self.assertEqual(self.rules.get(rule["id"])["count"], None)
        self.assertEqual(self.rules.get(rule["id"])["action"], "PutEvents")

    def test_bad_specs_are_refused(self):
        for bad in (None, [], {}, {"service": "events"}, {"action": "PutEvents"}, {**PUT_EVENTS, "service": " "},
                    {**PUT_EVENTS, "status": 200}, {**PUT_EVENTS, "status": "503"}, {**PUT_EVENTS, "status": True},
                    {**PUT_EVENTS, "count": 0}, {**PUT_EVENTS, "count": 1.5}, {**PUT_EVENTS, "match": ""},
                    {**PUT_EVENTS, "error": "Bad\r\nHeader: x"}, {**PUT_EVENTS, "eror": "Typo"},
                    {**PUT_EVENTS, "reasons": []}, {**PUT_EVENTS, "reasons": "ThrottlingError"},
                    {**PUT_EVENTS, "reasons": ["None", 3]}):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                self.rules.add(bad)
        self.assertEqual(self.rules.list(), [])

    def test_a_counted_rule_fails_exactly_count_calls_across_threads(self):
        self.rules.add({**PUT_EVENTS, "count": 50})
        failed = []

        def caller():
            for _ in range(20):
                if self.rules.match("events", "PutEvents"):
                    failed.append(1)

        threads = [threading.Thread(target=caller) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(len(failed), 50)
        self.assertEqual(self.rules.list(), [])


if __name__ == "__main__":
    unittest.main()
