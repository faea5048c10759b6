"""Gate findings where reviewers look: SARIF (code scanning) and JUnit, by cfn-lint's formatters.

The formatters are cfn-lint's own (``cfnlint.formatters``); this module only turns the gate's
findings back into cfn-lint matches. A finding in a resolved text names its environment and
regions in the message (``[prod, resolved for eu-west-1] ...``) and points at the file the text
was resolved from, on the line of the deepest node of its path that the file has (the resolved
text exists only in memory, so its own line numbers would point nowhere).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Final

from scripts.build.gate import Finding, Gate
from scripts.paths import REPO_ROOT

FORMATS: Final = ("sarif", "junit")
RESOLVE_RULE: Final = "E9100"


def _resolve_rule() -> Any:
    from cfnlint.rules import CloudFormationLintRule

    class Unresolvable(CloudFormationLintRule):  # type: ignore[misc]
        """A finding the gate makes itself: the set does not resolve for an environment."""

        id = RESOLVE_RULE
        shortdesc = "Every environment and region resolves"
        description = ("webstack resolves the set for every environment and region; one that "
                       "cannot be resolved (a missing Mapping key, a bad condition) fails")
        source_url = "README.md#the-gate"

    return Unresolvable()


@cache
def _decoded(path: Path) -> Any:
    from cfnlint.decode.decode import decode_str

    try:
        template, _errors = decode_str(path.read_text(encoding="utf-8"))
    except OSError:
        return None
    return template


def _file_span(file: str, path: Sequence[str]) -> tuple[int, int, int, int]:
    """The line of the deepest node of ``path`` the file itself has (1 if none)."""
    node = _decoded(REPO_ROOT / file)
    span = (1, 1, 1, 1)
    for part in path:
        if isinstance(node, dict) and part in node:
            key = next(k for k in node if k == part)
            mark = getattr(key, "start_mark", None)
            if mark is not None:
                span = (mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 1)
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            break
    return span


def _match(finding: Finding, rules: Any) -> Any:
    from cfnlint.match import Match

    file, _, context = finding.template.partition(" [")
    message = f"[{context} {finding.message}" if context else finding.message
    span = _file_span(file, finding.path) if context else finding.span
    rule = finding.rule
    if rule == "resolve":  # the gate's own: the set does not resolve (where = env/region)
        rule, message = RESOLVE_RULE, f"[{finding.location}] {finding.message}"
    return Match(message=message, rule=rules[rule], filename=file,
                 linenumber=span[0], columnnumber=span[1], linenumberend=span[2],
                 columnnumberend=span[3])


def formatted(findings: Sequence[Finding], gate: Gate, fmt: str) -> str:
    """The findings as cfn-lint's SARIF or JUnit formatter writes them."""
    from cfnlint.formatters import JUnitFormatter, SARIFFormatter
    from cfnlint.rules import Rules

    config = gate.config()
    rules = Rules(dict(gate.rules.data))
    rules.register(_resolve_rule())
    for rule_id, rule in gate.rules.data.items():  # every enabled rule ran on every text
        if rules.is_rule_enabled(rule, config):
            list(rules.run_check(tuple, "", rule_id, config, {rule_id}))
    matches = [_match(finding, rules) for finding in findings]
    formatter = SARIFFormatter() if fmt == "sarif" else JUnitFormatter()
    return str(formatter.print_matches(matches, rules, config))
