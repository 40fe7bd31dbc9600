"""EventBridge buses, rules and their targets.

Lambda targets are left out locally: moto's PutEvents fails (HTTP 500) for a bus with a
Lambda target, so such deliveries belong to a poller/queue in the local cloud, not to moto.
"""

import json
from typing import Any

from .cloud import Cloud


def bus(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> tuple[str, dict]:
    events = cloud.client("events")
    name = props["Name"]
    try:
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        cloud.log(f"{logical_id}: created bus {name}")
    except events.exceptions.ResourceAlreadyExistsException:
        arn = events.describe_event_bus(Name=name)["Arn"]
        cloud.log(f"{logical_id}: bus {name} exists, reused")
    return name, {"Arn": arn, "Name": name}


def rule(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> tuple[str, dict]:
    events = cloud.client("events")
    name = props.get("Name") or f"{cloud.stack_name}-{logical_id}"[:64]
    bus_name = props.get("EventBusName", "default")
    args: dict[str, Any] = {"Name": name, "EventBusName": bus_name, "State": props.get("State", "ENABLED")}
    if "EventPattern" in props:
        args["EventPattern"] = json.dumps(props["EventPattern"])
    if "ScheduleExpression" in props:
        args["ScheduleExpression"] = props["ScheduleExpression"]
        cloud.log(f"{logical_id}: schedule {props['ScheduleExpression']} will not fire locally")
    if "Description" in props:
        args["Description"] = props["Description"]
    arn = events.put_rule(**args)["RuleArn"]  # put_rule creates or updates
    targets = []
    for target in props.get("Targets", []):
        if ":lambda:" in target["Arn"]:
            cloud.log(f"{logical_id}: skipped Lambda target {target['Id']} (moto cannot deliver to Lambda)")
            continue
        targets.append({k: (json.dumps(v) if k == "Input" and not isinstance(v, str) else v) for k, v in target.items()})
    if targets:
        events.put_targets(Rule=name, EventBusName=bus_name, Targets=targets)
    cloud.log(f"{logical_id}: rule {name} on {bus_name} with {len(targets)} target(s)")
    ref = name if bus_name == "default" else f"{bus_name}|{name}"
    return ref, {"Arn": arn}
