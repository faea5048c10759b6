"""The lint gate: cfn-lint with warnings fatal, the project rules, and every resolved set.

One rule collection is built and reused for every template (building it is most of
cfn-lint's fixed cost). The parameterized templates are linted as written; each
environment's resolved templates are linted too, because cfn-lint cannot see values
behind FindInMap. Identical resolved texts are linted once, with every region that
produced them. The texts are independent, so once the rules are built the process forks
one worker per core and each lints whole texts (the rules are shared copy-on-write).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scripts.build import indexed_rules, yamlio
from scripts.build.variants import Merged, Variant, merge
from scripts.errors import SourceError, UsageError
from scripts.paths import LINT_CONFIG, REPO_ROOT

JOBS_ENV = "WEBSTACK_GATE_JOBS"


@dataclass(frozen=True, order=True)
class Finding:
    """One gate finding, printable as a single line."""

    template: str
    location: str
    rule: str
    message: str
    # Where a report (SARIF, JUnit) points: line/column span in the text that was linted
    # (for a resolved text, only ``path`` means something in the file), and the node's path.
    span: tuple[int, int, int, int] = (1, 1, 1, 1)
    path: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.template}:{self.location}: {self.rule} {self.message}"


@dataclass(frozen=True)
class LintTarget:
    """A template text to lint, a label for reports, and the regions it is meant for.

    A ``merged`` target is a written template with its environments' own resources appended
    (scripts/build/variants.py); its findings are mapped back to where they came from.
    """

    label: str
    text: str
    regions: tuple[str, ...]
    resolved: bool = False
    merged: Merged | None = None


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
        indexed_rules.install(self._rules)

    @property
    def rules(self) -> Any:
        """cfn-lint's rule collection (``cfnlint.rules.Rules``), the project rules included."""
        return self._rules

    def config(self) -> Any:
        """The cfn-lint configuration (``ConfigMixIn``) the gate lints with."""
        from cfnlint.config import ConfigMixIn

        return ConfigMixIn([], **self._config)

    def lint(self, target: LintTarget) -> list[Finding]:
        from cfnlint.config import ConfigMixIn
        from cfnlint.decode.decode import decode_str
        from cfnlint.runner import run_template_by_data

        template, errors = decode_str(target.text)
        matches = list(errors or [])
        if template is not None and not errors:
            config = ConfigMixIn([], **{**self._config, "regions": list(target.regions)})
            matches = list(run_template_by_data(template, config, self._rules))
        if target.merged is not None:
            matches = [m for m in matches if not _merge_artifact(target.merged, m)
                       and _counts(target.merged, m)]
        return [self._finding(target, match) for match in matches]

    @staticmethod
    def _finding(target: LintTarget, match: Any) -> Finding:
        path = [str(part) for part in getattr(match, "path", None) or ()]
        label, location = target.label, str(match.linenumber)
        span = (match.linenumber, match.columnnumber, match.linenumberend,
                match.columnnumberend)
        resolved = target.resolved
        if target.merged is not None:
            placed, location = target.merged.place(path, match.linenumber)
            resolved, label = placed is not None, placed or label
            if resolved:  # an appended resource: the original logical id, no line of its own
                path = location.split("/")
            else:
                _, end = target.merged.place([], match.linenumberend)
                span = (int(location), span[1], int(end), span[3])
        elif resolved and path:
            # A resolved text exists only in memory: point at the node, not a line.
            location = "/".join(path)
        return Finding(template=label, location=location, rule=match.rule.id,
                       message=match.message, span=span, path=tuple(path))

    def lint_all(self, targets: Iterable[LintTarget], jobs: int | None = None) -> list[Finding]:
        """Every target's findings, sorted; the same whichever worker linted which text."""
        return sorted(f for found in self.lint_each(targets, jobs) for f in found)

    def lint_each(self, targets: Iterable[LintTarget], jobs: int | None = None
                  ) -> list[list[Finding]]:
        """Each target's findings, in the targets' order."""
        todo = list(targets)
        workers = lint_jobs(len(todo)) if jobs is None else max(1, min(jobs, len(todo)))
        if workers > 1 and _can_fork():
            return self._lint_forked_each(todo, workers)
        return [self.lint(target) for target in todo]

    def lint_forked(self, targets: list[LintTarget], workers: int) -> list[Finding]:
        """Lint in forked workers that inherit this gate's rules (``lint_each``)."""
        return [f for found in self._lint_forked_each(targets, workers) for f in found]

    def _lint_forked_each(self, targets: list[LintTarget], workers: int
                          ) -> list[list[Finding]]:
        """The largest texts go first and each worker takes the next text when it is free,
        so the cores finish together."""
        import gc
        import multiprocessing

        order = sorted(range(len(targets)), key=lambda i: len(targets[i].text), reverse=True)
        _FORKED.append((self, targets))
        # What the workers inherit (cfn-lint, its rules and schemas) is left out of their
        # collections: they neither walk it nor copy its pages by touching it.
        gc.freeze()
        try:
            with multiprocessing.get_context("fork").Pool(workers, _worker_signals) as pool:
                chunks = pool.map(_lint_forked_target, order, chunksize=1)
        finally:
            gc.unfreeze()
            _FORKED.clear()
        found: list[list[Finding]] = [[] for _ in targets]
        for index, chunk in zip(order, chunks, strict=True):
            found[index] = chunk
        return found


_NAMES = re.compile(r"'([A-Za-z0-9]+)'")


def _merge_artifact(merged: Merged, match: Any) -> bool:
    """An E3019 conflict between resources that never share one deployable template."""
    if match.rule.id != "E3019" or "across the resources" not in match.message:
        return False
    names = _NAMES.findall(match.message.rsplit("across the resources", 1)[1])
    return bool(names) and not merged.coexist(names)


def _counts(merged: Merged, match: Any) -> bool:
    """Whether a finding is on what the text is linted for (not on its context)."""
    if merged.only is None:
        return True
    path: list[Any] = list(getattr(match, "path", None) or ())
    return len(path) >= 2 and path[0] == "Resources" and path[1] in merged.only


# What a forked worker lints: set just before the fork, so the workers inherit it.
_FORKED: list[tuple[Gate, list[LintTarget]]] = []


def _lint_forked_target(index: int) -> list[Finding]:
    gate, targets = _FORKED[-1]
    return gate.lint(targets[index])


def _worker_signals() -> None:
    """Ctrl-C is the parent's to handle (it stops the workers); SIGTERM just ends a worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _can_fork() -> bool:
    """Forking is safe only from a single-threaded process that is not itself a worker."""
    import multiprocessing

    return (hasattr(os, "fork") and threading.active_count() == 1
            and not multiprocessing.current_process().daemon)


def lint_jobs(count: int) -> int:
    """Worker processes for ``count`` texts: ``$WEBSTACK_GATE_JOBS``, else one per usable core
    on Linux (elsewhere fork after import is not safe by default, so one process)."""
    raw = os.environ.get(JOBS_ENV, "").strip()
    try:
        wanted = int(raw) if raw else (_usable_cores() if sys.platform == "linux" else 1)
    except ValueError:
        raise UsageError(f"{JOBS_ENV}={raw!r} is not a number; set e.g. 1 (no workers) "
                         "or unset it") from None
    return max(1, min(wanted, count))


def variants_of(
    templates: Mapping[str, Mapping[str, Any]],
    environments: Iterable[str],
    regions: tuple[str, ...],
    *,
    maps_only: bool = False,
) -> tuple[dict[str, list[Variant]], list[Finding]]:
    """Each environment's resolved templates, where resolving shows cfn-lint something new.

    A template with no Mappings and no Conditions resolves to nothing but its parameters'
    values, which cfn-lint already checks as written: it is not resolved. A template looks
    at its region only through ``AWS::Region`` unless it reads a region-keyed map, so only
    those are resolved per region; the rest keep ``AWS::Region`` and stand for every region,
    as cfn-lint evaluates region references itself. With ``maps_only`` a per-region template
    is resolved per region only where it reads a region-keyed map, keeping ``AWS::Region``
    elsewhere (``resolve``'s ``map_region``): its variants differ by region only in those
    values, and the rest is the same in every region. Identical results are kept once, with
    every region that produced them. ``templates`` maps a label (``build/compute.yaml``) to
    the parsed template; they are resolved as ``webstack show`` resolves them.
    """
    from scripts.build.resolve import reads_region_map

    ours = {label: body for label, body in templates.items()
            if "Environment" in body.get("Parameters", {})  # not ours: nothing to resolve
            and (body.get("Mappings") or body.get("Conditions"))}
    per_region = {label for label, body in ours.items() if reads_region_map(body)}
    seen: dict[tuple[str, str], tuple[str, dict[str, Any], list[str]]] = {}
    problems: list[Finding] = []
    for environment in environments:
        for region in (None, *regions):
            wanted = {label: body for label, body in ours.items()
                      if (label in per_region) == (region is not None)}
            for label, body in _resolved(wanted, environment, region, problems,
                                         maps_only).items():
                key = (label, yamlio.dump(body))
                seen.setdefault(key, (environment, body, []))[2].extend(
                    [region] if region else regions)
    found: dict[str, list[Variant]] = {}
    for (label, _), (environment, body, where) in seen.items():
        found.setdefault(label, []).append(Variant(environment, tuple(where), body))
    return found, problems


def resolved_targets(
    templates: Mapping[str, Mapping[str, Any]],
    environments: Iterable[str],
    regions: tuple[str, ...],
) -> tuple[list[LintTarget], list[Finding]]:
    """Every resolved variant as a text of its own (see ``variants_of``)."""
    found, problems = variants_of(templates, environments, regions)
    targets = [
        LintTarget(f"{label} [{v.environment}, resolved for {', '.join(v.regions)}]",
                   yamlio.dump(dict(v.body)), v.regions, resolved=True)
        for label, variants in found.items() for v in variants
    ]
    return targets, problems


def merged_targets(
    texts: Mapping[str, str],
    environments: Iterable[str],
    regions: tuple[str, ...],
) -> tuple[list[LintTarget], list[Finding]]:
    """What the gate lints: each text once, with its environments' own resources appended
    (scripts/build/variants.py); a text not in webstack's layout keeps separate variants."""
    parsed: dict[str, dict[str, Any]] = {}
    for label, text in texts.items():
        try:
            parsed[label] = yamlio.load(text)
        except (ValueError, yaml.YAMLError):
            continue  # cfn-lint reports the parse error on the text itself
    found, problems = variants_of(parsed, environments, regions, maps_only=True)
    targets: list[LintTarget] = []
    for label, text in texts.items():
        variants = found.get(label, [])
        # Every region's variants go into one text linted for every region: a per-region
        # variant differs from the others only in its region-keyed values (``maps_only``).
        merged = merge(text, parsed[label], variants, label) if variants else None
        if not variants:
            targets.append(LintTarget(label, text, regions))
        elif merged is not None:
            targets += [LintTarget(label, m.text, m.regions or regions, merged=m)
                        for m in merged]
        else:
            targets.append(LintTarget(label, text, regions))
            targets += [LintTarget(f"{label} [{v.environment}, resolved for "
                                   f"{', '.join(v.regions)}]", yamlio.dump(dict(v.body)),
                                   v.regions, resolved=True) for v in found[label]]
    return targets, problems


def _resolved(templates: Mapping[str, Mapping[str, Any]], environment: str,
              region: str | None, problems: list[Finding],
              maps_only: bool = False) -> dict[str, dict[str, Any]]:
    """label -> resolved template; a template that cannot be resolved becomes a finding."""
    from scripts.build.resolve import ResolveError, resolve_set

    if not templates:
        return {}
    try:
        if maps_only and region is not None:
            return resolve_set(templates, environment, None, map_region=region)
        return resolve_set(templates, environment, region)
    except ResolveError as err:
        where = f"{environment}/{region or 'any region'}"
        problems.append(Finding(err.source, where, "resolve", str(err)))
        return {}


def gate_set(texts: Mapping[str, str], gate: Gate | None = None, *,
             cache: CleanTargets | None = None) -> list[Finding]:
    """Lint templates (label -> text) as written and as each environment resolves them;
    ``cache`` skips the texts it knows clean and remembers the ones found clean."""
    if gate is not None:
        return _lint_merged(gate, texts, None, cache)
    return gate_rendered(lambda: texts, cache=cache)[1]


def gate_rendered(
    render: Callable[[], Mapping[str, str]], *, cache: CleanTargets | None = None,
) -> tuple[dict[str, str], list[Finding]]:
    """``render()`` (label -> text) and ``gate_set`` of it, with the gate's fixed costs overlapped.

    Rendering and resolving need no cfn-lint, so a forked child does both while this process
    imports cfn-lint and builds the rules, the gate's largest fixed cost. If the child cannot
    deliver (a render error, no fork), this process renders and resolves itself, so an error
    is raised here, as without the child.
    """
    from templates_src.environments import ENVIRONMENTS

    regions = tuple(load_lint_config().get("regions") or ())
    ahead = _Ahead(_render_and_merge, render, list(ENVIRONMENTS), regions) \
        if lint_jobs(2) > 1 and _can_fork() else None
    try:
        gate = Gate()
    finally:
        delivered = ahead.result() if ahead else None  # and the child is reaped
    if delivered is not None and regions == gate.regions:
        texts, merged = delivered
    else:
        texts, merged = dict(render()), None
    return texts, _lint_merged(gate, texts, merged, cache)


_Targets = tuple[list[LintTarget], list[Finding]]


def _render_and_merge(render: Callable[[], Mapping[str, str]], environments: list[str],
                      regions: tuple[str, ...]) -> tuple[dict[str, str], _Targets]:
    texts = dict(render())
    return texts, merged_targets(texts, environments, regions)


def _lint_merged(gate: Gate, texts: Mapping[str, str], merged: _Targets | None,
                 cache: CleanTargets | None = None) -> list[Finding]:
    from templates_src.environments import ENVIRONMENTS

    targets, problems = merged or merged_targets(texts, list(ENVIRONMENTS), gate.regions)
    todo = [t for t in targets if cache is None or not cache.known(t)]
    found = gate.lint_each(todo)
    if cache is not None:
        for target, findings in zip(todo, found, strict=True):
            if not findings:
                cache.remember(target)
    return sorted({*problems, *(f for each in found for f in each)})


class _Ahead:
    """``work(*args)`` computed in a forked child while this process gets on with something
    else; ``result()`` is None if the child could not deliver (the caller then does the work)."""

    def __init__(self, work: Callable[..., Any], *args: Any) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._child = context.Process(target=_deliver, args=(send, work, args), daemon=True)
        self._child.start()
        send.close()

    def result(self) -> Any:
        try:
            delivered, value = self._receive.recv()
        except (EOFError, OSError):
            delivered, value = False, None
        finally:
            self._receive.close()
            self._child.join()
        return value if delivered else None


def _deliver(send: Any, work: Callable[..., Any], args: tuple[Any, ...]) -> None:
    _worker_signals()
    try:
        result = work(*args)
    except Exception:  # the parent does the work again and meets the error itself
        send.send((False, None))
    else:
        send.send((True, result))
    finally:
        send.close()


CACHE_DIR = REPO_ROOT / ".cache" / "gate"
# Everything a verdict depends on besides the templates themselves.
_VERDICT_INPUTS = ("scripts/build/gate.py", "scripts/build/resolve.py", "scripts/build/yamlio.py",
                   "scripts/build/variants.py", "scripts/build/indexed_rules.py",
                   ".cfnlintrc.yaml", "templates_src/environments.py")


def _inputs_digest() -> Any:
    """A hash of everything a verdict depends on besides the templates: cfn-lint's version,
    the gate's code and config, and the project rules."""
    import hashlib
    from importlib.metadata import version

    digest = hashlib.sha256(version("cfn-lint").encode())
    rule_files = sorted((REPO_ROOT / "scripts" / "rules").glob("*.py"))
    for path in [REPO_ROOT / name for name in _VERDICT_INPUTS] + rule_files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest


def verdict_key(texts: Mapping[str, str], inputs: Any = None) -> str:
    """A content hash of the templates, the gate's code and config, and cfn-lint's version
    (``inputs``: ``_inputs_digest()`` when the caller has it already)."""
    digest = (inputs or _inputs_digest()).copy()
    for name in sorted(texts):
        digest.update(name.encode() + b"\0" + texts[name].encode() + b"\0")
    return str(digest.hexdigest())


@dataclass(frozen=True)
class CleanTargets:
    """Lint texts (``LintTarget``) found clean on this machine, by a hash of the text, what
    it is linted for and which findings count, and ``salt`` (``_inputs_digest``): a set where
    one template changed lints only that template's texts again."""

    folder: Path
    salt: str

    def _marker(self, target: LintTarget) -> Path:
        import hashlib

        merged = target.merged
        scope = [sorted(merged.only or ()), [sorted(w) for w in merged.worlds]] if merged else []
        identity = json.dumps([self.salt, target.label, target.text, list(target.regions),
                               target.resolved, scope])
        return self.folder / f"text-{hashlib.sha256(identity.encode()).hexdigest()}"

    def known(self, target: LintTarget) -> bool:
        return self._marker(target).is_file()

    def remember(self, target: LintTarget) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._marker(target).touch()
        except OSError:
            pass  # a read-only checkout just lints every time


def gate_set_cached(texts: Mapping[str, str]) -> list[Finding]:
    """``gate_set``, skipped when this exact input already passed on this machine, and
    otherwise linting only the texts not already found clean (``CleanTargets``).

    Only clean verdicts are remembered (under .cache/, never committed); CI starts cold.
    """
    inputs = _inputs_digest()  # read once: the set's key and the texts' salt
    marker = CACHE_DIR / verdict_key(texts, inputs)
    if marker.is_file():
        return []
    with _linting(marker):
        if marker.is_file():  # another process linted the same input while this one waited
            return []
        findings = gate_set(texts, cache=CleanTargets(CACHE_DIR, str(inputs.hexdigest())))
        if not findings:
            with suppress(OSError):  # a read-only checkout just lints every time
                marker.touch()
    return findings


@contextmanager
def _linting(marker: Path) -> Iterator[None]:
    """Hold ``marker``'s lock while its input is linted: a second process asking for the same
    verdict (two deploys, the test suite's workers) waits for the first one's instead of
    linting the same texts beside it. Without a writable cache folder, no lock."""
    import fcntl

    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        lock = marker.with_name(marker.name + ".lock").open("a")
    except OSError:
        yield
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
