"""placeholder"""

from __future__ import annotations

from scripts.local.moto_shim.support import Patch, Probe


def patches() -> list[Patch]:
    return []


PROBES: dict[str, Probe] = {}
