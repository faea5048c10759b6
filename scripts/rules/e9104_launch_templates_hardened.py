"""E9104: launch templates require IMDSv2 with a hop limit of 1 and encrypt their volumes.

cfn-lint loads this file by path (``append_rules``); what the rules share comes from
``_helpers.py`` beside it, loaded by path as cfn-lint loads the rule.
"""

# cfnlint ships no type information: to mypy its CloudFormationLintRule is Any.
# mypy: allow-subclassing-any

from __future__ import annotations

import os
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar

from cfnlint.helpers import import_filename
from cfnlint.jsonschema import Validator
from cfnlint.rules import CloudFormationLintRule, RuleMatch
from cfnlint.template import Template

if TYPE_CHECKING:  # mypy reads the helpers as the package's module
    from scripts.rules._helpers import (
        branch_note,
        descend,
        is_intrinsic,
        outcomes,
        path_of,
        resources,
    )
else:  # cfn-lint loads a rule from its file (append_rules), in any environment: the helpers
    # come from beside it, never through the project's package (a plain cfn-lint has none)
    _helpers = import_filename("_helpers", os.path.dirname(os.path.abspath(__file__)))
    branch_note, descend, is_intrinsic, outcomes, path_of, resources = attrgetter(
        "branch_note", "descend", "is_intrinsic", "outcomes", "path_of", "resources")(_helpers)


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
        for name, resource, where in resources(cfn, ["AWS::EC2::LaunchTemplate"]):
            properties = resource.get("Properties")
            if not isinstance(properties, dict):
                continue  # schema rules report a launch template without properties
            data = properties.get("LaunchTemplateData")
            if is_intrinsic(data):
                continue
            data_where = descend(where, "Properties")
            if isinstance(data, dict):
                data_where = descend(data_where, "LaunchTemplateData")
            else:
                data = {}  # missing: E3003 reports it, and it sets none of the settings below
            matches.extend(self._metadata_options(name, data, data_where))
            matches.extend(self._volumes(name, data, data_where))
        return matches

    def _metadata_options(
        self, name: str, data: dict[str, Any], where: Validator
    ) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        settings: list[tuple[str, Callable[[Any], bool], str]] = [
            ("HttpTokens", _is_required, "required"),
            ("HttpPutResponseHopLimit", _is_one, "1"),
        ]
        options_where = descend(where, "MetadataOptions")
        for opts, opts_where in outcomes(data.get("MetadataOptions"), options_where):
            opts_path = path_of(opts_where)
            if opts is None:
                matches.append(
                    RuleMatch(
                        opts_path if "MetadataOptions" in data else path_of(where),
                        f"{name} (AWS::EC2::LaunchTemplate) has no MetadataOptions"
                        f"{branch_note(opts_path)}; set MetadataOptions with HttpTokens: required "
                        "and HttpPutResponseHopLimit: 1",
                    )
                )
                continue
            if not isinstance(opts, dict) or is_intrinsic(opts):
                continue
            for key, is_good, wanted in settings:
                for value, value_where in outcomes(opts.get(key), descend(opts_where, key)):
                    value_path = path_of(value_where)
                    if value is None:
                        matches.append(
                            RuleMatch(
                                value_path if key in opts else opts_path,
                                f"{name} (AWS::EC2::LaunchTemplate) does not set MetadataOptions "
                                f"{key}{branch_note(value_path)}; set it to {wanted}",
                            )
                        )
                    elif not is_good(value) and not is_intrinsic(value):
                        matches.append(
                            RuleMatch(
                                value_path,
                                f"{name} (AWS::EC2::LaunchTemplate) sets MetadataOptions "
                                f"{key} to {value!r}{branch_note(value_path)}; set it to {wanted}",
                            )
                        )
        return matches

    def _volumes(self, name: str, data: dict[str, Any], where: Validator) -> list[RuleMatch]:
        mappings = data.get("BlockDeviceMappings")
        if not isinstance(mappings, list):
            return []  # no volumes beyond the AMI's, or an intrinsic that cannot be read
        matches: list[RuleMatch] = []
        for index, item in enumerate(mappings):
            item_where = descend(where, "BlockDeviceMappings", index)
            for mapping, mapping_where in outcomes(item, item_where):
                if not isinstance(mapping, dict) or is_intrinsic(mapping):
                    continue
                ebs = mapping.get("Ebs")
                if not isinstance(ebs, dict) or is_intrinsic(ebs):
                    continue  # instance store or NoDevice: nothing at rest to encrypt
                device = mapping.get("DeviceName", f"#{index}")
                ebs_where = descend(mapping_where, "Ebs")
                for value, value_where in outcomes(
                    ebs.get("Encrypted"), descend(ebs_where, "Encrypted")
                ):
                    if value is None:
                        problem = "does not set Encrypted"
                    elif _is_true(value) or is_intrinsic(value):
                        continue
                    else:
                        problem = "is not encrypted"
                    value_path = path_of(value_where)
                    matches.append(
                        RuleMatch(
                            value_path if "Encrypted" in ebs else path_of(ebs_where),
                            f"{name} (AWS::EC2::LaunchTemplate) volume {device} {problem}"
                            f"{branch_note(value_path)}; set Ebs Encrypted: true",
                        )
                    )
        return matches
