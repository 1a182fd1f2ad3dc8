"""vjepa2/config/sim.yaml runs the embedded demo model as it was trained, and the demo's graph wires it up.

The conventions have one owner each: the data collector's defaults (what `vjepa2-collect-sim` recorded), the
training configs demo_pretrain.yaml / demo_ac.yaml, vjepa2_sim's views and reach box. This checks the closed-loop
parameter file against them, so that a change on either side shows here rather than as a demo that cannot reach.
"""

from __future__ import annotations

from pathlib import Path

from vjepa2.demo import DEMO_GRAPH, DEMO_PARAMS, ENCODER_NODE, PLANNER_NODE
from vjepa2.graphs import get_graph
from vjepa2_common import names
from vjepa2_common.params import parameter_file_values
from vjepa2_common.paths import split_package_url
from vjepa2_sim.scene import REACH_BOX_MAX, REACH_BOX_MIN
from vjepa2_sim.views import STEREO_CAMERA, VIRTUAL_CAMERAS
from vjepa2_training.config_io import load_yaml
from vjepa2_training.data.sim_collect import PlaySettings
from vjepa2_training.train.configs import ACConfig, PretrainConfig

ROOT = Path(__file__).resolve().parents[2]
SIM_YAML = ROOT / "vjepa2" / "config" / DEMO_PARAMS
CONFIGS = ROOT / "vjepa2_training" / "config"


def test_sim_yaml_matches_the_demo_models_training() -> None:
    sim = parameter_file_values(SIM_YAML, names.SIM_NODE)
    encoder = parameter_file_values(SIM_YAML, ENCODER_NODE)
    planner = parameter_file_values(SIM_YAML, PLANNER_NODE)
    data = PlaySettings()  # vjepa2-collect-sim's defaults: how the demo data was recorded
    pretrain = load_yaml(PretrainConfig, CONFIGS / "demo_pretrain.yaml")
    ac = load_yaml(ACConfig, CONFIGS / "demo_ac.yaml")

    # the observation: the stereo pair, each view as recorded
    assert sim["cameras"] == [STEREO_CAMERA] and VIRTUAL_CAMERAS[STEREO_CAMERA] == tuple(data.cameras)
    assert sim["goal_camera"] == STEREO_CAMERA
    assert sim["image_width"] == sim["image_height"] == data.image_size
    assert sim["render_geometry"] == data.render_geometry
    # the preprocessing: the whole tiled frame, squashed to the training crop
    assert encoder["preprocessing"] == "ac" and encoder["mode"] == "per_frame"
    assert encoder["crop_size"] == ac.data.crop_size == pretrain.data.crop_size
    assert encoder["ac_max_aspect"] == ac.data.crop_aspect == len(data.cameras)
    assert encoder["output.normalize"] is True  # the planner's convention
    # the predictor: sizes and token grid of the trained one
    assert planner["predictor.grid_size"] == ac.data.crop_size // pretrain.encoder.patch_size
    assert planner["predictor.enc_embed_dim"] == pretrain.encoder.embed_dim
    for key in ("embed_dim", "depth", "num_heads"):
        assert planner[f"predictor.{key}"] == getattr(ac.predictor, key), key
    assert planner["cem.max_translation"] <= 0.075
    # the safety box: the reach box the cameras frame and the data covers
    assert planner["limits.workspace_min"] == list(REACH_BOX_MIN)
    assert planner["limits.workspace_max"] == list(REACH_BOX_MAX)
    # the shipped weights, by package path
    for value, name in ((encoder["model.checkpoint"], "encoder"), (planner["predictor.checkpoint"], "predictor")):
        assert split_package_url(value) == ("vjepa2", f"models/demo/{name}.safetensors")


def test_the_demo_graph_feeds_the_stereo_camera_to_the_encoder() -> None:
    nodes = {n.name: n for n in get_graph(DEMO_GRAPH).nodes({"params_file": str(SIM_YAML)})}
    assert {names.SIM_NODE, ENCODER_NODE, PLANNER_NODE} <= set(nodes)
    assert all(str(SIM_YAML) in n.parameters for n in nodes.values())
    camera = names.CAMERA_IMAGE_TOPIC.lstrip("/")
    assert (f"{STEREO_CAMERA}/image_raw", camera) in nodes[names.SIM_NODE].remappings
    assert ("image", camera) in nodes[ENCODER_NODE].remappings
