#!/usr/bin/env python3
"""Finishes the local stack: creates the first operators and writes stack.json.

The operators (an administrator holding every operator scope and a separate approver) are
created by invoking the bootstrap-operator function THROUGH moto's Lambda Invoke API (so every
`up` proves the moto -> cargo lambda watch bridge). It answers their credentials once; later
runs get `Clavis.User.conflict` and keep the credentials already in stack.json. stack.json
(mode 600: it holds the operator secrets) is what tests, scripts and people read to reach the
local stack: `operator_client_id/secret` (the administrator), `approver_client_id/secret`.

    env CLAVIS_LOCAL_DIR (.local/dev), LAMBDA_PORT (9000)
"""

import json
import os
import sys
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_FIELDS = ("client_id", "credential_id", "client_secret")
# The two operators the bootstrap creates: prefix in stack.json -> where its fields are.
OPERATORS = {"operator": lambda p: p, "approver": lambda p: p.get("approver") or {}}


def fail(message: str) -> None:
    raise SystemExit(f"write_stack: {message}")


def create_operator(facts: dict, function_name: str, previous: dict) -> dict:
    lam = boto3.client(
        "lambda",
        endpoint_url=facts["endpoint_url"],
        region_name=facts["region"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
        # The first call may wait for cargo lambda watch to start (or compile) the binary.
        config=Config(read_timeout=900, retries={"max_attempts": 0}),
    )
    answer = lam.invoke(FunctionName=function_name, Payload=b"{}")
    payload = json.loads(answer["Payload"].read() or b"null")
    if not answer.get("FunctionError"):
        found = {}
        for prefix, part in OPERATORS.items():
            fields = part(payload) if isinstance(payload, dict) else {}
            missing = [f for f in OPERATOR_FIELDS if not fields.get(f)]
            if missing:
                fail(f"{function_name} answered without {prefix} {missing}")
            print(f"write_stack: {prefix} {fields['client_id']} created", file=sys.stderr)
            found.update({f"{prefix}_{f}": fields[f] for f in OPERATOR_FIELDS})
        return found
    error_type = payload.get("errorType") if isinstance(payload, dict) else None
    if error_type == "Clavis.User.conflict":
        kept = {f"{p}_{f}": previous.get(f"{p}_{f}") for p in OPERATORS for f in OPERATOR_FIELDS}
        if not kept["operator_client_secret"]:
            print(
                "write_stack: an operator exists but its secret is not in stack.json; "
                "`clavis-local down && clavis-local up` starts from empty state",
                file=sys.stderr,
            )
        return kept
    fail(f"{function_name} failed: {json.dumps(payload)[:500]}")


def short(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


def stack_document(facts: dict, operator: dict, lambda_port: str) -> dict:
    res = facts["resources"]
    prefix = f"clavis-{facts['stage']}-"
    by_type = lambda t: {lid: r for lid, r in res.items() if r["type"] == t}  # noqa: E731
    api_bin = facts["functions"][res["ApiFunction"]["ref"]]
    return {
        "api_url": f"http://127.0.0.1:{lambda_port}/lambda-url/{api_bin}",
        # The `iss` of access tokens: provision.py passes this same URL as IssuerUrl.
        "issuer": f"http://127.0.0.1:{lambda_port}/lambda-url/{api_bin}",
        "endpoint_url": facts["endpoint_url"],
        "lambda_endpoint_url": f"http://127.0.0.1:{lambda_port}",
        "region": facts["region"],
        "account": facts["account"],
        "stage": facts["stage"],
        **operator,
        "table_name": res["ClavisTable"]["ref"],
        "table_stream_arn": res["ClavisTable"]["attrs"].get("StreamArn"),
        "audit_table_name": res["AuditTable"]["ref"],
        "event_bus_name": res["EventBus"]["ref"],
        "subscriber_queue_url": res["SubscriberQueue"]["ref"],
        "signing_key_id": res["SigningKey"]["attrs"]["Arn"],
        "secrets_key_id": res["SecretsKey"]["attrs"]["Arn"],
        # The vault secrets clients may name as their delivery target (the template's prefix).
        "delivery_prefix": res["ApiFunction"]["environment"]["DELIVERY_SECRET_ARN_PREFIX"],
        "state_machines": {
            short(r["attrs"]["Name"], prefix): r["ref"]
            for r in by_type("AWS::StepFunctions::StateMachine").values()
        },
        "queues": {
            short(r["attrs"]["QueueName"], prefix): r["ref"] for r in by_type("AWS::SQS::Queue").values()
        },
        "functions": facts["functions"],
    }


def main() -> None:
    local_dir = Path(os.environ.get("CLAVIS_LOCAL_DIR", ROOT / ".local/dev"))
    facts = json.loads((local_dir / "resources.json").read_text())
    stack_path = local_dir / "stack.json"
    try:
        previous = json.loads(stack_path.read_text())
    except (OSError, ValueError):
        previous = {}
    bootstrap = facts["resources"]["BootstrapOperatorFunction"]["ref"]
    operator = create_operator(facts, bootstrap, previous)
    document = stack_document(facts, operator, os.environ.get("LAMBDA_PORT", "9000"))
    tmp = stack_path.with_suffix(".json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(document, out, indent=2)
        out.write("\n")
    os.chmod(tmp, 0o600)
    tmp.replace(stack_path)


if __name__ == "__main__":
    main()
