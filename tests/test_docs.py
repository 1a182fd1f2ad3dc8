"""The READMEs describe what exists: every interface, graph, argument, launch file, config and build argument."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vjepa2.graphs import GRAPHS

ROOT = Path(__file__).resolve().parents[1]


def read(path: str) -> str:
    return (ROOT / path).read_text()


def interfaces() -> list[str]:
    """The interfaces vjepa2_msgs generates (its CMakeLists.txt), e.g. ``srv/RenderGoal.srv``."""
    found = re.findall(r'"((?:msg|srv|action)/\w+\.(?:msg|srv|action))"', read("vjepa2_msgs/CMakeLists.txt"))
    assert found and all((ROOT / "vjepa2_msgs" / f).is_file() for f in found)
    assert sorted(found) == sorted(
        str(p.relative_to(ROOT / "vjepa2_msgs")) for p in (ROOT / "vjepa2_msgs").glob("*/*.*")
    )
    return found


def test_every_interface_is_in_the_top_readme_row_and_documented() -> None:
    row = next(line for line in read("README.md").splitlines() if line.startswith("| [`vjepa2_msgs`]"))
    docs = read("vjepa2_msgs/README.md")
    for path in interfaces():
        kind, name = path.split("/")[0], Path(path).stem
        assert f"`{name}`" in row, f"README.md's vjepa2_msgs row does not name {name}"
        assert f"### `{name}` ({kind})" in docs, f"vjepa2_msgs/README.md has no section for {name}"
        for field in re.findall(r"^\s*[\w/]+(?:\[\d*\])?\s+(\w+)\s*(?:#.*)?$", read(f"vjepa2_msgs/{path}"), re.M):
            assert f"`{field}`" in docs, f"vjepa2_msgs/README.md does not explain {name}.{field}"


def test_the_bringup_readme_covers_every_graph_argument_launch_file_and_config() -> None:
    docs = read("vjepa2/README.md")
    for graph in GRAPHS.values():
        section = docs.split(f"### `{graph.name}`", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
        for argument in graph.arguments:
            assert f"| `{argument.name}` |" in section, f"vjepa2/README.md: {graph.name} lacks {argument.name}"
    for path in [*(ROOT / "vjepa2" / "launch").glob("*.py"), *(ROOT / "vjepa2" / "config").glob("*.yaml")]:
        assert path.name in docs, f"vjepa2/README.md does not mention {path.name}"


def test_the_docker_readme_lists_every_build_argument() -> None:
    docs = read("docker/README.md")
    for name in re.findall(r"^ARG (\w+)", read("docker/Dockerfile"), re.M):
        assert f"| `{name}` |" in docs


def test_make_demo_arguments_are_documented_and_passed() -> None:
    assert re.search(r"^demo: .*\n\t.*demo\.sh \$\(DEMO_ARGS\)$", read("Makefile"), re.M)
    assert 'make demo DEMO_ARGS="--params-file' in read("README.md")


@pytest.mark.parametrize(
    "node", ["vjepa2_sim/vjepa2_sim/sim_node.py", "vjepa2_perception/vjepa2_perception/encoder_node.py"]
)
def test_private_names_in_a_node_exist(node: str) -> None:
    """Every ``~/name`` a node's strings mention (parameter descriptions, messages) is one it creates."""
    source = read(node)
    created = set(re.findall(r'create_\w+\(\s*\w+,\s*f?"(~/[\w/{}]+)"', source))
    patterns = [re.compile(re.sub(r"\\\{\w+\\\}", r"\\w+", re.escape(c)) + "(/.*)?") for c in created]
    for mention in set(re.findall(r"~/[\w/]+", source)):
        known = any(p.fullmatch(mention) for p in patterns) or any(c.startswith(mention) for c in created)
        assert known, f"{node} mentions {mention}, which it does not create"


def test_no_document_promises_by_issue_number() -> None:
    for path in [ROOT / "README.md", *ROOT.glob("*/README.md")]:
        assert "next issue" not in path.read_text().lower(), path
