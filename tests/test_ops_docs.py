"""The deployment guide, the troubleshooting page and docker/README.md name only what exists.

Their code spans and fenced shell blocks are parsed: every ``make`` target, console script (and the
``vjepa2-goal`` command line), ``ros2 run`` / installed node executable with its ``-p`` parameters,
``vjepa2-launch`` / ``ros2 launch vjepa2`` graph with its ``name:=value`` arguments, ``~/name`` a node creates,
dotted parameter name, ``vjepa2_*`` module attribute and repository path (code spans and links, with #anchors)
must exist. Graphs that the parallel bringup branches add are expected failures until they land
(``test_docker.LANDING_GRAPHS``).
"""

from __future__ import annotations

import importlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_docker import require_graph
from vjepa2_franka.bridge_node import BridgeParams

from vjepa2.graphs import GRAPHS
from vjepa2_common.lifecycle import LifecycleParams
from vjepa2_common.params import schema_specs
from vjepa2_common.tools.image_publisher import ImagePublisherParams
from vjepa2_common.tools.relay import RelayParams
from vjepa2_perception.encoder_node import EncoderParams
from vjepa2_planner.goal_cli import parser as goal_parser
from vjepa2_planner.params import PlannerParams
from vjepa2_sim.sim_node import SimParams
from vjepa2_training.data.recorder_node import RecorderParams

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("docs/deployment.md", "docs/troubleshooting.md", "docker/README.md")
#: the parameters of each node executable the docs may run with ``-p name:=value``
NODE_SCHEMAS = {
    "planner_node": (LifecycleParams, PlannerParams),
    "encoder_node": (LifecycleParams, EncoderParams),
    "franky_bridge": (LifecycleParams, BridgeParams),
    "sim_node": (SimParams,),
    "image_publisher": (ImagePublisherParams,),
    "relay": (RelayParams,),
    "vjepa2-record": (RecorderParams,),
}
PARAMETERS = {spec.name for schemas in NODE_SCHEMAS.values() for s in schemas for spec in schema_specs(s)}
#: parameter groups: a code span ``<group>.<name>`` is a parameter name
PARAMETER_GROUPS = {name.split(".")[0] for name in PARAMETERS if "." in name}


@dataclass(frozen=True)
class Span:
    doc: str
    text: str
    fenced: bool  # a line of a fenced code block (else an inline code span)


def spans(doc: str) -> list[Span]:
    text = (ROOT / doc).read_text()
    found: list[Span] = []
    for block in re.findall(r"^```[\w-]*\n(.*?)^```", text, re.M | re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            if line.strip():
                found.append(Span(doc, line.strip(), True))
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    found += [Span(doc, s, False) for s in re.findall(r"`([^`\n]+)`", prose)]
    return found


def links(doc: str) -> list[str]:
    prose = re.sub(r"^```.*?^```", "", (ROOT / doc).read_text(), flags=re.M | re.S)
    prose = re.sub(r"`[^`\n]+`", "", prose)
    return re.findall(r"\]\(([^)\s]+)\)", prose)


ALL_SPANS = [span for doc in DOCS for span in spans(doc)]


def commands(span: Span) -> list[list[str]]:
    """The shell commands of a span (split at && ; |), without leading VAR=value, comments dropped."""
    try:
        tokens = shlex.split(span.text, comments=True)
    except ValueError:
        return []
    out: list[list[str]] = [[]]
    for token in tokens:
        if token in ("&&", ";", "|", "||"):
            out.append([])
        else:
            out[-1].append(token)
    cleaned = []
    for cmd in out:
        while cmd and re.fullmatch(r"[A-Z_]+=\S*", cmd[0]):
            cmd = cmd[1:]
        if cmd:
            cleaned.append(cmd)
    return cleaned


def all_commands() -> list[tuple[Span, list[str]]]:
    return [(span, cmd) for span in ALL_SPANS for cmd in commands(span)]


def console_scripts() -> dict[str, set[str]]:
    """package -> its console scripts (setup.py entry points; vjepa2_core's pyproject scripts)."""
    found: dict[str, set[str]] = {}
    for setup in ROOT.glob("*/setup.py"):
        found[setup.parent.name] = set(re.findall(r'"([\w.-]+)\s*=\s*[\w.]+:\w+"', setup.read_text()))
    scripts = (ROOT / "vjepa2_core/pyproject.toml").read_text().split("[project.scripts]")[1].split("\n[")[0]
    found["vjepa2_core"] = set(re.findall(r"^([\w-]+)\s*=", scripts, re.M))
    return found


SCRIPTS = console_scripts()
ALL_SCRIPTS = {name for names in SCRIPTS.values() for name in names}


def check_ros_parameters(executable: str, args: list[str], where: str) -> None:
    schemas = NODE_SCHEMAS.get(executable)
    for i, arg in enumerate(args):
        if arg == "-p" and i + 1 < len(args) and schemas:
            name = args[i + 1].split(":=")[0]
            known = {spec.name for s in schemas for spec in schema_specs(s)} | {"use_sim_time"}
            assert name in known, f"{where}: {executable} has no parameter {name}"


def check_goal_command(args: list[str], full: bool, where: str) -> None:
    """A whole command line must parse; prose (`vjepa2-goal save --qos`) must name a subcommand and its options."""
    subcommands = goal_parser()._subparsers._group_actions[0].choices
    assert args[0] in subcommands, f"{where}: vjepa2-goal has no subcommand {args[0]}"
    if full:
        try:
            goal_parser().parse_args(args)
        except SystemExit:
            pytest.fail(f"{where}: vjepa2-goal does not take these arguments")
    for option in (a for a in args[1:] if a.startswith("--")):
        assert option in subcommands[args[0]]._option_string_actions, f"{where}: no option {option}"


def test_commands_name_existing_targets_scripts_executables_and_parameters() -> None:
    targets = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), re.M))
    checked = 0
    for span, cmd in all_commands():
        where, word = f"{span.doc}: `{span.text}`", cmd[0]
        if word == "make":
            for target in (t for t in cmd[1:] if not t.startswith("-") and "=" not in t):
                assert target in targets, f"{where}: no make target {target}"
            checked += 1
        elif word == "ros2" and cmd[1:2] == ["run"]:
            package, executable = cmd[2], cmd[3]
            assert executable in SCRIPTS.get(package, ()), f"{where}: {package} has no executable {executable}"
            check_ros_parameters(executable, cmd[4:], where)
            checked += 1
        elif m := re.fullmatch(r"install/(\w+)/lib/(\w+)/([\w-]+)", word):
            assert m.group(1) == m.group(2) and m.group(3) in SCRIPTS.get(m.group(1), ()), f"{where}: no {word}"
            check_ros_parameters(m.group(3), cmd[1:], where)
            checked += 1
        elif re.fullmatch(r"vjepa2-[a-z-]+", word) or word in NODE_SCHEMAS:  # not file names (vjepa2-ac-vitg.pt)
            assert word in ALL_SCRIPTS, f"{where}: no console script {word}"
            if word == "vjepa2-goal" and len(cmd) > 1:
                check_goal_command(cmd[1:], span.fenced, where)
            check_ros_parameters(word, cmd[1:], where)
            checked += 1
    assert checked >= 20, f"only {checked} commands found: is the parsing broken?"


def graph_mentions() -> list[tuple[str, tuple[str, ...], str]]:
    """(graph, its name:=value argument names, where) of every vjepa2-launch / ros2 launch vjepa2 command."""
    found = []
    for span, cmd in all_commands():
        where = f"{span.doc}: `{span.text}`"
        if cmd[0] == "vjepa2-launch":
            rest = [t for t in cmd[1:] if not t.startswith("-")]
            if rest and ":=" not in rest[0] and not rest[0].startswith("<"):
                found.append((rest[0], tuple(t.split(":=")[0] for t in rest[1:] if ":=" in t), where))
        elif cmd[:3] == ["ros2", "launch", "vjepa2"] and len(cmd) > 3 and not cmd[3].startswith("<"):
            graph = cmd[3].removesuffix(".launch.py")
            found.append((graph, tuple(t.split(":=")[0] for t in cmd[4:] if ":=" in t), where))
    return found


def test_graph_mentions_were_found() -> None:
    names = {graph for graph, _, _ in graph_mentions()}
    assert {"plan", "sim"} <= names, names


@pytest.mark.parametrize("graph", sorted({graph for graph, _, _ in graph_mentions()}))
def test_graphs_launch_files_and_arguments_exist(graph: str) -> None:
    require_graph(graph)
    assert (ROOT / "vjepa2" / "launch" / f"{graph}.launch.py").is_file(), f"no launch file for graph {graph}"
    declared = {a.name for a in GRAPHS[graph].arguments}
    for name, args, where in graph_mentions():
        if name == graph:
            assert set(args) <= declared, f"{where}: graph {graph} has no argument(s) {set(args) - declared}"


def node_sources() -> str:
    return "\n".join(p.read_text() for p in ROOT.glob("vjepa2*/vjepa2*/**/*.py"))


def test_private_names_and_parameters_exist() -> None:
    sources = node_sources()
    created = set(re.findall(r"""["'](~/[\w/]+)["']""", sources))
    for span in ALL_SPANS:
        for name in re.findall(r"~/[\w/]+", span.text):
            assert name in created, f"{span.doc}: no node creates {name} (`{span.text}`)"
        if span.fenced:
            continue
        key = span.text.split(": ")[0].split(":=")[0]  # `model.dtype: bfloat16`, `cem.samples:=800`
        if re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", key) and key.split(".")[0] in PARAMETER_GROUPS:
            assert key in PARAMETERS, f"{span.doc}: no node has a parameter {key}"


def test_module_attributes_exist() -> None:
    checked = 0
    for span in ALL_SPANS:
        if span.fenced or not re.fullmatch(r"vjepa2\w*(\.\w+)+", span.text):
            continue
        parts = span.text.split(".")
        for cut in range(len(parts), 0, -1):  # the longest importable module, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                assert hasattr(obj, attr), f"{span.doc}: `{span.text}` does not exist"
                obj = getattr(obj, attr)
            checked += 1
            break
        else:
            pytest.fail(f"{span.doc}: `{span.text}` is no module")
    assert checked >= 2


def heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors of a markdown file's headings."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", path.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_paths_and_links_exist() -> None:
    top = {p.name for p in ROOT.iterdir()}
    ignored = set(re.findall(r"^/?([\w.-]+)/?$", (ROOT / ".gitignore").read_text(), re.M))
    checked = 0
    for doc in DOCS:
        base = (ROOT / doc).parent
        for target in links(doc):
            if re.match(r"https?://", target):
                continue
            file, _, anchor = target.partition("#")
            path = (base / file).resolve() if file else ROOT / doc
            assert path.exists(), f"{doc}: link to {target}, which does not exist"
            if anchor and path.suffix == ".md":
                assert anchor in heading_anchors(path), f"{doc}: {target}: no heading with anchor #{anchor}"
            checked += 1
        for span in spans(doc):
            for word in span.text.split() if span.fenced else [span.text]:
                word = word.strip("\"',;()")
                first = word.split("/")[0]
                if "/" not in word or first not in top or first in ignored or not re.fullmatch(r"[\w./*<>-]+", word):
                    continue
                if "<" in word or "*" in word:
                    continue  # a pattern (docker/Dockerfile's `ros:<distro>`, `vjepa2_*/config`)
                assert (ROOT / word).exists(), f"{doc}: `{word}` does not exist in the repository"
                checked += 1
    assert checked >= 20, checked
