"""CloudWatch over the Smithy RPC v2 CBOR protocol, which the Rust SDK speaks and moto does not
(moto answers CloudWatch's query protocol only, so the SDK's calls get a 404).

Answers `POST /service/GraniteServiceVersion20100801/operation/<Operation>` for the operations
Clavis uses, from moto's own CloudWatch backend (the alarms `provision.py` created through the
query protocol): DescribeAlarms (the api's GET /v1/status) and SetAlarmState (tests).
Anything else is answered as AWS answers an unknown operation."""

import re
from datetime import timezone

import cbor2
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import ServiceException
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

PATH = re.compile(r"^/service/GraniteServiceVersion20100801/operation/(?P<operation>\w+)$")
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[a-z0-9-]+)/monitoring/")


def answer(start_response, status: int, body: dict) -> list[bytes]:
    payload = cbor2.dumps(body)
    start_response(
        f"{status} {'OK' if status == 200 else 'Bad Request'}",
        [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("Content-Length", str(len(payload))),
        ],
    )
    return [payload]


def timestamp(value):
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return cbor2.CBORTag(1, value.timestamp())


def describe_alarms(backend, params: dict) -> dict:
    prefix = params.get("AlarmNamePrefix")
    names = params.get("AlarmNames")
    if prefix:
        alarms = backend.get_alarms_by_alarm_name_prefix(prefix)
    elif names:
        alarms = backend.get_alarms_by_alarm_names(names)
    else:
        alarms = backend.describe_alarms()
    metric_alarms = []
    for alarm in alarms:
        if getattr(alarm, "rule", None) is not None:
            continue
        described = {
            "AlarmName": alarm.name,
            "AlarmArn": alarm.alarm_arn,
            "StateValue": alarm.state_value,
            "StateReason": alarm.state_reason,
            "StateUpdatedTimestamp": timestamp(alarm.state_updated_timestamp),
        }
        if alarm.description:
            described["AlarmDescription"] = alarm.description
        metric_alarms.append({k: v for k, v in described.items() if v is not None})
    # One page: a stack has a few dozen alarms, within MaxRecords' 100.
    return {"MetricAlarms": metric_alarms, "CompositeAlarms": []}


def set_alarm_state(backend, params: dict) -> dict:
    backend.set_alarm_state(
        params["AlarmName"], params["StateReason"], params.get("StateReasonData"), params["StateValue"]
    )
    return {}


OPERATIONS = {"DescribeAlarms": describe_alarms, "SetAlarmState": set_alarm_state}


def speaking_cbor(dispatch):
    def call(self, environ, start_response):
        match = PATH.match(environ.get("PATH_INFO", ""))
        if not match or environ.get("REQUEST_METHOD") != "POST":
            return dispatch(self, environ, start_response)
        operation = OPERATIONS.get(match["operation"])
        if operation is None:
            return answer(start_response, 400, {"__type": "UnknownOperationException", "message": match["operation"]})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        params = cbor2.loads(raw) if raw else {}
        scope = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        region = scope["region"] if scope else "us-east-1"
        try:
            return answer(start_response, 200, operation(cloudwatch_backends[DEFAULT_ACCOUNT_ID][region], params))
        except ServiceException as err:
            return answer(start_response, 400, {"__type": err.code, "message": str(err.message)})

    return call


def install() -> None:
    """Wraps whatever `DomainDispatcherApplication.__call__` is now."""
    DomainDispatcherApplication.__call__ = speaking_cbor(DomainDispatcherApplication.__call__)
