"""Log groups created from templates, with the encryption and retention the template gives.

log_group_kms_key_and_retention
    moto's ``AWS::Logs::LogGroup`` passes the template's properties to its CreateLogGroup
    under their template names: ``KmsKeyId`` is lost (the backend reads ``kmsKeyId``), so
    every group reads back unencrypted, and ``RetentionInDays`` is kept as the template's
    string. The patch hands both over as CreateLogGroup takes them, so DescribeLogGroups
    answers ``kmsKeyId`` and an integer ``retentionInDays``, as AWS does.
"""

from __future__ import annotations

import json
from typing import Any

from scripts.local.moto_shim.support import Patch, Probe, backend, cloudformation, require


def patches() -> list[Patch]:
    from moto.logs.models import LogGroup, logs_backends

    require(LogGroup, "create_from_cloudformation_json")

    def create_from_cloudformation_json(cls: Any, /, resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str,
                                        **_kwargs: Any) -> Any:
        properties = dict(cloudformation_json.get("Properties") or {})
        tags = {t["Key"]: t["Value"] for t in properties.pop("Tags", None) or []}
        if "KmsKeyId" in properties:
            properties["kmsKeyId"] = properties.pop("KmsKeyId")
        if "RetentionInDays" in properties:
            properties["RetentionInDays"] = int(properties["RetentionInDays"])
        return logs_backends[account_id][region_name].create_log_group(
            resource_name, tags, **properties)

    return [(LogGroup, "create_from_cloudformation_json",
             classmethod(create_from_cloudformation_json))]


def _probe_log_group_kms_key_and_retention() -> bool:
    from moto import mock_aws

    template = json.dumps({"Resources": {"Group": {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": "probe", "RetentionInDays": "30",
        "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/probe"}}}})
    with mock_aws():
        cloudformation().create_stack("probe", template, parameters={})
        group = backend("logs").groups["probe"].to_describe_dict()
        return group.get("kmsKeyId") is None or group.get("retentionInDays") != 30


PROBES: dict[str, Probe] = {
    "log_group_kms_key_and_retention": _probe_log_group_kms_key_and_retention,
}
