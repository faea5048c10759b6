"""The gate's indexed E3062 (scripts/build/indexed_rules.py) finds exactly what cfn-lint's own
finds: same rule, same place, same message, on classes that fit their engine and version and
classes that do not, for engines spelled in any case, and for an engine behind a Ref."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scripts.build import indexed_rules, yamlio
from scripts.build.gate import LintTarget


def _instance(engine: Any, version: str, klass: str) -> dict[str, Any]:
    return {"Type": "AWS::RDS::DBInstance", "DeletionPolicy": "Snapshot",
            "UpdateReplacePolicy": "Snapshot",
            "Properties": {"Engine": engine, "EngineVersion": version, "DBInstanceClass": klass,
                           "AllocatedStorage": "20", "MasterUsername": "app",
                           "ManageMasterUserPassword": True, "StorageEncrypted": True}}


# (engine, version, class): classes that fit, classes that do not, an engine in capitals, an
# engine with no entries, and an engine the linter cannot read.
INSTANCES = {
    "PostgresFits": ("postgres", "13.23", "db.t3.micro"),
    "PostgresWrongClass": ("postgres", "13.23", "db.m1.small"),
    "PostgresCapitals": ("Postgres", "13.23", "db.m1.small"),
    "MysqlWrongClass": ("mysql", "8.0.39", "db.m1.small"),
    "AuroraWrongClass": ("aurora-postgresql", "16.10", "db.m1.small"),
    "SqlserverFits": ("sqlserver-ex", "15.00.4415.2.v1", "db.t3.small"),
    "UnknownEngine": ("oracle-ee", "19", "db.m1.small"),
    "EngineByRef": ({"Ref": "Engine"}, "13.23", "db.m1.small"),
}


def _template() -> str:
    return yamlio.dump({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"Engine": {"Type": "String", "Default": "postgres",
                                  "AllowedValues": ["postgres", "mysql"]}},
        "Resources": {name: _instance(*spec) for name, spec in INSTANCES.items()},
    })


def _e3062(matches: list[Any]) -> set[tuple[str, str]]:
    return {(json.dumps([str(p) for p in m.path]), m.message) for m in matches
            if m.rule.id == indexed_rules.RULE_ID}


def test_the_gate_runs_the_indexed_rule(gate):
    assert type(gate.rules.data["E3062"]).__name__ == "IndexedDbInstanceClassWithEngine"


def test_indexed_e3062_finds_exactly_what_cfn_lints_own_finds(gate):
    from cfnlint.api import ManualArgs, lint

    text = _template()
    stock = _e3062(lint(text, config=ManualArgs(regions=list(gate.regions))))
    ours = {(json.dumps(list(f.path)), f.message)
            for f in gate.lint(LintTarget("t.yaml", text, gate.regions))
            if f.rule == indexed_rules.RULE_ID}
    assert ours == stock
    flagged = {json.loads(path)[1] for path, _ in ours}
    # The comparison means something only if the stock rule flags the misfits and not the fits.
    assert {"PostgresWrongClass", "PostgresCapitals", "MysqlWrongClass",
            "AuroraWrongClass"} <= flagged
    assert not flagged & {"PostgresFits", "SqlserverFits", "UnknownEngine"}


def test_every_entry_of_the_bundled_schema_is_keyed_by_one_engine(gate):
    stock_class = type(gate.rules.data["E3062"]).__mro__[1]
    schema = stock_class().schema
    index = indexed_rules.index_entries(schema)
    assert index is not None
    assert sum(map(len, index.values())) == len(schema["allOf"])


@pytest.mark.parametrize("shape", ["else", "no engine", "engine not required", "extra key"])
def test_a_schema_of_another_shape_keeps_the_stock_rule(shape):
    entry = {"if": {"properties": {"Engine": {"const": "postgres"}},
                    "required": ["Engine", "EngineVersion"]},
             "then": {"properties": {"DBInstanceClass": {"enum": ["db.t3.micro"]}}}}
    schema: dict[str, Any] = {"allOf": [entry]}
    assert indexed_rules.index_entries(schema) == {"postgres": [entry]}
    if shape == "else":
        entry["else"] = {}
    elif shape == "no engine":
        entry["if"]["properties"].pop("Engine")
    elif shape == "engine not required":
        entry["if"]["required"] = ["EngineVersion"]
    else:
        schema["oneOf"] = []
    assert indexed_rules.index_entries(schema) is None
