"""CloudFormation YAML in and out: short-form intrinsics, sorted keys, byte-stable."""

from __future__ import annotations

from typing import Any

import yaml

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Functions written in short form (``!Ref x``). Fn::GetAtt becomes ``!GetAtt A.B``.
SHORT_FORMS = {
    "Ref": "!Ref",
    "Condition": "!Condition",
    **{f"Fn::{name}": f"!{name}" for name in (
        "And", "Base64", "Cidr", "Equals", "FindInMap", "GetAtt", "GetAZs", "If",
        "ImportValue", "Join", "Not", "Or", "Select", "Split", "Sub",
    )},
}
_LONG_FORMS = {short: long for long, short in SHORT_FORMS.items()}


class _Tagged:
    __slots__ = ("tag", "value")

    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value


class _Dump(_Dumper):  # type: ignore[misc,valid-type]
    def ignore_aliases(self, data: Any) -> bool:
        return True  # a template never shares nodes by anchor, even where values repeat


def _represent_tagged(dumper: yaml.SafeDumper, data: _Tagged) -> yaml.Node:
    value = data.value
    if isinstance(value, str):
        return dumper.represent_scalar(data.tag, value)
    if isinstance(value, list):
        return dumper.represent_sequence(data.tag, value)
    return dumper.represent_mapping(data.tag, value)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dump.add_representer(_Tagged, _represent_tagged)
_Dump.add_representer(str, _represent_str)


def _shorten(node: Any) -> Any:
    if isinstance(node, dict):
        if len(node) == 1:
            ((key, value),) = node.items()
            if key in SHORT_FORMS and not (key == "Condition" and not isinstance(value, str)):
                if key == "Fn::GetAtt" and isinstance(value, list) and all(
                    isinstance(part, str) for part in value
                ):
                    return _Tagged("!GetAtt", ".".join(value))
                return _Tagged(SHORT_FORMS[key], _shorten(value))
        return {key: _shorten(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_shorten(item) for item in node]
    return node


def dump(template: dict[str, Any]) -> str:
    """The YAML text written to build/: sorted keys, short-form intrinsics, no aliases."""
    text: str = yaml.dump(
        _shorten(template), Dumper=_Dump, sort_keys=True, default_flow_style=False,
        width=100, allow_unicode=True,
    )
    return text


class _Load(_Loader):  # type: ignore[misc,valid-type]
    pass


def _construct_tagged(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    tag = "!" + tag_suffix
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag == "!GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag not in _LONG_FORMS:
        raise yaml.constructor.ConstructorError(None, None, f"unknown tag {tag}", node.start_mark)
    return {_LONG_FORMS[tag]: value}


_Load.add_multi_constructor("!", _construct_tagged)


def load(text: str) -> dict[str, Any]:
    """Parse CloudFormation YAML (short or long form) into plain dicts and lists."""
    data = yaml.load(text, Loader=_Load)
    if not isinstance(data, dict):
        raise ValueError("a CloudFormation template must be a mapping at the top level")
    return data
