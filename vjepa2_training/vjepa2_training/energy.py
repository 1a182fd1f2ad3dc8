"""Energy landscape of a trained AC predictor around a recorded step (CLI ``vjepa2-energy-landscape``).

For recorded frame k of an episode, every candidate action on a grid of (Δx, Δy) (the other action dims are
the recorded ones, or zero) is rolled one step through the predictor from (z_k, s_k); its energy is
``mean |LN(pred) - LN(z_{k+1})|`` against the recorded next frame, as in the V-JEPA 2 paper's figure. A good
model has its minimum near the recorded action.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from vjepa2_core.checkpoint import load_ac_predictor
from vjepa2_core.models import ACPredictor, ACPredictorConfig
from vjepa2_core.planning import predictor_step, rollout_energy

from .augment import ACClipTransform
from .checkpointing import LATEST, load_checkpoint
from .configs import FrozenEncoderSpec
from .episodes import EpisodeStore
from .export import export_metadata
from .frozen_encoder import encode_frames, load_frozen_encoder
from .plot_losses import save_figure


@dataclass
class EnergyLandscape:
    """Energies ``[n, n]`` over ``dx`` (columns) x ``dy`` (rows), with the recorded action for reference."""

    dx: np.ndarray
    dy: np.ndarray
    energy: np.ndarray
    recorded_action: np.ndarray
    episode: str
    step: int

    @property
    def argmin(self) -> tuple[float, float]:
        """(Δx, Δy) of the lowest energy."""
        row, col = np.unravel_index(int(np.argmin(self.energy)), self.energy.shape)
        return float(self.dx[col]), float(self.dy[row])


def load_ac_run(run_dir: Path, device: torch.device) -> tuple[ACPredictor, dict]:
    """The trained predictor of an AC run (its export, else its latest checkpoint) and how to encode frames:
    ``{"frozen_encoder": {"checkpoint", "source"}, "crop_size", "crop_aspect"}``."""
    exported = run_dir / "export" / "ac_predictor.safetensors"
    if exported.is_file():
        predictor = load_ac_predictor(exported, device=device)
        info = export_metadata(exported)
    else:
        ckpt = load_checkpoint(run_dir / "checkpoints" / LATEST, kind="ac")
        predictor = ACPredictor(ACPredictorConfig.from_dict(ckpt["models"]["predictor_config"]), init_weights=False)
        predictor.load_state_dict(ckpt["models"]["predictor"])
        cfg = ckpt["config"]
        info = {"frozen_encoder": cfg["encoder"], **{k: cfg["data"][k] for k in ("crop_size", "crop_aspect")}}
    return predictor.to(device).eval(), info


@torch.no_grad()
def energy_landscape(
    ac_run: Path,
    dataset: Path,
    episode: int = 0,
    step: int = 0,
    span: float = 0.075,
    grid: int = 21,
    others: str = "recorded",
    device: str = "cpu",
    chunk: int = 64,
) -> EnergyLandscape:
    """Energy over a ``grid`` x ``grid`` lattice of Δx, Δy in [-span, span] around recorded step ``step``."""
    dev = torch.device(device)
    predictor, info = load_ac_run(Path(ac_run), dev)
    encoder = load_frozen_encoder(FrozenEncoderSpec(**info["frozen_encoder"]), dev)
    store = EpisodeStore(dataset)
    if not 0 <= episode < len(store):
        raise ValueError(f"episode index {episode} out of range: the dataset has {len(store)} episodes")
    ep = store.load(episode)
    if not 0 <= step < ep.num_frames - 1:
        raise ValueError(f"step {step} out of range: episode {ep.episode_id} has {ep.num_frames} frames")
    transform = ACClipTransform(info["crop_size"], info["crop_aspect"])
    video = transform(ep.frames([step, step + 1]), None).unsqueeze(0).to(dev)
    z = encode_frames(encoder, video)  # [1, 2*Npf, D]
    npf = predictor.cfg.tokens_per_frame
    context, goal = z[:, :npf], z[:, npf:]
    recorded = ep.actions[step].astype(np.float64)
    base = recorded.copy() if others == "recorded" else np.zeros(7)
    offsets = np.linspace(-span, span, grid)
    actions = np.repeat(base[None], grid * grid, axis=0)
    mesh_y, mesh_x = np.meshgrid(offsets, offsets, indexing="ij")
    actions[:, 0] = mesh_x.ravel()
    actions[:, 1] = mesh_y.ravel()
    state = torch.as_tensor(ep.states[step], dtype=torch.float32, device=dev)
    step_fn = predictor_step(predictor, npf)
    energies = []
    for lo in range(0, len(actions), chunk):
        a = torch.as_tensor(actions[lo : lo + chunk], dtype=torch.float32, device=dev).unsqueeze(1)  # [B, 1, 7]
        energies.append(rollout_energy(step_fn, context[0], state, goal[0], a).cpu())
    energy = torch.cat(energies).numpy().reshape(grid, grid)
    return EnergyLandscape(offsets, offsets, energy, recorded, ep.episode_id, step)


def plot_landscape(land: EnergyLandscape, output: Path) -> Path:
    """Heat map of the landscape (PNG) with the recorded action and the minimum marked."""
    fig, ax = plt.subplots(figsize=(5.6, 4.6), dpi=120)
    extent = [land.dx[0] * 100, land.dx[-1] * 100, land.dy[0] * 100, land.dy[-1] * 100]
    image = ax.imshow(land.energy, origin="lower", extent=extent, cmap="viridis", aspect="equal")
    ax.contour(land.dx * 100, land.dy * 100, land.energy, levels=8, colors="white", linewidths=0.5, alpha=0.6)
    ax.plot(land.recorded_action[0] * 100, land.recorded_action[1] * 100, "r*", ms=14, label="recorded action")
    mx, my = land.argmin
    ax.plot(mx * 100, my * 100, "wx", ms=10, mew=2, label="energy minimum")
    ax.set_xlabel("Δx (cm)")
    ax.set_ylabel("Δy (cm)")
    ax.set_title(f"energy landscape: {land.episode}, step {land.step}")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    fig.colorbar(image, ax=ax, label="energy  mean |LN(pred) − LN(next frame)|")
    return save_figure(fig, output)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vjepa2-energy-landscape``."""
    parser = argparse.ArgumentParser(prog="vjepa2-energy-landscape", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ac-run", required=True, type=Path, help="vjepa2-train-ac run directory")
    parser.add_argument("--data", required=True, type=Path, help="converted dataset directory")
    parser.add_argument("--episode", type=int, default=0, help="episode index in the manifest")
    parser.add_argument("--step", type=int, default=0, help="recorded frame k (compared with frame k+1)")
    parser.add_argument("--span", type=float, default=0.075, help="half-width of the Δx/Δy grid in metres")
    parser.add_argument("--grid", type=int, default=21, help="grid points per axis")
    parser.add_argument("--others", choices=["recorded", "zero"], default="recorded", help="Δz/rotation/gripper")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("-o", "--output", type=Path, default=Path("energy_landscape.png"))
    parser.add_argument("--json", type=Path, help="also write the energies as JSON")
    args = parser.parse_args(argv)
    try:
        land = energy_landscape(
            args.ac_run, args.data, args.episode, args.step, args.span, args.grid, args.others, args.device
        )
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"vjepa2-energy-landscape: error: {err}", file=sys.stderr)
        return 2
    plot_landscape(land, args.output)
    mx, my = land.argmin
    rx, ry = land.recorded_action[:2]
    print(
        f"minimum at Δx={mx * 100:+.1f} cm, Δy={my * 100:+.1f} cm; recorded Δx={rx * 100:+.1f} cm, "
        f"Δy={ry * 100:+.1f} cm; wrote {args.output}"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "episode": land.episode,
                    "step": land.step,
                    "dx": land.dx.tolist(),
                    "dy": land.dy.tolist(),
                    "energy": land.energy.tolist(),
                    "recorded_action": land.recorded_action.tolist(),
                    "argmin": list(land.argmin),
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
