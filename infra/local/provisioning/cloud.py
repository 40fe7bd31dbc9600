"""The local AWS endpoint as seen by the provisioner: boto3 clients, region, account, stack."""

import sys
from functools import cached_property
from pathlib import Path

import boto3
from botocore.config import Config

from .intrinsics import Stack


class Cloud:
    def __init__(self, endpoint_url: str, region: str, stack: Stack, root: Path):
        self.endpoint_url = endpoint_url
        self.region = region
        self.stack = stack
        self.root = root  # repository root: local CodeUri / DefinitionUri are relative to it
        self.stack_name = stack.params["AWS::StackName"]
        self.local_paths: dict[str, str] = {}
        self._session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name=region
        )

    def client(self, service: str):
        return self._session.client(
            service,
            endpoint_url=self.endpoint_url,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )

    @cached_property
    def account(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]

    def tags(self) -> dict[str, str]:
        """Tags that let a later run find what an earlier run created (e.g. nameless KMS keys)."""
        return {"clavis-local:stack": self.stack_name}

    @staticmethod
    def log(message: str) -> None:
        print(f"provision: {message}", file=sys.stderr, flush=True)


def error_code(err: Exception) -> str:
    return getattr(err, "response", {}).get("Error", {}).get("Code", "")
