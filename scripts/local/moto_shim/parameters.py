"""Parameter constraints, checked when a stack or change set is created, as CloudFormation does.

parameter_constraints
    moto ignores AllowedPattern, AllowedValues, MinLength, MaxLength, MinValue and MaxValue, so
    a value CloudFormation refuses at CreateChangeSet is accepted and fails (or not) part-way
    through execution. The patch checks every value (given, previous or default) before
    anything is created and answers CloudFormation's ValidationError: "Parameter 'X' must match
    pattern P", "must be one of AllowedValues", "must contain at most N characters", ... or,
    when the parameter has a ConstraintDescription, "Parameter 'X' failed to satisfy
    constraint: <description>".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from scripts.local.moto_shim.support import Patch, Probe, cloudformation, require


def violation(name: str, spec: dict[str, Any], value: str) -> str | None:
    """CloudFormation's message for ``value`` breaking ``spec``'s constraints, or None."""
    kind = str(spec.get("Type", "String"))
    problem = _problem(name, kind, spec, str(value))
    if problem is None:
        return None
    if spec.get("ConstraintDescription"):
        return f"Parameter '{name}' failed to satisfy constraint: {spec['ConstraintDescription']}"
    return problem


def _problem(name: str, kind: str, spec: dict[str, Any], value: str) -> str | None:  # noqa: PLR0911 - one return per constraint
    values = [v.strip() for v in value.split(",")] if kind.startswith("List<") or \
        kind == "CommaDelimitedList" else [value]
    allowed = spec.get("AllowedValues")
    if allowed is not None and any(v not in [str(a) for a in allowed] for v in values):
        return f"Parameter '{name}' must be one of AllowedValues"
    pattern = spec.get("AllowedPattern")
    if pattern is not None and kind == "String" and not re.fullmatch(str(pattern), value):
        return f"Parameter '{name}' must match pattern {pattern}"
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        return f"Parameter '{name}' must contain at least {spec['MinLength']} characters"
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        return f"Parameter '{name}' must contain at most {spec['MaxLength']} characters"
    if kind == "Number":
        try:
            number = float(value)
        except ValueError:
            return f"Parameter '{name}' must be a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"Parameter '{name}' must be a number not less than {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}"
    return None


def check(template_body: Any, given: dict[str, Any]) -> None:
    """Raise CloudFormation's ValidationError for the first value that breaks a constraint."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import Stack

    if not template_body:
        return
    try:
        parsed = (template_body if isinstance(template_body, dict)
                  else Stack.parse_template(template_body))
    except Exception:
        return
    for name, spec in (parsed.get("Parameters") or {}).items():
        value = given.get(name, spec.get("Default"))
        if value is None:
            continue
        message = violation(name, spec, str(value))
        if message:
            raise ValidationError(message=message)


def patches() -> list[Patch]:  # noqa: C901 - the request read the way moto reads it
    from moto.cloudformation import models

    backend_class = models.CloudFormationBackend
    require(backend_class, "create_stack", "create_change_set", "update_stack")
    # lifecycle.py owns these attributes on the backend class, so this module hooks the
    # response layer, which every API call passes through first.
    from moto.cloudformation import responses

    require(responses.CloudFormationResponse, "create_stack", "create_change_set",
            "update_stack", "_get_param", "_get_stack_from_s3_url")
    response_class = responses.CloudFormationResponse

    def checked(stock: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def call(self: Any) -> Any:
            body = self._get_param("TemplateBody")
            url = self._get_param("TemplateURL")
            if url and not body:
                body = self._get_stack_from_s3_url(url)
            given: dict[str, Any] = {}
            previous: dict[str, Any] = {}
            if not body or any(p.get("UsePreviousValue") for p in
                               self._get_param("Parameters", []) or []):
                try:
                    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
                except Exception:
                    stack = None
                if stack is not None:
                    previous = dict(stack.resource_map.resolved_parameters or {})
                    body = body or stack.template
            for p in self._get_param("Parameters", []) or []:
                if p.get("UsePreviousValue"):
                    if p["ParameterKey"] in previous:
                        given[p["ParameterKey"]] = previous[p["ParameterKey"]]
                elif "ParameterValue" in p:
                    given[p["ParameterKey"]] = p["ParameterValue"]
            check(body, given)
            result = stock(self)
            _remember_triggers(self, result)
            return result
        return call

    return [(response_class, name, checked(getattr(response_class, name)))
            for name in ("create_stack", "create_change_set", "update_stack")]


def _remember_triggers(response: Any, result: Any) -> None:
    """Keep RollbackConfiguration's triggers where lifecycle.py watches them (this module
    owns the request hooks): on the change set, else on the stack."""
    triggers = (response._get_param("RollbackConfiguration") or {}).get("RollbackTriggers")
    if triggers is None:
        return
    arns = [str(t["Arn"]) for t in triggers if t.get("Arn")]
    backend = response.cloudformation_backend
    found = getattr(result, "result", {}) or {}
    change_set = backend.change_sets.get(found.get("Id", ""))
    if change_set is not None:
        change_set.rollback_triggers = arns
    else:
        backend.get_stack(response._get_param("StackName")).rollback_triggers = arns


def _probe_parameter_constraints() -> bool:
    from moto import mock_aws

    template = json.dumps({
        "Parameters": {"Code": {"Type": "String", "AllowedPattern": "^CC-[0-9]{4}$"}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic",
                                "Properties": {"DisplayName": {"Ref": "Code"}}}},
    })
    with mock_aws():
        try:
            _probe_call(template)
        except Exception:
            return False
        return True


def _probe_call(template: str) -> None:
    """CreateChangeSet through moto's response layer, as the server runs it."""
    from moto.cloudformation.responses import CloudFormationResponse

    response = CloudFormationResponse()
    params = {"StackName": "probe", "ChangeSetName": "probe", "ChangeSetType": "CREATE",
              "TemplateBody": template,
              "Parameters": [{"ParameterKey": "Code", "ParameterValue": "nope"}]}
    response._get_param = lambda key, default=None: params.get(key, default)  # type: ignore[method-assign,assignment]
    response.current_account = "123456789012"
    response.region = "us-east-1"
    response.create_change_set()
    _ = cloudformation()


PROBES: dict[str, Probe] = {"parameter_constraints": _probe_parameter_constraints}
