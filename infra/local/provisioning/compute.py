"""IAM roles, Lambda functions (registered in moto; code runs under cargo lambda watch), their
versions and aliases, and Step Functions state machines (ASL read from the repository, substitutions applied)."""

import io
import json
import zipfile
from typing import Any

from .cloud import Cloud, error_code


def role(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> tuple[str, dict]:
    iam = cloud.client("iam")
    name = props.get("RoleName") or f"{cloud.stack_name}-{logical_id}"[:64]
    try:
        found = iam.create_role(
            RoleName=name,
            Path=props.get("Path", "/"),
            AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
        )["Role"]
        cloud.log(f"{logical_id}: created role {name}")
    except iam.exceptions.EntityAlreadyExistsException:
        found = iam.get_role(RoleName=name)["Role"]
        cloud.log(f"{logical_id}: role {name} exists, policies refreshed")
    # Inline policies are kept for fidelity (moto does not enforce IAM); AWS managed policies
    # are not loaded in moto, so attaching them would fail.
    for policy in props.get("Policies", []):
        iam.put_role_policy(
            RoleName=name,
            PolicyName=policy["PolicyName"],
            # AWS defaults a missing Version to 2008-10-17; moto refuses it.
            PolicyDocument=json.dumps({"Version": "2012-10-17", **policy["PolicyDocument"]}),
        )
    if props.get("ManagedPolicyArns"):
        names = ", ".join(arn.rsplit("/", 1)[-1] for arn in props["ManagedPolicyArns"])
        cloud.log(f"{logical_id}: skipped AWS managed policies ({names})")
    return name, {"Arn": found["Arn"], "RoleId": found["RoleId"]}


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bootstrap", "#!/bin/sh\necho 'served by cargo lambda watch'\n")
    return buffer.getvalue()


def function(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> tuple[str, dict]:
    lam = cloud.client("lambda")
    name = props.get("FunctionName") or f"{cloud.stack_name}-{logical_id}"[:64]
    config: dict[str, Any] = {
        "Role": props["Role"],
        "Handler": props.get("Handler", "bootstrap"),
        "Runtime": props.get("Runtime", "provided.al2023"),
        "Description": props.get("Description", ""),
        "Timeout": int(props.get("Timeout", 3)),
        "MemorySize": int(props.get("MemorySize", 128)),
        "Environment": {"Variables": {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()}},
    }
    if "TracingConfig" in props:
        config["TracingConfig"] = props["TracingConfig"]
    try:
        found = lam.create_function(
            FunctionName=name,
            Code={"ZipFile": _dummy_zip()},
            Architectures=props.get("Architectures", ["x86_64"]),
            Tags=cloud.tags(),
            **config,
        )
        cloud.log(f"{logical_id}: registered function {name}")
    except lam.exceptions.ResourceConflictException:
        found = lam.update_function_configuration(FunctionName=name, **config)
        cloud.log(f"{logical_id}: function {name} exists, configuration updated")
    return name, {"Arn": found["FunctionArn"]}


def version(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> tuple[str, dict]:
    """A published version (cargo lambda serves the code; the version only has to exist, so a
    caller naming it, or an alias on it, finds it)."""
    lam = cloud.client("lambda")
    found = lam.publish_version(FunctionName=props["FunctionName"])
    cloud.log(f"{logical_id}: published version {found['Version']} of {props['FunctionName']}")
    return found["FunctionArn"], {"Version": found["Version"]}


def alias(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> tuple[str, dict]:
    """An alias on a version: what the state machines and the stream call (no traffic shifting
    locally; CodeDeploy is skipped)."""
    lam = cloud.client("lambda")
    config = {"FunctionName": props["FunctionName"], "Name": props["Name"], "FunctionVersion": str(props["FunctionVersion"])}
    try:
        found = lam.create_alias(**config)
        cloud.log(f"{logical_id}: alias {props['Name']} of {props['FunctionName']} -> {config['FunctionVersion']}")
    except Exception as err:  # AWS: ResourceConflictException; moto: ConflictException
        if "Conflict" not in error_code(err):
            raise
        found = lam.update_alias(**config)
        cloud.log(f"{logical_id}: alias {props['Name']} of {props['FunctionName']} moved to {config['FunctionVersion']}")
    return found["AliasArn"], {}


def state_machine(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> tuple[str, dict]:
    sfn = cloud.client("stepfunctions")
    name = props.get("StateMachineName") or f"{cloud.stack_name}-{logical_id}"[:80]
    if "DefinitionS3Location" in props:
        definition = (cloud.root / cloud.local_paths[logical_id]).read_text()
    elif "DefinitionString" in props:
        definition = props["DefinitionString"]
    else:
        definition = json.dumps(props["Definition"])
    for key, value in props.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    json.loads(definition)  # fail here, not at StartExecution, on a broken file
    existing = {
        sm["name"]: sm["stateMachineArn"]
        for page in sfn.get_paginator("list_state_machines").paginate()
        for sm in page["stateMachines"]
    }
    if name in existing:
        arn = existing[name]
        sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=props["RoleArn"])
        cloud.log(f"{logical_id}: state machine {name} exists, definition updated")
    else:
        arn = sfn.create_state_machine(
            name=name,
            definition=definition,
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
            tags=[{"key": k, "value": v} for k, v in cloud.tags().items()],
        )["stateMachineArn"]
        cloud.log(f"{logical_id}: created state machine {name}")
    return arn, {"Arn": arn, "Name": name}
