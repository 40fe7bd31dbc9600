"""KMS keys (KeySpec / KeyUsage honoured, unlike moto's CloudFormation) and their aliases.

Keys have no name, so a key is found again on the next run by its tags (stack + logical id).
"""

import json
from typing import Any

from .cloud import Cloud

LOGICAL_ID_TAG = "clavis-local:logical-id"


def _find_key(kms, stack_name: str, logical_id: str) -> dict | None:
    for page in kms.get_paginator("list_keys").paginate():
        for entry in page["Keys"]:
            meta = kms.describe_key(KeyId=entry["KeyId"])["KeyMetadata"]
            if meta["KeyState"] in ("PendingDeletion", "PendingReplicaDeletion"):
                continue
            tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=entry["KeyId"])["Tags"]}
            if tags.get("clavis-local:stack") == stack_name and tags.get(LOGICAL_ID_TAG) == logical_id:
                return meta
    return None


def key(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> tuple[str, dict]:
    kms = cloud.client("kms")
    meta = _find_key(kms, cloud.stack_name, logical_id)
    if meta:
        cloud.log(f"{logical_id}: key {meta['KeyId']} exists, reused")
    else:
        tags = {**cloud.tags(), LOGICAL_ID_TAG: logical_id}
        args = {
            "Description": props.get("Description", ""),
            "KeySpec": props.get("KeySpec", "SYMMETRIC_DEFAULT"),
            "KeyUsage": props.get("KeyUsage", "ENCRYPT_DECRYPT"),
            "Tags": [{"TagKey": k, "TagValue": v} for k, v in tags.items()],
        }
        if "KeyPolicy" in props:
            args["Policy"] = json.dumps(props["KeyPolicy"])
        meta = kms.create_key(**args)["KeyMetadata"]
        if props.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=meta["KeyId"])
        cloud.log(f"{logical_id}: created {meta.get('KeySpec')} {meta['KeyUsage']} key {meta['KeyId']}")
    return meta["KeyId"], {"Arn": meta["Arn"], "KeyId": meta["KeyId"]}


def alias(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> tuple[str, dict]:
    kms = cloud.client("kms")
    name, target = props["AliasName"], props["TargetKeyId"]
    try:
        kms.create_alias(AliasName=name, TargetKeyId=target)
        cloud.log(f"{logical_id}: alias {name} -> {target}")
    except kms.exceptions.AlreadyExistsException:
        kms.update_alias(AliasName=name, TargetKeyId=target)
        cloud.log(f"{logical_id}: alias {name} exists, pointed at {target}")
    return name, {}
