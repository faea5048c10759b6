"""cfn-lint's E3062 with its schema indexed by engine: the same findings in a fraction of the time.

E3062 checks a DB instance's class against its engine and version with one schema of 980
``if``/``then`` entries (14 engines x 70 versions), and cfn-lint evaluates every ``if`` for every
DB instance: over half of the time the gate spends on the database template. Each ``if``
requires ``Engine`` to equal one constant, so for an instance whose ``Engine`` is a literal only
that engine's entries can apply; the rest fail their ``if`` and add nothing. The replacement
keeps those entries, in their order, and hands cfn-lint the same schema otherwise; an ``Engine``
that is not a literal (a Ref, a FindInMap) gets every entry, as before.

``install`` swaps it in only when the bundled rule and schema have exactly the shape this relies
on; after a cfn-lint bump that changes them the stock rule stays (slower, never wrong).
tests/test_gate_merged.py proves the verdicts equal on every engine, version and class the
schema names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

RULE_ID = "E3062"
STOCK_CLASS = "DbInstanceDbInstanceClassWithEngine"


def _engine_of(entry: Any) -> str | None:
    """The engine constant an entry's ``if`` requires, or None when it is not that shape."""
    if not isinstance(entry, dict) or set(entry) != {"if", "then"}:
        return None
    condition = entry["if"]
    if not isinstance(condition, dict) or "Engine" not in (condition.get("required") or ()):
        return None
    engine = ((condition.get("properties") or {}).get("Engine") or {}).get("const")
    return engine if isinstance(engine, str) else None


def index_entries(schema: Any) -> dict[str, list[Any]] | None:
    """engine -> its entries in schema order; None when some entry is not keyed by an engine."""
    entries = schema.get("allOf") if isinstance(schema, dict) else None
    if not isinstance(entries, list) or set(schema) - {"allOf", "description"}:
        return None
    index: dict[str, list[Any]] = {}
    for entry in entries:
        engine = _engine_of(entry)
        if engine is None:
            return None
        index.setdefault(engine, []).append(entry)
    return index


def indexed_rule(stock: Any, by_engine: dict[str, list[Any]]) -> Any:
    """An E3062 of the loaded rule's own class (cfn-lint loads its rules from their files, so
    the class is taken from the instance, not imported) that validates against its instance's
    engine's entries only. It takes over the stock rule's state rather than loading the 5 MB
    schema a second time."""

    class IndexedDbInstanceClassWithEngine(type(stock)):  # type: ignore[misc]
        by_engine: dict[str, list[Any]]

        def validate(self, validator: Any, keywords: Any, instance: Any,
                     schema: Any) -> Iterator[Any]:
            engine = instance.get("Engine") if isinstance(instance, dict) else None
            narrowed = dict(self._schema)
            if isinstance(engine, str):
                # the stock rule lower-cases Engine before it validates; so does the index
                narrowed["allOf"] = self.by_engine.get(engine.lower(), [])
            yield from super().validate(validator, keywords, instance, narrowed)

    replacement = IndexedDbInstanceClassWithEngine.__new__(IndexedDbInstanceClassWithEngine)
    replacement.__dict__.update(vars(stock))
    replacement.by_engine = by_engine
    replacement._use_schema_arg = True  # validate() is handed the narrowed schema
    return replacement


def install(rules: Any) -> bool:
    """Swap the indexed E3062 into cfn-lint's rule collection; False if the stock one stays.

    cfn-lint wires child rules (E3062 under E1101) from its collection on every run, so
    replacing the entry is enough.
    """
    stock = rules.data.get(RULE_ID)
    if type(stock).__name__ != STOCK_CLASS or getattr(stock, "_use_schema_arg", True):
        return False
    by_engine = index_entries(getattr(stock, "schema", None))
    if by_engine is None:
        return False
    rules.data[RULE_ID] = indexed_rule(stock, by_engine)
    return True
