"""The faster gate (one text per template, the environments' own resources appended) finds
what linting every resolved variant as a text of its own finds, and says where."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.build import yamlio
from scripts.build.gate import Finding, LintTarget, gate_set, merged_targets, resolved_targets
from scripts.build.variants import Variant, equivalent, merge
from scripts.paths import BUILD_DIR

ENVIRONMENTS = ["dev", "staging", "prod"]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rules"


def _separately(gate, texts: dict[str, str]) -> set[tuple[str, str, str]]:
    """The old way: each written text, and each resolved variant as a text of its own."""
    parsed = {label: yamlio.load(text) for label, text in texts.items()}
    written = [LintTarget(label, text, gate.regions) for label, text in texts.items()]
    resolved, problems = resolved_targets(parsed, ENVIRONMENTS, gate.regions)
    return {(f.template.split(" [")[0], f.rule, f.template.split(" [")[1].split(",")[0]
             if " [" in f.template else "written")
            for f in [*problems, *gate.lint_all([*written, *resolved], jobs=1)]}


def _merged(findings: list[Finding]) -> set[tuple[str, str, str]]:
    return {(f.template.split(" [")[0], f.rule, f.template.split(" [")[1].split(",")[0]
             if " [" in f.template else "written") for f in findings}


def _build(name: str) -> str:
    return (BUILD_DIR / name).read_text(encoding="utf-8")


def _in_column(text: str, environment: str, old: str, new: str) -> str:
    at = text.index(f"    {environment}:\n")
    return text[:at] + text[at:].replace(old, new, 1)


MUTATIONS = {
    "prod instance type": ("compute.yaml", lambda t: _in_column(
        t, "prod", "InstanceType: m6i.large", "InstanceType: m6i.huge")),
    "staging db class": ("database.yaml", lambda t: _in_column(
        t, "staging", "DbInstanceClass: db.t3.small", "DbInstanceClass: db.m1.small")),
    "deprecated engine": ("database.yaml", lambda t: t.replace(
        "EngineVersion: '13.23'", "EngineVersion: '13.7'")),
    "prod retention": ("network.yaml", lambda t: _in_column(
        t, "prod", "LogRetentionDays: '365'", "LogRetentionDays: '366'")),
    # Region-keyed values: one region's column of a per-region template's RegionMap.
    "us-west-2 ami": ("compute.yaml", lambda t: t.replace(
        "Ami: ami-0d53cc9bd365ad65b", "Ami: not-an-ami")),
    "us-west-2 log delivery account": ("storage.yaml", lambda t: t.replace(
        "ElbLogDeliveryAccount: '797873946194'", "ElbLogDeliveryAccount: 'x'")),
}


def _mutated(mutation: str) -> dict[str, str]:
    name, mutate = MUTATIONS[mutation]
    return {f"copy/{name}": mutate(_build(name))}


_FOUND: dict[tuple[int, str], list[Finding]] = {}


def _merged_findings(gate, mutation: str) -> list[Finding]:
    """The merged gate's findings for one mutation, linted once per worker: the tests below
    ask different questions of the same findings (they run on one worker: MUTATED)."""
    key = (id(gate), mutation)
    if key not in _FOUND:
        _FOUND[key] = gate_set(_mutated(mutation), gate)
    return _FOUND[key]


MUTATED = pytest.mark.xdist_group("test_gate_merged-mutations")


@MUTATED
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_the_merged_gate_finds_what_linting_every_variant_separately_finds(gate, mutation):
    texts = _mutated(mutation)
    name = MUTATIONS[mutation][0]
    assert texts[f"copy/{name}"] != _build(name), "the mutation must change the template"
    merged = _merged_findings(gate, mutation)
    assert merged, f"{mutation} passed the merged gate"
    assert _merged(merged) == _separately(gate, texts)


@MUTATED
def test_a_finding_in_one_column_names_that_environment_and_the_original_resource(gate):
    findings = [f for f in _merged_findings(gate, "prod instance type") if "m6i.huge" in f.message]
    assert findings and all(f.template.startswith("copy/compute.yaml [prod, resolved for ")
                            for f in findings)
    assert all(f.location.startswith("Resources/LaunchTemplate/") for f in findings)
    assert "Variant" not in " ".join(str(f) for f in findings)


@MUTATED
@pytest.mark.parametrize("mutation", ["us-west-2 ami", "us-west-2 log delivery account"])
def test_a_bad_value_in_one_regions_column_names_that_region_only(gate, mutation):
    findings = _merged_findings(gate, mutation)
    assert findings
    assert {f.template.split("resolved for ")[1] for f in findings} == {"us-west-2]"}


def test_a_finding_in_the_written_part_keeps_the_build_files_line(gate):
    text = _build("network.yaml").replace("TrafficType: ALL", "TrafficType: SOME", 1)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "TrafficType: SOME" in row)
    findings = [f for f in gate_set({"copy/network.yaml": text}, gate) if "SOME" in f.message]
    assert findings
    assert {(f.template, f.location) for f in findings} == {("copy/network.yaml", str(line))}


@pytest.mark.parametrize("rule", sorted(p.name for p in FIXTURES.iterdir()))
def test_each_project_rules_bad_fixture_still_fails(gate, rule):
    text = (FIXTURES / rule / "fail.yaml").read_text(encoding="utf-8")
    assert rule in {f.rule for f in gate_set({f"fixtures/{rule}/fail.yaml": text}, gate)}


def test_a_resource_the_same_but_for_the_environment_name_is_not_linted_again():
    written = {"Value": {"Ref": "Environment"}, "Name": {"Fn::Sub": "webstack-${Environment}-x"}}
    assert equivalent(written, {"Value": "prod", "Name": "webstack-prod-x"},
                      {"Environment": "prod"})
    assert not equivalent(written, {"Value": "prod", "Name": "webstack-prod-y"},
                          {"Environment": "prod"})
    assert not equivalent({"Cidr": {"Fn::FindInMap": ["M", {"Ref": "Environment"}, "C"]}},
                          {"Cidr": "10.0.0.0/16"}, {"Environment": "prod"})


def test_a_duplicate_inside_one_environment_is_still_reported_but_not_across_environments():
    body = {"Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "Policy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": "Bucket"}, "PolicyDocument": {"Statement": []}}},
    }}
    text = yamlio.dump(body)
    variants = [Variant(env, ("us-east-1",), {"Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "Policy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": "Bucket"}, "PolicyDocument": {"Statement": [env]}}},
    }}) for env in ("dev", "prod")]
    texts = merge(text, body, variants, "t.yaml")
    assert texts is not None and len(texts) == 1, "nothing differs by region: one text"
    merged = texts[0]
    dev, prod = sorted(merged.origins, key=lambda n: merged.origins[n][1])
    assert not merged.coexist({"Policy", dev, prod}), "variants never share a template"
    assert not merged.coexist({dev, prod})
    assert merged.coexist({"Bucket", dev}), "a variant keeps the written resources it shares"


def test_the_merged_texts_cover_every_region_of_every_template(gate):
    texts = {f"build/{p.name}": p.read_text(encoding="utf-8")
             for p in sorted(BUILD_DIR.glob("*.yaml"))}
    targets, problems = merged_targets(texts, ENVIRONMENTS, gate.regions)
    assert problems == []
    for label in texts:
        covered = {r for t in targets if t.label == label for r in t.regions}
        assert covered == set(gate.regions), label
    assert len(targets) < len(resolved_targets(
        {k: yamlio.load(v) for k, v in texts.items()}, ENVIRONMENTS, gate.regions)[0])


def test_a_resource_that_reads_a_region_keyed_map_is_linted_for_its_own_region_only(gate):
    """compute's launch template differs by region (its AMI): each region's versions are
    linted for that region alone, not in the text linted for every region."""
    texts = {"build/compute.yaml": _build("compute.yaml")}
    targets, _ = merged_targets(texts, ENVIRONMENTS, gate.regions)
    main = [t for t in targets if t.regions == gate.regions]
    scoped = {t.regions: t for t in targets if t.regions != gate.regions}
    assert len(main) == 1 and set(scoped) == {(region,) for region in gate.regions}
    for (region,), target in scoped.items():
        assert target.merged is not None and target.merged.only
        assert {target.merged.origins[n][0] for n in target.merged.only} == {"LaunchTemplate"}
        assert all(target.merged.origins[n][1].endswith(f"resolved for {region}]")
                   for n in target.merged.only)
        assert not target.merged.only & set(yamlio.load(main[0].text)["Resources"])
