"""Fault injection: AWS calls that fail on demand, the way AWS fails them. Installed by moto_server.py.

Integration tests need an AWS dependency to be down for a while (EventBridge refusing
PutEvents, Step Functions refusing StartExecution) and then back. This wraps moto's WSGI
dispatcher: a call matched by a rule (faulting/rules.py) is answered with the rule's error
and never reaches moto's backend, so a failed call changes nothing; every other call passes
through untouched (the body is read, and handed on intact, only when a rule names the service).

Control endpoint on the moto server itself (a path no AWS API or moto route uses; unsigned,
path-style it would be S3 bucket `_clavis`, which is not a valid bucket name):

    POST   /_clavis/faults        {"service", "action", "match"?, "error"?, "status"?,
                                   "message"?, "count"?, "reasons"?}  -> 201, the rule with its "id"
    GET    /_clavis/faults        -> 200, the rules (with "hits"; "count" is what is left)
    GET    /_clavis/faults/<id>   -> 200 the rule, 404 if gone
    DELETE /_clavis/faults        -> 200 {"removed": n}
    DELETE /_clavis/faults/<id>   -> 200 {"removed": 1}, 404 if gone

The service is the SigV4 signing name as moto's dispatcher resolves it (`eventbridge` is
`events`; DynamoDB Streams calls are `dynamodbstreams`); the action comes from `X-Amz-Target`
(JSON protocols: events, states, kms, dynamodb, sqs) or the `Action` parameter (query
protocol). A JSON-protocol failure is what AWS sends: the status, `x-amzn-ErrorType`,
`{"__type", "message"}` in the request's own `application/x-amz-json-1.x` content type (so
the SDKs report the code); a query-protocol failure is an XML `ErrorResponse`. Rules live
in this process until lifted (moto's /moto-api/reset leaves them); `clavis-local fault` is
the command line for them (faulting/cli.py).
"""

import http
import io
import json
import re
import sys
import time
import uuid
from urllib.parse import parse_qs, unquote_plus

from moto.moto_server.werkzeug_app import SIGNING_ALIASES, DomainDispatcherApplication

from faulting.rules import FaultRules

PREFIX = "/_clavis/faults"
RULES = FaultRules()
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} faults: {msg}", file=sys.stderr, flush=True)


# --- which call is this ---------------------------------------------------------------------
def service_of(environ: dict) -> str | None:
    """The signing name from SigV4 (header or presigned query), as moto's dispatcher aliases it."""
    found = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")) or CREDENTIAL_SCOPE.search(
        "Credential=" + (parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential") or [""])[0]
    )
    if not found:
        return None
    service = found.group(1).lower()
    service = SIGNING_ALIASES.get(service, service)
    if service == "dynamodb" and environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDBStreams"):
        return "dynamodbstreams"
    return service


def action_of(environ: dict, form: dict) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    action = form.get("Action") or parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    return action[0] if action else None


def read_body(environ: dict) -> bytes:
    """The whole request body; `wsgi.input` is replaced so moto still reads all of it."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    if length > 0:
        body = stream.read(length)
    elif environ.get("wsgi.input_terminated"):  # chunked: werkzeug ends the stream for us
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def is_form(environ: dict) -> bool:
    return environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")


# --- answers --------------------------------------------------------------------------------
def respond(start_response, status: int, headers: list, body: bytes):
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    start_response(f"{status} {reason}", headers + [("Content-Length", str(len(body)))])
    return [body]


def json_answer(start_response, status: int, payload):
    return respond(start_response, status, [("Content-Type", "application/json")], json.dumps(payload).encode())


def aws_error(environ: dict, start_response, rule: dict):
    request_id = str(uuid.uuid4())
    code, message = rule["error"], rule["message"]
    if not environ.get("HTTP_X_AMZ_TARGET") and is_form(environ):  # query protocol: XML
        fault_type = "Sender" if rule["status"] < 500 else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{fault_type}</Type><Code>{xml(code)}</Code>"
            f"<Message>{xml(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return respond(start_response, rule["status"], [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)],
                       body.encode())
    content_type = environ.get("CONTENT_TYPE", "")
    if not content_type.startswith("application/x-amz-json"):
        json_1_0 = rule["service"].startswith("dynamodb")
        content_type = "application/x-amz-json-1.0" if json_1_0 else "application/x-amz-json-1.1"
    headers = [("Content-Type", content_type), ("x-amzn-ErrorType", code), ("x-amzn-RequestId", request_id)]
    document = {"__type": code, "message": message}
    if rule.get("reasons"):  # a cancelled transaction says why, item by item
        document["CancellationReasons"] = [{"Code": reason} for reason in rule["reasons"]]
    return respond(start_response, rule["status"], headers, json.dumps(document).encode())


def xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- the control endpoint -------------------------------------------------------------------
def control(environ: dict, start_response):
    method, rest = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")[len(PREFIX):].strip("/")
    if not rest and method == "POST":
        try:
            spec = json.loads(read_body(environ) or b"null")
            rule = RULES.add(spec)
        except ValueError as err:  # bad JSON, or a rule that does not validate
            return json_answer(start_response, 400, {"message": str(err)})
        log(f"added {describe(rule)}")
        return json_answer(start_response, 201, rule)
    if not rest and method == "GET":
        return json_answer(start_response, 200, RULES.list())
    if not rest and method == "DELETE":
        removed = RULES.clear()
        log(f"cleared ({removed} removed)")
        return json_answer(start_response, 200, {"removed": removed})
    if rest and "/" not in rest and method in ("GET", "DELETE"):
        rule = RULES.get(rest) if method == "GET" else ({"removed": 1} if RULES.remove(rest) else None)
        if rule is None:
            return json_answer(start_response, 404, {"message": f"no fault {rest}"})
        if method == "DELETE":
            log(f"removed {rest}")
        return json_answer(start_response, 200, rule)
    message = f"{method} {environ.get('PATH_INFO')} is not a fault operation"
    return json_answer(start_response, 405, {"message": message})


def describe(rule: dict) -> str:
    only = f" with {rule['match']!r} in the body" if rule["match"] else ""
    times = f" ({rule['count']} left)" if rule["count"] is not None else ""
    return f"{rule['id']}: {rule['service']} {rule['action']}{only} -> {rule['status']} {rule['error']}{times}"


# --- the wrapper ----------------------------------------------------------------------------
def faulting(dispatch):
    def call(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(PREFIX):
            return control(environ, start_response)
        service = service_of(environ)
        if not RULES.wants(service):
            return dispatch(self, environ, start_response)
        raw = read_body(environ)
        body = raw.decode("utf-8", "replace")
        form = {}
        if is_form(environ):
            form, body = parse_qs(body), unquote_plus(body)
        action = action_of(environ, form)
        rule = RULES.match(service, action, body)
        if rule is None:
            return dispatch(self, environ, start_response)
        log(f"failed {service} {action}: {describe(rule)}")
        return aws_error(environ, start_response, rule)

    return call


def install() -> None:
    """Wraps whatever `DomainDispatcherApplication.__call__` is now (moto_server.py's dispatch)."""
    DomainDispatcherApplication.__call__ = faulting(DomainDispatcherApplication.__call__)
