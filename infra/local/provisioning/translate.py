"""Loads template.yaml and translates its SAM resources to plain CloudFormation, offline.

Local CodeUri / DefinitionUri paths are swapped for dummy S3 URIs before translating (the
translator wants S3 locations) and handed back, keyed by logical id, for the provisioner.
"""

from pathlib import Path
from typing import Any

import boto3
import yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.arn_generator import ArnGenerator
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

DUMMY_BUCKET = "clavis-local-artifacts"

# The translator resolves managed policy *names* through IAM; this template only uses ARNs
# and policy templates, so a fixed map keeps it offline.
_MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for path, name in [
        ("service-role/", "AWSLambdaBasicExecutionRole"),
        ("", "AWSXrayWriteOnlyAccess"),
        ("", "AWSXRayDaemonWriteAccess"),
    ]
}


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns the short forms (!Ref, !Sub, !GetAtt ...) into Fn:: maps."""


def _short_form(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_form)


def load_template(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)


def translate(sam: dict[str, Any], parameters: dict[str, str], region: str) -> tuple[dict, dict[str, str]]:
    """Returns (CloudFormation template, {logical id: local CodeUri/DefinitionUri})."""
    local_paths: dict[str, str] = {}
    for logical_id, resource in sam.get("Resources", {}).items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "DefinitionUri"):
            uri = props.get(key)
            if isinstance(uri, str) and not uri.startswith("s3://"):
                local_paths[logical_id] = uri
                props[key] = f"s3://{DUMMY_BUCKET}/{logical_id}"
    # What samtranslator.translator.transform.transform does, with a session that has a region
    # (no credentials needed: nothing is called) and the offline policy map.
    ArnGenerator.BOTO_SESSION_REGION_NAME = region
    parameters = dict(parameters)
    to_py27_compatible_template(sam, parameters)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    cfn = translator.translate(sam, parameter_values=parameters, get_managed_policy_map=lambda: dict(_MANAGED_POLICIES))
    return undo_mark_unicode_str_in_template(cfn), local_paths
