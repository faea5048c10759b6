"""One module per nested stack; ``CHILDREN`` is the deployment (and wiring) order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from troposphere import Template

from templates_src.stacks import compute, database, iam, monitoring, network, security, storage

# Storage comes first: it needs nothing, and its data key encrypts what the others create.
CHILDREN: Final[dict[str, Callable[[], Template]]] = {
    "storage": storage.build,
    "network": network.build,
    "security": security.build,
    "iam": iam.build,
    "database": database.build,
    "compute": compute.build,
    "monitoring": monitoring.build,
}
ROOT: Final = "root"

