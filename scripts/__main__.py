"""``python -m scripts`` is the same as ``webstack``."""

from scripts.cli import run

run()
