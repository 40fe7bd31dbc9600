"""Self-test of the FilterCriteria subset (filters.py). Run like test_delivery.py."""

import unittest

from polling import filters

OUTBOX = {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"entity": {"S": ["outbox"]}}}}


def record(event_name: str, image: dict) -> dict:
    return {"eventName": event_name, "dynamodb": {"NewImage": image}}


class Filters(unittest.TestCase):
    def test_the_outbox_pattern(self):
        self.assertTrue(filters.matches_any([OUTBOX], record("INSERT", {"entity": {"S": "outbox"}})))
        self.assertFalse(filters.matches_any([OUTBOX], record("MODIFY", {"entity": {"S": "outbox"}})))
        self.assertFalse(filters.matches_any([OUTBOX], record("INSERT", {"entity": {"S": "client"}})))
        self.assertFalse(filters.matches_any([OUTBOX], record("INSERT", {})))
        self.assertFalse(filters.matches_any([OUTBOX], {"eventName": "INSERT", "dynamodb": {}}))

    def test_no_pattern_matches_everything_and_patterns_are_or(self):
        self.assertTrue(filters.matches_any([], {}))
        self.assertTrue(filters.matches_any([{"a": ["x"]}, {"b": ["y"]}], {"b": "y"}))

    def test_values_are_compared_as_json(self):
        self.assertFalse(filters.matches_any([{"a": [True]}], {"a": 1}))
        self.assertFalse(filters.matches_any([{"a": ["1"]}], {"a": 1}))
        self.assertTrue(filters.matches_any([{"a": [1]}], {"a": 1.0}))
        self.assertTrue(filters.matches_any([{"a": ["x"]}], {"a": ["y", "x"]}))

    def test_content_filters(self):
        self.assertTrue(filters.matches_any([{"a": [{"exists": False}]}], {}))
        self.assertFalse(filters.matches_any([{"a": [{"exists": True}]}], {}))
        self.assertTrue(filters.matches_any([{"a": [{"prefix": "out"}]}], {"a": "outbox"}))
        self.assertTrue(filters.matches_any([{"a": [{"anything-but": ["client"]}]}], {"a": "outbox"}))
        self.assertTrue(filters.matches_any([{"a": [{"numeric": [">", 0, "<=", 5]}]}], {"a": 5}))

    def test_unsupported_patterns_are_rejected(self):
        for bad in ({"a": [{"wildcard": "*"}]}, {"a": "x"}, {"a": [{"numeric": ["!", 1]}]}, ["a"]):
            with self.assertRaises(ValueError):
                filters.validate(bad)
        filters.validate(OUTBOX)


if __name__ == "__main__":
    unittest.main()
