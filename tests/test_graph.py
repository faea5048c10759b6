"""``webstack graph``: the stacks and their wiring, drawn from build/ (the README shows it)."""

from __future__ import annotations

import re

from scripts.build import graph, yamlio
from scripts.cli import main
from scripts.paths import BUILD_DIR, REPO_ROOT
from templates_src.stacks import CHILDREN


def _root() -> dict:
    return yamlio.load((BUILD_DIR / "root.yaml").read_text(encoding="utf-8"))


def test_the_readme_picture_is_the_graph_of_build():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    (picture,) = re.findall(r"```mermaid\n(.*?)```", readme, flags=re.S)
    assert picture == graph.render(_root(), "mermaid"), "run 'webstack graph' into the README"


def test_every_child_is_nested_in_the_root_and_every_wire_comes_from_the_templates():
    drawn = graph.build_graph(_root())
    assert len(drawn.nesting) == len(CHILDREN)
    resources = _root()["Resources"]
    for source, target, label in drawn.wiring:
        passed = resources[target]["Properties"]["Parameters"]
        for name in label.split(", "):
            output, _, parameter = name.partition("→")
            assert passed[parameter or output] == {
                "Fn::GetAtt": [source, f"Outputs.{output}"]}
    assert ("NetworkStack", "DatabaseStack", "DatabaseSubnetIds") in drawn.wiring


def test_a_renamed_wire_shows_both_names():
    root = {"Resources": {
        "A": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "a.yaml"}},
        "B": {"Type": "AWS::CloudFormation::Stack", "Properties": {
            "TemplateURL": "b.yaml", "Parameters": {"Vpc": {"Fn::GetAtt": ["A", "Outputs.VpcId"]},
                                                    "Env": {"Ref": "Environment"}}}},
    }}
    assert graph.render(root, "dot").splitlines()[-2] == '  "A" -> "B" [label="VpcId→Vpc"];'


def test_the_command_prints_mermaid_or_dot(capsys):
    assert main(["graph", "--format", "dot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph webstack {") and '"root" -> "DatabaseStack"' in out
