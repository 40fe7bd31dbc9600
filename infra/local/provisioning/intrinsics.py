"""CloudFormation intrinsic functions, resolved against what the provisioner has created.

Supports Ref, Fn::GetAtt, Fn::Sub (both forms), Fn::Join, Fn::Select, Fn::Split, Fn::If,
Fn::Equals, Fn::And, Fn::Or, Fn::Not, Condition and the pseudo parameters; enough for
template.yaml. Anything else raises, so a template change cannot be half understood.
"""

import re
from typing import Any

SUB_REF = re.compile(r"\$\{([^!}][^}]*)\}")
NO_VALUE = object()  # AWS::NoValue: drop the key or list item


class Stack:
    """What intrinsics resolve against: parameters, conditions, created resources."""

    def __init__(self, template: dict, parameters: dict[str, str], region: str, account: str):
        self.template = template
        self.params = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": f"clavis-{parameters.get('Stage', 'local')}",
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/local/local",
            "AWS::NotificationARNs": [],
        }
        for name, spec in template.get("Parameters", {}).items():
            self.params[name] = parameters.get(name, spec.get("Default"))
        self.refs: dict[str, Any] = {}  # logical id -> Ref value
        self.attrs: dict[str, dict[str, Any]] = {}  # logical id -> {attribute: value}
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            handler = _FUNCTIONS.get(key)
            if handler:
                return handler(self, arg)
        out = {}
        for k, v in value.items():
            r = self.resolve(v)
            if r is not NO_VALUE:
                out[k] = r
        return out

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.params:
            return self.params[name]
        if name in self.refs:
            return self.refs[name]
        raise KeyError(f"Ref {name}: not created yet or unknown")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        try:
            return self.attrs[logical_id][attribute]
        except KeyError:
            raise KeyError(f"GetAtt {logical_id}.{attribute}: not available locally") from None

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name not in self.params:
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return SUB_REF.sub(one, text).replace("${!", "${")


def _sub(stack: Stack, arg: Any) -> str:
    if isinstance(arg, str):
        return stack.sub(arg, {})
    text, variables = arg
    return stack.sub(text, {k: stack.resolve(v) for k, v in variables.items()})


def _get_att(stack: Stack, arg: Any) -> Any:
    logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
    return stack.get_att(logical_id, stack.resolve(attribute))


def _if(stack: Stack, arg: list) -> Any:
    name, when_true, when_false = arg
    return stack.resolve(when_true if stack.condition(name) else when_false)


_FUNCTIONS = {
    "Ref": lambda s, a: s.ref(a),
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::Join": lambda s, a: a[0].join(str(x) for x in s.resolve(a[1])),
    "Fn::Select": lambda s, a: s.resolve(a[1])[int(s.resolve(a[0]))],
    "Fn::Split": lambda s, a: s.resolve(a[1]).split(a[0]),
    "Fn::If": _if,
    "Fn::Equals": lambda s, a: s.resolve(a[0]) == s.resolve(a[1]),
    "Fn::And": lambda s, a: all(s.resolve(x) for x in a),
    "Fn::Or": lambda s, a: any(s.resolve(x) for x in a),
    "Fn::Not": lambda s, a: not s.resolve(a[0]),
    "Condition": lambda s, a: s.condition(a),
}


def references(value: Any) -> set[str]:
    """Logical ids (and parameters) a property value refers to, for ordering creation."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                local = set() if isinstance(arg, str) else set(arg[1])
                found |= {m.split(".", 1)[0] for m in SUB_REF.findall(text) if m not in local}
                if not isinstance(arg, str):
                    found |= references(arg[1])
            else:
                found |= references(arg)
    return found
