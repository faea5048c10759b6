"""What every part of the shim shares: its error, the check that moto still has what a patch
hooks into, and the in-process backends the probes run against."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from scripts.errors import Exit, WebstackError

# One patch: (owner, attribute, replacement). A probe: True while stock moto still has the gap.
Patch = tuple[Any, str, Any]
Probe = Callable[[], bool]

PROBE_REGION = "us-east-1"
PROBE_BUCKET = "webstack-shim-probe"
PROBE_OUTPUT = {"Outputs": {"Value": {"Value": "probe"}}}
PROBE_RESOURCES = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}


class ShimError(WebstackError):
    exit_code = Exit.AWS


def require(owner: Any, *names: str) -> None:
    """Fail loudly when moto no longer has what a patch hooks into."""
    missing = [name for name in names if not hasattr(owner, name)]
    if missing:
        import moto

        where = getattr(owner, "__name__", repr(owner))
        raise ShimError(f"moto {moto.__version__} has no {where}.{', '.join(missing)}; "
                        "scripts/local/moto_shim/ needs updating for this moto version")


def cloudformation(region: str = PROBE_REGION) -> Any:
    from moto.cloudformation.models import cloudformation_backends
    from moto.core.models import DEFAULT_ACCOUNT_ID

    return cloudformation_backends[DEFAULT_ACCOUNT_ID][region]


def backend(service: str, region: str = PROBE_REGION) -> Any:
    """moto's backend of ``service`` (``rds``, ``s3``, ``ec2`` ...) in the default account."""
    import importlib

    from moto.core.models import DEFAULT_ACCOUNT_ID

    module = importlib.import_module(f"moto.{service}.models")
    backends = getattr(module, f"{service}_backends")
    return backends[DEFAULT_ACCOUNT_ID]["aws" if service == "s3" else region]


def output_value(stack: Any) -> Any:
    try:
        outputs = stack.outputs or []
    except AttributeError:  # stock moto: Stack has no get_cfn_attribute
        return None
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}.get("Value")


def template(resources: dict[str, Any], **sections: Any) -> str:
    return json.dumps({"Resources": resources, **sections})


# A child stack whose topic's name is its one parameter, for probes of nested updates.
PROBE_CHILD = {"Parameters": {"Name": {"Type": "String"}},
               "Resources": {"Topic": {"Type": "AWS::SNS::Topic",
                                       "Properties": {"DisplayName": {"Ref": "Name"}}}}}


def nested_parent(value: str) -> str:
    """A parent nesting PROBE_CHILD (put by ``put_probe_child``) with Name=``value``."""
    return json.dumps({"Resources": {"Child": {
        "Type": "AWS::CloudFormation::Stack", "Properties": {
            "TemplateURL": f"http://localhost:5000/{PROBE_BUCKET}/child.json",
            "Parameters": {"Name": value}}}}})


def put_probe_child() -> None:
    """PROBE_CHILD in the probe bucket, where ``nested_parent``'s TemplateURL reads it."""
    s3 = backend("s3")
    s3.create_bucket(PROBE_BUCKET, PROBE_REGION)
    s3.put_object(PROBE_BUCKET, "child.json", json.dumps(PROBE_CHILD).encode())
