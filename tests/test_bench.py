"""The benchmark harness: pairwise ratios, honest latency, templates that pass, no server left."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from simulated_cloud import Simulation

from scripts import paths
from scripts.build.gate import resolved_targets
from scripts.tools import bench, measure, workloads


def test_rounds_alternate_and_the_warm_up_is_not_counted():
    calls: list[str] = []
    clock = iter(range(100))

    def command(name: str) -> float:
        calls.append(name)
        return float(next(clock))

    got = measure.alternate({"a": lambda: command("a"), "b": lambda: command("b")},
                          runs=2, warmup=1, label="test")
    assert calls == ["a", "b", "a", "b", "a", "b"]
    assert got == {"a": [2.0, 4.0], "b": [3.0, 5.0]}


def test_ratios_are_taken_pair_by_pair():
    assert measure.ratios([2.0, 9.0], [4.0, 3.0]) == [0.5, 3.0]
    with pytest.raises(ValueError):
        measure.ratios([1.0], [1.0, 2.0])


def test_a_target_judged_on_the_max_fails_on_one_slow_run():
    fast_median = measure.Figure("x", "x", [0.5, 0.6, 2.5], target=2.0)
    assert fast_median.met is True
    assert measure.Figure("x", "x", [0.5, 0.6, 2.5], target=2.0, judge="max").met is False
    assert measure.Figure("x", "x", [1.0]).met is None


@pytest.mark.parametrize("count", [1, 20])
def test_a_scale_template_has_that_many_resources_and_passes_the_gate(gate, count):
    from scripts.build.gate import LintTarget
    from scripts.build.yamlio import dump

    template = workloads.scale_template(count)
    assert len(template["Resources"]) == count
    resolved, _ = resolved_targets({"scale.yaml": template}, ["dev"], gate.regions)
    assert resolved == [], "no Environment parameter: the gate lints it as written only"
    assert gate.lint_all([LintTarget("scale.yaml", dump(template), gate.regions)], jobs=1) == []


def test_a_simulated_deploy_reports_after_its_last_event_within_the_poll_bound():
    simulation = Simulation.make(0.4, 0.0, 0, quiet_tail=True)
    latency = simulation.run()
    assert 0.0 < latency < 2.5
    assert simulation.cloud.events[simulation.cloud.root_id][-1]["ResourceStatus"] == \
        "CREATE_COMPLETE"


def test_the_report_is_markdown_and_json(tmp_path: Path, capsys):
    results = measure.Results()
    results.add(measure.Figure("render", "webstack render", [0.1, 0.2, 0.15], target=0.2))
    results.skip("cdk synth", "node is not on PATH")
    meta = {"command": "python -m scripts.tools.bench", "finished": "now", "machine": "m",
            "cores": 2, "load_before": "0", "load_after": "0", "elapsed": 1.0}
    written = measure.report(results, meta, tmp_path)
    markdown = written.read_text(encoding="utf-8")
    assert "| webstack render | 0.15 s | 0.10 s | 0.20 s | 3 | <= 0.20 s | yes |" in markdown
    assert "skipped cdk synth: node is not on PATH" in markdown
    document = json.loads(written.with_suffix(".json").read_text(encoding="utf-8"))
    assert document["figures"][0]["median"] == 0.15
    assert "| figure |" in capsys.readouterr().out


def test_the_local_endpoint_is_stopped_even_when_a_measurement_fails(tmp_path: Path):
    state = tmp_path / "state"
    before = os.environ.get(paths.STATE_DIR_ENV)
    with pytest.raises(RuntimeError), bench.local_endpoint(state) as url:
        assert url.startswith("http://localhost:")
        raise RuntimeError("a measurement failed")
    assert not (state / "local.json").exists()
    assert os.environ.get(paths.STATE_DIR_ENV) == before


def test_measured_commands_write_bytecode_as_a_users_python_does(monkeypatch):
    """Without bytecode, every webstack run compiled its own modules from source while the
    baselines' came compiled from their wheels: the ratios measured that, not webstack."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("AWS_PROFILE", "someone")
    env = measure.clean_env(EXTRA="1")
    assert "PYTHONDONTWRITEBYTECODE" not in env and "AWS_PROFILE" not in env
    assert env["EXTRA"] == "1"


def test_the_readme_figures_are_the_block_between_the_markers_and_only_it(tmp_path: Path):
    """--readme rewrites the README's table and the line saying when, where and under what
    load it was measured; the rest of the README stays as written."""
    results = measure.Results()
    results.add(measure.Figure("render", "webstack render (whole process)", [0.2, 0.3, 0.25],
                               target=0.2))
    results.skip("cdk synth", "no CDK app given; pass --cdk-app FOLDER")
    meta = {"finished": "2026-12-07T13:00:00+00:00", "machine": "box", "cores": 2,
            "load_before": "0.10 0.20 0.30", "load_after": "0.40 0.50 0.60",
            "command": "python -m scripts.tools.bench --readme"}
    block = measure.readme_block(results, meta)
    assert block.startswith("Latest, measured 2026-12-07 on box (2 cores, load 0.10 0.20 0.30 "
                            "before and 0.40 0.50 0.60 after), with `python -m scripts.tools."
                            "bench --readme`.")
    assert "| webstack render (whole process) | 0.25 s | 0.20 s | 0.30 s | 3 | <= 0.20 s | " \
           "**no** |" in block
    assert block.endswith("- skipped cdk synth: no CDK app given; pass --cdk-app FOLDER")

    readme = (paths.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    rewritten = measure.with_readme_block(readme, block)
    before, _, after = readme.partition(measure.README_BEGIN)
    assert rewritten.startswith(before + measure.README_BEGIN + "\n" + block + "\n")
    assert rewritten.endswith(after[after.index(measure.README_END):])
    assert measure.with_readme_block(rewritten, block) == rewritten  # the block, once
    with pytest.raises(measure.BenchError, match="no '<!-- bench:begin"):
        measure.with_readme_block("# a README without the markers\n", block)


@pytest.mark.parametrize(("argv", "says"), [
    (["--readme", "--only", "gate"], "--only leaves out deploy, latency, scale"),
    (["--readme", "--runs", "0"], "--runs, --slow-runs and --latency-trials"),
])
def test_a_bench_that_could_not_write_the_readme_is_refused_before_it_measures(
        argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err


def test_the_readme_can_take_the_bench_figures(tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n", encoding="utf-8")
    assert "put the two lines back" in str(measure.readme_refusal(bench.SECTIONS, bench.SECTIONS,
                                                                   readme))
    assert measure.readme_refusal(bench.SECTIONS, bench.SECTIONS,
                                  paths.REPO_ROOT / "README.md") is None
