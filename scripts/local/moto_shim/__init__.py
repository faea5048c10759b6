"""The local AWS endpoint: moto's server and the one place that patches moto.

See registry.py for how gaps, patches and probes fit together, and CONFORMANCE.md for what the
endpoint does the way CloudFormation does, what is patched here, and what it does not simulate.
"""

from scripts.local.moto_shim.registry import NEEDED, apply, shimmed_moto_gaps, stock_moto_gaps
from scripts.local.moto_shim.server import main, serve
from scripts.local.moto_shim.support import ShimError

__all__ = ["NEEDED", "ShimError", "apply", "main", "serve", "shimmed_moto_gaps",
           "stock_moto_gaps"]
