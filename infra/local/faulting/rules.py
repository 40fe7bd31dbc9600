"""Which AWS calls the local cloud fails on purpose: the fault rules, and nothing else.

A rule names a service (the SigV4 signing name as moto's dispatcher resolves it: `events`,
`states`, `kms`, `dynamodb`, `dynamodbstreams`, `sqs`, ...), an action (`PutEvents`, or `*` for
every action of the service), optionally a substring the request body must contain, and the
error to answer with (for a cancelled DynamoDB transaction, `reasons`: the cancellation reason
code of each item, e.g. `["None", "ThrottlingError"]`). A rule with a `count` fails that many matching calls and then removes
itself; without one it stays until removed. The first rule added that matches applies.

Pure and thread-safe (one lock around the list); moto_faults.py is the HTTP glue.
"""

import re
import threading
import uuid

DEFAULT_STATUS = 503
DEFAULT_ERROR = "ServiceUnavailable"
# Names a developer is likely to type for the services whose signing name differs.
ALIASES = {"eventbridge": "events", "stepfunctions": "states", "sfn": "states"}
FIELDS = {"service", "action", "match", "error", "status", "message", "count", "reasons"}
ERROR_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:#-]{0,127}$")  # goes into a response header


class FaultRules:
    def __init__(self):
        self._lock = threading.Lock()
        self._rules: list[dict] = []

    def add(self, spec: dict) -> dict:
        """Validates `spec` (ValueError says what is wrong) and appends it; returns the rule."""
        rule = validated(spec)
        rule["id"] = uuid.uuid4().hex[:12]
        rule["hits"] = 0
        with self._lock:
            self._rules.append(rule)
            return dict(rule)

    def list(self) -> list[dict]:
        with self._lock:
            return [dict(rule) for rule in self._rules]

    def get(self, rule_id: str) -> dict | None:
        with self._lock:
            return next((dict(rule) for rule in self._rules if rule["id"] == rule_id), None)

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            kept = [rule for rule in self._rules if rule["id"] != rule_id]
            removed = len(kept) != len(self._rules)
            self._rules = kept
            return removed

    def clear(self) -> int:
        with self._lock:
            removed, self._rules = len(self._rules), []
            return removed

    def wants(self, service: str | None) -> bool:
        """Whether any rule could apply to `service` (lets the glue skip reading bodies)."""
        with self._lock:
            return service is not None and any(rule["service"] == service for rule in self._rules)

    def match(self, service: str | None, action: str | None, body: str = "") -> dict | None:
        """The rule that fails this call, counted as used (a copy), or None to let it through."""
        with self._lock:
            for rule in self._rules:
                if (rule["service"] == service and rule["action"] in ("*", action)
                        and (rule["match"] is None or rule["match"] in body)):
                    rule["hits"] += 1
                    if rule["count"] is not None:
                        rule["count"] -= 1
                        if rule["count"] == 0:
                            self._rules.remove(rule)
                    return dict(rule)
            return None


def validated(spec) -> dict:
    if not isinstance(spec, dict):
        raise ValueError("a fault is a JSON object")
    unknown = set(spec) - FIELDS
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(FIELDS))}")
    service = _text(spec, "service", required=True).lower()
    action = _text(spec, "action", required=True)
    error = _text(spec, "error") or DEFAULT_ERROR
    if not ERROR_CODE.match(error):
        raise ValueError(f"error {error!r} is not an error code (letters, digits, _ . : # -)")
    status = spec.get("status", DEFAULT_STATUS)
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError("status must be an HTTP error status, 400-599")
    count = spec.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError("count must be a positive integer (omit it to fail every matching call)")
    match = spec.get("match")
    if match is not None and (not isinstance(match, str) or not match):
        raise ValueError("match must be a non-empty string")
    reasons = spec.get("reasons")
    if reasons is not None and (not isinstance(reasons, list) or not reasons
                                or not all(isinstance(r, str) and ERROR_CODE.match(r) for r in reasons)):
        raise ValueError("reasons must be a non-empty list of reason codes, one per item")
    message = _text(spec, "message") or f"{error} (fault injected by the local cloud)"
    return {"service": ALIASES.get(service, service), "action": action, "match": match,
            "error": error, "status": status, "message": message, "count": count, "reasons": reasons}


def _text(spec: dict, field: str, required: bool = False) -> str | None:
    value = spec.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field} must be a non-empty string")
    return value.strip()
