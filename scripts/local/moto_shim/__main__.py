"""``python -m scripts.local.moto_shim --host 127.0.0.1 --port N``: the local endpoint."""

from scripts.local.moto_shim.server import main

raise SystemExit(main())
