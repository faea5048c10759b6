"""``webstack diff``: two releases compared per environment and region, offline."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts.build import diff, yamlio
from scripts.cli import main
from scripts.paths import BUILD_DIR, REPO_ROOT

PROD_EDIT = [('db_instance_class="db.m6g.large"', 'db_instance_class="db.m6g.xlarge"'),
             ("asg=Capacity(min=2, max=6)", "asg=Capacity(min=2, max=8)")]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of this repository with one more commit: the prod column edited, build/ rebuilt
    by the clone's own renderer."""
    repo = tmp_path_factory.mktemp("clone") / "webstack"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{REPO_ROOT}", str(repo)],
                   check=True)
    # This branch's build/ (the clone holds the last commit; the working tree may be ahead).
    shutil.copytree(BUILD_DIR, repo / "build", dirs_exist_ok=True)
    shutil.copy(REPO_ROOT / "templates_src" / "environments.py",
                repo / "templates_src" / "environments.py")
    for args in (["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                                 "--allow-empty", "-m", "base"]):
        _git(repo, *args)
    table = repo / "templates_src" / "environments.py"
    text = table.read_text(encoding="utf-8")
    for old, new in PROD_EDIT:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    table.write_text(text, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "scripts", "render", "--output", "build"], cwd=repo,
                   check=True, capture_output=True)
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am",
         "prod: bigger database, more instances")
    return repo


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_prod_only_change_shows_in_prod_only_in_every_region(
        clone: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(clone)
    code, out, _ = _run(capsys, "diff", "HEAD~1", "HEAD", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert {row["env"] for row in rows} == {"prod"}
    assert {row["region"] for row in rows} == {"us-east-1", "us-west-2", "eu-west-1"}
    database = [r for r in rows if r["logical_id"] == "Database"]
    assert len(database) == 3
    assert database[0] == {
        "env": "prod", "region": database[0]["region"], "stack": "DatabaseStack",
        "logical_id": "Database", "type": "AWS::RDS::DBInstance", "action": "modify",
        "replacement": "False", "data_bearing": True,
        "properties": [{"path": "DBInstanceClass", "old": "db.m6g.large",
                        "new": "db.m6g.xlarge"}],
    }
    group = next(r for r in rows if r["type"] == "AWS::AutoScaling::AutoScalingGroup")
    assert group["properties"] == [{"path": "MaxSize", "old": "6", "new": "8"}]


def test_markdown_is_a_table_a_pull_request_shows(
        clone: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(clone)
    code, out, _ = _run(capsys, "diff", "HEAD~1", "HEAD", "--format", "markdown")
    assert code == 0
    assert "| env | regions | resource | type | action | replacement | changes |" in out
    assert ("| prod | eu-west-1, us-east-1, us-west-2 | `DatabaseStack/Database` 🛢️ | "
            "`AWS::RDS::DBInstance` | **modify** | False | "
            "`DBInstanceClass`: `db.m6g.large` → `db.m6g.xlarge` |") in out
    assert "| dev |" not in out and "| staging |" not in out


def test_the_last_commit_against_the_working_tree_is_identical_after_a_commit(
        clone: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(clone)
    code, out, _ = _run(capsys, "diff", "--fail-on-replacement")
    assert code == 0
    assert out.startswith("identical: HEAD and working tree resolve to the same resources in "
                          "all 9 environment x region pair(s)")


def test_one_environment_and_region_can_be_asked_for(
        clone: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(clone)
    code, out, _ = _run(capsys, "diff", "HEAD~1", "HEAD", "--env", "dev", "--region",
                        "eu-west-1")
    assert (code, out.split(":")[0]) == (0, "identical")
    code, out, _ = _run(capsys, "diff", "HEAD~1", "HEAD", "--env", "prod", "--region",
                        "eu-west-1", "--format", "json")
    assert {r["region"] for r in json.loads(out)} == {"eu-west-1"}


def test_the_whole_nine_pair_diff_takes_at_most_two_seconds(clone: Path):
    """The whole process, as CI runs it (the console script: this checkout's code). Timed as
    the CPU it uses (user + system, children of this process), the best of three: the machine
    running the suite is shared, and its wall clock measures the other work as well."""
    webstack = Path(sys.executable).parent / "webstack"
    timings = []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([str(webstack), "diff", "HEAD~1", "HEAD"], cwd=clone,
                              check=True, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        timings.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        assert "6 resource change(s) in 3 of 9 environment x region pair(s)" in done.stdout
    assert min(timings) <= 2.0


def _copy_build(tmp_path: Path) -> Path:
    folder = tmp_path / "head"
    shutil.copytree(BUILD_DIR, folder / "build")
    return folder


def _edit(folder: Path, name: str, change: Any) -> None:
    path = folder / "build" / f"{name}.yaml"
    template = yamlio.load(path.read_text(encoding="utf-8"))
    change(template)
    path.write_text(yamlio.dump(template), encoding="utf-8")


def test_a_replaced_or_removed_database_fails_with_fail_on_replacement(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    head = _copy_build(tmp_path)
    _edit(head, "database", lambda t: t["Resources"].__setitem__(
        "Database2", t["Resources"].pop("Database")))
    code, out, err = _run(capsys, "diff", str(BUILD_DIR.parent), str(head), "--env", "dev",
                          "--region", "us-east-1", "--fail-on-replacement")
    assert code == 1
    assert "remove   DatabaseStack/Database  AWS::RDS::DBInstance  [data-bearing]" in out
    assert "data: DatabaseStack/Database (AWS::RDS::DBInstance) removed in dev/us-east-1" in out
    assert "--fail-on-replacement" in err
    code, _, _ = _run(capsys, "diff", str(BUILD_DIR.parent), str(head), "--env", "dev",
                      "--region", "us-east-1")
    assert code == 0  # a difference alone is no failure


def test_fail_on_replacement_follows_what_a_deploy_keeps(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A new DatabaseUsername default replaces the database of a new stack only: a deploy of
    an existing one keeps the deployed name (UsePreviousValue), so the guard has nothing to
    refuse, and --fail-on-replacement exited 1 all the same."""
    head = _copy_build(tmp_path)
    _edit(head, "root", lambda t: t["Parameters"]["DatabaseUsername"].__setitem__(
        "Default", "webstack_owner"))
    argv = ["diff", str(BUILD_DIR.parent), str(head), "--env", "dev", "--region", "us-east-1"]
    code, out, err = _run(capsys, *argv, "--format", "json", "--fail-on-replacement")
    rows = {(r["stack"], r["logical_id"]): r for r in json.loads(out)}
    assert rows[("DatabaseStack", "Database")]["action"] == "replace"  # shown: a new stack's
    assert (code, err) == (0, "")


def test_a_create_only_property_predicts_replacement(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    head = _copy_build(tmp_path)

    def rename_bucket(template: dict[str, Any]) -> None:
        bucket = next(r for r in template["Resources"].values()
                      if r["Type"] == "AWS::S3::Bucket")
        bucket["Properties"]["BucketName"] = "renamed-bucket"

    _edit(head, "storage", rename_bucket)
    code, out, _ = _run(capsys, "diff", str(BUILD_DIR.parent), str(head), "--env", "prod",
                        "--region", "us-west-2", "--format", "json", "--fail-on-replacement")
    (row,) = json.loads(out)
    assert (row["action"], row["replacement"], row["data_bearing"]) == ("replace", "True", True)
    assert row["properties"][0]["path"] == "BucketName"
    assert code == 1


def test_staging_and_prod_are_resolved_with_what_their_rules_require(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Resolved with CertificateArn='' (which their Rules refuse), staging and prod had no
    HTTPS listener: weakening its TLS policy diffed "identical" in all nine pairs."""
    head = _copy_build(tmp_path)

    def weaken(template: dict[str, Any]) -> None:
        template["Resources"]["HttpsListener"]["Properties"]["SslPolicy"] = \
            "ELBSecurityPolicy-2016-08"

    _edit(head, "compute", weaken)
    code, out, _ = _run(capsys, "diff", str(BUILD_DIR.parent), str(head), "--format", "json")
    assert code == 0
    changed = {(row["env"], row["region"], row["stack"], row["logical_id"], row["action"],
                tuple(p["path"] for p in row["properties"])) for row in json.loads(out)}
    assert changed == {(env, region, "ComputeStack", "HttpsListener", "modify", ("SslPolicy",))
                       for env in ("staging", "prod")
                       for region in ("us-east-1", "us-west-2", "eu-west-1")}
    # ... and show has them both, with the documented placeholders.
    code, out, _ = _run(capsys, "show", "--env", "prod", "--region", "eu-west-1")
    assert code == 0
    assert "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-" in out
    assert "Endpoint: alarms@example.com" in out


def test_a_long_value_is_shortened_around_what_differs_in_text_and_markdown():
    """Cut at 60 characters, both sides of a policy condition printed the same text."""
    arn = "arn:${AWS::Partition}:rds:us-east-1:${AWS::AccountId}:db:"
    change = diff.PropertyChange("PolicyDocument.Statement.0.Condition.aws:SourceArn",
                                 {"Fn::Sub": arn + "webstack-dev-db"},
                                 {"Fn::Sub": arn + "webstack-dev-replica"})
    row = diff.Row("dev", "us-east-1", "DatabaseStack", "MonitoringRole", "AWS::IAM::Role",
                   "modify", None, (change,), False)
    text = diff.text_report([row], [], 1, ("a", "b"))
    old, new = text[2].split(": ", 1)[1].split(" -> ")
    assert old != new and "webstack-dev-db" in old and "webstack-dev-replica" in new, text[2]
    assert len(old) <= 60 and len(new) <= 60
    cells = diff.markdown_report([row], [], 1, ("a", "b"))[6]
    assert "webstack-dev-db" in cells and "webstack-dev-replica" in cells, cells
    short = diff.PropertyChange("InstanceType", "t3.micro", "t3.small")
    row = diff.Row("dev", "us-east-1", "ComputeStack", "LaunchTemplate",
                   "AWS::EC2::LaunchTemplate", "modify", None, (short,), False)
    assert diff.text_report([row], [], 1, ("a", "b"))[2] == "    InstanceType: t3.micro -> t3.small"


def test_a_root_default_reaches_the_child_it_is_passed_to():
    base = {name: yamlio.load((BUILD_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
            for name in ("root", "monitoring")}
    head = json.loads(json.dumps(base))
    head["root"]["Parameters"]["AlarmEmail"]["Default"] = "ops@example.com"
    rows = diff.diff_sets(base, head, ["staging"], ["us-east-1"])
    assert [(r.address, r.action) for r in rows] == [
        ("MonitoringStack", "modify"), ("MonitoringStack/AlarmEmailSubscription", "add")]
    assert rows[0].properties[0] == diff.PropertyChange("Parameters.AlarmEmail", "",
                                                        "ops@example.com")


def test_tags_are_compared_by_key_and_intrinsics_as_values():
    old = {"Tags": [{"Key": "A", "Value": "1"}, {"Key": "B", "Value": "2"}],
           "VpcId": {"Ref": "Vpc"}}
    new = {"Tags": [{"Key": "B", "Value": "3"}, {"Key": "A", "Value": "1"}],
           "VpcId": {"Fn::GetAtt": ["Net", "Outputs.VpcId"]}}
    assert diff.value_changes(old, new) == [
        diff.PropertyChange("Tags[B].Value", "2", "3"),
        diff.PropertyChange("VpcId", {"Ref": "Vpc"}, {"Fn::GetAtt": ["Net", "Outputs.VpcId"]}),
    ]


@pytest.mark.parametrize(("argv", "message"), [
    (["diff", "no-such-revision"], "BASE 'no-such-revision' is neither a folder nor a git"),
    (["diff", "--env", "qa"], "unknown environment 'qa'"),
    (["diff", "--region", "mars-1"], "unknown region 'mars-1'"),
    (["diff", "HEAD", "HEAD", "HEAD"], "give at most BASE and HEAD"),
    (["diff", "--deployed", "--env", "dev"], "--deployed takes one --env and one --region"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]):
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1
