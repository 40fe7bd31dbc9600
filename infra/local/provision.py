#!/usr/bin/env python3
"""Provisions template.yaml into the local AWS endpoint (moto), through the service APIs.

The SAM template is translated offline (aws-sam-translator), then every resource is created
(or found and reused: idempotent) in dependency order with intrinsics resolved. Types that
have no local meaning are skipped and logged. Writes to $CLAVIS_LOCAL_DIR:
  functions.json  function name -> cargo bin (read by the moto bridge)
  lambda.env      environment for cargo lambda watch (the functions' variables + endpoint)
  resources.json  what was created: refs and attributes by logical id, skipped resources
  event_source_mappings.json  the mappings (skipped in moto), resolved, for stream_poller.py

    env CLAVIS_LOCAL_DIR (.local/dev), MOTO_PORT (5050), CLAVIS_STAGE (local),
        CLAVIS_LOCAL_REGION (us-east-1), CLAVIS_TEMPLATE (template.yaml; a scratch copy for
        experiments); argument: template path (overrides CLAVIS_TEMPLATE)
"""

import copy
import json
import os
import sys
from pathlib import Path

from provisioning import compute, data, events, keys, mappings, monitoring
from provisioning.cloud import Cloud
from provisioning.intrinsics import Stack, references
from provisioning.translate import load_template, translate

ROOT = Path(__file__).resolve().parents[2]

CREATE = {
    "AWS::DynamoDB::Table": data.table,
    "AWS::SQS::Queue": data.queue,
    "AWS::SQS::QueuePolicy": data.queue_policy,
    "AWS::SNS::Topic": data.topic,
    "AWS::KMS::Key": keys.key,
    "AWS::KMS::Alias": keys.alias,
    "AWS::Events::EventBus": events.bus,
    "AWS::Events::Rule": events.rule,
    "AWS::IAM::Role": compute.role,
    "AWS::Lambda::Function": compute.function,
    "AWS::Lambda::Version": compute.version,
    "AWS::Lambda::Alias": compute.alias,
    "AWS::StepFunctions::StateMachine": compute.state_machine,
    "AWS::CloudWatch::Alarm": monitoring.alarm,
}

# No local meaning, or harmful in moto (event source mappings deliver synchronously and drop
# records: the local cloud polls streams and queues itself instead).
SKIP = {
    "AWS::ApiGatewayV2::Api": "served by cargo lambda watch as a function URL",
    "AWS::ApiGatewayV2::Stage": "served by cargo lambda watch as a function URL",
    "AWS::ApiGateway::RestApi": "served by cargo lambda watch as a function URL",
    "AWS::Lambda::Permission": "moto does not enforce resource policies",
    "AWS::CloudWatch::Dashboard": "no metrics locally",
    "AWS::SNS::Subscription": "no e-mail or HTTPS delivery locally",
    "AWS::Logs::LogGroup": "function logs go to $CLAVIS_LOCAL_DIR/logs",
    "AWS::Lambda::EventSourceMapping": "local pollers deliver stream/queue batches instead",
    "AWS::CodeDeploy::Application": "no traffic shifting locally: every alias points at the one version",
    "AWS::CodeDeploy::DeploymentGroup": "no traffic shifting locally: every alias points at the one version",
}


class Skipped(dict):
    """Ref/GetAtt values of a skipped resource: recognisable placeholders."""

    def __init__(self, logical_id: str):
        super().__init__()
        self.logical_id = logical_id

    def __missing__(self, attribute: str) -> str:
        return f"local-skipped:{self.logical_id}.{attribute}"


def creation_order(resources: dict) -> list[str]:
    """Logical ids, each after everything it refers to."""
    deps = {
        lid: (references(res.get("Properties", {})) | set(_as_list(res.get("DependsOn")))) & resources.keys()
        for lid, res in resources.items()
    }
    order: list[str] = []
    visiting: set[str] = set()

    def visit(lid: str) -> None:
        if lid in order:
            return
        if lid in visiting:
            raise ValueError(f"circular reference through {lid}")
        visiting.add(lid)
        for dep in sorted(deps[lid]):
            visit(dep)
        visiting.discard(lid)
        order.append(lid)

    for lid in resources:
        visit(lid)
    return order


def _as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def provision(cloud: Cloud, cfn: dict) -> dict:
    stack = cloud.stack
    created, skipped, event_source_mappings = {}, {}, []
    for lid in creation_order(cfn["Resources"]):
        resource = cfn["Resources"][lid]
        rtype = resource["Type"]
        if "Condition" in resource and not stack.condition(resource["Condition"]):
            cloud.log(f"{lid}: condition {resource['Condition']} is false, not created")
            continue
        if rtype in SKIP:
            stack.refs[lid], stack.attrs[lid] = f"local-skipped:{lid}", Skipped(lid)
            skipped[lid] = rtype
            if rtype == "AWS::Lambda::EventSourceMapping":
                props = stack.resolve(resource.get("Properties", {}))
                event_source_mappings.append(mappings.describe(cloud, lid, props))
                continue
            cloud.log(f"{lid}: skipped {rtype} ({SKIP[rtype]})")
            continue
        if rtype not in CREATE:
            raise SystemExit(f"provision: {lid}: {rtype} has no local provisioner; add one or to SKIP")
        props = stack.resolve(resource.get("Properties", {}))
        ref, attrs = CREATE[rtype](cloud, lid, props)
        stack.refs[lid], stack.attrs[lid] = ref, attrs
        created[lid] = {"type": rtype, "ref": ref, "attrs": attrs}
        if rtype == "AWS::Lambda::Function":
            created[lid]["environment"] = props.get("Environment", {}).get("Variables", {})
    return {"resources": created, "skipped": skipped, "event_source_mappings": event_source_mappings}


def lambda_env(cloud: Cloud, created: dict) -> dict[str, str]:
    """One environment for every function (cargo lambda watch has one): their union."""
    env: dict[str, str] = {}
    for lid, res in created.items():
        for key, value in res.get("environment", {}).items():
            if key in env and env[key] != str(value):
                cloud.log(f"warning: {key} differs between functions; {lid} wins locally")
            env[key] = str(value)
    env.update(
        AWS_ENDPOINT_URL=cloud.endpoint_url,
        AWS_REGION=cloud.region,
        AWS_DEFAULT_REGION=cloud.region,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def write(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)


def main() -> None:
    template_path = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CLAVIS_TEMPLATE") or ROOT / "template.yaml")
    local_dir = Path(os.environ.get("CLAVIS_LOCAL_DIR", ROOT / ".local/dev"))
    local_dir.mkdir(parents=True, exist_ok=True)
    region = os.environ.get("CLAVIS_LOCAL_REGION", "us-east-1")
    endpoint = f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '5050')}"
    parameters = {
        "Stage": os.environ.get("CLAVIS_STAGE", "local"),
        # The api as cargo lambda watch serves it (write_stack.py's api_url).
        "IssuerUrl": os.environ.get("CLAVIS_ISSUER_URL")
        or f"http://127.0.0.1:{os.environ.get('LAMBDA_PORT', '9000')}/lambda-url/api",
        # Use is tracked to 5 s locally (60 s deployed), so drain tests take seconds, not minutes.
        "UseResolutionSeconds": os.environ.get("CLAVIS_USE_RESOLUTION_SECONDS", "5"),
        # The api's Step Functions circuit cools off for 3 s locally (30 s deployed), so a test
        # that opens it does not hold other tests' starts on the intake queue for long.
        "StartCoolOffSeconds": os.environ.get("CLAVIS_START_COOL_OFF_SECONDS", "3"),
    }

    sam = load_template(template_path)
    binaries = {
        lid: res["Metadata"]["BuildProperties"]["Binary"]
        for lid, res in sam["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
        and res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
    }
    cfn, local_paths = translate(copy.deepcopy(sam), parameters, region)

    probe = Cloud(endpoint, region, Stack(cfn, parameters, region, "000000000000"), ROOT)
    cloud = Cloud(endpoint, region, Stack(cfn, parameters, region, probe.account), ROOT)
    cloud.local_paths = local_paths
    facts = provision(cloud, cfn)

    functions = {
        res["ref"]: binaries[lid]
        for lid, res in facts["resources"].items()
        if res["type"] == "AWS::Lambda::Function" and lid in binaries
    }
    env = lambda_env(cloud, facts["resources"])
    facts.update(
        stage=parameters["Stage"], region=region, account=cloud.account,
        endpoint_url=endpoint, functions=functions,
    )
    write(local_dir / "functions.json", json.dumps(functions, indent=2) + "\n")
    write(local_dir / "lambda.env", "".join(f"{k}={v}\n" for k, v in env.items()), 0o600)
    write(local_dir / "resources.json", json.dumps(facts, indent=2, default=str) + "\n")
    write(local_dir / "event_source_mappings.json", json.dumps(facts["event_source_mappings"], indent=2) + "\n")
    cloud.log(f"{len(facts['resources'])} resources ready, {len(facts['skipped'])} skipped")


if __name__ == "__main__":
    main()
