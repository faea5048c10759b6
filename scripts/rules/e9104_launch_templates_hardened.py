"""E9104: launch templates require IMDSv2 with a hop limit of 1 and encrypt their volumes.

cfn-lint loads this file on its own (``append_rules``), so it imports only cfnlint and the
standard library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from cfnlint.rules import CloudFormationLintRule, RuleMatch
from cfnlint.template import Template

Path = list[str | int]


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    (key,) = value
    return isinstance(key, str) and (key == "Ref" or key.startswith("Fn::"))


def _outcomes(value: Any, path: Path) -> Iterator[tuple[Any, Path]]:
    """Each value ``value`` can take, following ``Fn::If``; ``AWS::NoValue`` is None (unset)."""
    if value == {"Ref": "AWS::NoValue"}:
        value = None
    if isinstance(value, dict) and len(value) == 1 and "Fn::If" in value:
        args = value["Fn::If"]
        if isinstance(args, list) and len(args) == 3:
            for index in (1, 2):
                yield from _outcomes(args[index], [*path, "Fn::If", index])
            return
    yield value, path


def _branch(path: Path) -> str:
    return " in one branch of an Fn::If" if "Fn::If" in path else ""


def _is_required(value: Any) -> bool:
    return isinstance(value, str) and value.strip() == "required"


def _is_one(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return (isinstance(value, int) and value == 1) or (
        isinstance(value, str) and value.strip() == "1"
    )


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


class LaunchTemplatesHardened(CloudFormationLintRule):
    """Instances must not leak role credentials to SSRF or containers, nor store data in clear."""

    id = "E9104"
    shortdesc = "Launch templates are hardened"
    description = (
        "Every AWS::EC2::LaunchTemplate sets MetadataOptions HttpTokens to required (IMDSv2) "
        "and HttpPutResponseHopLimit to 1, and every BlockDeviceMappings Ebs sets Encrypted "
        "to true. Missing settings fail: the defaults depend on the AMI and the account."
    )
    source_url = (
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-new-instances.html"
    )
    tags: ClassVar[list[str]] = ["resources", "ec2", "launchtemplate", "webstack"]

    def match(self, cfn: Template) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for name, resource in cfn.get_resources("AWS::EC2::LaunchTemplate").items():
            path: Path = ["Resources", name, "Properties"]
            properties = resource.get("Properties")
            if not isinstance(properties, dict):
                continue  # schema rules report a launch template without properties
            data = properties.get("LaunchTemplateData")
            if _is_intrinsic(data):
                continue
            if isinstance(data, dict):
                path = [*path, "LaunchTemplateData"]
            else:
                data = {}  # missing: E3003 reports it, and it sets none of the settings below
            matches.extend(self._metadata_options(str(name), data, path))
            matches.extend(self._volumes(str(name), data, path))
        return matches

    def _metadata_options(self, name: str, data: dict[str, Any], path: Path) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        settings: list[tuple[str, Callable[[Any], bool], str]] = [
            ("HttpTokens", _is_required, "required"),
            ("HttpPutResponseHopLimit", _is_one, "1"),
        ]
        for opts, opts_path in _outcomes(data.get("MetadataOptions"), [*path, "MetadataOptions"]):
            if opts is None:
                matches.append(
                    RuleMatch(
                        opts_path if "MetadataOptions" in data else path,
                        f"{name} (AWS::EC2::LaunchTemplate) has no MetadataOptions"
                        f"{_branch(opts_path)}; set MetadataOptions with HttpTokens: required "
                        "and HttpPutResponseHopLimit: 1",
                    )
                )
                continue
            if not isinstance(opts, dict) or _is_intrinsic(opts):
                continue
            for key, is_good, wanted in settings:
                for value, value_path in _outcomes(opts.get(key), [*opts_path, key]):
                    if value is None:
                        matches.append(
                            RuleMatch(
                                value_path if key in opts else opts_path,
                                f"{name} (AWS::EC2::LaunchTemplate) does not set MetadataOptions "
                                f"{key}{_branch(value_path)}; set it to {wanted}",
                            )
                        )
                    elif not is_good(value) and not _is_intrinsic(value):
                        matches.append(
                            RuleMatch(
                                value_path,
                                f"{name} (AWS::EC2::LaunchTemplate) sets MetadataOptions "
                                f"{key} to {value!r}{_branch(value_path)}; set it to {wanted}",
                            )
                        )
        return matches

    def _volumes(self, name: str, data: dict[str, Any], path: Path) -> list[RuleMatch]:
        mappings = data.get("BlockDeviceMappings")
        if not isinstance(mappings, list):
            return []  # no volumes beyond the AMI's, or an intrinsic that cannot be read
        matches: list[RuleMatch] = []
        for index, item in enumerate(mappings):
            for mapping, mapping_path in _outcomes(item, [*path, "BlockDeviceMappings", index]):
                if not isinstance(mapping, dict) or _is_intrinsic(mapping):
                    continue
                ebs = mapping.get("Ebs")
                if not isinstance(ebs, dict) or _is_intrinsic(ebs):
                    continue  # instance store or NoDevice: nothing at rest to encrypt
                device = mapping.get("DeviceName", f"#{index}")
                ebs_path = [*mapping_path, "Ebs"]
                for value, value_path in _outcomes(ebs.get("Encrypted"), [*ebs_path, "Encrypted"]):
                    if value is None:
                        problem = "does not set Encrypted"
                    elif _is_true(value) or _is_intrinsic(value):
                        continue
                    else:
                        problem = "is not encrypted"
                    matches.append(
                        RuleMatch(
                            value_path if "Encrypted" in ebs else ebs_path,
                            f"{name} (AWS::EC2::LaunchTemplate) volume {device} {problem}"
                            f"{_branch(value_path)}; set Ebs Encrypted: true",
                        )
                    )
        return matches
