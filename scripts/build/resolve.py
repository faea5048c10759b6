"""A template as CloudFormation sees it for one environment and region.

The generated templates keep every per-environment value behind ``Fn::FindInMap`` and
``Condition`` switches, so one file serves dev, staging and prod. Linters and reviewers
cannot see behind those switches; ``resolve`` evaluates them the way CloudFormation would
for one (environment, region) pair, so ``webstack show`` and the lint gate look at the
template that will really be deployed. Pure: no I/O, no AWS, the input is never mutated.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import Enum
from typing import Any, Final

__all__ = ["ResolveError", "resolve", "resolve_set"]

_SUB_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")
# Sections whose intrinsics CloudFormation evaluates for the stack being created.
_RESOLVED_SECTIONS: Final = ("Resources", "Outputs", "Rules")
_REGION_REF: Final = {"Ref": "AWS::Region"}
_LIST_TYPES: Final = ("CommaDelimitedList", "List<")
# Their value is an SSM parameter *name*; CloudFormation reads the value at deploy time.
_SSM_TYPE_PREFIX: Final = "AWS::SSM::Parameter::"


_NESTED_STACK = "AWS::CloudFormation::Stack"
_PARTITION: Final = "AWS::Partition"


class ResolveError(ValueError):
    """The template cannot be resolved for this environment and region; one line, says where.

    ``source`` names the template, as ``resolve`` was told it.
    """

    def __init__(self, message: str, source: str = "template") -> None:
        super().__init__(message)
        self.source = source


class _Absent(Enum):
    """``Ref AWS::NoValue``: the enclosing key or list item disappears."""

    NO_VALUE = "AWS::NoValue"


_NO_VALUE: Final = _Absent.NO_VALUE


def resolve(
    template: Mapping[str, Any],
    environment: str,
    region: str | None,
    parameters: Mapping[str, str] | None = None,
    *,
    source: str = "template",
    map_region: str | None = None,
) -> dict[str, Any]:
    """A new template with parameters, mappings and conditions evaluated where they are known.

    ``parameters`` overrides parameter defaults; a parameter with neither stays a ``Ref``
    (and so do the conditions and resources that depend on it). ``source`` names the template
    in error messages, e.g. ``"compute.yaml"``. ``region=None`` leaves ``AWS::Region`` (and
    the partition) as written, for templates whose region shows only through that reference.
    ``map_region`` (with ``region=None``) looks up region-keyed maps
    (``Fn::FindInMap [M, !Ref AWS::Region, K]``) for that region and fills in its partition,
    but leaves every other ``AWS::Region`` as written: the region's values, with nothing else
    fixed to the region.
    """
    given = {**required_placeholders([template], environment, region or map_region),
             **(parameters or {})}
    return _Resolver(copy.deepcopy(dict(template)), environment, region, given,
                     source, map_region=map_region).run()


# What staging and prod must be deployed with and build/ cannot know (the root's Rules refuse
# them empty): without them every review would miss the HTTPS listener and the subscription.
PLACEHOLDER_ACCOUNT: Final = "123456789012"
PLACEHOLDERS: Final[Mapping[str, str]] = {
    "CertificateArn": "arn:{partition}:acm:{region}:" + PLACEHOLDER_ACCOUNT
                      + ":certificate/00000000-0000-0000-0000-000000000000",
    "AlarmEmail": "alarms@example.com",
}


def required_placeholders(templates: Iterable[Mapping[str, Any]], environment: str,
                          region: str | None) -> dict[str, str]:
    """A placeholder for each parameter a template's Rules require non-empty in
    ``environment`` (``RuleCondition: Fn::Contains [[envs], Ref Environment]`` with
    ``Assert: Fn::Not [Fn::Equals [Ref P, ""]]``): the environment resolved as it is deployed.
    A required parameter without a placeholder is a ResolveError naming it."""
    found: dict[str, str] = {}
    partition = partition_of(region or "us-east-1")[0]
    for template in templates:
        for name, rule in (template.get("Rules") or {}).items():
            if not isinstance(rule, dict) or not _rule_applies(rule, environment):
                continue
            for parameter in _required_non_empty(rule):
                if parameter not in PLACEHOLDERS:
                    raise ResolveError(f"Rule {name} requires {parameter} in {environment}, "
                                       "and resolve has no placeholder for it; add one to "
                                       "scripts/build/resolve.py PLACEHOLDERS")
                found[parameter] = PLACEHOLDERS[parameter].format(
                    partition=partition, region=region or "us-east-1")
    return found


def _rule_applies(rule: Mapping[str, Any], environment: str) -> bool:
    condition = rule.get("RuleCondition")
    if condition is None:
        return True
    contains = condition.get("Fn::Contains") if isinstance(condition, dict) else None
    if (isinstance(contains, list) and len(contains) == 2 and isinstance(contains[0], list)
            and contains[1] == {"Ref": "Environment"}):
        return environment in contains[0]
    return False  # a condition this reading does not know: no placeholder from it


def _required_non_empty(rule: Mapping[str, Any]) -> Iterator[str]:
    for assertion in rule.get("Assertions") or []:
        negated = (assertion.get("Assert") or {}).get("Fn::Not") if isinstance(
            assertion, dict) else None
        equals = negated[0].get("Fn::Equals") if isinstance(negated, list) and negated and \
            isinstance(negated[0], dict) else None
        if isinstance(equals, list) and len(equals) == 2 and "" in equals:
            other = equals[1] if equals[0] == "" else equals[0]
            if isinstance(other, dict) and isinstance(other.get("Ref"), str):
                yield other["Ref"]


def reads_region_map(template: Mapping[str, Any]) -> bool:
    """Whether a value is looked up by region (``Fn::FindInMap [M, !Ref AWS::Region, K]``):
    only then does resolving per region show cfn-lint something it cannot see as written."""
    for node in _walk(template.get("Resources")) if "Mappings" in template else ():
        found = _intrinsic(node)
        if (found and found[0] == "Fn::FindInMap" and isinstance(found[1], list)
                and len(found[1]) >= 2 and found[1][1] == {"Ref": "AWS::Region"}):
            return True
    return False


def resolve_set(
    templates: Mapping[str, Mapping[str, Any]],
    environment: str,
    region: str | None,
    parameters: Mapping[str, str] | None = None,
    *,
    map_region: str | None = None,
) -> dict[str, dict[str, Any]]:
    """``resolve`` every template of a nested set, keyed and ordered as given.

    This is how ``webstack show``, the gate and the security scan all see an environment.
    Keys name the templates (``network`` or ``build/network.yaml``); a parent finds a child by
    its TemplateURL's file name. A resolved child no longer declares the parameters that
    resolution filled in (Environment, defaults), so the parent stops passing them too: the
    resolved set stays consistent for cfn-lint's nested-stack checks (E3043).
    """
    # The root's Rules decide what its children are given too (they are resolved one by one).
    given = {**required_placeholders(templates.values(), environment, region or map_region),
             **(parameters or {})}
    out = {
        name: resolve(template, environment, region, given, source=_file_name(name),
                      map_region=map_region)
        for name, template in templates.items()
    }
    by_file = {_file_name(name).rsplit("/", 1)[-1]: body for name, body in out.items()}
    for body in out.values():
        for resource in (body.get("Resources") or {}).values():
            if not isinstance(resource, dict) or resource.get("Type") != _NESTED_STACK:
                continue
            props = resource.get("Properties") or {}
            url = props.get("TemplateURL")
            child = by_file.get(url) if isinstance(url, str) else None
            if child is not None and isinstance(props.get("Parameters"), dict):
                declared = child.get("Parameters") or {}
                props["Parameters"] = {
                    key: value for key, value in props["Parameters"].items() if key in declared
                }
    return out


def _file_name(name: str) -> str:
    return name if name.endswith(".yaml") else f"{name}.yaml"


def partition_of(region: str) -> tuple[str, str]:
    """``(AWS::Partition, AWS::URLSuffix)`` for a region."""
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


def _is_literal(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _text(value: Any) -> str:
    """A literal as CloudFormation compares and substitutes it (``True`` -> ``"true"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _intrinsic(node: Any) -> tuple[str, Any] | None:
    if isinstance(node, dict) and len(node) == 1:
        ((key, arg),) = node.items()
        return key, arg
    return None


def _walk(node: Any) -> Iterator[Any]:
    """Every dict, list and scalar inside ``node``, depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _sub_names(arg: Any) -> set[str]:
    """Names an ``Fn::Sub`` takes from the template (not from its own variable map)."""
    local: Any = {}
    if isinstance(arg, str):
        text = arg
    elif isinstance(arg, list) and arg and isinstance(arg[0], str):
        text = arg[0]
        if len(arg) > 1 and isinstance(arg[1], dict):
            local = arg[1]
    else:
        return set()
    names = {match.group(1) for match in _SUB_VARIABLE.finditer(text)}
    return {name for name in names if not name.startswith("!") and name not in local}


class _Resolver:
    """One resolution: the known values, the condition results, the template being built."""

    def __init__(self, template: dict[str, Any], environment: str, region: str | None,
                 parameters: Mapping[str, str], source: str, *,
                 map_region: str | None = None) -> None:
        self.template = template
        self.source = source
        self.map_region = map_region
        self.mappings: dict[str, Any] = template.get("Mappings") or {}
        self.conditions: dict[str, Any] = template.get("Conditions") or {}
        self.results: dict[str, bool | None] = {}
        self.evaluating: list[str] = []
        self.removed: set[str] = set()
        given = parameters.get("Environment")
        if given is not None and given != environment:
            raise self.error(
                f"parameter Environment={given!r} contradicts environment {environment!r}"
            )
        self.values: dict[str, Any] = {}
        if region is not None:
            partition, suffix = partition_of(region)
            self.values.update({
                "AWS::Region": region, "AWS::Partition": partition, "AWS::URLSuffix": suffix,
            })
        elif map_region is not None:  # the partition, which regions of one partition share
            partition, suffix = partition_of(map_region)
            self.values.update({"AWS::Partition": partition, "AWS::URLSuffix": suffix})
        if "Environment" not in (template.get("Resources") or {}):
            self.values["Environment"] = environment
        for name, spec in (template.get("Parameters") or {}).items():
            if name == "Environment":
                continue
            value = parameters.get(name, spec.get("Default"))
            kind = str(spec.get("Type", "String"))
            if value is None or kind.startswith(_SSM_TYPE_PREFIX):
                continue
            if kind.startswith(_LIST_TYPES):
                value = [part.strip() for part in str(value).split(",")]
            self.values[name] = value
        self.intrinsics: dict[str, Callable[[Any], Any]] = {
            "Ref": self.ref,
            "Fn::FindInMap": self.find_in_map,
            "Fn::If": self.fn_if,
            "Fn::Sub": self.sub,
            "Fn::Join": self.join,
            "Fn::Select": self.select,
            "Fn::Split": self.split,
        }

    def error(self, what: str, hint: str = "") -> ResolveError:
        return ResolveError(f"{what} ({self.source})" + (f"; {hint}" if hint else ""),
                            self.source)

    # -- the whole template ------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        self.check_keys()
        for name in self.conditions:
            self.condition(name)
        out: dict[str, Any] = {}
        for section, body in self.template.items():
            if section == "Resources":
                out[section] = self.entries(body, resources=True)
            elif section == "Outputs":
                out[section] = self.entries(body, resources=False)
            elif section in _RESOLVED_SECTIONS:
                out[section] = self.value(body)
            elif section != "Conditions":
                out[section] = body
        self.prune_depends_on(out.get("Resources") or {})
        conditions = self.kept_conditions(out)
        if conditions:
            out["Conditions"] = conditions
        self.prune_mappings(out)
        self.prune_parameters(out)
        return out

    def check_keys(self) -> None:
        """Fail on an unknown environment or region even where a false condition hides it."""
        for node in _walk(self.template):
            found = _intrinsic(node)
            if found is None or found[0] != "Fn::FindInMap":
                continue
            args = found[1]
            if not (isinstance(args, list) and len(args) == 3 and isinstance(args[0], str)):
                continue
            if args[1] not in ({"Ref": "Environment"}, {"Ref": "AWS::Region"}):
                continue
            top, second = self.map_key(args[1]), self.value(args[2])
            if _is_literal(top) and _is_literal(second):
                self.lookup(args[0], top, second, None)

    def entries(self, body: Mapping[str, Any], *, resources: bool) -> dict[str, Any]:
        """Resources or Outputs: drop those whose condition is false, then resolve the rest."""
        out: dict[str, Any] = {}
        for name, declared in body.items():
            entry = declared
            condition = entry.get("Condition") if isinstance(entry, dict) else None
            if isinstance(condition, str):
                state = self.condition(condition)
                if state is False:
                    continue
                if state is True:
                    entry = {key: value for key, value in entry.items() if key != "Condition"}
            resolved = self.value(entry)
            if resolved is not _NO_VALUE:
                out[name] = resolved
        if resources:
            self.removed = set(body) - set(out)
        return out

    def prune_depends_on(self, resources: dict[str, Any]) -> None:
        removed = self.removed
        for resource in resources.values():
            depends = resource.get("DependsOn") if isinstance(resource, dict) else None
            if isinstance(depends, str) and depends in removed:
                del resource["DependsOn"]
            elif isinstance(depends, list):
                kept = [name for name in depends if name not in removed]
                if kept:
                    resource["DependsOn"] = kept
                else:
                    del resource["DependsOn"]

    def kept_conditions(self, out: Mapping[str, Any]) -> dict[str, Any]:
        """Unevaluated conditions, plus the evaluated ones they still name."""
        wanted = [name for name, state in self.results.items() if state is None]
        for section in ("Resources", "Outputs"):
            for entry in (out.get(section) or {}).values():
                if isinstance(entry, dict) and isinstance(entry.get("Condition"), str):
                    wanted.append(entry["Condition"])
            for node in _walk(out.get(section)):
                found = _intrinsic(node)
                if found and found[0] == "Fn::If" and isinstance(found[1], list) and found[1]:
                    wanted.append(found[1][0])
        kept: dict[str, Any] = {}
        while wanted:
            name = wanted.pop()
            if name in kept or name not in self.conditions:
                continue
            kept[name] = self.value(self.conditions[name])
            for node in _walk(kept[name]):
                found = _intrinsic(node)
                if found and found[0] == "Condition" and isinstance(found[1], str):
                    wanted.append(found[1])
        return {name: kept[name] for name in self.conditions if name in kept}

    def prune_mappings(self, out: dict[str, Any]) -> None:
        if "Mappings" not in out:
            return
        used: set[str] = set()
        for node in _walk({k: v for k, v in out.items() if k != "Mappings"}):
            found = _intrinsic(node)
            if found and found[0] == "Fn::FindInMap" and isinstance(found[1], list) and found[1]:
                if not isinstance(found[1][0], str):
                    return  # a computed map name could be any of them
                used.add(found[1][0])
        maps = {name: body for name, body in out["Mappings"].items() if name in used}
        if maps:
            out["Mappings"] = maps
        else:
            del out["Mappings"]

    def prune_parameters(self, out: dict[str, Any]) -> None:
        if "Parameters" not in out:
            return
        used: set[str] = set()
        # Template Metadata is passed through unevaluated, so a Ref there is no use.
        evaluated = {k: v for k, v in out.items() if k not in ("Parameters", "Metadata")}
        for node in _walk(evaluated):
            found = _intrinsic(node)
            if found and found[0] == "Ref" and isinstance(found[1], str):
                used.add(found[1])
            elif found and found[0] == "Fn::Sub":
                used |= _sub_names(found[1])
        params = {name: spec for name, spec in out["Parameters"].items() if name in used}
        if params:
            out["Parameters"] = params
        else:
            del out["Parameters"]

    # -- conditions ----------------------------------------------------------------------

    def condition(self, name: str) -> bool | None:
        """True or False once its operands are known; None while it depends on an input."""
        if name in self.results:
            return self.results[name]
        if name not in self.conditions:
            raise self.error(f"condition {name!r} is not defined in Conditions")
        if name in self.evaluating:
            raise self.error(f"condition {name!r} depends on itself")
        self.evaluating.append(name)
        state = self.evaluate(self.conditions[name])
        self.evaluating.pop()
        self.results[name] = state
        return state

    def evaluate(self, expression: Any) -> bool | None:
        """Fn::Equals, Fn::Not, Fn::And, Fn::Or and Condition; None if an operand is unknown."""
        found = _intrinsic(expression)
        if found is None:
            return None
        function, arg = found
        if function == "Condition":
            return self.condition(arg) if isinstance(arg, str) else None
        operands = arg if isinstance(arg, list) else []
        if function == "Fn::Equals" and len(operands) == 2:
            left, right = self.value(operands[0]), self.value(operands[1])
            both = _is_literal(left) and _is_literal(right)
            return _text(left) == _text(right) if both else None
        if function == "Fn::Not" and len(operands) == 1:
            state = self.evaluate(operands[0])
            return None if state is None else not state
        if function in ("Fn::And", "Fn::Or") and operands:
            return self.connective(function == "Fn::Or", operands)
        return None

    def connective(self, decisive: bool, operands: list[Any]) -> bool | None:
        """Kleene logic: And with one false operand is false even if another is unknown."""
        states = [self.evaluate(operand) for operand in operands]
        if decisive in states:
            return decisive
        return None if None in states else not decisive

    # -- values --------------------------------------------------------------------------

    def value(self, node: Any) -> Any:
        """``node`` with every known intrinsic evaluated; ``_NO_VALUE`` for AWS::NoValue."""
        if isinstance(node, list):
            return [item for item in map(self.value, node) if item is not _NO_VALUE]
        if isinstance(node, dict):
            found = _intrinsic(node)
            if found is not None and found[0] in self.intrinsics:
                return self.intrinsics[found[0]](found[1])
            resolved = {key: self.value(item) for key, item in node.items()}
            return {key: item for key, item in resolved.items() if item is not _NO_VALUE}
        return node

    def kept(self, node: Any) -> Any:
        """A value that stays inside an unevaluated intrinsic, so NoValue must stay spelled out."""
        resolved = self.value(node)
        return {"Ref": "AWS::NoValue"} if resolved is _NO_VALUE else resolved

    def ref(self, name: Any) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if isinstance(name, str) and name in self.values:
            return copy.deepcopy(self.values[name])
        return {"Ref": self.kept(name)}

    def find_in_map(self, args: Any) -> Any:
        if not isinstance(args, list) or len(args) not in (3, 4):
            return {"Fn::FindInMap": self.kept(args)}
        resolved = [self.kept(arg) for arg in args]
        resolved[1] = self.map_key(args[1])
        keys = resolved[:3]
        if not all(_is_literal(key) for key in keys):
            return {"Fn::FindInMap": resolved}
        default = resolved[3] if len(resolved) == 4 else None
        return self.lookup(keys[0], keys[1], keys[2], default)

    def map_key(self, top: Any) -> Any:
        """A FindInMap's top key: ``map_region`` stands for ``AWS::Region`` there."""
        if self.map_region is not None and top == _REGION_REF:
            return self.map_region
        return self.kept(top)

    def lookup(self, map_name: Any, top: Any, second: Any, default: Any) -> Any:
        has_default = isinstance(default, dict) and "DefaultValue" in default
        name = _text(map_name)
        if name not in self.mappings:
            raise self.error(f"Fn::FindInMap names Mapping {name!r}, which is not defined")
        entries = {_text(key): body for key, body in self.mappings[name].items()}
        top_key, second_key = _text(top), _text(second)
        if top_key not in entries:
            if has_default:
                return default["DefaultValue"]
            raise self.error(
                f"{name} has no entry for {top_key!r}", f"it has {', '.join(sorted(entries))}"
            )
        values = {_text(key): body for key, body in entries[top_key].items()}
        if second_key not in values:
            if has_default:
                return default["DefaultValue"]
            raise self.error(f"{name}.{top_key} has no key {second_key!r}")
        return copy.deepcopy(values[second_key])

    def fn_if(self, args: Any) -> Any:
        if not (isinstance(args, list) and len(args) == 3 and isinstance(args[0], str)):
            return {"Fn::If": self.kept(args)}
        state = self.condition(args[0])
        if state is None:
            return {"Fn::If": [args[0], self.kept(args[1]), self.kept(args[2])]}
        return self.value(args[1] if state else args[2])

    def sub(self, arg: Any) -> Any:
        """Substitute known names; a Sub left with no variables becomes its plain string."""
        if isinstance(arg, str):
            text, local = arg, {}
        elif (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)
              and isinstance(arg[1], dict)):
            text, local = arg[0], self.value(arg[1])
        else:
            return {"Fn::Sub": self.kept(arg)}

        def known(name: str) -> str | None:
            if name in local:
                return _text(local[name]) if _is_literal(local[name]) else None
            found = self.values.get(name)
            return _text(found) if _is_literal(found) else None

        # A Sub that CloudFormation must still evaluate keeps ``${AWS::Partition}`` where it
        # was written (``arn:${AWS::Partition}:iam::${AWS::AccountId}:root``): cfn-lint's I3042
        # reads a literal partition in a Sub's ARN as hard-coded. The partition is no switch.
        names = [m.group(1) for m in _SUB_VARIABLE.finditer(text)]
        stays = any(not name.startswith("!") and known(name) is None for name in names)

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            kept = name.startswith("!") or (stays and name == _PARTITION and name not in local)
            found = None if kept else known(name)
            # A substituted "${" must not read as a variable on a later pass.
            return match.group(0) if found is None else found.replace("${", "${!")

        text = _SUB_VARIABLE.sub(substitute, text)
        local = {name: item for name, item in local.items() if not _is_literal(item)}
        if local:
            return {"Fn::Sub": [text, local]}
        if any(not m.group(1).startswith("!") for m in _SUB_VARIABLE.finditer(text)):
            return {"Fn::Sub": text}
        return text.replace("${!", "${")

    def join(self, args: Any) -> Any:
        resolved = self.kept(args)
        if (isinstance(resolved, list) and len(resolved) == 2 and isinstance(resolved[0], str)
                and isinstance(resolved[1], list)
                and all(isinstance(item, str) for item in resolved[1])):
            return resolved[0].join(resolved[1])
        return {"Fn::Join": resolved}

    def select(self, args: Any) -> Any:
        resolved = self.kept(args)
        if isinstance(resolved, list) and len(resolved) == 2 and isinstance(resolved[1], list):
            index, items = resolved
            if isinstance(index, str) and index.isdigit():
                index = int(index)
            if isinstance(index, int) and not isinstance(index, bool) and (
                0 <= index < len(items)
            ):
                return items[index]
        return {"Fn::Select": resolved}

    def split(self, args: Any) -> Any:
        resolved = self.kept(args)
        if (isinstance(resolved, list) and len(resolved) == 2
                and all(isinstance(part, str) for part in resolved)):
            return resolved[1].split(resolved[0])
        return {"Fn::Split": resolved}
