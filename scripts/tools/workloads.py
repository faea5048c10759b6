"""What the bench runs besides webstack itself: generated templates of a given size, the gate's
workload in words, the simulated CloudFormation the latency figure watches, and the CDK app
``cdk synth`` is timed on, installed once."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path
from typing import Any

from scripts.build import yamlio
from scripts.paths import BUILD_DIR, REPO_ROOT
from scripts.tools.measure import BenchError, clean_env, execute

COST_CENTER = "CC-1234"
INSTALL_TIMEOUT = 600.0


def simulated_cloud() -> Any:
    """tests/simulated_cloud.py, the time-driven CloudFormation the tests use too; it is test
    support, not part of the installed package, so the bench needs a checkout."""
    import importlib

    support = REPO_ROOT / "tests"
    if not (support / "simulated_cloud.py").is_file():
        raise BenchError(f"no {support / 'simulated_cloud.py'}; run the bench from a checkout")
    if str(support) not in sys.path:
        sys.path.insert(0, str(support))
    return importlib.import_module("simulated_cloud")


def gate_workload() -> str:
    """What one cold build lints: build/ as written, with each environment's own resources."""
    from scripts.build.gate import load_lint_config, merged_targets, resolved_targets
    from templates_src.environments import ENVIRONMENTS

    texts = {f"build/{p.name}": p.read_text(encoding="utf-8")
             for p in sorted(BUILD_DIR.glob("*.yaml"))}
    written = {label: yamlio.load(text) for label, text in texts.items()}
    regions = tuple(load_lint_config().get("regions") or ())
    variants, _ = resolved_targets(written, list(ENVIRONMENTS), regions)
    merged, _ = merged_targets(texts, list(ENVIRONMENTS), regions)
    resources = sum(len(body.get("Resources") or {}) for body in written.values())
    whole = [t.merged for t in merged if t.merged is not None and t.merged.only is None]
    scoped = [t.merged for t in merged if t.merged is not None and t.merged.only is not None]
    appended = sum(len(m.origins) for m in whole) + sum(len(m.only or ()) for m in scoped)
    return (f"a cold build lints {len(merged)} texts: the {len(written)} templates of build/ "
            f"({resources} resources) with {appended} resources appended that the "
            f"{len(variants)} resolved variants (environment x region) change beyond the "
            f"environment's name, {len(scoped)} of the texts holding only what differs by "
            f"region (linted for that region); cfn-lint alone lints the {len(written)}")


# -- scale templates ---------------------------------------------------------------------


def scale_template(count: int) -> dict[str, Any]:
    """``count`` tagged resources (SNS topics and SSM parameters) that pass every project rule.

    No ``Environment`` parameter, so the gate lints the text as written, exactly as cfn-lint
    does: the comparison is the gate's own cost, not the resolved sets.
    """
    cost_tags = {"Environment": "bench", "CostCenter": {"Ref": "CostCenter"},
                 "DeploymentDate": {"Ref": "DeploymentDate"}}
    resources: dict[str, Any] = {}
    for index in range(count):
        if index % 2:
            resources[f"Parameter{index:04d}"] = {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Type": "String", "Value": f"value-{index}",
                               "Description": f"benchmark parameter {index}", "Tags": cost_tags},
            }
        else:
            resources[f"Topic{index:04d}"] = {
                "Type": "AWS::SNS::Topic",
                "Properties": {"DisplayName": f"topic {index}", "Tags": [
                    {"Key": key, "Value": value} for key, value in cost_tags.items()]},
            }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Benchmark: {count} tagged resources",
        # I3010 says 500 resources approach the quota; that is the point of this template.
        "Metadata": {"cfn-lint": {"config": {"ignore_checks": ["I3010"]}}},
        "Parameters": {
            "CostCenter": {"Type": "String", "Default": COST_CENTER,
                           "AllowedPattern": "^CC-[0-9]{4,6}$"},
            "DeploymentDate": {"Type": "String", "Default": "2026-01-01",
                               "AllowedPattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        },
        "Resources": resources,
    }


def write_scale_template(folder: Path, count: int) -> Path:

    path = folder / f"scale-{count}.yaml"
    path.write_text(yamlio.dump(scale_template(count)), encoding="utf-8")
    return path


def install_cdk_app(source: Path, cache: Path, npm: str) -> None:
    """Copy the read-only app to ``cache`` and install its packages once (npm ci with a lock
    file, npm install without); later runs reuse it until the app's files change."""
    files = sorted(p for p in source.iterdir() if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    stamp = cache / ".bench-stamp"
    if (cache / "node_modules").is_dir() and stamp.is_file() and \
            stamp.read_text() == digest.hexdigest():
        return
    print(f"  installing the CDK app into {cache} (once)", flush=True)
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    for path in files:
        shutil.copy2(path, cache / path.name)
    command = "ci" if (source / "package-lock.json").is_file() else "install"
    try:
        done = execute([npm, command, "--no-audit", "--no-fund"], cwd=cache,
                       env=clean_env(), timeout=INSTALL_TIMEOUT)
    except BenchError as err:
        raise BenchError(f"npm {command} did not finish: {err}") from err
    if done.code != 0:
        raise BenchError(f"npm {command} failed in {cache}: {done.last_words()}")
    stamp.write_text(digest.hexdigest())
