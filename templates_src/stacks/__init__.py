"""One module per nested stack; ``CHILDREN`` is the deployment (and wiring) order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from troposphere import Template

from templates_src.stacks import compute, database, iam, monitoring, network, security, storage

CHILDREN: Final[dict[str, Callable[[], Template]]] = {
    "network": network.build,
    "security": security.build,
    "storage": storage.build,
    "iam": iam.build,
    "database": database.build,
    "compute": compute.build,
    "monitoring": monitoring.build,
}
ROOT: Final = "root"

