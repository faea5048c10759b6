"""The lint gate: cfn-lint with warnings fatal, the project rules, and every resolved set.

One rule collection is built and reused for every template (building it is most of
cfn-lint's fixed cost). The parameterized templates are linted as written; each
environment's resolved templates are linted too, because cfn-lint cannot see values
behind FindInMap. Identical resolved texts are linted once, with every region that
produced them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scripts import yamlio
from scripts.errors import SourceError
from scripts.paths import LINT_CONFIG, REPO_ROOT


@dataclass(frozen=True, order=True)
class Finding:
    """One gate finding, printable as a single line."""

    template: str
    location: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.template}:{self.location}: {self.rule} {self.message}"


@dataclass(frozen=True)
class LintTarget:
    """A template text to lint, a label for reports, and the regions it is meant for."""

    label: str
    text: str
    regions: tuple[str, ...]
    resolved: bool = False


def load_lint_config(path: Path = LINT_CONFIG) -> dict[str, Any]:
    """The repo's .cfnlintrc.yaml, with rule folders made absolute so any cwd works."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise SourceError(f"cannot read lint config {path}: {err}; restore it from git") from err
    config: dict[str, Any] = {key: value for key, value in raw.items() if key != "templates"}
    config["append_rules"] = [
        str((path.parent / rule_dir).resolve()) for rule_dir in raw.get("append_rules", [])
    ]
    return config


class Gate:
    """A reusable cfn-lint runner configured from .cfnlintrc.yaml."""

    def __init__(self, config_path: Path = LINT_CONFIG) -> None:
        from cfnlint.config import ConfigMixIn
        from cfnlint.runner import Runner

        self._config = load_lint_config(config_path)
        self.regions: tuple[str, ...] = tuple(self._config.get("regions") or ())
        runner = Runner(ConfigMixIn([], **self._config))
        self._rules = runner.rules

    def lint(self, target: LintTarget) -> list[Finding]:
        from cfnlint.config import ConfigMixIn
        from cfnlint.decode.decode import decode_str
        from cfnlint.runner import run_template_by_data

        template, errors = decode_str(target.text)
        matches = list(errors or [])
        if template is not None and not errors:
            config = ConfigMixIn([], **{**self._config, "regions": list(target.regions)})
            matches = list(run_template_by_data(template, config, self._rules))
        return [
            Finding(
                template=target.label,
                # A resolved text exists only in memory: point at the node, not a line.
                location=(
                    "/".join(str(part) for part in match.path)
                    if target.resolved and getattr(match, "path", None)
                    else str(match.linenumber)
                ),
                rule=match.rule.id,
                message=match.message,
            )
            for match in matches
        ]

    def lint_all(self, targets: Iterable[LintTarget]) -> list[Finding]:
        findings: list[Finding] = []
        for target in targets:
            findings.extend(self.lint(target))
        return sorted(findings)


def resolved_targets(
    templates: Mapping[str, Mapping[str, Any]],
    environments: Iterable[str],
    regions: tuple[str, ...],
) -> tuple[list[LintTarget], list[Finding]]:
    """Each environment's resolved templates; a text shared by regions is linted once.

    ``templates`` maps a label (``build/compute.yaml``) to the parsed template.
    """
    from scripts.resolve import ResolveError, resolve

    seen: dict[tuple[str, str], list[str]] = {}  # (label, text) -> regions
    order: list[tuple[str, str, str]] = []  # (label, text, environment)
    problems: list[Finding] = []
    for label, body in templates.items():
        if "Environment" not in body.get("Parameters", {}):
            continue  # not one of ours: nothing environment-specific to resolve
        for environment in environments:
            for region in regions:
                try:
                    text = yamlio.dump(resolve(body, environment, region))
                except ResolveError as err:
                    problems.append(Finding(label, f"{environment}/{region}", "resolve", str(err)))
                    continue
                key = (label, text)
                if key not in seen:
                    seen[key] = []
                    order.append((label, text, environment))
                seen[key].append(region)
    targets = [
        LintTarget(
            f"{label} [{environment}, resolved for {', '.join(seen[(label, text)])}]",
            text,
            tuple(seen[(label, text)]),
            resolved=True,
        )
        for label, text, environment in order
    ]
    return targets, problems


def gate_set(texts: Mapping[str, str], gate: Gate | None = None) -> list[Finding]:
    """Lint templates (label -> text) as written and as each environment resolves them."""
    from templates_src.environments import ENVIRONMENTS

    gate = gate or Gate()
    targets = [LintTarget(label, text, gate.regions) for label, text in texts.items()]
    parsed: dict[str, dict[str, Any]] = {}
    findings: list[Finding] = []
    for label, text in texts.items():
        try:
            parsed[label] = yamlio.load(text)
        except (ValueError, yaml.YAMLError):
            continue  # cfn-lint reports the parse error on the text itself
    resolved, problems = resolved_targets(parsed, list(ENVIRONMENTS), gate.regions)
    findings.extend(problems)
    findings.extend(gate.lint_all([*targets, *resolved]))
    return sorted(findings)


CACHE_DIR = REPO_ROOT / ".cache" / "gate"
# Everything a verdict depends on besides the templates themselves.
_VERDICT_INPUTS = ("scripts/gate.py", "scripts/resolve.py", "scripts/yamlio.py",
                   ".cfnlintrc.yaml", "templates_src/environments.py")


def verdict_key(texts: Mapping[str, str]) -> str:
    """A content hash of the templates, the gate's code and config, and cfn-lint's version."""
    import hashlib
    from importlib.metadata import version

    digest = hashlib.sha256(version("cfn-lint").encode())
    for name in sorted(texts):
        digest.update(name.encode() + b"\0" + texts[name].encode() + b"\0")
    rule_files = sorted((REPO_ROOT / "scripts" / "rules").glob("*.py"))
    for path in [REPO_ROOT / name for name in _VERDICT_INPUTS] + rule_files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def gate_set_cached(texts: Mapping[str, str]) -> list[Finding]:
    """``gate_set``, skipped when this exact input already passed on this machine.

    Only clean verdicts are remembered (under .cache/, never committed); CI starts cold.
    """
    marker = CACHE_DIR / verdict_key(texts)
    if marker.is_file():
        return []
    findings = gate_set(texts)
    if not findings:
        try:
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            pass  # a read-only checkout just lints every time
    return findings


def relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
