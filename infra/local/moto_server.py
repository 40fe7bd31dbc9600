#!/usr/bin/env python3
"""The local AWS endpoint: the moto server, with Lambda Invoke bridged to `cargo lambda watch`.

Owns only the emulator process. moto's simple (Docker-less) Lambda backend answers every
invoke with a canned string; here `LambdaSimpleBackend.invoke` is replaced so that an invoke
of a function registered in moto (by the SDK, by Step Functions' Lambda tasks, by SQS
mappings) POSTs the payload to the real Rust binary served by `cargo lambda watch`.

    env MOTO_PORT        port to serve on (default 5050); also tells moto's Step Functions
                         where its own Lambda API is
        LAMBDA_PORT      port of `cargo lambda watch` (default 9000)
        CLAVIS_LOCAL_DIR where the provisioner writes functions.json (function name -> bin)

Unsigned Lambda API calls (`curl -d @events/x.json $endpoint/2015-03-31/functions/<name>/invocations`)
are routed to Lambda too; moto would otherwise guess S3 for a request without SigV4.

DynamoDB requests are serialised: moto's threaded server runs them concurrently, and its
TransactWriteItems "rollback" restores a deep copy of each table taken when that transaction
began, which resurrects or loses the writes of transactions that ran in between (seen: a
cancelled transaction's Put reappearing). DynamoDB itself is atomic and isolated per
transaction; one lock around moto's DynamoDB (and Streams) handlers makes the emulator so too.
That rollback also orphaned the stream's shard iterators, and moto never expires iterators:
moto_streams.py fixes both for stream readers such as stream_poller.py. moto_kms.py makes
disabled keys refuse to encrypt, decrypt and sign, as in AWS. moto_faults.py lets tests make
chosen calls fail as AWS fails them (`/_clavis/faults`, `clavis-local fault`), outermost around
the dispatcher.

A function error is answered the AWS way: HTTP 200, `X-Amz-Function-Error: Unhandled`, body
`{"errorType", "errorMessage"}` as the Rust runtime reported it, so Step Functions
`Retry`/`Catch` match on errorType. An unreachable `cargo lambda watch` is a Lambda service
error (HTTP 502 ServiceException, `Lambda.ServiceException` in Step Functions).
"""

import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.config import default_user_config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

import moto_cloudwatch
import moto_faults
import moto_kms
import moto_streams
import moto_transactions

LAMBDA_PORT = int(os.environ.get("LAMBDA_PORT", "9000"))
LOCAL_DIR = Path(os.environ.get("CLAVIS_LOCAL_DIR", ".local/dev"))
# cargo lambda watch may still be compiling the first time a function is called.
BRIDGE_TIMEOUT = float(os.environ.get("CLAVIS_BRIDGE_TIMEOUT", "900"))
REGION = os.environ.get("CLAVIS_LOCAL_REGION", "us-east-1")
LAMBDA_API_PATH = re.compile(r"^/20\d\d-\d\d-\d\d/functions/")


class BridgeUnavailable(LambdaClientError):
    code = 502

    def __init__(self, message: str):
        super().__init__("ServiceException", message)


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} bridge: {msg}", file=sys.stderr, flush=True)


def function_name_of(name_or_arn: str) -> str:
    """`name`, `arn:...:function:name[:qualifier]` or `account:function:name` -> `name`."""
    if ":function:" in name_or_arn:
        return name_or_arn.split(":function:", 1)[1].split(":", 1)[0]
    return name_or_arn


def binary_of(function_name: str) -> str:
    """The cargo bin serving `function_name`, from the provisioner's functions.json."""
    try:
        mapping = json.loads((LOCAL_DIR / "functions.json").read_text())
    except (OSError, ValueError):
        mapping = {}
    return mapping.get(function_name, function_name)


def call_watch(binary: str, payload: bytes) -> tuple[bytes, bool]:
    """POSTs to cargo lambda watch; returns (body, is_function_error)."""
    url = f"http://127.0.0.1:{LAMBDA_PORT}/2015-03-31/functions/{binary}/invocations"
    request = urllib.request.Request(url, data=payload, method="POST")
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=BRIDGE_TIMEOUT) as response:
            body = response.read()
            return body, bool(response.headers.get("x-amz-function-error"))
    except urllib.error.HTTPError as err:
        # cargo lambda watch answers a handler error with HTTP 500 and the runtime's
        # {"errorType","errorMessage"}; anything else (404 missing bin) gets wrapped.
        return as_function_error(err.code, err.read()), True
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        raise BridgeUnavailable(f"cargo lambda watch on port {LAMBDA_PORT} did not answer: {err}")


def as_function_error(status: int, body: bytes) -> bytes:
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict) and "errorType" in parsed:
            return body
    except ValueError:
        pass
    message = f"cargo lambda watch answered HTTP {status}: {body.decode('utf-8', 'replace')[:500]}"
    return json.dumps({"errorType": "Local.BridgeError", "errorMessage": message}).encode()


def bridged_invoke(self, function_name, qualifier, body, headers, response_headers):
    name = function_name_of(function_name)
    self.get_function(name, qualifier)  # ResourceNotFoundException like AWS if unknown
    binary = binary_of(name)
    payload = body.encode() if isinstance(body, str) else (body or b"{}")
    invocation_type = headers.get("X-Amz-Invocation-Type", "RequestResponse")
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":
        # AWS queues async invokes and answers 202 at once; the result is nobody's business.
        threading.Thread(target=call_and_log, args=(name, binary, payload), daemon=True).start()
        return b""
    result, failed = call_and_log(name, binary, payload)
    if failed:
        response_headers["x-amz-function-error"] = "Unhandled"
    return result


def call_and_log(name: str, binary: str, payload: bytes) -> tuple[bytes, bool]:
    started = time.monotonic()
    try:
        result, failed = call_watch(binary, payload)
    except BridgeUnavailable as err:
        log(f"{name} -> {binary}: unavailable ({err.message})")
        raise
    outcome = f"error {result[:200].decode('utf-8', 'replace')}" if failed else "ok"
    log(f"{name} -> {binary}: {outcome} in {(time.monotonic() - started) * 1000:.0f} ms")
    return result, failed


_route_unsigned = DomainDispatcherApplication.get_service_from_unsigned_path
_dispatch = DomainDispatcherApplication.__call__


def route_unsigned(path_info: str):
    if LAMBDA_API_PATH.match(path_info or ""):
        return "lambda", REGION
    return _route_unsigned(path_info)


def dispatch(self, environ, start_response):
    # curl -d sends a form content type, which sends moto looking for a query-protocol action.
    if LAMBDA_API_PATH.match(environ.get("PATH_INFO", "")) and environ.get("CONTENT_TYPE", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        environ["CONTENT_TYPE"] = "application/json"
    return _dispatch(self, environ, start_response)


_dynamodb_lock = threading.RLock()


def serialised(call_action):
    def call(self):
        with _dynamodb_lock:
            return call_action(self)

    return call


def main() -> None:
    port = os.environ.setdefault("MOTO_PORT", "5050")
    LambdaSimpleBackend.invoke = bridged_invoke
    moto_streams.install()
    moto_transactions.install()
    moto_kms.install()
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    DynamoHandler.call_action = serialised(DynamoHandler.call_action)
    DynamoDBStreamsHandler.call_action = serialised(DynamoDBStreamsHandler.call_action)
    DomainDispatcherApplication.get_service_from_unsigned_path = staticmethod(route_unsigned)
    DomainDispatcherApplication.__call__ = dispatch
    moto_cloudwatch.install()  # the Rust SDK's CloudWatch protocol (CBOR), before faults wrap it
    moto_faults.install()  # wraps dispatch: an injected fault answers before anything else runs
    # The same settings POST /moto-api/config would make, in place before anything is created.
    default_user_config["lambda"] = {"use_docker": False}
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    from moto.server import main as serve

    log(f"moto on 127.0.0.1:{port}, Lambda invokes -> cargo lambda watch on :{LAMBDA_PORT}")
    serve(["-H", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    main()
