"""Per-resource stack events, failures injected on purpose, and time.

resource_events
    moto records only stack-level events (CREATE_IN_PROGRESS ... CREATE_COMPLETE of the stack
    itself), so the watcher never sees which resource is being created, nor a nested stack's
    id, nor which resource failed and why. The patch records CREATE/UPDATE _IN_PROGRESS,
    _COMPLETE and _FAILED (with the reason) for every resource, with its physical id; a nested
    stack's physical id is the child stack's id, as the watcher follows it.
retained_resource_events
    When a stack is deleted, or a create rolls back, CloudFormation keeps each resource whose
    DeletionPolicy is Retain and says so with a DELETE_SKIPPED event (with its physical id)
    in the events of the stack that held it; moto keeps the resource silently, so nothing
    tells what a failed create left outside the stack. The patch records the event.

Failure injection (not a moto gap: a feature of the endpoint). The server is started with
``--failures FILE`` (``webstack local up`` passes ``<state dir>/failures.json``); the file is
read at every resource create or update, so failures can be added and cleared while the server
runs (``webstack local fail``). Each entry is ``{"resource": LogicalId, "on": "create" or
"update", "reason": text, "stack": optional substring of the stack name}``; a matching
resource fails with that reason, and the stack rolls back as CloudFormation rolls it back
(lifecycle.py). Entries never fire while a rollback re-applies the previous template.

Timed mode (also a feature): started with ``--resource-seconds S`` (``webstack local up
--timed S``), ExecuteChangeSet answers at once and the stack works in the background, each
resource IN_PROGRESS for S seconds, so stacks are seen *_IN_PROGRESS and events arrive over
time, as on AWS, and the watcher's polling is exercised for real.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from scripts.local.moto_shim.support import (
    PROBE_RESOURCES,
    Patch,
    Probe,
    cloudformation,
    require,
)

ACTIONS: Final = ("create", "update")
STACK_TYPE: Final = "AWS::CloudFormation::Stack"
_settings: dict[str, Any] = {"file": None, "seconds": 0.0}
_state = threading.local()
_deleting: dict[str, Any] = {}  # stack id -> the stack moto's Stack.delete is deleting


class InjectedFailure(Exception):
    """A resource failing because a failures file said so."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def configure(path: Path | None, resource_seconds: float = 0.0) -> None:
    """Read failures from ``path`` from now on (None: no injection); let each resource take
    ``resource_seconds`` (0: everything completes within the API call)."""
    _settings["file"] = path
    _settings["seconds"] = max(0.0, float(resource_seconds))


def resource_seconds() -> float:
    return float(_settings["seconds"])


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """No injected failure fires inside (a rollback re-applying the previous state)."""
    depth = int(getattr(_state, "suspended", 0))
    _state.suspended = depth + 1
    try:
        yield
    finally:
        _state.suspended = depth


def injected(stack_name: str, logical_id: str, action: str) -> str | None:
    """The reason ``logical_id`` must fail on ``action`` in ``stack_name``, if it must."""
    path: Path | None = _settings["file"]
    if path is None or int(getattr(_state, "suspended", 0)):
        return None
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for entry in entries if isinstance(entries, list) else []:
        if (entry.get("resource") == logical_id and entry.get("on") == action
                and str(entry.get("stack") or "") in stack_name):
            return str(entry.get("reason") or "Injected failure")
    return None


def _stack(resources_map: Any) -> Any:
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[resources_map._account_id][resources_map._region_name]
    # DeleteStack takes a stack out of the backend's stacks before it deletes its resources.
    return backend.stacks.get(resources_map.stack_id) or _deleting.get(resources_map.stack_id)


def record(resources_map: Any, logical_id: str, resource_type: str, status: str, *,
           physical_id: str = "", reason: str | None = None) -> None:
    from moto.cloudformation.models import Event

    stack = _stack(resources_map)
    if stack is None:
        return
    stack.events.append(Event(
        stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
        physical_resource_id=physical_id, resource_type=resource_type,
        resource_status=status, resource_status_reason=reason, resource_properties=None))


def physical_id(resource: Any) -> str:
    if resource is None:
        return ""
    return str(getattr(resource, "stack_id", None) or getattr(resource, "physical_resource_id",
                                                              "") or "")


def around(resources_map: Any, logical_id: str, resource_json: dict[str, Any], action: str,
           call: Callable[[], Any]) -> Any:
    """Run moto's create or update of one resource between its events; inject a failure."""
    kind = str(resource_json.get("Type", ""))
    verb = action.upper()
    condition = resource_json.get("Condition")
    if condition and not resources_map.lazy_condition_map[condition]:
        return call()
    record(resources_map, logical_id, kind, f"{verb}_IN_PROGRESS")
    if resource_seconds() and not int(getattr(_state, "suspended", 0)):
        time.sleep(resource_seconds())
    try:
        reason = injected(str(resources_map["AWS::StackName"]), logical_id, action)
        if reason:
            raise InjectedFailure(reason)
        resource = call()
    except Exception as err:
        message = str(getattr(err, "message", "") or err) or type(err).__name__
        child = str(getattr(err, "webstack_stack_id", "") or "")
        if kind == STACK_TYPE and child:
            message = (f"Embedded stack {child} was not successfully {action}d: "
                       f"The following resource(s) failed to {action}: "
                       f"[{getattr(err, 'webstack_logical_id', '')}].")
        record(resources_map, logical_id, kind, f"{verb}_FAILED", physical_id=child,
               reason=message)
        err.webstack_logical_id = logical_id  # type: ignore[attr-defined]
        raise
    record(resources_map, logical_id, kind, f"{verb}_COMPLETE",
           physical_id=physical_id(resource))
    return resource


def patches() -> list[Patch]:
    """The delete hook; updates.py owns the create/update hooks and calls around()."""
    from moto.cloudformation import models, parsing

    require(parsing.ResourceMap, "delete")
    require(models.Stack, "delete")
    stock_delete: Callable[[Any], None] = parsing.ResourceMap.delete
    stock_stack_delete: Callable[[Any], None] = models.Stack.delete

    def stack_delete(self: Any) -> None:
        _deleting[self.stack_id] = self
        try:
            stock_stack_delete(self)
        finally:
            _deleting.pop(self.stack_id, None)

    def delete(self: Any) -> None:
        for logical_id, resource_json in self._resource_json_map.items():
            made = self._parsed_resources.get(logical_id)
            if resource_json.get("DeletionPolicy") == "Retain" and made is not None \
                    and not isinstance(made, str):
                record(self, logical_id, str(resource_json.get("Type", "")), "DELETE_SKIPPED",
                       physical_id=physical_id(made))
        stock_delete(self)

    return [(parsing.ResourceMap, "delete", delete), (models.Stack, "delete", stack_delete)]


def _probe_resource_events() -> bool:
    from moto import mock_aws

    with mock_aws():
        stack = cloudformation().create_stack("probe", json.dumps(PROBE_RESOURCES),
                                              parameters={})
        return not any(e.logical_resource_id == "Topic" for e in stack.events)


def _probe_retained_resource_events() -> bool:
    from moto import mock_aws

    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "DeletionPolicy": "Retain"}}}
    with mock_aws():
        backend = cloudformation()
        stack = backend.create_stack("probe", json.dumps(template), parameters={})
        backend.delete_stack(stack.stack_id)
        return not any(e.resource_status == "DELETE_SKIPPED" for e in stack.events)


PROBES: dict[str, Probe] = {"resource_events": _probe_resource_events,
                            "retained_resource_events": _probe_retained_resource_events}
