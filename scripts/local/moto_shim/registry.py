"""The local AWS endpoint: moto's server plus the fixes that make it behave like CloudFormation.

This package is the only place that patches moto. Each module closes a family of gaps measured
on the pinned moto 5.2.5; every gap has a name, a patch and a probe. ``stock_moto_gaps()`` runs
the probes on stock moto, so a test fails when an upgrade fixes a gap (drop that patch) or moves
the code a patch hooks into; ``shimmed_moto_gaps()`` runs them with the shim applied (all must
be closed). CONFORMANCE.md beside this file lists every CloudFormation behaviour webstack relies
on and whether the endpoint does the same, is patched here, or does not simulate it.

To add a gap: write ``patches()`` entries and a probe in the module of its family (or a new
module listed in ``MODULES``), name it in the module's ``PROBES`` and in CONFORMANCE.md.
Two modules never patch the same attribute: the one that owns it composes the behaviour.

Run it with ``python -m scripts.local.moto_shim --host 127.0.0.1 --port N``; ``webstack local
up`` does that in the background (see scripts/local/endpoint.py).
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

from scripts.local.moto_shim import (
    alarms,
    changes,
    drift,
    failures,
    lifecycle,
    logs,
    names,
    network,
    parameters,
    rds,
    resolved,
    templates,
    updates,
)
from scripts.local.moto_shim.support import Patch, Probe, ShimError

MODULES: tuple[ModuleType, ...] = (templates, lifecycle, parameters, names, updates, changes,
                                   failures, rds, alarms, drift, logs, network, resolved)
PROBES: dict[str, Probe] = {name: probe for module in MODULES
                            for name, probe in module.PROBES.items()}
NEEDED: tuple[str, ...] = tuple(PROBES)

_MISSING = object()
_lock = threading.RLock()
# (owner, attribute, stock value or _MISSING, replacement), built once from stock moto.
_installed: list[tuple[Any, str, Any, Any]] = []


def patches() -> list[Patch]:
    """Every (owner, attribute, replacement) of every module; one owner per attribute."""
    found: list[Patch] = [patch for module in MODULES for patch in module.patches()]
    seen: set[tuple[int, str]] = set()
    for owner, name, _new in found:
        if (id(owner), name) in seen:
            raise ShimError(f"two shim modules patch {getattr(owner, '__name__', owner)}.{name}")
        seen.add((id(owner), name))
    return found


def apply() -> None:
    """Patch moto in this process; safe to call again."""
    with _lock:
        if not _installed:
            _installed.extend(
                (owner, name, owner.__dict__.get(name, _MISSING), new)
                for owner, name, new in patches()
            )
        _install(patched=True)


def stock_moto_gaps() -> dict[str, bool]:
    """Which gaps stock moto still has (True: the patch for it is still needed)."""
    with _lock:
        was_applied = _applied()
        _install(patched=False)
        try:
            return {name: probe() for name, probe in PROBES.items()}
        finally:
            _install(patched=was_applied)


def shimmed_moto_gaps() -> dict[str, bool]:
    """The same probes with the shim applied (all False when it works); leaves moto as found."""
    with _lock:
        was_applied = _applied()
        apply()
        try:
            return {name: probe() for name, probe in PROBES.items()}
        finally:
            _install(patched=was_applied)


def _applied() -> bool:
    return bool(_installed) and all(
        owner.__dict__.get(name) is new for owner, name, _stock, new in _installed
    )


def _install(*, patched: bool) -> None:
    for owner, name, stock, new in _installed:
        if patched:
            setattr(owner, name, new)
        elif stock is _MISSING:
            if name in owner.__dict__:
                delattr(owner, name)
        else:
            setattr(owner, name, stock)
