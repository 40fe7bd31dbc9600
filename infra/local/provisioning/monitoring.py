"""CloudWatch alarms, created in moto so `GET /v1/status` reads real alarm states. Nothing
evaluates them locally (no metrics reach moto): they stay as moto creates them until a test
or an operator sets a state (`aws cloudwatch set-alarm-state`)."""

from typing import Any

from .cloud import Cloud

# put_metric_alarm takes the template's property names as they are.
ALARM_PROPERTIES = {
    "AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
    "InsufficientDataActions", "MetricName", "Namespace", "Statistic", "ExtendedStatistic",
    "Dimensions", "Period", "Unit", "EvaluationPeriods", "DatapointsToAlarm", "Threshold",
    "ComparisonOperator", "TreatMissingData", "EvaluateLowSampleCountPercentile", "Metrics",
    "ThresholdMetricId",
}


def alarm(cloud: Cloud, logical_id: str, props: dict[str, Any]) -> tuple[str, dict]:
    args = {k: v for k, v in props.items() if k in ALARM_PROPERTIES}
    cw = cloud.client("cloudwatch")
    cw.put_metric_alarm(**args)
    name = props["AlarmName"]
    arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    cloud.log(f"{logical_id}: alarm {name} ready")
    return name, {"Arn": arn}
