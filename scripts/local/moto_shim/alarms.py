"""CloudWatch alarms created from templates, and rollback triggers watched while a stack runs.

cloudwatch_alarms_from_templates
    moto has no CloudFormation model for ``AWS::CloudWatch::Alarm``: the resource is skipped
    (a warning), no alarm exists, and webstack's rollback triggers (the alarms of the stack
    being updated) are empty locally. The patch creates the alarm through moto's CloudWatch
    backend (Ref: its name, GetAtt Arn: its ARN), deletes it with the stack, and replaces it
    when AlarmName changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from scripts.local.moto_shim.support import Patch, Probe, backend, cloudformation, require

ALARM_TYPE: Final = "AWS::CloudWatch::Alarm"


class TemplateAlarm:
    """A CloudFormation-made alarm: what the stack holds; the alarm lives in moto's backend."""

    def __init__(self, name: str, arn: str) -> None:
        self.name = name
        self.arn = arn
        self.physical_resource_id = name

    def get_cfn_attribute(self, attribute_name: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name != "Arn":
            raise UnformattedGetAttTemplateException()
        return self.arn

    @staticmethod
    def is_created() -> bool:
        return True

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region_name].delete_alarms([self.name])

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str,
                                        **_kwargs: Any) -> TemplateAlarm:
        from moto.cloudwatch.models import cloudwatch_backends

        p = cloudformation_json.get("Properties") or {}
        name = str(p.get("AlarmName") or resource_name)
        alarms: Any = cloudwatch_backends[account_id][region_name]  # moto's hints want str
        alarm = alarms.put_metric_alarm(
            name=name, namespace=p.get("Namespace"), metric_name=p.get("MetricName"),
            comparison_operator=p.get("ComparisonOperator"),
            evaluation_periods=int(p.get("EvaluationPeriods", 1)),
            period=int(p["Period"]) if "Period" in p else 60,
            threshold=float(p.get("Threshold", 0)), statistic=p.get("Statistic"),
            description=p.get("AlarmDescription"),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]}
                        for d in p.get("Dimensions") or []],
            alarm_actions=list(p.get("AlarmActions") or []),
            ok_actions=list(p.get("OKActions") or []),
            insufficient_data_actions=list(p.get("InsufficientDataActions") or []),
            datapoints_to_alarm=int(p["DatapointsToAlarm"]) if "DatapointsToAlarm" in p
            else None,
            extended_statistic=p.get("ExtendedStatistic"), unit=p.get("Unit"),
            actions_enabled=p.get("ActionsEnabled", True) in (True, "true", "True"),
            treat_missing_data=p.get("TreatMissingData"),
            tags=list(p.get("Tags") or []) or None)
        return cls(name, alarm.alarm_arn)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                        cloudformation_json: Any, account_id: str,
                                        region_name: str) -> TemplateAlarm:
        """PutMetricAlarm overwrites an alarm of the same name: an in-place update."""
        name = (cloudformation_json.get("Properties") or {}).get("AlarmName") or \
            original_resource.name
        return cls.create_from_cloudformation_json(
            name, cloudformation_json, account_id, region_name)

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return ALARM_TYPE


def patches() -> list[Patch]:
    from moto.cloudformation import parsing

    require(parsing, "resource_class_from_type", "resource_name_property_from_type")
    stock_class: Callable[[str], Any] = parsing.resource_class_from_type
    stock_name: Callable[[str], str | None] = parsing.resource_name_property_from_type

    def resource_class_from_type(resource_type: str) -> Any:
        return TemplateAlarm if resource_type == ALARM_TYPE else stock_class(resource_type)

    def resource_name_property_from_type(resource_type: str) -> str | None:
        return "AlarmName" if resource_type == ALARM_TYPE else stock_name(resource_type)

    return [(parsing, "resource_class_from_type", resource_class_from_type),
            (parsing, "resource_name_property_from_type", resource_name_property_from_type)]


def _probe_cloudwatch_alarms_from_templates() -> bool:
    import warnings

    from moto import mock_aws

    template = json.dumps({"Resources": {"Alarm": {"Type": ALARM_TYPE, "Properties": {
        "Namespace": "AWS/EC2", "MetricName": "CPUUtilization", "Statistic": "Average",
        "ComparisonOperator": "GreaterThanThreshold", "Threshold": 80, "Period": 60,
        "EvaluationPeriods": 1, "Dimensions": [{"Name": "AutoScalingGroupName", "Value": "a"}],
    }}}})
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cloudformation().create_stack("probe", template, parameters={})
        return not list(backend("cloudwatch").describe_alarms())


PROBES: dict[str, Probe] = {
    "cloudwatch_alarms_from_templates": _probe_cloudwatch_alarms_from_templates,
}
