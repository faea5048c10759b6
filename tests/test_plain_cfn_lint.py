"""A plain cfn-lint at the repository root (an editor's, a pre-commit hook's) loads the project's
rules from .cfnlintrc.yaml and gives the written set's verdict, with nothing of webstack
installed beside it.

The Python that runs it sees only cfn-lint and what a plain ``pip install cfn-lint`` brings,
linked into a folder (as test_base_install.py builds a plain webstack install): no
site-packages (``-S``), not the working folder (``-P``), so neither ``scripts`` nor
``templates_src`` can be imported. Before, each project rule imported ``scripts.rules._helpers``
and cfn-lint stopped with ``UnexpectedRuleException ... No module named 'scripts'``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_base_install import installed_with, linked_site

from scripts.paths import REPO_ROOT

CFN_LINT = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
            "from cfnlint.runner import main; main()")
UNTAGGED = """\
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Queue:
    Type: AWS::SQS::Queue
    DeletionPolicy: Delete
    UpdateReplacePolicy: Delete
"""


def cfn_lint(site: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-S", "-P", "-c", CFN_LINT, str(site), *argv],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                          check=False)


def test_a_plain_cfn_lint_at_the_root_runs_the_project_rules(tmp_path: Path) -> None:
    site = linked_site(tmp_path / "site", installed_with("cfn-lint"))
    assert not (site / "scripts").exists() and not (site / "templates_src").exists()
    probe = subprocess.run([sys.executable, "-S", "-P", "-c",
                            "import sys; sys.path.insert(0, sys.argv[1]); import scripts",
                            str(site)], cwd=REPO_ROOT, capture_output=True, text=True,
                           check=False)
    assert "No module named 'scripts'" in probe.stderr  # webstack is out of its reach

    untagged = tmp_path / "untagged.yaml"
    untagged.write_text(UNTAGGED, encoding="utf-8")
    # one run (cfn-lint's start is most of its time): the config's rules, regions and checks
    done = cfn_lint(site, "build/storage.yaml", str(untagged))
    assert "UnexpectedRuleException" not in done.stdout + done.stderr, done.stderr[-2000:]
    assert done.returncode != 0
    flagged = {line.split(":")[0] for line in done.stdout.splitlines() if ".yaml:" in line}
    assert flagged == {str(untagged)}, done.stdout  # build/storage.yaml is clean
    assert "E9101" in done.stdout, done.stdout  # a project rule ran
