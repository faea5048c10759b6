"""The independent scan: checkov, offline, on build/ and on every environment's resolved set.

checkov pins an old boto3, so it never shares an environment with webstack: ``tox run -e
security`` installs it into a virtualenv of its own and names its executable in
``WEBSTACK_CHECKOV``; without that variable the ``checkov`` on PATH is used. The scan never
touches the network (``--skip-download`` plus the two variables in ``OFFLINE``).

Targets, one folder each under a temporary directory: ``build`` (the checked-in templates,
with their parameter defaults) and one per environment, resolved by the same resolver as
``webstack show``. Environments are resolved as they are deployed to AWS, with a certificate
and an alarm subscriber (``SCAN_PARAMETERS``; the root's Rules refuse staging and prod
without them), so the HTTPS listener and its TLS policy are scanned too; the certificate-less
mode is dev's, the ELB.1 exception in SECURITY.md. Every skip must be declared in
the resource's Metadata with its reason (``templates_src.common.scanner_exception``).

Usage: ``python -m scripts.tools.security_scan [--json PATH]``. Exit 0 when no check failed,
1 when one did (each printed as ``target/file: CHECK resource``), 4 when checkov is missing
or its output cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from scripts.build import yamlio
from scripts.build.resolve import PLACEHOLDERS
from scripts.errors import Exit, WebstackError
from scripts.paths import BUILD_DIR

CHECKOV_ENV: Final = "WEBSTACK_CHECKOV"
OFFLINE: Final = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
BUILD_TARGET: Final = "build"
SCAN_REGION: Final = "us-east-1"
# Every environment scanned with a certificate and a subscriber (the placeholders staging and
# prod are resolved with everywhere): checkov reads the listener and the subscription, never
# the certificate or the address; dev's certificate-less listener is the ELB.1 exception.
SCAN_PARAMETERS: Final = {
    "CertificateArn": PLACEHOLDERS["CertificateArn"].format(partition="aws", region=SCAN_REGION),
    "AlarmEmail": PLACEHOLDERS["AlarmEmail"],
}
TIMEOUT_SECONDS: Final = 600


class ScanError(WebstackError):
    """checkov is missing, or ran but gave no readable report."""

    exit_code = Exit.AWS


@dataclass(frozen=True, order=True)
class Result:
    """One check on one resource, as checkov reports it."""

    target: str
    file: str
    check_id: str
    resource: str
    comment: str = ""

    def __str__(self) -> str:
        return f"{self.target}/{self.file}: {self.check_id} {self.resource}"


@dataclass
class TargetReport:
    """checkov's verdicts for one target folder."""

    passed: list[Result] = field(default_factory=list)
    failed: list[Result] = field(default_factory=list)
    skipped: list[Result] = field(default_factory=list)
    parsing_errors: list[str] = field(default_factory=list)

    def counts(self) -> str:
        return (f"{len(self.passed)} passed, {len(self.failed)} failed, "
                f"{len(self.skipped)} skipped")


@dataclass
class ScanReport:
    targets: dict[str, TargetReport]
    seconds: float
    raw: dict[str, Any] = field(repr=False)

    @property
    def failed(self) -> list[Result]:
        return sorted(r for report in self.targets.values() for r in report.failed)


def checkov_executable() -> str:
    named = os.environ.get(CHECKOV_ENV)
    found = named if named and Path(named).is_file() else shutil.which(named or "checkov")
    if not found:
        raise ScanError(
            f"checkov not found ({CHECKOV_ENV}={named!r}); run 'tox run -e security', or install "
            f"checkov==3.3.30 in a virtualenv of its own and set {CHECKOV_ENV} to its executable"
        )
    return found


def write_targets(root: Path, environments: Sequence[str]) -> list[str]:
    """build/ and each environment's resolved set, one folder each; returns their names."""
    from scripts.build.resolve import resolve_set

    templates = {p.stem: yamlio.load(p.read_text(encoding="utf-8"))
                 for p in sorted(BUILD_DIR.glob("*.yaml"))}
    if not templates:
        raise ScanError("build/ is empty; run 'webstack build' first")
    (root / BUILD_TARGET).mkdir()
    for path in sorted(BUILD_DIR.glob("*.yaml")):
        shutil.copyfile(path, root / BUILD_TARGET / path.name)
    for environment in environments:
        folder = root / environment
        folder.mkdir()
        resolved = resolve_set(templates, environment, SCAN_REGION, SCAN_PARAMETERS)
        for name, body in resolved.items():
            (folder / f"{name}.yaml").write_text(yamlio.dump(body), encoding="utf-8")
    return [BUILD_TARGET, *environments]


def run_checkov(folder: Path, checkov: str) -> dict[str, Any]:
    """checkov's JSON report for every template under ``folder``."""
    command = [checkov, "-d", str(folder), "--framework", "cloudformation", "--skip-download",
               "-o", "json"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              env={**os.environ, **OFFLINE}, timeout=TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ScanError(f"checkov did not run: {err}") from err
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as err:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ScanError(f"checkov exited {done.returncode} without a JSON report: {tail}") from err
    if isinstance(report, list):  # one entry per framework; only cloudformation was asked for
        report = next((r for r in report if r.get("check_type") == "cloudformation"), {})
    if not isinstance(report, dict):
        raise ScanError("checkov's JSON report is not an object")
    return report


def split_by_target(report: Mapping[str, Any], targets: Sequence[str]) -> dict[str, TargetReport]:
    """checkov's results grouped by target folder (the first part of each file path)."""
    out = {target: TargetReport() for target in targets}
    results = report.get("results") or {}
    for kind in ("passed", "failed", "skipped"):
        for item in results.get(f"{kind}_checks") or []:
            target, _, file = str(item["file_path"]).lstrip("/").partition("/")
            comment = (item.get("check_result") or {}).get("suppress_comment") or ""
            result = Result(target, file, item["check_id"], item["resource"], comment)
            getattr(out.setdefault(target, TargetReport()), kind).append(result)
    for path in results.get("parsing_errors") or []:
        target = str(path).lstrip("/").split("/")[0]
        out.setdefault(target, TargetReport()).parsing_errors.append(str(path))
    return out


REPORT_ENV = "WEBSTACK_CHECKOV_REPORT"
BUILD_DIGEST_SUFFIX = ".build-sha256"


def build_digest() -> str:
    """A hash of build/ as it is now: what a saved report was made from."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(BUILD_DIR.glob("*.yaml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def saved_or_scan() -> ScanReport:
    """The report ``main --json $WEBSTACK_CHECKOV_REPORT`` saved from this very build/ (tox's
    security environment scans once, then its tests read the same report), else a new scan."""
    from templates_src.environments import ENVIRONMENT_NAMES

    saved = os.environ.get(REPORT_ENV)
    if saved:
        path = Path(saved)
        try:
            made_from = Path(saved + BUILD_DIGEST_SUFFIX).read_text(encoding="utf-8")
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            made_from, raw = "", None
        if made_from == build_digest() and isinstance(raw, dict):
            targets = [BUILD_TARGET, *ENVIRONMENT_NAMES]
            return ScanReport(split_by_target(raw, targets), 0.0, raw)
    return scan()


def scan(environments: Sequence[str] | None = None, checkov: str | None = None) -> ScanReport:
    """Write every target to a temporary folder and scan them in one checkov run."""
    from templates_src.environments import ENVIRONMENT_NAMES

    checkov = checkov or checkov_executable()
    with tempfile.TemporaryDirectory(prefix="webstack-scan-") as tmp:
        root = Path(tmp)
        targets = write_targets(root, list(environments or ENVIRONMENT_NAMES))
        started = time.perf_counter()
        raw = run_checkov(root, checkov)
        seconds = time.perf_counter() - started
    return ScanReport(split_by_target(raw, targets), seconds, raw)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.tools.security_scan",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="also write checkov's raw JSON report")
    args = parser.parse_args(argv)
    try:
        report = scan()
    except WebstackError as err:
        print(f"security scan: {err}", file=sys.stderr)
        return int(err.exit_code)
    if args.json:
        Path(args.json).write_text(json.dumps(report.raw, indent=2), encoding="utf-8")
        Path(args.json + BUILD_DIGEST_SUFFIX).write_text(build_digest(), encoding="utf-8")
    for result in report.failed:
        print(f"FAILED {result}")
    for target, verdicts in report.targets.items():
        errors = f", {len(verdicts.parsing_errors)} unparsed" if verdicts.parsing_errors else ""
        print(f"{target}: {verdicts.counts()}{errors}")
    print(f"checkov scanned {len(report.targets)} target(s) in {report.seconds:.1f}s")
    unparsed = any(v.parsing_errors for v in report.targets.values())
    return int(Exit.FINDINGS if report.failed or unparsed else Exit.OK)


if __name__ == "__main__":
    raise SystemExit(main())
