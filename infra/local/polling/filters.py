"""Lambda event filtering (FilterCriteria) for the local pollers: EventBridge-style patterns.

A record is delivered when it matches ANY of the mapping's patterns; with no patterns every
record is. A pattern is matched against the record as the function would receive it (for
DynamoDB: eventName, dynamodb.NewImage.<attr>.S, ...). Supported, as in EventBridge:
  {"key": {...}}                nested object: the record's value must match it too
  {"key": [v1, v2]}             the value (or, for an array, any element) equals one of them
  list entries {"prefix": s}, {"suffix": s}, {"equals-ignore-case": s}, {"exists": bool},
  {"anything-but": v | [v...]}, {"numeric": [op, n, ...]}
Anything else is rejected by `validate` when the poller starts, never silently ignored.
"""

from typing import Any

_MISSING = object()
_NUMERIC_OPS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def matches_any(patterns: list[dict], record: dict) -> bool:
    return not patterns or any(_object(p, record) for p in patterns)


def validate(pattern: Any, path: str = "") -> None:
    """Raises ValueError on anything `matches_any` does not implement."""
    if not isinstance(pattern, dict):
        raise ValueError(f"pattern{path}: expected an object")
    for key, rule in pattern.items():
        where = f"{path}.{key}"
        if isinstance(rule, dict):
            validate(rule, where)
        elif isinstance(rule, list):
            for entry in rule:
                if isinstance(entry, dict):
                    _check_operator(entry, where)
        else:
            raise ValueError(f"pattern{where}: expected an object or an array")


def _check_operator(entry: dict, where: str) -> None:
    if len(entry) != 1 or next(iter(entry)) not in _OPERATORS:
        raise ValueError(f"pattern{where}: unsupported content filter {sorted(entry)}")
    if "numeric" in entry:
        spec = entry["numeric"]
        if len(spec) % 2 or any(op not in _NUMERIC_OPS for op in spec[::2]):
            raise ValueError(f"pattern{where}: bad numeric filter")


def _object(pattern: dict, value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    for key, rule in pattern.items():
        field = value.get(key, _MISSING)
        if isinstance(rule, dict):
            if not _object(rule, field):
                return False
        elif not _field(rule, field):
            return False
    return True


def _field(rule: list, field: Any) -> bool:
    if field is _MISSING:
        return any(isinstance(e, dict) and e.get("exists") is False for e in rule)
    values = field if isinstance(field, list) else [field]
    return any(_entry(e, v) for e in rule for v in values)


def _entry(entry: Any, value: Any) -> bool:
    if not isinstance(entry, dict):
        return _equal(entry, value)
    (op, arg), = entry.items()
    return _OPERATORS[op](arg, value)


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, "1" is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b or (type(a) is type(b) and a == b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _anything_but(arg: Any, value: Any) -> bool:
    if isinstance(arg, dict):  # {"anything-but": {"prefix": "x"}}
        return not _entry(arg, value)
    excluded = arg if isinstance(arg, list) else [arg]
    return not any(_equal(x, value) for x in excluded)


def _numeric(spec: list, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return all(_NUMERIC_OPS[op](value, bound) for op, bound in zip(spec[::2], spec[1::2]))


_OPERATORS = {
    "exists": lambda arg, value: bool(arg),  # reached only when the field is present
    "prefix": lambda arg, value: isinstance(value, str) and value.startswith(arg),
    "suffix": lambda arg, value: isinstance(value, str) and value.endswith(arg),
    "equals-ignore-case": lambda arg, value: isinstance(value, str) and value.lower() == str(arg).lower(),
    "anything-but": _anything_but,
    "numeric": _numeric,
}
